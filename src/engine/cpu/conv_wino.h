/* conv_wino.h — generic body of the Winograd F(2x2, 3x3) path of conv2d (3x3 kernels, stride 1,
 * any padding, C and O >= ABSA_WINO_MIN_CH), included by conv_impl.h once per precision.
 *
 * The multiply-accumulates are BLAS GEMMs, 16 per group of samples (one per point of the 4x4
 * transform domain), on 2.25x fewer products than im2col; the transforms are linear maps with
 * coefficients 0, +-1/2, +-1 done here, vectorised over channels (HWC buffers):
 *   U = G g G^T (weights), V = B^T d B (4x4 input tiles, stride 2), D = A dy A^T (2x2 dy tiles),
 *   forward   M[t][o]  = sum_c V[t][c] Uf[c][o]        y tile   = A^T M A
 *   data grad E[t][c]  = sum_o D[t][o] Ub[o][c]        dx tile += B E B^T (overlapping tiles)
 *   weight    F[o][c] += sum_t D[t][o] V[t][c]         dW       = G^T F G (after all samples)
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; h h h; h -h h; 0 0 1] (h = 1/2),
 * A^T = [1 1 1 0; 0 1 -1 -1]. The backward formulas are the adjoints of the forward one
 * (sum dY.(A^T (U.V) A) = sum D.U.V), so all three passes share V, D and U.
 * Output tiles are 2x2; odd output sizes are padded with zero rows/columns that are never
 * emitted. Threads take groups of S samples (T = S * tiles rows per GEMM), each with its own
 * workspace slot and F partial; F partials are summed in thread order at the end.
 */

#ifndef ABSA_CONV_WINO_ONCE
#define ABSA_CONV_WINO_ONCE
#define ABSA_WINO_MIN_CH 8            /* fewer channels: the GEMMs are too thin, use im2col */
/* Target 16*T*max(C,O) elements per transform buffer: one sample per group for lenet's conv2 and
 * resnet20's first two stages, two in its third (128 KiB buffers, L2-resident). 2^18 (4-16
 * samples) was 5-12 % slower on the Xeon of docs/benchmarks.md (absa bench, 2026-12-07: resnet20
 * batch 128 575 -> 640 img/s, 512 539 -> 604; lenet 10000 -> 10450); 2^12-2^16 measured alike.
 * The group size sets the order in which the weight gradient sums tiles (legitimate bits). */
#define ABSA_WINO_GROUP_ELEMS (1 << 15)
#define ABSA_WINO_SKEW 48               /* elements between consecutive transform matrices */

/* Whether a layer takes the Winograd path: 3x3, stride 1, enough channels, and not switched off
 * with ABSA_CONV_WINO=0 (then every layer uses the patch-matrix engine). */
static int absa_wino_geo(const absa_conv_cfg *c) /* the geometry alone (workspace sizing) */
{
    return c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 && c->C >= ABSA_WINO_MIN_CH &&
           c->O >= ABSA_WINO_MIN_CH;
}

static int absa_wino_ok(const absa_conv_cfg *c)
{
    const char *e = getenv("ABSA_CONV_WINO");
    if (e && e[0] == '0') return 0;
    return absa_wino_geo(c);
}

/* Workspace layout (elements). Shared: ufA, ufB [16][C][O]; ubA, ubB [16][O][C]. Per slot: xp
 * (padded HWC input, Hx x Wx x C), dxp (same, the fold target), vx, v2 [16][T][C] (transformed x
 * and Rx), da, db [16][T][O] (transformed dy, Rdy), mm [16][T][max(C,O)] (GEMM results), yt
 * (HWC output or dy of one sample, 2th x 2tw x O), fw [16][O][C] (weight-gradient partial), pb
 * [O] (bias partial). */
typedef struct absa_wino_lay {
    int th, tw, tiles, S, T, Hx, Wx;
    size_t u, plane, o_ufA, o_ufB, o_ubA, o_ubB, shared;
    size_t o_xp, o_dxp, o_vx, o_v2, o_da, o_db, o_mm, o_yt, o_fw, o_pb, o_z, o_z2, o_t, slot, total;
} absa_wino_lay;

