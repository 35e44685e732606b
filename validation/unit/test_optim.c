/* test_optim.c — SGD against PyTorch's documented torch.optim.SGD update, written out in double
 * for a few parameters: first step initialises the buffer without dampening, then
 * buf = mu*buf + (1-damp)*d; Nesterov d + mu*buf; weight decay added to the gradient.
 * Also the hyper-parameter checks. */
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "optim.h"

static void run_case(double lr, double mu, double damp, double wd, int nesterov)
{
    absa_model *m = NULL;
    CHECK(absa_model_create("mlp", 1, 1, 1, 2, &m) == ABSA_OK, "create");
    if (!m) return;
    absa_model_init(m, 7);
    const size_t P = m->n_params;
    double *w = calloc(P, sizeof *w), *buf = calloc(P, sizeof *buf);
    for (size_t i = 0; i < P; i++) w[i] = m->params[i];
    absa_sgd opt = {.lr = lr, .momentum = mu, .dampening = damp, .weight_decay = wd, .nesterov = nesterov};
    CHECK(absa_sgd_check(&opt) == ABSA_OK, "valid hyper-parameters rejected: %s", absa_last_error());
    uint64_t s = 99;
    for (int step = 0; step < 4; step++) {
        for (size_t i = 0; i < P; i++) m->grad[i] = (float)absa_test_normal(&s);
        for (size_t i = 0; i < P; i++) {
            double d = (double)m->grad[i] + wd * w[i];
            if (mu != 0) {
                buf[i] = step == 0 ? d : mu * buf[i] + (1 - damp) * d;
                d = nesterov ? d + mu * buf[i] : buf[i];
            }
            w[i] -= lr * d;
        }
        absa_sgd_step(m, &opt);
    }
    double err = 0, nrm = 0;
    for (size_t i = 0; i < P; i++) {
        err += (m->params[i] - w[i]) * (m->params[i] - w[i]);
        nrm += w[i] * w[i];
    }
    CHECK(sqrt(err / nrm) < 1e-6, "lr %g mu %g damp %g wd %g nesterov %d: rel err %g", lr, mu, damp,
          wd, nesterov, sqrt(err / nrm));
    CHECK(opt.steps == 4 && opt.has_buf == (mu != 0), "step counter %lld / buffer flag %d",
          (long long)opt.steps, opt.has_buf);
    free(w);
    free(buf);
    absa_model_free(m);
}

int main(void)
{
    run_case(0.1, 0.0, 0.0, 0.0, 0);
    run_case(0.1, 0.9, 0.0, 0.0, 0);
    run_case(0.05, 0.9, 0.3, 5e-4, 0);
    run_case(0.05, 0.9, 0.0, 1e-3, 1);
    absa_sgd bad = {.lr = -1, .momentum = 0.9};
    CHECK(absa_sgd_check(&bad) == ABSA_EINVAL, "negative lr accepted");
    bad = (absa_sgd){.lr = 0.1, .momentum = 0.0, .nesterov = 1};
    CHECK(absa_sgd_check(&bad) == ABSA_EINVAL, "nesterov without momentum accepted");
    bad = (absa_sgd){.lr = 0.1, .momentum = 1.5};
    CHECK(absa_sgd_check(&bad) == ABSA_EINVAL, "momentum 1.5 accepted");
    return absa_test_finish("test_optim");
}
