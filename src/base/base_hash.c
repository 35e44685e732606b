/* base_hash.c — the counter-based hash and the per-epoch permutation (Fisher-Yates) that the
 * data path, the UCX server and the trainer share; see base_hash.h. Moved unchanged from
 * hdf5_io/h5augment.c. */
#include "base_hash.h"

static uint64_t absa_mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* For a fixed key, counter -> hash is a bijection (odd multiply, xor and mix64 are bijective). */
uint64_t absa_hash64(uint64_t key, uint64_t counter)
{
    return absa_mix64(absa_mix64(key + 0x9E3779B97F4A7C15ull) ^
                      (counter * 0xD1B54A32D192ED03ull + 0x9E3779B97F4A7C15ull));
}

/* Unbiased uniform integer in [0, range) from the stream (key, counter, attempt...). */
static uint64_t absa_bounded(uint64_t key, uint64_t counter, uint64_t range)
{
    uint64_t threshold = (0 - range) % range; /* 2^64 mod range */
    for (uint64_t attempt = 0;; attempt++) {
        uint64_t r = absa_hash64(key, counter ^ (attempt << 48));
        if (r >= threshold) return r % range;
    }
}

void absa_permutation(uint64_t seed, uint64_t epoch, size_t count, uint64_t *perm)
{
    uint64_t key = absa_hash64(seed, epoch);
    for (size_t i = 0; i < count; i++) perm[i] = i;
    for (size_t i = count; i-- > 1;) {
        size_t j = (size_t)absa_bounded(key, i, (uint64_t)i + 1);
        uint64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
