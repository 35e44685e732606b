/* bn.c — 2-D batch normalisation (PyTorch BatchNorm2d semantics) in float32 and float64:
 * forward with batch or running statistics, backward, R-forward and R-backward, each in train
 * mode (differentiating through the batch statistics) and eval mode (per-channel affine map).
 * Kernels are in bn_impl.h, compiled once per precision (see absa_generic.h) for batch norm
 * (ABSA_BN_RELU 0, absa_bn_*) and once for batch norm followed by ReLU as one kernel per pass
 * (ABSA_BN_RELU 1, absa_bn_relu_*: the fused BN_RELU op, bitwise the two ops) and once for batch
 * norm, residual add and ReLU (ABSA_BN_ADD 1, absa_bn_add_relu_*: the BN_ADD_RELU op, bitwise the
 * three ops). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "absa_error.h"
#include "layers.h"

#define ABSA_T float
#define ABSA_SFX f32
#define ABSA_BNR_UINT uint32_t
#define ABSA_BN_ADD 0
#define ABSA_BN_RELU 0
#include "bn_impl.h"
#undef ABSA_BN_RELU
#define ABSA_BN_RELU 1
#include "bn_impl.h"
#undef ABSA_BN_ADD
#define ABSA_BN_ADD 1
#include "bn_impl.h"
#undef ABSA_BN_RELU
#undef ABSA_BN_ADD
#undef ABSA_T
#undef ABSA_SFX
#undef ABSA_BNR_UINT

#define ABSA_T double
#define ABSA_SFX f64
#define ABSA_BNR_UINT uint64_t
#define ABSA_BN_ADD 0
#define ABSA_BN_RELU 0
#include "bn_impl.h"
#undef ABSA_BN_RELU
#define ABSA_BN_RELU 1
#include "bn_impl.h"
#undef ABSA_BN_ADD
#define ABSA_BN_ADD 1
#include "bn_impl.h"
#undef ABSA_BN_RELU
#undef ABSA_BN_ADD
#undef ABSA_T
#undef ABSA_SFX
#undef ABSA_BNR_UINT
