/* test_bnrelu.c — batch norm followed by ReLU as one op (BN_RELU: absa_bn_relu_*, the builder's
 * mb_fuse_bn_relu in model_build.c; issue 17) must give the same BITS as the two ops.
 *  1. kernels, f32 and f64: absa_bn_relu_{forward,backward,rforward,rbackward} against absa_bn_*
 *     then absa_relu_* (the BN output materialised, the ReLU's mask applied by pointwise_impl.h),
 *     train and eval mode, overwrite and accumulate, Rx given and NULL. Channels where it matters:
 *     BN outputs exactly +0 and -0 (inputs -1, 0, -0, 1 with mean exactly 0 and beta = -0),
 *     gamma = 0 (every output 0), random, and a NaN input (NaN outputs pass the mask). One
 *     exception to "bitwise", found by this test: in a channel whose statistics are NaN (a NaN
 *     input), the R-backward's Rdx is NaN in both but the SIGN of the NaN may differ (the
 *     coefficients are NaNs of both signs, -(NaN) flips the sign, and which operand's NaN an SSE
 *     add propagates depends on the operand order the compiler picks for the vector loop), so
 *     there the check is "NaN in both"; everything else, that Rdx included elsewhere, is bitwise.
 *  2. models: a resnet20-like graph (BN-ReLU pairs, one not adjacent to its ReLU, BNs feeding an
 *     add, a BN read by its ReLU and by an add; and for BN_ADD_RELU (mb_fuse_bn_add_relu, kernels in
 *     test_bnaddrelu): a block's bn2 + add + ReLU with the shortcut declared between them, one whose
 *     add's other operand is the input node (its R-value is zero), and two that must not fuse: a BN
 *     that is the add's second operand, and a BN whose input is the add's other operand) built
 *     fused and with keep_order = 1 (executed as declared: the oracle), compared bitwise in train
 *     and eval mode: logits, loss, running statistics and counters, parameter gradient, input
 *     gradient (FGSM), H v (and H v again on a new v; these checks are model_compare.h's), with
 *     gamma = 0 / beta = -0 channels and a NaN input sample; and the node lists (which pairs
 *     were fused and which not), also of the registry's resnet20 (10 BN_RELU, 9 BN_ADD_RELU, 2
 *     plain BNs, no add or ReLU left). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"
#include "model_build.h"
#include "model_compare.h"

static int same(const void *a, const void *b, size_t bytes) { return !memcmp(a, b, bytes); }

/* ---- 1. kernels ---- */
enum { KN = 3, KC = 4, KHW = 37, KE = KN * KC * KHW }; /* HW: vector lanes and a remainder */

