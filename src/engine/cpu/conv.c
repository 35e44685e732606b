/* conv.c — 2-D convolution layer (NCHW activations, OIHW weights, zero padding, any stride and
 * kernel size): geometry (absa_conv_cfg_init), workspace sizing, the baseline x86-64 instance of
 * the engine (conv_impl.h: threads over samples, per-sample patch matrices and BLAS GEMMs;
 * conv_wino.h: Winograd F(2x2, 3x3) for 3x3 stride-1 layers, also on BLAS GEMMs) in float32 and
 * float64, and the four public passes (forward, backward, R-forward, R-backward), which call the
 * CPU path chosen once per process (conv_path.h; AVX2 and AVX-512 in conv_avx2.c, conv_avx512.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "absa_blas.h"
#include "absa_error.h"
#include "conv_path.h"
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

#define ABSA_CONV_PATH baseline /* no ABSA_CONV_TARGET: the build's -march */

#define ABSA_T float
#define ABSA_SFX f32
#include "conv_impl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "conv_impl.h"
#undef ABSA_T
#undef ABSA_SFX

/* The workspace of the layer's engine (with the slots of a fused pool when pool). */
static size_t absa_conv_ws(const absa_conv_cfg *c, int pool)
{
    absa_conv_lay l;
    (pool ? absa_conv_layout_pool : absa_conv_layout)(c, &l);
    size_t t = l.total;
    if (absa_wino_geo(c)) {
        absa_wino_lay w;
        (pool ? absa_wino_layout_pool : absa_wino_layout)(c, &w);
        if (w.total > t) t = w.total;
    }
    if (absa_dconv_geo(c)) { /* the direct path's (conv_direct.h), on any path's CPU */
        absa_dconv_lay d;
        absa_dconv_layout(c, pool, &d);
        if (d.total > t) t = d.total;
    }
    return t;
}

size_t absa_conv_workspace(const absa_conv_cfg *c) { return absa_conv_ws(c, 0); }

const char *absa_conv_engine_f32(const absa_conv_cfg *c)
{
    if (absa_conv_path_active() != ABSA_CONV_PATH_BASELINE && absa_dconv_eligible(c)) return "direct";
    return absa_wino_ok(c) ? "winograd" : "patch";
}
size_t absa_conv_pool_workspace(const absa_conv_cfg *c) { return absa_conv_ws(c, 1); }

/* ---- CPU paths (conv_path.h) ---- */

static const char *const absa_conv_path_names[ABSA_CONV_N_PATHS] = {"baseline", "avx2", "avx512"};

const char *absa_conv_path_name(int path)
{
    return path >= 0 && path < ABSA_CONV_N_PATHS ? absa_conv_path_names[path] : "?";
}

int absa_conv_path_supported(int path)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    switch (path) {
    case ABSA_CONV_PATH_BASELINE: return 1;
    case ABSA_CONV_PATH_AVX2: return __builtin_cpu_supports("avx2") != 0;
    case ABSA_CONV_PATH_AVX512: return __builtin_cpu_supports("avx512f") != 0;
    default: return 0;
    }
#else
    return path >= 0 && path < ABSA_CONV_N_PATHS; /* all the same plain C */
#endif
}

static int absa_conv_chosen = -1; /* written once, under absa_conv_once */
static pthread_once_t absa_conv_once = PTHREAD_ONCE_INIT;

/* ABSA_CPU_PATH (unset, empty or auto: the widest path), capped by what the CPU supports. */
static void absa_conv_choose(void)
{
    const char *e = getenv("ABSA_CPU_PATH");
    int want = ABSA_CONV_N_PATHS - 1;
    if (e && *e && strcmp(e, "auto")) {
        for (want = 0; want < ABSA_CONV_N_PATHS && strcmp(e, absa_conv_path_names[want]); want++) {}
        if (want == ABSA_CONV_N_PATHS) {
            fprintf(stderr, "absa: error: ABSA_CPU_PATH='%s' is not auto, avx512, avx2 or baseline\n", e);
            exit(2);
        }
    }
    while (want > 0 && !absa_conv_path_supported(want)) want--;
    absa_conv_chosen = want;
}