static void absa_wino_layout(const absa_conv_cfg *c, absa_wino_lay *l)
{
    l->th = (c->Ho + 1) / 2;
    l->tw = (c->Wo + 1) / 2;
    l->tiles = l->th * l->tw;
    l->Hx = 2 * l->th + 2; /* >= H + 2*ph: room for the last, possibly partial, tiles */
    l->Wx = 2 * l->tw + 2;
    const size_t C = (size_t)c->C, O = (size_t)c->O, mx = C > O ? C : O;
    /* the buffers hold groups of Smax samples; a call may use fewer per group so that every
     * thread gets work when the batch is small (the sizes never depend on the thread count) */
    size_t Smax = ABSA_WINO_GROUP_ELEMS / (16 * (size_t)l->tiles * mx);
    if (Smax < 1) Smax = 1;
    if (Smax > (size_t)c->N) Smax = (size_t)c->N;
    const int nt = absa_conv_threads(c->N);
    const size_t per = ((size_t)c->N + (size_t)nt - 1) / (size_t)nt;
    l->S = (int)(Smax < per ? Smax : per);
    l->T = l->S * l->tiles;
    l->u = 16 * C * O;
    l->plane = (size_t)l->Hx * l->Wx * C;
    size_t at = 0;
    l->o_ufA = at, at += absa_conv_rup(l->u);
    l->o_ufB = at, at += absa_conv_rup(l->u);
    l->o_ubA = at, at += absa_conv_rup(l->u);
    l->o_ubB = at, at += absa_conv_rup(l->u);
    l->shared = at;
    const size_t Tn = Smax * (size_t)l->tiles, ytn = (size_t)4 * l->tiles * O;
    at = 0;
    l->o_xp = at, at += absa_conv_rup(l->plane);
    l->o_dxp = at, at += absa_conv_rup(l->plane);
    l->o_vx = at, at += 16 * (Tn * C + ABSA_WINO_SKEW);
    l->o_v2 = at, at += 16 * (Tn * C + ABSA_WINO_SKEW);
    l->o_da = at, at += 16 * (Tn * O + ABSA_WINO_SKEW);
    l->o_db = at, at += 16 * (Tn * O + ABSA_WINO_SKEW);
    l->o_mm = at, at += 16 * (Tn * mx + ABSA_WINO_SKEW);
    l->o_yt = at, at += absa_conv_rup(ytn);
    l->o_fw = at, at += absa_conv_rup(l->u);
    l->o_pb = at, at += absa_conv_rup(O);
    l->o_z = l->o_z2 = l->o_t = 0;
    l->slot = at;
    l->total = l->shared + (size_t)absa_conv_slots() * l->slot;
}

/* With a fused max-pool (absa_conv2d_pool_*): each slot also holds one sample's conv output z
 * [O][Ho*Wo] (pooled from there) and, backward, the pool's scatter of its dy and Rdy (z, z2) and
 * a fused ReLU's masked dy (t). */
static void absa_wino_layout_pool(const absa_conv_cfg *c, absa_wino_lay *l)
{
    absa_wino_layout(c, l);
    const size_t zs = absa_conv_rup((size_t)c->O * c->Ho * c->Wo);
    l->o_z = l->slot;
    l->o_z2 = l->slot + zs;
    l->o_t = l->slot + 2 * zs; /* a fused ReLU's masked dy */
    l->slot += 3 * zs;
    l->total = l->shared + (size_t)absa_conv_slots() * l->slot;
}

/* Distance between the 16 matrices of a transform buffer of n channels: T*n elements plus a
 * skew, so that the 16 write streams of a transform do not share L1 sets (T*n*4 bytes is often a
 * multiple of 4 KiB: measured 2-3x slower transforms without the skew). */
static inline size_t absa_wino_cs(const absa_wino_lay *l, int n)
{
    return (size_t)l->T * (size_t)n + ABSA_WINO_SKEW;
}

#endif /* ABSA_CONV_WINO_ONCE */

