/* conv.c — 2-D convolution layer (NCHW activations, OIHW weights, zero padding, any stride and
 * kernel size): geometry (absa_conv_cfg_init), workspace sizing, and the four passes (forward,
 * backward, R-forward, R-backward) in float32 and float64.
 *
 * Two engines:
 *  - GEMM engine (conv_impl.h, the default for float32 and always for float64): samples in chunks of S are
 *    unfolded by im2col into col[K, S*P] (K = C*kh*kw, P = Ho*Wo) so every pass is ONE BLAS GEMM
 *    per chunk, then scattered back to NCHW / folded back by col2im.
 *  - direct engine (float32, opt-in with ABSA_CONV_DIRECT=1, x86-64 with AVX2+FMA): OpenMP over samples
 *    (groups of samples for dW), each thread with its own workspace slot and dW partial; register-
 *    blocked AVX2 micro-kernels compute 4x24 / 6x16 output tiles and 4x3 blocks of dW. No im2col:
 *    each input channel is zero-padded into s*s phase planes (one plane for stride 1) and output
 *    position q reads plane[inoff(q) + off(c, i, j)] for every term (channel, tap); dx is the same
 *    correlation of the padded dy with the flipped, transposed kernel for stride 1, and a GEMM-like
 *    dcol = W^T dy plus col2im otherwise (see absa_dc_grid). On the lenet/resnet20 shapes it is
 *    2-3x faster than OpenBLAS GEMMs on skinny im2col matrices, and keeps the conv off
 *    OpenBLAS's pthread pool. It hand-writes what BLAS does, against the project's rule, so it is
 *    off unless ABSA_CONV_DIRECT=1 (measured gain and the open decision: docs/benchmarks.md;
 *    the tests cover both engines).
 */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "absa_blas.h"
#include "absa_error.h"
#include "layers.h"

int absa_conv_cfg_init(absa_conv_cfg *c, int N, int C, int H, int W, int O, int k, int stride,
                       int pad, int has_bias)
{
    if (!c) return -1;
    memset(c, 0, sizeof *c);
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || O <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return -1;
    /* products that index tensors and GEMMs must fit in int */
    if ((long long)H + 2LL * pad > (1LL << 30) || (long long)W + 2LL * pad > (1LL << 30))
        return -1;
    if ((long long)C * k * k > (1LL << 30)) return -1;
    long long hp = (long long)H + 2LL * pad - k, wp = (long long)W + 2LL * pad - k;
    if (hp < 0 || wp < 0) return -1;
    long long Ho = hp / stride + 1, Wo = wp / stride + 1;
    if (Ho <= 0 || Wo <= 0 || Ho * Wo > (1LL << 30)) return -1;
    *c = (absa_conv_cfg){.N = N, .C = C, .H = H, .W = W, .O = O, .kh = k, .kw = k, .sh = stride,
                         .sw = stride, .ph = pad, .pw = pad, .Ho = (int)Ho, .Wo = (int)Wo,
                         .has_bias = has_bias ? 1 : 0};
    return 0;
}

