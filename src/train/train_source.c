/* train_source.c — the UCX data source of `absa train` (--data ucx://HOST:PORT): connection,
 * metadata, the server's position at start, fetching, normalising and augmenting batches,
 * committing a step's leases, and the server state stored in checkpoints. See train_source.h. */
#include "train_source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_impl.h"
#include "ucx_util.h"

#define TSRC_MAX_RANGES 16 /* committed ranges a mid-epoch checkpoint can hold */

int absa_tsrc_is_ucx(const char *data) { return !strncmp(data, "ucx://", 6); }

static absa_status open_test_data(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    int C, H, W;
    if (!c->test_data[0]) return ABSA_OK;
    /* the train split of the file: the eigenvalue samples, exactly as with --data FILE.h5 */
    ABSA_TRY(absa_h5reader_open(c->test_data, c->train_split, c->memory_budget, &t->train));
    absa_h5reader_shape(t->train, &C, &H, &W);
    if (C != t->C || H != t->H || W != t->W || absa_h5reader_num_classes(t->train) != t->K)
        ABSA_FAIL(ABSA_EMISMATCH, "--test-data %s: %dx%dx%d images, %d classes; the server sends %dx%dx%d, %d classes",
                  c->test_data, C, H, W, absa_h5reader_num_classes(t->train), t->C, t->H, t->W, t->K);
    if (strcmp(c->test_split, "none")) {
        ABSA_TRY(absa_h5reader_open(c->test_data, c->test_split, c->memory_budget, &t->test));
        absa_h5reader_shape(t->test, &C, &H, &W);
        if (C != t->C || H != t->H || W != t->W) ABSA_FAIL(ABSA_EFORMAT, "%s: test and train shapes differ", c->test_data);
        t->n_test = absa_h5reader_count(t->test);
        if (c->limit_test > 0 && (size_t)c->limit_test < t->n_test) t->n_test = (size_t)c->limit_test;
    }
cleanup:
    return status;
}

absa_status absa_tsrc_ucx_open(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    uint8_t raw[ABSA_UCX_MAX_SECRET];
    char secret[ABSA_UCX_MAX_SECRET + 1];
    size_t len = 0;
    memset(secret, 0, sizeof secret);
    if (!c->test_data[0] && c->sched.method != ABSA_SCHED_SGD)
        ABSA_FAIL(ABSA_EINVAL, "--data ucx://: --schedule abs/absa need the eigenvalue samples: give --test-data FILE.h5 (a packed file with the train split)");
    if (c->limit_train > 0) ABSA_FAIL(ABSA_EINVAL, "--limit-train does not apply to --data ucx:// (the server owns the split)");
    ABSA_TRY(absa_ucx_load_secret(c->secret_file[0] ? c->secret_file : NULL, raw, &len));
    memcpy(secret, raw, len);
    if (memchr(secret, 0, len)) ABSA_FAIL(ABSA_EINVAL, "the secret contains a NUL byte");
    status = absa_ucx_client_connect(c->data, secret, c->prefetch, &t->ucx);
    memset(secret, 0, sizeof secret);
    memset(raw, 0, sizeof raw);
    if (status != ABSA_OK) goto cleanup; /* the client's error names the address */
    const absa_ucx_meta *m = absa_ucx_client_meta(t->ucx);
    t->C = m->C;
    t->H = m->H;
    t->W = m->W;
    t->K = m->num_classes;
    t->n_train = (size_t)m->count;
    if (t->C < 1 || t->C > 4 || t->n_train == 0) ABSA_FAIL(ABSA_EFORMAT, "%s: %d channels, %zu samples are not supported", c->data, t->C, t->n_train);
    /* trainer epoch e is the server's epoch e and the server's epoch 0 is skipped (docs/ucx.md):
     * refuse now, not after whole epochs of training */
    if (m->epochs && m->epochs < (uint64_t)c->sched.epochs + 1)
        ABSA_FAIL(ABSA_EINVAL, "%s: the server serves %llu epochs, this run needs %d (--epochs %d + 1: trainer epoch e is "
                  "the server's epoch e, its epoch 0 is skipped): start absa serve with --epochs %d, or 0 = unlimited",
                  c->data, (unsigned long long)m->epochs, c->sched.epochs + 1, c->sched.epochs, c->sched.epochs + 1);
    if ((uint32_t)c->sched.micro > m->batch_max)
        ABSA_FAIL(ABSA_EINVAL, "--micro-batch %d is above the server's batch limit %u (absa serve --batch-max)", c->sched.micro, m->batch_max);
    for (int ch = 0; ch < t->C; ch++) t->eps_c[ch] = (float)(c->adv_eps / m->std[ch]);
    t->ids = malloc(sizeof(uint64_t) * (size_t)c->sched.micro);
    if (!t->ids) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    ABSA_TRY(open_test_data(t));
cleanup:
    return status;
}

