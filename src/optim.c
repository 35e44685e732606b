/* optim.c — PyTorch-semantics SGD over the flat parameter arena; see optim.h. */
#include "optim.h"

#include <string.h>

void absa_sgd_defaults(absa_sgd *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->lr = 0.1;
    opt->momentum = 0.9;
}

absa_status absa_sgd_check(const absa_sgd *opt)
{
    absa_status status = ABSA_OK;
    if (!(opt->lr > 0)) ABSA_FAIL(ABSA_EINVAL, "learning rate must be positive (got %g)", opt->lr);
    if (!(opt->momentum >= 0 && opt->momentum < 1))
        ABSA_FAIL(ABSA_EINVAL, "momentum must be in [0, 1) (got %g)", opt->momentum);
    if (!(opt->weight_decay >= 0))
        ABSA_FAIL(ABSA_EINVAL, "weight decay must be >= 0 (got %g)", opt->weight_decay);
    if (!(opt->dampening >= 0 && opt->dampening <= 1))
        ABSA_FAIL(ABSA_EINVAL, "dampening must be in [0, 1] (got %g)", opt->dampening);
    if (opt->nesterov && (opt->momentum <= 0 || opt->dampening != 0))
        ABSA_FAIL(ABSA_EINVAL, "Nesterov momentum requires a momentum and zero dampening");
cleanup:
    return status;
}

void absa_sgd_step(absa_model *m, absa_sgd *opt)
{
    const size_t n = m->n_params;
    float *w = m->params, *g = m->grad, *buf = m->mom;
    const float lr = (float)opt->lr, mu = (float)opt->momentum, wd = (float)opt->weight_decay;
    const float damp = 1.0f - (float)opt->dampening;
    const int first = !opt->has_buf, nesterov = opt->nesterov, use_mom = opt->momentum != 0;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * w[i];
        if (use_mom) {
            float b = first ? d : mu * buf[i] + damp * d;
            buf[i] = b;
            d = nesterov ? d + mu * b : b;
        }
        w[i] -= lr * d;
    }
    if (use_mom) opt->has_buf = 1;
    opt->steps++;
}

void absa_model_zero_grad(absa_model *m) { memset(m->grad, 0, m->n_params * sizeof(float)); }
