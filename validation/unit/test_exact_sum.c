/* test_exact_sum.c — the trainer's order-independent sums (src/base/exact_sum.h):
 *  - sums of the same float addends (gradients of very different magnitudes and signs, with
 *    cancellation) in forward, reverse, shuffled order and split into R partial sums that are then
 *    combined (as ranks do with the 128-bit allreduce) have the same bits, where plain float
 *    summation differs between these orders;
 *  - the result equals the exactly rounded sum for addends on the grid (integers and powers of
 *    two, checked against a long double reference) and double addends (the loss) round-trip;
 *  - an addend that is not finite, or at or beyond the limit 2^38 / max_addends, sets bad; one just
 *    below it does not, and the sums of max_addends such addends of one sign stay exact (no wrap);
 *  - absa_xsum_round_f32 (one addend, in place) has the bits and bad flag of zero + add + get,
 *    element by element and over vectors whose 256-element blocks are all on its fast path, or
 *    hold one element of its slow path (tiny, zero, subnormal, out of range) at every position;
 *  - calls of 200000 elements (the OpenMP loops) give the bits and bad flag of serial calls;
 *  - get (f64, f32, add_get) gives ((double)hi * 2^64 + (double)lo) * 2^-88 of any word, bitwise;
 *  - the words of set and add equal an independent __int128 reference (trunc(x * 2^88) via
 *    ldexp), with every kind of float at every vector position and in the scalar tail (the
 *    AVX-512F and AVX2 loops of exact_sum_avx512.c / exact_sum_avx2.c; CTest runs this test on
 *    every ABSA_CPU_PATH);
 *  - absa_xsum_set_f32 (a first addend) leaves the words and bad flag of zero + add, and
 *    absa_xsum_add_get_f32 (a last addend) gives the floats and bad flag of add + get without
 *    changing the words.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "base_sys.h"
#include "exact_sum.h"

/* a normal variate times 2^k, k uniform in [lo, hi): magnitudes over many binades, both signs */
static float rand_scaled(uint64_t *s, int lo, int hi)
{
    const double v = absa_test_normal(s);
    return (float)(v * ldexp(1.0, lo + (int)(absa_test_uniform(s) * (hi - lo))));
}

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
        x[i] = rand_scaled(&s, -140, 40);
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

/* round over a vector against zero + add + get of the same vector; returns the bad flag */
static int round_vs_add_get(const float *x, int n)
{
    float *want = malloc(sizeof(float) * (size_t)n), *got = malloc(sizeof(float) * (size_t)n);
    absa_xsum a, b;
    absa_xsum_init(&a, (size_t)n);
    absa_xsum_init(&b, 1);
    absa_xsum_zero(&a, 3);
    absa_xsum_zero(&b, 3);
    absa_xsum_add_f32(&a, 0, x, (size_t)n);
    absa_xsum_get_f32(&a, 0, want, (size_t)n);
    memcpy(got, x, sizeof(float) * (size_t)n);
    absa_xsum_round_f32(&b, got, (size_t)n);
    int diff = -1;
    for (int i = 0; i < n && diff < 0; i++)
        if (memcmp(&got[i], &want[i], sizeof(float))) diff = i;
    CHECK(diff < 0 && a.bad == b.bad, "vector round (n %d): first difference at %d (%a, want %a), bad %d / %d", n,
          diff, diff < 0 ? 0.0 : (double)got[diff], diff < 0 ? 0.0 : (double)want[diff], b.bad, a.bad);
    const int bad = b.bad;
    absa_xsum_free(&a);
    absa_xsum_free(&b);
    free(want), free(got);
    return bad;
}

/* The block paths of absa_xsum_round_f32: all-fast blocks (with zeros, -0 and subnormals, which
 * the fast sweep turns into +0), and a block holding one slow element at each position. */
