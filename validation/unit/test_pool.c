/* test_pool.c — max-pool kernels and absa_pool_cfg_init (src/engine/cpu/pool.c):
 *  - geometry: output sizes of PyTorch's floor-mode formula, impossible geometry rejected;
 *  - forward (values and argmax) against a naive reference for k2s2p0, k3s2p0 (13x13 -> 6x6),
 *    k3s2p1, a non-square image and a size large enough to take the OpenMP path;
 *  - padding counts as -inf (all-negative inputs never produce 0);
 *  - ties, -inf windows and NaN against values produced once by PyTorch;
 *  - backward by per-coordinate finite differences of <r, y>, R-forward by FD of the forward,
 *    R-backward (= backward on Rdy) by FD of the backward map along (Rx, Rdy), on tie-free
 *    inputs whose values are at least 0.01 apart (so +-eps never changes the argmax);
 *  - backward accumulates, Rx NULL means zero, float32 equals float64 exactly;
 *  - the float 2x2 stride-2 fast path (four windows per vector) bitwise against a scalar
 *    reference, with ties, +-0, +-inf and NaN, forward and backward (set and add). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

static void check_geom(int H, int W, int k, int s, int p, int wantHo, int wantWo)
{
    absa_pool_cfg c;
    int rc = absa_pool_cfg_init(&c, 2, 3, H, W, k, s, p);
    CHECK(rc == 0 && c.Ho == wantHo && c.Wo == wantWo && c.N == 2 && c.C == 3 && c.H == H &&
              c.W == W && c.k == k && c.s == s && c.p == p,
          "cfg %dx%d k%d s%d p%d: rc %d Ho %d Wo %d, want %dx%d", H, W, k, s, p, rc, c.Ho, c.Wo,
          wantHo, wantWo);
}

static void check_reject(int N, int C, int H, int W, int k, int s, int p)
{
    absa_pool_cfg c;
    CHECK(absa_pool_cfg_init(&c, N, C, H, W, k, s, p) == -1,
          "cfg N%d C%d %dx%d k%d s%d p%d must be rejected", N, C, H, W, k, s, p);
}

static void test_geometry(void)
{
    check_geom(8, 8, 2, 2, 0, 4, 4);
    check_geom(13, 13, 3, 2, 0, 6, 6);
    check_geom(13, 13, 3, 2, 1, 7, 7);
    check_geom(7, 9, 3, 2, 1, 4, 5);
    check_geom(32, 32, 3, 1, 1, 32, 32);
    check_geom(5, 5, 5, 1, 2, 5, 5);
    check_geom(3, 3, 3, 3, 0, 1, 1);
    check_geom(2, 2, 5, 1, 2, 2, 2); /* kernel larger than the image, padding makes it fit */
    check_reject(2, 3, 2, 2, 3, 1, 0); /* kernel larger than the image */
    check_reject(2, 3, 8, 2, 3, 1, 0);
    check_reject(2, 3, 8, 8, 3, 2, 2); /* pad > k/2 (PyTorch rejects it) */
    check_reject(2, 3, 8, 8, 0, 1, 0);
    check_reject(2, 3, 8, 8, 2, 0, 0);
    check_reject(2, 3, 8, 8, 2, 2, -1);
    check_reject(0, 3, 8, 8, 2, 2, 0);
    check_reject(2, 0, 8, 8, 2, 2, 0);
    check_reject(2, 3, 0, 8, 2, 2, 0);
    check_reject(2, 3, 8, -1, 2, 2, 0);
}

/* naive reference: scan the full k x k window, skipping positions outside the image */
static void naive_pool(const absa_pool_cfg *c, const double *x, double *y, int32_t *am)
{
    for (int nc = 0; nc < c->N * c->C; nc++)
        for (int oh = 0; oh < c->Ho; oh++)
            for (int ow = 0; ow < c->Wo; ow++) {
                double m = -INFINITY;
                int best = -1;
                for (int a = 0; a < c->k; a++)
                    for (int b = 0; b < c->k; b++) {
                        int ih = oh * c->s - c->p + a, iw = ow * c->s - c->p + b;
                        if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                        double v = x[(size_t)nc * c->H * c->W + ih * c->W + iw];
                        if (best < 0 || v > m) m = v, best = ih * c->W + iw;
                    }
                y[((size_t)nc * c->Ho + oh) * c->Wo + ow] = m;
                am[((size_t)nc * c->Ho + oh) * c->Wo + ow] = best;
            }
}

