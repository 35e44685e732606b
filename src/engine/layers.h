/* layers.h — the layer kernels of absa: configs and the four passes of every layer.
 *
 * Every layer has forward, backward, R-forward and R-backward (Pearlmutter's R-operator), so the
 * model executor (model_exec.c) gets exact Hessian-vector products. Every kernel exists as _f32 (the
 * engine) and _f64 (finite-difference tests in double); declarations are in layers_decl.h,
 * included twice below.
 *
 * Conventions (all kernels):
 *  - Tensors are dense NCHW (activations), OIHW (conv weights), [out,in] (linear weights), as PyTorch.
 *  - Forward and R-forward OVERWRITE their outputs (y, Ry).
 *  - Backward and R-backward ACCUMULATE (+=) into dx, dW, db, Rdx, RdW, Rdb: parameter gradients
 *    add up over micro-batches, and an activation feeding two consumers (residual) gets both
 *    contributions. Any of dx / Rdx / db / Rdb may be NULL to skip it.
 *    Exception, to save a zeroing pass over activation memory: the activation gradient (dx, Rdx)
 *    is OVERWRITTEN instead when asked — `dx_set` in the conv and BN configs, the `set` flags of
 *    absa_relu_backward_ex / absa_add_backward_ex / absa_maxpool_backward_ex. The executor asks for it when it is the first
 *    writer of that gradient in a backward pass.
 *  - R-forward: Ry = d/dt f(x + t*Rx; W + t*V)|t=0. Rx may be NULL (input does not depend on the
 *    parameters, e.g. the first layer) and means zero.
 *  - R-backward: the directional derivative of the backward map (x, W, dy) -> (dx, dW, db) along
 *    (Rx, V, Rdy). RdW/Rdb are the layer's slice of Hv.
 *  - `ws` is scratch of absa_*_workspace(cfg) elements of the kernel's type (may be NULL when 0).
 *  - Reductions that feed decisions (BN statistics, loss) accumulate in double.
 */
#ifndef ABSA_LAYERS_H
#define ABSA_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- configurations (precision-independent) ---- */

typedef struct absa_conv_cfg {
    int N, C, H, W;    /* input */
    int O, kh, kw;     /* output channels, kernel */
    int sh, sw, ph, pw; /* stride, zero padding */
    int Ho, Wo;        /* output spatial size (filled by absa_conv_cfg_init) */
    int has_bias;
    int dx_set;        /* backward/R-backward overwrite dx/Rdx instead of += (0 after init) */
} absa_conv_cfg;

/* Fills Ho/Wo; returns 0, or -1 if the geometry is impossible (output <= 0). */
int absa_conv_cfg_init(absa_conv_cfg *c, int N, int C, int H, int W, int O, int k, int stride,
                       int pad, int has_bias);
/* Scratch elements needed by any conv pass with this config. */
size_t absa_conv_workspace(const absa_conv_cfg *c);
/* ... by the passes of that conv with a max-pool fused after it (absa_conv2d_pool_*). */
size_t absa_conv_pool_workspace(const absa_conv_cfg *c);

typedef struct absa_linear_cfg {
    int N, in, out, has_bias;
} absa_linear_cfg;

/* The one batch-norm momentum of the engine (PyTorch default); the running-statistics merge over
 * ranks (absa_model_bn_merge) uses it too. */
#define ABSA_BN_MOMENTUM 0.1

typedef struct absa_bn_cfg {
    int N, C, HW;      /* input N x C x (H*W) */
    double eps;        /* 1e-5 */
    double momentum;   /* 0.1, PyTorch convention: running = (1-m)*running + m*batch */
    int dx_set;        /* backward/R-backward overwrite dx/Rdx instead of += */
    int dq_set;        /* BN_ADD_RELU: ... and dq/Rdq (the add's other operand's gradients) */
} absa_bn_cfg;

typedef struct absa_pool_cfg {
    int N, C, H, W;
    int k, s, p;       /* max-pool kernel, stride, padding (PyTorch floor mode, -inf padding) */
    int Ho, Wo;
} absa_pool_cfg;
int absa_pool_cfg_init(absa_pool_cfg *c, int N, int C, int H, int W, int k, int s, int p);

/* ---- kernels, float32 and float64 ---- */
#include "absa_generic.h"

#define ABSA_T float
#define ABSA_SFX f32
#include "layers_decl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "layers_decl.h"
#undef ABSA_T
#undef ABSA_SFX

#endif
