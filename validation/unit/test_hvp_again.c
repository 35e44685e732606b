/* test_hvp_again.c — the reuse of an HVP's forward and backward across the HVPs of one power
 * iteration (absa_model_hvp_again, absa_hv_local_set.fixed; issue 17):
 *  1. on every model (lenet, c1, resnet20: every op) in both BN modes, the R-only HVP of a
 *     second vector after the HVP of a first is bitwise the full HVP of the second vector, loss
 *     included;
 *  2. it really reuses: with the samples changed behind the same pointer, the reuse still gives
 *     the old samples' H v (the caller's contract), while after any other forward on the model it
 *     falls back to a full HVP (the new samples' H v), as it does for other pointers, N, mode;
 *  3. the power iteration and the Hutchinson trace on one chunk (reuse) give the same bits as
 *     the same operators without reuse (absa_hv_local_set.fixed = 0), also when the parameters
 *     changed after an earlier power iteration with no forward in between (a rank with no
 *     micro-batch in an epoch: the next power iteration must not reuse the old activations). */
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "base_sys.h"
#include "curvature.h"
#include "model.h"
#include "rng.h"

static float *hv_of(absa_model *m, const float *v, int again, const float *x, const int32_t *y, int N,
                    int train, double *loss)
{
    const size_t P = m->n_params;
    absa_model_set(m, m->v, v, P);
    absa_be_zero(m->be, m->hv, P);
    absa_status st = again ? absa_model_hvp_again(m, x, y, N, train, 0.5, loss)
                           : absa_model_hvp(m, x, y, N, train, 0.5, loss);
    CHECK(st == ABSA_OK, "hvp: %s", absa_last_error());
    float *h = malloc(P * sizeof(float));
    absa_model_get(m, m->hv, h, P);
    return h;
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

static absa_status hv_cb(void *ctx, const float *v, float *hv, double *loss_sum)
{
    return absa_hv_local(ctx, v, hv, loss_sum);
}

static void model_case(const char *name, int C, int H, int W)
{
    absa_model *m = NULL;
    const int K = 10, N = 4;
    CHECK(absa_model_create(name, C, H, W, K, &m) == ABSA_OK, "create %s: %s", name, absa_last_error());
    if (!m) return;
    absa_model_init(m, 5);
    const size_t P = m->n_params, per = (size_t)C * H * W;
    uint64_t s = 23;
    float *x = malloc(N * per * sizeof(float)), *x2 = malloc(N * per * sizeof(float));
    float *v1 = malloc(P * sizeof(float)), *v2 = malloc(P * sizeof(float));
    int32_t y[4];
    for (size_t i = 0; i < N * per; i++) x[i] = (float)absa_test_normal(&s);
    for (size_t i = 0; i < N * per; i++) x2[i] = (float)absa_test_normal(&s);
    for (size_t i = 0; i < P; i++) v1[i] = (float)absa_test_normal(&s), v2[i] = (float)absa_test_normal(&s);
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&s) % K);
    if (!strcmp(name, "resnet20")) { /* BN statistics away from 0 / 1 so eval mode matters */
        absa_model_forward(m, x2, N, 1, 1);
        absa_model_forward(m, x2, N, 1, 1);
    }
    for (int train = 0; train < 2; train++) {
        double l_full, l_again, l1;
        float *full2 = hv_of(m, v2, 0, x, y, N, train, &l_full);
        float *h1 = hv_of(m, v1, 0, x, y, N, train, &l1);
        float *again2 = hv_of(m, v2, 1, x, y, N, train, &l_again);
        float *again1 = hv_of(m, v1, 1, x, y, N, train, NULL);
        CHECK(same(full2, again2, P) && same(h1, again1, P), "%s train=%d: reused HVP differs from the full one", name,
              train);
        CHECK(l_full == l_again && l1 == l_full, "%s train=%d: loss %.17g reused %.17g", name, train, l_full, l_again);
        int differs = 0;
        for (size_t i = 0; i < P; i++) differs |= full2[i] != h1[i];
        CHECK(differs, "%s: H v1 == H v2", name);
        /* 2. the samples change behind the pointer: the reuse keeps the old ones' H v ... */
        float *keep = malloc(N * per * sizeof(float));
        memcpy(keep, x, N * per * sizeof(float));
        memcpy(x, x2, N * per * sizeof(float));
        float *stale = hv_of(m, v2, 1, x, y, N, train, NULL);
        CHECK(same(stale, full2, P), "%s train=%d: hvp_again recomputed (no reuse)", name, train);
        /* ... until another forward ran on the model: then a full HVP of the new samples */
        float *fresh = hv_of(m, v2, 0, x, y, N, train, NULL);
        CHECK(!same(fresh, full2, P), "%s: the new samples give the same H v", name);
        absa_model_forward(m, keep, N, 0, 0);
        float *after = hv_of(m, v2, 1, x, y, N, train, NULL);
        CHECK(same(after, fresh, P), "%s train=%d: hvp_again after a forward reused stale activations", name, train);
        float *other_n = hv_of(m, v2, 1, x, y, N - 1, train, NULL); /* another N: full */
        float *other_n_full = hv_of(m, v2, 0, x, y, N - 1, train, NULL);
        CHECK(same(other_n, other_n_full, P), "%s train=%d: hvp_again with another N", name, train);
        float *other_mode = hv_of(m, v2, 1, x, y, N - 1, !train, NULL); /* another mode: full */
        float *other_mode_full = hv_of(m, v2, 0, x, y, N - 1, !train, NULL);
        CHECK(same(other_mode, other_mode_full, P), "%s train=%d: hvp_again in the other mode", name, train);
        memcpy(x, keep, N * per * sizeof(float));
        free(keep), free(stale), free(fresh), free(after), free(other_n), free(other_n_full);
        free(other_mode), free(other_mode_full);
        free(full2), free(h1), free(again2), free(again1);
    }
    /* 3. power iteration and trace with and without reuse */
    absa_eig_opts o;
    absa_eig_defaults(&o);
    o.max_iters = 4;
    o.tol = 1e-300;
    o.topk = 2;
    o.seed = 4;
    absa_eig_result r1, r0;
    float *e1 = malloc(2 * P * sizeof(float)), *e0 = malloc(2 * P * sizeof(float));
    CHECK(absa_power_iteration(m, x, y, N, &o, NULL, &r1, e1) == ABSA_OK, "power: %s", absa_last_error());
    absa_hv_local_set set = {m, x, y, N, N, o.chunk, o.train_mode, 0};
    absa_hv_op op = {.n_params = P, .n_total = N, .hv = hv_cb, .ctx = &set};
    CHECK(absa_power_iteration_op(&op, &o, NULL, &r0, e0) == ABSA_OK, "power (no reuse): %s", absa_last_error());
    CHECK(r1.eig[0] == r0.eig[0] && r1.eig[1] == r0.eig[1] && r1.loss == r0.loss && same(e1, e0, 2 * P),
          "%s: power iteration with reuse %.17g %.17g, without %.17g %.17g", name, r1.eig[0], r1.eig[1], r0.eig[0],
          r0.eig[1]);
    /* new parameters, no forward since: the next power iteration starts afresh */
    float *p = malloc(P * sizeof(float));
    absa_model_get(m, m->params, p, P);
    for (size_t i = 0; i < P; i++) p[i] *= 1.25f;
    absa_model_set(m, m->params, p, P);
    free(p);
    CHECK(absa_power_iteration(m, x, y, N, &o, NULL, &r1, e1) == ABSA_OK, "power: %s", absa_last_error());
    CHECK(absa_power_iteration_op(&op, &o, NULL, &r0, e0) == ABSA_OK, "power (no reuse): %s", absa_last_error());
    CHECK(r1.eig[0] == r0.eig[0] && r1.eig[1] == r0.eig[1] && same(e1, e0, 2 * P),
          "%s: power iteration after new parameters %.17g, afresh %.17g", name, r1.eig[0], r0.eig[0]);
    double t1, se1, t0 = 0, sum = 0;
    CHECK(absa_hutchinson_trace(m, x, y, N, N, 0, 3, 7, &t1, &se1) == ABSA_OK, "trace");
    /* the trace without reuse: the same Rademacher probes through full HVPs (absa_hessian_vp) */
    float *z = malloc(P * sizeof(float)), *hz = malloc(P * sizeof(float));
    absa_rng rng;
    absa_rng_seed(&rng, 7, 0x7ACE);
    for (int i = 0; i < 3; i++) {
        absa_rng_fill_rademacher(&rng, P, z);
        CHECK(absa_hessian_vp(m, x, y, N, N, 0, z, hz, NULL) == ABSA_OK, "hvp");
        sum += absa_vec_dot(P, z, hz);
    }
    t0 = sum / 3;
    CHECK(t1 == t0, "%s: trace with reuse %.17g, without %.17g", name, t1, t0);
    printf("  %-8s reuse bitwise: HVP (eval, train), power iteration %.6g %.6g, trace %.6g\n", name, r1.eig[0], r1.eig[1],
           t1);
    free(z), free(hz), free(e1), free(e0), free(x), free(x2), free(v1), free(v2);
    absa_model_free(m);
}

int main(void)
{
    absa_set_threads(1); /* the property does not depend on threads; seconds on a busy machine */
    model_case("lenet", 1, 12, 12); /* small inputs: the same ops, seconds under ASan */
    model_case("c1", 1, 12, 12);
    model_case("resnet20", 3, 8, 8);
    return absa_test_finish("test_hvp_again");
}
