/* conv_impl.h — generic body of the conv2d GEMM engine and the public conv2d entry points,
 * included by conv.c once per precision with ABSA_T / ABSA_SFX defined (see absa_generic.h), and
 * ABSA_CONV_DIRECT = 1 where the direct float32 engine of conv.c may take the call. No include
 * guard on purpose (only the type-independent helpers below are guarded).
 *
 * Helpers (static, suffixed): im2col of a chunk of samples into col[K, S*P], col2im (+=) back into
 * an NCHW gradient, gather of dy into channel-major dyc[O, S*P] (with bias-gradient sums), and the
 * scatter of a GEMM result [O, S*P] to NCHW (with bias). The passes are in layers.h's conventions.
 */

/* Type-independent helpers of the GEMM engine, defined on the first inclusion only. */
#ifndef ABSA_CONV_IMPL_ONCE
#define ABSA_CONV_IMPL_ONCE
/* Target number of elements of one column matrix col[K, S*P]: large enough for efficient GEMMs,
 * small enough to stay mostly cache-resident and keep the workspace bounded (a few MB). */
#ifndef ABSA_CONV_COL_ELEMS
#define ABSA_CONV_COL_ELEMS (1u << 19)
#endif

/* Samples per im2col chunk (>= 1, <= N): the columns and the GEMM output of a chunk together
 * stay near ABSA_CONV_COL_ELEMS. Every pass and the workspace size use this. */
static int absa_conv_chunk(const absa_conv_cfg *c)
{
    size_t per = ((size_t)c->C * c->kh * c->kw + (size_t)c->O) * (size_t)c->Ho * c->Wo;
    size_t s = per ? (size_t)ABSA_CONV_COL_ELEMS / per : 1;
    if (s < 1) s = 1;
    if (s > (size_t)c->N) s = (size_t)c->N;
    /* keep every GEMM dimension in range (element counts are size_t; S*P itself is an int) */
    while (s > 1 && s * (size_t)c->Ho * c->Wo > (size_t)(1u << 30)) s /= 2;
    return (int)s;
}

/* GEMM engine layout of ws (elements): col[2*K*SP] (x and Rx columns stacked), dyc[2*O*SP]
 * (dy and Rdy gathered channel-major, or the forward GEMM output), wcat[2*O*K] (V and W). */
static size_t absa_conv_gemm_workspace(const absa_conv_cfg *c)
{
    size_t K = (size_t)c->C * c->kh * c->kw;
    size_t SP = (size_t)absa_conv_chunk(c) * c->Ho * c->Wo;
    return 2 * K * SP + 2 * (size_t)c->O * SP + 2 * (size_t)c->O * K;
}

/* Whether a non-BLAS loop over `work` elements should run on OpenMP threads. Only when OpenBLAS
 * does not keep its own pthread pool: with the pthread build, its worker spins (sched_yield) for
 * a long time after every GEMM and an OpenMP team woken in between fights it for the cores
 * (measured: several times slower than running these memory-bound loops on the calling thread).
 * With the OpenMP build both share one team. */
static inline int absa_conv_par(size_t work)
{
    return work >= ((size_t)1 << 15) && openblas_get_parallel() != 1;
}

#endif /* ABSA_CONV_IMPL_ONCE */

/* col[r*ld + s*P + p] = x[n0+s, ch(r), oh*sh - ph + i(r), ow*sw - pw + j(r)] (0 outside);
 * ld >= S*P is the row stride. OpenMP threads when par. */
