/* exact_sum_avx2.c — the element-wise float loops of exact_sum.c on AVX2, four 128-bit words per
 * step, for CPUs without AVX-512F (exact_sum.c picks them when the CPU has AVX2, or when
 * ABSA_CPU_PATH=avx2; exact_sum_simd.h). The same arithmetic as exact_sum_avx512.c, lane by lane,
 * so the same bits as the scalar fix_f32 / unfix (unit.test_exact_sum.avx2 checks the words
 * against an independent __int128 reference), with what AVX2 lacks built from what it has:
 *  - no mask registers: compares give all-ones lanes, selects are and/andnot/or;
 *  - no unsigned 64-bit compare (the carry): both sides with the sign bit flipped, then signed;
 *  - no 64-bit arithmetic shift or 64-bit / unsigned 32-bit conversions to double: the 32-bit
 *    halves of each lane are picked by a permute and converted as signed 32-bit integers (an
 *    unsigned half with its top bit flipped, plus 2^31 afterwards, exactly). */
#include "exact_sum_simd.h"

#if ABSA_XSUM_HAVE_SIMD
#include <immintrin.h>

#define XS2 __attribute__((target("avx2")))

/* words w[0..3] -> their lower and upper halves */
XS2 static inline void ld4(const absa_xword *w, __m256i *lo, __m256i *hi)
{
    const __m256i a = _mm256_loadu_si256((const __m256i *)w), b = _mm256_loadu_si256((const __m256i *)(w + 2));
    /* a = lo0 hi0 lo1 hi1, b = lo2 hi2 lo3 hi3; unpack per 128-bit lane, then restore the order */
    *lo = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), 0xD8); /* lo0 lo2 lo1 lo3 -> 0 1 2 3 */
    *hi = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(a, b), 0xD8);
}

XS2 static inline void st4(absa_xword *w, __m256i lo, __m256i hi)
{
    const __m256i l = _mm256_permute4x64_epi64(lo, 0xD8), h = _mm256_permute4x64_epi64(hi, 0xD8);
    _mm256_storeu_si256((__m256i *)w, _mm256_unpacklo_epi64(l, h));
    _mm256_storeu_si256((__m256i *)(w + 2), _mm256_unpackhi_epi64(l, h));
}

/* lanes of b where m is all ones, of a elsewhere */
XS2 static inline __m256i sel4(__m256i m, __m256i b, __m256i a)
{
    return _mm256_or_si256(_mm256_and_si256(m, b), _mm256_andnot_si256(m, a));
}

/* trunc(x * 2^88) of x[0..3] as (lo, hi); *bad |= a lane out of range (fix_f32) */
XS2 static inline void fix4(const float *x, double limit, __m256i *lo, __m256i *hi, int *bad)
{
    const __m128 xf = _mm_loadu_ps(x);
    const __m256i b = _mm256_cvtepu32_epi64(_mm_castps_si128(xf));
    const __m256i e = _mm256_and_si256(_mm256_srli_epi64(b, 23), _mm256_set1_epi64x(0xff));
    const __m256i m = _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi64x(0x7fffff)), _mm256_set1_epi64x(0x800000));
    const __m256i sh = _mm256_sub_epi64(e, _mm256_set1_epi64x(62)), z = _mm256_setzero_si256();
    __m256i l = _mm256_or_si256(_mm256_sllv_epi64(m, sh), _mm256_srlv_epi64(m, _mm256_sub_epi64(z, sh)));
    __m256i h = _mm256_or_si256(_mm256_sllv_epi64(m, _mm256_sub_epi64(sh, _mm256_set1_epi64x(64))),
                                _mm256_srlv_epi64(m, _mm256_sub_epi64(_mm256_set1_epi64x(64), sh)));
    const __m256d ax = _mm256_andnot_pd(_mm256_set1_pd(-0.0), _mm256_cvtps_pd(xf));
    const __m256i in = _mm256_castpd_si256(_mm256_cmp_pd(ax, _mm256_set1_pd(limit), _CMP_LT_OQ)); /* NaN: 0 */
    *bad |= _mm256_movemask_pd(_mm256_castsi256_pd(in)) != 0xF;
    const __m256i keep = _mm256_andnot_si256(_mm256_cmpeq_epi64(e, z), in);
    l = _mm256_and_si256(l, keep);
    h = _mm256_and_si256(h, keep);
    /* negative: the two's complement, lo' = -lo, hi' = -hi - (lo != 0) = -hi - 1 - (lo == 0 ? -1 : 0) */
    const __m256i neg = _mm256_sub_epi64(z, _mm256_srli_epi64(b, 31)); /* all ones when negative */
    const __m256i hn = _mm256_sub_epi64(_mm256_sub_epi64(_mm256_sub_epi64(z, h), _mm256_set1_epi64x(1)),
                                        _mm256_cmpeq_epi64(l, z));
    *hi = sel4(neg, hn, h);
    *lo = sel4(neg, _mm256_sub_epi64(z, l), l);
}