absa_status absa_tsrc_ucx_seek(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    absa_ucx_state s = {0};
    const absa_train_progress *p = &t->pr;
    s.epoch = p->ep_epoch ? (uint64_t)p->ep_epoch : (uint64_t)p->epoch + 1;
    /* stopped after the last step of an epoch (every sample committed, its end-of-epoch work not
     * done yet): the server has moved on to the next epoch, where nothing is committed, and the
     * resumed trainer requests nothing more of this one */
    const int ep_done = p->ep_epoch && p->ep_cursor > 0 && (size_t)p->ep_cursor >= t->n_train;
    if (ep_done) s.epoch++;
    if (p->ep_epoch && t->have_ucx_state && t->ucx_state.epoch == s.epoch) {
        s.nranges = t->ucx_state.nranges;
        s.ranges = t->ucx_state.ranges;
    } else if (p->ep_epoch && p->ep_cursor > 0 && !ep_done) {
        ABSA_FAIL(ABSA_EFORMAT, "%s: the checkpoint stopped in epoch %d but holds no server state for it", t->cfg->resume, p->ep_epoch);
    }
    status = absa_ucx_client_seek(t->ucx, &s);
    if (status != ABSA_OK)
        ABSA_FAIL(status, "%s: cannot position the server at epoch %llu (serve at least --epochs %d, or 0): %s",
                  t->cfg->data, (unsigned long long)s.epoch, t->cfg->sched.epochs + 1, absa_last_error());
cleanup:
    return status;
}

/* normalised floats with the crop/flip absa_h5reader_gather_f32 would draw for these ids */
static void convert(const absa_tstate *t, const uint8_t *in8, const uint64_t *ids, size_t n, uint64_t aug_seed, float *x)
{
    const absa_ucx_meta *m = absa_ucx_client_meta(t->ucx);
    absa_u8_to_f32(in8, ids, n, t->C, t->H, t->W, m->mean, m->std, 1, t->crop, t->flip, aug_seed, x);
}

static absa_status hold(absa_tstate *t, const absa_ucx_batch *b)
{
    if (t->nheld == t->cap_held) {
        size_t cap = t->cap_held ? 2 * t->cap_held : 16;
        absa_ucx_batch *nh = realloc(t->held, cap * sizeof *nh);
        if (!nh) {
            absa_errorf("out of memory");
            return ABSA_ENOMEM;
        }
        t->held = nh;
        t->cap_held = cap;
    }
    t->held[t->nheld++] = *b;
    return ABSA_OK;
}

/* This rank's micro-batches, in order, from micro-batch j0 of the step at `cur` of `epoch`:
 * micro-batch j of a step of batch b covers positions [cur + j*micro, +min(micro, b - j*micro))
 * and goes to rank j % R (as in train_step.c); later steps keep B (clipped at the epoch's end)
 * and continue into the next epoch, never past the run's last epoch. At most cap entries. */
static size_t tsrc_plan(const absa_tstate *t, int epoch, size_t cur, int B, int R, int rank, int j0,
                        absa_ucx_want *w, size_t cap)
{
    const int micro = t->cfg->sched.micro, last = epoch + 1 < t->cfg->sched.epochs ? epoch + 1 : t->cfg->sched.epochs;
    size_t nw = 0;
    while (nw < cap && epoch <= last && cur < t->n_train) {
        const int b = (size_t)B < t->n_train - cur ? B : (int)(t->n_train - cur), k = (b + micro - 1) / micro;
        int j = j0 <= rank ? rank : rank + (j0 - rank + R - 1) / R * R;
        for (; j < k && nw < cap; j += R) {
            const int nb = b - j * micro < micro ? b - j * micro : micro;
            w[nw++] = (absa_ucx_want){.epoch = (uint64_t)epoch, .first = cur + (size_t)j * (size_t)micro, .n = (uint32_t)nb};
        }
        j0 = 0;
        cur += (size_t)b;
        if (cur == t->n_train) {
            cur = 0;
            epoch++;
        }
    }
    return nw;
}

/* Micro-batches planned ahead: --prefetch, at most 64 (the plans' arrays); by default (0) the
 * most the client's choice by batch size can take (it requests as many of them as it wants) */
static size_t tsrc_ahead(const absa_tstate *t)
{
    if (t->cfg->prefetch <= 0) return ABSA_UCX_DEFAULT_PREFETCH;
    return (size_t)t->cfg->prefetch < 64 ? (size_t)t->cfg->prefetch : 64;
}

