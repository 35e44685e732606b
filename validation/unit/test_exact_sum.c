/* test_exact_sum.c — the trainer's order-independent sums (src/base/exact_sum.h):
 *  - sums of the same float addends (gradients of very different magnitudes and signs, with
 *    cancellation) in forward, reverse, shuffled order and split into R partial sums that are then
 *    combined (as ranks do with the 128-bit allreduce) have the same bits, where plain float
 *    summation differs between these orders;
 *  - the result equals the exactly rounded sum for addends on the grid (integers and powers of
 *    two, checked against a long double reference) and double addends (the loss) round-trip;
 *  - an addend that is not finite, or at or beyond the limit 2^38 / max_addends, sets bad; one just
 *    below it does not, and the sums of max_addends such addends of one sign stay exact (no wrap);
 *  - absa_xsum_round_f32 (one addend, in place) has the bits and bad flag of zero + add + get.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "exact_sum.h"

#define N 64   /* elements */
#define K 200  /* addends per element */

static void sum_order(const float *a, const int *order, int parts, float *out)
{
    absa_xsum part[8], total;
    absa_xsum_init(&total, N);
    absa_xsum_zero(&total, K);
    for (int p = 0; p < parts; p++) {
        absa_xsum_init(&part[p], N);
        absa_xsum_zero(&part[p], K);
    }
    for (int j = 0; j < K; j++) /* addend order[j] goes to part j % parts */
        absa_xsum_add_f32(&part[j % parts], 0, a + (size_t)order[j] * N, N);
    for (int p = 0; p < parts; p++) { /* the allreduce: wrapping 128-bit addition */
        for (int i = 0; i < N; i++) total.v[i] += part[p].v[i];
        CHECK(!part[p].bad, "part %d flagged bad", p);
        absa_xsum_free(&part[p]);
    }
    absa_xsum_get_f32(&total, 0, out, N);
    absa_xsum_free(&total);
}

/* absa_xsum_round_f32 (the trainer's one-addend step) against zero + add + get of that single
 * addend: the same bits and the same bad flag, for magnitudes from 2^-140 to 2^40 of both signs
 * (negative ones below 2^-54 are where the double rounding in get loses bits), +-0, subnormals,
 * values at and just below the limit, infinities and NaN. */
static void test_round(void)
{
    enum { M = 4096 };
    float *x = malloc(sizeof(float) * M), *want = malloc(sizeof(float) * M), *got = malloc(sizeof(float) * M);
    uint64_t s = 11;
    for (int i = 0; i < M; i++)
        x[i] = (float)(absa_test_normal(&s) * ldexp(1.0, (int)(absa_test_uniform(&s) * 180) - 140));
    const float lim = (float)ldexp(1.0, 38) / 3; /* the limit for max_addends = 3 */
    const float edge[] = {0.f, -0.f, 1e-45f, -1e-45f, 1e-38f, -3e-39f, ldexp(-1.f, -60), ldexp(-1.f, -55),
                          ldexp(-1.5f, -64), lim, -lim, nextafterf(lim, 0), -nextafterf(lim, 0),
                          INFINITY, -INFINITY, NAN};
    const int ne = (int)(sizeof edge / sizeof edge[0]);
    for (int i = 0; i < ne; i++) x[i * 97] = edge[i];
    for (int i = 0; i < M; i++) { /* one element at a time, so that each bad flag is checked */
        absa_xsum a, b;
        absa_xsum_init(&a, 1);
        absa_xsum_init(&b, 1);
        absa_xsum_zero(&a, 3);
        absa_xsum_zero(&b, 3);
        absa_xsum_add_f32(&a, 0, &x[i], 1);
        absa_xsum_get_f32(&a, 0, &want[i], 1);
        got[i] = x[i];
        absa_xsum_round_f32(&b, &got[i], 1);
        CHECK(memcmp(&got[i], &want[i], sizeof(float)) == 0 && a.bad == b.bad,
              "round of %a: %a (bad %d), add+get %a (bad %d)", (double)x[i], (double)got[i], b.bad, (double)want[i], a.bad);
        absa_xsum_free(&a);
        absa_xsum_free(&b);
    }
    /* and as a vector: one bad element flags the whole */
    absa_xsum v;
    absa_xsum_init(&v, 1);
    absa_xsum_zero(&v, 3);
    memcpy(got, x, sizeof(float) * M);
    absa_xsum_round_f32(&v, got, M);
    CHECK(v.bad && memcmp(got, want, sizeof(float) * M) == 0, "vector round: bad %d", v.bad);
    absa_xsum_free(&v);
    free(x), free(want), free(got);
}

