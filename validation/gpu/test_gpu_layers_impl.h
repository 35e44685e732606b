/* test_gpu_layers_impl.h — the body of test_gpu_layers.c, included once per precision with
 * ABSA_T / ABSA_SFX / TOL defined (no include guard on purpose). Every buffer an op writes is
 * made twice with the same prefill (NaN for an overwriting output, random values for an
 * accumulating one): the CPU kernel (the specification, src/) runs on the host copy, the CUDA
 * launcher on the device copy, and the two results are compared (inf-norm relative error). */

typedef struct ABSA_FN(buf) {
    ABSA_T *h, *d;
    size_t n;
} ABSA_FN(buf);

static ABSA_FN(buf) ABSA_FN(mk)(absa_gpu_ctx *g, size_t n, int fill) /* fill: 0 random, 1 NaN */
{
    ABSA_FN(buf) b = {malloc((n ? n : 1) * sizeof(ABSA_T)), absa_gpu_malloc(n * sizeof(ABSA_T)), n};
    for (size_t i = 0; i < n; i++) b.h[i] = fill ? (ABSA_T)NAN : (ABSA_T)absa_test_normal(&rng);
    absa_gpu_upload(g, b.d, b.h, n * sizeof(ABSA_T));
    return b;
}
static void ABSA_FN(drop)(ABSA_FN(buf) *b)
{
    free(b->h);
    absa_gpu_free(b->d);
}
/* device result against the host (CPU) result */
static void ABSA_FN(cmp)(absa_gpu_ctx *g, const char *what, const ABSA_FN(buf) *b)
{
    ABSA_T *got = malloc((b->n ? b->n : 1) * sizeof(ABSA_T));
    absa_gpu_download(g, got, b->d, b->n * sizeof(ABSA_T));
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < b->n; i++) {
        const double d = fabs((double)got[i] - (double)b->h[i]);
        if (!(d == d)) bad++;
        if (d > num) num = d;
        if (fabs((double)b->h[i]) > den) den = fabs((double)b->h[i]);
    }
    const double rel = num / (den > 1e-30 ? den : 1e-30);
    CHECK(bad == 0 && rel <= TOL, "%s %s: rel err %.3g (tol %.1g), %zu NaN/unwritten", STR(ABSA_SFX),
          what, rel, (double)TOL, bad);
    free(got);
}

