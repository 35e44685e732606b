/* exact_limbs.h — the exact sums of exact_sum.h formed where the addends are (a GPU), as int64
 * limbs: one code for the host and the device (nvcc compiles these inline functions as
 * __host__ __device__; C compilers as plain static inline), so the CPU tests check the very
 * arithmetic the CUDA kernels run (validation/unit/test_xlimb.c, the guarded backend).
 *
 * Word w (exact_sum.h: trunc(x * 2^88) modulo 2^128) is held as l0 + l1 * 2^43 + l2 * 2^86 with
 * int64 limbs. Adding an addend adds its three parts limb-wise: the magnitude's bits [0,43), [43,86)
 * and [86,128), negated for a negative addend (the recombination is linear modulo 2^128, so a
 * negative limb is as good as a canonical one). Each addend moves a limb by less than 2^43, so
 * 2^20 addends (exact_sum.h's ABSA_XLIMB_MAX_RANKS bound: micro-batches times ranks) cannot
 * overflow, and the limbs of several ranks are summed with a plain int64 sum (NCCL, MPI). The
 * recombined word, and the float or double it rounds to, are bitwise those of absa_xsum_add_f32 +
 * absa_xsum_get_f32: same truncation, same two's-complement word, same rounding (unfix).
 * Only 64-bit integer arithmetic: no __int128 on the device. */
#ifndef ABSA_EXACT_LIMBS_H
#define ABSA_EXACT_LIMBS_H
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define ABSA_HD static __host__ __device__ __forceinline__
#else
#define ABSA_HD static inline
#endif

#define ABSA_XL_BITS 43
#define ABSA_XL_MASK ((((uint64_t)1) << ABSA_XL_BITS) - 1)

/* bits [lo, lo + 43) of m * 2^sh (m < 2^24, -24 < sh < 128) */
ABSA_HD int64_t absa_xl_part(uint64_t m, int sh, int lo)
{
    const int d = sh - lo; /* m's bit 0 lands on bit d of the part */
    if (d >= ABSA_XL_BITS || d <= -24) return 0;
    return (int64_t)((d >= 0 ? m << d : m >> -d) & ABSA_XL_MASK);
}

/* l[0..2] += the limbs of float x (exact_sum.h's fix of a float: trunc(x * 2^88)). Returns 1
 * (and adds nothing) when x is not finite or |x| >= limit: the caller's "bad" flag. */
ABSA_HD int absa_xl_add_f32(int64_t *l, float x, double limit)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    const int e = (int)(b >> 23 & 0xff);
    if (e == 0) return 0; /* zero or subnormal: truncates to 0 */
    if (e == 0xff || !((x < 0 ? -(double)x : (double)x) < limit)) return 1;
    const uint64_t m = (b & 0x7fffffu) | 0x800000u;
    const int sh = e - 62; /* x * 2^88 = m * 2^sh */
    int64_t d0 = absa_xl_part(m, sh, 0), d1 = absa_xl_part(m, sh, ABSA_XL_BITS);
    int64_t d2 = absa_xl_part(m, sh, 2 * ABSA_XL_BITS);
    if (b >> 31) d0 = -d0, d1 = -d1, d2 = -d2;
    l[0] += d0, l[1] += d1, l[2] += d2;
    return 0;
}

/* The word l0 + l1 * 2^43 + l2 * 2^86 modulo 2^128 as (hi, lo) 64-bit halves. */
ABSA_HD void absa_xl_word(const int64_t *l, uint64_t *hi, uint64_t *lo)
{
    uint64_t h = 0, w = 0;
    for (int j = 0; j < 3; j++) {
        const int s = j * ABSA_XL_BITS;                    /* 0, 43, 86 */
        const uint64_t v = (uint64_t)l[j];                 /* modulo 2^64 */
        const uint64_t vh = l[j] < 0 ? ~(uint64_t)0 : 0;   /* the sign extension to 128 bits */
        uint64_t ah, al;                                   /* (vh, v) << s, modulo 2^128 */
        if (s == 0) ah = vh, al = v;
        else if (s < 64) ah = vh << s | v >> (64 - s), al = v << s;
        else ah = v << (s - 64), al = 0;
        w += al;
        h += ah + (w < al); /* carry out of the low half */
    }
    *hi = h, *lo = w;
}

/* exact_sum.c's unfix: the word * 2^-88 as a double, hi signed (two's complement) */
ABSA_HD double absa_xl_get_f64(const int64_t *l)
{
    uint64_t hi, lo;
    absa_xl_word(l, &hi, &lo);
    const double h = (double)(int64_t)hi * 0x1p64; /* exact: a power-of-two scale */
    return (h + (double)lo) * 0x1p-88;
}

ABSA_HD float absa_xl_get_f32(const int64_t *l) { return (float)absa_xl_get_f64(l); }
#endif