/* [lo, hi) range of output columns ow whose input column ow*s - p + j lies in [0, W). */
static inline void absa_conv_valid_range(int Wo, int W, int s, int p, int j, int *lo, int *hi)
{
    int a = p - j; /* need ow*s >= a */
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int b = W + p - j; /* need ow*s < b */
    int h = b <= 0 ? 0 : (b + s - 1) / s;
    if (h > Wo) h = Wo;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* ---- direct float32 engine: declarations used by the float32 entry points in conv_impl.h ---- */
#if defined(__GNUC__) && defined(__x86_64__)
#define ABSA_DC 1
#include <immintrin.h>
#define ABSA_DC_TARGET __attribute__((target("avx2,fma")))
static int absa_dc_enabled(void);
static void absa_dc_forward(const absa_conv_cfg *c, const float *x, const float *Rx,
                            const float *WA, const float *WB, const float *b, float *y, float *ws);
static void absa_dc_backward(const absa_conv_cfg *c, const float *x, const float *Rx,
                             const float *dyA, const float *dyB, const float *WA, const float *WB,
                             float *dx, float *dW, float *db, float *ws);
#else
#define ABSA_DC 0
#endif

#define ABSA_T float
#define ABSA_SFX f32
#define ABSA_CONV_DIRECT ABSA_DC
#include "conv_impl.h"
#undef ABSA_CONV_DIRECT
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#define ABSA_CONV_DIRECT 0
#include "conv_impl.h"
#undef ABSA_CONV_DIRECT
#undef ABSA_T
#undef ABSA_SFX

/* ============================ direct float32 engine ============================ */
#define ABSA_DC_MAX_SLOTS 8           /* most threads one conv call uses (workspace slots) */
#define ABSA_DC_GROUP_ELEMS (1 << 16) /* target floats of input planes per group of samples */

#ifdef _OPENMP
#define ABSA_DC_TID() omp_get_thread_num()
#define ABSA_DC_NTHR() omp_get_num_threads()
#define ABSA_DC_MAXT() omp_get_max_threads()
#define ABSA_DC_PROCS() omp_get_num_procs()
#else
#define ABSA_DC_TID() 0
#define ABSA_DC_NTHR() 1
#define ABSA_DC_MAXT() 1
#define ABSA_DC_PROCS() 1
#endif
/* Workspace slots: one per processor (fixed for the process), at most ABSA_DC_MAX_SLOTS. */
static int absa_dc_slots(void)
{
    int n = ABSA_DC_PROCS();
    return n < 1 ? 1 : n > ABSA_DC_MAX_SLOTS ? ABSA_DC_MAX_SLOTS : n;
}

static size_t absa_rup(size_t a, size_t m) { return (a + m - 1) / m * m; }
/* Offset of a new region of n floats at *cur (64-byte aligned), advancing *cur. */
static size_t absa_take(size_t *cur, size_t n)
{
    size_t at = *cur;
    *cur += absa_rup(n, 16);
    return at;
}

/* One correlation over the planes of a sample. The input (nch channels of hi x wi, per source)
 * is zero-padded by (pt, pl) and split into s*s phase planes of hs x wsp (phase (a, b) holds the
 * padded rows a, a+s, ... and columns b, b+s, ...); a channel block is chan = s*s*plane floats.
 * Term k = (source, channel, i, j) reads at off[k] = its channel block + phase (i%s, j%s) +
 * (i/s)*wsp + j/s. Output position q = r*wq + col (r < ho, col < wo valid) reads inoff(q) + off[k]
 * with inoff(q) = (q/wq)*wsp + q%wq, where wq = wsp (one contiguous stream; columns past wo are
 * computed and dropped) or roundup(wo, 8) (row mode: vectors never straddle rows), whichever
 * wastes less. For stride 1, wsp = wi + pl: the right padding of a row is the left padding of
 * the next. The micro-kernel tile is ob channels x 8*nv positions; q rounds up to qt. */
typedef struct absa_dc_grid {
    int nch, hi, wi, kh, kw, s, pt, pl, hs, wsp, ho, wo, wq, q, qt, ob, nv;
    size_t plane, chan;
} absa_dc_grid;

static void absa_dc_grid_make(absa_dc_grid *g, int nch, int hi, int wi, int kh, int kw, int s,
                              int pt, int pl, int nout)
{
    *g = (absa_dc_grid){
        .nch = nch, .hi = hi, .wi = wi, .kh = kh, .kw = kw, .s = s, .pt = pt, .pl = pl};
    g->hs = (hi + 2 * pt + s - 1) / s;
    /* stride 1: the right padding of a row doubles as the left padding of the next one */
    g->wsp = s == 1 && pl > 0 && pl <= kw - 1 ? wi + pl : (wi + 2 * pl + s - 1) / s;
    g->ho = (hi + 2 * pt - kh) / s + 1;
    g->wo = (wi + 2 * pl - kw) / s + 1;
    const long w8 = (long)absa_rup((size_t)g->wo, 8);
    g->wq = (w8 - g->wo) * g->wsp < (long)(g->wsp - g->wo) * w8 ? (int)w8 : g->wsp;
    g->q = g->ho * g->wq;
    g->ob = absa_rup((size_t)nout, 6) < absa_rup((size_t)nout, 4) ? 6 : 4;
    g->nv = g->ob == 6 ? 2 : 3;
    g->qt = (int)absa_rup((size_t)g->q, 8); /* the last tile may be narrower */
    /* rows reached by the tiles (incl. rounding) and the taps, then a row of lanes of slack */
    size_t rows = (size_t)(g->qt + g->wq - 1) / g->wq + (size_t)(kh - 1) / s;
    if (rows < (size_t)g->hs) rows = (size_t)g->hs;
    g->plane = absa_rup(rows * g->wsp + g->wq + 16, 8);
    g->chan = (size_t)s * s * g->plane;
}

static inline size_t absa_dc_inoff(const absa_dc_grid *g, int q)
{
    return (size_t)(q / g->wq) * g->wsp + q % g->wq;
}

/* Everything one conv call needs: grid F (input x) and grid T (input dy: the transposed
 * correlation giving dx directly when stride 1, else dcol = W^T dy for col2im), sample groups,
 * and the workspace layout in floats (term offsets are int32 stored in the same buffer). */
typedef struct absa_dc_plan {
    int tdirect, K, tnout, tnt, G, ngroups;
    absa_dc_grid f, t;
    size_t o_offf, o_offt, o_voff, o_wf, o_wt, o_slot, slot, o_x, o_d, o_dyf, o_y, o_dw, o_db;
    size_t total;
} absa_dc_plan;

static void absa_dc_plan_make(const absa_conv_cfg *c, absa_dc_plan *p)
{
    const int C = c->C, O = c->O, kh = c->kh, kw = c->kw;
    p->K = C * kh * kw;
    absa_dc_grid_make(&p->f, C, c->H, c->W, kh, kw, c->sh, c->ph, c->pw, O);
    p->tdirect = c->sh == 1 && c->ph <= kh - 1 && c->pw <= kw - 1;
    if (p->tdirect)
        absa_dc_grid_make(&p->t, O, c->Ho, c->Wo, kh, kw, 1, kh - 1 - c->ph, kw - 1 - c->pw, C);
    else
        absa_dc_grid_make(&p->t, O, c->Ho, c->Wo, 1, 1, 1, 0, 0, p->K);
    p->tnout = p->tdirect ? C : p->K;
    p->tnt = p->tdirect ? kh * kw : 1;
    size_t per = (size_t)C * p->f.chan;
    size_t G = per < ABSA_DC_GROUP_ELEMS ? ABSA_DC_GROUP_ELEMS / per : 1;
    if (G > 8) G = 8;
    if (G > (size_t)c->N) G = (size_t)c->N;
    p->G = (int)G;
    p->ngroups = (c->N + p->G - 1) / p->G;
    size_t off = 0, so = 0, y1 = absa_rup((size_t)O, (size_t)p->f.ob) * p->f.qt;
    size_t y2 = absa_rup((size_t)p->tnout, (size_t)p->t.ob) * p->t.qt;
    p->o_offf = absa_take(&off, 2 * (size_t)p->K);
    p->o_offt = absa_take(&off, 2 * (size_t)O * p->tnt);
    p->o_voff = absa_take(&off, (size_t)p->f.qt / 8);
    p->o_wf = absa_take(&off, absa_rup((size_t)O, (size_t)p->f.ob) * 2 * p->K);
    p->o_wt = absa_take(&off, absa_rup((size_t)p->tnout, (size_t)p->t.ob) * 2 * O * p->tnt);
    p->o_slot = off;
    p->o_x = absa_take(&so, (G > 2 ? G : 2) * per);
    p->o_d = absa_take(&so, 2 * (size_t)O * p->t.chan);
    p->o_dyf = absa_take(&so, G * absa_rup((size_t)O, 4) * p->f.qt);
    p->o_y = absa_take(&so, y1 > y2 ? y1 : y2);
    p->o_dw = absa_take(&so, (size_t)O * p->K);
    p->o_db = absa_take(&so, (size_t)O);
    p->slot = so;
    p->total = off + (size_t)absa_dc_slots() * so;
}

#if ABSA_DC
/* The direct engine is opt-in (ABSA_CONV_DIRECT=1) and needs AVX2+FMA: by default every
 * convolution goes through BLAS (project rule: dense math through BLAS, no hand-written GEMM). */
static int absa_dc_enabled(void)
{
    const char *e = getenv("ABSA_CONV_DIRECT");
    if (!e || e[0] != '1') return 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* out[o*ldo + 8v + l] = sum_{k<nk} w[k*OB + o] * x[off[k] + voff_v + l], voff = {0, v1, v2}, for
 * o < OB, v < NV, l < 8: the register tile (OB*NV accumulators). */
ABSA_DC_TARGET static inline __attribute__((always_inline)) void
absa_dc_tile(const int OB, const int NV, int nk, const int32_t *restrict off,
             const float *restrict x, int v1, int v2, const float *restrict w, float *restrict out,
             size_t ldo)
{
    __m256 acc[6][3];
#pragma GCC unroll 6
    for (int o = 0; o < 6; o++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) acc[o][v] = _mm256_setzero_ps();
    for (int k = 0; k < nk; k++, w += OB) {
        const float *xr = x + off[k];
        const __m256 x0 = _mm256_loadu_ps(xr);
        const __m256 x1 = NV > 1 ? _mm256_loadu_ps(xr + v1) : x0;
        const __m256 x2 = NV > 2 ? _mm256_loadu_ps(xr + v2) : x0;
#pragma GCC unroll 6
        for (int o = 0; o < OB; o++) {
            const __m256 b = _mm256_broadcast_ss(w + o);
            acc[o][0] = _mm256_fmadd_ps(b, x0, acc[o][0]);
            if (NV > 1) acc[o][1] = _mm256_fmadd_ps(b, x1, acc[o][1]);
            if (NV > 2) acc[o][2] = _mm256_fmadd_ps(b, x2, acc[o][2]);
        }
    }
#pragma GCC unroll 6
    for (int o = 0; o < OB; o++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(out + (size_t)o * ldo + 8 * v, acc[o][v]);
}

/* out[o*qt + q] for o < roundup(nout, ob), q < qt: every tile of one sample's correlation. */
ABSA_DC_TARGET static void absa_dc_correlate(const absa_dc_grid *g, int nk, const int32_t *off,
                                             int nout, const float *x, const float *w, float *out)
{
    const int step = 8 * g->nv;
    for (int ob = 0; ob * g->ob < nout; ob++) {
        const float *wb = w + (size_t)ob * nk * g->ob;
        float *oo = out + (size_t)ob * g->ob * g->qt;
        for (int q0 = 0; q0 < g->qt; q0 += step) {
            const size_t base = absa_dc_inoff(g, q0);
            const int nvt = (g->qt - q0) / 8 < g->nv ? (g->qt - q0) / 8 : g->nv;
            const int v1 = nvt > 1 ? (int)(absa_dc_inoff(g, q0 + 8) - base) : 0;
            const int v2 = nvt > 2 ? (int)(absa_dc_inoff(g, q0 + 16) - base) : 0;
            const float *xq = x + base;
            float *oq = oo + q0;
            const size_t ld = (size_t)g->qt;
            switch (g->ob * 4 + nvt) { /* tiles 4x3, 6x2 and the narrower last ones */
            case 19: absa_dc_tile(4, 3, nk, off, xq, v1, v2, wb, oq, ld); break;
            case 18: absa_dc_tile(4, 2, nk, off, xq, v1, v2, wb, oq, ld); break;
            case 17: absa_dc_tile(4, 1, nk, off, xq, v1, v2, wb, oq, ld); break;
            case 26: absa_dc_tile(6, 2, nk, off, xq, v1, v2, wb, oq, ld); break;
            default: absa_dc_tile(6, 1, nk, off, xq, v1, v2, wb, oq, ld); break;
            }
        }
    }
}

ABSA_DC_TARGET static inline float absa_dc_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* r[o][t] = sum over samples s < ns and vectors v < nv of d[s*ds + o*ldd + 8v + l] *
 * xt[t][s*xs + xoff(v) + l] (o < 4, t < 3, l < 8): a 4 x 3 block of dW; xoff(v) = xoff[v], or
 * 8v when xoff is NULL (contiguous positions). */
ABSA_DC_TARGET static inline __attribute__((always_inline)) void
absa_dc_dw_body(int ns, int nv, const int32_t *restrict xoff, const float *d, size_t ldd,
                size_t ds, const float *const xt[3], size_t xs, float r[4][3])
{
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int o = 0; o < 4; o++)
#pragma GCC unroll 3
        for (int t = 0; t < 3; t++) acc[o][t] = _mm256_setzero_ps();
    for (int s = 0; s < ns; s++) {
        const float *dd = d + s * ds, *x0 = xt[0] + s * xs, *x1 = xt[1] + s * xs;
        const float *x2 = xt[2] + s * xs;
        for (int v = 0; v < nv; v++, dd += 8) {
            const int32_t xo = xoff ? xoff[v] : 8 * v;
            const __m256 a0 = _mm256_loadu_ps(x0 + xo), a1 = _mm256_loadu_ps(x1 + xo);
            const __m256 a2 = _mm256_loadu_ps(x2 + xo);
#pragma GCC unroll 4
            for (int o = 0; o < 4; o++) {
                const __m256 dv = _mm256_loadu_ps(dd + (size_t)o * ldd);
                acc[o][0] = _mm256_fmadd_ps(dv, a0, acc[o][0]);
                acc[o][1] = _mm256_fmadd_ps(dv, a1, acc[o][1]);
                acc[o][2] = _mm256_fmadd_ps(dv, a2, acc[o][2]);
            }
        }
    }
    for (int o = 0; o < 4; o++)
        for (int t = 0; t < 3; t++) r[o][t] = absa_dc_hsum(acc[o][t]);
}

ABSA_DC_TARGET static void absa_dc_dw_tile(int ns, int nv, const int32_t *xoff, const float *d,
                                           size_t ldd, size_t ds, const float *const xt[3],
                                           size_t xs, float r[4][3])
{
    if (xoff)
        absa_dc_dw_body(ns, nv, xoff, d, ldd, ds, xt, xs, r);
    else
        absa_dc_dw_body(ns, nv, NULL, d, ldd, ds, xt, xs, r);
}

/* off[k] for terms k = (source < nsrc, channel, i, j) of grid g. */
static void absa_dc_offsets(const absa_dc_grid *g, int nsrc, int32_t *off)
{
    for (int src = 0; src < nsrc; src++)
        for (int ch = 0; ch < g->nch; ch++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++)
                    *off++ = (int32_t)(((size_t)src * g->nch + ch) * g->chan +
                                       (size_t)((i % g->s) * g->s + j % g->s) * g->plane +
                                       (size_t)(i / g->s) * g->wsp + (size_t)(j / g->s));
}

/* dst[((ob*np + ci)*nt + t)*OB + l] = weight of output oo = ob*OB + l (0 past nout), input
 * ci < np = (B ? 2 : 1)*nin (ci >= nin from B), tap t. trans == 0: src is [nout][nin][nt];
 * trans == 1: src is [nin][nout][nt] read with flipped taps (the transposed convolution). */
static void absa_dc_pack(float *dst, int OB, int nout, int nin, int nt, const float *A,
                         const float *B, int trans)
{
    const int np = (B ? 2 : 1) * nin;
    for (int ob = 0; ob * OB < nout; ob++)
        for (int ci = 0; ci < np; ci++)
            for (int t = 0; t < nt; t++, dst += OB)
                for (int l = 0; l < OB; l++) {
                    const int oo = ob * OB + l, cc = ci % nin;
                    const float *src = ci < nin ? A : B;
                    dst[l] = oo >= nout ? 0.0f
                             : trans    ? src[((size_t)cc * nout + oo) * nt + nt - 1 - t]
                                        : src[((size_t)oo * nin + cc) * nt + t];
                }
}

/* dst[v] = src[v*s] for v < n; strides 1 (masked tail) and 2 (even lanes of two loads, the
 * second shifted by one so nothing past src[2(n-1)] is read) vectorised. */
ABSA_DC_TARGET static void absa_dc_copy(float *restrict dst, const float *restrict src, int n,
                                        int s)
{
    int v = 0;
    if (s == 1) {
        for (; v + 8 <= n; v += 8) _mm256_storeu_ps(dst + v, _mm256_loadu_ps(src + v));
        if (v < n) {
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - v),
                                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_maskstore_ps(dst + v, m, _mm256_maskload_ps(src + v, m));
        }
        return;
    }
    if (s == 2) {
        for (; v + 8 <= n; v += 8) {
            const __m256 a = _mm256_loadu_ps(src + 2 * v), b = _mm256_loadu_ps(src + 2 * v + 7);
            const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0));
            _mm256_storeu_ps(dst + v, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                          _mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0))));
        }
    }
    for (; v < n; v++) dst[v] = src[(size_t)v * s];
}

