/* exact_sum.c — order-independent sums (exact_sum.h): 128-bit fixed point with 88 fraction bits.
 * An addend x becomes trunc(x * 2^88): exact for float |x| >= 2^-65 (double |x| >= 2^-36);
 * smaller addends lose low bits, deterministically, far below what a float gradient resolves. Sums of up to max_addends addends of magnitude < 2^38 / max_addends stay inside
 * +-2^126 (2^38 in value), so the wrapping unsigned arithmetic gives the exact signed sum. */
#include "exact_sum.h"
#include "exact_sum_simd.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FRAC_BITS 88

/* The element-wise loops run on the OpenMP threads once a call has this many elements (each
 * element is computed alone, so the bits do not depend on the split; the bad flags are OR-ed). */
#define XSUM_OMP_MIN 65536
#define XSUM_OMP_BAD _Pragma("omp parallel for schedule(static) reduction(| : bad) if (n >= XSUM_OMP_MIN)")
#define XSUM_OMP _Pragma("omp parallel for schedule(static) if (n >= XSUM_OMP_MIN)")
/* the same for the scalar loop from element `start` on (after the vector loops: at most 7 left) */
#define XSUM_OMP_BAD_FROM _Pragma("omp parallel for schedule(static) reduction(| : bad) if (n - start >= XSUM_OMP_MIN)")
#define XSUM_OMP_FROM _Pragma("omp parallel for schedule(static) if (n - start >= XSUM_OMP_MIN)")

/* ---- the AVX-512F and AVX2 loops (exact_sum_simd.h) ---- */

static int xsum_wide_on;                              /* written once, under xsum_wide_once */
static pthread_once_t xsum_wide_once = PTHREAD_ONCE_INIT;

static void xsum_wide_choose(void)
{
#if ABSA_XSUM_HAVE_SIMD
    const char *e = getenv("ABSA_CPU_PATH");
    const int cap = e && !strcmp(e, "baseline") ? ABSA_XSUM_SCALAR
                    : e && !strcmp(e, "avx2")   ? ABSA_XSUM_AVX2
                                                : ABSA_XSUM_AVX512;
    __builtin_cpu_init();
    const int have = __builtin_cpu_supports("avx512f") ? ABSA_XSUM_AVX512
                     : __builtin_cpu_supports("avx2")  ? ABSA_XSUM_AVX2
                                                       : ABSA_XSUM_SCALAR;
    xsum_wide_on = have < cap ? have : cap;
#endif
}

int absa_xsum_wide(void)
{
    pthread_once(&xsum_wide_once, xsum_wide_choose);
    return xsum_wide_on;
}

/* Elements per task of the vector loops (a multiple of 8). */
#define XSUM_CHUNK 4096

/* The first n & ~7 elements of a float loop on AVX-512F or AVX2, in chunks over the OpenMP threads
 * (from XSUM_OMP_MIN elements); sets start, the element the scalar loop goes on from (left at 0
 * on the scalar path). OP512 / OP2 (the expressions of each width, on [lo, lo + len)) return the
 * bad flag. */
#if ABSA_XSUM_HAVE_SIMD
#define XSUM_WIDE(n, bad, OP512, OP2)                                                                \
    do {                                                                                             \
        const int w_ = absa_xsum_wide();                                                             \
        if (w_ == ABSA_XSUM_SCALAR) break;                                                           \
        const size_t n8_ = (n) & ~(size_t)7, nc_ = (n8_ + XSUM_CHUNK - 1) / XSUM_CHUNK;              \
        _Pragma("omp parallel for schedule(static) reduction(| : bad) if (n >= XSUM_OMP_MIN)")       \
        for (size_t c_ = 0; c_ < nc_; c_++) {                                                        \
            const size_t lo = c_ * XSUM_CHUNK, len = n8_ - lo < XSUM_CHUNK ? n8_ - lo : XSUM_CHUNK;  \
            bad |= w_ == ABSA_XSUM_AVX512 ? (OP512) : (OP2);                                         \
        }                                                                                            \
        start = n8_;                                                                                 \
    } while (0)
#else
#define XSUM_WIDE(n, bad, OP512, OP2) (void)0
#endif

int absa_xsum_init(absa_xsum *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->v = calloc(n ? n : 1, sizeof *s->v);
    if (!s->v) return -1;
    s->n = n;
    s->limit = ldexp(1.0, 38);
    return 0;
}