/* distinct values >= 0.01 apart in random order, shifted by `shift` */
static void fill_distinct(uint64_t *s, size_t n, double *x, double shift)
{
    for (size_t i = 0; i < n; i++) x[i] = (double)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = absa_test_next(s) % i;
        double t = x[i - 1];
        x[i - 1] = x[j], x[j] = t;
    }
    for (size_t i = 0; i < n; i++) x[i] = 0.01 * x[i] + shift;
}

static void test_case(int N, int C, int H, int W, int k, int st, int p, uint64_t seed, int do_fd)
{
    absa_pool_cfg c;
    CHECK(absa_pool_cfg_init(&c, N, C, H, W, k, st, p) == 0, "cfg init");
    size_t nin = (size_t)N * C * H * W, nout = (size_t)N * C * c.Ho * c.Wo;
    uint64_t s = seed;
    double *x = malloc(nin * sizeof(double)), *y = malloc(nout * sizeof(double));
    double *yr = malloc(nout * sizeof(double));
    int32_t *am = malloc(nout * sizeof(int32_t)), *amr = malloc(nout * sizeof(int32_t));
    fill_distinct(&s, nin, x, -0.005 * nin);
    absa_maxpool_forward_f64(&c, x, y, am);
    naive_pool(&c, x, yr, amr);
    int bad = 0;
    for (size_t i = 0; i < nout; i++) bad += y[i] != yr[i] || am[i] != amr[i];
    CHECK(bad == 0, "N%d C%d %dx%d k%d s%d p%d: %d outputs differ from the naive reference", N, C,
          H, W, k, st, p, bad);
    /* float32: max-pool only copies values, so it must agree exactly */
    float *fx = malloc(nin * sizeof(float)), *fy = malloc(nout * sizeof(float));
    int32_t *fam = malloc(nout * sizeof(int32_t));
    for (size_t i = 0; i < nin; i++) fx[i] = (float)x[i];
    absa_maxpool_forward_f32(&c, fx, fy, fam);
    bad = 0;
    for (size_t i = 0; i < nout; i++) bad += fy[i] != (float)y[i] || fam[i] != am[i];
    CHECK(bad == 0, "f32 forward: %d outputs differ from f64", bad);
    /* padding is -inf: shift everything negative, outputs stay the (negative) maxima */
    for (size_t i = 0; i < nin; i++) x[i] -= 1000;
    absa_maxpool_forward_f64(&c, x, y, am);
    bad = 0;
    for (size_t i = 0; i < nout; i++) bad += !(y[i] == yr[i] - 1000 && y[i] < 0) || am[i] != amr[i];
    CHECK(bad == 0, "all-negative input (padding must be -inf): %d outputs wrong", bad);
    for (size_t i = 0; i < nin; i++) x[i] += 1000;
    printf("  forward N%d C%d %dx%d k%d s%d p%d -> %dx%d checked\n", N, C, H, W, k, st, p, c.Ho,
           c.Wo);
    if (do_fd) {
        const double eps = 1e-4, tol = 1e-9; /* piecewise linear: FD is exact up to rounding */
        double *r = malloc(nout * sizeof(double)), *g = calloc(nin, sizeof(double));
        double *plus = malloc(nin * sizeof(double)), *minus = malloc(nin * sizeof(double));
        double *Rx = malloc(nin * sizeof(double)), *Ry = malloc(nout * sizeof(double));
        double *yp = malloc(nout * sizeof(double)), *ym = malloc(nout * sizeof(double));
        int32_t *amp = malloc(nout * sizeof(int32_t));
        for (size_t i = 0; i < nout; i++) r[i] = absa_test_normal(&s);
        for (size_t i = 0; i < nin; i++) Rx[i] = absa_test_normal(&s);
        absa_maxpool_forward_f64(&c, x, y, am);
        absa_maxpool_backward_f64(&c, am, r, g);
        for (size_t i = 0; i < nin; i++) {
            double keep = x[i];
            for (int sign = -1; sign <= 1; sign += 2) {
                x[i] = keep + sign * eps;
                absa_maxpool_forward_f64(&c, x, yp, amp);
                double dot = 0;
                for (size_t o = 0; o < nout; o++) dot += r[o] * yp[o];
                (sign > 0 ? plus : minus)[i] = dot;
            }
            x[i] = keep;
        }
        absa_test_fd("maxpool backward", nin, g, plus, minus, eps, tol);
        /* R-forward along Rx (|eps*Rx| << 0.01: argmax unchanged) */
        for (size_t o = 0; o < nout; o++) Ry[o] = NAN;
        absa_maxpool_rforward_f64(&c, am, Rx, Ry);
        double *xs = malloc(nin * sizeof(double));
        for (int sign = -1; sign <= 1; sign += 2) {
            for (size_t i = 0; i < nin; i++) xs[i] = x[i] + sign * eps * Rx[i];
            absa_maxpool_forward_f64(&c, xs, sign > 0 ? yp : ym, amp);
        }
        absa_test_fd("maxpool R-forward", nout, Ry, yp, ym, eps, tol);
        absa_maxpool_rforward_f64(&c, am, NULL, Ry);
        bad = 0;
        for (size_t o = 0; o < nout; o++) bad += Ry[o] != 0;
        CHECK(bad == 0, "R-forward with Rx NULL must be zero (%d nonzero)", bad);
        /* R-backward: backward(argmax, Rdy) against FD of (x, dy) -> backward(argmax(x), dy) */
        double *Rdy = r, *dy = malloc(nout * sizeof(double)), *dys = malloc(nout * sizeof(double));
        double *Rdx = calloc(nin, sizeof(double));
        for (size_t o = 0; o < nout; o++) dy[o] = absa_test_normal(&s);
        absa_maxpool_backward_f64(&c, am, Rdy, Rdx);
        for (int sign = -1; sign <= 1; sign += 2) {
            double *out = sign > 0 ? plus : minus;
            for (size_t i = 0; i < nin; i++) xs[i] = x[i] + sign * eps * Rx[i], out[i] = 0;
            for (size_t o = 0; o < nout; o++) dys[o] = dy[o] + sign * eps * Rdy[o];
            absa_maxpool_forward_f64(&c, xs, yp, amp);
            absa_maxpool_backward_f64(&c, amp, dys, out);
        }
        absa_test_fd("maxpool R-backward", nin, Rdx, plus, minus, eps, tol);
        /* accumulation: backward into a pre-filled buffer adds */
        for (size_t i = 0; i < nin; i++) plus[i] = minus[i] = 0.25 * (double)i;
        absa_maxpool_backward_f64(&c, am, dy, plus);
        absa_maxpool_backward_f64(&c, am, dy, minus);
        absa_maxpool_backward_f64(&c, am, dy, minus);
        memset(g, 0, nin * sizeof(double));
        absa_maxpool_backward_f64(&c, am, dy, g);
        bad = 0;
        for (size_t i = 0; i < nin; i++)
            bad += fabs(plus[i] - (0.25 * i + g[i])) > 1e-12 ||
                   fabs(minus[i] - (0.25 * i + 2 * g[i])) > 1e-12;
        CHECK(bad == 0, "maxpool backward must accumulate (%d wrong)", bad);
        absa_maxpool_backward_f64(&c, am, dy, NULL); /* NULL dx: skipped, must not crash */
        double *all[] = {r, g, plus, minus, Rx, Ry, yp, ym, xs, dy, dys, Rdx};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
        free(amp);
    }
    free(x), free(y), free(yr), free(am), free(amr), free(fx), free(fy), free(fam);
}

