/* test_linear.c — linear-layer kernels against independent oracles, for several shapes (N = 1 and
 * N > 1, in != out, bias / no bias):
 *  - forward (f64 and f32) against a naive triple loop y = x W^T + b;
 *  - backward: finite differences of <r, y> w.r.t. x, W, b along random directions, += accumulation
 *    into pre-filled gradients, NULL outputs skipped;
 *  - R-forward: finite differences of the forward map along (Rx, V, Vb), with and without Rx;
 *  - R-backward: finite differences of (x, W, dy) -> (dx, dW, db) along (Rx, V, Rdy), with and
 *    without Rx, accumulating;
 *  - float32 kernels agree with float64 ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

#define EPS 1e-5
#define FD_TOL 1e-6

static uint64_t rng_state = 777;

static double *vec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static double *rnd(size_t n)
{
    double *v = vec(n);
    for (size_t i = 0; i < n; i++) v[i] = absa_test_normal(&rng_state);
    return v;
}
static double *dup(size_t n, const double *a)
{
    double *v = vec(n);
    memcpy(v, a, n * sizeof(double));
    return v;
}
static double dot(size_t n, const double *a, const double *b)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static void axpy_to(size_t n, const double *a, double t, const double *b, double *out)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + (b ? t * b[i] : 0);
}
static double relerr(size_t n, const double *a, const double *b)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-300);
}
static void sub_pre(size_t n, double *a, const double *pre)
{
    for (size_t i = 0; i < n; i++) a[i] -= pre[i];
}
static float *tof(size_t n, const double *a)
{
    if (!a) return NULL;
    float *f = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = (float)a[i];
    return f;
}
static double relerr_f(size_t n, const float *a, const double *b)
{
    double *d = vec(n);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    double e = relerr(n, d, b);
    free(d);
    return e;
}

static void naive_linear(const absa_linear_cfg *c, const double *x, const double *W,
                         const double *b, double *y)
{
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->out; o++) {
            double s = (c->has_bias && b) ? b[o] : 0;
            for (int i = 0; i < c->in; i++)
                s += x[(size_t)n * c->in + i] * W[(size_t)o * c->in + i];
            y[(size_t)n * c->out + o] = s;
        }
}

static void fwd(const absa_linear_cfg *c, const double *x, const double *W, const double *b,
                double *y)
{
    for (size_t i = 0; i < (size_t)c->N * c->out; i++) y[i] = NAN; /* must be overwritten */
    absa_linear_forward_f64(c, x, W, b, y);
}

