/* curvature.c — Hessian-vector products over a sample set, power iteration with deflation and
 * Hutchinson's trace; see curvature.h. Dot products and norms accumulate in double. */
#include "curvature.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

void absa_eig_defaults(absa_eig_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_iters = 10;
    o->tol = 1e-2;
    o->rule = ABSA_EIG_ABSOLUTE;
    o->topk = 1;
    o->chunk = 128;
    o->seed = 0;
}

absa_status absa_eig_check(const absa_eig_opts *o)
{
    absa_status status = ABSA_OK;
    if (o->max_iters < 1) ABSA_FAIL(ABSA_EINVAL, "eigenvalue iterations must be >= 1 (got %d)", o->max_iters);
    if (!(o->tol > 0)) ABSA_FAIL(ABSA_EINVAL, "eigenvalue tolerance must be positive (got %g)", o->tol);
    if (o->topk < 1 || o->topk > ABSA_EIG_MAX_K)
        ABSA_FAIL(ABSA_EINVAL, "top-k must be in 1..%d (got %d)", ABSA_EIG_MAX_K, o->topk);
    if (o->chunk < 1) ABSA_FAIL(ABSA_EINVAL, "HVP chunk must be >= 1 (got %d)", o->chunk);
    if (o->rule != ABSA_EIG_ABSOLUTE && o->rule != ABSA_EIG_RELATIVE)
        ABSA_FAIL(ABSA_EINVAL, "unknown eigenvalue stopping rule %d", o->rule);
cleanup:
    return status;
}

/* this process's H v over n samples in chunks, each weighted n_chunk/n_total; *lsum = sum of the
 * per-sample losses (through the backend buffers m->v and m->hv) */
static absa_status local_hv(absa_model *m, const float *x, const int32_t *y, int n, int n_total, int chunk,
                            int train, int fixed, const float *v, float *hv, double *lsum)
{
    absa_status status = ABSA_OK;
    const size_t P = m->n_params, per = (size_t)m->in_c * m->in_h * m->in_w;
    absa_model_set(m, m->v, v, P); /* v and hv: host vectors; m->v, m->hv: backend buffers */
    absa_be_zero(m->be, m->hv, P);
    double sum = 0;
    for (int s = 0; s < n; s += chunk) {
        int nb = n - s < chunk ? n - s : chunk;
        double l = 0;
        /* several chunks overwrite each other's activations: reuse needs a single chunk */
        if (fixed && nb == n)
            ABSA_TRY(absa_model_hvp_again(m, x, y, nb, train, (double)nb / n_total, &l));
        else
            ABSA_TRY(absa_model_hvp(m, x + (size_t)s * per, y + s, nb, train, (double)nb / n_total, &l));
        sum += l * nb;
    }
    absa_model_get(m, m->hv, hv, P);
    *lsum = sum;
cleanup:
    return status;
}

absa_status absa_hessian_vp(absa_model *m, const float *x, const int32_t *y, int n, int chunk,
                            int train, const float *v, float *hv, double *loss)
{
    absa_status status = ABSA_OK;
    double lsum = 0;
    if (n <= 0) ABSA_FAIL(ABSA_EINVAL, "Hessian-vector product needs at least one sample");
    ABSA_TRY(local_hv(m, x, y, n, n, chunk, train, 0, v, hv, &lsum));
    if (loss) *loss = lsum / n;
cleanup:
    return status;
}

absa_status absa_hv_local(const absa_hv_local_set *s, const float *v, float *hv, double *loss_sum)
{
    return local_hv(s->m, s->x, s->y, s->n_local, s->n_total, s->chunk, s->train, s->fixed, v, hv, loss_sum);
}

static absa_status hv_local_cb(void *ctx, const float *v, float *hv, double *loss_sum)
{
    return absa_hv_local(ctx, v, hv, loss_sum);
}

/* v -= sum_j <v, e_j> e_j (e_j orthonormal), then normalise; returns the norm before scaling */
static double orthonormalise(size_t P, float *v, const float *basis, int k)
{
    for (int j = 0; j < k; j++) {
        const float *e = basis + (size_t)j * P;
        absa_vec_axpy(P, (float)-absa_vec_dot(P, v, e), e, v);
    }
    double nrm = absa_vec_norm(P, v);
    if (nrm > 0) absa_vec_scale(P, v, (float)(1.0 / nrm));
    return nrm;
}

