/* test_conv.c — conv2d kernels against independent oracles, for many geometries (k = 1, 3, 5;
 * stride 1, 2, 3; padding 0..2; non-square inputs; bias / no bias; N = 1 and N > 1; C != O; an odd
 * number of samples shared by the threads):
 *  - forward (f64 and f32) against a naive direct convolution;
 *  - backward: finite differences of the scalar loss <r, y> w.r.t. x, W, b along random directions,
 *    += accumulation into pre-filled gradients, NULL outputs skipped without changing the others;
 *  - R-forward: finite differences of the forward map along (Rx, V, Vb), with and without Rx;
 *  - R-backward: finite differences of the backward map (x, W, dy) -> (dx, dW, db) along
 *    (Rx, V, Rdy), with and without Rx, accumulating;
 *  - float32 kernels agree with float64 ones, on one thread and on two (the samples are split
 *    between threads and the dW/db partials of the threads are summed), including +=
 *    accumulation, NULL outputs and Rx = NULL;
 *  - the Winograd F(2x2, 3x3) path (3x3 stride 1, C, O >= 8) on every one of these checks, with odd
 *    output sizes (partial tiles), padding 0..2, planes of 2-9 tiles per row and groups of samples;
 *    its float32 check is also run with ABSA_CONV_WINO=0 (the patch-matrix engine on the same
 *    geometry);
 *  - the direct path (conv_direct.h: float32 on the FMA CPU paths; 3x3 padding 1 at stride 1 or 2
 *    and 1x1 stride 2, except Winograd's layers other than 16 -> 16) on every one of these checks
 *    for the geometries it takes (the stride-2 and 1x1 ones above, the few-channel 3x3 ones, the
 *    16 -> 16 ones below), with rows shorter than, equal to and past its row blocks, flat runs,
 *    odd sizes (uneven parity phases), and its float32 check also with ABSA_CONV_DIRECT=0 (the
 *    engine the baseline path runs on the same geometry);
 *  - absa_conv_cfg_init output sizes and rejection of impossible geometry.
 * The workspace and every overwritten output are pre-filled with NaN so a kernel that reads stale
 * memory fails loudly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "absa_test.h"
#include "conv_path.h"
#include "layers.h"

#define EPS 1e-5
#define FD_TOL 1e-6

typedef struct geo { int N, C, H, W, O, k, s, p, bias; } geo;

typedef struct sizes { size_t nx, nw, nb, ny, nws; } sizes;

static uint64_t rng_state = 12345;

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
static void nanfill(size_t n, double *a)
{
    for (size_t i = 0; i < n; i++) a[i] = NAN;
}
static double dot(size_t n, const double *a, const double *b)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
/* out = a + t*b (b may be NULL = 0) */
static void axpy_to(size_t n, const double *a, double t, const double *b, double *out)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + (b ? t * b[i] : 0);
}
/* ||a - b|| / max(||b||, 1e-300) */
static double relerr(size_t n, const double *a, const double *b)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-300);
}

/* ---- the oracle: a direct convolution in double ---- */
static void naive_conv(const absa_conv_cfg *c, const double *x, const double *W, const double *b,
                       double *y)
{
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->O; o++)
            for (int oh = 0; oh < c->Ho; oh++)
                for (int ow = 0; ow < c->Wo; ow++) {
                    double s = (c->has_bias && b) ? b[o] : 0;
                    for (int ch = 0; ch < c->C; ch++)
                        for (int i = 0; i < c->kh; i++)
                            for (int j = 0; j < c->kw; j++) {
                                int ih = oh * c->sh - c->ph + i, iw = ow * c->sw - c->pw + j;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                s += x[((size_t)(n * c->C + ch) * c->H + ih) * c->W + iw] *
                                     W[((size_t)(o * c->C + ch) * c->kh + i) * c->kw + j];
                            }
                    y[((size_t)(n * c->O + o) * c->Ho + oh) * c->Wo + ow] = s;
                }
}

/* ---- f64 kernel calls with a fresh NaN-filled workspace of exactly the advertised size ---- */
static void fwd64(const absa_conv_cfg *c, const sizes *z, const double *x, const double *W,
                  const double *b, double *y)
{
    double *ws = vec(z->nws);
    nanfill(z->nws, ws);
    nanfill(z->ny, y);
    absa_conv2d_forward_f64(c, x, W, b, y, ws);
    free(ws);
}
static void bwd64(const absa_conv_cfg *c, const sizes *z, const double *x, const double *W,
                  const double *dy, double *dx, double *dW, double *db)
{
    double *ws = vec(z->nws);
    nanfill(z->nws, ws);
    absa_conv2d_backward_f64(c, x, W, dy, dx, dW, db, ws);
    free(ws);
}