/* uf[k][ch][o] (trans == 0) or ub[k][o][ch] (trans == 1) = (G W[o][ch] G^T)[k]. */
static void ABSA_FN(absa_wino_weights)(const absa_conv_cfg *c, const ABSA_T *W, ABSA_T *u, int trans)
{
    const int C = c->C, O = c->O;
    const ABSA_T h = (ABSA_T)0.5;
    for (int o = 0; o < O; o++)
        for (int ch = 0; ch < C; ch++) {
            const ABSA_T *g = W + ((size_t)o * C + ch) * 9;
            ABSA_T t[4][3], r[4][4];
            for (int j = 0; j < 3; j++) { /* G g: rows */
                t[0][j] = g[j];
                t[1][j] = h * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = h * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) { /* (G g) G^T: columns */
                r[i][0] = t[i][0];
                r[i][1] = h * (t[i][0] + t[i][1] + t[i][2]);
                r[i][2] = h * (t[i][0] - t[i][1] + t[i][2]);
                r[i][3] = t[i][2];
            }
            for (int k = 0; k < 16; k++) {
                size_t at = trans ? ((size_t)k * O + o) * C + ch : ((size_t)k * C + ch) * O + o;
                u[at] = r[k / 4][k % 4];
            }
        }
}

/* v[k*ks + (row0 + t)*n + e] = (B^T d B)[k] of every 4x4 tile t of xp (HWC, width Wx, n
 * channels, tile origin (2*ti, 2*tj)), vectorised over the n channels. */
ABSA_CONV_SIMD static void ABSA_FN(absa_wino_in)(const absa_wino_lay *l, int n,
                                                 const ABSA_T *restrict xp, ABSA_T *restrict v,
                                                 size_t ks, size_t row0)
{
    const size_t rs = (size_t)l->Wx * n, ns = (size_t)n;
    for (int ti = 0; ti < l->th; ti++)
        for (int tj = 0; tj < l->tw; tj++) {
            const ABSA_T *b = xp + (size_t)2 * ti * rs + (size_t)2 * tj * ns;
            ABSA_T *d = v + (row0 + (size_t)ti * l->tw + tj) * ns;
#pragma omp simd
            for (size_t e = 0; e < ns; e++) {
                ABSA_T x[4][4], t[4][4];
                for (int r = 0; r < 4; r++)
                    for (int q = 0; q < 4; q++) x[r][q] = b[r * rs + q * ns + e];
                for (int q = 0; q < 4; q++) { /* B^T x: rows */
                    t[0][q] = x[0][q] - x[2][q];
                    t[1][q] = x[1][q] + x[2][q];
                    t[2][q] = x[2][q] - x[1][q];
                    t[3][q] = x[1][q] - x[3][q];
                }
                for (int r = 0; r < 4; r++) { /* (B^T x) B: columns */
                    d[(size_t)(4 * r + 0) * ks + e] = t[r][0] - t[r][2];
                    d[(size_t)(4 * r + 1) * ks + e] = t[r][1] + t[r][2];
                    d[(size_t)(4 * r + 2) * ks + e] = t[r][2] - t[r][1];
                    d[(size_t)(4 * r + 3) * ks + e] = t[r][1] - t[r][3];
                }
            }
        }
}

/* d[k*ks + (row0 + t)*n + e] = (A g A^T)[k] of every 2x2 tile t of gt (HWC, 2th x 2tw x n). */
ABSA_CONV_SIMD static void ABSA_FN(absa_wino_dy)(const absa_wino_lay *l, int n,
                                                 const ABSA_T *restrict gt, ABSA_T *restrict d,
                                                 size_t ks, size_t row0)
{
    const size_t rs = (size_t)2 * l->tw * n, ns = (size_t)n;
    for (int ti = 0; ti < l->th; ti++)
        for (int tj = 0; tj < l->tw; tj++) {
            const ABSA_T *b = gt + (size_t)2 * ti * rs + (size_t)2 * tj * ns;
            ABSA_T *o = d + (row0 + (size_t)ti * l->tw + tj) * ns;
#pragma omp simd
            for (size_t e = 0; e < ns; e++) {
                const ABSA_T g00 = b[e], g01 = b[ns + e], g10 = b[rs + e], g11 = b[rs + ns + e];
                /* A g: rows (a = [y0, y0+y1, y0-y1, -y1]) */
                const ABSA_T t[4][2] = {{g00, g01},
                                        {g00 + g10, g01 + g11},
                                        {g00 - g10, g01 - g11},
                                        {-g10, -g11}};
                for (int r = 0; r < 4; r++) { /* (A g) A^T: columns */
                    o[(size_t)(4 * r + 0) * ks + e] = t[r][0];
                    o[(size_t)(4 * r + 1) * ks + e] = t[r][0] + t[r][1];
                    o[(size_t)(4 * r + 2) * ks + e] = t[r][0] - t[r][1];
                    o[(size_t)(4 * r + 3) * ks + e] = -t[r][1];
                }
            }
        }
}

