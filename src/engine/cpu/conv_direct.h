/* conv_direct.h — the direct path of conv2d: FMA chains summed in registers, float32, on the CPU
 * paths with FMA (avx2, avx512; conv_path.h), for the layers BLAS runs thinnest (the rule:
 * absa_dconv_eligible): 3x3 padding 1 at stride 1 or 2, and 1x1 padding 0 at stride 2, except the
 * 3x3 stride-1 layers Winograd takes (at least 8 channels each side) other than 16 -> 16. In
 * resnet20 that is the stem (3 -> 16), the six 16 -> 16 layers, the two stride-2 3x3 layers and
 * the two 1x1 projections; in lenet conv1 with its fused max-pool (each sample's output pooled
 * from the slot, as on the other engines). Included by conv_impl.h once per precision and path;
 * the rule and the layout are in every build, the kernels (here) and passes (conv_direct_pass.h)
 * only in the float32 inclusion of an FMA path (ABSA_CONV_FMA_TARGET, set by conv_avx2.c and
 * conv_avx512.c).
 *
 * Why: on these layers the patch engine's per-sample GEMMs are thin ([256 x 144] x [144 x 32]
 * and less) and OpenBLAS packs both operands on every call, and Winograd's 16 GEMMs on the
 * 16 -> 16 layers are thinner still; here every product is one FMA with a broadcast operand, at
 * about 85 % of the FMA peak per core (docs/benchmarks.md). Per sample:
 *   forward      y[o][h][w] = sum_{i,j,c} xp[c][h*s + i][w*s + j] W[o][c][i][j]   (absa_dconv_pix)
 *   data grad    stride 1: dx = the full correlation of dy (padded by 1) with the flipped kernel
 *                (the same kernel); stride 2: per parity phase (a, b) of the padded input,
 *                dxp[c][2r+a][2q+b] = sum_{m,n,o} dy[o][r-m][q-n] W[o][c][a+2m][b+2n], a stride-1
 *                correlation over that phase's taps, interleaved into dx afterwards
 *   weight grad  F[i][j][c][o] = sum_{h,w} xh[h*s + i][w*s + j][c] dy[h][w][o], dW += sum F
 *                                                                             (absa_dconv_dw)
 * The products' sources are CHW planes: x zero-padded (stride 2: split into its four parity
 * phases, so that a tap reads consecutive elements), dy zero-padded by 1. Vectors run over
 * consecutive output pixels (a row, or, when rows are shorter than a vector, the flat run of rows
 * through a staging buffer), each FMA with a broadcast weight. The weight gradient runs vectors
 * over output channels with broadcast inputs, on x padded in HWC (xh) and dy in HWC.
 *
 * Bits: each output element is one chain of FMAs in a fixed order (source, tap, channel; the
 * weight gradient: per source one chain over the pixels in row-major order, added into the
 * thread's partial), whatever the vector width and the blocking (rows or flat runs, output-channel
 * and row blocks): the avx2 and avx512 paths give the same bits (unit.test_conv_paths). The
 * baseline path (no FMA) keeps the patch and Winograd engines, whose bits differ (a legitimate
 * difference, docs/engine.md Determinism). The R-passes add their second source into the same
 * chains (Ry = conv(x, V) + conv(Rx, W) as one sum). ABSA_CONV_DIRECT=0 switches the path off. */

#ifndef ABSA_CONV_DIRECT_RULE_ONCE
#define ABSA_CONV_DIRECT_RULE_ONCE
#include <stddef.h>

/* The geometries the kernels handle. */
static int absa_dconv_geo(const absa_conv_cfg *c)
{
    if (c->kh != c->kw || c->sh != c->sw || c->ph != c->pw) return 0;
    const int k = c->kh, s = c->sh, p = c->ph;
    return (k == 3 && p == 1 && (s == 1 || s == 2)) || (k == 1 && p == 0 && s == 2);
}

/* Whether a layer takes the direct path on an FMA CPU path (every path's build has this rule;
 * only the avx2 and avx512 builds have the path, and conv.c's absa_conv_engine_f32 asks it for the
 * active one): the geometry, a CPU with FMA, ABSA_CONV_DIRECT not 0, and ABSA_CONV_WINO not 0
 * (ABSA_CONV_WINO=0 means the patch-matrix engine for every layer). Of Winograd's layers only
 * 16 -> 16 comes here: on 32 -> 32 and wider, Winograd's 2.25x fewer products win
 * (docs/benchmarks.md). */
