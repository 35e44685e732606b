/* test_curvature.c — power iteration, deflation, Hutchinson trace and chunked HVPs against the
 * dense Hessian of a small model assembled column by column from exact HVPs (H e_i):
 *  - the dense H is symmetric (<u,Hv> = <Hu,v> for all basis pairs);
 *  - each eigenpair (lambda, v) from power iteration satisfies ||H v - lambda v|| <= 1e-3 |lambda|
 *    and lambda_1 >= the Rayleigh quotient of random vectors; the 2nd is orthogonal to the 1st;
 *  - Hutchinson with many probes is within 4 standard errors of the exact trace;
 *  - an HVP over n samples is independent of the chunk size used to split them;
 *  - absa_power_iteration_op over an operator split like two ranks (chunks 0 and 2 on one, chunk
 *    1 on the other, the reduce hooks adding the other's share) gives the serial eigenpairs, and
 *    calls each hook once per HVP. */
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "curvature.h"

/* two simulated ranks: hv computes "rank 0"'s share, reduce_f32/_f64 add "rank 1"'s */
typedef struct two_ranks {
    absa_hv_local_set r0, r1;
    float *x1;
    int32_t *y1;
    float *hv1;
    double lsum1;
    int n_f32, n_f64;
} two_ranks;

static absa_status two_hv(void *ctx, const float *v, float *hv, double *lsum)
{
    two_ranks *tr = ctx;
    absa_status st = absa_hv_local(&tr->r1, v, tr->hv1, &tr->lsum1);
    return st == ABSA_OK ? absa_hv_local(&tr->r0, v, hv, lsum) : st;
}

static void two_f32(void *ctx, float *x, size_t n)
{
    two_ranks *tr = ctx;
    for (size_t i = 0; i < n; i++) x[i] += tr->hv1[i];
    tr->n_f32++;
}

static void two_f64(void *ctx, double *x, size_t n)
{
    two_ranks *tr = ctx;
    if (n == 1) x[0] += tr->lsum1;
    tr->n_f64++;
}

