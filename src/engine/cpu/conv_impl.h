/* conv_impl.h — generic body of the conv2d engine (the patch-matrix engine; conv_wino.h the
 * Winograd one, conv_pass_impl.h the passes' choice between them, the fused max-pool and the
 * public entry points), included by conv.c once per precision with ABSA_T / ABSA_SFX defined (see
 * absa_generic.h). No include guard on purpose (only the type-independent helpers are guarded).
 *
 * Engine: OpenMP threads over samples; each thread owns one workspace slot and runs every GEMM of
 * its samples through BLAS on its own core (inside a parallel region the OpenMP build of OpenBLAS
 * runs single-threaded, so there is no fork/join per GEMM). Per sample:
 *  - pad:     x[n] (CHW) -> xp, the zero-padded input in HWC order [Hp][Wp][C];
 *  - patches: xp -> col[P][K], one row per output position: its receptive field, tap-major
 *             ((i*kw + j)*C + c). For a fixed kernel row i the kw taps of a position are adjacent
 *             in xp, so every row is kh contiguous copies of kw*C elements, whatever the stride;
 *  - GEMMs on the patch-major matrix (the orientation OpenBLAS runs fastest here, measured by
 *    validation/bench/bench_gemm, see docs/engine.md): y^T[P][O] = col Wr^T (y[n] = Wr col^T
 *    directly when K <= ABSA_CONV_DIRECT_MAX_K); dWr[O][K] += dy[n] col
 *    (dy[n] is [O][P] as stored); dcol[P][K] = dy[n]^T Wr; Wr is W reordered to [O][(i*kw+j)*C + c];
 *  - fold:    dcol -> xp (adjoint of patches), then dx[n] += (= when cfg.dx_set) the interior of
 *             xp back in CHW.
 * 3x3 stride-1 layers with enough channels take the Winograd path instead (conv_wino.h), and on
 * the FMA CPU paths the layers of conv_direct.h's rule the direct path (FMA chains, no GEMM).
 * Each thread accumulates dW/db partials in its slot; they are added into dW/db in thread order
 * after the samples (deterministic for a given thread count).
 * The passes follow layers.h's conventions.
 */

/* Type-independent helpers, defined on the first inclusion only. */
#ifndef ABSA_CONV_IMPL_ONCE
#define ABSA_CONV_IMPL_ONCE
#ifdef _OPENMP
#include <omp.h>
#endif

/* CPU paths (conv_path.h): the including file names its path (ABSA_CONV_PATH: baseline, avx2,
 * avx512) and, on x86-64, the instruction set of its data-movement loops (ABSA_CONV_TARGET:
 * transposes, patches, fold, Winograd transforms), where wide loads and stores are what these
 * memory-bound copies need. Plain C everywhere else. These loops only move, add and subtract
 * (no product that could be contracted into an FMA), so every path gives the same bits. */
#if defined(ABSA_CONV_TARGET) && defined(__x86_64__) && defined(__GNUC__)
#define ABSA_CONV_SIMD __attribute__((target(ABSA_CONV_TARGET)))
#else
#define ABSA_CONV_SIMD
#endif
/* the entry points of one path: absa_conv2d_forward_f32_avx2 etc. */
#define ABSA_CONV_PUB(name) ABSA_CAT(ABSA_FN(name), ABSA_CONV_PATH)

#define ABSA_CONV_MAX_SLOTS 8 /* most threads one conv call uses (workspace slots) */
/* Patch-engine layers with at most this many patch columns (K = C*kh*kw: lenet's conv1, the
 * resnet20 stem and its 1x1 projections) compute the forward product straight in CHW order,
 * y[n] = Wr col^T, instead of col Wr^T and a transpose: on these thin GEMMs OpenBLAS runs both
 * orientations at about the same rate, so the transpose was pure cost (bench_conv, 1 thread:
 * conv1 fwd+bwd 7.3-7.9 -> 7.0-7.2 ms, the 1x1 projections 3-8 % faster); with wider K the
 * patch-major product is the faster one (docs/engine.md). */
#define ABSA_CONV_DIRECT_MAX_K 32

/* Workspace slots: one per processor (fixed for the process), at most ABSA_CONV_MAX_SLOTS. */
static int absa_conv_slots(void)
{
#ifdef _OPENMP
    int n = omp_get_num_procs();
#else
    int n = 1;
#endif
    return n < 1 ? 1 : n > ABSA_CONV_MAX_SLOTS ? ABSA_CONV_MAX_SLOTS : n;
}

