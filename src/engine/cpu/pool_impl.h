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

/* The 2x2, stride-2, unpadded case (lenet) on whole output rows. float runs four outputs at a
 * time in 16-byte vectors (GNU vector extensions; the build's baseline x86-64-v2 has them): two
 * loads per input row, split into even and odd columns by one shuffle each, then the window's
 * four candidates in row-major order through the same compare-and-select as absa_pool_take,
 * lane by lane — the same maxima and the same argmax, bit for bit (unit.test_pool checks it
 * against a scalar reference with ties, -0, infinities and NaN). A row whose width is not a
 * multiple of four ends with its last four outputs computed again by one overlapping vector
 * (lenet's rows are 14 and 7 outputs wide: the scalar tail was a third of the forward's time).
 * double, rows of fewer than four outputs and the backward's add mode take the scalar loop. */
#ifndef ABSA_POOL22_ONCE
#define ABSA_POOL22_ONCE
typedef float absa_p4f __attribute__((vector_size(16)));
typedef int32_t absa_p4i __attribute__((vector_size(16)));
/* lanes of b where m is set, of a elsewhere (bitwise: NaN payloads and -0 survive) */
static inline absa_p4f absa_p4_sel(absa_p4i m, absa_p4f b, absa_p4f a)
{
    return (absa_p4f)(((absa_p4i)b & m) | ((absa_p4i)a & ~m));
}
static inline absa_p4f absa_p4_load(const float *p)
{
    absa_p4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Four outputs of a float row from ow on (absa_pool22_forward). */
static inline void absa_pool22_fwd4(const float *x0, const float *x1, int W, int r0, int ow, float *yr, int32_t *ar)
{
    const absa_p4f a0 = absa_p4_load(x0 + 2 * ow), b0 = absa_p4_load(x0 + 2 * ow + 4);
    const absa_p4f a1 = absa_p4_load(x1 + 2 * ow), b1 = absa_p4_load(x1 + 2 * ow + 4);
    const absa_p4f c[4] = {__builtin_shufflevector(a0, b0, 0, 2, 4, 6), __builtin_shufflevector(a0, b0, 1, 3, 5, 7),
                           __builtin_shufflevector(a1, b1, 0, 2, 4, 6), __builtin_shufflevector(a1, b1, 1, 3, 5, 7)};
    const absa_p4i i00 = (absa_p4i){0, 2, 4, 6} + (r0 + 2 * ow);
    const absa_p4i off[4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {W, W, W, W}, {W + 1, W + 1, W + 1, W + 1}};
    absa_p4f m = c[0];
    absa_p4i best = i00;
    for (int q = 1; q < 4; q++) {
        const absa_p4i take = (c[q] > m) | (c[q] != c[q]);
        m = absa_p4_sel(take, c[q], m);
        best = ((i00 + off[q]) & take) | (best & ~take);
    }
    memcpy(yr + ow, &m, sizeof m);
    if (ar) memcpy(ar + ow, &best, sizeof best);
}

/* Four windows of a float row from ow on (absa_pool22_backward). */
static inline void absa_pool22_bwd4(const int32_t *ar, const float *gr, int W, int r0, int ow, float *const d[2], int set)
{
    const absa_p4f zero = {0, 0, 0, 0};
    const absa_p4f g = absa_p4_load(gr + ow);
    absa_p4i a;
    memcpy(&a, ar + ow, sizeof a);
    const absa_p4i rel = a - ((absa_p4i){0, 2, 4, 6} + (r0 + 2 * ow));
    for (int r = 0; r < 2; r++) { /* window row r: even and odd columns */
        const absa_p4i me = rel == r * W, mo = rel == r * W + 1;
        absa_p4f e, o;
        if (set) {
            e = absa_p4_sel(me, zero + g, zero);
            o = absa_p4_sel(mo, zero + g, zero);
        } else {
            const absa_p4f lo = absa_p4_load(d[r] + 2 * ow), hi = absa_p4_load(d[r] + 2 * ow + 4);
            e = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
            o = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
            e = absa_p4_sel(me, e + g, e);
            o = absa_p4_sel(mo, o + g, o);
        }
        const absa_p4f lo = __builtin_shufflevector(e, o, 0, 4, 1, 5);
        const absa_p4f hi = __builtin_shufflevector(e, o, 2, 6, 3, 7);
        memcpy(d[r] + 2 * ow, &lo, sizeof lo);
        memcpy(d[r] + 2 * ow + 4, &hi, sizeof hi);
    }
}

/* The same two functions on AVX-512F for a whole plane: sixteen outputs per vector, the even and
 * odd columns of 32 inputs picked by one two-source permute each, the compares into mask
 * registers, and the row's last 1-15 outputs (lenet's rows are 14 and 7 wide) as masked loads and
 * stores instead of an overlapping vector; the add mode is vectorised too (no lane is written
 * twice). The same compare-and-select and the same 0 + g / dx + g as the vectors above, lane by
 * lane: the same bits (unit.test_pool on every CPU path). Taken when the CPU path
 * (conv_path.h, ABSA_CPU_PATH) is avx512; in cache (the fused conv + pool) the forward is about
 * twice the speed of four-wide vectors. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ABSA_POOL_HAVE_512 1
#define ABSA_POOL_512 __attribute__((target("avx512f")))
ABSA_POOL_512 static inline __m512i absa_pool512_idx(int a, int step)
{
    return _mm512_add_epi32(_mm512_set1_epi32(a), _mm512_mullo_epi32(_mm512_set1_epi32(step),
                            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)));
}
/* masks of the first n outputs of a chunk and of their 2n inputs in two 16-lane halves */
static inline void absa_pool512_masks(int n, __mmask16 *kn, __mmask16 *ka, __mmask16 *kb)
{
    const int m2 = 2 * n;
    *kn = (__mmask16)((1u << n) - 1u);
    *ka = (__mmask16)(m2 >= 16 ? 0xFFFFu : (1u << m2) - 1u);
    *kb = (__mmask16)(m2 <= 16 ? 0u : (1u << (m2 - 16)) - 1u);
}
ABSA_POOL_512 static void absa_pool22_fwd_plane512(const float *xp, int W, int Ho, int Wo, float *yp, int32_t *ap)
{
    const __m512i ie = absa_pool512_idx(0, 2), io = absa_pool512_idx(1, 2);
    for (int oh = 0; oh < Ho; oh++) {
        const int r0 = 2 * oh * W;
        const float *x0 = xp + r0, *x1 = x0 + W;
        for (int ow = 0; ow < Wo; ow += 16) {
            __mmask16 kn, ka, kb;
            absa_pool512_masks(Wo - ow < 16 ? Wo - ow : 16, &kn, &ka, &kb);
            const __m512 a0 = _mm512_maskz_loadu_ps(ka, x0 + 2 * ow), b0 = _mm512_maskz_loadu_ps(kb, x0 + 2 * ow + 16);
            const __m512 a1 = _mm512_maskz_loadu_ps(ka, x1 + 2 * ow), b1 = _mm512_maskz_loadu_ps(kb, x1 + 2 * ow + 16);
            const __m512 cand[3] = {_mm512_permutex2var_ps(a0, io, b0), _mm512_permutex2var_ps(a1, ie, b1),
                                    _mm512_permutex2var_ps(a1, io, b1)};
            const int off[3] = {1, W, W + 1};
            const __m512i i00 = _mm512_add_epi32(ie, _mm512_set1_epi32(r0 + 2 * ow));
            __m512 m = _mm512_permutex2var_ps(a0, ie, b0);
            __m512i best = i00;
            for (int q = 0; q < 3; q++) { /* greater, or NaN: take it */
                const __mmask16 take = _mm512_cmp_ps_mask(cand[q], m, _CMP_GT_OQ) |
                                       _mm512_cmp_ps_mask(cand[q], cand[q], _CMP_UNORD_Q);
                m = _mm512_mask_mov_ps(m, take, cand[q]);
                best = _mm512_mask_add_epi32(best, take, i00, _mm512_set1_epi32(off[q]));
            }
            _mm512_mask_storeu_ps(yp + (size_t)oh * Wo + ow, kn, m);
            if (ap) _mm512_mask_storeu_epi32(ap + (size_t)oh * Wo + ow, kn, best);
        }
    }
}
ABSA_POOL_512 static void absa_pool22_bwd_plane512(const int32_t *ap, const float *gp, int W, int Ho, int Wo, float *dp,
                                                   int set)
{
    const __m512i ie = absa_pool512_idx(0, 2), io = absa_pool512_idx(1, 2);
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 zero = _mm512_setzero_ps();
    for (int oh = 0; oh < Ho; oh++) {
        const int r0 = 2 * oh * W;
        for (int ow = 0; ow < Wo; ow += 16) {
            __mmask16 kn, ka, kb;
            absa_pool512_masks(Wo - ow < 16 ? Wo - ow : 16, &kn, &ka, &kb);
            const __m512 g = _mm512_maskz_loadu_ps(kn, gp + (size_t)oh * Wo + ow);
            const __m512i a = _mm512_maskz_loadu_epi32(kn, ap + (size_t)oh * Wo + ow);
            const __m512i rel = _mm512_sub_epi32(a, _mm512_add_epi32(ie, _mm512_set1_epi32(r0 + 2 * ow)));
            for (int r = 0; r < 2; r++) { /* window row r: even and odd columns */
                float *d = dp + r0 + (size_t)r * W + 2 * ow;
                const __mmask16 me = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(r * W));
                const __mmask16 mo = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(r * W + 1));
                __m512 e, o;
                if (set) {
                    const __m512 g0 = _mm512_add_ps(zero, g);
                    e = _mm512_maskz_mov_ps(me, g0);
                    o = _mm512_maskz_mov_ps(mo, g0);
                } else {
                    const __m512 lo = _mm512_maskz_loadu_ps(ka, d), hi = _mm512_maskz_loadu_ps(kb, d + 16);
                    e = _mm512_permutex2var_ps(lo, ie, hi);
                    o = _mm512_permutex2var_ps(lo, io, hi);
                    e = _mm512_mask_add_ps(e, me, e, g);
                    o = _mm512_mask_add_ps(o, mo, o, g);
                }
                _mm512_mask_storeu_ps(d, ka, _mm512_permutex2var_ps(e, il, o));
                _mm512_mask_storeu_ps(d + 16, kb, _mm512_permutex2var_ps(e, ih, o));
            }
        }
    }
}
#endif

