/* conv.c — 2-D convolution layer (NCHW activations, OIHW weights, zero padding, any stride and
 * kernel size): geometry (absa_conv_cfg_init), workspace sizing, and the four passes (forward,
 * backward, R-forward, R-backward) in float32 and float64, instantiated from conv_impl.h.
 *
 * Strategy: samples are processed in chunks of S; a chunk is unfolded by im2col into one column
 * matrix col[K, S*P] (K = C*kh*kw, P = Ho*Wo, column index s*P + p) so every pass is ONE GEMM per
 * chunk (dW for the whole chunk, dcol for the whole chunk), then outputs are scattered back to
 * NCHW and input gradients folded back by col2im. The chunk size bounds the workspace.
 */
#include <string.h>

#include "absa_blas.h"
#include "absa_error.h"
#include "layers.h"

/* Target number of elements of one column matrix col[K, S*P]: large enough for efficient GEMMs,
 * small enough to stay mostly cache-resident and keep the workspace bounded (a few MB). */
#ifndef ABSA_CONV_COL_ELEMS
#define ABSA_CONV_COL_ELEMS (1u << 19)
#endif

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
    c->N = N;
    c->C = C;
    c->H = H;
    c->W = W;
    c->O = O;
    c->kh = c->kw = k;
    c->sh = c->sw = stride;
    c->ph = c->pw = pad;
    c->Ho = (int)Ho;
    c->Wo = (int)Wo;
    c->has_bias = has_bias ? 1 : 0;
    return 0;
}

/* Samples per im2col chunk (>= 1, <= N). Every pass and absa_conv_workspace use this. */
static int absa_conv_chunk(const absa_conv_cfg *c)
{
    size_t per = (size_t)c->C * c->kh * c->kw * (size_t)c->Ho * c->Wo;
    size_t s = per ? (size_t)ABSA_CONV_COL_ELEMS / per : 1;
    if (s < 1) s = 1;
    if (s > (size_t)c->N) s = (size_t)c->N;
    /* keep every GEMM dimension (K * S*P element counts are size_t; S*P itself is an int) in range */
    while (s > 1 && s * (size_t)c->Ho * c->Wo > (size_t)(1u << 30)) s /= 2;
    return (int)s;
}

/* Layout of ws (elements): col[2*K*SP] (x and Rx columns stacked), dyc[2*O*SP] (dy and Rdy
 * gathered channel-major, or the forward GEMM output), wcat[2*O*K] (V and W side by side). */
size_t absa_conv_workspace(const absa_conv_cfg *c)
{
    size_t K = (size_t)c->C * c->kh * c->kw;
    size_t SP = (size_t)absa_conv_chunk(c) * c->Ho * c->Wo;
    return 2 * K * SP + 2 * (size_t)c->O * SP + 2 * (size_t)c->O * K;
}

/* [lo, hi) range of output columns ow whose input column ow*s - p + j lies in [0, W). */
static inline void absa_conv_valid_range(int Wo, int W, int s, int p, int j, int *lo, int *hi)
{
    int a = p - j; /* need ow*s >= a */
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int b = W + p - j; /* need ow*s < b */
    int h = b <= 0 ? 0 : (b + s - 1) / s;
    if (h > Wo) h = Wo;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
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