/* (lo, hi) += (ql, qh) modulo 2^128 */
XS2 static inline void add4(__m256i *lo, __m256i *hi, __m256i ql, __m256i qh)
{
    const __m256i s = _mm256_add_epi64(*lo, ql), sign = _mm256_set1_epi64x((long long)0x8000000000000000ULL);
    /* carry: s < lo as unsigned, i.e. (lo ^ sign) > (s ^ sign) as signed: all ones (-1) */
    const __m256i carry = _mm256_cmpgt_epi64(_mm256_xor_si256(*lo, sign), _mm256_xor_si256(s, sign));
    *hi = _mm256_sub_epi64(_mm256_add_epi64(*hi, qh), carry);
    *lo = s;
}

/* the 32-bit halves of four 64-bit lanes as four doubles: the upper ones signed (signed_top) or
 * unsigned, the lower ones unsigned */
XS2 static inline __m256d half4(__m256i v, int upper, int is_signed)
{
    const __m256i idx = upper ? _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7) : _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m128i h = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v, idx));
    if (is_signed) return _mm256_cvtepi32_pd(h);
    h = _mm_xor_si128(h, _mm_set1_epi32((int)0x80000000u));
    return _mm256_add_pd(_mm256_cvtepi32_pd(h), _mm256_set1_pd(0x1p31));
}

/* unfix of four words, stored as floats */
XS2 static inline void get4(__m256i lo, __m256i hi, float *out)
{
    const __m256d p32 = _mm256_set1_pd(0x1p32);
    const __m256d dhi = _mm256_add_pd(_mm256_mul_pd(half4(hi, 1, 1), p32), half4(hi, 0, 0));
    const __m256d dlo = _mm256_add_pd(_mm256_mul_pd(half4(lo, 1, 0), p32), half4(lo, 0, 0));
    const __m256d d = _mm256_add_pd(_mm256_mul_pd(dhi, _mm256_set1_pd(0x1p64)), dlo);
    _mm_storeu_ps(out, _mm256_cvtpd_ps(_mm256_mul_pd(d, _mm256_set1_pd(0x1p-88))));
}

XS2 int absa_xsum2_fix(absa_xword *v, const float *x, size_t n, double limit, int add)
{
    int bad = 0;
    for (size_t i = 0; i < n; i += 4) {
        __m256i lo, hi, ql, qh;
        fix4(x + i, limit, &ql, &qh, &bad);
        if (add) {
            ld4(v + i, &lo, &hi);
            add4(&lo, &hi, ql, qh);
            ql = lo, qh = hi;
        }
        st4(v + i, ql, qh);
    }
    return bad;
}

XS2 int absa_xsum2_add_get(const absa_xword *v, const float *x, float *out, size_t n, double limit)
{
    int bad = 0;
    for (size_t i = 0; i < n; i += 4) {
        __m256i lo, hi, ql, qh;
        fix4(x + i, limit, &ql, &qh, &bad);
        ld4(v + i, &lo, &hi);
        add4(&lo, &hi, ql, qh);
        get4(lo, hi, out + i);
    }
    return bad;
}

XS2 void absa_xsum2_get(const absa_xword *v, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        __m256i lo, hi;
        ld4(v + i, &lo, &hi);
        get4(lo, hi, out + i);
    }
}
#endif