/* The planes of one sample (src: its [nch][hi][wi]) into dst; padding is never written, so it
 * stays zero from the slot's initial clearing. Phases a >= kh or b >= kw are never read. */
ABSA_DC_TARGET static void absa_dc_fill(const absa_dc_grid *g, const float *src, float *dst)
{
    const int s = g->s;
    for (int ch = 0; ch < g->nch; ch++) {
        const float *xc = src + (size_t)ch * g->hi * g->wi;
        for (int a = 0; a < s && a < g->kh; a++) {
            for (int b = 0; b < s && b < g->kw; b++) {
                float *d = dst + ch * g->chan + (size_t)(a * s + b) * g->plane;
                int lo, hi;
                absa_conv_valid_range(g->wsp, g->wi, s, g->pl, b, &lo, &hi);
                for (int u = 0; u < g->hs; u++) {
                    const int ih = u * s + a - g->pt;
                    if (ih < 0 || ih >= g->hi || hi <= lo) continue;
                    const float *xr = xc + (size_t)ih * g->wi + (size_t)lo * s + b - g->pl;
                    absa_dc_copy(d + (size_t)u * g->wsp + lo, xr, hi - lo, s);
                }
            }
        }
    }
}

/* dst[o][r][col] = y[o*ldy + r*wq + col] + b[o] (or += without bias when accumulate). */
static void absa_dc_emit(const float *y, size_t ldy, int wq, int nout, int ho, int wo,
                         const float *b, int accumulate, float *dst)
{
    for (int o = 0; o < nout; o++) {
        const float bo = b ? b[o] : 0.0f;
        for (int r = 0; r < ho; r++) {
            const float *src = y + (size_t)o * ldy + (size_t)r * wq;
            float *d = dst + ((size_t)o * ho + r) * wo;
            if (accumulate) {
                for (int k = 0; k < wo; k++) d[k] += src[k];
            } else {
                for (int k = 0; k < wo; k++) d[k] = src[k] + bo;
            }
        }
    }
}

