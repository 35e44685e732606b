/* base_hash.h — deterministic randomness shared by every layer that shuffles: a well-mixed 64-bit
 * hash of (key, counter) and the per-epoch permutation of [0, count) from (seed, epoch). Pure
 * functions, no state. */
#ifndef ABSA_BASE_HASH_H
#define ABSA_BASE_HASH_H
#include <stddef.h>
#include <stdint.h>

/* deterministic per-epoch permutation of [0,count) from (seed, epoch) */
void absa_permutation(uint64_t seed, uint64_t epoch, size_t count, uint64_t *perm);
/* the counter-based hash: a well-mixed 64-bit value of (key, counter); for a fixed key,
 * counter -> hash is a bijection */
uint64_t absa_hash64(uint64_t key, uint64_t counter);
#endif