static void run(int N, int in, int out, int bias)
{
    absa_linear_cfg c = {N, in, out, bias};
    const size_t nx = (size_t)N * in, nw = (size_t)out * in, nb = (size_t)out, ny = (size_t)N * out;
    printf("linear N=%d in=%d out=%d bias=%d\n", N, in, out, bias);
    double *x = rnd(nx), *W = rnd(nw), *b = rnd(nb), *r = rnd(ny);
    double *Rx = rnd(nx), *V = rnd(nw), *Vb = rnd(nb), *Rdy = rnd(ny);
    double *y = vec(ny), *yo = vec(ny), *yp = vec(ny), *ym = vec(ny);
    double *xs = vec(nx), *Ws = vec(nw), *bs = vec(nb), *dys = vec(ny);

    fwd(&c, x, W, b, y);
    naive_linear(&c, x, W, bias ? b : NULL, yo);
    CHECK_REL(relerr(ny, y, yo), 0, 1e-13, 1.0, "forward f64 vs naive");

    /* backward: FD of <r, y> along random directions */
    double *dx = vec(nx), *dW = vec(nw), *db = vec(nb);
    absa_linear_backward_f64(&c, x, W, r, dx, dW, db);
    const size_t nu[3] = {nx, nw, nb};
    const char *names[3] = {"backward dx", "backward dW", "backward db"};
    const double *grads[3] = {dx, dW, db};
    for (int which = 0; which < (bias ? 3 : 2); which++) {
        double *u = rnd(nu[which]), lp, lm, an = dot(nu[which], grads[which], u);
        for (int sg = 1; sg >= -1; sg -= 2) {
            axpy_to(nx, x, sg * EPS, which == 0 ? u : NULL, xs);
            axpy_to(nw, W, sg * EPS, which == 1 ? u : NULL, Ws);
            axpy_to(nb, b, sg * EPS, which == 2 ? u : NULL, bs);
            fwd(&c, xs, Ws, bs, y);
            *(sg > 0 ? &lp : &lm) = dot(ny, r, y);
        }
        absa_test_fd(names[which], 1, &an, &lp, &lm, EPS, FD_TOL);
        free(u);
    }
    /* accumulation and NULL skipping */
    double *px = rnd(nx), *pW = rnd(nw), *pb = rnd(nb);
    double *ax = dup(nx, px), *aW = dup(nw, pW), *ab = dup(nb, pb);
    absa_linear_backward_f64(&c, x, W, r, ax, aW, ab);
    sub_pre(nx, ax, px);
    sub_pre(nw, aW, pW);
    sub_pre(nb, ab, pb);
    CHECK_REL(relerr(nx, ax, dx), 0, 1e-12, 1.0, "backward dx accumulates");
    CHECK_REL(relerr(nw, aW, dW), 0, 1e-12, 1.0, "backward dW accumulates");
    if (bias) CHECK_REL(relerr(nb, ab, db), 0, 1e-12, 1.0, "backward db accumulates");
    memcpy(aW, pW, nw * sizeof(double));
    absa_linear_backward_f64(&c, x, W, r, NULL, aW, NULL);
    sub_pre(nw, aW, pW);
    CHECK_REL(relerr(nw, aW, dW), 0, 1e-12, 1.0, "backward dW with dx = db = NULL");

    /* R-forward */
    double *Ry = vec(ny);
    for (int withRx = 1; withRx >= 0; withRx--) {
        const double *R = withRx ? Rx : NULL;
        for (size_t i = 0; i < ny; i++) Ry[i] = NAN;
        absa_linear_rforward_f64(&c, x, R, W, V, Vb, Ry);
        axpy_to(nx, x, EPS, R, xs);
        axpy_to(nw, W, EPS, V, Ws);
        axpy_to(nb, b, EPS, Vb, bs);
        fwd(&c, xs, Ws, bs, yp);
        axpy_to(nx, x, -EPS, R, xs);
        axpy_to(nw, W, -EPS, V, Ws);
        axpy_to(nb, b, -EPS, Vb, bs);
        fwd(&c, xs, Ws, bs, ym);
        absa_test_fd(withRx ? "rforward" : "rforward (Rx = NULL)", ny, Ry, yp, ym, EPS, FD_TOL);
    }

    /* R-backward */
    double *dxp = vec(nx), *dWp = vec(nw), *dbp = vec(nb);
    double *dxm = vec(nx), *dWm = vec(nw), *dbm = vec(nb);
    for (int withRx = 1; withRx >= 0; withRx--) {
        const double *R = withRx ? Rx : NULL;
        memcpy(ax, px, nx * sizeof(double));
        memcpy(aW, pW, nw * sizeof(double));
        memcpy(ab, pb, nb * sizeof(double));
        absa_linear_rbackward_f64(&c, x, R, W, V, r, Rdy, ax, aW, ab);
        sub_pre(nx, ax, px);
        sub_pre(nw, aW, pW);
        sub_pre(nb, ab, pb);
        memset(dxp, 0, nx * sizeof(double));
        memset(dWp, 0, nw * sizeof(double));
        memset(dbp, 0, nb * sizeof(double));
        memset(dxm, 0, nx * sizeof(double));
        memset(dWm, 0, nw * sizeof(double));
        memset(dbm, 0, nb * sizeof(double));
        axpy_to(nx, x, EPS, R, xs);
        axpy_to(nw, W, EPS, V, Ws);
        axpy_to(ny, r, EPS, Rdy, dys);
        absa_linear_backward_f64(&c, xs, Ws, dys, dxp, dWp, dbp);
        axpy_to(nx, x, -EPS, R, xs);
        axpy_to(nw, W, -EPS, V, Ws);
        axpy_to(ny, r, -EPS, Rdy, dys);
        absa_linear_backward_f64(&c, xs, Ws, dys, dxm, dWm, dbm);
        absa_test_fd(withRx ? "rbackward Rdx" : "rbackward Rdx (Rx = NULL)", nx, ax, dxp, dxm, EPS,
                     FD_TOL);
        absa_test_fd(withRx ? "rbackward RdW" : "rbackward RdW (Rx = NULL)", nw, aW, dWp, dWm, EPS,
                     FD_TOL);
        if (bias) absa_test_fd("rbackward Rdb", nb, ab, dbp, dbm, EPS, FD_TOL);
    }

    /* float32 agrees with float64 (the f64 R-backward is redone with Rx) */
    {
        float *fx = tof(nx, x), *fRx = tof(nx, Rx), *fW = tof(nw, W), *fV = tof(nw, V);
        float *fb = tof(nb, b), *fVb = tof(nb, Vb), *fr = tof(ny, r), *fRdy = tof(ny, Rdy);
        float *fy = calloc(ny, sizeof(float)), *fdx = calloc(nx, sizeof(float));
        float *fdW = calloc(nw, sizeof(float)), *fdb = calloc(nb, sizeof(float));
        absa_linear_forward_f32(&c, fx, fW, fb, fy);
        fwd(&c, x, W, b, y);
        CHECK_REL(relerr_f(ny, fy, y), 0, 1e-5, 1.0, "f32 forward");
        absa_linear_backward_f32(&c, fx, fW, fr, fdx, fdW, fdb);
        CHECK_REL(relerr_f(nx, fdx, dx), 0, 1e-5, 1.0, "f32 backward dx");
        CHECK_REL(relerr_f(nw, fdW, dW), 0, 1e-5, 1.0, "f32 backward dW");
        if (bias) CHECK_REL(relerr_f(nb, fdb, db), 0, 1e-5, 1.0, "f32 backward db");
        absa_linear_rforward_f32(&c, fx, fRx, fW, fV, fVb, fy);
        absa_linear_rforward_f64(&c, x, Rx, W, V, Vb, Ry);
        CHECK_REL(relerr_f(ny, fy, Ry), 0, 1e-5, 1.0, "f32 rforward");
        memset(fdx, 0, nx * sizeof(float));
        memset(fdW, 0, nw * sizeof(float));
        memset(fdb, 0, nb * sizeof(float));
        memset(ax, 0, nx * sizeof(double));
        memset(aW, 0, nw * sizeof(double));
        memset(ab, 0, nb * sizeof(double));
        absa_linear_rbackward_f32(&c, fx, fRx, fW, fV, fr, fRdy, fdx, fdW, fdb);
        absa_linear_rbackward_f64(&c, x, Rx, W, V, r, Rdy, ax, aW, ab);
        CHECK_REL(relerr_f(nx, fdx, ax), 0, 1e-5, 1.0, "f32 rbackward Rdx");
        CHECK_REL(relerr_f(nw, fdW, aW), 0, 1e-5, 1.0, "f32 rbackward RdW");
        if (bias) CHECK_REL(relerr_f(nb, fdb, ab), 0, 1e-5, 1.0, "f32 rbackward Rdb");
        free(fx); free(fRx); free(fW); free(fV); free(fb); free(fVb); free(fr); free(fRdy);
        free(fy); free(fdx); free(fdW); free(fdb);
    }

    free(x); free(W); free(b); free(r); free(Rx); free(V); free(Vb); free(Rdy);
    free(y); free(yo); free(yp); free(ym); free(xs); free(Ws); free(bs); free(dys);
    free(dx); free(dW); free(db); free(px); free(pW); free(pb); free(ax); free(aW); free(ab);
    free(Ry); free(dxp); free(dWp); free(dbp); free(dxm); free(dWm); free(dbm);
}

int main(void)
{
    run(1, 5, 3, 1);
    run(4, 7, 9, 1);
    run(3, 6, 2, 0);
    run(37, 300, 10, 1); /* bias sums over many rows, in > out */
    return absa_test_finish("test_linear");
}
