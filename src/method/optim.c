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
    const absa_sgd_args a = {.lr = (float)opt->lr,
                             .momentum = (float)opt->momentum,
                             .weight_decay = (float)opt->weight_decay,
                             .damp = 1.0f - (float)opt->dampening,
                             .first = !opt->has_buf,
                             .nesterov = opt->nesterov,
                             .use_mom = opt->momentum != 0};
    m->be->sgd(m->be, m->n_params, m->params, m->grad, m->mom, &a);
    if (a.use_mom) opt->has_buf = 1;
    opt->steps++;
}

void absa_model_zero_grad(absa_model *m) { absa_be_zero(m->be, m->grad, m->n_params); }
