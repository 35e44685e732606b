/* conv_path.h — the CPU paths of the conv2d engine. The engine (conv_impl.h, conv_wino.h) is
 * compiled once per path: baseline x86-64 (conv.c), AVX2 (conv_avx2.c) and AVX-512F
 * (conv_avx512.c); the paths differ only in the instructions of the data-movement loops and give
 * the same bits (validation/unit/test_conv_paths.c checks it). The public absa_conv2d_* calls
 * (layers.h) go to the path chosen once per process: env ABSA_CPU_PATH = baseline | avx2 |
 * avx512 | auto (default: the widest one this CPU supports; a path the CPU lacks falls back to
 * the widest supported one below it; any other value is an error). Without x86-64 and GCC/Clang
 * every path is the plain C one. */
#ifndef ABSA_CONV_PATH_H
#define ABSA_CONV_PATH_H
#include "layers.h"

enum { ABSA_CONV_PATH_BASELINE = 0, ABSA_CONV_PATH_AVX2, ABSA_CONV_PATH_AVX512, ABSA_CONV_N_PATHS };

const char *absa_conv_path_name(int path); /* "baseline", "avx2", "avx512" */
int absa_conv_path_supported(int path);    /* whether this CPU can run the path */
int absa_conv_path_active(void);           /* the path absa_conv2d_* use (chosen on first call) */
/* The engine a float32 layer runs on the active path: "direct" (conv_direct.h), "winograd"
 * (conv_wino.h) or "patch" (conv_impl.h); absa_conv2d_pool_* run the same one. */
const char *absa_conv_engine_f32(const absa_conv_cfg *c);

/* The entry points of path P, arguments as in layers_decl.h. */
#define ABSA_CONV_PATH_DECL_T(T, S, P)                                                             \
    void absa_conv2d_forward_##S##_##P(const absa_conv_cfg *c, const T *x, const T *W, const T *b, \
                                       T *y, T *ws);                                              \
    void absa_conv2d_backward_##S##_##P(const absa_conv_cfg *c, const T *x, const T *W,           \
                                        const T *dy, T *dx, T *dW, T *db, T *ws);                 \
    void absa_conv2d_rforward_##S##_##P(const absa_conv_cfg *c, const T *x, const T *Rx,          \
                                        const T *W, const T *V, const T *Vb, T *Ry, T *ws);       \
    void absa_conv2d_rbackward_##S##_##P(const absa_conv_cfg *c, const T *x, const T *Rx,         \
                                         const T *W, const T *V, const T *dy, const T *Rdy,       \
                                         T *Rdx, T *RdW, T *Rdb, T *ws);                          \
    void absa_conv2d_pool_forward_##S##_##P(const absa_conv_cfg *c, int k, int s, int p, int relu, \
                                            const T *x, const T *W, const T *b, T *y,              \
                                            int32_t *argmax, T *ws);                               \
    void absa_conv2d_pool_backward_##S##_##P(const absa_conv_cfg *c, int k, int s, int p,         \
                                             const T *z, const T *x, const T *W,                   \
                                             const int32_t *argmax, const T *dy, T *dx, T *dW,     \
                                             T *db, T *ws);                                        \
    void absa_conv2d_pool_rforward_##S##_##P(const absa_conv_cfg *c, int k, int s, int p,         \
                                             const T *z, const T *x, const T *Rx, const T *W,      \
                                             const T *V, const T *Vb, const int32_t *argmax,       \
                                             T *Ry, T *ws);                                        \
    void absa_conv2d_pool_rbackward_##S##_##P(const absa_conv_cfg *c, int k, int s, int p,        \
                                              const T *z, const T *x, const T *Rx, const T *W,     \
                                              const T *V, const int32_t *argmax, const T *dy,      \
                                              const T *Rdy, T *Rdx, T *RdW, T *Rdb, T *ws);
#define ABSA_CONV_PATH_DECL(P) ABSA_CONV_PATH_DECL_T(float, f32, P) ABSA_CONV_PATH_DECL_T(double, f64, P)
ABSA_CONV_PATH_DECL(baseline)
ABSA_CONV_PATH_DECL(avx2)
ABSA_CONV_PATH_DECL(avx512)
#endif
