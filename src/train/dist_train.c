/* dist_train.c — the trainer's distributed computations (see dist_train.h): the broadcast of the
 * whole training state from rank 0 (at start and after a growth), the per-epoch check that all
 * ranks hold identical weights, and the top Hessian eigenvalue by power iteration on a sample set
 * spread over the active ranks. The power iteration is the one of curvature.c
 * (absa_power_iteration_op): each rank accumulates Hv over its own chunks and the reduce hooks
 * (allreduces; Hv as an exact 128-bit sum, through NCCL when ready: dist_nccl.h) sum them, so the eigenvalue is that of the global sample set (bitwise
 * absa_power_iteration's on one rank). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base_sys.h"
#include "dist_train.h"
#include "exact_sum.h"

#define ABSA_SYNC_MAGIC 0xAB5A5E7Cu

typedef struct absa_dist_hv {
    absa_dist *d;
    absa_hv_local_set set;
    absa_xsum xs; /* the exact Hv sum (reduce_f32) */
} absa_dist_hv;

typedef struct sync_hdr {
    uint32_t magic;
    uint32_t pad;
    uint64_t n_params, n_bufs, n_counts;
    absa_train_progress pr;
    absa_sgd opt;
} sync_hdr;

double absa_dist_sync_state(absa_dist *d, absa_model *m, absa_sgd *opt, absa_train_progress *pr)
{
    if (absa_dist_size(d) <= 1) return 0;
    double t0 = absa_now();
    sync_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = ABSA_SYNC_MAGIC;
    h.n_params = m->n_params;
    h.n_bufs = m->n_bufs;
    h.n_counts = (uint64_t)m->n_counts;
    h.pr = *pr;
    h.opt = *opt;
    absa_dist_bcast(d, &h, sizeof h);
    ABSA_ASSERT(h.magic == ABSA_SYNC_MAGIC && h.n_params == m->n_params && h.n_bufs == m->n_bufs &&
                    h.n_counts == (uint64_t)m->n_counts,
                "state broadcast of another model (%llu parameters, this rank has %zu)",
                (unsigned long long)h.n_params, m->n_params);
    *pr = h.pr;
    *opt = h.opt;
    /* one payload: params | momentum | buffers | counters */
    const size_t P = m->n_params, nb = m->n_bufs, nc = (size_t)m->n_counts;
    const size_t bytes = (2 * P + nb) * sizeof(float) + nc * sizeof(int64_t);
    char *buf = malloc(bytes ? bytes : 1);
    ABSA_ASSERT(buf, "out of memory for a %zu-byte state broadcast", bytes);
    char *p = buf;
    if (absa_dist_rank(d) == 0) {
        absa_model_get(m, m->params, (float *)p, P), p += P * sizeof(float);
        absa_model_get(m, m->mom, (float *)p, P), p += P * sizeof(float);
        if (nb) absa_model_get(m, m->bufs, (float *)p, nb), p += nb * sizeof(float);
        if (nc) memcpy(p, m->num_batches_tracked, nc * sizeof(int64_t));
    }
    absa_dist_bcast(d, buf, bytes);
    if (absa_dist_rank(d) != 0) {
        absa_model_set(m, m->params, (const float *)p, P), p += P * sizeof(float);
        absa_model_set(m, m->mom, (const float *)p, P), p += P * sizeof(float);
        if (nb) absa_model_set(m, m->bufs, (const float *)p, nb), p += nb * sizeof(float);
        if (nc) memcpy(m->num_batches_tracked, p, nc * sizeof(int64_t));
    }
    free(buf);
    return absa_now() - t0;
}

void absa_dist_reduce_hook(void *ctx, float *host_buf, size_t n) { absa_dist_allreduce_f32(ctx, host_buf, n); }

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t absa_model_state_hash(const absa_model *m)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const size_t big = m->n_params > m->n_bufs ? m->n_params : m->n_bufs;
    float *host = malloc((big ? big : 1) * sizeof(float)); /* the arenas are backend memory */
    ABSA_ASSERT(host, "out of memory for a %zu-float state hash", big);
    absa_model_get(m, m->params, host, m->n_params);
    h = fnv(h, host, m->n_params * sizeof(float));
    absa_model_get(m, m->mom, host, m->n_params);
    h = fnv(h, host, m->n_params * sizeof(float));
    absa_model_get(m, m->bufs, host, m->n_bufs);
    if (m->n_bufs) h = fnv(h, host, m->n_bufs * sizeof(float));
    free(host);
    if (m->n_counts) h = fnv(h, m->num_batches_tracked, (size_t)m->n_counts * sizeof(int64_t));
    return h;
}