/* yt (HWC, 2th x 2tw x n) = A^T m A of the tiles at rows row0.. of m ([16][ks], n channels). */
ABSA_CONV_SIMD static void ABSA_FN(absa_wino_out)(const absa_wino_lay *l, int n,
                                                  const ABSA_T *restrict m, size_t ks,
                                                  size_t row0, ABSA_T *restrict yt)
{
    const size_t rs = (size_t)2 * l->tw * n, ns = (size_t)n;
    for (int ti = 0; ti < l->th; ti++)
        for (int tj = 0; tj < l->tw; tj++) {
            const ABSA_T *s = m + (row0 + (size_t)ti * l->tw + tj) * ns;
            ABSA_T *y = yt + (size_t)2 * ti * rs + (size_t)2 * tj * ns;
#pragma omp simd
            for (size_t e = 0; e < ns; e++) {
                ABSA_T t[2][4];
                for (int q = 0; q < 4; q++) { /* A^T m: rows */
                    const ABSA_T m0 = s[(size_t)q * ks + e], m1 = s[(size_t)(4 + q) * ks + e];
                    const ABSA_T m2 = s[(size_t)(8 + q) * ks + e], m3 = s[(size_t)(12 + q) * ks + e];
                    t[0][q] = m0 + m1 + m2;
                    t[1][q] = m1 - m2 - m3;
                }
                for (int r = 0; r < 2; r++) { /* (A^T m) A: columns */
                    y[r * rs + e] = t[r][0] + t[r][1] + t[r][2];
                    y[r * rs + ns + e] = t[r][1] - t[r][2] - t[r][3];
                }
            }
        }
}

/* dxp (HWC, width Wx, n channels) += B e B^T of the tiles at rows row0.. of e ([16][ks]). */
ABSA_CONV_SIMD static void ABSA_FN(absa_wino_fold)(const absa_wino_lay *l, int n,
                                                   const ABSA_T *restrict m, size_t ks,
                                                   size_t row0, ABSA_T *restrict dxp)
{
    const size_t rs = (size_t)l->Wx * n, ns = (size_t)n;
    for (int ti = 0; ti < l->th; ti++)
        for (int tj = 0; tj < l->tw; tj++) {
            const ABSA_T *s = m + (row0 + (size_t)ti * l->tw + tj) * ns;
            ABSA_T *x = dxp + (size_t)2 * ti * rs + (size_t)2 * tj * ns;
#pragma omp simd
            for (size_t e = 0; e < ns; e++) {
                ABSA_T t[4][4];
                for (int q = 0; q < 4; q++) { /* B e: rows (B = [1 0 0 0; 0 1 -1 1; -1 1 1 0; 0 0 0 -1]) */
                    const ABSA_T e0 = s[(size_t)q * ks + e], e1 = s[(size_t)(4 + q) * ks + e];
                    const ABSA_T e2 = s[(size_t)(8 + q) * ks + e], e3 = s[(size_t)(12 + q) * ks + e];
                    t[0][q] = e0;
                    t[1][q] = e1 - e2 + e3;
                    t[2][q] = e1 + e2 - e0;
                    t[3][q] = -e3;
                }
                for (int r = 0; r < 4; r++) { /* (B e) B^T: columns */
                    ABSA_T *row = x + r * rs + e;
                    row[0] += t[r][0];
                    row[ns] += t[r][1] - t[r][2] + t[r][3];
                    row[2 * ns] += t[r][1] + t[r][2] - t[r][0];
                    row[3 * ns] += -t[r][3];
                }
            }
        }
}