static void test_round_blocks(void)
{
    enum { M = 1000 }; /* three full blocks and a partial one */
    float x[M];
    uint64_t s = 5;
    for (int i = 0; i < M; i++) /* |x| from 2^-50 to 2^20: the fast path */
        x[i] = rand_scaled(&s, -50, 20);
    for (int i = 0; i < M; i += 7) x[i] = (i / 7) % 3 == 0 ? 0.f : (i / 7) % 3 == 1 ? -0.f : -1e-40f;
    CHECK(!round_vs_add_get(x, M), "an all-fast vector set bad");
    const float slow[] = {ldexp(-1.f, -60), ldexp(1.5f, -70), ldexp(-1.25f, -55), INFINITY};
    for (int k = 0; k < 4; k++)
        for (int at = 0; at < 300; at += 37) { /* in the first block, and its edges */
            float y[M];
            memcpy(y, x, sizeof y);
            y[at] = slow[k];
            y[255] = k == 3 ? y[255] : ldexp(-1.f, -56); /* the block's last element, slow too */
            CHECK(round_vs_add_get(y, M) == (k == 3), "slow element %a at %d: wrong bad flag", (double)slow[k], at);
        }
}

/* absa_xsum_set_f32 against zero + add (words and bad), absa_xsum_add_get_f32 against add + get
 * (floats and bad; the words unchanged), over values of the fast and slow kinds, one bad. */
static void test_set_add_get(void)
{
    enum { M = 600 };
    float x0[M], x1[M];
    uint64_t s = 9;
    for (int i = 0; i < M; i++) {
        x0[i] = rand_scaled(&s, -140, 30);
        x1[i] = rand_scaled(&s, -140, 30); /* below the limit */
    }
    x0[3] = -0.f, x1[3] = 0.f, x1[4] = -x0[4], x0[5] = 1e-40f;
    for (int with_bad = 0; with_bad < 2; with_bad++) {
        if (with_bad) x1[M - 1] = NAN;
        absa_xsum a, b;
        absa_xsum_init(&a, M);
        absa_xsum_init(&b, M);
        absa_xsum_zero(&a, 3);
        absa_xsum_add_f32(&a, 0, x0, M);
        for (size_t i = 0; i < M; i++) b.v[i] = ~(absa_xword)0; /* set must not read the words */
        absa_xsum_zero_from(&b, 3, M);
        absa_xsum_set_f32(&b, 0, x0, M);
        CHECK(memcmp(a.v, b.v, sizeof(absa_xword) * M) == 0 && a.bad == b.bad, "set differs from zero + add");
        absa_xword before[M];
        memcpy(before, b.v, sizeof before);
        float want[M], got[M];
        absa_xsum_add_f32(&a, 0, x1, M);
        absa_xsum_get_f32(&a, 0, want, M);
        memcpy(got, x1, sizeof got);
        absa_xsum_add_get_f32(&b, 0, got, got, M); /* in place, as the trainer calls it */
        CHECK(memcmp(got, want, sizeof got) == 0, "add_get differs from add + get");
        CHECK(a.bad == with_bad && b.bad == with_bad, "add_get bad %d, add %d (want %d)", b.bad, a.bad, with_bad);
        CHECK(memcmp(before, b.v, sizeof before) == 0, "add_get changed the words");
        absa_xsum_free(&a);
        absa_xsum_free(&b);
    }
}

/* The words themselves against an independent reference: trunc(x * 2^88) of a float is
 * (__int128)ldexp((double)x, 88) (exact in double; 0 below 2^-88), 0 for an out-of-range addend,
 * and sums wrap modulo 2^128. Every kind of float at every position of the 8-element vector
 * groups and the scalar tail (ABSA_CPU_PATH runs it on each path): zeros of both signs,
 * subnormals, tiny normals, normals over all binades, values just below and at the limit,
 * infinities, NaN. */
static absa_xword ref_word(float x, double limit)
{
    if (!(fabs((double)x) < limit)) return 0;
    __extension__ __int128 q = (__int128)ldexp((double)x, 88);
    return (absa_xword)q;
}

