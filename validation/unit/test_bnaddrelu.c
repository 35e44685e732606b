/* test_bnaddrelu.c — batch norm, residual add and ReLU as one op (BN_ADD_RELU:
 * absa_bn_add_relu_*, the builder's mb_fuse_bn_add_relu in model_build.c; issue 17) must give the
 * same BITS as the three ops, f32 and f64: absa_bn_add_relu_{forward,backward,rforward,rbackward}
 * against absa_bn_*, then absa_add_* (the BN output and the sum materialised), then absa_relu_*,
 * in train and eval mode; dx/Rdx and dq/Rdq each overwritten and accumulated; Rx given and NULL;
 * Rq given and NULL (the add's other operand is the input node: nothing is added); dx/Rdx NULL
 * with dq/Rdq wanted (the channel sweep without a dx loop to ride on); a NaN input. Channel 0 has
 * BN outputs exactly +0 and -0 and an operand q of +0 and -0, so that sums of exactly +-0 reach
 * the mask. As in test_bnrelu, the one exception to "bitwise": where a channel's statistics are
 * NaN, the R-backward's Rdx is NaN in both but the NaN's sign may differ. The graph-level check
 * (fused model against keep_order, every pass) is test_bnrelu's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

static int same(const void *a, const void *b, size_t bytes) { return !memcmp(a, b, bytes); }

enum { KN = 3, KC = 4, KHW = 37, KE = KN * KC * KHW }; /* HW: vector lanes and a remainder */