absa_status absa_tsrc_ucx_plan(absa_tstate *t, int epoch, size_t cur, int B, int R, int rank)
{
    absa_status status = ABSA_OK;
    absa_ucx_want w[64];
    size_t nw = tsrc_plan(t, epoch, cur, B, R, rank, 0, w, tsrc_ahead(t));
    status = absa_ucx_client_plan(t->ucx, w, nw);
    if (status != ABSA_OK) ABSA_FAIL_CTX(status, "%s: ", t->cfg->data);
cleanup:
    return status;
}

absa_status absa_tsrc_ucx_fetch(absa_tstate *t, int epoch, size_t cur, int B, int R, int j, uint64_t aug_seed)
{
    absa_status status = ABSA_OK;
    const int rank = j % R;
    absa_ucx_want w[65];
    size_t nw = tsrc_plan(t, epoch, cur, B, R, rank, j, w, 1 + tsrc_ahead(t));
    ABSA_ASSERT(nw >= 1 && w[0].first == cur + (size_t)j * (size_t)t->cfg->sched.micro, "micro-batch %d is not this rank's", j);
    absa_ucx_batch b;
    status = absa_ucx_client_next_at(t->ucx, w, nw, &b);
    if (status != ABSA_OK) ABSA_FAIL_CTX(status, "%s: ", t->cfg->data);
    if (b.done)
        ABSA_FAIL(ABSA_EINVAL, "%s: the server's epoch limit is reached before the end of epoch %d (serve at least --epochs %d, or 0)",
                  t->cfg->data, epoch, t->cfg->sched.epochs + 1);
    if (b.C != t->C || b.H != t->H || b.W != t->W) ABSA_FAIL(ABSA_EFORMAT, "%s: a batch of %dx%dx%d images", t->cfg->data, b.C, b.H, b.W);
    ABSA_TRY(hold(t, &b));
    /* the server's permutation is absa_permutation(its --seed, epoch): with the trainer's seed the
     * batch is the file path's (t->perm); another seed is a consistent order, but not that run */
    if (t->io && !t->ucx_seed_warned && memcmp(b.ids, t->perm + w[0].first, b.count * sizeof *b.ids)) {
        t->ucx_seed_warned = 1;
        fprintf(stderr, "absa train: warning: %s orders epoch %d differently from --seed %llu (absa serve --seed differs?): "
                        "training follows the server's order, so it will not match a run from the file\n",
                t->cfg->data, epoch, (unsigned long long)t->cfg->seed);
    }
    convert(t, b.images, b.ids, b.count, aug_seed, t->x);
    for (size_t i = 0; i < b.count; i++) {
        t->y[i] = b.labels[i];
        t->ids[i] = b.ids[i];
    }
cleanup:
    return status;
}

absa_status absa_tsrc_ucx_commit(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    for (size_t i = 0; i < t->nheld; i++) {
        status = absa_ucx_client_commit(t->ucx, &t->held[i]);
        if (status != ABSA_OK) ABSA_FAIL_CTX(status, "%s: commit: ", t->cfg->data);
    }
cleanup:
    t->nheld = 0;
    return status;
}

absa_status absa_tsrc_ucx_sync_state(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    double flag = 0;
    if (absa_ucx_client_sync(t->ucx) != ABSA_OK) flag = 1;
    absa_dist_allreduce_f64(t->dist, &flag, 1); /* a barrier: every rank's commits are applied */
    if (flag > 0) ABSA_FAIL_CTX(ABSA_EIO, "%s: the server did not acknowledge the commits: ", t->cfg->data);
    if (!t->io) return ABSA_OK;
    absa_ucx_state_free(&t->ucx_state);
    t->have_ucx_state = 0;
    status = absa_ucx_client_state(t->ucx, &t->ucx_state);
    if (status != ABSA_OK) ABSA_FAIL_CTX(status, "%s: state: ", t->cfg->data);
    t->have_ucx_state = 1;
cleanup:
    return status;
}

absa_status absa_tsrc_ucx_to_extra(const absa_tstate *t, absa_ckpt_extra *e)
{
    absa_status status = ABSA_OK;
    if (!t->have_ucx_state) return ABSA_OK;
    const absa_ucx_state *s = &t->ucx_state;
    if (s->nranges > TSRC_MAX_RANGES)
        ABSA_FAIL(ABSA_ENOMEM, "the server's committed positions are in %zu ranges, a checkpoint holds %d", s->nranges, TSRC_MAX_RANGES);
    ABSA_TRY(absa_ckpt_set_i64(e, "ucx_epoch", (int64_t)s->epoch));
    ABSA_TRY(absa_ckpt_set_i64(e, "ucx_committed", (int64_t)s->committed));
    ABSA_TRY(absa_ckpt_set_i64(e, "ucx_nranges", (int64_t)s->nranges));
    for (size_t i = 0; i < s->nranges; i++) {
        char k[32];
        snprintf(k, sizeof k, "ucx_start%zu", i);
        ABSA_TRY(absa_ckpt_set_i64(e, k, (int64_t)s->ranges[i].start));
        snprintf(k, sizeof k, "ucx_count%zu", i);
        ABSA_TRY(absa_ckpt_set_i64(e, k, (int64_t)s->ranges[i].count));
    }
cleanup:
    return status;
}