/* ---- float32 runs of all four passes, returned in double ---- */
static float *tof(size_t n, const double *a)
{
    if (!a) return NULL;
    float *f = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = (float)a[i];
    return f;
}

static void fnan(size_t n, float *a)
{
    for (size_t i = 0; i < n; i++) a[i] = NAN;
}
/* ||(a - pre) - b|| / ||b|| for float a, pre (pre may be NULL = 0) against double b */
static double relerr_f(size_t n, const float *a, const float *pre, const double *b)
{
    double *d = vec(n);
    for (size_t i = 0; i < n; i++) d[i] = (double)a[i] - (pre ? (double)pre[i] : 0.0);
    double e = relerr(n, d, b);
    free(d);
    return e;
}

/* The float32 kernels (whichever engine `engine` names) against the float64 ones on the same
 * data: forward overwrite, += accumulation into pre-filled gradients, NULL outputs, Rx = NULL. */
static void check_f32(const absa_conv_cfg *c, const sizes *z, const double *x, const double *Rx,
                      const double *W, const double *V, const double *b, const double *Vb,
                      const double *dy, const double *Rdy, const char *engine)
{
    float *fx = tof(z->nx, x), *fRx = tof(z->nx, Rx), *fW = tof(z->nw, W), *fV = tof(z->nw, V);
    float *fb = tof(z->nb, b), *fVb = tof(z->nb, Vb), *fdy = tof(z->ny, dy);
    float *fRdy = tof(z->ny, Rdy);
    float *fws = malloc((z->nws ? z->nws : 1) * sizeof(float)), *fy = malloc(z->ny * sizeof(float));
    /* random pre-fills for the accumulating outputs, and working copies */
    double *r1 = rnd(z->nx), *r2 = rnd(z->nw), *r3 = rnd(z->nb);
    float *px = tof(z->nx, r1), *pW = tof(z->nw, r2), *pb = tof(z->nb, r3);
    float *gx = malloc(z->nx * sizeof(float)), *gW = malloc(z->nw * sizeof(float));
    float *gb = malloc((z->nb ? z->nb : 1) * sizeof(float));
    double *y64 = vec(z->ny), *dx64 = vec(z->nx), *dW64 = vec(z->nw), *db64 = vec(z->nb);
    double *ws = vec(z->nws);
    char what[160];
#define RESET()                                                                                    \
    do {                                                                                           \
        memcpy(gx, px, z->nx * sizeof(float));                                                     \
        memcpy(gW, pW, z->nw * sizeof(float));                                                     \
        memcpy(gb, pb, z->nb * sizeof(float));                                                     \
        memset(dx64, 0, z->nx * sizeof(double));                                                   \
        memset(dW64, 0, z->nw * sizeof(double));                                                   \
        memset(db64, 0, z->nb * sizeof(double));                                                   \
        fnan(z->nws, fws);                                                                         \
    } while (0)
#define CMP(n, got, pre, want, name)                                                               \
    do {                                                                                           \
        snprintf(what, sizeof what, "%.20s f32 vs f64: %.100s", engine, name);                     \
        CHECK_REL(relerr_f((n), (got), (pre), (want)), 0, 1e-5, 1.0, what);                        \
    } while (0)

    fnan(z->nws, fws);
    fnan(z->ny, fy);
    absa_conv2d_forward_f32(c, fx, fW, fb, fy, fws);
    fwd64(c, z, x, W, b, y64);
    CMP(z->ny, fy, NULL, y64, "forward");

    RESET();
    absa_conv2d_backward_f32(c, fx, fW, fdy, gx, gW, gb, fws);
    bwd64(c, z, x, W, dy, dx64, dW64, db64);
    CMP(z->nx, gx, px, dx64, "backward dx (+=)");
    CMP(z->nw, gW, pW, dW64, "backward dW (+=)");
    if (c->has_bias) CMP(z->nb, gb, pb, db64, "backward db (+=)");
    RESET();
    bwd64(c, z, x, W, dy, dx64, dW64, db64);
    absa_conv2d_backward_f32(c, fx, fW, fdy, NULL, gW, NULL, fws);
    CMP(z->nw, gW, pW, dW64, "backward dW (dx = db = NULL)");
    fnan(z->nws, fws);
    absa_conv2d_backward_f32(c, fx, fW, fdy, gx, NULL, NULL, fws);
    CMP(z->nx, gx, px, dx64, "backward dx (dW = db = NULL)");

    for (int withRx = 1; withRx >= 0; withRx--) {
        const double *R = withRx ? Rx : NULL;
        const float *fR = withRx ? fRx : NULL;
        const char *tag = withRx ? "" : " (Rx = NULL)";
        fnan(z->nws, fws);
        fnan(z->ny, fy);
        absa_conv2d_rforward_f32(c, fx, fR, fW, fV, fVb, fy, fws);
        absa_conv2d_rforward_f64(c, x, R, W, V, Vb, y64, ws);
        char nm[64];
        snprintf(nm, sizeof nm, "rforward%s", tag);
        CMP(z->ny, fy, NULL, y64, nm);
        RESET();
        absa_conv2d_rbackward_f32(c, fx, fR, fW, fV, fdy, fRdy, gx, gW, gb, fws);
        absa_conv2d_rbackward_f64(c, x, R, W, V, dy, Rdy, dx64, dW64, db64, ws);
        snprintf(nm, sizeof nm, "rbackward Rdx (+=)%s", tag);
        CMP(z->nx, gx, px, dx64, nm);
        snprintf(nm, sizeof nm, "rbackward RdW (+=)%s", tag);
        CMP(z->nw, gW, pW, dW64, nm);
        if (c->has_bias) {
            snprintf(nm, sizeof nm, "rbackward Rdb (+=)%s", tag);
            CMP(z->nb, gb, pb, db64, nm);
        }
        memcpy(gW, pW, z->nw * sizeof(float));
        fnan(z->nws, fws);
        absa_conv2d_rbackward_f32(c, fx, fR, fW, fV, fdy, fRdy, NULL, gW, NULL, fws);
        CMP(z->nw, gW, pW, dW64, "rbackward RdW (Rdx = Rdb = NULL)");
        memcpy(gx, px, z->nx * sizeof(float));
        fnan(z->nws, fws);
        absa_conv2d_rbackward_f32(c, fx, fR, fW, fV, fdy, fRdy, gx, NULL, NULL, fws);
        CMP(z->nx, gx, px, dx64, "rbackward Rdx (RdW = Rdb = NULL)");
    }
#undef RESET
#undef CMP
    free(fx); free(fRx); free(fW); free(fV); free(fb); free(fVb); free(fdy); free(fRdy);
    free(fws); free(fy); free(r1); free(r2); free(r3); free(px); free(pW); free(pb);
    free(gx); free(gW); free(gb); free(y64); free(dx64); free(dW64); free(db64); free(ws);
}

