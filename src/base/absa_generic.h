/* absa_generic.h — the "compile twice" mechanism that gives every layer kernel a float32 and a
 * float64 instance from one source (the float64 one exists for finite-difference tests in double).
 *
 * A .c file that implements kernels does:
 *     #define ABSA_T float
 *     #define ABSA_SFX f32
 *     #include "conv_impl.h"
 *     #undef ABSA_T
 *     #undef ABSA_SFX
 *     #define ABSA_T double
 *     #define ABSA_SFX f64
 *     #include "conv_impl.h"
 * and inside the *_impl.h, names are written ABSA_FN(absa_conv2d_forward) -> absa_conv2d_forward_f32.
 * BLAS calls are written ABSA_FN(absa_gemm)(...) etc. (see absa_blas.h), which resolve to the
 * s- or d- CBLAS routine.
 */
#ifndef ABSA_GENERIC_H
#define ABSA_GENERIC_H
#define ABSA_CAT_(a, b) a##_##b
#define ABSA_CAT(a, b) ABSA_CAT_(a, b)
#define ABSA_FN(name) ABSA_CAT(name, ABSA_SFX)
#endif
