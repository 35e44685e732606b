/* ckpt_tool.c — helper for the checkpoint interoperability test (test_ckpt_interop.py): the C
 * side of "C writes, PyTorch reads" and "PyTorch writes, C reads (and writes back)".
 *
 *   ckpt_tool init MODEL CxHxW SEED OUT.h5 FLAT.bin
 *       create + initialise a model, fill BN buffers/counters/momentum with non-trivial values,
 *       save it with optimizer and training state; FLAT.bin = the parameter arena (float32).
 *   ckpt_tool resave IN.h5 OUT.h5 FLAT.bin [MODEL CxHxW]
 *       create the model named by IN.h5's attributes (or MODEL CxHxW for a bare state_dict),
 *       load IN.h5 with its optimizer/training state, save it to OUT.h5, dump the arena.
 * Exit 0 ok, 1 error (one line on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "model.h"

static int fail(const char *what)
{
    fprintf(stderr, "ckpt_tool: %s: %s\n", what, absa_last_error());
    return 1;
}

static int dump(const absa_model *m, const char *path)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(m->params, sizeof(float), m->n_params, f) == m->n_params;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "ckpt_tool: cannot write %s\n", path);
    return ok ? 0 : 1;
}

static int parse_shape(const char *s, int *C, int *H, int *W)
{
    return sscanf(s, "%dx%dx%d", C, H, W) == 3 ? 0 : -1;
}

static int cmd_init(char **argv)
{
    int C, H, W;
    absa_model *m = NULL;
    if (parse_shape(argv[1], &C, &H, &W) < 0) return 2;
    if (absa_model_create(argv[0], C, H, W, 10, &m) != ABSA_OK) return fail("create");
    uint64_t seed = strtoull(argv[2], NULL, 10), s = seed;
    absa_model_init(m, seed);
    for (size_t i = 0; i < m->n_bufs; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        m->bufs[i] = 0.25f + (float)(s >> 40) / (float)(1u << 24);
    }
    for (int i = 0; i < m->n_counts; i++) m->num_batches_tracked[i] = 1000 + i;
    for (size_t i = 0; i < m->n_params; i++) m->mom[i] = 0.5f * m->params[i] + 1e-3f * (float)(i % 7);
    absa_ckpt_extra e;
    memset(&e, 0, sizeof e);
    e.sgd.lr = 0.05;
    e.sgd.momentum = 0.9;
    e.sgd.weight_decay = 5e-4;
    e.sgd.has_buf = 1;
    e.sgd.steps = 42;
    e.n_rng = 4;
    for (int i = 0; i < 4; i++) e.rng[i] = 0x0123456789ABCDEFull * (uint64_t)(i + 1);
    absa_ckpt_set_i64(&e, "epoch", 3);
    absa_ckpt_set_f64(&e, "eig_reference", 12.5);
    int rc = absa_checkpoint_save(argv[3], m, &e) != ABSA_OK ? fail("save") : dump(m, argv[4]);
    absa_model_free(m);
    return rc;
}

static int cmd_resave(int argc, char **argv)
{
    char name[64];
    int C, H, W, K = 10;
    absa_model *m = NULL;
    if (argc == 5) {
        snprintf(name, sizeof name, "%s", argv[3]);
        if (parse_shape(argv[4], &C, &H, &W) < 0) return 2;
    } else if (absa_checkpoint_peek(argv[0], name, sizeof name, &C, &H, &W, &K) != ABSA_OK) {
        return fail("peek");
    }
    if (absa_model_create(name, C, H, W, K, &m) != ABSA_OK) return fail("create");
    absa_ckpt_extra e;
    int rc = 0;
    if (absa_checkpoint_load(argv[0], m, &e) != ABSA_OK) rc = fail("load");
    else if (absa_checkpoint_save(argv[1], m, &e) != ABSA_OK) rc = fail("save");
    else rc = dump(m, argv[2]);
    absa_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "init")) return cmd_init(argv + 2);
    if ((argc == 5 || argc == 7) && !strcmp(argv[1], "resave")) return cmd_resave(argc - 2, argv + 2);
    fprintf(stderr, "usage: ckpt_tool init MODEL CxHxW SEED OUT.h5 FLAT.bin\n"
                    "       ckpt_tool resave IN.h5 OUT.h5 FLAT.bin [MODEL CxHxW]\n");
    return 2;
}
