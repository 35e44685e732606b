/* test_commute.c — the builder's ReLU/max-pool commute (model_build.c, mb_commute_relu_pool;
 * issue 17): a model declared as conv-ReLU-pool runs as conv-pool-ReLU, and must give the same
 * BITS as the declared order in every pass: logits, loss, parameter gradient, input gradient
 * (FGSM), Hessian-vector product (train and eval mode). Oracle: the same model built with
 * keep_order = 1, i.e. executed exactly as declared (the order the PyTorch twin runs); the
 * bitwise checks of the passes are model_compare.h's.
 * Cases that could tell the orders apart: random weights; conv weights zeroed with a positive
 * bias (every window a tie among equal positive values) and a negative bias (every window <= 0:
 * no gradient may pass); a NaN input sample (logits compared bitwise, NaN payload included).
 * It also checks that the commute happened (node order) and that it is skipped when the ReLU's
 * output has a second reader.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "model_build.h"
#include "model_compare.h"

enum { K = 10, N = 6, C = 1, H = 12, W = 12 };

/* lenet's pattern at 12x12 (two conv-relu-pool stages), or with `fork` a ReLU output read by
 * the pool and by an add (the commute must not apply). */
static absa_model *build(int keep_order, int fork)
{
    absa_model *m = absa_mc_begin("commute", C, H, W, K, keep_order);
    if (!m) return NULL;
    int x = absa_mb_conv(m, 0, "conv1", 8, 3, 1, 1, 1);
    int r = absa_mb_relu(m, x);
    x = absa_mb_maxpool(m, r, 2, 2, 0);
    if (fork) {
        int y = absa_mb_maxpool(m, absa_mb_add(m, r, r), 2, 2, 0);
        x = absa_mb_add(m, x, y);
    }
    x = absa_mb_conv(m, x, "conv2", 8, 3, 1, 1, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_maxpool(m, x, 2, 2, 0);
    x = absa_mb_flatten(m, x);
    x = absa_mb_linear(m, x, "fc1", 16, 1);
    x = absa_mb_relu(m, x);
    absa_mb_linear(m, x, "fc2", K, 1);
    return absa_mc_finish(m);
}

static int nodes_in_order(const absa_model *m, const absa_op *ops, int n)
{
    if (m->n_nodes != n) return 0;
    for (int i = 0; i < n; i++)
        if (m->nodes[i].op != ops[i]) return 0;
    return 1;
}

/* conv_mode 0: as drawn; 1: conv1's weights 0, bias +0.25 (positive ties); 2: bias -0.25 (all <= 0) */
static void compare(const char *what, int conv_mode, int nan_input)
{
    absa_model *a = build(1, 0), *b = build(0, 0);
    if (!a || !b) return;
    absa_model_init(a, 11);
    const size_t P = a->n_params, per = (size_t)C * H * W;
    float *params = absa_mc_get(a, a->params, P);
    if (conv_mode) {
        const absa_tensor_info *w = absa_model_find(a, "conv1.weight"), *bi = absa_model_find(a, "conv1.bias");
        CHECK(w && bi, "conv1 tensors");
        for (size_t i = 0; i < w->numel; i++) params[w->offset + i] = 0;
        for (size_t i = 0; i < bi->numel; i++) params[bi->offset + i] = conv_mode == 1 ? 0.25f : -0.25f;
    }
    absa_model_set(a, a->params, params, P);
    absa_model_set(b, b->params, params, P);
    uint64_t s = 99;
    float *x = malloc(N * per * sizeof(float)), *v = malloc(P * sizeof(float));
    int32_t y[N];
    for (size_t i = 0; i < N * per; i++) x[i] = (float)absa_test_normal(&s);
    for (size_t i = 0; i < P; i++) v[i] = (float)absa_test_normal(&s);
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&s) % K);
    if (nan_input) x[3 * per + 17] = NAN;
    for (int train = 0; train <= 1; train++) {
        absa_mc_forward(a, b, what, x, N, train, 0);
        if (nan_input) continue; /* the loss is NaN: the logits' bits are the check */
        absa_mc_backward(a, b, what, x, y, N, train);
        absa_mc_hv(a, b, what, x, y, N, train, v, "v", 0);
    }
    free(params), free(x), free(v);
    absa_model_free(a);
    absa_model_free(b);
}

int main(void)
{
    /* the commute happens (and keep_order keeps the declared order) */
    const absa_op declared[] = {ABSA_OP_INPUT, ABSA_OP_CONV,    ABSA_OP_RELU,    ABSA_OP_MAXPOOL,
                                ABSA_OP_CONV,  ABSA_OP_RELU,    ABSA_OP_MAXPOOL, ABSA_OP_FLATTEN,
                                ABSA_OP_LINEAR, ABSA_OP_RELU,   ABSA_OP_LINEAR};
    /* commuted, then each conv, its pool and the ReLU now after the pool fused (test_convpool
     * checks that fusion, which only a commuted pair allows) */
    const absa_op commuted[] = {ABSA_OP_INPUT,  ABSA_OP_CONV_POOL, ABSA_OP_CONV_POOL, ABSA_OP_FLATTEN,
                                ABSA_OP_LINEAR, ABSA_OP_RELU,      ABSA_OP_LINEAR};
    absa_model *a = build(1, 0), *b = build(0, 0), *f = build(0, 1);
    CHECK(a && nodes_in_order(a, declared, 11), "keep_order: the declared order changed");
    CHECK(b && nodes_in_order(b, commuted, 7), "the ReLU/max-pool pairs were not commuted");
    CHECK(b && b->nodes[1].prelu && b->nodes[2].prelu && b->nodes[1].C == 8 && b->nodes[1].H == 6 &&
              b->nodes[1].W == 6,
          "commuted ReLU: not after the pool (fused: prelu %d %d), or shape %dx%dx%d, want the pool's 8x6x6",
          b ? b->nodes[1].prelu : -1, b ? b->nodes[2].prelu : -1, b ? b->nodes[1].C : 0, b ? b->nodes[1].H : 0,
          b ? b->nodes[1].W : 0);
    CHECK(f && f->nodes[2].op == ABSA_OP_RELU && f->nodes[3].op == ABSA_OP_MAXPOOL,
          "a ReLU with two readers was commuted");
    absa_model_free(a);
    absa_model_free(b);
    absa_model_free(f);
    /* the bits of every pass */
    compare("random weights", 0, 0);
    compare("positive ties", 1, 0);
    compare("all windows <= 0", 2, 0);
    compare("NaN input", 0, 1);
    return absa_test_finish("test_commute");
}
