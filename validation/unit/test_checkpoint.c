/* test_checkpoint.c — HDF5 checkpoints (src/io/checkpoint.c): bit-exact round trip of all four
 * models with optimizer and training state, peek, and every failure path: a checkpoint of
 * another model or input shape (one-line report of shapes, missing and unexpected names), a
 * truncated file, a non-HDF5 file, a missing file, a newer format version, non-finite weights,
 * and atomicity (a failed save leaves neither a temporary nor a damaged previous file). */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absa_test.h"
#include "checkpoint.h"
#include "model.h"

static char dir[64];

static const char *tpath(const char *leaf)
{
    static char buf[16][256]; /* a few paths stay in use at once */
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, leaf);
    return buf[k];
}

/* Number of entries of the test directory whose name contains ".tmp." */
static int count_tmp(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static absa_model *make(const char *name, int C, int H, int W, uint64_t seed)
{
    absa_model *m = NULL;
    absa_status st = absa_model_create(name, C, H, W, 10, &m);
    if (st != ABSA_OK) {
        fprintf(stderr, "absa_model_create(%s): %s\n", name, absa_last_error());
        exit(1);
    }
    absa_model_init(m, seed);
    /* make every arena non-trivial: buffers, counters, momentum */
    uint64_t s = seed * 7919u + 1;
    for (size_t i = 0; i < m->n_bufs; i++) m->bufs[i] = (float)(0.5 + absa_test_uniform(&s));
    for (int i = 0; i < m->n_counts; i++) m->num_batches_tracked[i] = (int64_t)(absa_test_next(&s) >> 20);
    for (size_t i = 0; i < m->n_params; i++) m->mom[i] = (float)absa_test_normal(&s);
    return m;
}

static void fill_extra(absa_ckpt_extra *e)
{
    memset(e, 0, sizeof *e);
    e->sgd.lr = 0.05;
    e->sgd.momentum = 0.9;
    e->sgd.dampening = 0.1;
    e->sgd.weight_decay = 5e-4;
    e->sgd.nesterov = 1;
    e->sgd.has_buf = 1;
    e->sgd.steps = 12345678901LL;
    e->n_rng = 5;
    for (int i = 0; i < e->n_rng; i++) e->rng[i] = 0xFEDCBA9876543210ull ^ (uint64_t)i * 0x9E3779B97F4A7C15ull;
    absa_ckpt_set_i64(e, "epoch", 17);
    absa_ckpt_set_i64(e, "global_step", -3);
    absa_ckpt_set_f64(e, "eig_reference", 123.25);
    absa_ckpt_set_f64(e, "lr_scale", 1.0 / 3.0);
}

static int same_model(const absa_model *a, const absa_model *b, int with_mom)
{
    return a->n_params == b->n_params && a->n_bufs == b->n_bufs && a->n_counts == b->n_counts &&
           !memcmp(a->params, b->params, a->n_params * sizeof(float)) &&
           !memcmp(a->bufs, b->bufs, a->n_bufs * sizeof(float)) &&
           !memcmp(a->num_batches_tracked, b->num_batches_tracked, (size_t)a->n_counts * sizeof(int64_t)) &&
           (!with_mom || !memcmp(a->mom, b->mom, a->n_params * sizeof(float)));
}

static int same_extra(const absa_ckpt_extra *a, const absa_ckpt_extra *b)
{
    int ok = a->sgd.lr == b->sgd.lr && a->sgd.momentum == b->sgd.momentum &&
             a->sgd.dampening == b->sgd.dampening && a->sgd.weight_decay == b->sgd.weight_decay &&
             a->sgd.nesterov == b->sgd.nesterov && a->sgd.has_buf == b->sgd.has_buf &&
             a->sgd.steps == b->sgd.steps && a->n_rng == b->n_rng && a->n_kv == b->n_kv &&
             !memcmp(a->rng, b->rng, sizeof a->rng);
    for (int i = 0; ok && i < a->n_kv; i++) {
        const absa_ckpt_kv *kv = &a->kv[i];
        double d;
        int64_t v;
        ok = kv->is_int ? absa_ckpt_get_i64(b, kv->key, &v) && v == kv->i64
                        : absa_ckpt_get_f64(b, kv->key, &d) && d == kv->f64;
    }
    return ok;
}

static void test_round_trip(const char *name, int C, int H, int W)
{
    char leaf[64];
    snprintf(leaf, sizeof leaf, "%s_%dx%dx%d.h5", name, C, H, W);
    const char *p = tpath(leaf);
    absa_model *a = make(name, C, H, W, 11), *b = make(name, C, H, W, 99);
    absa_ckpt_extra ea, eb;
    fill_extra(&ea);
    memset(&eb, 0x5A, sizeof eb);
    absa_status st = absa_checkpoint_save(p, a, &ea);
    CHECK(st == ABSA_OK, "save %s: %s", p, absa_last_error());
    CHECK(count_tmp() == 0, "temporary left behind after a successful save");
    CHECK(!same_model(a, b, 1), "%s: the two models should differ before loading", name);
    st = absa_checkpoint_load(p, b, &eb);
    CHECK(st == ABSA_OK, "load %s: %s", p, absa_last_error());
    CHECK(same_model(a, b, 1), "%s: params/bufs/counters/momentum not bit-exact after load", name);
    CHECK(same_extra(&ea, &eb), "%s: optimizer/training state differs after load", name);

    char got[64] = "";
    int c = 0, h = 0, w = 0, k = 0;
    st = absa_checkpoint_peek(p, got, sizeof got, &c, &h, &w, &k);
    CHECK(st == ABSA_OK && !strcmp(got, name) && c == C && h == H && w == W && k == 10,
          "peek %s: st %d '%s' %dx%dx%d k %d (%s)", p, st, got, c, h, w, k, absa_last_error());

    /* no extra: no optimizer state in the file; a load then zeroes mom and the extra */
    st = absa_checkpoint_save(p, a, NULL);
    CHECK(st == ABSA_OK, "save without extra: %s", absa_last_error());
    st = absa_checkpoint_load(p, b, &eb);
    CHECK(st == ABSA_OK, "load without optimizer: %s", absa_last_error());
    CHECK(same_model(a, b, 0), "%s: weights differ (no-extra file)", name);
    CHECK(absa_vec_norm(b->n_params, b->mom) == 0.0, "momentum should be zeroed");
    CHECK(eb.sgd.lr == 0 && eb.sgd.has_buf == 0 && eb.n_kv == 0 && eb.n_rng == 0,
          "extra should be zeroed when the file has none");
    printf("  round trip %-9s %dx%dx%d: %zu params, %d tensors ok\n", name, C, H, W, a->n_params,
           a->n_tensors);
    unlink(p);
    absa_model_free(a);
    absa_model_free(b);
}

static void expect_error(const char *what, absa_status got, absa_status want, const char *const *needles)
{
    const char *msg = absa_last_error();
    CHECK(got == want, "%s: status %s, want %s (%s)", what, absa_status_str(got),
          absa_status_str(want), msg);
    CHECK(!strchr(msg, '\n'), "%s: message is not one line", what);
    for (int i = 0; needles && needles[i]; i++)
        CHECK(strstr(msg, needles[i]) != NULL, "%s: message lacks \"%s\": %s", what, needles[i], msg);
    printf("  %-22s -> %s\n", what, msg);
}

static void test_mismatch(void)
{
    absa_model *lenet = make("lenet", 1, 28, 28, 1), *mlp = make("mlp", 1, 28, 28, 2);
    absa_model *r32 = make("resnet20", 3, 32, 32, 3), *r28 = make("resnet20", 1, 28, 28, 4);
    absa_model *mlp_copy = make("mlp", 1, 28, 28, 2);
    const char *pl = tpath("lenet.h5"), *pr = tpath("r32.h5");
    CHECK(absa_checkpoint_save(pl, lenet, NULL) == ABSA_OK, "save: %s", absa_last_error());
    CHECK(absa_checkpoint_save(pr, r32, NULL) == ABSA_OK, "save: %s", absa_last_error());

    const char *n1[] = {"lenet.h5 holds lenet", "not mlp",
                        "fc1.weight has shape [128,3136], model expects [256,784]",
                        "fc2.weight has shape [10,128], model expects [10,256]",
                        "unexpected: conv1.weight, conv1.bias, conv2.weight (+1 more)", NULL};
    expect_error("lenet file -> mlp", absa_checkpoint_load(pl, mlp, NULL), ABSA_EMISMATCH, n1);
    CHECK(same_model(mlp, mlp_copy, 1), "a failed load must leave the model unchanged");

    /* only conv1 differs (the linear input is 64 channels either way) */
    const char *n2[] = {"holds resnet20 (input 3x32x32, 10 classes), not resnet20 (input 1x28x28",
                        ": conv1.weight has shape [16,3,3,3], model expects [16,1,3,3]", NULL};
    absa_status st = absa_checkpoint_load(pr, r28, NULL);
    expect_error("resnet20 3x32 -> 1x28", st, ABSA_EMISMATCH, n2);
    CHECK(!strstr(absa_last_error(), "missing") && !strstr(absa_last_error(), "unexpected") &&
          !strstr(absa_last_error(), "more"), "only one mismatch expected: %s", absa_last_error());

    const char *n3[] = {"holds resnet20", "missing: fc1.weight, fc1.bias, fc2.weight (+1 more)",
                        "unexpected: conv1.weight, bn1.weight, bn1.bias (+125 more)", NULL};
    expect_error("resnet20 file -> mlp", absa_checkpoint_load(pr, mlp, NULL), ABSA_EMISMATCH, n3);
    unlink(pl);
    unlink(pr);
    absa_model_free(lenet);
    absa_model_free(mlp);
    absa_model_free(mlp_copy);
    absa_model_free(r32);
    absa_model_free(r28);
}

static void copy_prefix(const char *src, const char *dst, long bytes)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ABSA_ASSERT(in && out, "cannot copy %s", src);
    for (long i = 0; i < bytes; i++) {
        int c = fgetc(in);
        if (c == EOF) break;
        fputc(c, out);
    }
    fclose(in);
    fclose(out);
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_bad_files(void)
{
    absa_model *m = make("lenet", 1, 28, 28, 5), *keep = make("lenet", 1, 28, 28, 5);
    const char *good = tpath("good.h5"), *trunc = tpath("trunc.h5"), *tiny = tpath("tiny.h5");
    const char *text = tpath("text.h5");
    CHECK(absa_checkpoint_save(good, m, NULL) == ABSA_OK, "save: %s", absa_last_error());
    long sz = file_size(good);
    copy_prefix(good, trunc, sz / 2);
    copy_prefix(good, tiny, 100);
    FILE *f = fopen(text, "w");
    fputs("this is not an HDF5 file\n", f);
    fclose(f);

    const char *nt[] = {"trunc.h5", "truncated or corrupt", NULL};
    expect_error("truncated (half)", absa_checkpoint_load(trunc, m, NULL), ABSA_EFORMAT, nt);
    const char *nt2[] = {"tiny.h5", NULL};
    expect_error("truncated (100 B)", absa_checkpoint_load(tiny, m, NULL), ABSA_EFORMAT, nt2);
    const char *nx[] = {"text.h5 is not an HDF5 file", NULL};
    expect_error("text file", absa_checkpoint_load(text, m, NULL), ABSA_EFORMAT, nx);
    const char *nm[] = {"nope.h5: no such file", NULL};
    expect_error("missing file", absa_checkpoint_load(tpath("nope.h5"), m, NULL), ABSA_ENOTFOUND, nm);
    expect_error("peek missing file", absa_checkpoint_peek(tpath("nope.h5"), NULL, 0, NULL, NULL, NULL, NULL),
                 ABSA_ENOTFOUND, nm);
    expect_error("peek truncated", absa_checkpoint_peek(trunc, NULL, 0, NULL, NULL, NULL, NULL),
                 ABSA_EFORMAT, nt);
    const char *nd[] = {"is a directory", NULL};
    expect_error("directory", absa_checkpoint_load(dir, m, NULL), ABSA_EINVAL, nd);
    CHECK(same_model(m, keep, 1), "failed loads must leave the model unchanged");

    /* a newer format version is refused */
    hid_t h = H5Fopen(good, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(h, "format_version", H5P_DEFAULT);
    int two = 2;
    H5Awrite(a, H5T_NATIVE_INT, &two);
    H5Aclose(a);
    H5Fclose(h);
    const char *nv[] = {"format_version 2", NULL};
    expect_error("newer format", absa_checkpoint_load(good, m, NULL), ABSA_EFORMAT, nv);

    /* non-finite weights are refused, naming the tensor */
    m->params[m->tensors[2].offset + 7] = NAN;
    CHECK(absa_checkpoint_save(good, m, NULL) == ABSA_OK, "save: %s", absa_last_error());
    const char *nn[] = {"conv2.weight", "non-finite value at index 7", NULL};
    expect_error("NaN weight", absa_checkpoint_load(good, keep, NULL), ABSA_EFORMAT, nn);

    unlink(good);
    unlink(trunc);
    unlink(tiny);
    unlink(text);
    absa_model_free(m);
    absa_model_free(keep);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void test_atomic(void)
{
    absa_model *m = make("mlp", 1, 28, 28, 6);
    absa_ckpt_extra e;
    fill_extra(&e);
    const char *p = tpath("atomic.h5"), *ref = tpath("atomic_ref.h5");

    /* target is a directory: the rename fails after a complete write */
    const char *sub = tpath("subdir.h5");
    mkdir(sub, 0700);
    const char *ne[] = {"cannot rename", NULL};
    expect_error("save onto a directory", absa_checkpoint_save(sub, m, &e), ABSA_EIO, ne);
    CHECK(count_tmp() == 0, "temporary left behind after a failed rename");
    rmdir(sub);

    /* directory does not exist: nothing is created */
    const char *nc[] = {"cannot create", NULL};
    expect_error("save into missing dir", absa_checkpoint_save(tpath("no/such/dir.h5"), m, &e),
                 ABSA_EIO, nc);
    CHECK(count_tmp() == 0, "temporary left behind");

    /* failure in the middle of writing (a tensor name HDF5 cannot create): the previous
     * checkpoint stays byte-identical and no temporary remains */
    CHECK(absa_checkpoint_save(p, m, &e) == ABSA_OK, "save: %s", absa_last_error());
    copy_prefix(p, ref, file_size(p)); /* byte copy (HDF5 stores times: a re-save may differ) */
    char saved[ABSA_NAME_MAX];
    memcpy(saved, m->tensors[2].name, sizeof saved);
    snprintf(m->tensors[2].name, ABSA_NAME_MAX, "no_such_group/weight");
    m->params[0] += 1.0f;
    const char *nw[] = {"cannot write no_such_group/weight", NULL};
    expect_error("failure mid-write", absa_checkpoint_save(p, m, &e), ABSA_EHDF5, nw);
    CHECK(count_tmp() == 0, "temporary left behind after a failed write");
    CHECK(same_file(p, ref), "previous checkpoint was modified by a failed save");
    memcpy(m->tensors[2].name, saved, sizeof saved);
    m->params[0] -= 1.0f;

    /* a never-written path stays absent after a failed save */
    snprintf(m->tensors[2].name, ABSA_NAME_MAX, "no_such_group/weight");
    absa_checkpoint_save(tpath("fresh.h5"), m, &e);
    CHECK(access(tpath("fresh.h5"), F_OK) != 0, "a failed save created its target");
    CHECK(count_tmp() == 0, "temporary left behind");
    memcpy(m->tensors[2].name, saved, sizeof saved);
    unlink(p);
    unlink(ref);
    absa_model_free(m);
}

static void test_kv(void)
{
    absa_ckpt_extra e;
    memset(&e, 0, sizeof e);
    double d = 0;
    int64_t i = 0;
    CHECK(absa_ckpt_set_f64(&e, "x", 1.5) == ABSA_OK && absa_ckpt_set_f64(&e, "x", 2.5) == ABSA_OK,
          "set f64");
    CHECK(e.n_kv == 1 && absa_ckpt_get_f64(&e, "x", &d) && d == 2.5, "replace f64 (n=%d, %g)", e.n_kv, d);
    CHECK(!absa_ckpt_get_i64(&e, "x", &i), "a double key is not an int64");
    CHECK(absa_ckpt_set_i64(&e, "x", 3) == ABSA_OK && absa_ckpt_get_i64(&e, "x", &i) && i == 3 &&
          !absa_ckpt_get_f64(&e, "x", &d) && e.n_kv == 1, "retyping a key");
    CHECK(absa_ckpt_set_i64(&e, "rng", 3) == ABSA_EINVAL, "'rng' is reserved");
    CHECK(absa_ckpt_set_i64(&e, "a/b", 3) == ABSA_EINVAL, "'/' is not allowed");
    CHECK(absa_ckpt_set_i64(&e, "", 3) == ABSA_EINVAL, "empty key accepted");
    char longkey[80];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    CHECK(absa_ckpt_set_f64(&e, longkey, 1) == ABSA_EINVAL, "long key accepted");
    CHECK(!absa_ckpt_get_f64(&e, "y", &d), "get of an absent key");
    for (int k = 1; k < ABSA_CKPT_MAX_KV; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        absa_status st = absa_ckpt_set_i64(&e, key, k);
        CHECK(st == ABSA_OK, "set i64 %d", k);
    }
    CHECK(absa_ckpt_set_i64(&e, "overflow", 1) == ABSA_EINVAL, "list overflow accepted");
    CHECK(absa_ckpt_set_i64(&e, "k5", 55) == ABSA_OK, "replacing in a full list");
}

int main(void)
{
    snprintf(dir, sizeof dir, "ckpt_test_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip("mlp", 1, 28, 28);
    test_round_trip("lenet", 1, 28, 28);
    test_round_trip("c1", 3, 32, 32);
    test_round_trip("resnet20", 3, 32, 32);
    test_mismatch();
    test_bad_files();
    test_atomic();
    test_kv();
    CHECK(count_tmp() == 0, "temporaries left in %s", dir);
    if (rmdir(dir) != 0) CHECK(0, "test directory %s not empty at the end", dir);
    return absa_test_finish("test_checkpoint");
}
