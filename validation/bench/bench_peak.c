/* bench_peak.c — the machine's arithmetic ceilings (bench_peak.h): FMA peak and large sgemm. */
#include "bench_peak.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "absa_blas.h"

#define CHAINS 12 /* independent accumulators: > FMA latency (4) x FMA ports (2) */

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
double bench_now(void) { return clock_s(CLOCK_MONOTONIC); }
double bench_cpu_now(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }
#define now bench_now

__attribute__((target("avx512f"))) static float chains512(long iters, float seed)
{
    __m512 acc[CHAINS];
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int j = 0; j < CHAINS; j++) acc[j] = _mm512_set1_ps(seed + (float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = _mm512_fmadd_ps(acc[j], b, c);
    __m512 s = acc[0];
    for (int j = 1; j < CHAINS; j++) s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float chains256(long iters, float seed)
{
    __m256 acc[CHAINS];
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int j = 0; j < CHAINS; j++) acc[j] = _mm256_set1_ps(seed + (float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = _mm256_fmadd_ps(acc[j], b, c);
    __m256 s = acc[0];
    for (int j = 1; j < CHAINS; j++) s = _mm256_add_ps(s, acc[j]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

double bench_fma_peak(int width, int threads, double secs, double *per_cpu_s)
{
    *per_cpu_s = 0;
    __builtin_cpu_init();
    if (width == 512 && !__builtin_cpu_supports("avx512f")) return 0;
    if (width == 256 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    const int lanes = width / 32;
    long iters = 1 << 20;
    double best = 0;
    volatile float sink = 0;
    /* grow the loop until one round takes secs/4, then keep the best of the rounds run in secs */
    for (double t_all = 0; t_all < secs;) {
        float part[256] = {0};
        double t0 = now(), c0 = bench_cpu_now();
#pragma omp parallel num_threads(threads)
        {
            int id = omp_get_thread_num();
            float r = width == 512 ? chains512(iters, (float)id) : chains256(iters, (float)id);
            if (id < 256) part[id] = r;
        }
        double t = now() - t0, tc = bench_cpu_now() - c0;
        for (int i = 0; i < threads && i < 256; i++) sink += part[i];
        double rate = 2.0 * lanes * CHAINS * (double)iters * threads / t / 1e9;
        if (t < secs / 8) {
            iters *= 2;
            continue;
        }
        if (rate > best) best = rate;
        double rc = 2.0 * lanes * CHAINS * (double)iters * threads / tc / 1e9;
        if (rc > *per_cpu_s) *per_cpu_s = rc;
        t_all += t;
    }
    (void)sink;
    return best;
}

double bench_sgemm_rate(int n, int threads, int reps)
{
    float *A = malloc((size_t)n * n * sizeof(float)), *B = malloc((size_t)n * n * sizeof(float));
    float *C = malloc((size_t)n * n * sizeof(float));
    if (!A || !B || !C) {
        fprintf(stderr, "bench_peak: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)n * n; i++) {
        A[i] = 1e-3f * (float)(i % 7);
        B[i] = 1e-3f * (float)(i % 5);
        C[i] = 0;
    }
    openblas_set_num_threads(threads);
    double best = 0;
    for (int r = -1; r < reps; r++) { /* one warm-up */
        double t0 = now();
        absa_gemm_f32(0, 0, n, n, n, 1, A, n, B, n, 0, C, n);
        double rate = 2.0 * n * n * (double)n / (now() - t0) / 1e9;
        if (r >= 0 && rate > best) best = rate;
    }
    free(A);
    free(B);
    free(C);
    return best;
}

double bench_print_ceilings(int threads, double *per_cpu_s)
{
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS kernel (openblas_get_corename): %s; config: %s; OPENBLAS_CORETYPE=%s\n",
           openblas_get_corename(), openblas_get_config(), ct ? ct : "(unset)");
    double c512, c256;
    double p512 = bench_fma_peak(512, threads, 0.5, &c512), p256 = bench_fma_peak(256, threads, 0.5, &c256);
    double g = bench_sgemm_rate(2048, threads, 3);
    printf("ceilings, %d threads: FMA peak AVX-512 %.1f GFLOP/s (%.1f per CPU second), AVX2 %.1f "
           "(%.1f per CPU second); OpenBLAS sgemm 2048^3 %.1f GFLOP/s (%.0f %% of the AVX-512 peak)\n",
           threads, p512, c512, p256, c256, g, p512 > 0 ? 100 * g / p512 : 0.0);
    *per_cpu_s = p512 > 0 ? c512 : c256;
    return p512 > 0 ? p512 : p256;
}
