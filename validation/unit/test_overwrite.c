/* test_overwrite.c — the overwrite mode of the activation-gradient kernels (layers.h: `dx_set` of
 * the conv and BN configs, absa_relu_backward_ex / absa_add_backward_ex with set = 1), which the
 * executor uses for the first writer of a gradient instead of zeroing it first.
 * Oracle: the accumulating mode on a zero-filled buffer (0 + r == r exactly). The overwriting
 * call gets a NaN-filled buffer, so an element it fails to write shows up; the parameter
 * gradients (which always accumulate) must come out identical too. Float32 and the engines the
 * conv layer picks by geometry: Winograd (3x3 stride 1, >= 8 channels) and the patch-matrix
 * engine (other geometries), for backward and R-backward; BN in train and eval mode.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

static uint64_t rng = 777;

static float *rndf(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (float)absa_test_normal(&rng);
    return v;
}
static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *nans(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = NAN;
    return v;
}
/* count of elements where a != b (NaN counts as different) */
static size_t ndiff(size_t n, const float *a, const float *b)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += !(a[i] == b[i]);
    return d;
}

static void test_conv(int N, int C, int H, int W, int O, int k, int s, int p, int r)
{
    absa_conv_cfg c;
    CHECK(absa_conv_cfg_init(&c, N, C, H, W, O, k, s, p, 1) == 0, "conv geometry");
    const size_t nx = (size_t)N * C * H * W, nw = (size_t)O * C * k * k, ny = (size_t)N * O * c.Ho * c.Wo;
    float *x = rndf(nx), *Rx = rndf(nx), *Wt = rndf(nw), *V = rndf(nw), *dy = rndf(ny), *Rdy = rndf(ny);
    float *ws = malloc(absa_conv_workspace(&c) * sizeof(float));
    float *dxa = zeros(nx), *dxs = nans(nx), *dWa = zeros(nw), *dWs = zeros(nw);
    float *dba = zeros((size_t)O), *dbs = zeros((size_t)O);
    if (r) {
        absa_conv2d_rbackward_f32(&c, x, Rx, Wt, V, dy, Rdy, dxa, dWa, dba, ws);
        c.dx_set = 1;
        absa_conv2d_rbackward_f32(&c, x, Rx, Wt, V, dy, Rdy, dxs, dWs, dbs, ws);
    } else {
        absa_conv2d_backward_f32(&c, x, Wt, dy, dxa, dWa, dba, ws);
        c.dx_set = 1;
        absa_conv2d_backward_f32(&c, x, Wt, dy, dxs, dWs, dbs, ws);
    }
    CHECK(ndiff(nx, dxa, dxs) == 0, "conv %s %dx%dx%d->%d k%d s%d p%d: overwritten dx differs in %zu",
          r ? "rbackward" : "backward", C, H, W, O, k, s, p, ndiff(nx, dxa, dxs));
    CHECK(ndiff(nw, dWa, dWs) == 0 && ndiff((size_t)O, dba, dbs) == 0,
          "conv %s: parameter gradients changed by dx_set", r ? "rbackward" : "backward");
    free(x); free(Rx); free(Wt); free(V); free(dy); free(Rdy); free(ws);
    free(dxa); free(dxs); free(dWa); free(dWs); free(dba); free(dbs);
}

static void test_bn(int N, int C, int HW, int train, int r)
{
    absa_bn_cfg c = {.N = N, .C = C, .HW = HW, .eps = 1e-5, .momentum = 0.1};
    const size_t n = (size_t)N * C * HW;
    float *x = rndf(n), *Rx = rndf(n), *g = rndf((size_t)C), *b = rndf((size_t)C);
    float *Vg = rndf((size_t)C), *dy = rndf(n), *Rdy = rndf(n), *y = zeros(n);
    float *rm = zeros((size_t)C), *rv = zeros((size_t)C), *sm = zeros((size_t)C), *si = zeros((size_t)C);
    for (int i = 0; i < C; i++) rv[i] = 1.5f;
    absa_bn_forward_f32(&c, train, x, g, b, rm, rv, sm, si, y);
    float *dxa = zeros(n), *dxs = nans(n), *dga = zeros((size_t)C), *dgs = zeros((size_t)C);
    float *dba = zeros((size_t)C), *dbs = zeros((size_t)C);
    if (r) {
        absa_bn_rbackward_f32(&c, train, x, Rx, g, Vg, sm, si, dy, Rdy, dxa, dga, dba);
        c.dx_set = 1;
        absa_bn_rbackward_f32(&c, train, x, Rx, g, Vg, sm, si, dy, Rdy, dxs, dgs, dbs);
    } else {
        absa_bn_backward_f32(&c, train, x, g, sm, si, dy, dxa, dga, dba);
        c.dx_set = 1;
        absa_bn_backward_f32(&c, train, x, g, sm, si, dy, dxs, dgs, dbs);
    }
    CHECK(ndiff(n, dxa, dxs) == 0, "bn %s %s: overwritten dx differs in %zu elements",
          r ? "rbackward" : "backward", train ? "train" : "eval", ndiff(n, dxa, dxs));
    CHECK(ndiff((size_t)C, dga, dgs) == 0 && ndiff((size_t)C, dba, dbs) == 0,
          "bn: parameter gradients changed by dx_set");
    free(x); free(Rx); free(g); free(b); free(Vg); free(dy); free(Rdy); free(y); free(rm);
    free(rv); free(sm); free(si); free(dxa); free(dxs); free(dga); free(dgs); free(dba); free(dbs);
}

