/* test_xlimb.c — the int64 limbs of the exact sums (src/base/exact_sum.h: absa_xsum_to_limbs /
 * absa_xsum_from_limbs), the form in which the 128-bit gradient and Hv sums go through NCCL
 * (ncclInt64, ncclSum) on the device path (docs/gpu.md). Against the wrapping 128-bit sum, which
 * is what the MPI host path computes:
 *  - every limb is in range (d0, d1 in [0, 2^43), d2 in [-2^41, 2^41)) and a word round-trips,
 *    for the edge words (0, +-1, the limb boundaries, INT128_MAX, INT128_MIN) and random ones;
 *  - limb-wise int64 sums over R ranks (1 .. 2^20, random words, the extreme words repeated on
 *    every rank) never overflow an int64 (checked with __builtin_add_overflow) and recombine to
 *    exactly the wrapping 128-bit sum of the words;
 *  - the headroom is the stated one: 2^20 + 1 ranks of the largest low limb do overflow;
 *  - real exact sums of float gradients split over ranks: limbs give the same float bits. */
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "exact_sum.h"

__extension__ typedef __int128 s128;

static absa_xword rnd_word(uint64_t *s)
{
    absa_xword w = (absa_xword)absa_test_next(s) << 64 | absa_test_next(s);
    /* random magnitudes: shift right by 0..127 with sign extension */
    int sh = (int)(absa_test_next(s) % 128);
    return (absa_xword)((s128)w >> sh);
}

/* sums over `ranks` ranks of words[r % nw] (element i of rank r = words[(r + i) % nw]) */
static int check_sum(const absa_xword *words, int nw, long ranks, size_t n, const char *what)
{
    int64_t *acc = calloc(3 * n, sizeof *acc), *l = malloc(3 * n * sizeof *l);
    absa_xword *want = calloc(n, sizeof *want), *w = malloc(n * sizeof *w), *got = malloc(n * sizeof *got);
    int overflow = 0;
    for (long r = 0; r < ranks; r++) {
        for (size_t i = 0; i < n; i++) w[i] = words[(size_t)(r + (long)i) % (size_t)nw];
        absa_xsum_to_limbs(w, n, l);
        for (size_t i = 0; i < n; i++) want[i] += w[i];
        for (size_t k = 0; k < 3 * n; k++) overflow |= __builtin_add_overflow(acc[k], l[k], &acc[k]);
    }
    absa_xsum_from_limbs(acc, n, got);
    int same = !memcmp(got, want, n * sizeof *got);
    CHECK(!overflow, "%s: %ld ranks: an int64 limb overflowed", what, ranks);
    CHECK(same, "%s: %ld ranks: limb sum differs from the 128-bit sum", what, ranks);
    free(acc), free(l), free(want), free(w), free(got);
    return overflow;
}