/* Ties, -inf-only windows and NaN. Expected values and indices were produced once with
 * /usr/bin/python3 (Debian torch 1.13, CPU):
 *   torch.nn.functional.max_pool2d(x, k, s, p, return_indices=True)
 * on the 1x2x5x5 input below, in float64 and float32 (identical results). */
static void test_torch_ties(void)
{
    const double I = INFINITY, Q = NAN;
    const double x[50] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
                          -I, -I, 1, 1, -2, -I, -I, 1, Q, -2, 3, 3, -I, -I, -I,
                          3, Q, -I, -I, Q, 0, 0, -I, -I, -I};
    struct {
        int k, s, p, nout;
        double y[18];
        int32_t idx[18];
    } cases[3] = {
        {2, 2, 0, 8, {1, 1, 2, 2, -I, Q, Q, -I}, {5, 7, 10, 12, 0, 8, 16, 12}},
        {3, 2, 0, 8, {2, 2, 2, 2, 3, Q, Q, Q}, {10, 12, 10, 12, 10, 8, 16, 19}},
        {3, 2, 1, 18, {1, 1, 1, 2, 2, 2, 1, 1, 1, -I, Q, Q, Q, Q, Q, Q, Q, Q},
         {5, 6, 8, 10, 11, 13, 20, 21, 23, 0, 8, 8, 16, 16, 19, 16, 16, 19}},
    };
    for (int t = 0; t < 3; t++) {
        absa_pool_cfg c;
        CHECK(absa_pool_cfg_init(&c, 1, 2, 5, 5, cases[t].k, cases[t].s, cases[t].p) == 0, "cfg");
        CHECK(2 * c.Ho * c.Wo == cases[t].nout, "torch case %d: output size %d", t,
              2 * c.Ho * c.Wo);
        double y[18];
        int32_t am[18];
        float fx[50], fy[18];
        int32_t fam[18];
        for (int i = 0; i < 50; i++) fx[i] = (float)x[i];
        absa_maxpool_forward_f64(&c, x, y, am);
        absa_maxpool_forward_f32(&c, fx, fy, fam);
        int bad = 0;
        for (int o = 0; o < cases[t].nout; o++) {
            double w = cases[t].y[o];
            int same = isnan(w) ? isnan(y[o]) && isnan(fy[o]) : y[o] == w && fy[o] == (float)w;
            if (!same || am[o] != cases[t].idx[o] || fam[o] != cases[t].idx[o]) {
                bad++;
                fprintf(stderr, "  k%d s%d p%d out %d: got %g @%d (f32 %g @%d), torch %g @%d\n",
                        cases[t].k, cases[t].s, cases[t].p, o, y[o], (int)am[o], fy[o],
                        (int)fam[o], w, (int)cases[t].idx[o]);
            }
        }
        CHECK(bad == 0, "torch tie case k%d s%d p%d: %d outputs differ", cases[t].k, cases[t].s,
              cases[t].p, bad);
        printf("  torch ties/-inf/NaN k%d s%d p%d: %d outputs compared\n", cases[t].k, cases[t].s,
               cases[t].p, cases[t].nout);
    }
}

