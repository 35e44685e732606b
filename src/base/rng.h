/* rng.h — deterministic random numbers for initialisation, power-iteration starts and Hutchinson
 * probes: xoshiro256** seeded through splitmix64, uniform doubles, Box-Muller normals,
 * Rademacher signs. State is a value the caller owns (no global RNG). */
#ifndef ABSA_RNG_H
#define ABSA_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct absa_rng {
    uint64_t s[4];
} absa_rng;

void absa_rng_seed(absa_rng *r, uint64_t seed, uint64_t stream);
uint64_t absa_rng_u64(absa_rng *r);
double absa_rng_uniform(absa_rng *r);                  /* [0, 1) */
double absa_rng_normal(absa_rng *r);                   /* N(0, 1) */
void absa_rng_fill_normal(absa_rng *r, size_t n, float *a, float stddev);
void absa_rng_fill_uniform(absa_rng *r, size_t n, float *a, float lo, float hi);
void absa_rng_fill_rademacher(absa_rng *r, size_t n, float *a);
#endif