static void ABSA_FN(t_conv)(absa_gpu_ctx *g, int N, int C, int H, int W, int O, int k, int s,
                            int p, int bias)
{
    absa_conv_cfg c;
    CHECK(absa_conv_cfg_init(&c, N, C, H, W, O, k, s, p, bias) == 0, "conv geometry");
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * O * c.Ho * c.Wo, nw = (size_t)O * C * k * k;
    ABSA_T *ws = malloc((absa_conv_workspace(&c) + 1) * sizeof(ABSA_T));
    ABSA_FN(buf) x = ABSA_FN(mk)(g, nx, 0), Rx = ABSA_FN(mk)(g, nx, 0), Wt = ABSA_FN(mk)(g, nw, 0);
    ABSA_FN(buf) V = ABSA_FN(mk)(g, nw, 0), b = ABSA_FN(mk)(g, O, 0), Vb = ABSA_FN(mk)(g, O, 0);
    ABSA_FN(buf) dy = ABSA_FN(mk)(g, ny, 0), Rdy = ABSA_FN(mk)(g, ny, 0);
    char what[96];
    snprintf(what, sizeof what, "conv N%d C%d %dx%d O%d k%d s%d p%d bias%d", N, C, H, W, O, k, s, p, bias);
    /* forward, R-forward: overwrite (NaN prefill) */
    ABSA_FN(buf) y = ABSA_FN(mk)(g, ny, 1), Ry = ABSA_FN(mk)(g, ny, 1);
    ABSA_FN(absa_conv2d_forward)(&c, x.h, Wt.h, b.h, y.h, ws);
    ABSA_GPU_FN(conv2d_forward)(g, &c, x.d, Wt.d, b.d, y.d);
    ABSA_FN(cmp)(g, what, &y);
    ABSA_FN(absa_conv2d_rforward)(&c, x.h, Rx.h, Wt.h, V.h, Vb.h, Ry.h, ws);
    ABSA_GPU_FN(conv2d_rforward)(g, &c, x.d, Rx.d, Wt.d, V.d, Vb.d, Ry.d);
    ABSA_FN(cmp)(g, what, &Ry);
    ABSA_FN(drop)(&Ry);
    Ry = ABSA_FN(mk)(g, ny, 1); /* Rx NULL (first layer) */
    ABSA_FN(absa_conv2d_rforward)(&c, x.h, NULL, Wt.h, V.h, Vb.h, Ry.h, ws);
    ABSA_GPU_FN(conv2d_rforward)(g, &c, x.d, NULL, Wt.d, V.d, Vb.d, Ry.d);
    ABSA_FN(cmp)(g, what, &Ry);
    for (int set = 0; set <= 1; set++) { /* backward, R-backward: accumulate, then overwrite */
        c.dx_set = set;
        ABSA_FN(buf) dx = ABSA_FN(mk)(g, nx, set), dW = ABSA_FN(mk)(g, nw, 0), db = ABSA_FN(mk)(g, O, 0);
        ABSA_FN(absa_conv2d_backward)(&c, x.h, Wt.h, dy.h, dx.h, dW.h, db.h, ws);
        ABSA_GPU_FN(conv2d_backward)(g, &c, x.d, Wt.d, dy.d, dx.d, dW.d, db.d);
        ABSA_FN(cmp)(g, what, &dx);
        ABSA_FN(cmp)(g, what, &dW);
        ABSA_FN(cmp)(g, what, &db);
        ABSA_FN(buf) Rdx = ABSA_FN(mk)(g, nx, set), RdW = ABSA_FN(mk)(g, nw, 0), Rdb = ABSA_FN(mk)(g, O, 0);
        ABSA_FN(absa_conv2d_rbackward)(&c, x.h, Rx.h, Wt.h, V.h, dy.h, Rdy.h, Rdx.h, RdW.h, Rdb.h, ws);
        ABSA_GPU_FN(conv2d_rbackward)(g, &c, x.d, Rx.d, Wt.d, V.d, dy.d, Rdy.d, Rdx.d, RdW.d, Rdb.d);
        ABSA_FN(cmp)(g, what, &Rdx);
        ABSA_FN(cmp)(g, what, &RdW);
        ABSA_FN(cmp)(g, what, &Rdb);
        ABSA_FN(drop)(&dx), ABSA_FN(drop)(&dW), ABSA_FN(drop)(&db);
        ABSA_FN(drop)(&Rdx), ABSA_FN(drop)(&RdW), ABSA_FN(drop)(&Rdb);
    }
    ABSA_FN(drop)(&x), ABSA_FN(drop)(&Rx), ABSA_FN(drop)(&Wt), ABSA_FN(drop)(&V), ABSA_FN(drop)(&b);
    ABSA_FN(drop)(&Vb), ABSA_FN(drop)(&dy), ABSA_FN(drop)(&Rdy), ABSA_FN(drop)(&y), ABSA_FN(drop)(&Ry);
    free(ws);
}