/* Whether the 2x2 planes take the AVX-512 functions: the CPU path of conv_path.h. */
static int absa_pool_use512(void)
{
#ifdef ABSA_POOL_HAVE_512
    return absa_conv_path_active() == ABSA_CONV_PATH_AVX512;
#else
    return 0;
#endif
}
#endif

static void ABSA_FN(absa_pool22_forward)(const ABSA_T *xp, int W, int Ho, int Wo, ABSA_T *yp, int32_t *ap,
                                         int w512)
{
#ifdef ABSA_POOL_HAVE_512
    if (sizeof(ABSA_T) == sizeof(float) && w512) {
        absa_pool22_fwd_plane512((const float *)xp, W, Ho, Wo, (float *)yp, ap);
        return;
    }
#else
    (void)w512;
#endif
    for (int oh = 0; oh < Ho; oh++) {
        ABSA_T *yr = yp + (size_t)oh * Wo;
        int32_t *ar = ap ? ap + (size_t)oh * Wo : NULL;
        const int r0 = 2 * oh * W;
        int ow = 0;
        if (sizeof(ABSA_T) == sizeof(float) && Wo >= 4) {
            const float *x0 = (const float *)xp + r0, *x1 = x0 + W;
            for (; ow + 4 <= Wo; ow += 4) absa_pool22_fwd4(x0, x1, W, r0, ow, (float *)yr, ar);
            /* the row's last 1-3 outputs: the last four again (the overlap recomputes the same
             * values, each lane being its own window), no scalar tail */
            if (ow < Wo) absa_pool22_fwd4(x0, x1, W, r0, Wo - 4, (float *)yr, ar);
            continue;
        }
        for (; ow < Wo; ow++) { /* candidates in row-major window order */
            const int c0 = r0 + 2 * ow;
            ABSA_T m = xp[c0];
            int best = c0;
            ABSA_FN(absa_pool_take)(xp[c0 + 1], c0 + 1, &m, &best);
            ABSA_FN(absa_pool_take)(xp[c0 + W], c0 + W, &m, &best);
            ABSA_FN(absa_pool_take)(xp[c0 + W + 1], c0 + W + 1, &m, &best);
            yr[ow] = m;
            if (ar) ar[ow] = best;
        }
    }
}