void absa_xsum_free(absa_xsum *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

void absa_xsum_zero(absa_xsum *s, long max_addends) { absa_xsum_zero_from(s, max_addends, 0); }

void absa_xsum_zero_from(absa_xsum *s, long max_addends, size_t from)
{
    if (from < s->n) memset(s->v + from, 0, (s->n - from) * sizeof *s->v);
    s->limit = ldexp(1.0, 38) / (double)(max_addends > 1 ? max_addends : 1);
    s->bad = 0;
}

/* trunc(x * 2^88) as a wrapping 128-bit word; out-of-range or non-finite x sets s->bad. */
static inline absa_xword fix(absa_xsum *s, double x)
{
    if (!(fabs(x) < s->limit)) {
        s->bad = 1;
        return 0;
    }
    __extension__ __int128 q = (__int128)ldexp(x, FRAC_BITS); /* |x * 2^88| < 2^126: fits */
    return (absa_xword)q;
}

/* The float case from the bits (as fix(), 20x faster than ldexp and the libgcc conversion):
 * x = (-1)^sign * M * 2^(e - 150) with M the 24-bit significand, so x * 2^88 = M * 2^(e - 62).
 * Zero and subnormals give 0 (|x| * 2^88 < 2^-38 truncates to 0); out-of-range or non-finite x
 * sets *bad and gives 0. Shared by absa_xsum_add_f32 and absa_xsum_round_f32, so that both put
 * an addend on the grid the same way. */
static inline absa_xword fix_f32(float x, double limit, int *bad)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    const int e = (int)(b >> 23 & 0xff);
    const int out = !(fabs((double)x) < limit); /* infinite, NaN or too large (a subnormal is not) */
    *bad |= out;
    /* without branches (random signs and zeros mispredicted them: 2.5x slower, measured) */
    const absa_xword m = (absa_xword)((b & 0x7fffffu) | 0x800000u);
    const int sh = e - 62;
    const int ls = sh < 0 ? 0 : sh > 127 ? 127 : sh, rs = sh < 0 ? -sh : 0; /* rs <= 62: m >> rs = 0 from 24 on */
    absa_xword q = (m << ls) >> rs;
    q &= (absa_xword)0 - (absa_xword)(e != 0 && !out); /* zero, subnormal or out of range: 0 */
    const absa_xword sg = (absa_xword)0 - (absa_xword)(b >> 31); /* all ones when negative */
    return (q ^ sg) - sg;
}

/* v[i] = fix(x[i]) (add: v[i] += fix(x[i])) for n float addends from word off on: absa_xsum_set_f32
 * and absa_xsum_add_f32. */
static void xsum_fix_f32(absa_xsum *s, size_t off, const float *x, size_t n, int add)
{
    absa_xword *v = s->v + off;
    const double limit = s->limit;
    int bad = 0;
    size_t start = 0;
    XSUM_WIDE(n, bad, absa_xsum512_fix(v + lo, x + lo, len, limit, add),
              absa_xsum2_fix(v + lo, x + lo, len, limit, add));
    XSUM_OMP_BAD_FROM
    for (size_t i = start; i < n; i++) {
        const absa_xword q = fix_f32(x[i], limit, &bad);
        v[i] = add ? v[i] + q : q;
    }
    if (bad) s->bad = 1;
}

void absa_xsum_add_f32(absa_xsum *s, size_t off, const float *x, size_t n) { xsum_fix_f32(s, off, x, n, 1); }

void absa_xsum_add_f64(absa_xsum *s, size_t off, const double *x, size_t n)
{
    absa_xword *v = s->v + off;
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0) v[i] += fix(s, x[i]);
}

/* The sum w * 2^-88 as a double: hi * 2^64 + lo with hi the signed upper half (two's complement)
 * and lo the unsigned lower one; rounded twice, deterministically (the caller rounds to float). */
static inline double unfix(absa_xword w)
{
    const int64_t hi = (int64_t)(uint64_t)(w >> 64); /* GCC/Clang: modulo 2^64, two's complement */
    const uint64_t lo = (uint64_t)w;
    /* (double)lo, correctly rounded, without the branch on its top bit that an unsigned 64-bit
     * conversion compiles to before AVX-512 (random there: mispredicted, 2x slower, measured):
     * both 32-bit halves convert exactly, and the one rounding of their sum is lo's */
    const double dlo = (double)(uint32_t)(lo >> 32) * 0x1p32 + (double)(uint32_t)lo;
    return ((double)hi * 0x1p64 + dlo) * 0x1p-88;
}

void absa_xsum_get_f32(const absa_xsum *s, size_t off, float *out, size_t n)
{
    size_t start = 0;
    int bad = 0; /* unused: get has no bad addends */
    XSUM_WIDE(n, bad, (absa_xsum512_get(s->v + off + lo, out + lo, len), 0),
              (absa_xsum2_get(s->v + off + lo, out + lo, len), 0));
    (void)bad;
    XSUM_OMP_FROM
    for (size_t i = start; i < n; i++) out[i] = (float)unfix(s->v[off + i]);
}