static void ABSA_FN(absa_conv_im2col)(const absa_conv_cfg *c, const ABSA_T *x, int n0, int S,
                                      ABSA_T *col, size_t ld, int par)
{
    const int C = c->C, H = c->H, W = c->W, kh = c->kh, kw = c->kw, Ho = c->Ho, Wo = c->Wo;
    const int sh = c->sh, sw = c->sw, ph = c->ph, pw = c->pw;
    const int K = C * kh * kw;
    const size_t P = (size_t)Ho * Wo;
    (void)par; /* without OpenMP */
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int r = 0; r < K; r++) {
        for (int s = 0; s < S; s++) {
            const int ch = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
            const ABSA_T *xp = x + ((size_t)(n0 + s) * C + ch) * H * W;
            ABSA_T *dst = col + (size_t)r * ld + (size_t)s * P;
            int lo, hi;
            absa_conv_valid_range(Wo, W, sw, pw, j, &lo, &hi);
            for (int oh = 0; oh < Ho; oh++) {
                ABSA_T *d = dst + (size_t)oh * Wo;
                const int ih = oh * sh - ph + i;
                if (ih < 0 || ih >= H) {
                    memset(d, 0, (size_t)Wo * sizeof(ABSA_T));
                    continue;
                }
                const ABSA_T *xr = xp + (size_t)ih * W - pw + j;
                for (int ow = 0; ow < lo; ow++) d[ow] = 0;
                if (sw == 1) {
                    if (hi > lo) memcpy(d + lo, xr + lo, (size_t)(hi - lo) * sizeof(ABSA_T));
                } else {
                    for (int ow = lo; ow < hi; ow++) d[ow] = xr[(size_t)ow * sw];
                }
                for (int ow = hi; ow < Wo; ow++) d[ow] = 0;
            }
        }
    }
}

/* dx[n0+s] += fold(col): the adjoint of im2col (row stride ld). Each (sample, channel) plane has
 * one writer. OpenMP threads when par. */
static void ABSA_FN(absa_conv_col2im)(const absa_conv_cfg *c, const ABSA_T *col, int n0, int S,
                                      ABSA_T *dx, size_t ld, int par)
{
    const int C = c->C, H = c->H, W = c->W, kh = c->kh, kw = c->kw, Ho = c->Ho, Wo = c->Wo;
    const int sh = c->sh, sw = c->sw, ph = c->ph, pw = c->pw;
    const size_t P = (size_t)Ho * Wo;
    (void)par; /* without OpenMP */
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int s = 0; s < S; s++) {
        for (int ch = 0; ch < C; ch++) {
            ABSA_T *dxp = dx + ((size_t)(n0 + s) * C + ch) * H * W;
            for (int i = 0; i < kh; i++) {
                for (int j = 0; j < kw; j++) {
                    const size_t r = ((size_t)ch * kh + i) * kw + j;
                    const ABSA_T *src = col + r * ld + (size_t)s * P;
                    int lo, hi;
                    absa_conv_valid_range(Wo, W, sw, pw, j, &lo, &hi);
                    for (int oh = 0; oh < Ho; oh++) {
                        const int ih = oh * sh - ph + i;
                        if (ih < 0 || ih >= H) continue;
                        ABSA_T *dr = dxp + (size_t)ih * W - pw + j;
                        const ABSA_T *sr = src + (size_t)oh * Wo;
                        if (sw == 1) {
                            for (int ow = lo; ow < hi; ow++) dr[ow] += sr[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++) dr[(size_t)ow * sw] += sr[ow];
                        }
                    }
                }
            }
        }
    }
}

/* dyc[o, s*P + p] = dy[n0+s, o, p] (if dyc) and db[o] += sum_{s,p} dy[n0+s, o, p] (if db).
 * Returns the gathered matrix: dy's own sample when S == 1 (already [O, P]), else dyc. */
static const ABSA_T *ABSA_FN(absa_conv_gather)(const absa_conv_cfg *c, const ABSA_T *dy, int n0,
                                               int S, ABSA_T *dyc, ABSA_T *db)
{
    const int O = c->O;
    const size_t P = (size_t)c->Ho * c->Wo, SP = (size_t)S * P;
    if (S == 1) dyc = NULL; /* no copy needed */
    if (dyc || db) {
        const int par = absa_conv_par((size_t)O * SP);
        (void)par;
#pragma omp parallel for schedule(static) if (par)
        for (int o = 0; o < O; o++) {
            double sum = 0;
            for (int s = 0; s < S; s++) {
                const ABSA_T *src = dy + ((size_t)(n0 + s) * O + o) * P;
                if (dyc) memcpy(dyc + (size_t)o * SP + (size_t)s * P, src, P * sizeof(ABSA_T));
                if (db) {
                    ABSA_T part = 0;
                    for (size_t p = 0; p < P; p++) part += src[p];
                    sum += (double)part;
                }
            }
            if (db) db[o] += (ABSA_T)sum;
        }
    }
    return S == 1 ? dy + (size_t)n0 * O * P : dyc;
}