static int absa_dconv_eligible(const absa_conv_cfg *c)
{
    const char *e = getenv("ABSA_CONV_DIRECT"), *wi = getenv("ABSA_CONV_WINO");
    if ((e && e[0] == '0') || (wi && wi[0] == '0') || !absa_dconv_geo(c)) return 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (!__builtin_cpu_supports("fma")) return 0;
#else
    return 0; /* no FMA path is built */
#endif
    if (absa_wino_geo(c)) return c->C == 16 && c->O == 16;
    return 1;
}

#define ABSA_DCONV_PADC 16  /* channel counts of the weight rows and HWC dy, rounded up to this */
#define ABSA_DCONV_SLACK 32 /* elements after each source plane set and staging row (vector overrun) */

/* Workspace layout (elements, float32). Shared: wA, wB the two weight sets of a pass (forward:
 * [k*k][C][Opad], data gradient: [k*k][O][Cpad], taps in the order of absa_dconv_dtaps). Per
 * slot: s0, s1 the products' CHW sources (x and Rx: C planes of fpl; dy and Rdy: O planes of dpl),
 * st the staging buffer (output channels of stl elements), xh x or Rx padded in HWC, dh dy in HWC
 * ([Ho*Wo][Opad]), fw the weight-gradient partial [k*k][C][Opad], pb the bias partial; with a
 * fused max-pool (pool) also z, z2, t as conv_impl.h's absa_conv_layout_pool. */
typedef struct absa_dconv_lay {
    int k, s, p, nph, Hq, Wq, Hd, Wd, Opad, Cpad;
    size_t fpl, dpl, stl, o_wA, o_wB, shared;
    size_t o_s0, o_s1, o_st, o_xh, o_dh, o_fw, o_pb, o_z, o_z2, o_t, slot, total;
} absa_dconv_lay;

static size_t absa_dconv_rup(size_t a) { return (a + 15) / 16 * 16; }

static void absa_dconv_layout(const absa_conv_cfg *c, int pool, absa_dconv_lay *l)
{
    const int k = c->kh, s = c->sh, p = c->ph;
    l->k = k, l->s = s, l->p = p;
    l->nph = s == 2 && k > 1 ? 4 : 1; /* parity phases of the forward planes (1x1: only (0, 0)) */
    l->Hq = s == 2 ? (c->H + 2 * p + 1) / 2 : c->H + 2 * p;
    l->Wq = s == 2 ? (c->W + 2 * p + 1) / 2 : c->W + 2 * p;
    l->Hd = c->Ho + 2, l->Wd = c->Wo + 2; /* dy padded by 1 on every side */
    l->Opad = (c->O + ABSA_DCONV_PADC - 1) / ABSA_DCONV_PADC * ABSA_DCONV_PADC;
    l->Cpad = (c->C + ABSA_DCONV_PADC - 1) / ABSA_DCONV_PADC * ABSA_DCONV_PADC;
    l->fpl = (size_t)l->nph * l->Hq * l->Wq;
    l->dpl = (size_t)l->Hd * l->Wd;
    /* staging: a forward flat run (Ho rows of Wq) or a data-gradient one (at most H rows of Wd) */
    const size_t fr = (size_t)c->Ho * l->Wq, dr = (size_t)(c->H + 1) * l->Wd;
    l->stl = absa_dconv_rup((fr > dr ? fr : dr) + ABSA_DCONV_SLACK);
    const size_t C = (size_t)c->C, O = (size_t)c->O, kk = (size_t)k * k;
    const size_t wf = kk * C * l->Opad, wd = kk * O * l->Cpad;
    const size_t src = C * l->fpl > O * l->dpl ? C * l->fpl : O * l->dpl;
    size_t at = 0;
    l->o_wA = at, at += absa_dconv_rup(wf > wd ? wf : wd);
    l->o_wB = at, at += absa_dconv_rup(wf > wd ? wf : wd);
    l->shared = at;
    at = 0;
    l->o_s0 = at, at += absa_dconv_rup(src + ABSA_DCONV_SLACK);
    l->o_s1 = at, at += absa_dconv_rup(src + ABSA_DCONV_SLACK);
    l->o_st = at, at += (C > O ? C : O) * l->stl;
    l->o_xh = at, at += absa_dconv_rup((size_t)(c->H + 2 * p) * (c->W + 2 * p) * C);
    l->o_dh = at, at += absa_dconv_rup((size_t)c->Ho * c->Wo * l->Opad);
    l->o_fw = at, at += absa_dconv_rup(kk * C * l->Opad);
    l->o_pb = at, at += absa_dconv_rup(O);
    const size_t zs = pool ? absa_dconv_rup(O * c->Ho * c->Wo) : 0;
    l->o_z = at, at += zs;
    l->o_z2 = at, at += zs;
    l->o_t = at, at += zs;
    l->slot = at;
    l->total = l->shared + (size_t)absa_conv_slots() * l->slot;
}