static void ABSA_FN(t_linear)(absa_gpu_ctx *g, int N, int in, int out, int bias)
{
    absa_linear_cfg c = {N, in, out, bias};
    const size_t nx = (size_t)N * in, ny = (size_t)N * out, nw = (size_t)out * in;
    ABSA_FN(buf) x = ABSA_FN(mk)(g, nx, 0), Rx = ABSA_FN(mk)(g, nx, 0), Wt = ABSA_FN(mk)(g, nw, 0);
    ABSA_FN(buf) V = ABSA_FN(mk)(g, nw, 0), b = ABSA_FN(mk)(g, out, 0), Vb = ABSA_FN(mk)(g, out, 0);
    ABSA_FN(buf) dy = ABSA_FN(mk)(g, ny, 0), Rdy = ABSA_FN(mk)(g, ny, 0);
    ABSA_FN(buf) y = ABSA_FN(mk)(g, ny, 1), Ry = ABSA_FN(mk)(g, ny, 1);
    ABSA_FN(buf) dx = ABSA_FN(mk)(g, nx, 0), dW = ABSA_FN(mk)(g, nw, 0), db = ABSA_FN(mk)(g, out, 0);
    ABSA_FN(buf) Rdx = ABSA_FN(mk)(g, nx, 0), RdW = ABSA_FN(mk)(g, nw, 0), Rdb = ABSA_FN(mk)(g, out, 0);
    char what[64];
    snprintf(what, sizeof what, "linear N%d %d->%d bias%d", N, in, out, bias);
    ABSA_FN(absa_linear_forward)(&c, x.h, Wt.h, b.h, y.h);
    ABSA_GPU_FN(linear_forward)(g, &c, x.d, Wt.d, b.d, y.d);
    ABSA_FN(cmp)(g, what, &y);
    ABSA_FN(absa_linear_rforward)(&c, x.h, Rx.h, Wt.h, V.h, Vb.h, Ry.h);
    ABSA_GPU_FN(linear_rforward)(g, &c, x.d, Rx.d, Wt.d, V.d, Vb.d, Ry.d);
    ABSA_FN(cmp)(g, what, &Ry);
    ABSA_FN(absa_linear_backward)(&c, x.h, Wt.h, dy.h, dx.h, dW.h, db.h);
    ABSA_GPU_FN(linear_backward)(g, &c, x.d, Wt.d, dy.d, dx.d, dW.d, db.d);
    ABSA_FN(cmp)(g, what, &dx);
    ABSA_FN(cmp)(g, what, &dW);
    ABSA_FN(cmp)(g, what, &db);
    ABSA_FN(absa_linear_rbackward)(&c, x.h, Rx.h, Wt.h, V.h, dy.h, Rdy.h, Rdx.h, RdW.h, Rdb.h);
    ABSA_GPU_FN(linear_rbackward)(g, &c, x.d, Rx.d, Wt.d, V.d, dy.d, Rdy.d, Rdx.d, RdW.d, Rdb.d);
    ABSA_FN(cmp)(g, what, &Rdx);
    ABSA_FN(cmp)(g, what, &RdW);
    ABSA_FN(cmp)(g, what, &Rdb);
    ABSA_FN(buf) *all[] = {&x, &Rx, &Wt, &V, &b, &Vb, &dy, &Rdy, &y, &Ry, &dx, &dW, &db, &Rdx, &RdW, &Rdb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ABSA_FN(drop)(all[i]);
}

static void ABSA_FN(t_bn)(absa_gpu_ctx *g, int N, int C, int HW, int train)
{
    absa_bn_cfg c = {N, C, HW, 1e-5, 0.1, 0, 0};
    const size_t nx = (size_t)N * C * HW;
    ABSA_FN(buf) x = ABSA_FN(mk)(g, nx, 0), Rx = ABSA_FN(mk)(g, nx, 0), ga = ABSA_FN(mk)(g, C, 0);
    ABSA_FN(buf) be = ABSA_FN(mk)(g, C, 0), Vg = ABSA_FN(mk)(g, C, 0), Vb = ABSA_FN(mk)(g, C, 0);
    ABSA_FN(buf) rm = ABSA_FN(mk)(g, C, 0), rv = ABSA_FN(mk)(g, C, 0);
    ABSA_FN(buf) dy = ABSA_FN(mk)(g, nx, 0), Rdy = ABSA_FN(mk)(g, nx, 0);
    for (int i = 0; i < C; i++) rv.h[i] = (ABSA_T)(0.5 + fabs((double)rv.h[i]));
    absa_gpu_upload(g, rv.d, rv.h, C * sizeof(ABSA_T));
    ABSA_FN(buf) sm = ABSA_FN(mk)(g, C, 1), si = ABSA_FN(mk)(g, C, 1), y = ABSA_FN(mk)(g, nx, 1);
    char what[64];
    snprintf(what, sizeof what, "bn N%d C%d HW%d %s", N, C, HW, train ? "train" : "eval");
    ABSA_FN(absa_bn_forward)(&c, train, x.h, ga.h, be.h, rm.h, rv.h, sm.h, si.h, y.h);
    ABSA_GPU_FN(bn_forward)(g, &c, train, x.d, ga.d, be.d, rm.d, rv.d, sm.d, si.d, y.d);
    ABSA_FN(cmp)(g, what, &y);
    ABSA_FN(cmp)(g, what, &sm);
    ABSA_FN(cmp)(g, what, &si);
    ABSA_FN(cmp)(g, what, &rm);
    ABSA_FN(cmp)(g, what, &rv);
    /* the rest from the CPU's saved statistics on both sides */
    absa_gpu_upload(g, sm.d, sm.h, C * sizeof(ABSA_T));
    absa_gpu_upload(g, si.d, si.h, C * sizeof(ABSA_T));
    ABSA_FN(buf) Ry = ABSA_FN(mk)(g, nx, 1);
    ABSA_FN(absa_bn_rforward)(&c, train, x.h, Rx.h, ga.h, Vg.h, Vb.h, sm.h, si.h, Ry.h);
    ABSA_GPU_FN(bn_rforward)(g, &c, train, x.d, Rx.d, ga.d, Vg.d, Vb.d, sm.d, si.d, Ry.d);
    ABSA_FN(cmp)(g, what, &Ry);
    for (int set = 0; set <= 1; set++) {
        c.dx_set = set;
        ABSA_FN(buf) dx = ABSA_FN(mk)(g, nx, set), dg = ABSA_FN(mk)(g, C, 0), db = ABSA_FN(mk)(g, C, 0);
        ABSA_FN(absa_bn_backward)(&c, train, x.h, ga.h, sm.h, si.h, dy.h, dx.h, dg.h, db.h);
        ABSA_GPU_FN(bn_backward)(g, &c, train, x.d, ga.d, sm.d, si.d, dy.d, dx.d, dg.d, db.d);
        ABSA_FN(cmp)(g, what, &dx);
        ABSA_FN(cmp)(g, what, &dg);
        ABSA_FN(cmp)(g, what, &db);
        ABSA_FN(buf) Rdx = ABSA_FN(mk)(g, nx, set), Rdg = ABSA_FN(mk)(g, C, 0), Rdb = ABSA_FN(mk)(g, C, 0);
        ABSA_FN(absa_bn_rbackward)(&c, train, x.h, Rx.h, ga.h, Vg.h, sm.h, si.h, dy.h, Rdy.h, Rdx.h, Rdg.h, Rdb.h);
        ABSA_GPU_FN(bn_rbackward)(g, &c, train, x.d, Rx.d, ga.d, Vg.d, sm.d, si.d, dy.d, Rdy.d, Rdx.d,
                                  Rdg.d, Rdb.d);
        ABSA_FN(cmp)(g, what, &Rdx);
        ABSA_FN(cmp)(g, what, &Rdg);
        ABSA_FN(cmp)(g, what, &Rdb);
        ABSA_FN(drop)(&dx), ABSA_FN(drop)(&dg), ABSA_FN(drop)(&db);
        ABSA_FN(drop)(&Rdx), ABSA_FN(drop)(&Rdg), ABSA_FN(drop)(&Rdb);
    }
    ABSA_FN(buf) *all[] = {&x, &Rx, &ga, &be, &Vg, &Vb, &rm, &rv, &dy, &Rdy, &sm, &si, &y, &Ry};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ABSA_FN(drop)(all[i]);
}

static void ABSA_FN(t_pointwise)(absa_gpu_ctx *g, size_t n)
{
    ABSA_FN(buf) x = ABSA_FN(mk)(g, n, 0), Rx = ABSA_FN(mk)(g, n, 0), b = ABSA_FN(mk)(g, n, 0);
    ABSA_FN(buf) dy = ABSA_FN(mk)(g, n, 0), y = ABSA_FN(mk)(g, n, 1), Ry = ABSA_FN(mk)(g, n, 1);
    ABSA_FN(absa_relu_forward)(n, x.h, y.h);
    ABSA_GPU_FN(relu_forward)(g, n, x.d, y.d);
    ABSA_FN(cmp)(g, "relu forward", &y);
    ABSA_FN(absa_relu_rforward)(n, x.h, Rx.h, Ry.h);
    ABSA_GPU_FN(relu_rforward)(g, n, x.d, Rx.d, Ry.d);
    ABSA_FN(cmp)(g, "relu rforward", &Ry);
    ABSA_FN(absa_add_forward)(n, x.h, b.h, y.h);
    ABSA_GPU_FN(add_forward)(g, n, x.d, b.d, y.d);
    ABSA_FN(cmp)(g, "add forward", &y);
    for (int set = 0; set <= 1; set++) {
        ABSA_FN(buf) dx = ABSA_FN(mk)(g, n, set), da = ABSA_FN(mk)(g, n, set), db = ABSA_FN(mk)(g, n, 0);
        ABSA_FN(absa_relu_backward_ex)(n, x.h, dy.h, dx.h, set);
        ABSA_GPU_FN(relu_backward_ex)(g, n, x.d, dy.d, dx.d, set);
        ABSA_FN(cmp)(g, set ? "relu backward (set)" : "relu backward (+=)", &dx);
        ABSA_FN(absa_add_backward_ex)(n, dy.h, da.h, set, db.h, 0);
        ABSA_GPU_FN(add_backward_ex)(g, n, dy.d, da.d, set, db.d, 0);
        ABSA_FN(cmp)(g, "add backward a", &da);
        ABSA_FN(cmp)(g, "add backward b", &db);
        ABSA_FN(absa_add_backward_ex)(n, dy.h, db.h, set, db.h, 1); /* one tensor, both operands */
        ABSA_GPU_FN(add_backward_ex)(g, n, dy.d, db.d, set, db.d, 1);
        ABSA_FN(cmp)(g, "add backward da == db", &db);
        ABSA_FN(drop)(&dx), ABSA_FN(drop)(&da), ABSA_FN(drop)(&db);
    }
    ABSA_FN(drop)(&x), ABSA_FN(drop)(&Rx), ABSA_FN(drop)(&b), ABSA_FN(drop)(&dy), ABSA_FN(drop)(&y);
    ABSA_FN(drop)(&Ry);
}

static void ABSA_FN(t_pool)(absa_gpu_ctx *g, int N, int C, int H, int W, int k, int s, int p)
{
    absa_pool_cfg c;
    CHECK(absa_pool_cfg_init(&c, N, C, H, W, k, s, p) == 0, "pool geometry");
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * c.Ho * c.Wo;
    ABSA_FN(buf) x = ABSA_FN(mk)(g, nx, 0), Rx = ABSA_FN(mk)(g, nx, 0), dy = ABSA_FN(mk)(g, ny, 0);
    ABSA_FN(buf) y = ABSA_FN(mk)(g, ny, 1), Ry = ABSA_FN(mk)(g, ny, 1), dx = ABSA_FN(mk)(g, nx, 0);
    int32_t *am = malloc(ny * sizeof(int32_t)), *amg = malloc(ny * sizeof(int32_t));
    int32_t *amd = absa_gpu_malloc(ny * sizeof(int32_t));
    char what[64];
    snprintf(what, sizeof what, "maxpool %dx%d k%d s%d p%d", H, W, k, s, p);
    ABSA_FN(absa_maxpool_forward)(&c, x.h, y.h, am);
    ABSA_GPU_FN(maxpool_forward)(g, &c, x.d, y.d, amd);
    ABSA_FN(cmp)(g, what, &y);
    absa_gpu_download(g, amg, amd, ny * sizeof(int32_t));
    CHECK(memcmp(am, amg, ny * sizeof(int32_t)) == 0, "%s %s: argmax differs", STR(ABSA_SFX), what);
    ABSA_FN(absa_maxpool_rforward)(&c, am, Rx.h, Ry.h);
    ABSA_GPU_FN(maxpool_rforward)(g, &c, amd, Rx.d, Ry.d);
    ABSA_FN(cmp)(g, what, &Ry);
    ABSA_FN(absa_maxpool_backward)(&c, am, dy.h, dx.h);
    ABSA_GPU_FN(maxpool_backward)(g, &c, amd, dy.d, dx.d);
    ABSA_FN(cmp)(g, what, &dx);
    /* overwrite mode (the executor's first writer): both sides ignore dx's old contents */
    ABSA_FN(absa_maxpool_backward_ex)(&c, am, dy.h, dx.h, 1);
    ABSA_GPU_FN(maxpool_backward_ex)(g, &c, amd, dy.d, dx.d, 1);
    ABSA_FN(cmp)(g, what, &dx);
    /* global average pool on the same input */
    ABSA_FN(buf) a = ABSA_FN(mk)(g, (size_t)N * C, 1), da = ABSA_FN(mk)(g, nx, 0);
    ABSA_FN(absa_avgpool_forward)(N, C, H * W, x.h, a.h);
    ABSA_GPU_FN(avgpool_forward)(g, N, C, H * W, x.d, a.d);
    ABSA_FN(cmp)(g, "avgpool forward", &a);
    ABSA_FN(absa_avgpool_backward)(N, C, H * W, a.h, da.h);
    ABSA_GPU_FN(avgpool_backward)(g, N, C, H * W, a.d, da.d);
    ABSA_FN(cmp)(g, "avgpool backward", &da);
    free(am), free(amg), absa_gpu_free(amd);
    ABSA_FN(buf) *all[] = {&x, &Rx, &dy, &y, &Ry, &dx, &a, &da};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ABSA_FN(drop)(all[i]);
}

static void ABSA_FN(t_xent_vec)(absa_gpu_ctx *g, int N, int K)
{
    const size_t n = (size_t)N * K;
    int32_t *lab = malloc(N * sizeof(int32_t)), *labd = absa_gpu_malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) lab[i] = (int32_t)(absa_test_next(&rng) % (uint64_t)K);
    absa_gpu_upload(g, labd, lab, N * sizeof(int32_t));
    ABSA_FN(buf) z = ABSA_FN(mk)(g, n, 0), Rz = ABSA_FN(mk)(g, n, 0), p = ABSA_FN(mk)(g, n, 1);
    ABSA_FN(buf) dz = ABSA_FN(mk)(g, n, 0), Rdz = ABSA_FN(mk)(g, n, 0);
    const double lc = ABSA_FN(absa_xent_forward)(N, K, z.h, lab, p.h);
    const double lg = ABSA_GPU_FN(xent_forward)(g, N, K, z.d, labd, p.d);
    CHECK(fabs(lc - lg) <= TOL * fabs(lc), "%s xent loss %.17g vs cpu %.17g", STR(ABSA_SFX), lg, lc);
    ABSA_FN(cmp)(g, "xent p", &p);
    ABSA_FN(absa_xent_backward)(N, K, p.h, lab, 0.25, dz.h);
    ABSA_GPU_FN(xent_backward)(g, N, K, p.d, labd, 0.25, dz.d);
    ABSA_FN(cmp)(g, "xent backward", &dz);
    ABSA_FN(absa_xent_rbackward)(N, K, p.h, Rz.h, 0.25, Rdz.h);
    ABSA_GPU_FN(xent_rbackward)(g, N, K, p.d, Rz.d, 0.25, Rdz.d);
    ABSA_FN(cmp)(g, "xent rbackward", &Rdz);
    const int hc = ABSA_FN(absa_xent_correct)(N, K, z.h, lab), hg = ABSA_GPU_FN(xent_correct)(g, N, K, z.d, labd);
    CHECK(hc == hg, "%s xent correct %d vs cpu %d", STR(ABSA_SFX), hg, hc);
    /* vector operations against plain loops */
    double dc = 0;
    for (size_t i = 0; i < n; i++) dc += (double)z.h[i] * (double)Rz.h[i];
    const double dg = ABSA_GPU_FN(dot)(g, n, z.d, Rz.d);
    CHECK(fabs(dc - dg) <= 1e-12 * (fabs(dc) + 1), "%s dot %.17g vs %.17g", STR(ABSA_SFX), dg, dc);
    CHECK(ABSA_GPU_FN(dot)(g, n, z.d, Rz.d) == dg, "%s dot not bitwise repeatable", STR(ABSA_SFX));
    for (size_t i = 0; i < n; i++) dz.h[i] += (ABSA_T)-0.5 * z.h[i];
    ABSA_GPU_FN(axpy)(g, n, -0.5, z.d, dz.d);
    ABSA_FN(cmp)(g, "axpy", &dz);
    for (size_t i = 0; i < n; i++) dz.h[i] *= (ABSA_T)3;
    ABSA_GPU_FN(scale)(g, n, 3, dz.d);
    ABSA_FN(cmp)(g, "scale", &dz);
    free(lab), absa_gpu_free(labd);
    ABSA_FN(drop)(&z), ABSA_FN(drop)(&Rz), ABSA_FN(drop)(&p), ABSA_FN(drop)(&dz), ABSA_FN(drop)(&Rdz);
}