/* y[n0+s, o, p] = t[o, s*P + p] + (b ? b[o] : 0). When S == 1 the GEMM wrote y's sample in place
 * (t == y + n0*O*P) and only the bias is added. */
static void ABSA_FN(absa_conv_scatter)(const absa_conv_cfg *c, const ABSA_T *t, const ABSA_T *b,
                                       int n0, int S, ABSA_T *y)
{
    const int O = c->O;
    const size_t P = (size_t)c->Ho * c->Wo, SP = (size_t)S * P;
    if (S == 1 && !b) return;
    const int par = absa_conv_par((size_t)O * SP);
    (void)par;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int s = 0; s < S; s++) {
        for (int o = 0; o < O; o++) {
            const ABSA_T *src = t + (size_t)o * SP + (size_t)s * P;
            ABSA_T *dst = y + ((size_t)(n0 + s) * O + o) * P;
            if (b) {
                const ABSA_T bo = b[o];
                for (size_t p = 0; p < P; p++) dst[p] = src[p] + bo;
            } else {
                memcpy(dst, src, P * sizeof(ABSA_T));
            }
        }
    }
}

/* Where the chunk's GEMM output [O, S*P] goes: y's own sample when S == 1, else the buffer t. */
static inline ABSA_T *ABSA_FN(absa_conv_out)(const absa_conv_cfg *c, ABSA_T *y, int n0, int S,
                                             ABSA_T *t)
{
    return S == 1 ? y + (size_t)n0 * c->O * c->Ho * c->Wo : t;
}

static void ABSA_FN(absa_conv_gemm_forward)(const absa_conv_cfg *c, const ABSA_T *x,
                                            const ABSA_T *W, const ABSA_T *b, ABSA_T *y,
                                            ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && y && ws, "conv2d_forward: NULL argument");
    const int K = c->C * c->kh * c->kw, O = c->O, P = c->Ho * c->Wo, Smax = absa_conv_chunk(c);
    const int par = absa_conv_par((size_t)K * Smax * P);
    ABSA_T *col = ws, *t = ws + 2 * (size_t)K * Smax * P;
    const ABSA_T *bias = c->has_bias ? b : NULL;
    for (int n0 = 0; n0 < c->N; n0 += Smax) {
        const int S = c->N - n0 < Smax ? c->N - n0 : Smax, SP = S * P;
        ABSA_T *out = ABSA_FN(absa_conv_out)(c, y, n0, S, t);
        ABSA_FN(absa_conv_im2col)(c, x, n0, S, col, SP, par);
        ABSA_FN(absa_gemm)(0, 0, O, SP, K, 1, W, K, col, SP, 0, out, SP);
        ABSA_FN(absa_conv_scatter)(c, out, bias, n0, S, y);
    }
}

static void ABSA_FN(absa_conv_gemm_backward)(const absa_conv_cfg *c, const ABSA_T *x,
                                             const ABSA_T *W, const ABSA_T *dy, ABSA_T *dx,
                                             ABSA_T *dW, ABSA_T *db, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && dy, "conv2d_backward: NULL argument");
    ABSA_ASSERT(ws || (!dx && !dW), "conv2d_backward: NULL workspace");
    const int K = c->C * c->kh * c->kw, O = c->O, P = c->Ho * c->Wo, Smax = absa_conv_chunk(c);
    const int par = absa_conv_par((size_t)K * Smax * P);
    ABSA_T *bsum = c->has_bias ? db : NULL;
    if (!dx && !dW) {
        if (bsum) ABSA_FN(absa_conv_gather)(c, dy, 0, c->N, NULL, bsum);
        return;
    }
    ABSA_T *col = ws, *dyc = ws + 2 * (size_t)K * Smax * P;
    for (int n0 = 0; n0 < c->N; n0 += Smax) {
        const int S = c->N - n0 < Smax ? c->N - n0 : Smax, SP = S * P;
        const ABSA_T *dyg = ABSA_FN(absa_conv_gather)(c, dy, n0, S, dyc, bsum);
        if (dW) {
            ABSA_FN(absa_conv_im2col)(c, x, n0, S, col, SP, par);
            ABSA_FN(absa_gemm)(0, 1, O, K, SP, 1, dyg, SP, col, SP, 1, dW, K);
        }
        if (dx) {
            ABSA_FN(absa_gemm)(1, 0, K, SP, O, 1, W, K, dyg, SP, 0, col, SP);
            ABSA_FN(absa_conv_col2im)(c, col, n0, S, dx, SP, par);
        }
    }
}

