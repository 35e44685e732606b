/* conv_direct.h — the direct path of conv2d: 3x3, stride 1, padding 1, 16 input and 16 output
 * channels, float32, on the CPU paths with FMA (avx2, avx512; conv_path.h). Included by
 * conv_impl.h once per precision and path; its body is compiled on the float32 inclusion of an
 * FMA path only (ABSA_CONV_FMA_TARGET, set by conv_avx2.c and conv_avx512.c).
 *
 * Why: resnet20's six 16->16 layers at 32x32 are where Winograd's 16 GEMMs are thinnest ([T x 16]
 * x [16 x 16]): 2.25x fewer products, but run at a fifth of the FMA peak, around five layout
 * transposes per sample. Here the products are summed in registers, tap by tap and channel by
 * channel, each one FMA with a broadcast operand (about 85 % of the FMA peak per core, and the
 * layer's forward + backward 27 % faster than Winograd's: docs/benchmarks.md). Per sample:
 *   forward      y[o][p]  = sum_{i,j,c} xp[c][p + (i,j)] W[o][c][i][j]          (absa_dconv_pix)
 *   data grad    dx[c][p] = sum_{i,j,o} dyp[o][p + (i,j)] W[o][c][2-i][2-j]     (the same kernel)
 *   weight grad  F[i][j][c][o] = sum_p xh[p + (i,j)][c] dy[p][o], dW[o][c][i][j] += sum F
 *                                                                               (absa_dconv_dw16)
 * xp is x zero-padded by 1 in CHW (a row copy), dyp dy padded by 1 (the full correlation with the
 * flipped kernel); their products run vectors over a row's pixels, each FMA with a broadcast
 * weight, and store CHW rows straight into y and dx. The weight gradient runs vectors over the 16
 * output channels with broadcast inputs, on x padded in HWC (xh) and dy in HWC (conv_impl.h's
 * transposes: two per sample, against five on the Winograd path).
 *
 * Bits: each output element is one chain of FMAs in a fixed order (source, tap row, tap column,
 * channel; the weight gradient: per source one chain over the pixels in row-major order, added
 * into the thread's partial), whatever the vector width and the blocking: the avx2 and avx512
 * paths give the same bits (unit.test_conv_paths). The baseline path (no FMA) keeps the Winograd engine for these
 * layers, whose bits differ (a legitimate difference, docs/engine.md Determinism). The R-passes
 * add their second source into the same chains (Ry = conv(x, V) + conv(Rx, W) as one sum).
 * ABSA_CONV_DIRECT=0 switches the path off (these layers then take Winograd). */

#ifndef ABSA_CONV_DIRECT_RULE_ONCE
#define ABSA_CONV_DIRECT_RULE_ONCE
/* Whether a layer takes the direct path on an FMA CPU path (every path's build has this rule;
 * only the avx2 and avx512 builds have the path, and conv.c's absa_conv_engine_f32 asks it for
 * the active one): the geometry, a CPU with FMA, and ABSA_CONV_WINO on, since ABSA_CONV_WINO=0
 * means the patch-matrix engine for every layer. */
static int absa_dconv_eligible(const absa_conv_cfg *c)
{
    const char *e = getenv("ABSA_CONV_DIRECT");
    if ((e && e[0] == '0') || !absa_wino_ok(c)) return 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (!__builtin_cpu_supports("fma")) return 0;
#else
    return 0; /* no FMA path is built */
#endif
    return c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 && c->ph == 1 && c->pw == 1 &&
           c->C == 16 && c->O == 16 && c->Ho == c->H && c->Wo == c->W;
}
#endif

#if defined(ABSA_CONV_FMA_TARGET) && !defined(ABSA_CONV_DIRECT_ONCE)
#define ABSA_CONV_DIRECT_ONCE
#define ABSA_CONV_DIRECT 1
#include <immintrin.h>

#define ABSA_DCONV_FN __attribute__((target(ABSA_CONV_FMA_TARGET)))
#ifdef ABSA_CONV_W16 /* AVX-512: 16 lanes */
typedef __m512 absa_dv;
#define ABSA_DV_W 16
#define absa_dv_zero() _mm512_setzero_ps()
#define absa_dv_load(p) _mm512_loadu_ps(p)
#define absa_dv_store(p, v) _mm512_storeu_ps((p), (v))
#define absa_dv_bcast(s) _mm512_set1_ps(s)
#define absa_dv_fma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define absa_dv_add(a, b) _mm512_add_ps((a), (b))
#define ABSA_DV_OB 16 /* output channels per pass of absa_dconv_pix (accumulators) */
#else /* AVX2: 8 lanes */
typedef __m256 absa_dv;
#define ABSA_DV_W 8
#define absa_dv_zero() _mm256_setzero_ps()
#define absa_dv_load(p) _mm256_loadu_ps(p)
#define absa_dv_store(p, v) _mm256_storeu_ps((p), (v))
#define absa_dv_bcast(s) _mm256_set1_ps(s)
#define absa_dv_fma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define absa_dv_add(a, b) _mm256_add_ps((a), (b))
#define ABSA_DV_OB 8
#endif
#define ABSA_DV_NV (16 / ABSA_DV_W) /* vectors per 16 channels (the weight gradient's accumulators) */
#define ABSA_DCONV_CH 16       /* the input and output channels of the path */