static void test_words(void)
{
    enum { M = 1003 };
    const double limit = ldexp(1.0, 38) / 3; /* max_addends 3 */
    const float special[] = {0.f, -0.f, 1e-45f, -1e-40f, 0x1p-126f, -0x1p-100f, 0x1p-60f, -0x1p-54f, 0x1p-55f,
                             (float)limit * 0.99f, -(float)limit * 0.99f, (float)limit, INFINITY, -INFINITY, NAN,
                             1.f, -1.f, 0x1.fffffep37f};
    const int nsp = (int)(sizeof special / sizeof special[0]);
    float x0[M], x1[M];
    uint64_t s = 21;
    for (int i = 0; i < M; i++) {
        const uint64_t r = absa_test_next(&s);
        x0[i] = r % 5 == 0 ? special[(r >> 8) % (uint64_t)nsp] : rand_scaled(&s, -150, 38);
        x1[i] = r % 7 == 0 ? special[(r >> 16) % (uint64_t)nsp] : rand_scaled(&s, -150, 36);
    }
    absa_xsum a;
    absa_xsum_init(&a, M);
    absa_xsum_zero(&a, 3);
    absa_xsum_set_f32(&a, 0, x0, M);
    int wrong = 0, first = -1, want_bad = 0;
    for (int i = 0; i < M; i++) {
        want_bad |= !(fabs((double)x0[i]) < limit);
        if (a.v[i] != ref_word(x0[i], limit)) wrong++, first = first < 0 ? i : first;
    }
    CHECK(!wrong, "set: %d words differ from the reference (first: element %d, x = %a)", wrong, first,
          first >= 0 ? x0[first] : 0.f);
    CHECK(a.bad == want_bad, "set: bad %d, want %d", a.bad, want_bad);
    absa_xsum_add_f32(&a, 0, x1, M);
    wrong = 0, first = -1;
    for (int i = 0; i < M; i++) {
        want_bad |= !(fabs((double)x1[i]) < limit);
        if (a.v[i] != ref_word(x0[i], limit) + ref_word(x1[i], limit)) wrong++, first = first < 0 ? i : first;
    }
    CHECK(!wrong, "add: %d words differ from the reference (first: element %d)", wrong, first);
    CHECK(a.bad == want_bad, "add: bad %d, want %d", a.bad, want_bad);
    /* get and add_get against the scalar formula on these words */
    float got[M], got2[M];
    absa_xsum_get_f32(&a, 0, got, M);
    wrong = 0;
    for (int i = 0; i < M; i++) {
        const absa_xword w = a.v[i];
        const double d = ((double)(int64_t)(uint64_t)(w >> 64) * 0x1p64 + (double)(uint64_t)w) * 0x1p-88;
        float f = (float)d;
        wrong += memcmp(&f, &got[i], sizeof f) != 0;
    }
    CHECK(!wrong, "get: %d floats differ from the formula", wrong);
    absa_xsum_zero(&a, 3);
    absa_xsum_set_f32(&a, 0, x0, M);
    absa_xsum_add_get_f32(&a, 0, x1, got2, M);
    absa_xsum_add_f32(&a, 0, x1, M);
    absa_xsum_get_f32(&a, 0, got, M);
    CHECK(!memcmp(got, got2, sizeof got), "add_get differs from add + get");
    absa_xsum_free(&a);
}

/* get (f64 and f32, and add_get with a zero addend) against the plain formula of the word's
 * value, ((double)hi * 2^64 + (double)lo) * 2^-88 with the compiler's unsigned conversion of lo,
 * on words of every sign and size, lower halves with their top bit set or not, and lower halves
 * of more than 53 bits (where converting lo rounds). */
static void test_get(void)
{
    enum { M = 3000 };
    absa_xsum a;
    absa_xsum_init(&a, M);
    absa_xsum_zero(&a, 1);
    uint64_t s = 13;
    for (int i = 0; i < M; i++) {
        uint64_t hi = absa_test_next(&s), lo = absa_test_next(&s);
        const int kind = i % 6; /* small positive / negative words, huge ones, raw random */
        if (kind == 0) hi = 0, lo >>= i % 64;
        if (kind == 1) hi = ~(uint64_t)0, lo |= (uint64_t)1 << 63;
        if (kind == 2) hi >>= 3 + i % 60;
        if (kind == 3) hi = ~(hi >> (3 + i % 60));
        if (kind == 4) lo = (lo >> (i % 64)) | ((uint64_t)1 << 63);
        a.v[i] = (absa_xword)hi << 64 | lo;
    }
    float f[M], g[M];
    const float zero[M] = {0};
    absa_xsum_get_f32(&a, 0, f, M);
    absa_xsum_add_get_f32(&a, 0, zero, g, M);
    for (int i = 0; i < M; i++) {
        const uint64_t hi = (uint64_t)(a.v[i] >> 64), lo = (uint64_t)a.v[i];
        const double want = ((double)(int64_t)hi * 0x1p64 + (double)lo) * 0x1p-88;
        const double got = absa_xsum_get_f64(&a, (size_t)i);
        CHECK(memcmp(&got, &want, sizeof got) == 0, "get_f64 of word %d (hi %#llx lo %#llx): %a, want %a", i,
              (unsigned long long)hi, (unsigned long long)lo, got, want);
        const float wf = (float)want;
        CHECK(memcmp(&f[i], &wf, sizeof wf) == 0 && memcmp(&g[i], &wf, sizeof wf) == 0,
              "get_f32 / add_get of word %d: %a / %a, want %a", i, (double)f[i], (double)g[i], (double)wf);
    }
    absa_xsum_free(&a);
}