/* The data gradient's taps of parity phase ph (0..3 = (a, b) = (ph / 2, ph % 2); stride 1: the one
 * phase 0, every tap of the flipped kernel): their number, each one's weight tap i*k + j and its
 * offset in the padded dy plane from an output's base. An output position's base is dy's padded
 * element (r + 1, q + 1) for phase position (r, q); stride 1: (h, w) with the offsets of the full
 * correlation. Returns the number of taps (0: the phase has none, 1x1 at an odd position). */
static inline int absa_dconv_dtaps(const absa_dconv_lay *l, int ph, int *wt, ptrdiff_t *off)
{
    int n = 0;
    if (l->s == 1) {
        for (int t = 0; t < 9; t++) wt[n] = 8 - t, off[n++] = (ptrdiff_t)(t / 3) * l->Wd + t % 3;
        return n;
    }
    const int a = ph / 2, b = ph % 2;
    for (int m = 0; a + 2 * m < l->k; m++)
        for (int q = 0; b + 2 * q < l->k; q++)
            wt[n] = (a + 2 * m) * l->k + b + 2 * q, off[n++] = -((ptrdiff_t)m * l->Wd + q);
    return n;
}

/* Rows [*r0, *r0 + return) of parity a hold the input rows y = 2r + a - p in [0, n) (stride 2). */
static inline int absa_dconv_prange(int a, int p, int n, int *r0)
{
    *r0 = p - a > 0 ? 1 : 0;
    const int r1 = (n - 1 + p - a) / 2; /* n - 1 + p - a >= -1: floor by integer division below */
    return n - 1 + p - a < 0 ? 0 : r1 - *r0 + 1;
}
#endif /* ABSA_CONV_DIRECT_RULE_ONCE */

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

/* One product of absa_dconv_pix: an output grid of nr x nq positions whose sources advance by
 * rowlen per row, cin source channels pl apart, nt taps at toff from a position, cout outputs
 * (weights wk[s][(t*cin + c)*cpad + o]). Row mode: vectors over each row's positions, stored at
 * out[o*ostr + r*orow + q]. Flat mode: vectors over the run u = r*rowlen + q of all rows (the
 * rowlen - nq positions between rows computed and ignored), stored whole at out[o*ostr + u]. */
typedef struct absa_dpix {
    int nr, nq, rowlen, cin, cout, cpad, nt, flat;
    size_t pl, ostr, orow;
    ptrdiff_t toff[9];
} absa_dpix;

/* Whether the flat run is the cheaper blocking: fewer vectors by a fifth, which pays the staging
 * copy (rows shorter than a vector, as resnet20's 8x8 planes on AVX-512). */
static int absa_dconv_flat(int nr, int nq, int rowlen)
{
    const long rows = (long)nr * ((nq + ABSA_DV_W - 1) / ABSA_DV_W);
    const long flat = ((long)(nr - 1) * rowlen + nq + ABSA_DV_W - 1) / ABSA_DV_W;
    return flat * 5 < rows * 4;
}

/* acc[o] = the chains of outputs o0 + o at the ABSA_DV_W positions from source offset u. */
ABSA_DCONV_FN static inline __attribute__((always_inline)) void
absa_dconv_chains(const absa_dpix *g, int ns, const float *const *xs, const float *const *wk, size_t u,
                  int o0, absa_dv acc[ABSA_DV_OB])
{
    for (int o = 0; o < ABSA_DV_OB; o++) acc[o] = absa_dv_zero();
    for (int s = 0; s < ns; s++)
        for (int t = 0; t < g->nt; t++) {
            const float *xr = xs[s] + u + g->toff[t];
            const float *wr = wk[s] + (size_t)t * g->cin * g->cpad + o0;
#pragma GCC unroll 4
            for (int c = 0; c < g->cin; c++) {
                const absa_dv xv = absa_dv_load(xr + (size_t)c * g->pl);
#pragma GCC unroll 16
                for (int o = 0; o < ABSA_DV_OB; o++)
                    acc[o] = absa_dv_fma(absa_dv_bcast(wr[(size_t)c * g->cpad + o]), xv, acc[o]);
            }
        }
}

/* The block's outputs o0 + o < cout at positions [0, nw) of out (rows ostr apart) = (add ? out :
 * 0) + acc[o] (+ bias[o0 + o] when bias). The whole block takes the vector stores; a partial one
 * goes through tmp, so that acc is only ever indexed by constants (kept in registers). */
