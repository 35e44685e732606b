/* test_pointwise.c — ReLU, residual add and global average pool (src/engine/cpu/pointwise.c):
 *  - ReLU: forward closed form (0 at x <= 0, NaN passes as torch.relu), the derivative at 0 is
 *    0 (PyTorch), backward by FD of <r, relu(x)>, R-forward by FD of the forward along Rx,
 *    R-backward by FD of the backward map (x, dy) -> mask(x)*dy along (Rx, Rdy), with inputs
 *    kept >= 0.01 away from the kink; accumulation, NULL handling, float32 = float64;
 *  - add: closed form, backward adds dy to both (also when both outputs are one buffer);
 *  - average pool: naive mean, backward by FD of <r, avgpool(x)>, accumulation, float32;
 *  - sizes both below and above the OpenMP threshold. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

static double *dvec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* random values with |x| >= 0.01 (ReLU is smooth there for steps below 0.01), a few exact 0 */
static void fill_relu_input(uint64_t *s, size_t n, double *x)
{
    for (size_t i = 0; i < n; i++) {
        double v = absa_test_normal(s);
        x[i] = v >= 0 ? v + 0.01 : v - 0.01;
    }
}

static void test_relu(size_t n, uint64_t seed)
{
    uint64_t s = seed;
    const double eps = 1e-4, tol = 1e-9; /* piecewise linear: FD exact up to rounding */
    double *x = dvec(n), *y = dvec(n), *dy = dvec(n), *dx = dvec(n), *Rx = dvec(n), *Ry = dvec(n);
    double *Rdy = dvec(n), *Rdx = dvec(n), *plus = dvec(n), *minus = dvec(n), *xs = dvec(n);
    fill_relu_input(&s, n, x);
    for (size_t i = 0; i < n; i++) {
        dy[i] = absa_test_normal(&s);
        Rx[i] = absa_test_normal(&s);
        Rdy[i] = absa_test_normal(&s);
    }
    printf(" relu n=%zu\n", n);
    /* forward closed form */
    absa_relu_forward_f64(n, x, y);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != (x[i] > 0 ? x[i] : 0.0);
    CHECK(bad == 0, "relu forward: %d wrong", bad);
    /* backward: gradient of <dy, relu(x)> coordinate by coordinate (separable: one sweep of
     * x + eps*e_i for all i at once is the same as n separate sweeps) */
    absa_relu_backward_f64(n, x, dy, dx);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (size_t i = 0; i < n; i++) xs[i] = x[i] + sign * eps;
        absa_relu_forward_f64(n, xs, y);
        for (size_t i = 0; i < n; i++) (sign > 0 ? plus : minus)[i] = dy[i] * y[i];
    }
    absa_test_fd("relu backward (per coordinate)", n, dx, plus, minus, eps, tol);
    /* R-forward along Rx (|eps*Rx| < 0.01 keeps every sign) */
    for (size_t i = 0; i < n; i++) Ry[i] = NAN;
    absa_relu_rforward_f64(n, x, Rx, Ry);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (size_t i = 0; i < n; i++) xs[i] = x[i] + sign * eps * Rx[i];
        absa_relu_forward_f64(n, xs, sign > 0 ? plus : minus);
    }
    absa_test_fd("relu R-forward", n, Ry, plus, minus, eps, tol);
    /* R-backward against FD of the backward map along (Rx, Rdy) */
    absa_relu_rbackward_f64(n, x, Rdy, Rdx);
    for (int sign = -1; sign <= 1; sign += 2) {
        double *out = sign > 0 ? plus : minus, *dys = y;
        for (size_t i = 0; i < n; i++) {
            xs[i] = x[i] + sign * eps * Rx[i];
            dys[i] = dy[i] + sign * eps * Rdy[i];
            out[i] = 0;
        }
        absa_relu_backward_f64(n, xs, dys, out);
    }
    absa_test_fd("relu R-backward", n, Rdx, plus, minus, eps, tol);
    /* accumulation: a second backward / R-backward doubles */
    memcpy(plus, dx, n * sizeof(double));
    absa_relu_backward_f64(n, x, dy, plus);
    memcpy(minus, Rdx, n * sizeof(double));
    absa_relu_rbackward_f64(n, x, Rdy, minus);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += plus[i] != 2 * dx[i] || minus[i] != 2 * Rdx[i];
    CHECK(bad == 0, "relu backward/R-backward must accumulate (%d wrong)", bad);
    absa_relu_backward_f64(n, x, dy, NULL); /* skipped */
    /* Rx NULL = zero, Ry overwritten */
    for (size_t i = 0; i < n; i++) Ry[i] = 7;
    absa_relu_rforward_f64(n, x, NULL, Ry);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += Ry[i] != 0;
    CHECK(bad == 0, "relu R-forward with Rx NULL must be zero (%d nonzero)", bad);
    /* float32 == float64 exactly (mask and copy) */
    float *fx = malloc(n * sizeof(float)), *fy = malloc(n * sizeof(float));
    float *fdy = malloc(n * sizeof(float)), *fdx = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) fx[i] = (float)x[i], fdy[i] = (float)dy[i];
    absa_relu_forward_f32(n, fx, fy);
    absa_relu_backward_f32(n, fx, fdy, fdx);
    bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += fy[i] != (float)(x[i] > 0 ? x[i] : 0) || fdx[i] != (float)dx[i];
    CHECK(bad == 0, "relu f32 differs from f64 (%d)", bad);
    free(fx), free(fy), free(fdy), free(fdx);
    double *all[] = {x, y, dy, dx, Rx, Ry, Rdy, Rdx, plus, minus, xs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* the kink and NaN: PyTorch gives relu(0) = 0 with gradient 0, relu(NaN) = NaN with the
 * gradient passed (values checked with /usr/bin/python3, Debian torch 1.13) */
static void test_relu_special(void)
{
    const double x[5] = {0.0, -0.0, NAN, -1e-300, 1e-300};
    const double dy[5] = {3, 3, 3, 3, 3};
    double y[5], dx[5] = {0}, Ry[5], Rdx[5] = {0};
    absa_relu_forward_f64(5, x, y);
    absa_relu_backward_f64(5, x, dy, dx);
    absa_relu_rforward_f64(5, x, dy, Ry);
    absa_relu_rbackward_f64(5, x, dy, Rdx);
    CHECK(y[0] == 0 && y[1] == 0 && isnan(y[2]) && y[3] == 0 && y[4] == 1e-300,
          "relu special forward: %g %g %g %g %g", y[0], y[1], y[2], y[3], y[4]);
    for (int i = 0; i < 5; i++) {
        double want = (i == 2 || i == 4) ? 3 : 0;
        CHECK(dx[i] == want && Ry[i] == want && Rdx[i] == want,
              "relu special %d: dx %g Ry %g Rdx %g want %g", i, dx[i], Ry[i], Rdx[i], want);
    }
    float fx[2] = {0.0f, NAN}, fy[2], fdx[2] = {0, 0}, fdy[2] = {1, 1};
    absa_relu_forward_f32(2, fx, fy);
    absa_relu_backward_f32(2, fx, fdy, fdx);
    CHECK(fy[0] == 0 && isnan(fy[1]) && fdx[0] == 0 && fdx[1] == 1, "relu f32 special");
}

static void test_add(size_t n, uint64_t seed)
{
    uint64_t s = seed;
    double *a = dvec(n), *b = dvec(n), *y = dvec(n), *dy = dvec(n), *da = dvec(n), *db = dvec(n);
    for (size_t i = 0; i < n; i++) {
        a[i] = absa_test_normal(&s);
        b[i] = absa_test_normal(&s);
        dy[i] = absa_test_normal(&s);
        da[i] = 0.5 * (double)i;
        db[i] = -1.0 * (double)i;
    }
    absa_add_forward_f64(n, a, b, y);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != a[i] + b[i];
    CHECK(bad == 0, "add forward n=%zu: %d wrong", n, bad);
    absa_add_backward_f64(n, dy, da, db);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += da[i] != 0.5 * i + dy[i] || db[i] != -1.0 * i + dy[i];
    CHECK(bad == 0, "add backward n=%zu must add dy to both (%d wrong)", n, bad);
    /* one tensor feeding both operands: the same buffer receives 2*dy */
    memset(da, 0, n * sizeof(double));
    absa_add_backward_f64(n, dy, da, da);
    absa_add_backward_f64(n, dy, NULL, da);
    absa_add_backward_f64(n, dy, NULL, NULL);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += da[i] != 3 * dy[i];
    CHECK(bad == 0, "add backward aliased/NULL n=%zu (%d wrong)", n, bad);
    /* in place y = a + b into a */
    memcpy(y, a, n * sizeof(double));
    absa_add_forward_f64(n, y, b, y);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != a[i] + b[i];
    CHECK(bad == 0, "add forward in place (%d wrong)", bad);
    float fa[3] = {1.5f, -2, 0.25f}, fb[3] = {0.5f, 4, -0.25f}, fy[3], fd[3] = {1, 1, 1};
    absa_add_forward_f32(3, fa, fb, fy);
    absa_add_backward_f32(3, fa, fd, NULL);
    CHECK(fy[0] == 2 && fy[1] == 2 && fy[2] == 0 && fd[0] == 2.5f && fd[1] == -1 && fd[2] == 1.25f,
          "add f32");
    printf(" add n=%zu checked\n", n);
    double *all[] = {a, b, y, dy, da, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void test_avgpool(int N, int C, int HW, uint64_t seed, int do_fd)
{
    uint64_t s = seed;
    size_t nin = (size_t)N * C * HW, nout = (size_t)N * C;
    double *x = dvec(nin), *y = dvec(nout), *r = dvec(nout), *g = dvec(nin);
    for (size_t i = 0; i < nin; i++) x[i] = 1.5 + absa_test_normal(&s);
    for (size_t i = 0; i < nout; i++) r[i] = absa_test_normal(&s);
    absa_avgpool_forward_f64(N, C, HW, x, y);
    double err = 0;
    for (size_t o = 0; o < nout; o++) {
        double sum = 0;
        for (int i = 0; i < HW; i++) sum += x[o * HW + i];
        err = fmax(err, fabs(y[o] - sum / HW));
    }
    CHECK(err <= 1e-14, "avgpool forward N%d C%d HW%d: max err %.3g", N, C, HW, err);
    printf(" avgpool N%d C%d HW%d: forward max err %.3g\n", N, C, HW, err);
    absa_avgpool_backward_f64(N, C, HW, r, g);
    if (do_fd) {
        const double eps = 1e-5;
        double *plus = dvec(nin), *minus = dvec(nin), *yy = dvec(nout);
        for (size_t i = 0; i < nin; i++) {
            double keep = x[i];
            for (int sign = -1; sign <= 1; sign += 2) {
                x[i] = keep + sign * eps;
                absa_avgpool_forward_f64(N, C, HW, x, yy);
                double dot = 0;
                for (size_t o = 0; o < nout; o++) dot += r[o] * yy[o];
                (sign > 0 ? plus : minus)[i] = dot;
            }
            x[i] = keep;
        }
        absa_test_fd("avgpool backward", nin, g, plus, minus, eps, 1e-8);
        free(plus), free(minus), free(yy);
    }
    /* accumulation */
    double *acc = dvec(nin);
    for (size_t i = 0; i < nin; i++) acc[i] = 0.125 * (double)i;
    absa_avgpool_backward_f64(N, C, HW, r, acc);
    int bad = 0;
    for (size_t i = 0; i < nin; i++) bad += fabs(acc[i] - (0.125 * i + g[i])) > 1e-12;
    CHECK(bad == 0, "avgpool backward must accumulate (%d wrong)", bad);
    absa_avgpool_backward_f64(N, C, HW, r, NULL);
    /* float32 vs float64 */
    float *fx = malloc(nin * sizeof(float)), *fy = malloc(nout * sizeof(float));
    float *fr = malloc(nout * sizeof(float)), *fg = calloc(nin, sizeof(float));
    for (size_t i = 0; i < nin; i++) fx[i] = (float)x[i];
    for (size_t o = 0; o < nout; o++) fr[o] = (float)r[o];
    absa_avgpool_forward_f32(N, C, HW, fx, fy);
    absa_avgpool_backward_f32(N, C, HW, fr, fg);
    double e1 = 0, e2 = 0;
    for (size_t o = 0; o < nout; o++) e1 = fmax(e1, fabs(fy[o] - y[o]) / fmax(fabs(y[o]), 1e-3));
    for (size_t i = 0; i < nin; i++) e2 = fmax(e2, fabs(fg[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
    CHECK(e1 <= 1e-6 && e2 <= 1e-6, "avgpool f32 vs f64: forward %.3g backward %.3g", e1, e2);
    free(fx), free(fy), free(fr), free(fg), free(acc);
    free(x), free(y), free(r), free(g);
}

int main(void)
{
    test_relu_special();
    test_relu(1000, 1);
    test_relu(100003, 2); /* above the OpenMP threshold */
    test_add(17, 3);
    test_add(70001, 4);
    test_avgpool(3, 4, 7, 5, 1);
    test_avgpool(2, 3, 1, 6, 1);
    test_avgpool(16, 64, 64, 7, 0); /* OpenMP path, forward/accumulate/f32 only */
    return absa_test_finish("test_pointwise");
}
