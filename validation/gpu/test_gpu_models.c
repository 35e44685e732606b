/* test_gpu_models.c — whole models on the CUDA backend (absa_model_create_on(..., "cuda"): the
 * engine's one executor over gpu/backend_cuda.c's table) against the same models on the CPU
 * backend (the specification), at validation/oracle's tolerances (test_oracle.c): for mlp, lenet,
 * c1 and resnet20 with the same weights and inputs, train-mode logits and loss, BN running
 * statistics, parameter gradient, Hv (train and eval mode), the top eigenvalue after 20 power
 * iterations from the same start, and the losses and parameters along 5 SGD steps; then the
 * whole CUDA run again, which must give the same bits (deterministic algorithms and reductions).
 * Then the device exact sums (gpu/xl.cu) bitwise against exact_sum.h and the double-buffered input.
 * Needs a CUDA device: skips (77) with the reason otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "curvature.h"
#include "exact_sum.h"
#include "gpu_ctx.h"
#include "model.h"
#include "optim.h"

#define TOL_LOGITS 1e-5
#define TOL_LOSS 1e-5
#define TOL_RUNNING 1e-5
#define TOL_GRAD 1e-4
#define TOL_HV 1e-4
#define TOL_EIG 1e-3
#define TOL_SGD 1e-5
#define TOL_SGD_PARAMS 1e-4
#define EIG_ITERS 20
#define SGD_STEPS 5
#define NB 8

static double rel(size_t n, const float *a, const float *b)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-30);
}

/* everything one run produces, in host memory */
typedef struct run {
    size_t P, K, B;
    float *logits, *bufs, *grad, *hv_train, *hv_eval, *params;
    double loss, lambda, losses[SGD_STEPS];
} run;

static void run_free(run *r)
{
    free(r->logits), free(r->bufs), free(r->grad), free(r->hv_train), free(r->hv_eval), free(r->params);
}

static int run_model(run *r, const char *device, const char *name, int C, int H, int W, const float *x,
                     const int32_t *y, const float *v0)
{
    absa_model *m = NULL;
    if (absa_model_create_on(name, C, H, W, 10, device, &m) != ABSA_OK) {
        CHECK(0, "%s on %s: %s", name, device, absa_last_error());
        return 0;
    }
    absa_model_init(m, 7);
    memset(r, 0, sizeof *r);
    r->P = m->n_params, r->K = (size_t)NB * 10, r->B = m->n_bufs;
    r->logits = malloc(r->K * sizeof(float));
    r->bufs = malloc((r->B + 1) * sizeof(float));
    r->grad = malloc(r->P * sizeof(float));
    r->hv_train = malloc(r->P * sizeof(float));
    r->hv_eval = malloc(r->P * sizeof(float));
    r->params = malloc(r->P * sizeof(float));
    const float *lg = absa_model_forward(m, x, NB, 1, 1);
    CHECK(lg != NULL, "%s forward on %s", name, device);
    if (!lg) return 0;
    memcpy(r->logits, lg, r->K * sizeof(float));
    r->loss = absa_model_loss(m, y);
    absa_model_get(m, m->bufs, r->bufs, r->B);
    absa_model_zero_grad(m);
    absa_model_backward(m, x, y, 1.0, 0);
    absa_model_get(m, m->grad, r->grad, r->P);
    CHECK(absa_hessian_vp(m, x, y, NB, NB, 1, v0, r->hv_train, NULL) == ABSA_OK, "hvp train");
    CHECK(absa_hessian_vp(m, x, y, NB, NB, 0, v0, r->hv_eval, NULL) == ABSA_OK, "hvp eval");
    absa_eig_opts eo;
    absa_eig_defaults(&eo);
    eo.max_iters = EIG_ITERS;
    eo.tol = 0; /* all iterations */
    eo.chunk = NB;
    eo.train_mode = 0;
    absa_eig_result er;
    CHECK(absa_power_iteration(m, x, y, NB, &eo, v0, &er, NULL) == ABSA_OK, "power iteration");
    r->lambda = er.eig[0];
    absa_sgd opt;
    absa_sgd_defaults(&opt);
    opt.lr = 0.01;
    for (int s = 0; s < SGD_STEPS; s++) {
        absa_model_zero_grad(m);
        absa_model_forward(m, x, NB, 1, 1);
        r->losses[s] = absa_model_loss(m, y);
        absa_model_backward(m, x, y, 1.0, 0);
        absa_sgd_step(m, &opt);
    }
    absa_model_get(m, m->params, r->params, r->P);
    absa_model_free(m);
    return 1;
}