static void ABSA_FN(t_all)(absa_gpu_ctx *g)
{
    ABSA_FN(t_conv)(g, 2, 3, 8, 8, 16, 3, 1, 1, 0);   /* resnet20 stem */
    ABSA_FN(t_conv)(g, 2, 16, 8, 8, 16, 3, 1, 1, 0);  /* 3x3 s1, >= 8 channels (CPU Winograd) */
    ABSA_FN(t_conv)(g, 2, 16, 8, 8, 32, 3, 2, 1, 0);  /* stride 2 */
    ABSA_FN(t_conv)(g, 2, 16, 8, 8, 32, 1, 2, 0, 0);  /* 1x1 projection */
    ABSA_FN(t_conv)(g, 2, 1, 12, 12, 6, 5, 1, 0, 1);  /* lenet, bias */
    ABSA_FN(t_conv)(g, 3, 4, 7, 5, 5, 3, 2, 1, 1);    /* odd sizes, bias */
    ABSA_FN(t_linear)(g, 5, 37, 10, 1);
    ABSA_FN(t_linear)(g, 3, 16, 7, 0);
    ABSA_FN(t_bn)(g, 4, 6, 25, 1);
    ABSA_FN(t_bn)(g, 4, 6, 25, 0);
    ABSA_FN(t_bn)(g, 64, 3, 300, 1); /* n per channel > block size * many */
    ABSA_FN(t_pointwise)(g, 1000);
    ABSA_FN(t_pool)(g, 2, 3, 8, 8, 2, 2, 0);
    ABSA_FN(t_pool)(g, 2, 3, 9, 7, 3, 2, 1); /* overlapping windows, padding */
    ABSA_FN(t_xent_vec)(g, 300, 10);
}