/* Block of absa_xsum_round_f32 (elements per check of the fast path). */
#define ROUND_BLOCK 256

/* For |x| >= 2^-54 (biased exponent >= 73) below the limit, unfix(fix_f32(x)) is x itself: the
 * word holds x's 24-bit significand exactly, and get's two halves are exact (a negative word's
 * lower half has at most 64 - sh <= 53 bits when the shift sh = e - 62 is >= 11). Zeros and
 * subnormals give +0. Every other element (tiny normals, truncated onto the grid or losing bits in
 * get's double rounding; out-of-range, infinite or NaN ones, which set bad) takes the scalar path,
 * so each block is first swept with vector compares (zeros and subnormals replaced by +0 there),
 * and only a block holding such an element is redone element by element, with the same result
 * as the scalar path alone (the scalar path maps the +0 written for a zero or subnormal to +0). */
void absa_xsum_round_f32(absa_xsum *s, float *x, size_t n)
{
    const double limit = s->limit;
    int bad = 0;
    XSUM_OMP_BAD
    for (size_t b0 = 0; b0 < n; b0 += ROUND_BLOCK) {
        const size_t bn = n - b0 < ROUND_BLOCK ? n - b0 : ROUND_BLOCK;
        float *xb = x + b0;
        int slow = 0;
#pragma omp simd reduction(| : slow)
        for (size_t i = 0; i < bn; i++) {
            uint32_t u;
            memcpy(&u, &xb[i], sizeof u);
            const uint32_t e = u >> 23 & 0xffu;
            slow |= (e != 0 && e < 73) | !(fabs((double)xb[i]) < limit);
            u &= e == 0 ? 0u : ~0u;
            memcpy(&xb[i], &u, sizeof u);
        }
        if (slow)
            for (size_t i = 0; i < bn; i++) xb[i] = (float)unfix(fix_f32(xb[i], limit, &bad));
    }
    if (bad) s->bad = 1;
}

void absa_xsum_set_f32(absa_xsum *s, size_t off, const float *x, size_t n) { xsum_fix_f32(s, off, x, n, 0); }

void absa_xsum_add_get_f32(absa_xsum *s, size_t off, const float *x, float *out, size_t n)
{
    const absa_xword *v = s->v + off;
    const double limit = s->limit;
    int bad = 0;
    size_t start = 0;
    XSUM_WIDE(n, bad, absa_xsum512_add_get(v + lo, x + lo, out + lo, len, limit),
              absa_xsum2_add_get(v + lo, x + lo, out + lo, len, limit));
    XSUM_OMP_BAD_FROM
    for (size_t i = start; i < n; i++) out[i] = (float)unfix(v[i] + fix_f32(x[i], limit, &bad));
    if (bad) s->bad = 1;
}

double absa_xsum_get_f64(const absa_xsum *s, size_t off) { return unfix(s->v[off]); }

/* ---- int64 limbs (exact_sum.h) ---- */

#define LIMB_MASK ((((absa_xword)1) << ABSA_XLIMB_BITS) - 1)
__extension__ typedef __int128 xsigned;

void absa_xsum_to_limbs(const absa_xword *v, size_t n, int64_t *limbs)
{
    for (size_t i = 0; i < n; i++) {
        const absa_xword w = v[i];
        limbs[3 * i] = (int64_t)(w & LIMB_MASK);
        limbs[3 * i + 1] = (int64_t)(w >> ABSA_XLIMB_BITS & LIMB_MASK);
        /* the top 42 bits as a signed number: bit 127 is the sign */
        const int64_t top = (int64_t)(uint64_t)(w >> (2 * ABSA_XLIMB_BITS)); /* in [0, 2^42) */
        limbs[3 * i + 2] = top >= (int64_t)1 << 41 ? top - ((int64_t)1 << 42) : top;
    }
}

void absa_xsum_from_limbs(const int64_t *limbs, size_t n, absa_xword *v)
{
    for (size_t i = 0; i < n; i++) {
        /* an int64 converted to the unsigned 128-bit word is its value modulo 2^128; so are
         * the shifts: the recombination is exact modulo 2^128 whatever the carries */
        const absa_xword d0 = (absa_xword)(xsigned)limbs[3 * i];
        const absa_xword d1 = (absa_xword)(xsigned)limbs[3 * i + 1];
        const absa_xword d2 = (absa_xword)(xsigned)limbs[3 * i + 2];
        v[i] = d0 + (d1 << ABSA_XLIMB_BITS) + (d2 << (2 * ABSA_XLIMB_BITS));
    }
}