int main(void)
{
    const absa_xword one = 1;
    const absa_xword imax = (one << 127) - 1, imin = one << 127;
    const absa_xword edges[] = {0, 1, (absa_xword)-1, (one << 43) - 1, one << 43, (one << 86) - 1, one << 86,
                                (one << 86) | ((one << 43) - 1), imax, imin, imin + 1, imax - 1, one << 126,
                                (absa_xword)-(s128)(one << 126), (absa_xword)-(s128)(one << 86),
                                (absa_xword)-(s128)(one << 43), ((one << 42) - 1) << 86, one << 127 | 1};
    const int ne = (int)(sizeof edges / sizeof edges[0]);
    uint64_t s = 20;
    enum { NR = 4096 };
    absa_xword *words = malloc(sizeof *words * (NR + (size_t)ne));
    memcpy(words, edges, sizeof edges);
    for (int i = ne; i < NR + ne; i++) words[i] = rnd_word(&s);
    int bad_range = 0, bad_trip = 0;
    for (int i = 0; i < NR + ne; i++) {
        int64_t l[3];
        absa_xword back;
        absa_xsum_to_limbs(&words[i], 1, l);
        absa_xsum_from_limbs(l, 1, &back);
        const int64_t lo = (int64_t)1 << 43, hi = (int64_t)1 << 41;
        bad_range += l[0] < 0 || l[0] >= lo || l[1] < 0 || l[1] >= lo || l[2] < -hi || l[2] >= hi;
        bad_trip += back != words[i];
    }
    CHECK(bad_range == 0, "%d of %d words have a limb out of range", bad_range, NR + ne);
    CHECK(bad_trip == 0, "%d of %d words do not round-trip", bad_trip, NR + ne);
    { /* the edges' limbs exactly */
        int64_t l[3];
        absa_xsum_to_limbs(&imax, 1, l);
        CHECK(l[0] == ((int64_t)1 << 43) - 1 && l[1] == ((int64_t)1 << 43) - 1 && l[2] == ((int64_t)1 << 41) - 1,
              "INT128_MAX limbs %lld %lld %lld", (long long)l[0], (long long)l[1], (long long)l[2]);
        absa_xsum_to_limbs(&imin, 1, l);
        CHECK(l[0] == 0 && l[1] == 0 && l[2] == -((int64_t)1 << 41), "INT128_MIN limbs %lld %lld %lld",
              (long long)l[0], (long long)l[1], (long long)l[2]);
        const absa_xword m1 = (absa_xword)-1;
        absa_xsum_to_limbs(&m1, 1, l);
        CHECK(l[0] == ((int64_t)1 << 43) - 1 && l[1] == ((int64_t)1 << 43) - 1 && l[2] == -1, "-1 limbs");
    }
    /* random words over many ranks, wrapping sums included */
    const long rank_counts[] = {1, 2, 3, 4, 7, 64, 1000, 65536};
    for (size_t c = 0; c < sizeof rank_counts / sizeof rank_counts[0]; c++)
        check_sum(words, NR + ne, rank_counts[c], 16, "random and edge words");
    /* the extreme words on every one of 2^20 ranks: the largest limbs in both directions */
    const absa_xword maxw[] = {imax, (absa_xword)-1, imin, (one << 86) - 1, ((one << 42) - 1) << 86 | ((one << 86) - 1)};
    for (int e = 0; e < 5; e++) {
        absa_xword w1[1] = {maxw[e]};
        check_sum(w1, 1, ABSA_XLIMB_MAX_RANKS, 1, "an extreme word on 2^20 ranks");
    }
    /* ... and one more rank overflows the low limbs: the headroom is exactly 2^20 ranks */
    {
        int64_t acc = 0, l[3];
        int ov = 0;
        absa_xsum_to_limbs(&imax, 1, l);
        for (long r = 0; r <= ABSA_XLIMB_MAX_RANKS; r++) ov |= __builtin_add_overflow(acc, l[0], &acc);
        CHECK(ov, "2^20 + 1 ranks of 2^43 - 1 should overflow an int64 limb");
    }
    /* real exact sums: float gradients of very different magnitudes split over R ranks */
    enum { P = 300, R = 5 };
    float *g = malloc(sizeof(float) * P * R), via128[P], vialimb[P];
    for (int i = 0; i < P * R; i++)
        g[i] = (float)(absa_test_normal(&s) * ldexp(1.0, (int)(absa_test_uniform(&s) * 60) - 40));
    absa_xsum part[R], total;
    int64_t *acc = calloc(3 * P, sizeof *acc), *l = malloc(3 * P * sizeof *l);
    absa_xsum_init(&total, P);
    absa_xsum_zero(&total, R);
    for (int r = 0; r < R; r++) {
        absa_xsum_init(&part[r], P);
        absa_xsum_zero(&part[r], R);
        absa_xsum_add_f32(&part[r], 0, g + (size_t)r * P, P);
        for (int i = 0; i < P; i++) total.v[i] += part[r].v[i];
        absa_xsum_to_limbs(part[r].v, P, l);
        for (int k = 0; k < 3 * P; k++) acc[k] += l[k];
        absa_xsum_free(&part[r]);
    }
    absa_xsum_get_f32(&total, 0, via128, P);
    absa_xsum_from_limbs(acc, P, total.v);
    absa_xsum_get_f32(&total, 0, vialimb, P);
    CHECK(!memcmp(via128, vialimb, sizeof via128), "float gradients: limb path differs from the 128-bit path");
    absa_xsum_free(&total);
    free(acc), free(l), free(g), free(words);
    return absa_test_finish("test_xlimb");
}
