/* test_convpool.c — a conv, the max-pool after it and a ReLU after that as one op (CONV_POOL:
 * absa_conv2d_pool_*,
 * the builder's mb_fuse_conv_pool; issue 17). The fused passes must give the same BITS as the
 * conv's pass followed by the pool's, in all four passes:
 *  - kernels: absa_conv2d_pool_{forward,backward,rforward,rbackward}_f32 against
 *    absa_conv2d_* then absa_maxpool_* on a stored conv output (the oracle: the separate ops,
 *    which test_conv and test_pool check against PyTorch), on every engine the fused op has: the
 *    patch engine's transposed patches (short runs), its direct product (K <= 32), its transpose
 *    (K > 32), a strided conv, and the Winograd path (whole-batch composition); with overlapping,
 *    padded and partial pool windows, ties (zero weights), a NaN, accumulate and overwrite modes
 *    of dx, the bias-only backward, Rx = NULL (the first layer), 1 and 2 threads, an odd batch.
 *  - the same with a ReLU fused after the pool (the mask read from the ReLU's output instead of
 *    its input: windows <= 0 and NaN included);
 *  - models: a lenet-shaped graph built with keep_order (executed as declared) against the
 *    builder's (commuted, conv + pool + ReLU fused): logits, loss, gradient, input gradient, H v,
 *    H v again (model_compare.h); the fusion happens, and not where the conv has a second reader.
 * Run on every CPU path (validation/CMakeLists.txt: ABSA_CPU_PATH). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"
#include "model_build.h"
#include "model_compare.h"

typedef struct shape {
    const char *name;
    int C, H, W, O, k, s, p; /* conv */
    int pk, ps, pp;          /* pool */
} shape;

static float *randv(uint64_t *st, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (float)absa_test_normal(st);
    return v;
}
static float *copyv(const float *a, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    memcpy(v, a, n * sizeof(float));
    return v;
}
#define SAME(a, b, n, ...) CHECK(!memcmp((a), (b), (n) * sizeof *(a)), __VA_ARGS__)

/* one shape, batch N, on the current thread count; zero_w: conv weights 0 (every window a tie);
 * relu: a ReLU fused after the pool (oracle: absa_relu_* on the pool's output, the mask read
 * from the ReLU's input; fused: from its output) */