ABSA_DCONV_FN static inline __attribute__((always_inline)) void
absa_dconv_put(const absa_dv acc[ABSA_DV_OB], float *out, size_t ostr, int o0, int cout, int nw, int add,
               const float *bias)
{
    if (nw == ABSA_DV_W && o0 + ABSA_DV_OB <= cout) {
#pragma GCC unroll 16
        for (int o = 0; o < ABSA_DV_OB; o++) {
            float *d = out + (size_t)o * ostr;
            absa_dv v = acc[o];
            if (bias) v = absa_dv_add(v, absa_dv_bcast(bias[o0 + o]));
            if (add) v = absa_dv_add(absa_dv_load(d), v);
            absa_dv_store(d, v);
        }
        return;
    }
    float tmp[ABSA_DV_OB][ABSA_DV_W];
#pragma GCC unroll 16
    for (int o = 0; o < ABSA_DV_OB; o++) absa_dv_store(tmp[o], acc[o]);
    for (int o = 0; o < ABSA_DV_OB && o0 + o < cout; o++) {
        float *d = out + (size_t)o * ostr;
        for (int k = 0; k < nw; k++) {
            const float v = bias ? tmp[o][k] + bias[o0 + o] : tmp[o][k];
            d[k] = add ? d[k] + v : v;
        }
    }
}

/* out = (add ? out : 0) + (sum + bias[o] when bias) over the grid of g (flat mode: add = 0, no
 * bias, whole vectors; the caller emits the rows). xs[s]: the sources at the grid's first
 * position. */
ABSA_DCONV_FN static void absa_dconv_pix(const absa_dpix *g, int ns, const float *const *xs,
                                         const float *const *wk, float *out, int add, const float *bias)
{
    absa_dv acc[ABSA_DV_OB];
    if (g->flat) {
        const size_t U = (size_t)(g->nr - 1) * g->rowlen + g->nq;
        for (size_t u = 0; u < U; u += ABSA_DV_W)
            for (int o0 = 0; o0 < g->cout; o0 += ABSA_DV_OB) {
                absa_dconv_chains(g, ns, xs, wk, u, o0, acc);
                absa_dconv_put(acc, out + (size_t)o0 * g->ostr + u, g->ostr, o0, g->cout, ABSA_DV_W, 0, NULL);
            }
        return;
    }
    for (int h = 0; h < g->nr; h++)
        for (int w0 = 0; w0 < g->nq; w0 += ABSA_DV_W) {
            const int nw = g->nq - w0 < ABSA_DV_W ? g->nq - w0 : ABSA_DV_W;
            for (int o0 = 0; o0 < g->cout; o0 += ABSA_DV_OB) {
                absa_dconv_chains(g, ns, xs, wk, (size_t)h * g->rowlen + w0, o0, acc);
                absa_dconv_put(acc, out + (size_t)o0 * g->ostr + (size_t)h * g->orow + w0, g->ostr, o0, g->cout,
                               nw, add, bias);
            }
        }
}

/* F[row*ldf + o] += sum_{h < Ho, w < Wo} xh[h*xrs + w*xcs + roff[row]] dy[(h*Wo + w)*ldo + o] for
 * rows < nrow and the NV vectors of outputs from o0 (xh: x padded in HWC; a row is a tap and a
 * channel): the chain of each element runs over the pixels in row-major order, then adds into F.
 * CB = 16 / NV rows per pass; a pass whose rows are CB consecutive channels of one tap broadcasts
 * from one pointer at constant displacements (the compiler keeps no per-row offsets), others
 * (the stem's 3 channels) read each row's offset. */