/* FD of the scalar loss <r, y(x + t ux, W + t uW, b + t ub)> at t = 0 (n = 1 vectors). */
static void fd_loss(const absa_conv_cfg *c, const sizes *z, const double *x, const double *W,
                    const double *b, const double *r, const double *ux, const double *uW,
                    const double *ub, double analytic, const char *what)
{
    double *xs = vec(z->nx), *Ws = vec(z->nw), *bs = vec(z->nb), *y = vec(z->ny);
    double lp, lm;
    axpy_to(z->nx, x, EPS, ux, xs);
    axpy_to(z->nw, W, EPS, uW, Ws);
    axpy_to(z->nb, b, EPS, ub, bs);
    fwd64(c, z, xs, Ws, bs, y);
    lp = dot(z->ny, r, y);
    axpy_to(z->nx, x, -EPS, ux, xs);
    axpy_to(z->nw, W, -EPS, uW, Ws);
    axpy_to(z->nb, b, -EPS, ub, bs);
    fwd64(c, z, xs, Ws, bs, y);
    lm = dot(z->ny, r, y);
    absa_test_fd(what, 1, &analytic, &lp, &lm, EPS, FD_TOL);
    free(xs); free(Ws); free(bs); free(y);
}

static void check_accum(size_t n, const double *pre, const double *after, const double *fresh,
                        const char *what)
{
    double *d = vec(n);
    for (size_t i = 0; i < n; i++) d[i] = after[i] - pre[i];
    CHECK_REL(relerr(n, d, fresh), 0, 1e-12, 1.0, what);
    free(d);
}