static void kernels(const shape *S, int N, int zero_w, int nan_x, int relu)
{
    absa_conv_cfg c;
    absa_pool_cfg pc;
    CHECK(absa_conv_cfg_init(&c, N, S->C, S->H, S->W, S->O, S->k, S->s, S->p, 1) == 0, "%s: conv geometry", S->name);
    CHECK(absa_pool_cfg_init(&pc, N, S->O, c.Ho, c.Wo, S->pk, S->ps, S->pp) == 0, "%s: pool geometry", S->name);
    const size_t nx = (size_t)N * S->C * S->H * S->W, nw = (size_t)S->O * S->C * S->k * S->k;
    const size_t nz = (size_t)N * S->O * c.Ho * c.Wo, ny = (size_t)N * S->O * pc.Ho * pc.Wo, nb = (size_t)S->O;
    uint64_t st = 1234 + (uint64_t)N;
    float *x = randv(&st, nx), *Rx = randv(&st, nx), *W = randv(&st, nw), *V = randv(&st, nw);
    float *b = randv(&st, nb), *Vb = randv(&st, nb), *dy = randv(&st, ny), *Rdy = randv(&st, ny);
    if (zero_w) memset(W, 0, nw * sizeof(float));
    if (nan_x) x[nx / 2] = NAN;
    size_t wsl = absa_conv_workspace(&c), wsf = absa_conv_pool_workspace(&c);
    float *ws = malloc(wsl * sizeof(float)), *wsp = malloc(wsf * sizeof(float));
    float *z = malloc(nz * sizeof(float)), *z2 = malloc(nz * sizeof(float));
    float *y1 = malloc(ny * sizeof(float)), *y2 = malloc(ny * sizeof(float)), *pool = malloc(ny * sizeof(float));
    float *m1 = malloc(ny * sizeof(float)), *m2 = malloc(ny * sizeof(float));
    int32_t *a1 = malloc(ny * sizeof(int32_t)), *a2 = malloc(ny * sizeof(int32_t));
    char nm[96];
    snprintf(nm, sizeof nm, "%s%s", S->name, relu ? " +relu" : "");

    /* forward: pool holds the pool's output (the ReLU's input), y2 the fused node's output */
    absa_conv2d_forward_f32(&c, x, W, b, z, ws);
    absa_maxpool_forward_f32(&pc, z, pool, a1);
    memcpy(y1, pool, ny * sizeof(float));
    if (relu) absa_relu_forward_f32(ny, pool, y1);
    memset(y2, 0x7f, ny * sizeof(float));
    absa_conv2d_pool_forward_f32(&c, S->pk, S->ps, S->pp, relu, x, W, b, y2, a2, wsp);
    SAME(y1, y2, ny, "%s N=%d: forward output differs", nm, N);
    SAME(a1, a2, ny, "%s N=%d: argmax differs", nm, N);
    float *yf = copyv(y2, ny);          /* the fused node's forward output */
    const float *zf = relu ? yf : NULL; /* the fused passes' mask: that output */

    /* R-forward, with Rx and without (the first layer) */
    for (int withR = 0; withR <= 1; withR++) {
        absa_conv2d_rforward_f32(&c, x, withR ? Rx : NULL, W, V, Vb, z, ws);
        absa_maxpool_rforward_f32(&pc, a1, z, y1);
        if (relu) absa_relu_rforward_f32(ny, pool, y1, y1);
        absa_conv2d_pool_rforward_f32(&c, S->pk, S->ps, S->pp, zf, x, withR ? Rx : NULL, W, V, Vb, a1, y2, wsp);
        SAME(y1, y2, ny, "%s N=%d Rx=%d: R-forward differs", nm, N, withR);
    }

    /* the oracle's pooled gradients: dy, Rdy masked by the ReLU's input */
    memcpy(m1, dy, ny * sizeof(float));
    memcpy(m2, Rdy, ny * sizeof(float));
    if (relu) absa_relu_backward_ex_f32(ny, pool, dy, m1, 1), absa_relu_backward_ex_f32(ny, pool, Rdy, m2, 1);

    /* backward: dx accumulated and overwritten, dW/db accumulated onto random values; then dx
     * only, and the bias alone */
    float *dx0 = randv(&st, nx), *dW0 = randv(&st, nw), *db0 = randv(&st, nb);
    for (int mode = 0; mode < 4; mode++) {
        /* 0: dx +=, dW, db; 1: dx =, dW, db; 2: dx only; 3: db only */
        float *dxa = copyv(dx0, nx), *dxb = copyv(dx0, nx), *dWa = copyv(dW0, nw), *dWb = copyv(dW0, nw);
        float *dba = copyv(db0, nb), *dbb = copyv(db0, nb);
        c.dx_set = mode == 1;
        float *pdxa = mode <= 2 ? dxa : NULL, *pdxb = mode <= 2 ? dxb : NULL;
        float *pWa = mode <= 1 ? dWa : NULL, *pWb = mode <= 1 ? dWb : NULL;
        float *pba = mode != 2 ? dba : NULL, *pbb = mode != 2 ? dbb : NULL;
        absa_maxpool_backward_ex_f32(&pc, a1, m1, z, 1);
        absa_conv2d_backward_f32(&c, x, W, z, pdxa, pWa, pba, ws);
        absa_conv2d_pool_backward_f32(&c, S->pk, S->ps, S->pp, zf, x, W, a1, dy, pdxb, pWb, pbb, wsp);
        SAME(dxa, dxb, nx, "%s N=%d mode %d: dx differs", nm, N, mode);
        SAME(dWa, dWb, nw, "%s N=%d mode %d: dW differs", nm, N, mode);
        SAME(dba, dbb, nb, "%s N=%d mode %d: db differs", nm, N, mode);
        /* R-backward (with Rx and without) */
        for (int withR = 0; withR <= 1 && mode <= 1; withR++) {
            memcpy(dxa, dx0, nx * sizeof(float)), memcpy(dxb, dx0, nx * sizeof(float));
            memcpy(dWa, dW0, nw * sizeof(float)), memcpy(dWb, dW0, nw * sizeof(float));
            memcpy(dba, db0, nb * sizeof(float)), memcpy(dbb, db0, nb * sizeof(float));
            const float *rx = withR ? Rx : NULL;
            absa_maxpool_backward_ex_f32(&pc, a1, m1, z, 1);
            absa_maxpool_backward_ex_f32(&pc, a1, m2, z2, 1);
            absa_conv2d_rbackward_f32(&c, x, rx, W, V, z, z2, dxa, dWa, dba, ws);
            absa_conv2d_pool_rbackward_f32(&c, S->pk, S->ps, S->pp, zf, x, rx, W, V, a1, dy, Rdy, dxb, dWb, dbb, wsp);
            SAME(dxa, dxb, nx, "%s N=%d mode %d Rx=%d: Rdx differs", nm, N, mode, withR);
            SAME(dWa, dWb, nw, "%s N=%d mode %d Rx=%d: RdW differs", nm, N, mode, withR);
            SAME(dba, dbb, nb, "%s N=%d mode %d Rx=%d: Rdb differs", nm, N, mode, withR);
        }
        free(dxa), free(dxb), free(dWa), free(dWb), free(dba), free(dbb);
    }
    c.dx_set = 0;
    free(dx0), free(dW0), free(db0);
    free(x), free(Rx), free(W), free(V), free(b), free(Vb), free(dy), free(Rdy);
    free(ws), free(wsp), free(z), free(z2), free(y1), free(y2), free(pool), free(m1), free(m2), free(a1), free(a2), free(yf);
}

