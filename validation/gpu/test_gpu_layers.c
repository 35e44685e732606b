/* test_gpu_layers.c — every CUDA layer launcher (gpu/gpu_layers.h) against the CPU kernels it
 * mirrors (src/engine/layers.h, the specification): each layer x its four passes x overwrite (NaN
 * prefill: an element not written shows up) and accumulate (random prefill), plus the
 * loss, the vector operations and the SGD step. float64: rel err <= 1e-12 (the wiring is exact
 * up to summation order); float32: <= 1e-5 (cuDNN's algorithms differ from the CPU engines).
 * Needs a CUDA device: skips (77) with the reason otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "gpu_layers.h"
#include "layers.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static uint64_t rng = 2026;

#define ABSA_T double
#define ABSA_SFX f64
#define TOL 1e-12
#include "test_gpu_layers_impl.h"
#undef ABSA_T
#undef ABSA_SFX
#undef TOL

#define ABSA_T float
#define ABSA_SFX f32
#define TOL 1e-5
#include "test_gpu_layers_impl.h"
#undef ABSA_T
#undef ABSA_SFX
#undef TOL

/* SGD: the CPU's absa_sgd_step loop (src/method/optim.c) written out on host floats */
static void t_sgd(absa_gpu_ctx *g)
{
    const size_t n = 777;
    float *w = malloc(n * 4), *gr = malloc(n * 4), *buf = malloc(n * 4), *got = malloc(n * 4);
    float *wd = absa_gpu_malloc(n * 4), *gd = absa_gpu_malloc(n * 4), *bd = absa_gpu_malloc(n * 4);
    for (size_t i = 0; i < n; i++) w[i] = (float)absa_test_normal(&rng), gr[i] = (float)absa_test_normal(&rng);
    absa_gpu_upload(g, wd, w, n * 4);
    absa_gpu_upload(g, gd, gr, n * 4);
    for (int step = 0; step < 3; step++) {
        const int first = step == 0;
        for (size_t i = 0; i < n; i++) {
            float d = gr[i] + 5e-4f * w[i];
            float b = first ? d : 0.9f * buf[i] + 1.0f * d;
            buf[i] = b;
            w[i] -= 0.1f * b;
        }
        absa_gpu_sgd_step_f32(g, n, wd, gd, bd, 0.1f, 0.9f, 1.0f, 5e-4f, 0, first, 1);
    }
    absa_gpu_download(g, got, wd, n * 4);
    double err = 0;
    for (size_t i = 0; i < n; i++) err = fmax(err, fabs((double)got[i] - w[i]));
    CHECK(err <= 1e-6, "sgd: max abs err %.3g after 3 steps", err);
    free(w), free(gr), free(buf), free(got);
    absa_gpu_free(wd), absa_gpu_free(gd), absa_gpu_free(bd);
}

int main(void)
{
    if (absa_gpu_device_count() == 0) {
        printf("test_gpu_layers: skipped: %s\n", absa_gpu_unavailable_reason());
        return 77;
    }
    absa_gpu_ctx g;
    if (absa_gpu_ctx_create(&g, 0) != ABSA_OK) {
        printf("test_gpu_layers: skipped: %s\n", absa_last_error());
        return 77;
    }
    t_all_f64(&g);
    t_all_f32(&g);
    t_sgd(&g);
    absa_gpu_sync(&g);
    absa_gpu_ctx_destroy(&g);
    return absa_test_finish("test_gpu_layers");
}