static void run_geo(const geo *g)
{
    absa_conv_cfg c;
    int rc = absa_conv_cfg_init(&c, g->N, g->C, g->H, g->W, g->O, g->k, g->s, g->p, g->bias);
    CHECK(rc == 0, "cfg_init failed");
    if (rc) return;
    sizes z = {(size_t)g->N * g->C * g->H * g->W, (size_t)g->O * g->C * g->k * g->k, (size_t)g->O,
               (size_t)g->N * g->O * c.Ho * c.Wo, absa_conv_workspace(&c)};
    printf("geometry N=%d C=%d %dx%d O=%d k=%d s=%d p=%d bias=%d -> %dx%d ws=%zu\n", g->N, g->C,
           g->H, g->W, g->O, g->k, g->s, g->p, g->bias, c.Ho, c.Wo, z.nws);
    double *x = rnd(z.nx), *W = rnd(z.nw), *b = rnd(z.nb), *r = rnd(z.ny);
    double *Rx = rnd(z.nx), *V = rnd(z.nw), *Vb = rnd(z.nb), *Rdy = rnd(z.ny);
    double *y = vec(z.ny), *yo = vec(z.ny);
    const double *bb = g->bias ? b : NULL;

    /* forward vs naive */
    fwd64(&c, &z, x, W, b, y);
    naive_conv(&c, x, W, bb, yo);
    CHECK_REL(relerr(z.ny, y, yo), 0, 1e-13, 1.0, "forward f64 vs direct convolution");

    /* backward: FD of <r, y> along random directions, and accumulation */
    double *dx = vec(z.nx), *dW = vec(z.nw), *db = vec(z.nb);
    bwd64(&c, &z, x, W, r, dx, dW, db);
    double *ux = rnd(z.nx), *uW = rnd(z.nw), *ub = rnd(z.nb);
    fd_loss(&c, &z, x, W, b, r, ux, NULL, NULL, dot(z.nx, dx, ux), "backward dx");
    fd_loss(&c, &z, x, W, b, r, NULL, uW, NULL, dot(z.nw, dW, uW), "backward dW");
    if (g->bias) fd_loss(&c, &z, x, W, b, r, NULL, NULL, ub, dot(z.nb, db, ub), "backward db");
    double *px = rnd(z.nx), *pW = rnd(z.nw), *pb = rnd(z.nb);
    double *ax = dup(z.nx, px), *aW = dup(z.nw, pW), *ab = dup(z.nb, pb);
    bwd64(&c, &z, x, W, r, ax, aW, ab);
    check_accum(z.nx, px, ax, dx, "backward dx accumulates");
    check_accum(z.nw, pW, aW, dW, "backward dW accumulates");
    if (g->bias) check_accum(z.nb, pb, ab, db, "backward db accumulates");
    /* NULL outputs are skipped and do not change the others */
    memcpy(aW, pW, z.nw * sizeof(double));
    bwd64(&c, &z, x, W, r, NULL, aW, NULL);
    check_accum(z.nw, pW, aW, dW, "backward dW with dx = db = NULL");
    memcpy(ax, px, z.nx * sizeof(double));
    memcpy(ab, pb, z.nb * sizeof(double));
    bwd64(&c, &z, x, W, r, ax, NULL, ab);
    check_accum(z.nx, px, ax, dx, "backward dx with dW = NULL");
    if (g->bias) {
        check_accum(z.nb, pb, ab, db, "backward db with dW = NULL");
        memcpy(ab, pb, z.nb * sizeof(double));
        bwd64(&c, &z, x, W, r, NULL, NULL, ab);
        check_accum(z.nb, pb, ab, db, "backward db only");
    }

    /* R-forward: FD of the forward map along (Rx, V, Vb), then with Rx = NULL */
    double *ws = vec(z.nws), *Ry = vec(z.ny), *yp = vec(z.ny), *ym = vec(z.ny);
    double *xs = vec(z.nx), *Ws = vec(z.nw), *bs = vec(z.nb);
    for (int withRx = 1; withRx >= 0; withRx--) {
        const double *R = withRx ? Rx : NULL;
        nanfill(z.nws, ws);
        nanfill(z.ny, Ry);
        absa_conv2d_rforward_f64(&c, x, R, W, V, Vb, Ry, ws);
        axpy_to(z.nx, x, EPS, R, xs);
        axpy_to(z.nw, W, EPS, V, Ws);
        axpy_to(z.nb, b, EPS, Vb, bs);
        fwd64(&c, &z, xs, Ws, bs, yp);
        axpy_to(z.nx, x, -EPS, R, xs);
        axpy_to(z.nw, W, -EPS, V, Ws);
        axpy_to(z.nb, b, -EPS, Vb, bs);
        fwd64(&c, &z, xs, Ws, bs, ym);
        absa_test_fd(withRx ? "rforward (Rx, V, Vb)" : "rforward (Rx = NULL, V, Vb)", z.ny, Ry, yp,
                     ym, EPS, FD_TOL);
    }

    /* R-backward: FD of (x, W, dy) -> (dx, dW, db) along (Rx, V, Rdy), accumulating */
    double *dxp = vec(z.nx), *dWp = vec(z.nw), *dbp = vec(z.nb);
    double *dxm = vec(z.nx), *dWm = vec(z.nw), *dbm = vec(z.nb), *dys = vec(z.ny);
    for (int withRx = 1; withRx >= 0; withRx--) {
        const double *R = withRx ? Rx : NULL;
        memcpy(ax, px, z.nx * sizeof(double));
        memcpy(aW, pW, z.nw * sizeof(double));
        memcpy(ab, pb, z.nb * sizeof(double));
        nanfill(z.nws, ws);
        absa_conv2d_rbackward_f64(&c, x, R, W, V, r, Rdy, ax, aW, ab, ws);
        for (size_t i = 0; i < z.nx; i++) ax[i] -= px[i];
        for (size_t i = 0; i < z.nw; i++) aW[i] -= pW[i];
        for (size_t i = 0; i < z.nb; i++) ab[i] -= pb[i];
        memset(dxp, 0, z.nx * sizeof(double));
        memset(dWp, 0, z.nw * sizeof(double));
        memset(dbp, 0, z.nb * sizeof(double));
        memset(dxm, 0, z.nx * sizeof(double));
        memset(dWm, 0, z.nw * sizeof(double));
        memset(dbm, 0, z.nb * sizeof(double));
        axpy_to(z.nx, x, EPS, R, xs);
        axpy_to(z.nw, W, EPS, V, Ws);
        axpy_to(z.ny, r, EPS, Rdy, dys);
        bwd64(&c, &z, xs, Ws, dys, dxp, dWp, dbp);
        axpy_to(z.nx, x, -EPS, R, xs);
        axpy_to(z.nw, W, -EPS, V, Ws);
        axpy_to(z.ny, r, -EPS, Rdy, dys);
        bwd64(&c, &z, xs, Ws, dys, dxm, dWm, dbm);
        absa_test_fd(withRx ? "rbackward Rdx" : "rbackward Rdx (Rx = NULL)", z.nx, ax, dxp, dxm,
                     EPS, FD_TOL);
        absa_test_fd(withRx ? "rbackward RdW" : "rbackward RdW (Rx = NULL)", z.nw, aW, dWp, dWm,
                     EPS, FD_TOL);
        if (g->bias) absa_test_fd("rbackward Rdb", z.nb, ab, dbp, dbm, EPS, FD_TOL);
        /* NULL Rdx/Rdb skipped, RdW unchanged */
        double *aW2 = dup(z.nw, pW);
        nanfill(z.nws, ws);
        absa_conv2d_rbackward_f64(&c, x, R, W, V, r, Rdy, NULL, aW2, NULL, ws);
        check_accum(z.nw, pW, aW2, aW, "rbackward RdW with Rdx = Rdb = NULL");
        free(aW2);
        double *ax2 = dup(z.nx, px);
        nanfill(z.nws, ws);
        absa_conv2d_rbackward_f64(&c, x, R, W, V, r, Rdy, ax2, NULL, NULL, ws);
        check_accum(z.nx, px, ax2, ax, "rbackward Rdx with RdW = NULL");
        free(ax2);
    }

    /* float32 on one thread and on two (samples split, per-thread dW/db partials summed) */
#ifdef _OPENMP
    const int maxt = omp_get_max_threads();
    omp_set_num_threads(1);
    check_f32(&c, &z, x, Rx, W, V, b, Vb, r, Rdy, "1 thread");
    omp_set_num_threads(2);
    check_f32(&c, &z, x, Rx, W, V, b, Vb, r, Rdy, "2 threads");
    setenv("ABSA_CONV_WINO", "0", 1); /* Winograd off: the patch-matrix engine for every layer */
    check_f32(&c, &z, x, Rx, W, V, b, Vb, r, Rdy, "2 threads, no Winograd");
    unsetenv("ABSA_CONV_WINO");
    const char *eng = absa_conv_engine_f32(&c);
    if (!strcmp(eng, "direct")) { /* the same geometry on Winograd, the engine the baseline path runs */
        setenv("ABSA_CONV_DIRECT", "0", 1);
        const char *want = c.kh == 3 && c.sh == 1 && c.C >= 8 && c.O >= 8 ? "winograd" : "patch";
        CHECK(!strcmp(absa_conv_engine_f32(&c), want), "ABSA_CONV_DIRECT=0 gives %s, want %s",
              absa_conv_engine_f32(&c), want);
        check_f32(&c, &z, x, Rx, W, V, b, Vb, r, Rdy, "2 threads, no direct");
        unsetenv("ABSA_CONV_DIRECT");
    }
    printf("  float32 engine on this CPU path: %s\n", eng);
    omp_set_num_threads(maxt);
#else
    check_f32(&c, &z, x, Rx, W, V, b, Vb, r, Rdy, "no OpenMP");
#endif

    free(x); free(W); free(b); free(r); free(Rx); free(V); free(Vb); free(Rdy); free(y); free(yo);
    free(dx); free(dW); free(db); free(ux); free(uW); free(ub); free(px); free(pW); free(pb);
    free(ax); free(aW); free(ab); free(ws); free(Ry); free(yp); free(ym); free(xs); free(Ws);
    free(bs); free(dxp); free(dWp); free(dbp); free(dxm); free(dWm); free(dbm); free(dys);
}

