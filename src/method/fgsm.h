/* fgsm.h — FGSM adversarial replacement as ABSA (HessianFlow) does it: the first k samples of a
 * micro-batch become x + eps * sign(grad_x L), with L the mean cross-entropy of those k samples
 * computed with batch norm in EVAL mode (running stats untouched), clamped to the [min, max] of
 * that sub-batch. sign(0) = 0 as torch.sign. eps is given per channel so that an eps in [0,1]
 * pixel units can be applied to normalised inputs (eps_c = eps / std_c). */
#ifndef ABSA_FGSM_H
#define ABSA_FGSM_H
#include <stdint.h>

#include "model.h"

/* In place on x[0 .. k*C*H*W). Fails only on allocation (ABSA_ENOMEM). */
absa_status absa_fgsm(absa_model *m, float *x, const int32_t *y, int k, const float *eps_c);
#endif