#define KERNEL_TEST(T, SFX)                                                                         \
    static void kernels_##SFX(int train, int set, int with_rx, int nan)                             \
    {                                                                                               \
        absa_bn_cfg c = {.N = KN, .C = KC, .HW = KHW, .eps = 1e-5, .momentum = ABSA_BN_MOMENTUM};   \
        uint64_t s = 7 + (uint64_t)(train * 8 + set * 4 + with_rx * 2 + nan);                       \
        T x[KE], dz[KE], Rx[KE], Rdz[KE], dx0[KE];                                                  \
        T gamma[KC], beta[KC], vg[KC], vb[KC], rm[KC], rv[KC];                                      \
        static const T pat[4] = {-1, 0, 1, -0.0}; /* channel 0: sum exactly 0 (111 values) */      \
        for (int i = 0; i < KE; i++) {                                                              \
            x[i] = (T)absa_test_normal(&s);                                                         \
            dz[i] = (T)absa_test_normal(&s);                                                        \
            Rx[i] = (T)absa_test_normal(&s);                                                        \
            Rdz[i] = (T)absa_test_normal(&s);                                                       \
            dx0[i] = (T)absa_test_normal(&s);                                                       \
        }                                                                                           \
        for (int j = 0; j < KN; j++) /* channel 0: BN outputs exactly +0 and -0 */                   \
            for (int i = 0; i < KHW; i++) x[(j * KC + 0) * KHW + i] = pat[(j * KHW + i) % 4];       \
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
        /* forward: reference = bn then relu */                                                     \
        T rm_a[KC], rv_a[KC], rm_b[KC], rv_b[KC], sm_a[KC], si_a[KC], sm_b[KC], si_b[KC];           \
        T y[KE], z_a[KE], z_b[KE];                                                                  \
        memcpy(rm_a, rm, sizeof rm), memcpy(rv_a, rv, sizeof rv);                                   \
        memcpy(rm_b, rm, sizeof rm), memcpy(rv_b, rv, sizeof rv);                                   \
        absa_bn_forward_##SFX(&c, train, x, gamma, beta, rm_a, rv_a, sm_a, si_a, y);                \
        absa_relu_forward_##SFX(KE, y, z_a);                                                        \
        absa_bn_relu_forward_##SFX(&c, train, x, gamma, beta, rm_b, rv_b, sm_b, si_b, z_b);         \
        int zeros = 0, negzeros = 0;                                                                \
        for (int i = 0; i < KE; i++) zeros += y[i] == 0, negzeros += y[i] == 0 && signbit(y[i]);   \
        CHECK(zeros >= 4 && (train || negzeros >= 1), #SFX " train=%d: the edge case lost its zeros " \
              "(%d, %d negative)", train, zeros, negzeros);                                        \
        CHECK(same(z_a, z_b, sizeof z_a) && same(rm_a, rm_b, sizeof rm) && same(rv_a, rv_b, sizeof rv) && \
                  same(sm_a, sm_b, sizeof sm_a) && same(si_a, si_b, sizeof si_a),                   \
              #SFX " train=%d: forward differs", train);                                            \
        /* backward */                                                                              \
        T dy[KE], dx_a[KE], dx_b[KE], g_a[2 * KC] = {0}, g_b[2 * KC] = {0};                         \
        memcpy(dx_a, dx0, sizeof dx0), memcpy(dx_b, dx0, sizeof dx0);                               \
        c.dx_set = set;                                                                             \
        absa_relu_backward_ex_##SFX(KE, y, dz, dy, 1);                                              \
        absa_bn_backward_##SFX(&c, train, x, gamma, sm_a, si_a, dy, dx_a, g_a, g_a + KC);           \
        absa_bn_relu_backward_##SFX(&c, train, x, gamma, sm_b, si_b, z_b, dz, dx_b, g_b, g_b + KC);  \
        CHECK(same(dx_a, dx_b, sizeof dx_a) && same(g_a, g_b, sizeof g_a),                         \
              #SFX " train=%d set=%d: backward differs", train, set);                               \
        /* R-forward */                                                                             \
        T Ry[KE], Rz_a[KE], Rz_b[KE];                                                               \
        absa_bn_rforward_##SFX(&c, train, x, rx, gamma, vg, vb, sm_a, si_a, Ry);                    \
        absa_relu_rforward_##SFX(KE, y, Ry, Rz_a);                                                  \
        absa_bn_relu_rforward_##SFX(&c, train, x, rx, gamma, vg, vb, sm_b, si_b, z_b, Rz_b);        \
        CHECK(same(Rz_a, Rz_b, sizeof Rz_a), #SFX " train=%d Rx=%d: R-forward differs", train, with_rx); \
        /* R-backward */                                                                            \
        T Rdy[KE], Rdx_a[KE], Rdx_b[KE], h_a[2 * KC] = {0}, h_b[2 * KC] = {0};                      \
        memcpy(Rdx_a, dx0, sizeof dx0), memcpy(Rdx_b, dx0, sizeof dx0);                             \
        absa_relu_backward_ex_##SFX(KE, y, Rdz, Rdy, 1);                                            \
        absa_bn_rbackward_##SFX(&c, train, x, rx, gamma, vg, sm_a, si_a, dy, Rdy, Rdx_a, h_a, h_a + KC); \
        absa_bn_relu_rbackward_##SFX(&c, train, x, rx, gamma, vg, sm_b, si_b, z_b, dz, Rdz, Rdx_b, h_b, \
                                     h_b + KC);                                                     \
        int rb_same = same(h_a, h_b, sizeof h_a);                                                   \
        for (int i = 0; i < KE; i++)                                                                \
            rb_same &= same(&Rdx_a[i], &Rdx_b[i], sizeof(T)) || (isnan(Rdx_a[i]) && isnan(Rdx_b[i])); \
        CHECK(rb_same, #SFX " train=%d set=%d Rx=%d: R-backward differs", train, set, with_rx);    \
        CHECK(!train || !with_rx || nan || same(Rdx_a, Rdx_b, sizeof Rdx_a), "the NaN exception is used " \
              "without a NaN");                                                                     \
    }
KERNEL_TEST(float, f32)
KERNEL_TEST(double, f64)

/* ---- 2. models ---- */
enum { K = 5, N = 4, C = 3, H = 8, W = 8 };

static absa_model *build(int keep_order)
{
    absa_model *m = absa_mc_begin("bnrelu", C, H, W, K, keep_order);
    if (!m) return NULL;
    /* BN + add + ReLU with the input node as the add's other operand: fused, no R-value added */
    int x0 = absa_mb_relu(m, absa_mb_add(m, absa_mb_bn(m, absa_mb_conv(m, 0, "pre", C, 3, 1, 1, 0), "pre.bn"), 0));
    int c = absa_mb_conv(m, x0, "conv1", 4, 3, 1, 1, 0);
    int b = absa_mb_bn(m, c, "bn1");
    int side = absa_mb_conv(m, c, "side", 4, 1, 1, 0, 0); /* between the BN and its ReLU */
    int r = absa_mb_relu(m, b);
    int a = absa_mb_relu(m, absa_mb_add(m, r, absa_mb_bn(m, side, "sbn")));
    int y = absa_mb_conv(m, a, "l1.conv1", 6, 3, 2, 1, 0); /* a resnet20 block with a shortcut */
    y = absa_mb_relu(m, absa_mb_bn(m, y, "l1.bn1"));
    y = absa_mb_bn(m, absa_mb_conv(m, y, "l1.conv2", 6, 3, 1, 1, 0), "l1.bn2");
    int sc = absa_mb_bn(m, absa_mb_conv(m, a, "l1.sc", 6, 1, 2, 0, 0), "l1.scbn");
    y = absa_mb_relu(m, absa_mb_add(m, y, sc));
    int t = absa_mb_bn(m, y, "fork"); /* read by its ReLU and by the add: not fused */
    y = absa_mb_add(m, absa_mb_relu(m, t), t);
    y = absa_mb_relu(m, absa_mb_add(m, absa_mb_bn(m, y, "same"), y)); /* dx and dq one buffer: not fused */
    y = absa_mb_flatten(m, absa_mb_avgpool(m, y));
    absa_mb_linear(m, y, "fc", K, 1);
    return absa_mc_finish(m);
}

static int count(const absa_model *m, absa_op op)
{
    int k = 0;
    for (int i = 0; i < m->n_nodes; i++) k += m->nodes[i].op == op;
    return k;
}

static void set_bn(float *params, const absa_model *m, const char *name, int ch, float gamma, float beta)
{
    char w[80], bi[80];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(bi, sizeof bi, "%s.bias", name);
    const absa_tensor_info *tw = absa_model_find(m, w), *tb = absa_model_find(m, bi);
    CHECK(tw && tb, "%s tensors", name);
    if (!tw || !tb) return;
    params[tw->offset + (size_t)ch] = gamma;
    params[tb->offset + (size_t)ch] = beta;
}

static void compare(const char *what, int edge, int nan_input)
{
    absa_model *a = build(1), *b = build(0);
    if (!a || !b) return;
    absa_model_init(a, 5);
    const size_t P = a->n_params, per = (size_t)C * H * W;
    uint64_t s = 31;
    float *params = absa_mc_get(a, a->params, P);
    for (int i = 0; i < a->n_tensors; i++) { /* random BN affine parameters */
        const absa_tensor_info *t = &a->tensors[i];
        if (t->kind != ABSA_TENSOR_PARAM || t->ndim != 1 || !strstr(t->name, "bn")) continue;
        for (size_t k = 0; k < t->numel; k++)
            params[t->offset + k] = strstr(t->name, "weight") ? (float)(0.5 + absa_test_uniform(&s))
                                                              : (float)(0.3 * absa_test_normal(&s));
    }
    if (edge) { /* pre-activations exactly 0: +0 and -0 (beta = -0), and +0 only */
        set_bn(params, a, "bn1", 0, 0.0f, -0.0f);
        set_bn(params, a, "l1.bn1", 1, 0.0f, 0.0f);
        set_bn(params, a, "l1.bn1", 2, 0.0f, -0.0f);
    }
    absa_model_set(a, a->params, params, P);
    absa_model_set(b, b->params, params, P);
    float *bufs = absa_mc_get(a, a->bufs, a->n_bufs);
    absa_model_set(b, b->bufs, bufs, a->n_bufs);
    free(bufs);
    float *x = malloc(N * per * sizeof(float)), *v = malloc(P * sizeof(float)), *v2 = malloc(P * sizeof(float));
    int32_t y[N];
    for (size_t i = 0; i < N * per; i++) x[i] = (float)absa_test_normal(&s);
    for (size_t i = 0; i < P; i++) v[i] = (float)absa_test_normal(&s), v2[i] = (float)absa_test_normal(&s);
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&s) % K);
    if (nan_input) x[2 * per + 9] = NAN;
    for (int train = 1; train >= 0; train--) { /* train first: eval then uses updated statistics */
        absa_mc_forward(a, b, what, x, N, train, 1);
        float *ra = absa_mc_get(a, a->bufs, a->n_bufs), *rb = absa_mc_get(b, b->bufs, b->n_bufs);
        CHECK(same(ra, rb, a->n_bufs * sizeof(float)) &&
                  same(a->num_batches_tracked, b->num_batches_tracked, (size_t)a->n_counts * sizeof(int64_t)),
              "%s train=%d: running statistics or counters differ", what, train);
        free(ra), free(rb);
        if (nan_input) continue; /* the loss is NaN: the logits' bits are the check */
        absa_mc_backward(a, b, what, x, y, N, train);
        absa_mc_hv(a, b, what, x, y, N, train, v, "v", 1);
        absa_mc_hv(a, b, what, x, y, N, train, v2, "v2", 1);
    }
    free(params), free(x), free(v), free(v2);
    absa_model_free(a);
    absa_model_free(b);
}

int main(void)
{
    for (int train = 0; train <= 1; train++)
        for (int set = 0; set <= 1; set++)
            for (int rx = 0; rx <= 1; rx++)
                for (int nan = 0; nan <= 1; nan++) {
                    kernels_f32(train, set, rx, nan);
                    kernels_f64(train, set, rx, nan);
                }
    /* which are fused: BN_RELU bn1 (its ReLU two nodes later) and l1.bn1; BN_ADD_RELU pre.bn and
     * l1.bn2 (its shortcut declared between it and the add); not sbn (the add's second operand),
     * l1.scbn (likewise), fork (its output has two readers) nor same (its input is the add's other
     * operand); keep_order fuses nothing */
    absa_model *a = build(1), *b = build(0);
    CHECK(a && count(a, ABSA_OP_BN_RELU) == 0 && count(a, ABSA_OP_BN_ADD_RELU) == 0 && count(a, ABSA_OP_BN) == 8,
          "keep_order: BNs were fused");
    CHECK(b && count(b, ABSA_OP_BN_RELU) == 2 && count(b, ABSA_OP_BN_ADD_RELU) == 2 && count(b, ABSA_OP_BN) == 4 &&
              b->n_nodes == a->n_nodes - 6,
          "fused: %d BN_RELU, %d BN_ADD_RELU, %d BN (want 2, 2, 4)", b ? count(b, ABSA_OP_BN_RELU) : -1,
          b ? count(b, ABSA_OP_BN_ADD_RELU) : -1, b ? count(b, ABSA_OP_BN) : -1);
    for (int i = 1; b && i < b->n_nodes; i++)
        CHECK(b->nodes[i].in0 < i && b->nodes[i].in1 < i, "node %d reads a later node", i);
    absa_model_free(a);
    absa_model_free(b);
    /* the registry's resnet20 gets the fusions: BN_RELU for the stem and every bn1 (10), BN_ADD_RELU
     * for every block's bn2 + add + ReLU (9), the two shortcut BNs stay plain, no add or ReLU left */
    absa_model *r = NULL;
    CHECK(absa_model_create("resnet20", 3, 32, 32, 10, &r) == ABSA_OK && r, "resnet20");
    if (r) {
        CHECK(count(r, ABSA_OP_BN_RELU) == 10 && count(r, ABSA_OP_BN_ADD_RELU) == 9 && count(r, ABSA_OP_BN) == 2 &&
                  count(r, ABSA_OP_ADD) == 0 && count(r, ABSA_OP_RELU) == 0,
              "resnet20: %d BN_RELU, %d BN_ADD_RELU, %d BN, %d ADD, %d RELU (want 10, 9, 2, 0, 0)",
              count(r, ABSA_OP_BN_RELU), count(r, ABSA_OP_BN_ADD_RELU), count(r, ABSA_OP_BN), count(r, ABSA_OP_ADD),
              count(r, ABSA_OP_RELU));
        absa_model_free(r);
    }
    compare("random", 0, 0);
    compare("zero pre-activations", 1, 0);
    compare("NaN input", 1, 1);
    return absa_test_finish("test_bnrelu");
}