#define KERNEL_TEST(T, SFX)                                                                         \
    static int same_nan_##SFX(const T *a, const T *b, int n) /* bitwise, or NaN in both */          \
    {                                                                                               \
        int ok = 1;                                                                                 \
        for (int i = 0; i < n; i++) ok &= same(&a[i], &b[i], sizeof(T)) || (isnan(a[i]) && isnan(b[i])); \
        return ok;                                                                                  \
    }                                                                                               \
    static void kernels_##SFX(int train, int set, int qset, int with_rx, int with_rq, int nan, int no_dx) \
    {                                                                                               \
        absa_bn_cfg c = {.N = KN, .C = KC, .HW = KHW, .eps = 1e-5, .momentum = ABSA_BN_MOMENTUM};   \
        uint64_t s = 11 + (uint64_t)(train * 64 + set * 32 + qset * 16 + with_rx * 8 + with_rq * 4 + nan * 2 + no_dx); \
        T x[KE], q[KE], Rq[KE], dz[KE], Rx[KE], Rdz[KE], dx0[KE], dq0[KE];                           \
        T gamma[KC], beta[KC], vg[KC], vb[KC], rm[KC], rv[KC];                                      \
        static const T pat[4] = {-1, 0, 1, -0.0}; /* channel 0: sum exactly 0 (111 values) */      \
        static const T qpat[3] = {0, -0.0, -0.0};                                                   \
        for (int i = 0; i < KE; i++) {                                                              \
            x[i] = (T)absa_test_normal(&s);                                                         \
            q[i] = (T)absa_test_normal(&s);                                                         \
            Rq[i] = (T)absa_test_normal(&s);                                                        \
            dz[i] = (T)absa_test_normal(&s);                                                        \
            Rx[i] = (T)absa_test_normal(&s);                                                        \
            Rdz[i] = (T)absa_test_normal(&s);                                                       \
            dx0[i] = (T)absa_test_normal(&s);                                                       \
            dq0[i] = (T)absa_test_normal(&s);                                                       \
        }                                                                                           \
        for (int j = 0; j < KN; j++) /* channel 0: BN outputs and q exactly +0 and -0 */             \
            for (int i = 0; i < KHW; i++) {                                                         \
                x[(j * KC + 0) * KHW + i] = pat[(j * KHW + i) % 4];                                 \
                q[(j * KC + 0) * KHW + i] = qpat[(j * KHW + i) % 3];                                \
            }                                                                                       \
        if (nan) x[(1 * KC + 3) * KHW + 2] = NAN;                                                   \
        for (int k = 0; k < KC; k++) {                                                              \
            gamma[k] = (T)(0.5 + absa_test_uniform(&s));                                            \
            beta[k] = (T)(0.5 * absa_test_normal(&s));                                              \
            vg[k] = (T)absa_test_normal(&s);                                                        \
            vb[k] = (T)absa_test_normal(&s);                                                        \
            rm[k] = (T)(0.3 * absa_test_normal(&s));                                                \
            rv[k] = (T)(0.5 + absa_test_uniform(&s));                                               \
        }                                                                                           \
        gamma[0] = 1, beta[0] = (T)-0.0, rm[0] = 0, rv[0] = 1;                                      \
        gamma[1] = 0, beta[1] = 0;                                                                  \
        const T *rx = with_rx ? Rx : NULL;                                                          \
        char what[96];                                                                              \
        snprintf(what, sizeof what, #SFX " train=%d set=%d qset=%d Rx=%d Rq=%d nan=%d no_dx=%d", train, set, \
                 qset, with_rx, with_rq, nan, no_dx);                                               \
        /* forward: reference = bn, add, relu */                                                    \
        T rm_a[KC], rv_a[KC], rm_b[KC], rv_b[KC], sm_a[KC], si_a[KC], sm_b[KC], si_b[KC];           \
        T y[KE], a[KE], z_a[KE], z_b[KE];                                                           \
        memcpy(rm_a, rm, sizeof rm), memcpy(rv_a, rv, sizeof rv);                                   \
        memcpy(rm_b, rm, sizeof rm), memcpy(rv_b, rv, sizeof rv);                                   \
        absa_bn_forward_##SFX(&c, train, x, gamma, beta, rm_a, rv_a, sm_a, si_a, y);                \
        absa_add_forward_##SFX(KE, y, q, a);                                                        \
        absa_relu_forward_##SFX(KE, a, z_a);                                                        \
        absa_bn_add_relu_forward_##SFX(&c, train, x, q, gamma, beta, rm_b, rv_b, sm_b, si_b, z_b);  \
        int zeros = 0, negzeros = 0;                                                                \
        for (int i = 0; i < KE; i++) zeros += a[i] == 0, negzeros += a[i] == 0 && signbit(a[i]);   \
        CHECK(zeros >= 4 && (train || negzeros >= 1), "%s: the edge case lost its zero sums (%d, %d negative)", \
              what, zeros, negzeros);                                                               \
        CHECK(same(z_a, z_b, sizeof z_a) && same(rm_a, rm_b, sizeof rm) && same(rv_a, rv_b, sizeof rv) && \
                  same(sm_a, sm_b, sizeof sm_a) && same(si_a, si_b, sizeof si_a),                   \
              "%s: forward differs", what);                                                         \
        /* backward: reference = relu's mask, add's backward (dy of the BN, dq), bn's backward */   \
        T da[KE], dy[KE], dx_a[KE], dx_b[KE], dq_a[KE], dq_b[KE], g_a[2 * KC] = {0}, g_b[2 * KC] = {0}; \
        memcpy(dx_a, dx0, sizeof dx0), memcpy(dx_b, dx0, sizeof dx0);                               \
        memcpy(dq_a, dq0, sizeof dq0), memcpy(dq_b, dq0, sizeof dq0);                               \
        c.dx_set = set;                                                                             \
        c.dq_set = qset;                                                                            \
        absa_relu_backward_ex_##SFX(KE, a, dz, da, 1);                                              \
        absa_add_backward_ex_##SFX(KE, da, dy, 1, dq_a, qset);                                      \
        absa_bn_backward_##SFX(&c, train, x, gamma, sm_a, si_a, dy, no_dx ? NULL : dx_a, g_a, g_a + KC); \
        absa_bn_add_relu_backward_##SFX(&c, train, x, gamma, sm_b, si_b, z_b, dz, no_dx ? NULL : dx_b, g_b, \
                                        g_b + KC, dq_b);                                            \
        CHECK(same(dx_a, dx_b, sizeof dx_a) && same(g_a, g_b, sizeof g_a) && same(dq_a, dq_b, sizeof dq_a), \
              "%s: backward differs", what);                                                        \
        CHECK(!same(dq_a, dq0, sizeof dq0), "%s: dq was not written", what);                        \
        /* R-forward: the add's R-forward adds Rq, or copies when q is the input node */           \
        T Ry[KE], Ra[KE], Rz_a[KE], Rz_b[KE];                                                       \
        absa_bn_rforward_##SFX(&c, train, x, rx, gamma, vg, vb, sm_a, si_a, Ry);                    \
        if (with_rq) absa_add_forward_##SFX(KE, Ry, Rq, Ra);                                        \
        else memcpy(Ra, Ry, sizeof Ry);                                                             \
        absa_relu_rforward_##SFX(KE, a, Ra, Rz_a);                                                  \
        absa_bn_add_relu_rforward_##SFX(&c, train, x, rx, gamma, vg, vb, sm_b, si_b, z_b, with_rq ? Rq : NULL, \
                                        Rz_b);                                                      \
        CHECK(same(Rz_a, Rz_b, sizeof Rz_a), "%s: R-forward differs", what);                       \
        /* R-backward */                                                                            \
        T Rda[KE], Rdy[KE], Rdx_a[KE], Rdx_b[KE], Rdq_a[KE], Rdq_b[KE], h_a[2 * KC] = {0}, h_b[2 * KC] = {0}; \
        memcpy(Rdx_a, dx0, sizeof dx0), memcpy(Rdx_b, dx0, sizeof dx0);                             \
        memcpy(Rdq_a, dq0, sizeof dq0), memcpy(Rdq_b, dq0, sizeof dq0);                             \
        absa_relu_backward_ex_##SFX(KE, a, Rdz, Rda, 1);                                            \
        absa_add_backward_ex_##SFX(KE, Rda, Rdy, 1, Rdq_a, qset);                                   \
        absa_bn_rbackward_##SFX(&c, train, x, rx, gamma, vg, sm_a, si_a, dy, Rdy, no_dx ? NULL : Rdx_a, h_a, \
                                h_a + KC);                                                          \
        absa_bn_add_relu_rbackward_##SFX(&c, train, x, rx, gamma, vg, sm_b, si_b, z_b, dz, Rdz,     \
                                         no_dx ? NULL : Rdx_b, h_b, h_b + KC, Rdq_b);               \
        CHECK(same(h_a, h_b, sizeof h_a) && same(Rdq_a, Rdq_b, sizeof Rdq_a) && same_nan_##SFX(Rdx_a, Rdx_b, KE), \
              "%s: R-backward differs", what);                                                      \
        CHECK(!train || !with_rx || nan || same(Rdx_a, Rdx_b, sizeof Rdx_a), "%s: the NaN exception is used " \
              "without a NaN", what);                                                               \
    }