void ABSA_FN(absa_maxpool_forward)(const absa_pool_cfg *c, const ABSA_T *x, ABSA_T *y,
                                   int32_t *argmax)
{
    const ptrdiff_t planes = (ptrdiff_t)c->N * c->C;
    const int H = c->H, W = c->W, Ho = c->Ho, Wo = c->Wo, k = c->k, s = c->s, p = c->p;
    const size_t in_plane = (size_t)H * W, out_plane = (size_t)Ho * Wo;
    const size_t work = (size_t)planes * out_plane * k * k;
    const int w512 = p == 0 && k == 2 && s == 2 && absa_pool_use512();
#pragma omp parallel for schedule(static) if (work > ABSA_POOL_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        const ABSA_T *xp = x + (size_t)nc * in_plane;
        ABSA_T *yp = y + (size_t)nc * out_plane;
        int32_t *ap = argmax ? argmax + (size_t)nc * out_plane : NULL;
        if (p == 0 && k == 2 && s == 2) { /* lenet's 2x2 windows, stride 2: vectorised rows */
            ABSA_FN(absa_pool22_forward)(xp, W, Ho, Wo, yp, ap, w512);
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

/* The backward of absa_pool22_forward for one plane: every window's four gradients written (set)
 * or its argmax element updated (add), four windows at a time for float. The values are those
 * of the scatter: 0 + g at the argmax and +0 around it (set), dx + g at the argmax and the other
 * elements untouched (add), so the bits equal zero-fill then accumulate. Rows and columns that
 * no window covers (odd H or W) are cleared first in set mode. */
static void ABSA_FN(absa_pool22_backward)(const int32_t *ap, const ABSA_T *gp, int H, int W, int Ho,
                                          int Wo, ABSA_T *dp, int set, int w512)
{
    if (set && (H != 2 * Ho || W != 2 * Wo)) memset(dp, 0, (size_t)H * W * sizeof(ABSA_T));
#ifdef ABSA_POOL_HAVE_512
    if (sizeof(ABSA_T) == sizeof(float) && w512) {
        absa_pool22_bwd_plane512(ap, (const float *)gp, W, Ho, Wo, (float *)dp, set);
        return;
    }
#else
    (void)w512;
#endif
    for (int oh = 0; oh < Ho; oh++) {
        const int r0 = 2 * oh * W;
        const int32_t *ar = ap + (size_t)oh * Wo;
        const ABSA_T *gr = gp + (size_t)oh * Wo;
        int ow = 0;
        if (sizeof(ABSA_T) == sizeof(float)) {
            float *const d[2] = {(float *)dp + r0, (float *)dp + r0 + W};
            for (; ow + 4 <= Wo; ow += 4) absa_pool22_bwd4(ar, (const float *)gr, W, r0, ow, d, set);
            /* set mode: the row's last 1-3 windows as the last four again (rewriting the same
             * values: set is idempotent); add mode would add twice, so it keeps the scalar tail */
            if (set && ow < Wo && Wo >= 4) {
                absa_pool22_bwd4(ar, (const float *)gr, W, r0, Wo - 4, d, set);
                continue;
            }
        }
        for (; ow < Wo; ow++) {
            const int c0 = r0 + 2 * ow;
            if (set) dp[c0] = dp[c0 + 1] = dp[c0 + W] = dp[c0 + W + 1] = 0;
            dp[ar[ow]] += gr[ow];
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
    const int w512 = c->p == 0 && c->k == 2 && c->s == 2 && absa_pool_use512();
#pragma omp parallel for schedule(static) if ((size_t)planes * out_plane > ABSA_POOL_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        const int32_t *ap = argmax + (size_t)nc * out_plane;
        const ABSA_T *gp = dy + (size_t)nc * out_plane;
        ABSA_T *dp = dx + (size_t)nc * in_plane;
        if (c->p == 0 && c->k == 2 && c->s == 2) {
            ABSA_FN(absa_pool22_backward)(ap, gp, c->H, c->W, c->Ho, c->Wo, dp, set, w512);
            continue;
        }
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