/* Threads for `units` independent work items: at most the workspace slots and the OpenMP max. */
static int absa_dc_threads(int units)
{
    int t = ABSA_DC_MAXT() < absa_dc_slots() ? ABSA_DC_MAXT() : absa_dc_slots();
    return t > units ? (units > 0 ? units : 1) : (t > 0 ? t : 1);
}

/* y = corr(x, WA) [+ corr(Rx, WB) when Rx] + b, overwriting y (forward and R-forward). */
static void absa_dc_forward(const absa_conv_cfg *c, const float *x, const float *Rx,
                            const float *WA, const float *WB, const float *b, float *y, float *ws)
{
    absa_dc_plan p;
    absa_dc_plan_make(c, &p);
    const absa_dc_grid *g = &p.f;
    const int nsrc = Rx ? 2 : 1;
    const size_t xsz = (size_t)c->C * c->H * c->W, ysz = (size_t)c->O * c->Ho * c->Wo;
    int32_t *off = (int32_t *)(ws + p.o_offf);
    float *wf = ws + p.o_wf;
    absa_dc_offsets(g, nsrc, off);
    absa_dc_pack(wf, g->ob, c->O, c->C, c->kh * c->kw, WA, Rx ? WB : NULL, 0);
#pragma omp parallel num_threads(absa_dc_threads(c->N))
    {
        float *slot = ws + p.o_slot + (size_t)ABSA_DC_TID() * p.slot;
        float *xb = slot + p.o_x, *yb = slot + p.o_y;
        memset(xb, 0, nsrc * c->C * g->chan * sizeof(float));
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            absa_dc_fill(g, x + n * xsz, xb);
            if (Rx) absa_dc_fill(g, Rx + n * xsz, xb + c->C * g->chan);
            absa_dc_correlate(g, nsrc * p.K, off, c->O, xb, wf, yb);
            absa_dc_emit(yb, (size_t)g->qt, g->wq, c->O, g->ho, g->wo, c->has_bias ? b : NULL, 0,
                         y + n * ysz);
        }
    }
}