/* The 2x2 stride-2 fast path (float, four windows per vector) against a scalar reference of the
 * documented semantics, bit for bit: inputs drawn from a small set full of ties, with +-0,
 * +-inf and NaN; widths that fill whole vectors, leave tails, or are odd (a column no window
 * covers); backward in set mode against zero-fill then scatter, in add mode against the scatter
 * into a buffer holding -0, NaN and ordinary values. */
static void test_pool22_exact(int N, int C, int H, int W, uint64_t seed)
{
    absa_pool_cfg c;
    CHECK(absa_pool_cfg_init(&c, N, C, H, W, 2, 2, 0) == 0, "cfg 2x2");
    const size_t nin = (size_t)N * C * H * W, nout = (size_t)N * C * c.Ho * c.Wo;
    const float pool[] = {-2.f, -1.f, -0.f, 0.f, 1.f, 2.f, INFINITY, -INFINITY, NAN, 0.5f};
    uint64_t s = seed;
    float *x = malloc(nin * sizeof(float)), *y = malloc(nout * sizeof(float)), *yr = malloc(nout * sizeof(float));
    int32_t *am = malloc(nout * sizeof(int32_t)), *amr = malloc(nout * sizeof(int32_t));
    for (size_t i = 0; i < nin; i++) {
        uint64_t r = absa_test_next(&s);
        x[i] = r % 3 == 0 ? (float)absa_test_normal(&s) : pool[(r >> 8) % (sizeof pool / sizeof pool[0])];
    }
    absa_maxpool_forward_f32(&c, x, y, am);
    for (int nc = 0; nc < N * C; nc++) /* reference: row-major scan, NaN or greater replaces */
        for (int oh = 0; oh < c.Ho; oh++)
            for (int ow = 0; ow < c.Wo; ow++) {
                const float *xp = x + (size_t)nc * H * W;
                int best = 2 * oh * W + 2 * ow;
                float m = xp[best];
                const int cand[3] = {best + 1, best + W, best + W + 1};
                for (int q = 0; q < 3; q++)
                    if (xp[cand[q]] > m || xp[cand[q]] != xp[cand[q]]) m = xp[cand[q]], best = cand[q];
                yr[((size_t)nc * c.Ho + oh) * c.Wo + ow] = m;
                amr[((size_t)nc * c.Ho + oh) * c.Wo + ow] = best;
            }
    CHECK(memcmp(y, yr, nout * sizeof(float)) == 0 && memcmp(am, amr, nout * sizeof(int32_t)) == 0,
          "2x2 fast path %dx%d: forward differs from the scalar reference", H, W);
    float *dy = malloc(nout * sizeof(float)), *got = malloc(nin * sizeof(float)), *want = malloc(nin * sizeof(float));
    for (size_t o = 0; o < nout; o++) {
        uint64_t r = absa_test_next(&s);
        dy[o] = r % 4 == 0 ? pool[(r >> 8) % (sizeof pool / sizeof pool[0])] : (float)absa_test_normal(&s);
    }
    for (int set = 0; set <= 1; set++) {
        for (size_t i = 0; i < nin; i++) { /* NaN poison (set) or -0, NaN and values to add to */
            uint64_t r = absa_test_next(&s);
            got[i] = want[i] = set ? NAN : r % 5 == 0 ? -0.f : r % 7 == 0 ? NAN : (float)(r % 97) - 48.f;
        }
        if (set) memset(want, 0, nin * sizeof(float));
        for (int nc = 0; nc < N * C; nc++)
            for (size_t o = 0; o < (size_t)c.Ho * c.Wo; o++)
                want[(size_t)nc * H * W + amr[(size_t)nc * c.Ho * c.Wo + o]] += dy[(size_t)nc * c.Ho * c.Wo + o];
        absa_maxpool_backward_ex_f32(&c, am, dy, got, set);
        CHECK(memcmp(got, want, nin * sizeof(float)) == 0, "2x2 fast path %dx%d: backward (%s) differs from the scatter",
              H, W, set ? "set" : "add");
    }
    printf("  2x2 fast path N%d C%d %dx%d: forward and backward (set, add) bitwise\n", N, C, H, W);
    free(x), free(y), free(yr), free(am), free(amr), free(dy), free(got), free(want);
}

int main(void)
{
    test_geometry();
    test_torch_ties();
    test_case(2, 3, 8, 8, 2, 2, 0, 1, 1);
    test_case(2, 3, 13, 13, 3, 2, 0, 2, 1);
    test_case(2, 3, 13, 13, 3, 2, 1, 3, 1);
    test_case(1, 2, 7, 9, 3, 2, 1, 4, 1);
    test_case(3, 2, 5, 5, 5, 1, 2, 5, 1);
    test_case(8, 16, 32, 32, 3, 2, 1, 6, 0); /* large enough for the OpenMP path */
    const int geo[][2] = {{28, 28}, {14, 14}, {7, 9}, {9, 7}, {16, 17}, {10, 10}, {2, 2}, {3, 5}, {2, 8},
                         {5, 66}, {34, 35}, {4, 32}}; /* rows of 33, 17 and 16 outputs: AVX-512 chunks and masks */
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) test_pool22_exact(2, 3, geo[g][0], geo[g][1], 40 + g);
    test_pool22_exact(64, 16, 28, 28, 99); /* the OpenMP path */
    return absa_test_finish("test_pool");
}