int absa_conv_path_active(void)
{
    pthread_once(&absa_conv_once, absa_conv_choose);
    return absa_conv_chosen;
}

/* The public passes: one switch per call (no function-pointer table to keep in step). */
#define ABSA_CONV_DISPATCH(name, args)                                                             \
    do {                                                                                           \
        switch (absa_conv_path_active()) {                                                         \
        case ABSA_CONV_PATH_AVX512: name##_avx512 args; break;                                      \
        case ABSA_CONV_PATH_AVX2: name##_avx2 args; break;                                          \
        default: name##_baseline args; break;                                                      \
        }                                                                                          \
    } while (0)

#define ABSA_CONV_PUBLIC(T, S)                                                                     \
    void absa_conv2d_forward_##S(const absa_conv_cfg *c, const T *x, const T *W, const T *b, T *y, \
                                 T *ws)                                                            \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_forward_##S, (c, x, W, b, y, ws));                          \
    }                                                                                              \
    void absa_conv2d_backward_##S(const absa_conv_cfg *c, const T *x, const T *W, const T *dy,     \
                                  T *dx, T *dW, T *db, T *ws)                                      \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_backward_##S, (c, x, W, dy, dx, dW, db, ws));               \
    }                                                                                              \
    void absa_conv2d_rforward_##S(const absa_conv_cfg *c, const T *x, const T *Rx, const T *W,     \
                                  const T *V, const T *Vb, T *Ry, T *ws)                           \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_rforward_##S, (c, x, Rx, W, V, Vb, Ry, ws));                \
    }                                                                                              \
    void absa_conv2d_rbackward_##S(const absa_conv_cfg *c, const T *x, const T *Rx, const T *W,    \
                                   const T *V, const T *dy, const T *Rdy, T *Rdx, T *RdW, T *Rdb,  \
                                   T *ws)                                                          \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_rbackward_##S, (c, x, Rx, W, V, dy, Rdy, Rdx, RdW, Rdb, ws)); \
    }                                                                                              \
    void absa_conv2d_pool_forward_##S(const absa_conv_cfg *c, int k, int s, int p, int relu,       \
                                      const T *x, const T *W, const T *b, T *y, int32_t *argmax,   \
                                      T *ws)                                                       \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_pool_forward_##S, (c, k, s, p, relu, x, W, b, y, argmax, ws)); \
    }                                                                                              \
    void absa_conv2d_pool_backward_##S(const absa_conv_cfg *c, int k, int s, int p, const T *z,    \
                                       const T *x, const T *W, const int32_t *argmax, const T *dy, \
                                       T *dx, T *dW, T *db, T *ws)                                 \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_pool_backward_##S, (c, k, s, p, z, x, W, argmax, dy, dx, dW, db, ws)); \
    }                                                                                              \
    void absa_conv2d_pool_rforward_##S(const absa_conv_cfg *c, int k, int s, int p, const T *z,    \
                                       const T *x, const T *Rx, const T *W, const T *V,            \
                                       const T *Vb, const int32_t *argmax, T *Ry, T *ws)           \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_pool_rforward_##S, (c, k, s, p, z, x, Rx, W, V, Vb, argmax, Ry, ws)); \
    }                                                                                              \
    void absa_conv2d_pool_rbackward_##S(const absa_conv_cfg *c, int k, int s, int p, const T *z,   \
                                        const T *x, const T *Rx, const T *W, const T *V,           \
                                        const int32_t *argmax, const T *dy, const T *Rdy, T *Rdx,  \
                                        T *RdW, T *Rdb, T *ws)                                     \
    {                                                                                              \
        ABSA_CONV_DISPATCH(absa_conv2d_pool_rbackward_##S,                                          \
                           (c, k, s, p, z, x, Rx, W, V, argmax, dy, Rdy, Rdx, RdW, Rdb, ws));      \
    }
ABSA_CONV_PUBLIC(float, f32)
ABSA_CONV_PUBLIC(double, f64)