#define ABSA_DCONV_DW(NV)                                                                          \
    ABSA_DCONV_FN static void absa_dconv_dw##NV(int Ho, int Wo, size_t xrs, size_t xcs, const float *xh, \
                                                const float *dy, size_t ldo, int o0, const ptrdiff_t *roff, \
                                                int nrow, float *F, size_t ldf)                    \
    {                                                                                              \
        enum { CB = 16 / NV };                                                                     \
        for (int r0 = 0; r0 < nrow; r0 += CB) {                                                    \
            ptrdiff_t off[CB];                                                                     \
            absa_dv acc[CB][NV];                                                                   \
            int run = r0 + CB <= nrow;                                                             \
            for (int b = 0; b < CB; b++) { /* rows past nrow repeat the last one, not stored */   \
                off[b] = roff[r0 + b < nrow ? r0 + b : nrow - 1];                                  \
                run = run && off[b] == off[0] + b;                                                 \
                for (int v = 0; v < NV; v++) acc[b][v] = absa_dv_zero();                           \
            }                                                                                      \
            for (int h = 0; h < Ho; h++) {                                                         \
                const float *xr = xh + (size_t)h * xrs;                                            \
                const float *dr = dy + (size_t)h * Wo * ldo + o0;                                  \
                if (run) {                                                                         \
                    const float *x0 = xr + off[0];                                                 \
                    for (int w = 0; w < Wo; w++) {                                                 \
                        absa_dv d[NV];                                                             \
                        for (int v = 0; v < NV; v++) d[v] = absa_dv_load(dr + (size_t)w * ldo + v * ABSA_DV_W); \
                        const float *xw = x0 + (size_t)w * xcs;                                    \
                        _Pragma("GCC unroll 16") for (int b = 0; b < CB; b++)                      \
                        {                                                                          \
                            const absa_dv xv = absa_dv_bcast(xw[b]);                               \
                            for (int v = 0; v < NV; v++) acc[b][v] = absa_dv_fma(xv, d[v], acc[b][v]); \
                        }                                                                          \
                    }                                                                              \
                    continue;                                                                      \
                }                                                                                  \
                for (int w = 0; w < Wo; w++) {                                                     \
                    absa_dv d[NV];                                                                 \
                    for (int v = 0; v < NV; v++) d[v] = absa_dv_load(dr + (size_t)w * ldo + v * ABSA_DV_W); \
                    const float *xw = xr + (size_t)w * xcs;                                        \
                    _Pragma("GCC unroll 16") for (int b = 0; b < CB; b++)                          \
                    {                                                                              \
                        const absa_dv xv = absa_dv_bcast(xw[off[b]]);                              \
                        for (int v = 0; v < NV; v++) acc[b][v] = absa_dv_fma(xv, d[v], acc[b][v]); \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            for (int b = 0; b < CB && r0 + b < nrow; b++)                                          \
                for (int v = 0; v < NV; v++) {                                                     \
                    float *o = F + (size_t)(r0 + b) * ldf + o0 + v * ABSA_DV_W;                    \
                    absa_dv_store(o, absa_dv_add(absa_dv_load(o), acc[b][v]));                     \
                }                                                                                  \
        }                                                                                          \
    }
ABSA_DCONV_DW(1)
ABSA_DCONV_DW(2)
ABSA_DCONV_DW(4)

/* F[(t*C + c)*Opad + o] += the weight-gradient chains of one sample (xh: x padded by p in HWC, dy
 * in HWC rows of Opad), in output-channel chunks of 4, 2 or 1 vectors. */
static void absa_dconv_dw(const absa_conv_cfg *c, const absa_dconv_lay *l, const float *xh, const float *dy,
                          float *F)
{
    ptrdiff_t roff[9 * 64];
    const size_t wp = (size_t)c->W + 2 * l->p, C = (size_t)c->C, xrs = l->s * wp * C, xcs = l->s * C;
    const int kk = l->k * l->k, nrow = kk * c->C, nv = l->Opad / ABSA_DV_W;
    for (int r0 = 0; r0 < nrow; r0 += 9 * 64) { /* row offsets in batches (C up to any size) */
        const int nb = nrow - r0 < 9 * 64 ? nrow - r0 : 9 * 64;
        for (int r = 0; r < nb; r++) {
            const int t = (r0 + r) / c->C, ch = (r0 + r) % c->C;
            roff[r] = ((ptrdiff_t)(t / l->k) * (ptrdiff_t)wp + t % l->k) * c->C + ch;
        }
        float *Fr = F + (size_t)r0 * l->Opad;
        for (int v0 = 0; v0 < nv;) {
            const int left = nv - v0, o0 = v0 * ABSA_DV_W;
            const size_t P = l->Opad;
            if (left >= 4) absa_dconv_dw4(c->Ho, c->Wo, xrs, xcs, xh, dy, P, o0, roff, nb, Fr, P), v0 += 4;
            else if (left >= 2) absa_dconv_dw2(c->Ho, c->Wo, xrs, xcs, xh, dy, P, o0, roff, nb, Fr, P), v0 += 2;
            else absa_dconv_dw1(c->Ho, c->Wo, xrs, xcs, xh, dy, P, o0, roff, nb, Fr, P), v0 += 1;
        }
    }
}

#include "conv_direct_pass.h"
#endif /* ABSA_CONV_FMA_TARGET && !ABSA_CONV_DIRECT_ONCE */
