/* pointwise.c — the parameter-free elementwise/linear layers in float32 and float64: ReLU,
 * residual add and global average pooling. Kernels are in pointwise_impl.h, compiled twice
 * (see absa_generic.h). */
#include <math.h>
#include <string.h>

#include "absa_error.h"
#include "layers.h"

#define ABSA_T float
#define ABSA_SFX f32
#include "pointwise_impl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "pointwise_impl.h"
#undef ABSA_T
#undef ABSA_SFX
