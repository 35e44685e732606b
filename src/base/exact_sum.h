/* exact_sum.h — order-independent sums of float/double vectors for the trainer's gradient
 * accumulation: every addend is rounded once onto a fixed-point grid (2^-88) held in a 128-bit
 * integer; integer addition (modulo 2^128) is associative and commutative, so the sum has the same
 * bits whatever the order and grouping of the addends (micro-batches, ranks, the step at which
 * spawned ranks join). See docs/engine.md, "Determinism". */
#ifndef ABSA_EXACT_SUM_H
#define ABSA_EXACT_SUM_H
#include <stddef.h>
#include <stdint.h>

__extension__ typedef unsigned __int128 absa_xword; /* two's complement; wraps, never traps */

typedef struct absa_xsum {
    absa_xword *v;  /* the n fixed-point sums */
    size_t n;
    double limit;   /* addends of this magnitude or more (or not finite) set bad */
    int bad;        /* an addend was out of range: the sums are meaningless */
} absa_xsum;

/* Allocates n sums (0 on success, -1 out of memory); absa_xsum_free releases them. */
int absa_xsum_init(absa_xsum *s, size_t n);
void absa_xsum_free(absa_xsum *s);
/* Zeroes the sums for at most max_addends addends per element (sets the range limit so that the
 * exact sum cannot leave the 128-bit range: |addend| < 2^38 / max_addends). */
void absa_xsum_zero(absa_xsum *s, long max_addends);
/* The same for the sums from index `from` on (those before keep their values). */
void absa_xsum_zero_from(absa_xsum *s, long max_addends, size_t from);
/* v[off + i] += x[i] (rounded toward zero onto the grid) for i < n. */
void absa_xsum_add_f32(absa_xsum *s, size_t off, const float *x, size_t n);
void absa_xsum_add_f64(absa_xsum *s, size_t off, const double *x, size_t n);
/* out[i] = v[off + i] rounded to float / double. */
void absa_xsum_get_f32(const absa_xsum *s, size_t off, float *out, size_t n);
double absa_xsum_get_f64(const absa_xsum *s, size_t off);
/* x[i] = the sum of the single addend x[i], in place, for i < n: bitwise what
 * zero + absa_xsum_add_f32 + absa_xsum_get_f32 give for one addend (limit and bad as there),
 * without the 128-bit words (the trainer's one-micro-batch, one-rank step). */
void absa_xsum_round_f32(absa_xsum *s, float *x, size_t n);
/* v[off + i] = x[i] (rounded toward zero onto the grid), for i < n: bitwise zero +
 * absa_xsum_add_f32, for a first addend, without the zeroing pass (limit and bad as there). */
void absa_xsum_set_f32(absa_xsum *s, size_t off, const float *x, size_t n);
/* out[i] = (v[off + i] + x[i]) rounded to float, for i < n, the words left as they were: bitwise
 * absa_xsum_add_f32 + absa_xsum_get_f32, for a last addend whose sum nobody else reads, without
 * storing the words (limit and bad as there). out may be x. */
void absa_xsum_add_get_f32(absa_xsum *s, size_t off, const float *x, float *out, size_t n);

/* The 128-bit words as int64 limbs, for sum reductions of a library that has 64-bit integers but
 * not 128-bit ones (NCCL: ncclInt64 + ncclSum). Word w = d0 + d1 * 2^43 + d2 * 2^86 (mod 2^128)
 * with d0, d1 in [0, 2^43) and d2 in [-2^41, 2^41) (the top 42 bits, signed). A limb-wise int64
 * sum over R <= ABSA_XLIMB_MAX_RANKS ranks cannot overflow (21 bits of headroom: R * 2^43 < 2^63),
 * and recombining the summed limbs modulo 2^128 (absa_xsum_from_limbs, which absorbs the carries)
 * gives exactly the wrapping sum of the words: the same bits as the 128-bit MPI reduction.
 * Layout: limbs[3 * i + j] = d_j of word i. */
#define ABSA_XLIMBS 3
#define ABSA_XLIMB_BITS 43
#define ABSA_XLIMB_MAX_RANKS (1L << 20)
void absa_xsum_to_limbs(const absa_xword *v, size_t n, int64_t *limbs);
void absa_xsum_from_limbs(const int64_t *limbs, size_t n, absa_xword *v);
#endif
