/* rng.c — xoshiro256** with splitmix64 seeding; see rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void absa_rng_seed(absa_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t absa_rng_u64(absa_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double absa_rng_uniform(absa_rng *r) { return (double)(absa_rng_u64(r) >> 11) * 0x1.0p-53; }

double absa_rng_normal(absa_rng *r)
{
    double u1 = absa_rng_uniform(r), u2 = absa_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void absa_rng_fill_normal(absa_rng *r, size_t n, float *a, float stddev)
{
    for (size_t i = 0; i < n; i++) a[i] = (float)(stddev * absa_rng_normal(r));
}

void absa_rng_fill_uniform(absa_rng *r, size_t n, float *a, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * absa_rng_uniform(r));
}

void absa_rng_fill_rademacher(absa_rng *r, size_t n, float *a)
{
    size_t i = 0;
    while (i < n) {
        uint64_t bits = absa_rng_u64(r);
        for (int b = 0; b < 64 && i < n; b++, i++) a[i] = (bits >> b) & 1u ? 1.0f : -1.0f;
    }
}