static void check_model(const char *name, int C, int H, int W)
{
    uint64_t rng = 99;
    absa_model *probe = NULL;
    ABSA_ASSERT(absa_model_create(name, C, H, W, 10, &probe) == ABSA_OK, "%s", absa_last_error());
    const size_t P = probe->n_params, X = (size_t)NB * C * H * W;
    absa_model_free(probe);
    float *x = malloc(X * sizeof(float)), *v0 = malloc(P * sizeof(float));
    int32_t y[NB];
    for (size_t i = 0; i < X; i++) x[i] = (float)absa_test_normal(&rng);
    for (size_t i = 0; i < P; i++) v0[i] = (float)absa_test_normal(&rng);
    for (int i = 0; i < NB; i++) y[i] = (int32_t)(absa_test_next(&rng) % 10);
    run c, g, g2;
    if (run_model(&c, "cpu", name, C, H, W, x, y, v0) && run_model(&g, "cuda", name, C, H, W, x, y, v0) &&
        run_model(&g2, "cuda", name, C, H, W, x, y, v0)) {
        CHECK(rel(c.K, g.logits, c.logits) <= TOL_LOGITS, "%s logits rel %.3g", name, rel(c.K, g.logits, c.logits));
        CHECK(fabs(g.loss - c.loss) <= TOL_LOSS * c.loss, "%s loss %.9g vs %.9g", name, g.loss, c.loss);
        if (c.B)
            CHECK(rel(c.B, g.bufs, c.bufs) <= TOL_RUNNING, "%s running stats rel %.3g", name, rel(c.B, g.bufs, c.bufs));
        CHECK(rel(P, g.grad, c.grad) <= TOL_GRAD, "%s grad rel %.3g", name, rel(P, g.grad, c.grad));
        CHECK(rel(P, g.hv_train, c.hv_train) <= TOL_HV, "%s Hv (train) rel %.3g", name, rel(P, g.hv_train, c.hv_train));
        CHECK(rel(P, g.hv_eval, c.hv_eval) <= TOL_HV, "%s Hv (eval) rel %.3g", name, rel(P, g.hv_eval, c.hv_eval));
        CHECK(fabs(g.lambda - c.lambda) <= TOL_EIG * fabs(c.lambda), "%s eigenvalue %.6g vs %.6g", name, g.lambda,
              c.lambda);
        for (int s = 0; s < SGD_STEPS; s++)
            CHECK(fabs(g.losses[s] - c.losses[s]) <= TOL_SGD * c.losses[s], "%s SGD step %d loss %.9g vs %.9g", name,
                  s, g.losses[s], c.losses[s]);
        CHECK(rel(P, g.params, c.params) <= TOL_SGD_PARAMS, "%s params after SGD rel %.3g", name,
              rel(P, g.params, c.params));
        CHECK(!memcmp(g.logits, g2.logits, c.K * 4) && !memcmp(g.grad, g2.grad, P * 4) &&
                  !memcmp(g.hv_eval, g2.hv_eval, P * 4) && !memcmp(g.params, g2.params, P * 4) &&
                  g.lambda == g2.lambda && !memcmp(g.losses, g2.losses, sizeof g.losses),
              "%s: two CUDA runs differ", name);
        printf("%-9s loss %.6f lambda %.6g (cpu %.6g), SGD loss %.6f -> %.6f\n", name, g.loss, g.lambda, c.lambda,
               g.losses[0], g.losses[SGD_STEPS - 1]);
        run_free(&g2);
        run_free(&g);
        run_free(&c);
    }
    free(x), free(v0);
}