static void ABSA_FN(absa_conv_gemm_rforward)(const absa_conv_cfg *c, const ABSA_T *x,
                                             const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                             const ABSA_T *Vb, ABSA_T *Ry, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && V && Ry && ws, "conv2d_rforward: NULL argument");
    const int K = c->C * c->kh * c->kw, O = c->O, P = c->Ho * c->Wo, Smax = absa_conv_chunk(c);
    const int par = absa_conv_par((size_t)K * Smax * P);
    ABSA_T *col = ws, *t = ws + 2 * (size_t)K * Smax * P;
    ABSA_T *wcat = t + 2 * (size_t)O * Smax * P;
    const ABSA_T *bias = c->has_bias ? Vb : NULL;
    if (Rx) { /* wcat[O, 2K] = [V | W]: one GEMM against the stacked columns [col(x); col(Rx)] */
        for (int o = 0; o < O; o++) {
            memcpy(wcat + (size_t)o * 2 * K, V + (size_t)o * K, (size_t)K * sizeof(ABSA_T));
            memcpy(wcat + (size_t)o * 2 * K + K, W + (size_t)o * K, (size_t)K * sizeof(ABSA_T));
        }
    }
    for (int n0 = 0; n0 < c->N; n0 += Smax) {
        const int S = c->N - n0 < Smax ? c->N - n0 : Smax, SP = S * P;
        ABSA_T *out = ABSA_FN(absa_conv_out)(c, Ry, n0, S, t);
        ABSA_FN(absa_conv_im2col)(c, x, n0, S, col, SP, par);
        if (Rx) {
            ABSA_FN(absa_conv_im2col)(c, Rx, n0, S, col + (size_t)K * SP, SP, par);
            ABSA_FN(absa_gemm)(0, 0, O, SP, 2 * K, 1, wcat, 2 * K, col, SP, 0, out, SP);
        } else {
            ABSA_FN(absa_gemm)(0, 0, O, SP, K, 1, V, K, col, SP, 0, out, SP);
        }
        ABSA_FN(absa_conv_scatter)(c, out, bias, n0, S, Ry);
    }
}

static void ABSA_FN(absa_conv_gemm_rbackward)(const absa_conv_cfg *c, const ABSA_T *x,
                                              const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                              const ABSA_T *dy, const ABSA_T *Rdy, ABSA_T *Rdx,
                                              ABSA_T *RdW, ABSA_T *Rdb, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && V && dy && Rdy, "conv2d_rbackward: NULL argument");
    ABSA_ASSERT(ws || (!Rdx && !RdW), "conv2d_rbackward: NULL workspace");
    const int K = c->C * c->kh * c->kw, O = c->O, P = c->Ho * c->Wo, Smax = absa_conv_chunk(c);
    const int par = absa_conv_par((size_t)K * Smax * P);
    ABSA_T *bsum = c->has_bias ? Rdb : NULL;
    if (!Rdx && !RdW) {
        if (bsum) ABSA_FN(absa_conv_gather)(c, Rdy, 0, c->N, NULL, bsum);
        return;
    }
    ABSA_T *col = ws, *dyc = ws + 2 * (size_t)K * Smax * P;
    ABSA_T *wcat = dyc + 2 * (size_t)O * Smax * P;
    if (Rdx && Smax > 1) { /* wcat[2O, K] = [V; W]: dcol = wcat^T [dy; Rdy] = V^T dy + W^T Rdy */
        memcpy(wcat, V, (size_t)O * K * sizeof(ABSA_T));
        memcpy(wcat + (size_t)O * K, W, (size_t)O * K * sizeof(ABSA_T));
    }
    for (int n0 = 0; n0 < c->N; n0 += Smax) {
        const int S = c->N - n0 < Smax ? c->N - n0 : Smax, SP = S * P;
        /* gathered [dy; Rdy] stacked in dyc when S > 1; the tensors' own samples when S == 1 */
        const ABSA_T *Rdyg = ABSA_FN(absa_conv_gather)(c, Rdy, n0, S, dyc + (size_t)O * SP, bsum);
        const ABSA_T *dyg = NULL;
        if (Rdx || (RdW && Rx)) dyg = ABSA_FN(absa_conv_gather)(c, dy, n0, S, dyc, NULL);
        if (RdW) {
            ABSA_FN(absa_conv_im2col)(c, x, n0, S, col, SP, par);
            ABSA_FN(absa_gemm)(0, 1, O, K, SP, 1, Rdyg, SP, col, SP, 1, RdW, K);
            if (Rx) {
                ABSA_FN(absa_conv_im2col)(c, Rx, n0, S, col, SP, par);
                ABSA_FN(absa_gemm)(0, 1, O, K, SP, 1, dyg, SP, col, SP, 1, RdW, K);
            }
        }
        if (Rdx) {
            if (S > 1) {
                ABSA_FN(absa_gemm)(1, 0, K, SP, 2 * O, 1, wcat, K, dyc, SP, 0, col, SP);
            } else {
                ABSA_FN(absa_gemm)(1, 0, K, SP, O, 1, V, K, dyg, SP, 0, col, SP);
                ABSA_FN(absa_gemm)(1, 0, K, SP, O, 1, W, K, Rdyg, SP, 1, col, SP);
            }
            ABSA_FN(absa_conv_col2im)(c, col, n0, S, Rdx, SP, par);
        }
    }
}

