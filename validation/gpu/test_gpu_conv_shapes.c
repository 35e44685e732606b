/* test_gpu_conv_shapes.c — for every convolution of every model (mlp, lenet, c1, resnet20, built
 * by the engine's own builder on their usual inputs; a conv fused with its max-pool, CONV_POOL,
 * included, whose node has the pool's shape), absa's output size (absa_conv_cfg_init,
 * which sizes the activations) equals cuDNN's (cudnnGetConvolution2dForwardOutputDim on the
 * descriptors the CUDA back end makes for that layer). Descriptors need neither a device nor a
 * driver, so this runs on any machine with cuDNN; it also checks that an impossible geometry is
 * refused by both. */
#include <stdio.h>
#include <string.h>

#include "absa_test.h"
#include "gpu_layers.h"
#include "model.h"

static int walk(const char *name, int C, int H, int W)
{
    absa_model *m = NULL;
    if (absa_model_create(name, C, H, W, 10, &m) != ABSA_OK) {
        CHECK(0, "%s: %s", name, absa_last_error());
        return 0;
    }
    int convs = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        const absa_node *n = &m->nodes[i];
        if (n->op != ABSA_OP_CONV && n->op != ABSA_OP_CONV_POOL) continue;
        const int fused = n->op == ABSA_OP_CONV_POOL; /* the node has the pool's shape */
        const absa_node *p = &m->nodes[n->in0];
        for (int N = 1; N <= 128; N *= 128) {
            absa_conv_cfg c;
            CHECK(absa_conv_cfg_init(&c, N, p->C, p->H, p->W, n->out, n->k, n->stride, n->pad,
                                     n->has_bias) == 0, "%s node %d geometry", name, i);
            int dn = -1, dc = -1, dh = -1, dw = -1;
            CHECK(absa_gpu_conv_out_dims(&c, &dn, &dc, &dh, &dw) == ABSA_OK, "%s node %d: %s", name,
                  i, absa_last_error());
            absa_pool_cfg pc;
            const int pooled_ok = !fused || (absa_pool_cfg_init(&pc, N, c.O, c.Ho, c.Wo, n->pk, n->ps, n->pp) == 0 &&
                                             pc.Ho == n->H && pc.Wo == n->W);
            CHECK(pooled_ok, "%s node %d: the fused pool's output is not the node's shape", name, i);
            CHECK(dn == N && dc == n->out && dh == c.Ho && dw == c.Wo && (fused || (c.Ho == n->H && c.Wo == n->W)),
                  "%s node %d (%dx%dx%d k%d s%d p%d): absa %dx%dx%dx%d, cuDNN %dx%dx%dx%d", name, i,
                  p->C, p->H, p->W, n->k, n->stride, n->pad, N, n->out, c.Ho, c.Wo, dn, dc, dh, dw);
        }
        convs++;
    }
    printf("%s %dx%dx%d: %d convolutions checked\n", name, C, H, W, convs);
    absa_model_free(m);
    return convs;
}

int main(void)
{
    CHECK(walk("mlp", 1, 28, 28) == 0, "mlp has no convolution");
    CHECK(walk("lenet", 1, 28, 28) == 2, "lenet has 2 convolutions");
    CHECK(walk("c1", 3, 32, 32) > 0, "c1 has convolutions");
    CHECK(walk("resnet20", 3, 32, 32) == 21, "resnet20 has 19 3x3 + 2 projection convolutions");
    walk("lenet", 3, 32, 32);
    walk("resnet20", 1, 28, 28);
    /* a 5x5 kernel on a 3x3 input without padding: absa refuses it, and so does cuDNN (or it
     * reports a non-positive size) */
    absa_conv_cfg c;
    memset(&c, 0, sizeof c);
    c.N = 1, c.C = 1, c.H = 3, c.W = 3, c.O = 1, c.kh = 5, c.kw = 5, c.sh = c.sw = 1;
    int dn = 0, dc = 0, dh = 1, dw = 1;
    const absa_status st = absa_gpu_conv_out_dims(&c, &dn, &dc, &dh, &dw);
    CHECK(absa_conv_cfg_init(&c, 1, 1, 3, 3, 1, 5, 1, 0, 0) != 0, "absa accepts an impossible geometry");
    CHECK(st != ABSA_OK || dh <= 0 || dw <= 0, "cuDNN: 5x5 on 3x3 gives %dx%d", dh, dw);
    return absa_test_finish("test_gpu_conv_shapes");
}