KERNEL_TEST(float, f32)
KERNEL_TEST(double, f64)

/* Rdz NULL (no R-gradient reached the node): Rdq is +0 where overwritten, untouched where accumulated */
static void null_rdz(void)
{
    absa_bn_cfg c = {.N = 2, .C = 2, .HW = 5, .eps = 1e-5, .momentum = ABSA_BN_MOMENTUM};
    float x[20], z[20], dz[20], Rdq[20], sm[2], si[2];
    uint64_t s = 3;
    for (int i = 0; i < 20; i++) x[i] = (float)absa_test_normal(&s), dz[i] = (float)absa_test_normal(&s);
    absa_bn_add_relu_forward_f32(&c, 1, x, x, NULL, NULL, NULL, NULL, sm, si, z);
    for (int qset = 0; qset <= 1; qset++) {
        for (int i = 0; i < 20; i++) Rdq[i] = -0.0f + (float)i;
        c.dq_set = qset;
        absa_bn_add_relu_rbackward_f32(&c, 1, x, NULL, NULL, NULL, sm, si, z, dz, NULL, NULL, NULL, NULL, Rdq);
        int ok = 1;
        for (int i = 0; i < 20; i++) ok &= qset ? (Rdq[i] == 0 && !signbit(Rdq[i])) : Rdq[i] == (float)i;
        CHECK(ok, "Rdz NULL, dq_set=%d: Rdq wrong", qset);
    }
}

int main(void)
{
    for (int train = 0; train <= 1; train++)
        for (int set = 0; set <= 1; set++)
            for (int qset = 0; qset <= 1; qset++)
                for (int rx = 0; rx <= 1; rx++)
                    for (int rq = 0; rq <= 1; rq++)
                        for (int nan = 0; nan <= 1; nan++)
                            for (int no_dx = 0; no_dx <= 1; no_dx++) {
                                kernels_f32(train, set, qset, rx, rq, nan, no_dx);
                                kernels_f64(train, set, qset, rx, rq, nan, no_dx);
                            }
    null_rdz();
    return absa_test_finish("test_bnaddrelu");
}
