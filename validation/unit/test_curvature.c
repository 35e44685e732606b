/* test_curvature.c — power iteration, deflation, Hutchinson trace and chunked HVPs against the
 * dense Hessian of a small model assembled column by column from exact HVPs (H e_i):
 *  - the dense H is symmetric (<u,Hv> = <Hu,v> for all basis pairs);
 *  - each eigenpair (lambda, v) from power iteration satisfies ||H v - lambda v|| <= 1e-3 |lambda|
 *    and lambda_1 >= the Rayleigh quotient of random vectors; the 2nd is orthogonal to the 1st;
 *  - Hutchinson with many probes is within 4 standard errors of the exact trace;
 *  - an HVP over n samples is independent of the chunk size used to split them. */
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "curvature.h"

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

    free(v); free(h1); free(h2); free(vecs); free(Hd); free(e); free(col); free(x); free(y);
    absa_model_free(m);
    return absa_test_finish("test_curvature");
}
