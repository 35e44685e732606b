/* test_gpu_models.c — whole models on the GPU (gpu/model_gpu.h) against the CPU engine (the
 * specification), at validation/oracle's tolerances (test_oracle.c): for mlp, lenet, c1 and
 * resnet20 with the same weights and inputs, train-mode logits and loss, BN running statistics,
 * parameter gradient, Hv (train and eval mode), the top eigenvalue after 20 power iterations from
 * the same start, and the losses and parameters along 5 SGD steps; then the whole GPU run again,
 * which must give the same bits (deterministic algorithms and reductions).
 * Needs a CUDA device: skips (77) with the reason otherwise.
 *   test_gpu_models                      the comparison
 *   test_gpu_models --bench MODEL N STEPS  timings: one JSON line (train step, gradient, HVP) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "absa_test.h"
#include "curvature.h"
#include "gpu_layers.h"
#include "model_gpu.h"
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

static float *dl(absa_gpu_ctx *g, const float *d, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof(float));
    absa_gpu_download(g, h, d, n * sizeof(float));
    return h;
}

typedef struct run_out {
    float *params, *hv;
    double lambda, losses[SGD_STEPS];
} run_out;

/* the GPU side of one comparison; returns what must be bitwise repeatable */
static run_out gpu_run(absa_gpu_ctx *g, const char *name, int C, int H, int W, int N,
                       const float *x, const int32_t *y, const float *v0, absa_model *cpu, int compare)
{
    absa_model *m = NULL;
    ABSA_ASSERT(absa_model_create(name, C, H, W, 10, &m) == ABSA_OK, "%s", absa_last_error());
    absa_model_init(m, 7);
    const size_t P = m->n_params, K = (size_t)N * 10;
    absa_gpu_model gm;
    absa_gpu_model_create(&gm, g, m, N);
    run_out o;
    memset(&o, 0, sizeof o);
    /* train-mode forward (running statistics updated), backward */
    double lg = absa_gpu_model_forward_loss(&gm, x, y, N, 1, 1);
    absa_gpu_model_backward(&gm, 1.0);
    if (compare) {
        const float *lc = absa_model_forward(cpu, x, N, 1, 1);
        const double lossc = absa_model_loss(cpu, y);
        absa_model_zero_grad(cpu);
        absa_model_backward(cpu, x, y, 1.0, 0);
        float *t = dl(g, absa_gpu_model_logits(&gm), K);
        CHECK(rel(K, t, lc) <= TOL_LOGITS, "%s logits rel %.3g", name, rel(K, t, lc));
        free(t);
        CHECK(fabs(lg - lossc) <= TOL_LOSS * lossc, "%s loss %.9g vs %.9g", name, lg, lossc);
        if (m->n_bufs) {
            t = dl(g, gm.bufs, m->n_bufs);
            CHECK(rel(m->n_bufs, t, cpu->bufs) <= TOL_RUNNING, "%s running stats rel %.3g", name,
                  rel(m->n_bufs, t, cpu->bufs));
            free(t);
        }
        t = dl(g, gm.grad, P);
        CHECK(rel(P, t, cpu->grad) <= TOL_GRAD, "%s grad rel %.3g", name, rel(P, t, cpu->grad));
        free(t);
        printf("%-9s logits/loss/grad compared (loss %.6f)\n", name, lg);
    }
    /* Hv in both modes, then power iteration in eval mode */
    for (int train = 1; train >= 0; train--) {
        absa_gpu_upload(g, gm.v, v0, P * sizeof(float));
        absa_gpu_model_hvp(&gm, x, y, N, train, 1.0, NULL);
        if (compare) {
            float *hc = malloc(P * sizeof(float));
            CHECK(absa_hessian_vp(cpu, x, y, N, N, train, v0, hc, NULL) == ABSA_OK, "cpu hvp");
            float *t = dl(g, gm.hv, P);
            CHECK(rel(P, t, hc) <= TOL_HV, "%s Hv (%s) rel %.3g", name, train ? "train" : "eval",
                  rel(P, t, hc));
            free(t), free(hc);
        }
    }
    float *vd = gm.v;
    const double n0 = sqrt(absa_gpu_dot_f32(g, P, vd, vd));
    absa_gpu_scale_f32(g, P, 1.0 / n0, vd);
    for (int it = 0; it < EIG_ITERS; it++) {
        absa_gpu_model_hvp(&gm, x, y, N, 0, 1.0, NULL);
        o.lambda = absa_gpu_dot_f32(g, P, gm.hv, vd);
        const double nh = sqrt(absa_gpu_dot_f32(g, P, gm.hv, gm.hv));
        absa_gpu_copy(g, vd, gm.hv, P * sizeof(float));
        absa_gpu_scale_f32(g, P, 1.0 / nh, vd);
    }
    if (compare) {
        absa_eig_opts eo;
        absa_eig_defaults(&eo);
        eo.max_iters = EIG_ITERS;
        eo.tol = 0; /* run all iterations */
        eo.chunk = N;
        eo.train_mode = 0;
        absa_eig_result er;
        CHECK(absa_power_iteration(cpu, x, y, N, &eo, v0, &er, NULL) == ABSA_OK, "cpu power iteration");
        CHECK(fabs(o.lambda - er.eig[0]) <= TOL_EIG * fabs(er.eig[0]),
              "%s top eigenvalue %.6g vs %.6g", name, o.lambda, er.eig[0]);
        printf("%-9s Hv/eigenvalue compared (lambda %.6g)\n", name, o.lambda);
    }
    o.hv = dl(g, gm.hv, P);
    /* 5 SGD steps, momentum 0.9, from the state after the forward above */
    absa_sgd opt;
    absa_sgd_defaults(&opt);
    opt.lr = 0.01;
    for (int s = 0; s < SGD_STEPS; s++) {
        absa_gpu_memset0(g, gm.grad, P * sizeof(float));
        o.losses[s] = absa_gpu_model_forward_loss(&gm, x, y, N, 1, 1);
        absa_gpu_model_backward(&gm, 1.0);
        absa_gpu_sgd_step_f32(g, P, gm.params, gm.grad, gm.mom, (float)opt.lr, (float)opt.momentum, 1.0f, 0.0f, 0,
                              s == 0, 1);
        if (compare) {
            absa_model_zero_grad(cpu);
            absa_model_forward(cpu, x, N, 1, 1);
            const double lc = absa_model_loss(cpu, y);
            absa_model_backward(cpu, x, y, 1.0, 0);
            absa_sgd_step(cpu, &opt);
            CHECK(fabs(o.losses[s] - lc) <= TOL_SGD * lc, "%s SGD step %d loss %.9g vs %.9g", name, s,
                  o.losses[s], lc);
        }
    }
    o.params = dl(g, gm.params, P);
    if (compare) {
        CHECK(rel(P, o.params, cpu->params) <= TOL_SGD_PARAMS, "%s params after %d SGD steps rel %.3g",
              name, SGD_STEPS, rel(P, o.params, cpu->params));
        printf("%-9s %d SGD steps compared (loss %.6f -> %.6f)\n", name, SGD_STEPS, o.losses[0],
               o.losses[SGD_STEPS - 1]);
    }
    absa_gpu_model_free(&gm);
    absa_model_free(m);
    return o;
}