/* out[o][h][w] = (add ? out[o][h][w] : 0) + (sum + bias[o] when bias) for o < 16, where sum = the
 * sum over sources s < ns of the 3x3 correlation of xs[s] with wk[s]: xs[s] is 16 zero-padded CHW
 * planes of (H+2) x (W+2), followed by at least ABSA_DV_W elements of slack (the last row block's
 * loads may run past a row; those lanes are not stored), wk[s] is [9][16][16] ((i*3 + j)*16 + c,
 * then o). Vectors run over ABSA_DV_W pixels of a row, so the output is stored in CHW directly;
 * each output element's chain is the same as in any blocking: sources, tap rows, tap columns,
 * input channels, in that order, each one FMA (a zero from the padding included). */
ABSA_DCONV_FN static void absa_dconv_pix(int H, int W, int ns, const float *const *xs,
                                         const float *const *wk, float *out, int add, const float *bias)
{
    const size_t wp = (size_t)W + 2, pl = (size_t)(H + 2) * wp, P = (size_t)H * W;
    for (int h = 0; h < H; h++)
        for (int w0 = 0; w0 < W; w0 += ABSA_DV_W) {
            const int nw = W - w0 < ABSA_DV_W ? W - w0 : ABSA_DV_W;
            for (int o0 = 0; o0 < 16; o0 += ABSA_DV_OB) {
                absa_dv acc[ABSA_DV_OB];
                for (int o = 0; o < ABSA_DV_OB; o++) acc[o] = absa_dv_zero();
                for (int s = 0; s < ns; s++)
                    for (int t = 0; t < 9; t++) {
                        const float *xr = xs[s] + (size_t)(h + t / 3) * wp + (size_t)(w0 + t % 3);
                        const float *wr = wk[s] + (size_t)t * 256 + o0;
#pragma GCC unroll 4
                        for (int c = 0; c < 16; c++) {
                            const absa_dv xv = absa_dv_load(xr + (size_t)c * pl);
#pragma GCC unroll 16
                            for (int o = 0; o < ABSA_DV_OB; o++)
                                acc[o] = absa_dv_fma(absa_dv_bcast(wr[c * 16 + o]), xv, acc[o]);
                        }
                    }
                for (int o = 0; o < ABSA_DV_OB; o++) {
                    float *d = out + (size_t)(o0 + o) * P + (size_t)h * W + w0;
                    absa_dv v = acc[o];
                    if (bias) v = absa_dv_add(v, absa_dv_bcast(bias[o0 + o]));
                    if (nw == ABSA_DV_W) {
                        if (add) v = absa_dv_add(absa_dv_load(d), v);
                        absa_dv_store(d, v);
                    } else { /* the row's last, partial block */
                        float tmp[ABSA_DV_W];
                        absa_dv_store(tmp, v);
                        for (int k = 0; k < nw; k++) d[k] = add ? d[k] + tmp[k] : tmp[k];
                    }
                }
            }
        }
}

/* dst (C zero-padded planes of (H+2) x (W+2), borders already zero) = the interior copy of src
 * (C x H x W). */
static void absa_dconv_padchw(const float *src, int C, int H, int W, float *dst)
{
    const size_t wp = (size_t)W + 2, pl = (size_t)(H + 2) * wp;
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            memcpy(dst + (size_t)c * pl + (size_t)(h + 1) * wp + 1, src + ((size_t)c * H + h) * W,
                   (size_t)W * sizeof(float));
}

/* f[(i*3 + j)*cin + c][o] += sum_p xp[p + (i,j)][c] dy[p][o] (xp padded HWC, (Ho+2) x (Wo+2) x
 * cin; dy HWC, Ho x Wo x 16 in rows of dys elements): the chain of each element runs over the
 * pixels, then adds into f. */
