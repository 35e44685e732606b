/* train_source_file.c — the file data source of `absa train` (--data FILE.h5, absa_source_file in
 * train_source.h): the train and test splits of a packed HDF5 file, read through h5reader. The
 * order is the trainer's (absa_permutation(seed, epoch) in t->perm, its cursor); a micro-batch is
 * gathered, normalised and augmented in one absa_h5reader_gather_f32 call. Nothing to plan,
 * commit, sync or store in checkpoints: those slots are NULL. */
#include <string.h>

#include "train_source.h"
#include "trainer_impl.h"

static absa_status file_open(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    ABSA_TRY(absa_h5reader_open(c->data, c->train_split, c->memory_budget, &t->train));
    absa_h5reader_shape(t->train, &t->C, &t->H, &t->W);
    t->K = absa_h5reader_num_classes(t->train);
    t->n_train = absa_h5reader_count(t->train);
    if (c->limit_train > 0 && (size_t)c->limit_train < t->n_train) t->n_train = (size_t)c->limit_train;
    if (t->C > 4) ABSA_FAIL(ABSA_EFORMAT, "%s: %d channels are not supported", c->data, t->C);
    if (strcmp(c->test_split, "none")) {
        ABSA_TRY(absa_h5reader_open(c->data, c->test_split, c->memory_budget, &t->test));
        int C2, H2, W2;
        absa_h5reader_shape(t->test, &C2, &H2, &W2);
        if (C2 != t->C || H2 != t->H || W2 != t->W) ABSA_FAIL(ABSA_EFORMAT, "%s: test and train shapes differ", c->data);
        t->n_test = absa_h5reader_count(t->test);
        if (c->limit_test > 0 && (size_t)c->limit_test < t->n_test) t->n_test = (size_t)c->limit_test;
    }
    for (int ch = 0; ch < t->C; ch++) t->eps_c[ch] = (float)(t->cfg->adv_eps / absa_h5reader_std(t->train)[ch]);
cleanup:
    return status;
}

static absa_status file_fetch(absa_tstate *t, int epoch, size_t cur, int j, int nb, uint64_t aug_seed,
                              const uint64_t **ids)
{
    (void)epoch; /* t->perm is this epoch's order */
    const uint64_t *idx = t->perm + cur + (size_t)j * (size_t)t->cfg->sched.micro;
    *ids = idx;
    return absa_h5reader_gather_f32(t->train, idx, (size_t)nb, 1, t->crop, t->flip, aug_seed, t->x, t->y);
}

static void file_close(absa_tstate *t) { (void)t; /* the trainer closes t->train and t->test */ }

const absa_source_ops absa_source_file = {
    .name = "file",
    .open = file_open,
    .fetch = file_fetch,
    .close = file_close,
};