static void check_model(absa_gpu_ctx *g, const char *name, int C, int H, int W, int N)
{
    uint64_t rng = 99;
    absa_model *cpu = NULL;
    ABSA_ASSERT(absa_model_create(name, C, H, W, 10, &cpu) == ABSA_OK, "%s", absa_last_error());
    absa_model_init(cpu, 7);
    const size_t P = cpu->n_params, X = (size_t)N * C * H * W;
    float *x = malloc(X * sizeof(float)), *v0 = malloc(P * sizeof(float));
    int32_t *y = malloc(N * sizeof(int32_t));
    for (size_t i = 0; i < X; i++) x[i] = (float)absa_test_normal(&rng);
    for (size_t i = 0; i < P; i++) v0[i] = (float)absa_test_normal(&rng);
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&rng) % 10);
    run_out a = gpu_run(g, name, C, H, W, N, x, y, v0, cpu, 1);
    run_out b = gpu_run(g, name, C, H, W, N, x, y, v0, NULL, 0);
    CHECK(memcmp(a.params, b.params, P * sizeof(float)) == 0 && memcmp(a.hv, b.hv, P * sizeof(float)) == 0 &&
              a.lambda == b.lambda && memcmp(a.losses, b.losses, sizeof a.losses) == 0,
          "%s: two GPU runs differ", name);
    free(a.params), free(a.hv), free(b.params), free(b.hv);
    free(x), free(v0), free(y);
    absa_model_free(cpu);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(absa_gpu_ctx *g, const char *name, int N, int steps)
{
    const int rgb = !strcmp(name, "c1") || !strcmp(name, "resnet20");
    const int C = rgb ? 3 : 1, H = rgb ? 32 : 28, W = H;
    absa_model *m = NULL;
    if (absa_model_create(name, C, H, W, 10, &m) != ABSA_OK) {
        fprintf(stderr, "%s\n", absa_last_error());
        return 2;
    }
    absa_model_init(m, 7);
    uint64_t rng = 5;
    const size_t X = (size_t)N * C * H * W, P = m->n_params;
    float *x = malloc(X * sizeof(float)), *v = malloc(P * sizeof(float));
    int32_t *y = malloc(N * sizeof(int32_t));
    for (size_t i = 0; i < X; i++) x[i] = (float)absa_test_normal(&rng);
    for (size_t i = 0; i < P; i++) v[i] = (float)absa_test_normal(&rng);
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&rng) % 10);
    absa_gpu_model gm;
    absa_gpu_model_create(&gm, g, m, N);
    absa_gpu_upload(g, gm.v, v, P * sizeof(float));
    double *ts = calloc(steps, sizeof(double)), *tg = calloc(steps, sizeof(double)), *th = calloc(steps, sizeof(double));
    for (int it = -2; it < steps; it++) {
        double t0 = now();
        absa_gpu_memset0(g, gm.grad, P * sizeof(float));
        absa_gpu_model_forward_loss(&gm, x, y, N, 1, 1);
        absa_gpu_model_backward(&gm, 1.0);
        absa_gpu_sgd_step_f32(g, P, gm.params, gm.grad, gm.mom, 1e-3f, 0.9f, 1.0f, 0.0f, 0, it == -2, 1);
        absa_gpu_sync(g);
        double t1 = now();
        absa_gpu_model_forward_loss(&gm, x, y, N, 0, 0);
        absa_gpu_model_backward(&gm, 1.0);
        absa_gpu_sync(g);
        double t2 = now();
        absa_gpu_model_hvp(&gm, x, y, N, 0, 1.0, NULL);
        absa_gpu_sync(g);
        double t3 = now();
        if (it >= 0) ts[it] = t1 - t0, tg[it] = t2 - t1, th[it] = t3 - t2;
    }
    qsort(ts, steps, sizeof(double), cmp_d), qsort(tg, steps, sizeof(double), cmp_d), qsort(th, steps, sizeof(double), cmp_d);
    const double ms = ts[steps / 2], mg = tg[steps / 2], mh = th[steps / 2];
    printf("{\"engine\": \"absa-cuda\", \"model\": \"%s\", \"batch\": %d, \"step_s\": %.6g, "
           "\"step_images_per_s\": %.1f, \"grad_s\": %.6g, \"hvp_s\": %.6g, \"hvp_over_grad\": %.3f}\n",
           name, N, ms, N / ms, mg, mh, mh / mg);
    absa_gpu_model_free(&gm);
    absa_model_free(m);
    free(x), free(v), free(y), free(ts), free(tg), free(th);
    return 0;
}

int main(int argc, char **argv)
{
    if (absa_gpu_device_count() == 0) {
        printf("test_gpu_models: skipped: %s\n", absa_gpu_unavailable_reason());
        return 77;
    }
    absa_gpu_ctx g;
    if (absa_gpu_ctx_create(&g, 0) != ABSA_OK) {
        printf("test_gpu_models: skipped: %s\n", absa_last_error());
        return 77;
    }
    int rc;
    if (argc == 5 && !strcmp(argv[1], "--bench")) {
        rc = bench(&g, argv[2], atoi(argv[3]), atoi(argv[4]) > 0 ? atoi(argv[4]) : 10);
    } else {
        check_model(&g, "mlp", 1, 28, 28, 8);
        check_model(&g, "lenet", 1, 28, 28, 8);
        check_model(&g, "c1", 3, 32, 32, 8);
        check_model(&g, "resnet20", 3, 32, 32, 8);
        rc = absa_test_finish("test_gpu_models");
    }
    absa_gpu_ctx_destroy(&g);
    return rc;
}