/* The 16 products of the transform domain for Tg tile rows: out[k] = a[k] u[k] (+ a2[k] u2[k]
 * when a2), a[k] [Tg x nin] (stride absa_wino_cs(nin)), u[k] [nin x nout], out[k] [Tg x nout]
 * (stride absa_wino_cs(nout)). Forward: (V, Uf) -> M; data gradient: (D, Ub) -> E. */
static void ABSA_FN(absa_wino_mm)(const absa_wino_lay *l, int Tg, int nin, int nout,
                                  const ABSA_T *a, const ABSA_T *u, const ABSA_T *a2,
                                  const ABSA_T *u2, ABSA_T *out)
{
    const size_t as = absa_wino_cs(l, nin), os = absa_wino_cs(l, nout), us = (size_t)nin * nout;
    for (int k = 0; k < 16; k++) {
        ABSA_FN(absa_gemm)(0, 0, Tg, nout, nin, 1, a + k * as, nin, u + k * us, nout, 0,
                           out + k * os, nout);
        if (a2)
            ABSA_FN(absa_gemm)(0, 0, Tg, nout, nin, 1, a2 + k * as, nin, u2 + k * us, nout, 1,
                               out + k * os, nout);
    }
}

/* The threads' weight-gradient partials (the first n elements at o_fw of each of the team's
 * slots, which start at shared and are slot elements apart; only when dW) added into slot 0's,
 * and their bias partials (at o_pb) into db, in thread order (also the direct path's,
 * conv_direct_pass.h). Returns slot 0's sum. */
static ABSA_T *ABSA_FN(absa_wino_sum_partials)(ABSA_T *ws, size_t shared, size_t slot, size_t o_fw, size_t o_pb,
                                               int team, size_t n, int dW, ABSA_T *db, int O)
{
    ABSA_T *f0 = ws + shared + o_fw;
    for (int t = 0; (dW || db) && t < team; t++) {
        const ABSA_T *s = ws + shared + (size_t)t * slot;
        for (int o = 0; db && o < O; o++) db[o] += s[o_pb + o];
        if (t == 0 || !dW) continue;
        for (size_t i = 0; i < n; i++) f0[i] += s[o_fw + i];
    }
    return f0;
}

/* y = conv(x, A) [+ conv(Rx, B) when Rx] + b, overwriting y. With a fused max-pool (fp) each
 * sample's output goes to the slot's z and is pooled from there, as in absa_conv_fwd. */
static void ABSA_FN(absa_wino_fwd)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *A, const ABSA_T *B, const ABSA_T *b, ABSA_T *y,
                                   ABSA_T *ws, const absa_conv_fuse *fp)
{
    absa_wino_lay l;
    if (fp) absa_wino_layout_pool(c, &l);
    else absa_wino_layout(c, &l);
    const int O = c->O, C = c->C, P = c->Ho * c->Wo, ngroups = (c->N + l.S - 1) / l.S;
    const size_t xsz = (size_t)C * c->H * c->W, ysz = (size_t)O * P;
    ABSA_FN(absa_wino_weights)(c, A, ws + l.o_ufA, 0);
    if (Rx) ABSA_FN(absa_wino_weights)(c, B, ws + l.o_ufB, 0);
    const int T = absa_conv_threads(ngroups);
    (void)T;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        ABSA_T *slot = ws + l.shared + (size_t)absa_conv_tid() * l.slot;
        ABSA_T *xp = slot + l.o_xp, *vx = slot + l.o_vx, *v2 = slot + l.o_v2;
        ABSA_T *mm = slot + l.o_mm, *yt = slot + l.o_yt;
        memset(xp, 0, l.plane * sizeof(ABSA_T));
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++) {
            const int n0 = gi * l.S, S = c->N - n0 < l.S ? c->N - n0 : l.S, Tg = S * l.tiles;
            for (int s = 0; s < S; s++) {
                const size_t row0 = (size_t)s * l.tiles;
                ABSA_FN(absa_conv_pad)(x + (n0 + s) * xsz, C, c->H, c->W, xp, (size_t)l.Wx, c->ph, c->pw);
                ABSA_FN(absa_wino_in)(&l, C, xp, vx, absa_wino_cs(&l, C), row0);
                if (Rx) {
                    ABSA_FN(absa_conv_pad)(Rx + (n0 + s) * xsz, C, c->H, c->W, xp, (size_t)l.Wx, c->ph,
                                           c->pw);
                    ABSA_FN(absa_wino_in)(&l, C, xp, v2, absa_wino_cs(&l, C), row0);
                }
            }
            ABSA_FN(absa_wino_mm)(&l, Tg, C, O, vx, ws + l.o_ufA, Rx ? v2 : NULL, ws + l.o_ufB, mm);
            for (int s = 0; s < S; s++) {
                ABSA_FN(absa_wino_out)(&l, O, mm, absa_wino_cs(&l, O), (size_t)s * l.tiles, yt);
                /* yt (HWC, rows of 2tw) -> CHW, plus the bias; one transpose of the plane when the
                 * rows have no padding (lenet's Wo = 14) */
                const int n = n0 + s;
                ABSA_T *yn = fp ? slot + l.o_z : y + n * ysz;
                ABSA_FN(absa_conv_unpad)(yt, (size_t)2 * l.tw, 0, 0, O, c->Ho, c->Wo, yn, 1, b);
                if (fp) ABSA_FN(absa_conv_fuse_out)(fp, n, yn, y);
            }
        }
    }
}