/* The gradient's exact sum on the device (gpu/xl.cu) against exact_sum.h on the host, bitwise:
 * three addends of the model's gradient, the bad-addend flag (a NaN) and its clearing. Also the
 * double-buffered input: forwards of x then x2 then x again give the first forward's logits. */
static void check_xl(const char *name, int C, int H, int W)
{
    absa_model *m = NULL;
    if (absa_model_create_on(name, C, H, W, 10, "cuda", &m) != ABSA_OK) {
        CHECK(0, "%s on cuda: %s", name, absa_last_error());
        return;
    }
    absa_model_init(m, 3);
    uint64_t rng = 5;
    const size_t P = m->n_params, X = (size_t)NB * C * H * W;
    float *x = malloc(X * sizeof(float)), *x2 = malloc(X * sizeof(float)), *g = malloc(P * sizeof(float)),
          *want = malloc(P * sizeof(float)), *got = malloc(P * sizeof(float)), l1[NB * 10];
    int32_t y[NB];
    for (size_t i = 0; i < X; i++) x[i] = (float)absa_test_normal(&rng), x2[i] = (float)absa_test_normal(&rng);
    for (int i = 0; i < NB; i++) y[i] = (int32_t)(absa_test_next(&rng) % 10);
    memcpy(l1, absa_model_forward(m, x, NB, 0, 0), sizeof l1);
    absa_model_forward(m, x2, NB, 0, 0);
    const float *l3 = absa_model_forward(m, x, NB, 1, 0);
    CHECK(m->x_in[1] != NULL, "%s: cuda double-buffers its input", name);
    absa_model_forward(m, x, NB, 0, 0);
    CHECK(!memcmp(l1, m->logits, sizeof l1), "%s: x, x2, x: the logits of x changed", name);
    (void)l3;
    absa_model_forward(m, x, NB, 1, 0);
    absa_model_loss(m, y);
    absa_model_zero_grad(m);
    absa_model_backward(m, x, y, 1.0, 0);
    absa_model_get(m, m->grad, g, P);
    absa_xsum h;
    absa_xsum_init(&h, P);
    absa_xsum_zero(&h, 3);
    CHECK(m->gxl != NULL, "%s: cuda has the device exact sums", name);
    absa_model_xl_zero(m);
    for (int a = 0; a < 3; a++) {
        absa_xsum_add_f32(&h, 0, g, P);
        absa_model_xl_add_grad(m, h.limit);
    }
    CHECK(!absa_model_xl_bad(m), "%s: a finite gradient flagged bad", name);
    absa_xsum_get_f32(&h, 0, want, P);
    absa_model_xl_to_grad(m);
    absa_model_get(m, m->grad, got, P);
    CHECK(!memcmp(want, got, P * sizeof(float)), "%s: device exact sum differs from the host's", name);
    g[P / 2] = NAN;
    absa_model_set(m, m->grad, g, P);
    absa_model_xl_add_grad(m, h.limit);
    CHECK(absa_model_xl_bad(m) == 1 && absa_model_xl_bad(m) == 0, "%s: the bad flag (set, then cleared)", name);
    absa_xsum_free(&h);
    free(x), free(x2), free(g), free(want), free(got);
    absa_model_free(m);
}

int main(void)
{
    if (absa_gpu_device_count() == 0) {
        printf("test_gpu_models: skipped: %s\n", absa_gpu_unavailable_reason());
        return 77;
    }
    check_model("mlp", 1, 28, 28);
    check_model("lenet", 1, 28, 28);
    check_model("c1", 3, 32, 32);
    check_model("resnet20", 3, 32, 32);
    check_xl("lenet", 1, 28, 28);
    check_xl("resnet20", 3, 32, 32);
    return absa_test_finish("test_gpu_models");
}
