/* optim.h — SGD with momentum, dampening, weight decay and Nesterov, with exactly PyTorch's
 * torch.optim.SGD semantics, over the model's flat arenas (params, grad, mom):
 *     d = grad + weight_decay * w
 *     if momentum: buf = d on the first step, else buf = momentum*buf + (1-dampening)*d
 *                  d = d + momentum*buf if nesterov else buf
 *     w -= lr * d
 * Gradient accumulation over micro-batches is done by the caller: backward with
 * scale = 1/(micro-batches per step) adds into grad; absa_sgd_step consumes it. */
#ifndef ABSA_OPTIM_H
#define ABSA_OPTIM_H
#include <stdint.h>

#include "model.h"

typedef struct absa_sgd {
    double lr, momentum, dampening, weight_decay;
    int nesterov;
    int has_buf;   /* momentum buffer initialised (PyTorch: state['momentum_buffer'] exists) */
    int64_t steps; /* optimizer steps taken */
} absa_sgd;

/* Defaults of the reference: lr 0.1, momentum 0.9, no dampening, no weight decay. */
void absa_sgd_defaults(absa_sgd *opt);
/* Validates hyper-parameters (lr > 0, momentum in [0,1), weight decay >= 0, Nesterov needs
 * momentum > 0 and dampening 0, as PyTorch). */
absa_status absa_sgd_check(const absa_sgd *opt);
/* One step from m->grad; does not clear the gradient. */
void absa_sgd_step(absa_model *m, absa_sgd *opt);
/* grad = 0 */
void absa_model_zero_grad(absa_model *m);
#endif