static void test_pointwise(size_t n)
{
    float *x = rndf(n), *dy = rndf(n), *a = zeros(n), *s = nans(n);
    x[0] = 0.0f; /* the kink: derivative 0 */
    absa_relu_backward_ex_f32(n, x, dy, a, 0);
    absa_relu_backward_ex_f32(n, x, dy, s, 1);
    CHECK(ndiff(n, a, s) == 0, "relu: overwritten dx differs in %zu of %zu", ndiff(n, a, s), n);
    /* add: da overwritten, db accumulated onto a pre-fill; then one tensor as both operands */
    float *da = nans(n), *db = rndf(n), *db0 = malloc(n * sizeof(float)), *both = nans(n);
    memcpy(db0, db, n * sizeof(float));
    absa_add_backward_ex_f32(n, dy, da, 1, db, 0);
    CHECK(ndiff(n, da, dy) == 0, "add: overwritten da != dy");
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += db[i] != db0[i] + dy[i];
    CHECK(bad == 0, "add: accumulated db wrong in %zu", bad);
    absa_add_backward_ex_f32(n, dy, both, 1, both, 1); /* da == db: 2*dy */
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += both[i] != dy[i] + dy[i];
    CHECK(bad == 0, "add with da == db, both set: want 2*dy, wrong in %zu", bad);
    free(x); free(dy); free(a); free(s); free(da); free(db); free(db0); free(both);
}

/* max-pool: the overwrite mode (per-plane clear, then the scatter) against zero-fill then
 * accumulate, with non-overlapping (lenet's 2/2), overlapping (c1's 3/2) and padded windows and a
 * floor-mode edge that no window covers (it must come out 0, not the NaN pre-fill). Equal
 * values in a window (ties) go to the first, in both modes. */
static void test_maxpool(int N, int C, int H, int W, int k, int s, int p)
{
    absa_pool_cfg c;
    CHECK(absa_pool_cfg_init(&c, N, C, H, W, k, s, p) == 0, "pool geometry");
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * c.Ho * c.Wo;
    float *x = rndf(nx), *y = zeros(ny), *dy = rndf(ny), *a = zeros(nx), *o = nans(nx);
    for (size_t i = 0; i < nx; i += 7) x[i] = 0.5f; /* ties */
    int32_t *am = malloc(ny * sizeof(int32_t));
    absa_maxpool_forward_f32(&c, x, y, am);
    absa_maxpool_backward_ex_f32(&c, am, dy, a, 0);
    absa_maxpool_backward_ex_f32(&c, am, dy, o, 1);
    CHECK(ndiff(nx, a, o) == 0, "maxpool %dx%d k%d s%d p%d: overwritten dx differs in %zu of %zu", H, W, k, s, p,
          ndiff(nx, a, o), nx);
    size_t nz = 0;
    for (size_t i = 0; i < nx; i++) nz += a[i] != 0;
    CHECK(nz > 0 && nz <= ny, "maxpool: %zu nonzero gradients for %zu outputs", nz, ny);
    free(x); free(y); free(dy); free(a); free(o); free(am);
}

int main(void)
{
    test_maxpool(3, 5, 28, 28, 2, 2, 0);    /* lenet's first pool */
    test_maxpool(2, 4, 7, 9, 2, 2, 0);      /* odd: the last row and column belong to no window */
    test_maxpool(2, 3, 13, 13, 3, 2, 0);    /* c1's overlapping windows */
    test_maxpool(2, 3, 8, 8, 3, 2, 1);      /* padded */
    test_maxpool(64, 16, 32, 32, 2, 2, 0);  /* above the OpenMP threshold */
    for (int r = 0; r <= 1; r++) {
        test_conv(3, 16, 9, 7, 12, 3, 1, 1, r); /* Winograd */
        test_conv(5, 8, 6, 6, 8, 3, 1, 0, r);   /* Winograd, no padding */
        test_conv(3, 3, 9, 8, 5, 3, 2, 1, r);   /* patch matrices, stride 2 */
        test_conv(2, 4, 7, 7, 6, 1, 2, 0, r);   /* 1x1 projection */
        test_conv(2, 2, 6, 5, 3, 5, 1, 2, r);   /* 5x5 */
        for (int train = 0; train <= 1; train++) test_bn(3, 4, 10, train, r);
    }
    test_pointwise(100000); /* above the OpenMP threshold */
    test_pointwise(7);
    return absa_test_finish("test_overwrite");
}