/* pw[o*K + u] += sum over samples n0 .. n0+S-1 of corr(D, X) for the weight entry u. */
static void absa_dc_dw_stage(const absa_conv_cfg *c, const absa_dc_plan *p, const int32_t *off,
                             const int32_t *voff, const float *X, const float *D, int n0, int S,
                             float *xb, float *dyf, float *pw)
{
    const absa_dc_grid *g = &p->f;
    const int O = c->O, O4 = (int)absa_rup((size_t)O, 4), K = p->K;
    const size_t xs = (size_t)c->C * g->chan, ds = (size_t)O4 * g->qt, P = (size_t)c->Ho * c->Wo;
    const int nv = (int)absa_rup((size_t)g->q, 8) / 8;
    for (int s = 0; s < S; s++) {
        const int n = n0 + s;
        absa_dc_fill(g, X + (size_t)n * c->C * c->H * c->W, xb + s * xs);
        for (int o = 0; o < O; o++)
            for (int r = 0; r < c->Ho; r++)
                absa_dc_copy(dyf + s * ds + (size_t)o * g->qt + (size_t)r * g->wq,
                             D + ((size_t)n * O + o) * P + (size_t)r * c->Wo, c->Wo, 1);
    }
    for (int ob = 0; ob < O4 / 4; ob++) {
        for (int u = 0; u < K; u += 3) {
            const float *xt[3];
            float r[4][3];
            for (int t = 0; t < 3; t++) xt[t] = xb + off[u + t < K ? u + t : u];
            absa_dc_dw_tile(S, nv, g->wq == g->wsp ? NULL : voff, dyf + (size_t)ob * 4 * g->qt,
                            (size_t)g->qt, ds, xt, xs, r);
            for (int o = 0; o < 4 && ob * 4 + o < O; o++)
                for (int t = 0; t < 3 && u + t < K; t++)
                    pw[(size_t)(ob * 4 + o) * K + u + t] += r[o][t];
        }
    }
}

