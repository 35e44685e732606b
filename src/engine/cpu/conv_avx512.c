/* conv_avx512.c — the AVX-512F path of the conv2d engine (conv_path.h): conv_impl.h in float32 and
 * float64 with its data-movement loops compiled for AVX-512F; chosen at run time by conv.c only
 * on a CPU that has AVX-512F. */
#include <stdlib.h>
#include <string.h>

#include "absa_blas.h"
#include "absa_error.h"
#include "conv_path.h"

#define ABSA_CONV_PATH avx512
#define ABSA_CONV_TARGET "avx512f"
#define ABSA_CONV_W16 /* 16x16 register transposes (conv_impl.h) */

#if defined(__x86_64__) && defined(__GNUC__)
#define ABSA_CONV_FMA_TARGET "avx512f,fma" /* the direct path's kernels (conv_direct.h) */
#endif

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
