/* xent.c — softmax cross-entropy (mean over samples) with its gradient, its R-backward (the loss
 * Hessian with respect to the logits applied to Rz) and the argmax accuracy count, in float32
 * and float64. Kernels are in xent_impl.h, compiled twice (see absa_generic.h). */
#include <math.h>

#include "absa_error.h"
#include "layers.h"

#define ABSA_T float
#define ABSA_SFX f32
#include "xent_impl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "xent_impl.h"
#undef ABSA_T
#undef ABSA_SFX