/* ---- models ---- */
enum { K = 10, MN = 5, MC = 1, MH = 12, MW = 12 };

/* lenet's pattern at 12x12: conv1 (patch engine) and conv2 (Winograd: 8 channels), each
 * ReLU-pooled; with fork, conv2's output is also read by a residual add (no fusion there) */
static absa_model *build(int keep_order, int fork)
{
    absa_model *m = absa_mc_begin("convpool", MC, MH, MW, K, keep_order);
    if (!m) return NULL;
    int x = absa_mb_conv(m, 0, "conv1", 8, 3, 1, 1, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_maxpool(m, x, 2, 2, 0);
    int c2 = absa_mb_conv(m, x, "conv2", 8, 3, 1, 1, 1);
    x = absa_mb_maxpool(m, c2, 3, 2, 1); /* overlapping, padded windows, no ReLU between */
    if (fork) x = absa_mb_add(m, x, absa_mb_maxpool(m, absa_mb_add(m, c2, c2), 3, 2, 1));
    x = absa_mb_relu(m, x);
    x = absa_mb_flatten(m, x);
    x = absa_mb_linear(m, x, "fc1", 16, 1);
    x = absa_mb_relu(m, x);
    absa_mb_linear(m, x, "fc2", K, 1);
    return absa_mc_finish(m);
}

static int count(const absa_model *m, absa_op op)
{
    int k = 0;
    for (int i = 0; m && i < m->n_nodes; i++) k += m->nodes[i].op == op;
    return k;
}

static void models(const char *what, int zero_conv1)
{
    absa_model *a = build(1, 0), *b = build(0, 0);
    if (!a || !b) return;
    absa_model_init(a, 5);
    const size_t P = a->n_params, per = (size_t)MC * MH * MW;
    float *params = absa_mc_get(a, a->params, P);
    if (zero_conv1) { /* conv1 outputs its bias everywhere: every window of pool1 a tie */
        const absa_tensor_info *w = absa_model_find(a, "conv1.weight");
        CHECK(w != NULL, "conv1.weight");
        for (size_t i = 0; w && i < w->numel; i++) params[w->offset + i] = 0;
    }
    absa_model_set(a, a->params, params, P);
    absa_model_set(b, b->params, params, P);
    uint64_t s = 77;
    float *x = randv(&s, MN * per), *v = randv(&s, P), *v2 = randv(&s, P);
    int32_t y[MN];
    for (int i = 0; i < MN; i++) y[i] = (int32_t)(absa_test_next(&s) % K);
    for (int train = 0; train <= 1; train++) {
        absa_mc_forward(a, b, what, x, MN, train, 0);
        absa_mc_backward(a, b, what, x, y, MN, train);
        absa_mc_hv(a, b, what, x, y, MN, train, v, "v", 0);
        absa_mc_hv(a, b, what, x, y, MN, train, v2, "v2 (again)", 1);
    }
    free(params), free(x), free(v), free(v2);
    absa_model_free(a);
    absa_model_free(b);
}

int main(void)
{
    const shape shapes[] = {
        {"tr 1x12x12 k3 pool2", 1, 12, 12, 8, 3, 1, 1, 2, 2, 0},     /* lenet conv1: transposed patches */
        {"direct 3x11x11 k3 pool3/2/1", 3, 11, 11, 6, 3, 1, 1, 3, 2, 1}, /* K = 27: direct product */
        {"wide 4x10x10 k5 s2 pool2", 4, 10, 10, 5, 5, 2, 2, 2, 2, 0},  /* K = 100: transpose; odd 5x5 */
        {"strided 2x9x9 k3 s2 pool2/1", 2, 9, 9, 4, 3, 2, 0, 2, 1, 0}, /* stride 2, overlapping pool */
        {"wino 8x8x8 pool2", 8, 8, 8, 8, 3, 1, 1, 2, 2, 0},           /* Winograd: whole-batch */
        {"wino 8x7x7 pool3/2/1", 8, 7, 7, 9, 3, 1, 1, 3, 2, 1},
        {"wino 8x16x16 pool2", 8, 16, 16, 8, 3, 1, 1, 2, 2, 0},   /* Winograd, 8 tiles per row */
        {"wino 9x17x16 pool3/2/1", 9, 17, 16, 8, 3, 1, 1, 3, 2, 1}, /* odd height */
    };
    const int nshape = (int)(sizeof shapes / sizeof *shapes);
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        for (int relu = 0; relu <= 1; relu++) {
            for (int i = 0; i < nshape; i++) {
                kernels(&shapes[i], 5, 0, 0, relu);
                kernels(&shapes[i], 1, 0, 0, relu);
            }
            kernels(&shapes[0], 3, 1, 0, relu); /* ties (and, with the ReLU, windows <= 0: the bias) */
            kernels(&shapes[4], 3, 1, 0, relu);
            kernels(&shapes[1], 4, 0, 1, relu); /* NaN */
            kernels(&shapes[4], 4, 0, 1, relu);
        }
    }
    omp_set_num_threads(2);

    /* the fusion happens (after the commute, each pool's ReLU too), not with keep_order, not for a
     * conv read twice */
    absa_model *a = build(1, 0), *b = build(0, 0), *f = build(0, 1);
    CHECK(a && count(a, ABSA_OP_CONV_POOL) == 0 && count(a, ABSA_OP_MAXPOOL) == 2, "keep_order: fused");
    CHECK(b && count(b, ABSA_OP_CONV_POOL) == 2 && count(b, ABSA_OP_MAXPOOL) == 0 && count(b, ABSA_OP_CONV) == 0 &&
              count(b, ABSA_OP_RELU) == 1 && b->n_nodes == a->n_nodes - 4,
          "builder: %d CONV_POOL, %d MAXPOOL, %d RELU (want 2, 0, 1)", count(b, ABSA_OP_CONV_POOL),
          count(b, ABSA_OP_MAXPOOL), count(b, ABSA_OP_RELU));
    CHECK(b && b->nodes[1].op == ABSA_OP_CONV_POOL && b->nodes[1].C == 8 && b->nodes[1].H == 6 && b->nodes[1].W == 6 &&
              b->nodes[1].pk == 2 && b->nodes[1].ps == 2 && b->nodes[1].pp == 0 && b->nodes[1].prelu == 1,
          "conv1+pool1+relu: the pool's shape and geometry, the ReLU");
    CHECK(b && b->nodes[2].op == ABSA_OP_CONV_POOL && b->nodes[2].in0 == 1 && b->nodes[2].H == 3 && b->nodes[2].pk == 3 &&
              b->nodes[2].pp == 1 && b->nodes[2].prelu == 1,
          "conv2+pool2+relu: the pool's shape and geometry, the ReLU");
    /* fork: conv2 is read twice (not fused); conv1's pool and ReLU are */
    CHECK(f && count(f, ABSA_OP_CONV_POOL) == 1 && count(f, ABSA_OP_CONV) == 1 && f->nodes[1].prelu == 1,
          "a conv read twice was fused");
    absa_model_free(a);
    absa_model_free(b);
    absa_model_free(f);
    models("random weights", 0);
    models("pool1 ties", 1);
    return absa_test_finish("test_convpool");
}
