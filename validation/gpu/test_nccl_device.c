/* test_nccl_device.c — the real NCCL table (gpu/nccl_ops.c) through the rebuild state machine on
 * one GPU, one rank (a single process; NCCL refuses two ranks on one device): non-blocking init,
 * polling until ready, an allreduce of a known vector (one rank: the sum is the vector itself,
 * bitwise), the exact sums' int64 limbs (ncclInt64, exact_sum.h: 128-bit words split, summed on
 * one rank, recombined bitwise), then three rebuilds as growth would do them, each timed (id,
 * init until ready, destroy of the old communicator). Needs a CUDA device: skips (77) with the
 * reason otherwise. Several ranks need several GPUs: not covered here (docs/gpu.md). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "absa_test.h"
#include "exact_sum.h"
#include "gpu_ctx.h"
#include "nccl_comm.h"

static int h_bcast(void *s, void *buf, size_t bytes, int root)
{
    (void)s, (void)buf, (void)bytes, (void)root;
    return 0; /* one rank: it already has the id */
}
static int h_min(void *s, int *v)
{
    (void)s, (void)v;
    return 0;
}
static double h_now(void *s)
{
    (void)s;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    if (absa_gpu_device_count() == 0) {
        printf("test_nccl_device: skipped: %s\n", absa_gpu_unavailable_reason());
        return 77;
    }
    absa_gpu_ctx g;
    if (absa_gpu_ctx_create(&g, 0) != ABSA_OK) {
        printf("test_nccl_device: skipped: %s\n", absa_last_error());
        return 77;
    }
    absa_nccl_ops ops;
    absa_nccl_real_ops(&ops);
    absa_nccl_host_ops host = {h_bcast, h_min, h_now, NULL};
    absa_nccl c;
    absa_nccl_init(&c, &ops, &host);
    enum { n = 1000 };
    float h[n], back[n];
    for (int i = 0; i < n; i++) h[i] = (float)i * 0.25f - 7.0f;
    float *d = absa_gpu_malloc(n * sizeof(float)), *r = absa_gpu_malloc(n * sizeof(float));
    absa_gpu_upload(&g, d, h, sizeof h);
    /* 128-bit words with every limb's extremes, as int64 limbs */
    enum { nw = 6 };
    const absa_xword one = 1;
    absa_xword w[nw] = {0, (absa_xword)-1, (one << 127) - 1, one << 127, (one << 86) - 1, 12345}, wback[nw];
    int64_t limbs[ABSA_XLIMBS * nw];
    absa_xsum_to_limbs(w, nw, limbs);
    int64_t *dl = absa_gpu_malloc(sizeof limbs);
    for (int gen = 1; gen <= 4; gen++) {
        CHECK(absa_nccl_grow(&c, 0, 1, 0) == ABSA_OK, "grow %d: %s", gen, absa_last_error());
        const double t0 = h_now(NULL);
        while (!absa_nccl_poll(&c) && c.state == ABSA_NCCL_PENDING && h_now(NULL) - t0 < 60) {
        }
        char line[256];
        absa_nccl_describe(&c, line, sizeof line);
        printf("%s\n", line);
        CHECK(absa_nccl_use_device(&c) && c.generation == gen, "generation %d ready", gen);
        if (!absa_nccl_use_device(&c)) break;
        absa_gpu_memset0(&g, r, sizeof h);
        CHECK(absa_nccl_allreduce_sum(&c, d, r, n, 0, g.stream) == ABSA_OK, "allreduce: %s", absa_last_error());
        absa_gpu_download(&g, back, r, sizeof back);
        CHECK(memcmp(back, h, sizeof h) == 0, "one-rank allreduce is not the identity");
        absa_gpu_upload(&g, dl, limbs, sizeof limbs);
        CHECK(absa_nccl_allreduce_sum(&c, dl, dl, ABSA_XLIMBS * nw, ABSA_NCCL_I64, g.stream) == ABSA_OK,
              "int64 allreduce: %s", absa_last_error());
        int64_t lback[ABSA_XLIMBS * nw];
        absa_gpu_download(&g, lback, dl, sizeof lback);
        absa_xsum_from_limbs(lback, nw, wback);
        CHECK(memcmp(wback, w, sizeof w) == 0, "int64 limbs through NCCL do not recombine to the words");
        printf("{\"nccl_generation\": %d, \"bcast_s\": %.6f, \"init_s\": %.6f, \"destroy_s\": %.6f, \"polls\": %d}\n",
               gen, c.last.bcast_s, c.last.init_s, c.last.destroy_s, c.last.polls);
    }
    absa_nccl_free(&c);
    absa_gpu_free(d), absa_gpu_free(r), absa_gpu_free(dl);
    absa_gpu_ctx_destroy(&g);
    return absa_test_finish("test_nccl_device");
}
