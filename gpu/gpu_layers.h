/* gpu_layers.h — launchers of the CUDA back end, one per CPU kernel of src/engine/layers.h, with the
 * CPU name prefixed absa_gpu_ and the context first. Every pointer is DEVICE memory (labels too);
 * the conventions are exactly those of layers.h (forward/R-forward overwrite, backward/R-backward
 * accumulate except dx_set / set flags, NULL skips an output or means a zero input). Calls are
 * asynchronous on the context's stream, except those returning a host value (loss, count, dot),
 * which wait for it. Declarations are in gpu_layers_decl.h, included once per precision. */
#ifndef ABSA_GPU_LAYERS_H
#define ABSA_GPU_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "gpu_ctx.h"
#include "layers.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ABSA_GPU_FN(name) ABSA_CAT(absa_gpu_##name, ABSA_SFX)

#define ABSA_T float
#define ABSA_SFX f32
#include "gpu_layers_decl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "gpu_layers_decl.h"
#undef ABSA_T
#undef ABSA_SFX

/* cuDNN's output size of a convolution config, from descriptors only (no device needed):
 * fills n, c, h, w; returns ABSA_OK or ABSA_EINVAL with a message. */
absa_status absa_gpu_conv_out_dims(const absa_conv_cfg *c, int *n, int *o, int *h, int *w);

#ifdef __cplusplus
}
#endif
#endif