static void check_cfg(void)
{
    absa_conv_cfg c;
    CHECK(absa_conv_cfg_init(&c, 2, 3, 7, 8, 4, 3, 2, 1, 1) == 0 && c.Ho == 4 && c.Wo == 4,
          "7x8 k3 s2 p1 -> %dx%d, want 4x4", c.Ho, c.Wo);
    CHECK(absa_conv_cfg_init(&c, 1, 1, 3, 3, 1, 5, 1, 1, 0) == 0 && c.Ho == 1 && c.Wo == 1,
          "3x3 k5 p1 -> %dx%d, want 1x1", c.Ho, c.Wo);
    CHECK(absa_conv_cfg_init(&c, 1, 1, 28, 28, 32, 3, 1, 1, 1) == 0 && c.Ho == 28 && c.Wo == 28,
          "28x28 k3 p1 -> %dx%d", c.Ho, c.Wo);
    CHECK(absa_conv_cfg_init(&c, 1, 16, 32, 32, 32, 1, 2, 0, 0) == 0 && c.Ho == 16 && c.Wo == 16,
          "32x32 k1 s2 -> %dx%d", c.Ho, c.Wo);
    CHECK(absa_conv_cfg_init(&c, 1, 1, 6, 9, 1, 3, 3, 0, 0) == 0 && c.Ho == 2 && c.Wo == 3,
          "6x9 k3 s3 -> %dx%d", c.Ho, c.Wo);
    CHECK(absa_conv_cfg_init(&c, 1, 1, 3, 3, 1, 5, 1, 0, 0) == -1, "kernel larger than input");
    CHECK(absa_conv_cfg_init(&c, 1, 1, 8, 3, 1, 5, 1, 0, 0) == -1, "kernel wider than input");
    CHECK(absa_conv_cfg_init(&c, 1, 1, 8, 8, 1, 3, 0, 1, 0) == -1, "stride 0");
    CHECK(absa_conv_cfg_init(&c, 1, 1, 8, 8, 1, 3, 1, -1, 0) == -1, "negative padding");
    CHECK(absa_conv_cfg_init(&c, 1, 1, 8, 8, 1, 0, 1, 0, 0) == -1, "kernel 0");
    CHECK(absa_conv_cfg_init(&c, 0, 1, 8, 8, 1, 3, 1, 0, 0) == -1, "N = 0");
    CHECK(absa_conv_cfg_init(&c, 1, 0, 8, 8, 1, 3, 1, 0, 0) == -1, "C = 0");
    CHECK(absa_conv_cfg_init(&c, 1, 1, 8, 8, 0, 3, 1, 0, 0) == -1, "O = 0");
    CHECK(absa_conv_cfg_init(&c, 1, 1, 0, 8, 1, 1, 1, 0, 0) == -1, "H = 0");
}