int main(void)
{
    test_round();
    uint64_t s = 7;
    float *a = malloc(sizeof(float) * N * K);
    for (int j = 0; j < K; j++)
        for (int i = 0; i < N; i++) /* magnitudes 2^-40 .. 2^10, both signs */
            a[(size_t)j * N + i] = (float)(absa_test_normal(&s) * ldexp(1.0, (int)(absa_test_uniform(&s) * 50) - 40));
    int fwd[K], rev[K], shuf[K];
    for (int j = 0; j < K; j++) fwd[j] = j, rev[j] = K - 1 - j, shuf[j] = j;
    for (int j = K - 1; j > 0; j--) {
        int r = (int)(absa_test_next(&s) % (uint64_t)(j + 1)), t = shuf[j];
        shuf[j] = shuf[r], shuf[r] = t;
    }
    float ref[N], got[N];
    sum_order(a, fwd, 1, ref);
    const struct { const int *o; int parts; const char *what; } cases[] = {
        {rev, 1, "reverse"}, {shuf, 1, "shuffled"}, {fwd, 2, "2 parts"}, {shuf, 3, "3 parts, shuffled"},
        {rev, 7, "7 parts, reverse"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sum_order(a, cases[c].o, cases[c].parts, got);
        CHECK(!memcmp(ref, got, sizeof ref), "%s: sum differs from the forward order", cases[c].what);
    }
    /* plain float summation does depend on the order (else this test would prove nothing) */
    int differ = 0;
    for (int i = 0; i < N; i++) {
        float f = 0, r = 0;
        for (int j = 0; j < K; j++) f += a[(size_t)j * N + i], r += a[(size_t)(K - 1 - j) * N + i];
        differ += f != r;
    }
    CHECK(differ > 0, "float sums in forward and reverse order never differ");
    /* accuracy: close to the long double sum (one final rounding, plus 2^-88 per addend) */
    for (int i = 0; i < N; i++) {
        long double e = 0;
        for (int j = 0; j < K; j++) e += a[(size_t)j * N + i];
        CHECK(fabsl((long double)ref[i] - e) <= fabsl(e) * 0x1p-23L + 0x1p-80L, "element %d: %.9g vs %.12Lg", i,
              ref[i], e);
    }
    /* exact on the grid, with cancellation: 1e6 + 1 - 1e6 - 0.5 = 0.5 */
    absa_xsum x;
    CHECK(absa_xsum_init(&x, 2) == 0, "init");
    absa_xsum_zero(&x, 8);
    const float big[4] = {1e6f, 1.0f, -1e6f, -0.5f};
    for (int j = 0; j < 4; j++) absa_xsum_add_f32(&x, 0, &big[j], 1);
    const double loss[2] = {2.302585092994046, 0.125};
    absa_xsum_add_f64(&x, 1, &loss[0], 1);
    absa_xsum_add_f64(&x, 1, &loss[1], 1);
    float r0;
    absa_xsum_get_f32(&x, 0, &r0, 1);
    CHECK(r0 == 0.5f, "1e6 + 1 - 1e6 - 0.5 = %.9g", r0);
    CHECK(absa_xsum_get_f64(&x, 1) == 2.302585092994046 + 0.125, "double addends: %.17g",
          absa_xsum_get_f64(&x, 1));
    CHECK(!x.bad, "in-range addends flagged bad");
    /* range: limit 2^38 / 8 = 2^35; 8 addends just below it sum exactly, one at it is bad */
    absa_xsum_zero(&x, 8);
    const float below = nextafterf(0x1p35f, 0), at = 0x1p35f, inf = INFINITY, nan = NAN;
    for (int j = 0; j < 8; j++) absa_xsum_add_f32(&x, 0, &below, 1);
    absa_xsum_get_f32(&x, 0, &r0, 1);
    CHECK(!x.bad && r0 == 8 * below, "8 x (2^35 - ulp) = %.9g (bad %d)", r0, x.bad);
    absa_xsum_add_f32(&x, 1, &at, 1);
    CHECK(x.bad, "2^35 with max_addends 8 not flagged");
    absa_xsum_zero(&x, 8);
    CHECK(!x.bad, "zero clears bad");
    absa_xsum_add_f32(&x, 0, &inf, 1);
    CHECK(x.bad, "inf not flagged");
    absa_xsum_zero(&x, 8);
    absa_xsum_add_f32(&x, 0, &nan, 1);
    CHECK(x.bad, "NaN not flagged");
    absa_xsum_free(&x);
    free(a);
    return absa_test_finish("test_exact_sum");
}