/* ---- public entry points: the direct engine (float32, see conv.c) when ABSA_CONV_DIRECT and
 * enabled at run time, else the GEMM engine above ---- */

void ABSA_FN(absa_conv2d_forward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                  const ABSA_T *b, ABSA_T *y, ABSA_T *ws)
{
#if ABSA_CONV_DIRECT
    if (absa_dc_enabled()) {
        ABSA_ASSERT(c && x && W && y && ws, "conv2d_forward: NULL argument");
        absa_dc_forward(c, x, NULL, W, NULL, b, y, ws);
        return;
    }
#endif
    ABSA_FN(absa_conv_gemm_forward)(c, x, W, b, y, ws);
}

void ABSA_FN(absa_conv2d_backward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                   const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws)
{
#if ABSA_CONV_DIRECT
    if (absa_dc_enabled()) {
        ABSA_ASSERT(c && x && W && dy && ws, "conv2d_backward: NULL argument");
        absa_dc_backward(c, x, NULL, dy, NULL, W, NULL, dx, dW, c->has_bias ? db : NULL, ws);
        return;
    }
#endif
    ABSA_FN(absa_conv_gemm_backward)(c, x, W, dy, dx, dW, db, ws);
}

void ABSA_FN(absa_conv2d_rforward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *W, const ABSA_T *V, const ABSA_T *Vb, ABSA_T *Ry,
                                   ABSA_T *ws)
{
#if ABSA_CONV_DIRECT
    if (absa_dc_enabled()) {
        ABSA_ASSERT(c && x && W && V && Ry && ws, "conv2d_rforward: NULL argument");
        absa_dc_forward(c, x, Rx, V, W, Vb, Ry, ws);
        return;
    }
#endif
    ABSA_FN(absa_conv_gemm_rforward)(c, x, Rx, W, V, Vb, Ry, ws);
}

void ABSA_FN(absa_conv2d_rbackward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                    const ABSA_T *W, const ABSA_T *V, const ABSA_T *dy,
                                    const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb,
                                    ABSA_T *ws)
{
#if ABSA_CONV_DIRECT
    if (absa_dc_enabled()) {
        ABSA_ASSERT(c && x && W && V && dy && Rdy && ws, "conv2d_rbackward: NULL argument");
        absa_dc_backward(c, x, Rx, dy, Rdy, V, W, Rdx, RdW, c->has_bias ? Rdb : NULL, ws);
        return;
    }
#endif
    ABSA_FN(absa_conv_gemm_rbackward)(c, x, Rx, W, V, dy, Rdy, Rdx, RdW, Rdb, ws);
}