ABSA_DCONV_FN static void absa_dconv_dw16(int Ho, int Wo, const float *xp, const float *dy, size_t dys,
                                          float *f)
{
    const int cin = ABSA_DCONV_CH;
    enum { CB = 16 / ABSA_DV_NV }; /* input channels per pass: 16 (AVX-512) or 8 (AVX2), a divisor of cin */
    const size_t wp = (size_t)Wo + 2;
    for (int t = 0; t < 9; t++) {
        const int i = t / 3, j = t % 3;
        for (int c0 = 0; c0 < cin; c0 += CB) {
            absa_dv acc[CB][ABSA_DV_NV];
            for (int c = 0; c < CB; c++)
                for (int v = 0; v < ABSA_DV_NV; v++) acc[c][v] = absa_dv_zero();
            for (int h = 0; h < Ho; h++) {
                const float *xr = xp + ((size_t)(h + i) * wp + (size_t)j) * cin + c0;
                const float *dr = dy + (size_t)h * dys;
                for (int w = 0; w < Wo; w++) {
                    absa_dv d[ABSA_DV_NV];
                    for (int v = 0; v < ABSA_DV_NV; v++) d[v] = absa_dv_load(dr + (size_t)w * 16 + v * ABSA_DV_W);
#pragma GCC unroll 16
                    for (int c = 0; c < CB; c++) {
                        const absa_dv xv = absa_dv_bcast(xr[(size_t)w * cin + c]);
                        for (int v = 0; v < ABSA_DV_NV; v++) acc[c][v] = absa_dv_fma(xv, d[v], acc[c][v]);
                    }
                }
            }
            float *fk = f + ((size_t)t * cin + c0) * 16;
            for (int c = 0; c < CB; c++)
                for (int v = 0; v < ABSA_DV_NV; v++) {
                    float *o = fk + (size_t)c * 16 + v * ABSA_DV_W;
                    absa_dv_store(o, absa_dv_add(absa_dv_load(o), acc[c][v]));
                }
        }
    }
}

/* wk[(i*3 + j)*C + c][o] = W[o][c][i][j] (forward) or, flip, wk[(i*3 + j)*O + o][c] =
 * W[o][c][2-i][2-j] (data gradient). */
static void absa_dconv_weights(const absa_conv_cfg *c, const float *W, float *wk, int flip)
{
    const int C = c->C, O = c->O;
    for (int o = 0; o < O; o++)
        for (int ch = 0; ch < C; ch++)
            for (int t = 0; t < 9; t++) {
                const float w = W[((size_t)o * C + ch) * 9 + t];
                if (flip) wk[((size_t)(8 - t) * O + o) * C + ch] = w;
                else wk[((size_t)t * C + ch) * O + o] = w;
            }
}

/* Workspace: the Winograd layout's (absa_conv_workspace is the larger of it and the patch
 * engine's), its buffers reused: shared ufA, ufB hold the two weight sets; per slot vx, v2 (forward)
 * or da, db (backward) the padded CHW copies of the products' inputs (x and Rx, or dy and Rdy), xp
 * x or Rx padded in HWC and dxp dy in HWC for the weight gradient, fw its partial [9][C][O], pb the
 * bias partial. All fit: vx, v2, da, db have 16*(T*16 + 48) >= 16*(H+2)*(W+2) + ABSA_DV_W elements
 * (T >= ceil(H/2)*ceil(W/2)), xp and dxp (H+2)*(W+2)*16. */
#define ABSA_DCONV_SLOT(l, ws, t) ((ws) + (l).shared + (size_t)(t) * (l).slot)

/* y = conv(x, A) [+ conv(Rx, B) when Rx] + b, overwriting y. */
static void absa_dconv_fwd(const absa_conv_cfg *c, const float *x, const float *Rx, const float *A,
                           const float *B, const float *b, float *y, float *ws)
{
    absa_wino_lay l;
    absa_wino_layout(c, &l);
    const size_t xsz = (size_t)c->C * c->H * c->W, ysz = (size_t)c->O * c->Ho * c->Wo;
    const size_t plane = (size_t)(c->H + 2) * (c->W + 2) * c->C + ABSA_DV_W;
    absa_dconv_weights(c, A, ws + l.o_ufA, 0);
    if (Rx) absa_dconv_weights(c, B, ws + l.o_ufB, 0);
    const int T = absa_conv_threads(c->N);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *slot = ABSA_DCONV_SLOT(l, ws, absa_conv_tid());
        float *cx = slot + l.o_vx, *cR = slot + l.o_v2;
        memset(cx, 0, plane * sizeof(float));
        if (Rx) memset(cR, 0, plane * sizeof(float));
        const float *xs[2] = {cx, cR}, *wk[2] = {ws + l.o_ufA, ws + l.o_ufB};
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            absa_dconv_padchw(x + n * xsz, c->C, c->H, c->W, cx);
            if (Rx) absa_dconv_padchw(Rx + n * xsz, c->C, c->H, c->W, cR);
            absa_dconv_pix(c->Ho, c->Wo, Rx ? 2 : 1, xs, wk, y + n * ysz, 0, b);
        }
    }
}

