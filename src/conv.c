/* conv.c — 2-D convolution layer (NCHW activations, OIHW weights, zero padding, any stride and
 * kernel size): geometry (absa_conv_cfg_init), workspace sizing, and the four passes (forward,
 * backward, R-forward, R-backward) in float32 and float64, instantiated from conv_impl.h (the
 * engine: threads over samples, per-sample patch matrices and BLAS GEMMs) and conv_wino.h
 * (Winograd F(2x2, 3x3) for 3x3 stride-1 layers, also on BLAS GEMMs).
 */
#include <stdlib.h>
#include <string.h>

#include "absa_blas.h"
#include "absa_error.h"
#include "layers.h"

int absa_conv_cfg_init(absa_conv_cfg *c, int N, int C, int H, int W, int O, int k, int stride,
                       int pad, int has_bias)
{
    if (!c) return -1;
    memset(c, 0, sizeof *c);
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || O <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return -1;
    /* products that index tensors and GEMMs must fit in int */
    if ((long long)H + 2LL * pad > (1LL << 30) || (long long)W + 2LL * pad > (1LL << 30))
        return -1;
    if ((long long)C * k * k > (1LL << 30)) return -1;
    long long hp = (long long)H + 2LL * pad - k, wp = (long long)W + 2LL * pad - k;
    if (hp < 0 || wp < 0) return -1;
    long long Ho = hp / stride + 1, Wo = wp / stride + 1;
    if (Ho <= 0 || Wo <= 0 || Ho * Wo > (1LL << 30)) return -1;
    *c = (absa_conv_cfg){.N = N, .C = C, .H = H, .W = W, .O = O, .kh = k, .kw = k, .sh = stride,
                         .sw = stride, .ph = pad, .pw = pad, .Ho = (int)Ho, .Wo = (int)Wo,
                         .has_bias = has_bias ? 1 : 0};
    return 0;
}

#define ABSA_T float
#define ABSA_SFX f32
#include "conv_impl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "conv_impl.h"
#undef ABSA_T
#undef ABSA_SFX

size_t absa_conv_workspace(const absa_conv_cfg *c)
{
    absa_conv_lay l;
    absa_conv_layout(c, &l);
    if (!absa_wino_ok(c)) return l.total;
    absa_wino_lay w;
    absa_wino_layout(c, &w);
    return w.total > l.total ? w.total : l.total;
}
