/* test_exact_limbs.c — the device form of the exact sums (src/base/exact_limbs.h), the arithmetic
 * the CUDA kernels of gpu/xsum.cu run (the same inline functions, compiled here for the host),
 * against the host specification (exact_sum.h: absa_xsum_add_f32 / absa_xsum_get_f32 / _f64):
 *  - float addends of every magnitude the range allows (2^-70 .. 2^37), both signs, zeros,
 *    subnormals, the largest float below the limit: the recombined words and the floats and
 *    doubles they round to are bitwise the host's, for one addend and for sums of many;
 *  - not finite or |x| >= limit: reported (the "bad" flag), nothing added, as on the host;
 *  - limbs summed limb-wise over ranks (what NCCL's int64 sum and MPI do) give the host's
 *    128-bit sum of the ranks' words: the same floats;
 *  - no limb overflow for 2^20 addends of the largest magnitude below the limit;
 *  - absa_xl_word against the 128-bit recombination of exact_sum.c for random limbs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "exact_limbs.h"
#include "exact_sum.h"

__extension__ typedef __int128 s128;

/* a random addend below lim: every exponent from 2^-70 up, both signs, zeros, subnormals */
static float rnd_float(uint64_t *s, double lim)
{
    const int kind = (int)(absa_test_next(s) % 16);
    if (kind == 0) return 0.0f;
    if (kind == 1) return -0.0f;
    if (kind == 2) return (float)(absa_test_uniform(s) * 1e-39); /* subnormal */
    const double mag = ldexp(1.0, (int)(absa_test_next(s) % 108) - 70); /* 2^-70 .. 2^37 */
    const double x = (absa_test_uniform(s) + 0.5) * mag;
    if (!(x < lim)) return rnd_float(s, lim);
    return (float)(absa_test_next(s) & 1 ? -x : x);
}

/* n addends per element, in `ranks` groups; host words vs limb sums */
static void compare(uint64_t *s, size_t P, int n, int ranks, const char *what)
{
    float *x = malloc(sizeof(float) * P * (size_t)n), *host = malloc(sizeof(float) * P), *dev = malloc(sizeof(float) * P);
    absa_xsum h;
    absa_xsum_init(&h, P);
    absa_xsum_zero(&h, n);
    int64_t *total = calloc(3 * P, sizeof(int64_t)), *part = calloc(3 * P, sizeof(int64_t));
    for (size_t i = 0; i < P * (size_t)n; i++) x[i] = rnd_float(s, h.limit);
    int bad = 0;
    for (int r = 0; r < ranks; r++) {
        memset(part, 0, 3 * P * sizeof(int64_t));
        for (int a = r; a < n; a += ranks) { /* this rank's addends (micro-batches) */
            absa_xsum_add_f32(&h, 0, x + (size_t)a * P, P);
            for (size_t i = 0; i < P; i++) bad |= absa_xl_add_f32(part + 3 * i, x[(size_t)a * P + i], h.limit);
        }
        for (size_t k = 0; k < 3 * P; k++) total[k] += part[k]; /* the int64 allreduce */
    }
    CHECK(!bad && !h.bad, "%s: an in-range addend was reported bad", what);
    absa_xsum_get_f32(&h, 0, host, P);
    int words = 0, doubles = 0;
    for (size_t i = 0; i < P; i++) {
        dev[i] = absa_xl_get_f32(total + 3 * i);
        uint64_t hi, lo;
        absa_xl_word(total + 3 * i, &hi, &lo);
        words += hi != (uint64_t)(h.v[i] >> 64) || lo != (uint64_t)h.v[i];
        const double a = absa_xl_get_f64(total + 3 * i), b = absa_xsum_get_f64(&h, i);
        doubles += memcmp(&a, &b, sizeof a) != 0;
    }
    CHECK(words == 0, "%s: %d of %zu words differ from the host's", what, words, P);
    CHECK(doubles == 0, "%s: %d of %zu doubles differ", what, doubles, P);
    CHECK(!memcmp(host, dev, sizeof(float) * P), "%s: floats differ from the host path", what);
    absa_xsum_free(&h);
    free(x), free(host), free(dev), free(total), free(part);
}