int absa_dist_check_params(absa_dist *d, absa_model *m, absa_sgd *opt, absa_train_progress *pr)
{
    if (absa_dist_size(d) <= 1) return 0;
    uint64_t mn, mx;
    absa_dist_minmax_u64(d, absa_model_state_hash(m), &mn, &mx);
    if (mn == mx) return 0;
    absa_dist_sync_state(d, m, opt, pr);
    return 1;
}

/* ---- distributed power iteration ---- */

int absa_dist_local_count(int n, int chunk, int rank, int size)
{
    int cnt = 0;
    for (int s = 0, c = 0; s < n; s += chunk, c++)
        if (c % size == rank) cnt += n - s < chunk ? n - s : chunk;
    return cnt;
}

int absa_dist_local_index(int i, int chunk, int rank, int size)
{
    int k = i / chunk; /* k-th local chunk = global chunk rank + k*size; all but the last are full */
    return (rank + k * size) * chunk + i % chunk;
}

/* Hv summed exactly (exact_sum.h), like the step gradient: the bits do not depend on the
 * reduction order, and are the same through NCCL (int64 limbs) as through MPI, so the moment a
 * new NCCL communicator becomes ready cannot change the eigenvalue. An Hv entry out of the fixed-
 * point range on any rank (the extra word counts them) makes Hv NaN on every rank: the power
 * iteration then stops with "Hv is not finite" everywhere alike. */
static void reduce_f32(void *ctx, float *x, size_t n)
{
    absa_dist_hv *h = ctx;
    const int R = absa_dist_size(h->d);
    if (R <= 1) return;
    if (!h->xs.v && absa_xsum_init(&h->xs, n + 1)) ABSA_ABORT("out of memory for a %zu-word Hv sum", n + 1);
    absa_xsum_zero(&h->xs, R);
    absa_xsum_add_f32(&h->xs, 0, x, n);
    h->xs.v[n] = (absa_xword)(h->xs.bad != 0);
    absa_dist_allreduce_x128(h->d, h->xs.v, n + 1);
    if (h->xs.v[n] != 0)
        for (size_t i = 0; i < n; i++) x[i] = NAN;
    else
        absa_xsum_get_f32(&h->xs, 0, x, n);
}

static void reduce_f64(void *ctx, double *x, size_t n)
{
    absa_dist_allreduce_f64(((absa_dist_hv *)ctx)->d, x, n);
}

static absa_status hv_cb(void *ctx, const float *v, float *hv, double *loss_sum)
{
    return absa_hv_local(&((absa_dist_hv *)ctx)->set, v, hv, loss_sum);
}

absa_status absa_dist_power_iteration(absa_dist *d, absa_model *m, const float *x, const int32_t *y,
                                      int n_local, int n_total, const absa_eig_opts *o,
                                      absa_eig_result *res)
{
    absa_status status = ABSA_OK;
    memset(res, 0, sizeof *res);
    ABSA_TRY(absa_eig_check(o));
    if (o->topk != 1) ABSA_FAIL(ABSA_EINVAL, "distributed power iteration computes one eigenvalue (topk %d)", o->topk);
    absa_dist_hv ctx = {d, {m, x, y, n_local, n_total, o->chunk, o->train_mode, 1}, {0}};
    absa_hv_op op = {.n_params = m->n_params, .n_total = n_total, .hv = hv_cb,
                     .reduce_f32 = reduce_f32, .reduce_f64 = reduce_f64, .ctx = &ctx};
    absa_model_hvp_forget(m); /* a rank may have run no forward since the last power iteration */
    status = absa_power_iteration_op(&op, o, NULL, res, NULL);
    absa_xsum_free(&ctx.xs);
cleanup:
    return status;
}
