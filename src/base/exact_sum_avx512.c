/* exact_sum_avx512.c — the element-wise loops of exact_sum.c (set, add, add+get, get of float
 * addends) on AVX-512F, eight 128-bit words per step; exact_sum.c calls them for whole groups of
 * eight elements when the CPU has AVX-512F and ABSA_CPU_PATH does not ask for a narrower path
 * (exact_sum_simd.h). Every lane computes what the scalar fix_f32 / unfix of exact_sum.c compute,
 * so the words and floats are the same bits (unit.test_exact_sum checks the words against an
 * independent __int128 reference and runs on every path):
 *  - a word is two 64-bit halves (lo, hi), eight words two vectors after a deinterleave;
 *  - fix: x = M * 2^(e - 150), so x * 2^88 = M << (e - 62) as a 128-bit shift, built from
 *    variable 64-bit shifts (a count of 64 or more, or a negative one read as unsigned, gives 0);
 *    zeros, subnormals and out-of-range addends give 0 (the latter set bad); a negative addend is
 *    the two's complement (lo' = -lo, hi' = -hi - (lo != 0));
 *  - add: lo + lo', with the carry (an unsigned compare) into hi;
 *  - get: (double)hi and (double)lo each from two exact 32-bit halves (one rounding each, as the
 *    scalar conversions), then ((double)hi * 2^64 + (double)lo) * 2^-88 rounded to float: the
 *    products by powers of two are exact, so a fused multiply-add rounds as the scalar code. */
#include "exact_sum_simd.h"

#if ABSA_XSUM_HAVE_SIMD
#include <immintrin.h>

#define XS512 __attribute__((target("avx512f")))

/* words w[0..7] -> their lower and upper halves */
XS512 static inline void ld8(const absa_xword *w, __m512i *lo, __m512i *hi)
{
    const __m512i a = _mm512_loadu_si512((const void *)w), b = _mm512_loadu_si512((const void *)(w + 4));
    *lo = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b);
    *hi = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), b);
}

XS512 static inline void st8(absa_xword *w, __m512i lo, __m512i hi)
{
    _mm512_storeu_si512((void *)w, _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), hi));
    _mm512_storeu_si512((void *)(w + 4),
                        _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), hi));
}

/* trunc(x * 2^88) of x[0..7] as (lo, hi); *bad |= a lane out of range (fix_f32) */
XS512 static inline void fix8(const float *x, double limit, __m512i *lo, __m512i *hi, __mmask8 *bad)
{
    const __m256 xf = _mm256_loadu_ps(x);
    const __m512i b = _mm512_cvtepu32_epi64(_mm256_castps_si256(xf));
    const __m512i e = _mm512_and_si512(_mm512_srli_epi64(b, 23), _mm512_set1_epi64(0xff));
    const __m512i m = _mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi64(0x7fffff)), _mm512_set1_epi64(0x800000));
    const __m512i sh = _mm512_sub_epi64(e, _mm512_set1_epi64(62));
    const __m512i nsh = _mm512_sub_epi64(_mm512_setzero_si512(), sh);
    __m512i l = _mm512_or_si512(_mm512_sllv_epi64(m, sh), _mm512_srlv_epi64(m, nsh));
    __m512i h = _mm512_or_si512(_mm512_sllv_epi64(m, _mm512_sub_epi64(sh, _mm512_set1_epi64(64))),
                                _mm512_srlv_epi64(m, _mm512_sub_epi64(_mm512_set1_epi64(64), sh)));
    const __m512d ax = _mm512_abs_pd(_mm512_cvtps_pd(xf));
    const __mmask8 in = _mm512_cmp_pd_mask(ax, _mm512_set1_pd(limit), _CMP_LT_OQ); /* NaN: not in */
    *bad |= (__mmask8)~in;
    const __mmask8 keep = in & _mm512_cmpneq_epi64_mask(e, _mm512_setzero_si512());
    l = _mm512_maskz_mov_epi64(keep, l);
    h = _mm512_maskz_mov_epi64(keep, h);
    const __mmask8 neg = _mm512_test_epi64_mask(b, _mm512_set1_epi64(0x80000000));
    const __m512i z = _mm512_setzero_si512();
    const __mmask8 borrow = neg & _mm512_cmpneq_epi64_mask(l, z);
    *hi = _mm512_mask_sub_epi64(h, neg, z, h);
    *hi = _mm512_mask_sub_epi64(*hi, borrow, *hi, _mm512_set1_epi64(1));
    *lo = _mm512_mask_sub_epi64(l, neg, z, l);
}

/* (lo, hi) += (ql, qh) modulo 2^128 */
XS512 static inline void add8(__m512i *lo, __m512i *hi, __m512i ql, __m512i qh)
{
    const __m512i s = _mm512_add_epi64(*lo, ql);
    const __mmask8 carry = _mm512_cmplt_epu64_mask(s, *lo);
    *hi = _mm512_add_epi64(*hi, qh);
    *hi = _mm512_mask_add_epi64(*hi, carry, *hi, _mm512_set1_epi64(1));
    *lo = s;
}

/* (double) of the eight 64-bit lanes, signed (hi) or unsigned (lo), from exact 32-bit halves */
XS512 static inline __m512d dbl8(__m512i v, int is_signed)
{
    const __m512i top = is_signed ? _mm512_srai_epi64(v, 32) : _mm512_srli_epi64(v, 32);
    const __m512d t = is_signed ? _mm512_cvtepi32_pd(_mm512_cvtepi64_epi32(top))
                                : _mm512_cvtepu32_pd(_mm512_cvtepi64_epi32(top));
    const __m512d u = _mm512_cvtepu32_pd(_mm512_cvtepi64_epi32(v));
    return _mm512_add_pd(_mm512_mul_pd(t, _mm512_set1_pd(0x1p32)), u);
}

/* unfix of eight words, stored as floats */
XS512 static inline void get8(__m512i lo, __m512i hi, float *out)
{
    const __m512d d = _mm512_add_pd(_mm512_mul_pd(dbl8(hi, 1), _mm512_set1_pd(0x1p64)), dbl8(lo, 0));
    _mm256_storeu_ps(out, _mm512_cvtpd_ps(_mm512_mul_pd(d, _mm512_set1_pd(0x1p-88))));
}

XS512 int absa_xsum512_fix(absa_xword *v, const float *x, size_t n, double limit, int add)
{
    __mmask8 bad = 0;
    for (size_t i = 0; i < n; i += 8) {
        __m512i lo, hi, ql, qh;
        fix8(x + i, limit, &ql, &qh, &bad);
        if (add) {
            ld8(v + i, &lo, &hi);
            add8(&lo, &hi, ql, qh);
            ql = lo, qh = hi;
        }
        st8(v + i, ql, qh);
    }
    return bad != 0;
}

XS512 int absa_xsum512_add_get(const absa_xword *v, const float *x, float *out, size_t n, double limit)
{
    __mmask8 bad = 0;
    for (size_t i = 0; i < n; i += 8) {
        __m512i lo, hi, ql, qh;
        fix8(x + i, limit, &ql, &qh, &bad);
        ld8(v + i, &lo, &hi);
        add8(&lo, &hi, ql, qh);
        get8(lo, hi, out + i);
    }
    return bad != 0;
}

XS512 void absa_xsum512_get(const absa_xword *v, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        __m512i lo, hi;
        ld8(v + i, &lo, &hi);
        get8(lo, hi, out + i);
    }
}
#endif