int main(void)
{
    uint64_t s = 2026;
    compare(&s, 4096, 1, 1, "one addend");
    compare(&s, 1000, 8, 1, "8 micro-batches");
    compare(&s, 1000, 8, 3, "8 micro-batches over 3 ranks");
    compare(&s, 500, 64, 7, "64 addends over 7 ranks");
    /* cancellation to exactly zero and to the smallest steps */
    {
        int64_t l[3] = {0, 0, 0};
        absa_xl_add_f32(l, 3.5f, 1e9), absa_xl_add_f32(l, -3.5f, 1e9);
        CHECK(absa_xl_get_f32(l) == 0.0f && !signbit(absa_xl_get_f32(l)), "x - x is +0");
        const float tiny = ldexpf(1.0f, -88), t3 = ldexpf(1.0f, -90);
        memset(l, 0, sizeof l);
        absa_xl_add_f32(l, tiny, 1e9), absa_xl_add_f32(l, t3, 1e9);
        CHECK(absa_xl_get_f32(l) == tiny, "2^-90 truncates to 0 on the 2^-88 grid");
        memset(l, 0, sizeof l);
        absa_xl_add_f32(l, -tiny, 1e9);
        absa_xsum h; /* the host rounds the word -1 through hi * 2^64 + lo: to 0, and so must the limbs */
        absa_xsum_init(&h, 1);
        absa_xsum_zero(&h, 1);
        absa_xsum_add_f32(&h, 0, &(float){-tiny}, 1);
        float hf;
        absa_xsum_get_f32(&h, 0, &hf, 1);
        CHECK(absa_xl_get_f32(l) == hf && hf == 0.0f, "-2^-88: %g, host %g", (double)absa_xl_get_f32(l), (double)hf);
        absa_xsum_free(&h);
    }
    /* bad addends: reported, nothing added (as absa_xsum_add_f32 sets bad and skips) */
    {
        const double limit = ldexp(1.0, 38) / 4;
        const float bads[] = {INFINITY, -INFINITY, NAN, (float)limit, -(float)limit, 1e30f};
        for (size_t b = 0; b < sizeof bads / sizeof bads[0]; b++) {
            int64_t l[3] = {5, 6, 7};
            absa_xsum h;
            absa_xsum_init(&h, 1);
            absa_xsum_zero(&h, 4);
            absa_xsum_add_f32(&h, 0, &bads[b], 1);
            CHECK(absa_xl_add_f32(l, bads[b], limit) == 1 && l[0] == 5 && l[1] == 6 && l[2] == 7 && h.bad,
                  "bad addend %g", (double)bads[b]);
            absa_xsum_free(&h);
        }
        const float below = nextafterf((float)limit, 0.0f);
        int64_t l[3] = {0, 0, 0};
        CHECK(absa_xl_add_f32(l, below, limit) == 0 && absa_xl_get_f32(l) == below, "the largest addend below the limit");
    }
    /* the headroom: 2^20 addends of the largest magnitude below 2^38 / 2^20 (exact_sum's limit
     * for 2^20 addends), both signs: no limb leaves int64, the sum is exact */
    {
        const double limit = ldexp(1.0, 38 - 20);
        const float big = nextafterf((float)limit, 0.0f);
        for (int sign = -1; sign <= 1; sign += 2) {
            int64_t l[3] = {0, 0, 0};
            int ov = 0;
            for (long a = 0; a < (1L << 20); a++) {
                int64_t d[3] = {0, 0, 0};
                absa_xl_add_f32(d, (float)sign * big, limit);
                for (int j = 0; j < 3; j++) ov |= __builtin_add_overflow(l[j], d[j], &l[j]);
            }
            CHECK(!ov, "2^20 addends of %g overflow a limb", (double)big);
            CHECK(absa_xl_get_f64(l) == (double)sign * big * 1048576.0, "the sum of 2^20 addends is exact");
        }
    }
    /* the recombination against exact_sum.c's (absa_xsum_from_limbs) for random limbs */
    {
        int bad = 0;
        for (int t = 0; t < 100000; t++) {
            int64_t l[3];
            for (int j = 0; j < 3; j++) l[j] = (int64_t)absa_test_next(&s) >> (absa_test_next(&s) % 64);
            absa_xword w;
            absa_xsum_from_limbs(l, 1, &w);
            uint64_t hi, lo;
            absa_xl_word(l, &hi, &lo);
            bad += hi != (uint64_t)(w >> 64) || lo != (uint64_t)w;
        }
        CHECK(bad == 0, "%d of 100000 random limb triples recombine differently", bad);
        (void)sizeof(s128);
    }
    return absa_test_finish("test_exact_limbs");
}