int main(void)
{
    check_cfg();
    static const geo geos[] = {
        {1, 2, 5, 7, 3, 1, 1, 0, 1},   /* 1x1, N = 1 */
        {3, 3, 6, 5, 4, 3, 1, 1, 1},   /* 3x3 same padding, non-square */
        {3, 2, 7, 8, 5, 3, 2, 1, 0},   /* stride 2, no bias */
        {2, 4, 8, 6, 3, 1, 2, 0, 0},   /* 1x1 stride-2 projection */
        {3, 3, 9, 7, 2, 5, 2, 2, 1},   /* 5x5 stride 2 pad 2 */
        {1, 2, 4, 5, 3, 5, 1, 2, 1},   /* 5x5 on a tiny input: mostly padding */
        {2, 1, 7, 6, 2, 3, 3, 0, 1},   /* stride 3 with leftover rows/columns */
        {2, 2, 3, 4, 3, 3, 1, 2, 0},   /* padding > k/2: output larger than input */
        {2, 3, 4, 5, 2, 1, 1, 1, 1},   /* 1x1 with padding 1 (> k-1) */
        {3, 3, 8, 8, 5, 3, 1, 1, 1},   /* 3x3, 8x8 */
        {2, 2, 16, 16, 3, 3, 2, 1, 0}, /* stride 2 to 8x8 */
        {2, 2, 11, 9, 7, 5, 2, 1, 1},  /* 5x5 stride 2, odd sizes */
        {9, 8, 24, 20, 3, 5, 1, 2, 1}, /* 9 samples: 5 + 4 on two threads */
        /* Winograd F(2x2, 3x3) path: 3x3 stride 1, C and O >= 8 */
        {3, 8, 6, 5, 8, 3, 1, 1, 1},   /* odd output width: a partial tile column */
        {5, 9, 7, 8, 10, 3, 1, 0, 0},  /* no padding, odd output height, C != O */
        {2, 8, 4, 3, 9, 3, 1, 2, 1},   /* padding 2: output larger than input */
        {9, 16, 9, 9, 12, 3, 1, 1, 0}, /* 9 samples in groups, odd sizes */
        /* Winograd on wider planes (8-9 tiles per row) */
        {5, 8, 16, 16, 8, 3, 1, 1, 0},  /* even 16x16: whole-plane transposes, groups of samples */
        {3, 8, 17, 16, 9, 3, 1, 1, 1},  /* odd output height */
        {2, 9, 16, 19, 8, 3, 1, 0, 0},  /* no padding, 14x17: a partial tile column, C != O */
        {2, 8, 14, 15, 10, 3, 1, 2, 1}, /* padding 2: 16x17 output larger than the input */
        /* the direct path (conv_direct.h, FMA CPU paths): 3x3 stride 1 padding 1, 16 -> 16 */
        {3, 16, 8, 8, 16, 3, 1, 1, 1},   /* rows shorter than a row block (16 AVX-512, 6 AVX2) */
        {5, 16, 9, 35, 16, 3, 1, 1, 0},  /* 35 = 2 blocks + 3 (AVX-512), 5 blocks + 5 (AVX2) */
        {2, 16, 32, 32, 16, 3, 1, 1, 1}, /* resnet20's first stage */
        {3, 16, 1, 2, 16, 3, 1, 1, 0},   /* 1x2: every tap but the centre row's in the padding */
        {2, 16, 16, 16, 32, 3, 2, 1, 1}, /* direct stride 2 as resnet20's 32->64 (8x8: flat runs on AVX-512) */
        {3, 3, 9, 20, 16, 3, 1, 1, 1},   /* direct as resnet20's stem, 3 channels */
        {2, 24, 13, 11, 20, 1, 2, 0, 0}, /* direct 1x1 stride 2, odd sizes, 20 outputs (a partial block) */
        {2, 72, 6, 5, 16, 3, 2, 1, 1},   /* direct stride 2 with 72 channels: 648 weight-gradient rows, two batches */
    };
    for (size_t i = 0; i < sizeof geos / sizeof geos[0]; i++) run_geo(&geos[i]);

    return absa_test_finish("test_conv");
}