/* dx += convT(dyA, WA) [+ convT(dyB, WB)];  dW += corr(dyB ? dyB : dyA, x) [+ corr(dyA, Rx) when
 * dyB and Rx];  db += sum(dyB ? dyB : dyA). Backward: dyB = WB = Rx = NULL; R-backward:
 * (dyA, dyB, WA, WB) = (dy, Rdy, V, W). */
static void absa_dc_backward(const absa_conv_cfg *c, const float *x, const float *Rx,
                             const float *dyA, const float *dyB, const float *WA, const float *WB,
                             float *dx, float *dW, float *db, float *ws)
{
    absa_dc_plan p;
    absa_dc_plan_make(c, &p);
    const absa_dc_grid *f = &p.f, *t = &p.t;
    const int O = c->O, nsrc = dyB ? 2 : 1;
    const float *dyW = dyB ? dyB : dyA, *dyR = dyB && Rx ? dyA : NULL;
    const size_t P = (size_t)c->Ho * c->Wo, xsz = (size_t)c->C * c->H * c->W;
    int T = absa_dc_threads(p.ngroups);
    const int32_t *offf = (const int32_t *)(ws + p.o_offf);
    const int32_t *offt = (const int32_t *)(ws + p.o_offt);
    int32_t *voff = (int32_t *)(ws + p.o_voff);
    if (dW) {
        absa_dc_offsets(f, 1, (int32_t *)(ws + p.o_offf));
        for (int v = 0; v * 8 < f->q; v++) voff[v] = (int32_t)absa_dc_inoff(f, 8 * v);
    }
    if (dx) {
        absa_dc_offsets(t, nsrc, (int32_t *)(ws + p.o_offt));
        absa_dc_pack(ws + p.o_wt, t->ob, p.tnout, O, p.tnt, WA, dyB ? WB : NULL, 1);
    }
#pragma omp parallel num_threads(T)
    {
        float *slot = ws + p.o_slot + (size_t)ABSA_DC_TID() * p.slot;
        if (ABSA_DC_TID() == 0) T = ABSA_DC_NTHR(); /* the team may be smaller than asked */
        float *xb = slot + p.o_x, *dbuf = slot + p.o_d, *dyf = slot + p.o_dyf, *yb = slot + p.o_y;
        float *pw = slot + p.o_dw, *pb = slot + p.o_db;
        if (dW) {
            memset(xb, 0, (size_t)p.G * c->C * f->chan * sizeof(float));
            memset(dyf, 0, (size_t)p.G * absa_rup((size_t)O, 4) * f->qt * sizeof(float));
            memset(pw, 0, (size_t)O * p.K * sizeof(float));
        }
        if (dx) memset(dbuf, 0, (size_t)nsrc * O * t->chan * sizeof(float));
        if (db) memset(pb, 0, (size_t)O * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int gi = 0; gi < p.ngroups; gi++) {
            const int n0 = gi * p.G, S = c->N - n0 < p.G ? c->N - n0 : p.G;
            for (int s = 0; db && s < S; s++)
                for (int o = 0; o < O; o++) {
                    const float *src = dyW + ((size_t)(n0 + s) * O + o) * P;
                    double sum = 0;
                    for (size_t k = 0; k < P; k++) sum += src[k];
                    pb[o] += (float)sum;
                }
            if (dW) {
                absa_dc_dw_stage(c, &p, offf, voff, x, dyW, n0, S, xb, dyf, pw);
                if (dyR) absa_dc_dw_stage(c, &p, offf, voff, Rx, dyR, n0, S, xb, dyf, pw);
            }
            for (int s = 0; dx && s < S; s++) {
                const int n = n0 + s;
                absa_dc_fill(t, dyA + (size_t)n * O * P, dbuf);
                if (dyB) absa_dc_fill(t, dyB + (size_t)n * O * P, dbuf + O * t->chan);
                absa_dc_correlate(t, nsrc * O * p.tnt, offt, p.tnout, dbuf, ws + p.o_wt, yb);
                if (p.tdirect)
                    absa_dc_emit(yb, (size_t)t->qt, t->wq, c->C, c->H, c->W, NULL, 1, dx + n * xsz);
                else
                    absa_conv_col2im_f32(c, yb, n, 1, dx, (size_t)t->qt, 0);
            }
        }
    }
    for (int k = 0; k < T; k++) { /* fold the per-thread partials */
        const float *slot = ws + p.o_slot + (size_t)k * p.slot;
        for (size_t i = 0; dW && i < (size_t)O * p.K; i++) dW[i] += slot[p.o_dw + i];
        for (int o = 0; db && o < O; o++) db[o] += slot[p.o_db + o];
    }
}
#endif /* ABSA_DC */

size_t absa_conv_workspace(const absa_conv_cfg *c)
{
    absa_dc_plan p;
    absa_dc_plan_make(c, &p);
    size_t g = absa_conv_gemm_workspace(c);
    return ABSA_DC && p.total > g ? p.total : g;
}
