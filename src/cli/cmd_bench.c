/* cmd_bench.c — `absa bench`: throughput of a full training step (train-mode forward, loss,
 * backward, SGD update) and of one gradient and one exact Hessian-vector product, on synthetic
 * inputs of the model's shape. Prints a human summary on stderr and one JSON line on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_core.h"
#include "cli.h"
#include "cli_util.h"
#include "model.h"
#include "optim.h"
#include "rng.h"

static void bench_help(void)
{
    printf("usage: absa bench [options]\n\n"
           "Images/s of a training step, and the time of one HVP relative to one gradient.\n\n"
           "  --model M      mlp | lenet | c1 | resnet20        (default lenet)\n"
           "  --input C,H,W  input shape                         (default 1,28,28 for mlp/lenet,\n"
           "                 3,32,32 for c1/resnet20)\n"
           "  --batch B      micro-batch size                    (default 128)\n"
           "  --steps N      timed repetitions                   (default 10)\n"
           "  --warmup N     untimed repetitions first           (default 2)\n"
           "  --threads T    OpenMP/OpenBLAS threads             (default: all cores)\n"
           "  --device D     engine backend: cpu | cpu-guarded | cuda[:N]   (default cpu)\n"
           "  --seed S       weights and data seed               (default 0)\n"
           "  -h, --help     this help\n");
}

/* wait for the backend's queued work before a clock read (CUDA runs asynchronously) */
static void bench_sync(absa_model *m)
{
    if (m->be->sync) m->be->sync(m->be);
}

/* median of n doubles (sorts in place) */
static double median(double *a, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
            double t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

int absa_cmd_bench(int argc, char **argv)
{
    const char *cmd = "bench", *model = "lenet", *device = "cpu";
    int C = 0, H = 0, W = 0, B = 128, steps = 10, warmup = 2, threads = 0, rc;
    uint64_t seed = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
        {"batch", required_argument, 0, 'b'}, {"steps", required_argument, 0, 'n'},
        {"warmup", required_argument, 0, 'w'}, {"threads", required_argument, 0, 'T'},
        {"seed", required_argument, 0, 's'},  {"help", no_argument, 0, 'h'},
        {"device", required_argument, 0, 'D'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'D': device = optarg; break;
        case 'i': if ((rc = absa_arg_shape(cmd, "--input", optarg, &C, &H, &W))) return rc; break;
        case 'b': if ((rc = absa_arg_int(cmd, "--batch", optarg, 1, 1 << 20, &B))) return rc; break;
        case 'n': if ((rc = absa_arg_int(cmd, "--steps", optarg, 1, 100000, &steps))) return rc; break;
        case 'w': if ((rc = absa_arg_int(cmd, "--warmup", optarg, 0, 100000, &warmup))) return rc; break;
        case 'T': if ((rc = absa_arg_int(cmd, "--threads", optarg, 1, 4096, &threads))) return rc; break;
        case 's': if ((rc = absa_arg_u64(cmd, "--seed", optarg, &seed))) return rc; break;
        case 'h': bench_help(); return 0;
        default: return absa_cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) return absa_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if ((rc = absa_cli_check_model(cmd, model))) return rc;
    if (!C) {
        int cifar = !strcmp(model, "c1") || !strcmp(model, "resnet20");
        C = cifar ? 3 : 1;
        H = W = cifar ? 32 : 28;
    }
    absa_set_threads(threads);
    absa_model *m = NULL;
    if (absa_model_create_on(model, C, H, W, 10, device, &m) != ABSA_OK) return absa_cli_error(cmd, "%s", absa_last_error());
    absa_model_init(m, seed);
    size_t per = (size_t)C * H * W;
    float *x = absa_try_alloc((size_t)B * per * sizeof(float));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)B);
    double *t_step = calloc((size_t)steps, sizeof(double)), *t_grad = calloc((size_t)steps, sizeof(double));
    double *t_hvp = calloc((size_t)steps, sizeof(double));
    int ret = 1;
    if (!x || !y || !t_step || !t_grad || !t_hvp) {
        absa_cli_error(cmd, "cannot allocate a batch of %d", B);
        goto done;
    }
    if (absa_model_reserve_r(m, B) != ABSA_OK) {
        absa_cli_error(cmd, "%s", absa_last_error());
        goto done;
    }
    absa_rng rng;
    absa_rng_seed(&rng, seed, 0xBE);
    absa_rng_fill_normal(&rng, (size_t)B * per, x, 1.0f);
    for (int i = 0; i < B; i++) y[i] = (int32_t)(absa_rng_u64(&rng) % 10);
    {
        float *v = absa_xcalloc(m->n_params ? m->n_params : 1, sizeof(float));
        absa_rng_fill_normal(&rng, m->n_params, v, 1.0f);
        absa_model_set(m, m->v, v, m->n_params);
        free(v);
    }
    absa_sgd opt;
    absa_sgd_defaults(&opt);
    opt.lr = 1e-3;
    for (int it = -warmup; it < steps; it++) {
        /* training step: train-mode forward, loss, backward, SGD */
        double t0 = absa_now();
        absa_model_zero_grad(m);
        absa_model_forward(m, x, B, 1, 1);
        absa_model_loss(m, y);
        absa_model_backward(m, x, y, 1.0, 0);
        absa_sgd_step(m, &opt);
        bench_sync(m);
        double t1 = absa_now();
        /* one gradient in the HVP's mode (BN eval), for the HVP/gradient ratio */
        absa_model_forward(m, x, B, 0, 0);
        absa_model_loss(m, y);
        absa_model_backward(m, x, y, 1.0, 0);
        bench_sync(m);
        double t2 = absa_now();
        absa_be_zero(m->be, m->hv, m->n_params);
        if (absa_model_hvp(m, x, y, B, 0, 1.0, NULL) != ABSA_OK) {
            absa_cli_error(cmd, "%s", absa_last_error());
            goto done;
        }
        bench_sync(m);
        double t3 = absa_now();
        if (it >= 0) {
            t_step[it] = t1 - t0;
            t_grad[it] = t2 - t1;
            t_hvp[it] = t3 - t2;
        }
    }
    double ms = median(t_step, steps), mg = median(t_grad, steps), mh = median(t_hvp, steps);
    char blas[256];
    fprintf(stderr, "absa bench: %s %dx%dx%d batch %d, %zu parameters, %d steps (median); %s\n", model, C, H,
            W, B, m->n_params, steps, absa_blas_core_describe(blas, sizeof blas));
    fprintf(stderr, "  train step %8.2f ms  %10.1f images/s\n", ms * 1e3, B / ms);
    fprintf(stderr, "  gradient   %8.2f ms  %10.1f images/s\n", mg * 1e3, B / mg);
    fprintf(stderr, "  HVP        %8.2f ms  %10.1f images/s  (%.2fx gradient)\n", mh * 1e3, B / mh, mh / mg);
    printf("{\"model\": \"%s\", \"batch\": %d, \"params\": %zu, \"step_s\": %.6f, \"step_images_per_s\": %.1f, "
           "\"grad_s\": %.6f, \"hvp_s\": %.6f, \"hvp_over_grad\": %.3f}\n",
           model, B, m->n_params, ms, B / ms, mg, mh, mh / mg);
    ret = 0;
done:
    absa_free(x);
    free(y);
    free(t_step);
    free(t_grad);
    free(t_hvp);
    absa_model_free(m);
    return ret;
}
