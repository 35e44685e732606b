/* pool_impl.h — max-pool kernels, included by pool.c once per precision with ABSA_T / ABSA_SFX
 * defined (no include guard on purpose).
 *
 * Semantics are PyTorch's CPU MaxPool2d (NCHW, floor mode, dilation 1): the window of output
 * (oh, ow) is rows oh*s-p .. oh*s-p+k-1 clipped to the image (padding counts as -inf, so it
 * never wins); the scan is row-major and a value replaces the running max when it is greater
 * or is NaN. Hence ties keep the FIRST maximum, a NaN propagates (the last NaN in the window is
 * chosen), and a window of only -inf reports its first in-image element. argmax holds the flat
 * index oh*W+ow-style within the (sample, channel) H*W plane, as torch's return_indices. */

/* Planes are independent; parallelise over them once there is enough work. */
#ifndef ABSA_POOL_OMP_MIN
#define ABSA_POOL_OMP_MIN 32768
#endif

/* The max-pool compare: candidate v (flat index idx) replaces the running (m, best) when larger
 * or NaN (NaN wins, as in PyTorch). Bitwise ops and selects, no branches: the outcome depends on
 * the data, and the 2x2 rows vectorise. */
static inline void ABSA_FN(absa_pool_take)(ABSA_T v, int idx, ABSA_T *m, int *best)
{
    const int take = (int)(v > *m) | (int)(v != v);
    *m = take ? v : *m;
    *best = take ? idx : *best;
}

void ABSA_FN(absa_maxpool_forward)(const absa_pool_cfg *c, const ABSA_T *x, ABSA_T *y,
                                   int32_t *argmax)
{
    const ptrdiff_t planes = (ptrdiff_t)c->N * c->C;
    const int H = c->H, W = c->W, Ho = c->Ho, Wo = c->Wo, k = c->k, s = c->s, p = c->p;
    const size_t in_plane = (size_t)H * W, out_plane = (size_t)Ho * Wo;
    const size_t work = (size_t)planes * out_plane * k * k;
#pragma omp parallel for schedule(static) if (work > ABSA_POOL_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        const ABSA_T *xp = x + (size_t)nc * in_plane;
        ABSA_T *yp = y + (size_t)nc * out_plane;
        int32_t *ap = argmax ? argmax + (size_t)nc * out_plane : NULL;
        if (p == 0 && k == 2) { /* 2x2 windows inside the plane (lenet): vectorised rows */
            for (int oh = 0; oh < Ho; oh++) {
                ABSA_T *yr = yp + (size_t)oh * Wo;
                int32_t *ar = ap ? ap + (size_t)oh * Wo : NULL;
#pragma omp simd
                for (int ow = 0; ow < Wo; ow++) {
                    /* candidates in row-major window order; the first one as -inf then a
                     * compare would */
                    const int c0 = oh * s * W + ow * s;
                    ABSA_T m = xp[c0];
                    int best = c0;
                    ABSA_FN(absa_pool_take)(xp[c0 + 1], c0 + 1, &m, &best);
                    ABSA_FN(absa_pool_take)(xp[c0 + W], c0 + W, &m, &best);
                    ABSA_FN(absa_pool_take)(xp[c0 + W + 1], c0 + W + 1, &m, &best);
                    yr[ow] = m;
                    if (ar) ar[ow] = best;
                }
            }
            continue;
        }
        for (int oh = 0; oh < Ho; oh++) {
            int h0 = oh * s - p, h1 = h0 + k;
            if (h1 > H) h1 = H;
            if (h0 < 0) h0 = 0;
            for (int ow = 0; ow < Wo; ow++) {
                int w0 = ow * s - p, w1 = w0 + k;
                if (w1 > W) w1 = W;
                if (w0 < 0) w0 = 0;
                int best = h0 * W + w0;
                ABSA_T m = -(ABSA_T)INFINITY;
                for (int ih = h0; ih < h1; ih++) {
                    for (int iw = w0; iw < w1; iw++) {
                        int idx = ih * W + iw;
                        ABSA_FN(absa_pool_take)(xp[idx], idx, &m, &best);
                    }
                }
                yp[(size_t)oh * Wo + ow] = m;
                if (ap) ap[(size_t)oh * Wo + ow] = best;
            }
        }
    }
}

/* dx += (or, with set, dx =) the scatter of dy to the argmax positions. The overwrite mode clears
 * each plane just before its scatter (while it is in cache) instead of the executor zeroing the
 * whole buffer in a pass of its own; the adds are the same, so the bits are those of zero-fill
 * then accumulate. */
void ABSA_FN(absa_maxpool_backward_ex)(const absa_pool_cfg *c, const int32_t *argmax, const ABSA_T *dy,
                                       ABSA_T *dx, int set)
{
    if (!dx) return;
    const ptrdiff_t planes = (ptrdiff_t)c->N * c->C;
    const size_t in_plane = (size_t)c->H * c->W, out_plane = (size_t)c->Ho * c->Wo;
    /* windows overlap when s < k, so the scatter is serial within a plane */
#pragma omp parallel for schedule(static) if ((size_t)planes * out_plane > ABSA_POOL_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        const int32_t *ap = argmax + (size_t)nc * out_plane;
        const ABSA_T *gp = dy + (size_t)nc * out_plane;
        ABSA_T *dp = dx + (size_t)nc * in_plane;
        if (set) memset(dp, 0, in_plane * sizeof(ABSA_T));
        for (size_t o = 0; o < out_plane; o++) dp[ap[o]] += gp[o];
    }
}

void ABSA_FN(absa_maxpool_backward)(const absa_pool_cfg *c, const int32_t *argmax, const ABSA_T *dy,
                                    ABSA_T *dx)
{
    ABSA_FN(absa_maxpool_backward_ex)(c, argmax, dy, dx, 0);
}

void ABSA_FN(absa_maxpool_rforward)(const absa_pool_cfg *c, const int32_t *argmax, const ABSA_T *Rx,
                                    ABSA_T *Ry)
{
    const ptrdiff_t planes = (ptrdiff_t)c->N * c->C;
    const size_t in_plane = (size_t)c->H * c->W, out_plane = (size_t)c->Ho * c->Wo;
#pragma omp parallel for schedule(static) if ((size_t)planes * out_plane > ABSA_POOL_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        ABSA_T *rp = Ry + (size_t)nc * out_plane;
        if (!Rx) {
            for (size_t o = 0; o < out_plane; o++) rp[o] = 0;
            continue;
        }
        const int32_t *ap = argmax + (size_t)nc * out_plane;
        const ABSA_T *xp = Rx + (size_t)nc * in_plane;
        for (size_t o = 0; o < out_plane; o++) rp[o] = xp[ap[o]];
    }
}