absa_status absa_power_iteration_op(const absa_hv_op *op, const absa_eig_opts *o, const float *v0,
                                    absa_eig_result *res, float *eigvecs)
{
    absa_status status = ABSA_OK;
    const size_t P = op->n_params;
    float *v = NULL, *hv = NULL, *basis = NULL;
    memset(res, 0, sizeof *res);
    ABSA_TRY(absa_eig_check(o));
    if (op->n_total <= 0) ABSA_FAIL(ABSA_EINVAL, "Hessian-vector product needs at least one sample");
    v = absa_try_alloc(P * sizeof(float));
    hv = absa_try_alloc(P * sizeof(float));
    basis = eigvecs ? eigvecs : absa_try_alloc((size_t)o->topk * P * sizeof(float));
    if (!v || !hv || !basis) ABSA_FAIL(ABSA_ENOMEM, "power iteration: cannot allocate %zu-vectors", P);
    absa_rng rng;
    absa_rng_seed(&rng, o->seed, 0xE16);
    for (int k = 0; k < o->topk; k++) {
        if (k == 0 && v0) memcpy(v, v0, P * sizeof(float));
        else absa_rng_fill_normal(&rng, P, v, 1.0f);
        orthonormalise(P, v, basis, k);
        double lambda = 0;
        int it;
        for (it = 0; it < o->max_iters; it++) {
            double lsum = 0;
            ABSA_TRY(op->hv(op->ctx, v, hv, &lsum));
            if (op->reduce_f32) op->reduce_f32(op->ctx, hv, P);
            if (op->reduce_f64) op->reduce_f64(op->ctx, &lsum, 1);
            const double loss = lsum / op->n_total;
            res->n_hvp++;
            res->loss = loss;
            double tmp = absa_vec_dot(P, hv, v);
            if (o->progress) o->progress(o->progress_ctx, "eig", k, it + 1, tmp);
            memcpy(v, hv, P * sizeof(float));
            double nrm = orthonormalise(P, v, basis, k);
            if (nrm == 0 || !isfinite(nrm))
                ABSA_FAIL(ABSA_EINVAL, "power iteration: Hv is %s (loss %g)", nrm == 0 ? "zero" : "not finite", loss);
            if (it > 0) {
                double diff = fabs(lambda - tmp);
                if (o->rule == ABSA_EIG_RELATIVE) diff /= fabs(lambda) + 1e-6;
                if (diff < o->tol) {
                    lambda = tmp;
                    res->converged[k] = 1;
                    it++;
                    break;
                }
            }
            lambda = tmp;
        }
        res->eig[k] = lambda;
        res->iters[k] = it;
        memcpy(basis + (size_t)k * P, v, P * sizeof(float));
        res->k = k + 1;
    }
cleanup:
    absa_free(v);
    absa_free(hv);
    if (basis != eigvecs) absa_free(basis);
    return status;
}

absa_status absa_power_iteration(absa_model *m, const float *x, const int32_t *y, int n,
                                 const absa_eig_opts *o, const float *v0, absa_eig_result *res,
                                 float *eigvecs)
{
    absa_hv_local_set s = {m, x, y, n, n, o->chunk, o->train_mode, 1};
    absa_hv_op op = {.n_params = m->n_params, .n_total = n, .hv = hv_local_cb, .ctx = &s};
    absa_model_hvp_forget(m); /* the parameters may have changed since the last HVP */
    return absa_power_iteration_op(&op, o, v0, res, eigvecs);
}

absa_status absa_hutchinson_trace(absa_model *m, const float *x, const int32_t *y, int n,
                                  int chunk, int train, int probes, uint64_t seed, double *trace,
                                  double *stderr_out)
{
    return absa_hutchinson_trace_cb(m, x, y, n, chunk, train, probes, seed, trace, stderr_out, NULL, NULL);
}

absa_status absa_hutchinson_trace_cb(absa_model *m, const float *x, const int32_t *y, int n,
                                     int chunk, int train, int probes, uint64_t seed, double *trace,
                                     double *stderr_out, absa_curv_progress progress, void *ctx)
{
    absa_status status = ABSA_OK;
    const size_t P = m->n_params;
    float *z = NULL, *hz = NULL;
    if (probes < 1) ABSA_FAIL(ABSA_EINVAL, "Hutchinson needs at least one probe (got %d)", probes);
    z = absa_try_alloc(P * sizeof(float));
    hz = absa_try_alloc(P * sizeof(float));
    if (!z || !hz) ABSA_FAIL(ABSA_ENOMEM, "Hutchinson: cannot allocate %zu-vectors", P);
    absa_rng rng;
    absa_rng_seed(&rng, seed, 0x7ACE);
    double sum = 0, sum2 = 0, lsum;
    if (n <= 0) ABSA_FAIL(ABSA_EINVAL, "Hessian-vector product needs at least one sample");
    absa_model_hvp_forget(m);
    for (int i = 0; i < probes; i++) {
        absa_rng_fill_rademacher(&rng, P, z);
        ABSA_TRY(local_hv(m, x, y, n, n, chunk, train, 1, z, hz, &lsum));
        double t = absa_vec_dot(P, z, hz);
        sum += t;
        sum2 += t * t;
        if (progress) progress(ctx, "trace", 0, i + 1, sum / (i + 1));
    }
    *trace = sum / probes;
    if (stderr_out) {
        double var = probes > 1 ? (sum2 - sum * sum / probes) / (probes - 1) : 0;
        *stderr_out = var > 0 ? sqrt(var / probes) : 0;
    }
cleanup:
    absa_free(z);
    absa_free(hz);
    return status;
}