/* dx += convT(dyA, A) [+ convT(dyB, B)];  dW += corr(dyB ? dyB : dyA, x) [+ corr(dyA, Rx) when
 * dyB and Rx];  db += sum(dyB ? dyB : dyA) — as absa_conv_bwd, also with a fused max-pool (fp:
 * dyA, dyB pooled, each sample's scattered into the slot's z, z2 first). */
static void ABSA_FN(absa_wino_bwd)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *dyA, const ABSA_T *dyB, const ABSA_T *A,
                                   const ABSA_T *B, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws,
                                   const absa_conv_fuse *fp)
{
    absa_wino_lay l;
    if (fp) absa_wino_layout_pool(c, &l);
    else absa_wino_layout(c, &l);
    const int O = c->O, C = c->C, P = c->Ho * c->Wo, ngroups = (c->N + l.S - 1) / l.S;
    const size_t xsz = (size_t)C * c->H * c->W, ysz = (size_t)O * P;
    const int dyR = dyB && Rx;
    if (dx) {
        ABSA_FN(absa_wino_weights)(c, A, ws + l.o_ubA, 1);
        if (dyB) ABSA_FN(absa_wino_weights)(c, B, ws + l.o_ubB, 1);
    }
    int T = absa_conv_threads(ngroups);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        ABSA_T *slot = ws + l.shared + (size_t)absa_conv_tid() * l.slot;
        ABSA_T *xp = slot + l.o_xp, *dxp = slot + l.o_dxp, *vx = slot + l.o_vx;
        ABSA_T *v2 = slot + l.o_v2, *da = slot + l.o_da, *dbb = slot + l.o_db, *mm = slot + l.o_mm;
        ABSA_T *yt = slot + l.o_yt, *fw = slot + l.o_fw, *pb = slot + l.o_pb;
        if (absa_conv_tid() == 0) T = absa_conv_team(); /* the team may be smaller than asked */
        memset(xp, 0, l.plane * sizeof(ABSA_T));
        memset(yt, 0, (size_t)4 * l.tiles * O * sizeof(ABSA_T)); /* 2th x 2tw x O */
        if (dW) memset(fw, 0, l.u * sizeof(ABSA_T));
        if (db) memset(pb, 0, (size_t)O * sizeof(ABSA_T));
#pragma omp for schedule(static)
        for (int gi = 0; gi < ngroups; gi++) {
            const int n0 = gi * l.S, S = c->N - n0 < l.S ? c->N - n0 : l.S, Tg = S * l.tiles;
            for (int s = 0; s < S; s++) {
                const int n = n0 + s;
                const size_t row0 = (size_t)s * l.tiles;
                const ABSA_T *dA, *dB;
                ABSA_FN(absa_conv_fuse_dys)(fp, n, ysz, dyA, dyB, slot + l.o_t, slot + l.o_z, slot + l.o_z2, &dA,
                                            &dB);
                if (db) ABSA_FN(absa_conv_bias_sum)(O, P, dB ? dB : dA, pb);
                /* dy of one sample: an O-channel "image" of Ho x Wo in yt (width 2tw, no padding) */
                ABSA_FN(absa_conv_pad)(dA, O, c->Ho, c->Wo, yt, (size_t)2 * l.tw, 0, 0);
                ABSA_FN(absa_wino_dy)(&l, O, yt, da, absa_wino_cs(&l, O), row0);
                if (dB) {
                    ABSA_FN(absa_conv_pad)(dB, O, c->Ho, c->Wo, yt, (size_t)2 * l.tw, 0, 0);
                    ABSA_FN(absa_wino_dy)(&l, O, yt, dbb, absa_wino_cs(&l, O), row0);
                }
                if (dW) {
                    ABSA_FN(absa_conv_pad)(x + n * xsz, C, c->H, c->W, xp, (size_t)l.Wx, c->ph, c->pw);
                    ABSA_FN(absa_wino_in)(&l, C, xp, vx, absa_wino_cs(&l, C), row0);
                    if (dyR) {
                        ABSA_FN(absa_conv_pad)(Rx + n * xsz, C, c->H, c->W, xp, (size_t)l.Wx, c->ph,
                                               c->pw);
                        ABSA_FN(absa_wino_in)(&l, C, xp, v2, absa_wino_cs(&l, C), row0);
                    }
                }
            }
            const ABSA_T *dW_d = dyB ? dbb : da; /* the transformed dy that pairs with x */
            for (int k = 0; dW && k < 16; k++) {
                ABSA_T *fk = fw + (size_t)k * O * C;
                ABSA_FN(absa_gemm)(1, 0, O, C, Tg, 1, dW_d + (size_t)k * absa_wino_cs(&l, O), O,
                                   vx + (size_t)k * absa_wino_cs(&l, C), C, 1, fk, C);
                if (dyR)
                    ABSA_FN(absa_gemm)(1, 0, O, C, Tg, 1, da + (size_t)k * absa_wino_cs(&l, O), O,
                                       v2 + (size_t)k * absa_wino_cs(&l, C), C, 1, fk, C);
            }
            if (!dx) continue;
            ABSA_FN(absa_wino_mm)(&l, Tg, O, C, da, ws + l.o_ubA, dyB ? dbb : NULL, ws + l.o_ubB, mm);
            for (int s = 0; s < S; s++) {
                memset(dxp, 0, l.plane * sizeof(ABSA_T));
                ABSA_FN(absa_wino_fold)(&l, C, mm, absa_wino_cs(&l, C), (size_t)s * l.tiles, dxp);
                ABSA_FN(absa_conv_unpad)(dxp, (size_t)l.Wx, c->ph, c->pw, C, c->H, c->W,
                                         dx + (n0 + s) * xsz, c->dx_set, NULL);
            }
        }
    }
    /* dW[o][ch] += G^T (sum of the threads' F) G; db += the bias partials, in thread order */
    const ABSA_T *f = ABSA_FN(absa_wino_sum_partials)(ws, l.shared, l.slot, l.o_fw, l.o_pb, T, l.u, dW != NULL, db, O), h = (ABSA_T)0.5;
    if (!dW) return;
    for (int o = 0; o < O; o++)
        for (int ch = 0; ch < C; ch++) {
            ABSA_T m[4][4], t[3][4];
            for (int k = 0; k < 16; k++) m[k / 4][k % 4] = f[((size_t)k * O + o) * C + ch];
            for (int q = 0; q < 4; q++) { /* G^T m: rows (G^T = [1 h h 0; 0 h -h 0; 0 h h 1]) */
                t[0][q] = m[0][q] + h * (m[1][q] + m[2][q]);
                t[1][q] = h * (m[1][q] - m[2][q]);
                t[2][q] = h * (m[1][q] + m[2][q]) + m[3][q];
            }
            ABSA_T *g = dW + ((size_t)o * C + ch) * 9;
            for (int r = 0; r < 3; r++) { /* (G^T m) G: columns */
                g[3 * r + 0] += t[r][0] + h * (t[r][1] + t[r][2]);
                g[3 * r + 1] += h * (t[r][1] - t[r][2]);
                g[3 * r + 2] += h * (t[r][1] + t[r][2]) + t[r][3];
            }
        }
}