/* Threads for a call over N samples: at most the slots, the OpenMP maximum and N. */
static int absa_conv_threads(int N)
{
#ifdef _OPENMP
    int t = omp_get_max_threads();
#else
    int t = 1;
#endif
    int s = absa_conv_slots();
    if (t > s) t = s;
    if (t > N) t = N;
    return t < 1 ? 1 : t;
}

static inline int absa_conv_tid(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int absa_conv_team(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Workspace layout in elements: shared reordered weights wr[O][2K] (two matrices side by side
 * for the R-passes), then one slot per thread: xp[Hp*Wp*C] (padded x or Rx), dp (the fold
 * target, same shape), col[P][2K] (patches of x and Rx side by side for the R-forward), out[P][O] (the
 * forward GEMM result), pw[O][K], pb[O] (thread partials of dW, db). */
typedef struct absa_conv_lay {
    int K, P, Hp, Wp;
    int tr; /* thin layer with patch runs (kw*C) shorter than 8: patches transposed (absa_conv_patches_t) */
    size_t plane, o_xp, o_dp, o_col, o_out, o_pw, o_pb, o_z, o_z2, o_t, slot, shared, total;
} absa_conv_lay;

static size_t absa_conv_rup(size_t a) { return (a + 15) / 16 * 16; } /* 64-byte steps (f32) */

static void absa_conv_layout(const absa_conv_cfg *c, absa_conv_lay *l)
{
    l->K = c->C * c->kh * c->kw;
    l->P = c->Ho * c->Wo;
    l->Hp = c->H + 2 * c->ph;
    l->Wp = c->W + 2 * c->pw;
    l->plane = (size_t)l->Hp * l->Wp * c->C;
    l->tr = l->K <= ABSA_CONV_DIRECT_MAX_K && c->kw * c->C < 8;
    size_t K = (size_t)l->K, P = (size_t)l->P, O = (size_t)c->O, at = 0;
    l->shared = absa_conv_rup(2 * O * K);
    l->o_xp = at, at += absa_conv_rup(l->plane);
    l->o_dp = at, at += absa_conv_rup(l->plane);
    l->o_col = at, at += absa_conv_rup(P * 2 * K);
    l->o_out = at, at += absa_conv_rup(P * O);
    l->o_pw = at, at += absa_conv_rup(O * K);
    l->o_pb = at, at += absa_conv_rup(O);
    l->o_z = l->o_z2 = l->o_t = 0;
    l->slot = at;
    l->total = l->shared + (size_t)absa_conv_slots() * l->slot;
}

/* The layout of a conv with a fused max-pool (absa_conv2d_pool_*) on the patch engine: each slot
 * also holds one sample's conv output z[O][P] (forward, R-forward: pooled from there) and, for the
 * backward passes, the pool's scatter of dy and Rdy into z and z2, and t for a fused ReLU's mask. */
static void absa_conv_layout_pool(const absa_conv_cfg *c, absa_conv_lay *l)
{
    absa_conv_layout(c, l);
    const size_t zs = absa_conv_rup((size_t)c->O * l->P);
    l->o_z = l->slot;
    l->o_z2 = l->slot + zs;
    l->o_t = l->slot + 2 * zs; /* a fused ReLU's masked dy (pooled: at most O*P) */
    l->slot += 3 * zs;
    l->total = l->shared + (size_t)absa_conv_slots() * l->slot;
}

/* A max-pool fused after the conv (absa_conv2d_pool_*): the pool of one sample (N = 1), the
 * argmax of the batch, the pooled elements per sample, whether the pass is an R-forward (gather
 * the R-output at argmax) rather than the forward (pool, argmax), and z, with a ReLU fused after
 * the pool, the node's output (an ABSA_T array; NULL: no ReLU): the forward applies the ReLU to it,
 * the other passes take their mask from its sign. */
typedef struct absa_conv_fuse {
    absa_pool_cfg one;
    int32_t *argmax;
    size_t psz;
    int r;
    const void *z;
} absa_conv_fuse;
#endif /* ABSA_CONV_IMPL_ONCE */

/* wr[o*ld + off + (i*kw + j)*C + ch] = W[o][ch][i][j]: OIHW to the patch order. */
static void ABSA_FN(absa_conv_reorder)(const absa_conv_cfg *c, const ABSA_T *W, ABSA_T *wr,
                                       size_t ld, size_t off)
{
    const int C = c->C, kk = c->kh * c->kw;
    for (int o = 0; o < c->O; o++)
        for (int ch = 0; ch < C; ch++)
            for (int t = 0; t < kk; t++)
                wr[(size_t)o * ld + off + (size_t)t * C + ch] = W[((size_t)o * C + ch) * kk + t];
}

#ifndef ABSA_CONV_TR_ONCE
#define ABSA_CONV_TR_ONCE
typedef float absa_v8f __attribute__((vector_size(32)));
/* o[j] = column j of the 8x8 block r[i][j] (three rounds of two-vector shuffles). */
static inline void absa_tr8(const absa_v8f r[8], absa_v8f o[8])
{
    absa_v8f t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = __builtin_shufflevector(r[k], r[k + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[k + 1] = __builtin_shufflevector(r[k], r[k + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int k = 0; k < 8; k += 4)
        for (int q = 0; q < 2; q++) {
            u[k + q] = __builtin_shufflevector(t[k + q], t[k + q + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[k + q + 2] = __builtin_shufflevector(t[k + q], t[k + q + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    /* u[0..3] hold columns {0,4},{2,6},{1,5},{3,7} of rows 0-3; u[4..7] the same of rows 4-7 */
    static const int col_of[4][2] = {{0, 4}, {2, 6}, {1, 5}, {3, 7}};
    for (int q = 0; q < 4; q++) {
        o[col_of[q][0]] = __builtin_shufflevector(u[q], u[q + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        o[col_of[q][1]] = __builtin_shufflevector(u[q], u[q + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

typedef float absa_v16f __attribute__((vector_size(64)));
/* o[j] = column j of the 16x16 block r[i][j]: four rounds of the perfect shuffle (row i
 * interleaved with row i + 8, low halves into 2i, high halves into 2i + 1), one two-source
 * permute per vector and round with AVX-512. Only the AVX-512 path uses it (ABSA_CONV_W16). */
static inline void absa_tr16(const absa_v16f r[16], absa_v16f o[16])
{
    absa_v16f a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = r[i];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 8; i++) {
            b[2 * i] = __builtin_shufflevector(a[i], a[i + 8], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            b[2 * i + 1] =
                __builtin_shufflevector(a[i], a[i + 8], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        }
        for (int i = 0; i < 16; i++) a[i] = b[i];
    }
    for (int i = 0; i < 16; i++) o[i] = a[i];
}
#endif

/* dst[j*ds + i] = (add ? dst[j*ds + i] : 0) + src[i*ss + j] + (bias ? bias[j] : 0) for i < ni,
 * j < nj: the layout changes between CHW activations and the HWC buffers of the engines. Float
 * runs through register transposes (GNU vector extensions, compiled per ABSA_CONV_SIMD target:
 * 16x16 blocks on the AVX-512 path, then 8x8 blocks); the edges and double take the scalar loop.
 * Every path adds the same two or three numbers per element in the same order: the same bits. */
ABSA_CONV_SIMD static void ABSA_FN(absa_conv_transpose)(const ABSA_T *restrict src, size_t ss,
                                                        ABSA_T *restrict dst, size_t ds, int ni,
                                                        int nj, int add, const ABSA_T *bias)
{
    int i8 = 0, j8 = 0;
    if (sizeof(ABSA_T) == sizeof(float)) {
        i8 = ni / 8 * 8;
        j8 = nj / 8 * 8;
        const float *fs = (const float *)src, *fb = (const float *)bias;
        float *fd = (float *)dst;
        int i16 = 0, j16 = 0; /* [0, i16) x [0, j16): 16x16 blocks; the rest of [0, i8) x [0, j8): 8x8 */
#ifdef ABSA_CONV_W16
        i16 = ni / 16 * 16;
        j16 = nj / 16 * 16;
        for (int i0 = 0; i0 < i16; i0 += 16)
            for (int j0 = 0; j0 < j16; j0 += 16) {
                absa_v16f r[16], o[16];
                for (int i = 0; i < 16; i++) memcpy(&r[i], fs + (size_t)(i0 + i) * ss + j0, 64);
                absa_tr16(r, o);
                for (int j = 0; j < 16; j++) {
                    float *d = fd + (size_t)(j0 + j) * ds + i0;
                    if (fb) o[j] += fb[j0 + j];
                    if (add) {
                        absa_v16f a;
                        memcpy(&a, d, 64);
                        o[j] += a;
                    }
                    memcpy(d, &o[j], 64);
                }
            }
#endif
        for (int i0 = 0; i0 < i8; i0 += 8)
            for (int j0 = i0 < i16 ? j16 : 0; j0 < j8; j0 += 8) {
                absa_v8f r[8], o[8];
                for (int i = 0; i < 8; i++) memcpy(&r[i], fs + (size_t)(i0 + i) * ss + j0, 32);
                absa_tr8(r, o);
                for (int j = 0; j < 8; j++) {
                    float *d = fd + (size_t)(j0 + j) * ds + i0;
                    if (fb) o[j] += fb[j0 + j];
                    if (add) {
                        absa_v8f a;
                        memcpy(&a, d, 32);
                        o[j] += a;
                    }
                    memcpy(d, &o[j], 32);
                }
            }
    }
    for (int i = 0; i < ni; i++) /* the rest: rows past i8, or columns past j8 */
        for (int j = i < i8 ? j8 : 0; j < nj; j++) {
            ABSA_T *d = dst + (size_t)j * ds + i;
            const ABSA_T v = src[(size_t)i * ss + j] + (bias ? bias[j] : 0);
            *d = add ? *d + v : v;
        }
}

/* xp[((h + ph)*wp + w + pw)*C + c] = xs[c][h][w]: the zero-padded HWC copy of one CHW sample (row
 * width wp). Only the interior is written: the caller clears xp once per call, and the borders stay
 * zero from sample to sample. */
static void ABSA_FN(absa_conv_pad)(const ABSA_T *restrict xs, int C, int H, int W,
                                   ABSA_T *restrict xp, size_t wp, int ph, int pw)
{
    if (ph == 0 && pw == 0 && wp == (size_t)W) { /* no border: one [C][H*W] -> [H*W][C] transpose, whose
                                                * 8x8 blocks cover all but (H*W) % 8 columns */
        ABSA_FN(absa_conv_transpose)(xs, (size_t)H * W, xp, (size_t)C, C, H * W, 0, NULL);
        return;
    }
    for (int h = 0; h < H; h++) /* [C][W] rows of plane h -> [W][C] */
        ABSA_FN(absa_conv_transpose)(xs + (size_t)h * W, (size_t)H * W,
                                     xp + ((size_t)(h + ph) * wp + pw) * C, (size_t)C, C, W, 0, NULL);
}

/* ds[c][h][w] += (or = when set) xp[((h + ph)*wp + w + pw)*C + c] (+ bias[c] when bias): the
 * adjoint of absa_conv_pad, and the HWC -> CHW copy of an engine's output with its bias. */
static void ABSA_FN(absa_conv_unpad)(const ABSA_T *restrict xp, size_t wp, int ph, int pw, int C,
                                     int H, int W, ABSA_T *restrict ds, int set, const ABSA_T *bias)
{
    if (ph == 0 && pw == 0 && wp == (size_t)W) { /* no border: one transpose of the plane, whose
                                                * 8x8 blocks cover all but (H*W) % 8 rows */
        ABSA_FN(absa_conv_transpose)(xp, (size_t)C, ds, (size_t)H * W, H * W, C, !set, bias);
        return;
    }
    for (int h = 0; h < H; h++) /* [W][C] -> [C][W] rows of plane h */
        ABSA_FN(absa_conv_transpose)(xp + ((size_t)(h + ph) * wp + pw) * C, (size_t)C,
                                     ds + (size_t)h * W, (size_t)H * W, W, C, !set, bias);
}

/* d[e] = s[e] for e < n, in fixed 8-element blocks that the compiler inlines, and the last 0-7
 * elements as written-out moves: a plain loop, the tail's included, becomes a memcpy call (GCC's
 * loop-to-memcpy pattern), which costs more than the copy for these short runs (lenet's conv1
 * copies runs of 3: a call per run was 2 % of its training step). */
static inline void ABSA_FN(absa_conv_copy)(ABSA_T *restrict d, const ABSA_T *restrict s, size_t n)
{
    size_t e = 0;
    for (; e + 8 <= n; e += 8) memcpy(d + e, s + e, 8 * sizeof(ABSA_T));
    d += e, s += e;
    switch (n - e) {
    case 7: d[6] = s[6]; /* fall through */
    case 6: d[5] = s[5]; /* fall through */
    case 5: d[4] = s[4]; /* fall through */
    case 4: d[3] = s[3]; /* fall through */
    case 3: d[2] = s[2]; /* fall through */
    case 2: d[1] = s[1]; /* fall through */
    case 1: d[0] = s[0]; /* fall through */
    default: break;
    }
}

/* col[p*ld + off + i*kw*C + e] = xp[((oh*sh + i)*Wp + ow*sw)*C + e] for e < kw*C. */
ABSA_CONV_SIMD static void ABSA_FN(absa_conv_patches)(const absa_conv_cfg *c, const absa_conv_lay *l,
                                       const ABSA_T *restrict xp, ABSA_T *restrict col, size_t ld,
                                       size_t off)
{
    const size_t run = (size_t)c->kw * c->C, C = (size_t)c->C;
    for (int oh = 0; oh < c->Ho; oh++)
        for (int ow = 0; ow < c->Wo; ow++) {
            ABSA_T *d = col + ((size_t)oh * c->Wo + ow) * ld + off;
            const ABSA_T *s = xp + ((size_t)oh * c->sh * l->Wp + (size_t)ow * c->sw) * C;
            for (int i = 0; i < c->kh; i++, d += run, s += (size_t)l->Wp * C)
                ABSA_FN(absa_conv_copy)(d, s, run);
        }
}

/* colT[(off + (i*kw + j)*C + ch)*P + p] = xp[((oh*sh + i)*Wp + ow*sw + j)*C + ch], p = oh*Wo + ow:
 * the patches transposed, one row per kernel element, for the direct product of thin layers
 * (ABSA_CONV_DIRECT_MAX_K). Each row is Ho runs of Wo elements, contiguous in xp when C = 1 and
 * the stride is 1 (lenet's conv1: conv1 fwd+bwd 2.3 -> 2.0 ms in bench_conv, where the patch-major
 * layout copied 3-element runs). Used when the runs (kw*C) are shorter than 8 elements. */
ABSA_CONV_SIMD static void ABSA_FN(absa_conv_patches_t)(const absa_conv_cfg *c, const absa_conv_lay *l,
                                         const ABSA_T *restrict xp, ABSA_T *restrict colT, size_t off)
{
    const int C = c->C, Wo = c->Wo;
    const size_t P = (size_t)l->P, st = (size_t)c->sw * C;
    for (int i = 0; i < c->kh; i++)
        for (int j = 0; j < c->kw; j++)
            for (int ch = 0; ch < C; ch++) {
                ABSA_T *d = colT + (off + (size_t)(i * c->kw + j) * C + ch) * P;
                for (int oh = 0; oh < c->Ho; oh++, d += Wo) {
                    const ABSA_T *src = xp + ((size_t)(oh * c->sh + i) * l->Wp + j) * C + ch;
                    if (st == 1)
                        for (int ow = 0; ow < Wo; ow++) d[ow] = src[ow];
                    else
                        for (int ow = 0; ow < Wo; ow++) d[ow] = src[(size_t)ow * st];
                }
            }
}

/* The patches of one sample of src (x or Rx) at offset off of the slot's patch matrix col: padded
 * into xp, then copied patch-major (row stride ld) or, for l->tr, transposed (rows of P). */
static void ABSA_FN(absa_conv_sample_patches)(const absa_conv_cfg *c, const absa_conv_lay *l, const ABSA_T *src,
                                              ABSA_T *xp, ABSA_T *col, size_t ld, size_t off)
{
    ABSA_FN(absa_conv_pad)(src, c->C, c->H, c->W, xp, (size_t)l->Wp, c->ph, c->pw);
    if (l->tr)
        ABSA_FN(absa_conv_patches_t)(c, l, xp, col, off);
    else
        ABSA_FN(absa_conv_patches)(c, l, xp, col, ld, off);
}

/* pw[O][K] += dys[O][P] times the patches of one sample of src: dy col, or dy colT^T for l->tr. */
static void ABSA_FN(absa_conv_dw_sample)(const absa_conv_cfg *c, const absa_conv_lay *l, const ABSA_T *src,
                                         const ABSA_T *dys, ABSA_T *xp, ABSA_T *col, ABSA_T *pw)
{
    const int O = c->O, K = l->K, P = l->P;
    ABSA_FN(absa_conv_sample_patches)(c, l, src, xp, col, (size_t)K, 0);
    if (l->tr)
        ABSA_FN(absa_gemm)(0, 1, O, K, P, 1, dys, P, col, P, 1, pw, K);
    else
        ABSA_FN(absa_gemm)(0, 0, O, K, P, 1, dys, P, col, K, 1, pw, K);
}

/* xp += fold(col): the adjoint of absa_conv_patches (row stride ld = K). */
ABSA_CONV_SIMD static void ABSA_FN(absa_conv_fold)(const absa_conv_cfg *c, const absa_conv_lay *l,
                                    const ABSA_T *restrict col, ABSA_T *restrict xp)
{
    const size_t run = (size_t)c->kw * c->C, C = (size_t)c->C;
    for (int oh = 0; oh < c->Ho; oh++)
        for (int ow = 0; ow < c->Wo; ow++) {
            const ABSA_T *s = col + ((size_t)oh * c->Wo + ow) * (size_t)l->K;
            ABSA_T *d = xp + ((size_t)oh * c->sh * l->Wp + (size_t)ow * c->sw) * C;
            for (int i = 0; i < c->kh; i++, s += run, d += (size_t)l->Wp * C)
                for (size_t e = 0; e < run; e++) d[e] += s[e];
        }
}

/* pb[o] += sum_p dys[o][p], summed in double per channel: eight partial sums (element p goes
 * to partial p % 8, the tail included), then added pairwise ((0+1)+(2+3))+((4+5)+(6+7)). The
 * order is written out, so every CPU path gives the same bits however wide its vectors (the
 * compiler vectorises the eight lanes without reassociating); one running sum was a chain of
 * dependent double adds, 8 % of lenet's training time. */
ABSA_CONV_SIMD static void ABSA_FN(absa_conv_bias_sum)(int O, int P, const ABSA_T *dys, ABSA_T *pb)
{
    for (int o = 0; o < O; o++) {
        const ABSA_T *src = dys + (size_t)o * P;
        double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int p = 0;
        for (; p + 8 <= P; p += 8)
            for (int j = 0; j < 8; j++) a[j] += (double)src[p + j];
        for (int j = 0; p + j < P; j++) a[j] += (double)src[p + j];
        pb[o] += (ABSA_T)(((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])));
    }
}

/* dW[o][ch][i][j] += sum over the team's slots of pw[o][(i*kw+j)*C + ch]; db[o] += pb[o]. */
static void ABSA_FN(absa_conv_reduce)(const absa_conv_cfg *c, const absa_conv_lay *l,
                                      const ABSA_T *ws, int team, ABSA_T *dW, ABSA_T *db)
{
    const int C = c->C, kk = c->kh * c->kw;
    for (int t = 0; t < team; t++) {
        const ABSA_T *slot = ws + l->shared + (size_t)t * l->slot;
        const ABSA_T *pw = slot + l->o_pw;
        for (int o = 0; dW && o < c->O; o++)
            for (int ch = 0; ch < C; ch++)
                for (int k = 0; k < kk; k++)
                    dW[((size_t)o * C + ch) * kk + k] += pw[(size_t)o * l->K + (size_t)k * C + ch];
        for (int o = 0; db && o < c->O; o++) db[o] += slot[l->o_pb + o];
    }
}

/* A fused pool's output for sample n from its conv output zn (in the workspace): the forward
 * pools into y and argmax (then the ReLU in place), the R-forward gathers at argmax (then masks by
 * the forward's output z). The same kernels, on one sample, as the separate ops. */
static void ABSA_FN(absa_conv_fuse_out)(const absa_conv_fuse *fp, int n, const ABSA_T *zn, ABSA_T *y)
{
    ABSA_T *yo = y + n * fp->psz;
    int32_t *an = fp->argmax + n * fp->psz;
    if (fp->r) {
        ABSA_FN(absa_maxpool_rforward)(&fp->one, an, zn, yo);
        if (fp->z) ABSA_FN(absa_relu_rforward)(fp->psz, (const ABSA_T *)fp->z + n * fp->psz, yo, yo);
    } else {
        ABSA_FN(absa_maxpool_forward)(&fp->one, zn, yo, an);
        if (fp->z) ABSA_FN(absa_relu_forward)(fp->psz, yo, yo); /* z is y here */
    }
}

/* dz = the pool's backward (overwriting) of sample n of the pooled gradient dy, masked first by a
 * fused ReLU (into t). */
static void ABSA_FN(absa_conv_fuse_dy)(const absa_conv_fuse *fp, int n, const ABSA_T *dy, ABSA_T *t, ABSA_T *dz)
{
    const ABSA_T *d = dy + n * fp->psz;
    if (fp->z) {
        ABSA_FN(absa_relu_backward_ex)(fp->psz, (const ABSA_T *)fp->z + n * fp->psz, d, t, 1);
        d = t;
    }
    ABSA_FN(absa_maxpool_backward_ex)(&fp->one, fp->argmax + n * fp->psz, d, dz, 1);
}

/* The backward passes' dy of sample n (ysz elements): of dyA and dyB (NULL: none) as they are,
 * or with a fused pool (fp) their pool's (and ReLU's) backward in the slot's z and z2 (t: the
 * ReLU's scratch), as *dA and *dB. */
static void ABSA_FN(absa_conv_fuse_dys)(const absa_conv_fuse *fp, int n, size_t ysz, const ABSA_T *dyA,
                                        const ABSA_T *dyB, ABSA_T *t, ABSA_T *z, ABSA_T *z2, const ABSA_T **dA,
                                        const ABSA_T **dB)
{
    if (!fp) {
        *dA = dyA + n * ysz;
        *dB = dyB ? dyB + n * ysz : NULL;
        return;
    }
    ABSA_FN(absa_conv_fuse_dy)(fp, n, dyA, t, z);
    *dA = z;
    *dB = NULL;
    if (dyB) {
        ABSA_FN(absa_conv_fuse_dy)(fp, n, dyB, t, z2);
        *dB = z2;
    }
}

/* y = conv(x, A) [+ conv(Rx, B) when Rx] + b, overwriting y (forward and R-forward). With a fused
 * max-pool (fp), each sample's conv output goes to the slot's z, and is pooled from there into y
 * (the pooled shape) and argmax, or for an R-forward gathered at argmax: the same kernels on the
 * same values as the two ops one after the other, while the sample is in cache. */
static void ABSA_FN(absa_conv_fwd)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *A, const ABSA_T *B, const ABSA_T *b, ABSA_T *y,
                                   ABSA_T *ws, const absa_conv_fuse *fp)
{
    absa_conv_lay l;
    if (fp) absa_conv_layout_pool(c, &l);
    else absa_conv_layout(c, &l);
    const int O = c->O, P = l.P, Ks = (Rx ? 2 : 1) * l.K;
    const size_t xsz = (size_t)c->C * c->H * c->W, ysz = (size_t)O * P;
    ABSA_FN(absa_conv_reorder)(c, A, ws, (size_t)Ks, 0);
    if (Rx) ABSA_FN(absa_conv_reorder)(c, B, ws, (size_t)Ks, (size_t)l.K);
    const int T = absa_conv_threads(c->N);
    (void)T;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        ABSA_T *slot = ws + l.shared + (size_t)absa_conv_tid() * l.slot;
        ABSA_T *xp = slot + l.o_xp, *col = slot + l.o_col, *out = slot + l.o_out;
        memset(xp, 0, l.plane * sizeof(ABSA_T));
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            ABSA_T *yn = fp ? slot + l.o_z : y + n * ysz;
            ABSA_FN(absa_conv_sample_patches)(c, &l, x + n * xsz, xp, col, (size_t)Ks, 0);
            if (Rx) ABSA_FN(absa_conv_sample_patches)(c, &l, Rx + n * xsz, xp, col, (size_t)Ks, (size_t)l.K);
            if (l.K <= ABSA_CONV_DIRECT_MAX_K) { /* y[n] = the bias + Wr col^T, in CHW order */
                /* the bias first and beta = 1: one pass over y fewer than bias after a beta = 0
                 * product (which OpenBLAS starts by zeroing y); the same sum b + (W col)[o][p],
                 * the dot product complete in registers before the one add (K <= 64 is one
                 * block of every kernel) */
                for (int o = 0; o < O; o++) {
                    const ABSA_T bo = b ? b[o] : 0;
                    for (int p = 0; p < P; p++) yn[(size_t)o * P + p] = bo;
                }
                if (l.tr) /* col holds col^T: rows of P */
                    ABSA_FN(absa_gemm)(0, 0, O, P, Ks, 1, ws, Ks, col, P, 1, yn, P);
                else
                    ABSA_FN(absa_gemm)(0, 1, O, P, Ks, 1, ws, Ks, col, Ks, 1, yn, P);
            } else {
                ABSA_FN(absa_gemm)(0, 1, P, O, Ks, 1, col, Ks, ws, Ks, 0, out, O);
                /* [P][O] -> [O][P], plus the bias */
                ABSA_FN(absa_conv_transpose)(out, (size_t)O, yn, (size_t)P, P, O, 0, b);
            }
            if (fp) ABSA_FN(absa_conv_fuse_out)(fp, n, yn, y);
        }
    }
}

/* dx += convT(dyA, A) [+ convT(dyB, B)];  dW += corr(dyB ? dyB : dyA, x) [+ corr(dyA, Rx) when
 * dyB and Rx];  db += sum(dyB ? dyB : dyA). Backward: dyB = B = Rx = NULL; R-backward:
 * (dyA, dyB, A, B) = (dy, Rdy, V, W). With a fused max-pool (fp), dyA and dyB have the pooled
 * shape: each sample's are scattered through argmax into the slot's z and z2 (the pool's
 * backward in set mode, one sample) and the conv's backward reads them from there. */
static void ABSA_FN(absa_conv_bwd)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *dyA, const ABSA_T *dyB, const ABSA_T *A,
                                   const ABSA_T *B, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws,
                                   const absa_conv_fuse *fp)
{
    absa_conv_lay l;
    if (fp) absa_conv_layout_pool(c, &l);
    else absa_conv_layout(c, &l);
    const int O = c->O, P = l.P, K = l.K, ldw = (dyB ? 2 : 1) * K;
    const size_t xsz = (size_t)c->C * c->H * c->W, ysz = (size_t)O * P;
    if (dx) {
        ABSA_FN(absa_conv_reorder)(c, A, ws, (size_t)ldw, 0);
        if (dyB) ABSA_FN(absa_conv_reorder)(c, B, ws, (size_t)ldw, (size_t)K);
    }
    int T = absa_conv_threads(c->N);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        ABSA_T *slot = ws + l.shared + (size_t)absa_conv_tid() * l.slot;
        ABSA_T *xp = slot + l.o_xp, *dp = slot + l.o_dp, *col = slot + l.o_col;
        ABSA_T *pw = slot + l.o_pw, *pb = slot + l.o_pb;
        if (absa_conv_tid() == 0) T = absa_conv_team(); /* the team may be smaller than asked */
        if (dW) memset(xp, 0, l.plane * sizeof(ABSA_T));
        if (dW) memset(pw, 0, (size_t)O * K * sizeof(ABSA_T));
        if (db) memset(pb, 0, (size_t)O * sizeof(ABSA_T));
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            const ABSA_T *dA, *dB;
            ABSA_FN(absa_conv_fuse_dys)(fp, n, ysz, dyA, dyB, slot + l.o_t, slot + l.o_z, slot + l.o_z2, &dA, &dB);
            const ABSA_T *dW_dy = dB ? dB : dA, *dR = dB && Rx ? dA : NULL;
            if (db) ABSA_FN(absa_conv_bias_sum)(O, P, dW_dy, pb);
            if (dW) ABSA_FN(absa_conv_dw_sample)(c, &l, x + n * xsz, dW_dy, xp, col, pw);
            if (dW && dR) ABSA_FN(absa_conv_dw_sample)(c, &l, Rx + n * xsz, dR, xp, col, pw);
            if (dx) {
                ABSA_FN(absa_gemm)(1, 0, P, K, O, 1, dA, P, ws, ldw, 0, col, K);
                if (dB) ABSA_FN(absa_gemm)(1, 0, P, K, O, 1, dB, P, ws + K, ldw, 1, col, K);
                memset(dp, 0, l.plane * sizeof(ABSA_T));
                ABSA_FN(absa_conv_fold)(c, &l, col, dp);
                ABSA_FN(absa_conv_unpad)(dp, (size_t)l.Wp, c->ph, c->pw, c->C, c->H, c->W, dx + n * xsz,
                                         c->dx_set, NULL);
            }
        }
    }
    if (dW || db) ABSA_FN(absa_conv_reduce)(c, &l, ws, T, dW, db);
}

#include "conv_wino.h"
#include "conv_direct.h"
#include "conv_pass_impl.h"