int main(void)
{
    absa_model *m = NULL;
    const int C = 1, H = 2, W = 2, K = 3, N = 24;
    CHECK(absa_model_create("mlp", C, H, W, K, &m) == ABSA_OK, "create: %s", absa_last_error());
    if (!m) return absa_test_finish("test_curvature");
    absa_model_init(m, 11);
    const size_t P = m->n_params;
    uint64_t s = 5;
    float *x = malloc(sizeof(float) * N * C * H * W);
    int32_t *y = malloc(sizeof(int32_t) * N);
    for (int i = 0; i < N * C * H * W; i++) x[i] = (float)(2 * absa_test_normal(&s));
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&s) % K);

    /* dense Hessian, column by column */
    double *Hd = malloc(sizeof(double) * P * P);
    float *e = calloc(P, sizeof(float)), *col = malloc(sizeof(float) * P);
    double trace = 0;
    for (size_t j = 0; j < P; j++) {
        e[j] = 1.0f;
        CHECK(absa_hessian_vp(m, x, y, N, N, 0, e, col, NULL) == ABSA_OK, "hvp");
        e[j] = 0.0f;
        for (size_t i = 0; i < P; i++) Hd[i * P + j] = col[i];
        trace += col[j];
    }
    double asym = 0, hmax = 0;
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < i; j++) {
            asym = fmax(asym, fabs(Hd[i * P + j] - Hd[j * P + i]));
            hmax = fmax(hmax, fabs(Hd[i * P + j]));
        }
    CHECK(asym <= 1e-4 * hmax, "Hessian not symmetric: max |H-H^T| %g vs max |H| %g", asym, hmax);
    printf("  P=%zu exact trace %.6g, max|H| %.4g, asym %.3g\n", P, trace, hmax, asym);

    absa_eig_opts o;
    absa_eig_defaults(&o);
    o.max_iters = 1000;
    o.tol = 1e-7;
    o.rule = ABSA_EIG_RELATIVE;
    o.topk = 2;
    o.chunk = 10;
    o.seed = 3;
    absa_eig_result r;
    float *vecs = malloc(sizeof(float) * 2 * P);
    CHECK(absa_power_iteration(m, x, y, N, &o, NULL, &r, vecs) == ABSA_OK, "power: %s", absa_last_error());
    printf("  lambda1 %.6g (%d it) lambda2 %.6g (%d it)\n", r.eig[0], r.iters[0], r.eig[1], r.iters[1]);
    for (int k = 0; k < 2; k++) {
        const float *v = vecs + (size_t)k * P;
        double res = 0;
        for (size_t i = 0; i < P; i++) {
            double hv = 0;
            for (size_t j = 0; j < P; j++) hv += Hd[i * P + j] * v[j];
            res += (hv - r.eig[k] * v[i]) * (hv - r.eig[k] * v[i]);
        }
        CHECK(sqrt(res) <= 1e-3 * fabs(r.eig[k]), "eigenpair %d residual %g vs lambda %g", k, sqrt(res), r.eig[k]);
    }
    double dot = 0;
    for (size_t i = 0; i < P; i++) dot += (double)vecs[i] * vecs[P + i];
    CHECK(fabs(dot) < 1e-4, "deflated eigenvector not orthogonal: %g", dot);
    CHECK(r.eig[0] >= fabs(r.eig[1]) * (1 - 1e-6), "eigenvalues out of order %g %g", r.eig[0], r.eig[1]);
    for (int t = 0; t < 5; t++) { /* Rayleigh quotients of random unit vectors stay below lambda1 */
        double num = 0, den = 0;
        float *u = col;
        for (size_t i = 0; i < P; i++) u[i] = (float)absa_test_normal(&s);
        for (size_t i = 0; i < P; i++) {
            double hu = 0;
            for (size_t j = 0; j < P; j++) hu += Hd[i * P + j] * u[j];
            num += u[i] * hu;
            den += (double)u[i] * u[i];
        }
        CHECK(num / den <= r.eig[0] * (1 + 1e-6), "Rayleigh quotient %g above lambda1 %g", num / den, r.eig[0]);
    }

    double tr = 0, se = 0;
    CHECK(absa_hutchinson_trace(m, x, y, N, 7, 0, 400, 9, &tr, &se) == ABSA_OK, "hutchinson");
    printf("  hutchinson %.6g +- %.3g (exact %.6g)\n", tr, se, trace);
    CHECK(fabs(tr - trace) <= 4 * se + 1e-6 * fabs(trace) && se > 0, "trace %g +- %g vs exact %g", tr, se, trace);

    /* chunk independence */
    float *v = malloc(sizeof(float) * P), *h1 = malloc(sizeof(float) * P), *h2 = malloc(sizeof(float) * P);
    for (size_t i = 0; i < P; i++) v[i] = (float)absa_test_normal(&s);
    double l1, l2;
    absa_hessian_vp(m, x, y, N, N, 0, v, h1, &l1);
    absa_hessian_vp(m, x, y, N, 5, 0, v, h2, &l2);
    double d = 0, n2 = 0;
    for (size_t i = 0; i < P; i++) {
        d += (h1[i] - h2[i]) * (double)(h1[i] - h2[i]);
        n2 += (double)h1[i] * h1[i];
    }
    CHECK(sqrt(d / n2) < 1e-5, "chunked HVP differs: rel %g", sqrt(d / n2));
    CHECK_REL(l2, l1, 1e-6, 1e-12, "chunked loss");

    /* the one power iteration, split over two simulated ranks (chunks of 10: 0 and 2 | 1) */
    {
        const int per = C * H * W;
        float *x0 = malloc(sizeof(float) * 14 * per);
        int32_t *y0 = malloc(sizeof(int32_t) * 14);
        memcpy(x0, x, sizeof(float) * 10 * per);
        memcpy(x0 + 10 * per, x + 20 * per, sizeof(float) * 4 * per);
        memcpy(y0, y, sizeof(int32_t) * 10);
        memcpy(y0 + 10, y + 20, sizeof(int32_t) * 4);
        two_ranks tr = {{m, x0, y0, 14, N, o.chunk, 0, 1}, {m, x + 10 * per, y + 10, 10, N, o.chunk, 0, 1},
                        NULL, NULL, malloc(sizeof(float) * P), 0, 0, 0};
        absa_hv_op op = {.n_params = P, .n_total = N, .hv = two_hv, .reduce_f32 = two_f32, .reduce_f64 = two_f64, .ctx = &tr};
        absa_eig_result r2;
        float *vecs2 = malloc(sizeof(float) * 2 * P);
        CHECK(absa_power_iteration_op(&op, &o, NULL, &r2, vecs2) == ABSA_OK, "power (two ranks): %s", absa_last_error());
        printf("  two ranks: lambda1 %.6g (%d it) lambda2 %.6g (%d it), loss %.6g / %.6g\n", r2.eig[0], r2.iters[0],
               r2.eig[1], r2.iters[1], r2.loss, r.loss);
        CHECK(r2.k == 2 && tr.n_f32 == r2.n_hvp && tr.n_f64 == r2.n_hvp, "reduce hooks called %d/%d times for %d HVPs",
              tr.n_f32, tr.n_f64, r2.n_hvp);
        for (int k = 0; k < 2; k++) CHECK_REL(r2.eig[k], r.eig[k], 1e-4, 1e-9, "eigenvalue over two ranks");
        CHECK_REL(r2.loss, r.loss, 1e-6, 1e-12, "loss over two ranks");
        /* without the reduce hooks only rank 0's share is seen: a different operator */
        op.reduce_f32 = NULL, op.reduce_f64 = NULL;
        absa_eig_result r3;
        CHECK(absa_power_iteration_op(&op, &o, NULL, &r3, NULL) == ABSA_OK, "power (no reduce)");
        CHECK(fabs(r3.eig[0] - r.eig[0]) > 1e-3 * fabs(r.eig[0]), "rank 0's half alone gave the full eigenvalue %g", r3.eig[0]);
        free(x0); free(y0); free(tr.hv1); free(vecs2);
    }

    free(v); free(h1); free(h2); free(vecs); free(Hd); free(e); free(col); free(x); free(y);
    absa_model_free(m);
    return absa_test_finish("test_curvature");
}