/* Calls long enough for the OpenMP loops (n >= 65536 elements, run with 2 threads by the test)
 * against the same work in serial calls of 1000 elements: the same bits, and a bad element in
 * the last thread's part sets the flag. */
static void test_threads(void)
{
    enum { M = 200000, P = 1000 };
    absa_set_threads(2); /* two OpenMP threads whatever the machine */
    float *x0 = malloc(sizeof(float) * M), *x1 = malloc(sizeof(float) * M), *r1 = malloc(sizeof(float) * M),
          *r2 = malloc(sizeof(float) * M);
    uint64_t s = 17;
    for (int i = 0; i < M; i++) {
        x0[i] = rand_scaled(&s, -80, 20);
        x1[i] = rand_scaled(&s, -80, 20);
    }
    x0[12345] = 0.f, x0[54321] = ldexp(-1.f, -60); /* a zero and a slow element for round */
    for (int with_bad = 0; with_bad < 2; with_bad++) {
        if (with_bad) x1[M - 7] = INFINITY;
        absa_xsum a, b;
        absa_xsum_init(&a, M);
        absa_xsum_init(&b, M);
        absa_xsum_zero(&a, 3);
        absa_xsum_zero(&b, 3);
        absa_xsum_set_f32(&a, 0, x0, M);
        absa_xsum_add_f32(&a, 0, x1, M);
        absa_xsum_get_f32(&a, 0, r1, M);
        absa_xsum_add_get_f32(&a, 0, x0, r2, M);
        for (int i = 0; i < M; i += P) { /* the same in serial calls */
            absa_xsum_set_f32(&b, (size_t)i, x0 + i, P);
            absa_xsum_add_f32(&b, (size_t)i, x1 + i, P);
        }
        CHECK(memcmp(a.v, b.v, sizeof(absa_xword) * M) == 0 && a.bad == with_bad && b.bad == with_bad,
              "threaded set + add differ from serial calls (bad %d / %d)", a.bad, b.bad);
        float *w = malloc(sizeof(float) * M);
        for (int i = 0; i < M; i += P) absa_xsum_get_f32(&b, (size_t)i, w + i, P);
        CHECK(memcmp(r1, w, sizeof(float) * M) == 0, "threaded get differs");
        for (int i = 0; i < M; i += P) absa_xsum_add_get_f32(&b, (size_t)i, x0 + i, w + i, P);
        CHECK(memcmp(r2, w, sizeof(float) * M) == 0, "threaded add_get differs");
        memcpy(r1, x1, sizeof(float) * M);
        memcpy(w, x1, sizeof(float) * M);
        absa_xsum c, d;
        absa_xsum_init(&c, 1);
        absa_xsum_init(&d, 1);
        absa_xsum_zero(&c, 3);
        absa_xsum_zero(&d, 3);
        absa_xsum_round_f32(&c, r1, M);
        for (int i = 0; i < M; i += P) absa_xsum_round_f32(&d, w + i, P);
        CHECK(memcmp(r1, w, sizeof(float) * M) == 0 && c.bad == with_bad && d.bad == with_bad,
              "threaded round differs (bad %d / %d)", c.bad, d.bad);
        free(w);
        absa_xsum_free(&a), absa_xsum_free(&b), absa_xsum_free(&c), absa_xsum_free(&d);
    }
    free(x0), free(x1), free(r1), free(r2);
}

int main(void)
{
    test_threads();
    test_words();
    test_get();
    test_round();
    test_round_blocks();
    test_set_add_get();
    uint64_t s = 7;
    float *a = malloc(sizeof(float) * N * K);
    for (int j = 0; j < K; j++)
        for (int i = 0; i < N; i++) /* magnitudes 2^-40 .. 2^10, both signs */
            a[(size_t)j * N + i] = rand_scaled(&s, -40, 10);
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
