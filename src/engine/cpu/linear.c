/* linear.c — fully connected layer y[N,out] = x[N,in] W^T + b (W is [out,in] as PyTorch): the
 * four passes (forward, backward, R-forward, R-backward) in float32 and float64, instantiated from
 * linear_impl.h. All dense math is GEMM through absa_blas.h; bias sums are OpenMP loops.
 */
#include <string.h>

#include "absa_blas.h"
#include "absa_error.h"
#include "layers.h"

/* OpenMP for the bias loops only when they are big and OpenBLAS does not run its own pthread
 * pool (see absa_conv_par in conv.c for why the two pools must not alternate). */
static inline int absa_linear_par(size_t work)
{
    return work >= ((size_t)1 << 16) && openblas_get_parallel() != 1;
}

#define ABSA_T float
#define ABSA_SFX f32
#include "linear_impl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "linear_impl.h"
#undef ABSA_T
#undef ABSA_SFX