/* dx += convT(dyA, A) [+ convT(dyB, B)];  dW += corr(dyB ? dyB : dyA, x) [+ corr(dyA, Rx) when
 * dyB and Rx];  db += sum(dyB ? dyB : dyA): as absa_conv_bwd (no fused pool). */
static void absa_dconv_bwd(const absa_conv_cfg *c, const float *x, const float *Rx, const float *dyA,
                           const float *dyB, const float *A, const float *B, float *dx, float *dW,
                           float *db, float *ws)
{
    absa_wino_lay l;
    absa_wino_layout(c, &l);
    const int C = c->C, O = c->O, P = c->Ho * c->Wo;
    const size_t xsz = (size_t)C * c->H * c->W, ysz = (size_t)O * P, fsz = (size_t)9 * C * O;
    const size_t plane = (size_t)(c->H + 2) * (c->W + 2) * C; /* C == O, H == Ho */
    if (dx) {
        absa_dconv_weights(c, A, ws + l.o_ufA, 1);
        if (dyB) absa_dconv_weights(c, B, ws + l.o_ufB, 1);
    }
    int T = absa_conv_threads(c->N);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *slot = ABSA_DCONV_SLOT(l, ws, absa_conv_tid());
        float *cA = slot + l.o_da, *cB = slot + l.o_db, *px = slot + l.o_xp, *ht = slot + l.o_dxp;
        float *fw = slot + l.o_fw, *pb = slot + l.o_pb;
        if (absa_conv_tid() == 0) T = absa_conv_team(); /* the team may be smaller than asked */
        if (dx) memset(cA, 0, (plane + ABSA_DV_W) * sizeof(float));
        if (dx && dyB) memset(cB, 0, (plane + ABSA_DV_W) * sizeof(float));
        if (dW) memset(px, 0, plane * sizeof(float));
        if (dW) memset(fw, 0, fsz * sizeof(float));
        if (db) memset(pb, 0, (size_t)O * sizeof(float));
        const float *cs[2] = {cA, cB}, *wk[2] = {ws + l.o_ufA, ws + l.o_ufB};
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            const float *dA = dyA + n * ysz, *dB = dyB ? dyB + n * ysz : NULL;
            const float *dWdy = dB ? dB : dA;
            if (db) absa_conv_bias_sum_f32(O, P, dWdy, pb);
            if (dW) { /* px: x (then Rx) padded in HWC; ht: the dy it pairs with in HWC */
                absa_conv_pad_f32(x + n * xsz, C, c->H, c->W, px, (size_t)c->W + 2, 1, 1);
                absa_conv_pad_f32(dWdy, O, c->Ho, c->Wo, ht, (size_t)c->Wo, 0, 0);
                absa_dconv_dw16(c->Ho, c->Wo, px, ht, (size_t)c->Wo * O, fw);
                if (dB && Rx) {
                    absa_conv_pad_f32(Rx + n * xsz, C, c->H, c->W, px, (size_t)c->W + 2, 1, 1);
                    absa_conv_pad_f32(dA, O, c->Ho, c->Wo, ht, (size_t)c->Wo, 0, 0);
                    absa_dconv_dw16(c->Ho, c->Wo, px, ht, (size_t)c->Wo * O, fw);
                }
            }
            if (!dx) continue;
            absa_dconv_padchw(dA, O, c->Ho, c->Wo, cA);
            if (dB) absa_dconv_padchw(dB, O, c->Ho, c->Wo, cB);
            absa_dconv_pix(c->H, c->W, dB ? 2 : 1, cs, wk, dx + n * xsz, !c->dx_set, NULL);
        }
    }
    /* dW[o][ch][t] += sum of the threads' F[t][ch][o]; db += the bias partials, in thread order */
    const float *f = absa_wino_sum_partials_f32(&l, ws, T, fsz, dW != NULL, db, O);
    if (!dW) return;
    for (int o = 0; o < O; o++)
        for (int ch = 0; ch < C; ch++)
            for (int t = 0; t < 9; t++) dW[((size_t)o * C + ch) * 9 + t] += f[((size_t)t * C + ch) * O + o];
}
#endif /* ABSA_CONV_FMA_TARGET && !ABSA_CONV_DIRECT_ONCE */