void absa_tsrc_ucx_from_extra(absa_tstate *t, const absa_ckpt_extra *e)
{
    int64_t ep, com, nr;
    absa_ucx_state_free(&t->ucx_state);
    t->have_ucx_state = 0;
    if (!absa_ckpt_get_i64(e, "ucx_epoch", &ep) || !absa_ckpt_get_i64(e, "ucx_committed", &com) ||
        !absa_ckpt_get_i64(e, "ucx_nranges", &nr) || nr < 0 || nr > TSRC_MAX_RANGES)
        return;
    absa_ucx_state *s = &t->ucx_state;
    s->ranges = calloc((size_t)nr + 1, sizeof *s->ranges);
    if (!s->ranges) return;
    for (int64_t i = 0; i < nr; i++) {
        char k[32];
        int64_t a = 0, b = 0;
        snprintf(k, sizeof k, "ucx_start%lld", (long long)i);
        absa_ckpt_get_i64(e, k, &a);
        snprintf(k, sizeof k, "ucx_count%lld", (long long)i);
        absa_ckpt_get_i64(e, k, &b);
        s->ranges[i].start = (uint64_t)a;
        s->ranges[i].count = (uint64_t)b;
    }
    s->epoch = (uint64_t)ep;
    s->committed = (uint64_t)com;
    s->nranges = (size_t)nr;
    t->have_ucx_state = 1;
}

double absa_tsrc_ucx_wait_seconds(const absa_tstate *t) { return t->ucx ? absa_ucx_client_wait_seconds(t->ucx) : 0.0; }

void absa_tsrc_ucx_close(absa_tstate *t)
{
    if (t->ucx && t->io && !t->cfg->quiet) { /* which path the images took (docs/ucx.md, "Same-node clients") */
        uint64_t nl = absa_ucx_client_local_batches(t->ucx);
        const char *why = absa_ucx_client_local_why(t->ucx);
        if (nl)
            fprintf(stderr, "absa train: rank 0 copied the images of %llu batches from the server's shared split (same node)\n",
                    (unsigned long long)nl);
        else if (why[0])
            fprintf(stderr, "absa train: rank 0 received images over UCX: the server's split was offered but not mapped (%s)\n", why);
    }
    absa_ucx_client_close(t->ucx);
    t->ucx = NULL;
    absa_ucx_state_free(&t->ucx_state);
    free(t->held);
    t->held = NULL;
    free(t->ids);
    t->ids = NULL;
}

/* ---- the table ---- */

static absa_status ucx_fetch(absa_tstate *t, int epoch, size_t cur, int j, int nb, uint64_t aug_seed, const uint64_t **ids)
{
    (void)nb; /* the server sends exactly the micro-batch's samples (or an error) */
    absa_status status = absa_tsrc_ucx_fetch(t, epoch, cur, t->pr.sched.batch, absa_dist_size(t->dist), j, aug_seed);
    *ids = t->ids;
    return status;
}

static absa_status ucx_seek(absa_tstate *t) { return t->io ? absa_tsrc_ucx_seek(t) : ABSA_OK; }

static void ucx_describe(const absa_tstate *t)
{
    const absa_train_cfg *c = t->cfg;
    char pf[48];
    if (c->prefetch > 0)
        snprintf(pf, sizeof pf, "%d", c->prefetch);
    else
        snprintf(pf, sizeof pf, "%d-%d by batch size", ABSA_UCX_MIN_PREFETCH, ABSA_UCX_DEFAULT_PREFETCH);
    fprintf(stderr, "absa train: data streamed from %s (prefetch %s)%s\n", c->data, pf,
            t->test ? "" : "; no --test-data: the test pass is skipped (test_loss/test_acc null, test_skipped in metrics)");
}

const absa_source_ops absa_source_ucx = {
    .name = "ucx",
    .open = absa_tsrc_ucx_open,
    .seek = ucx_seek,
    .plan = absa_tsrc_ucx_plan,
    .fetch = ucx_fetch,
    .commit = absa_tsrc_ucx_commit,
    .sync = absa_tsrc_ucx_sync_state,
    .wait_seconds = absa_tsrc_ucx_wait_seconds,
    .to_extra = absa_tsrc_ucx_to_extra,
    .from_extra = absa_tsrc_ucx_from_extra,
    .describe = ucx_describe,
    .close = absa_tsrc_ucx_close,
};

const absa_source_ops *absa_source_for(const char *data) { return absa_tsrc_is_ucx(data) ? &absa_source_ucx : &absa_source_file; }
