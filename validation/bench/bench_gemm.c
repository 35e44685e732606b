/* bench_gemm.c — why the conv engine stores patch matrices patch-major (not a test): single-threaded
 * OpenBLAS GFLOP/s of the three GEMMs of a convolution on the resnet20 3x3 shapes (per sample),
 * in the classic im2col orientation (col[K][P]: y = W col, dW = dy col^T, dcol = W^T dy) and
 * the patch-major one the engine uses (col[P][K]: y^T = col W^T, dW = dy col, dcol = dy^T W).
 *
 * usage: bench_gemm [repetitions=2000]
 * Measured here (docs/engine.md): patch-major 77-98 GFLOP/s against 35-59 for [K][P] on the
 * 16-channel stage, about equal on the 64-channel one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "absa_blas.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of C[M x N] += op(A) op(B), row-major, with K inner */
static double rate(int ta, int tb, int M, int N, int K, int reps)
{
    float *A = calloc((size_t)M * K, sizeof(float)), *B = calloc((size_t)K * N, sizeof(float));
    float *C = calloc((size_t)M * N, sizeof(float));
    if (!A || !B || !C) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = 1e-3f * (float)(i % 7);
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = 1e-3f * (float)(i % 5);
    double t0 = now();
    for (int r = 0; r < reps; r++)
        absa_gemm_f32(ta, tb, M, N, K, 1, A, ta ? M : K, B, tb ? K : N, 1, C, N);
    double t = (now() - t0) / reps;
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / t / 1e9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 2000;
    if (reps < 1) {
        fprintf(stderr, "usage: bench_gemm [repetitions >= 1]\n");
        return 2;
    }
    openblas_set_num_threads(1);
    static const int O[3] = {16, 32, 64}, P[3] = {1024, 256, 64};
    printf("single-threaded GFLOP/s per sample, 3x3 convolution, C = O channels\n");
    printf("%-22s | %8s %8s %8s | %8s %8s %8s\n", "shape", "fwd KP", "dW KP", "dcol KP", "fwd PK",
           "dW PK", "dcol PK");
    for (int s = 0; s < 3; s++) {
        const int o = O[s], p = P[s], k = 9 * o;
        char name[32];
        snprintf(name, sizeof name, "%d->%d, P=%d", o, o, p);
        printf("%-22s | %8.1f %8.1f %8.1f | %8.1f %8.1f %8.1f\n", name, rate(0, 0, o, p, k, reps),
               rate(0, 1, o, k, p, reps), rate(1, 0, k, p, o, reps), rate(0, 1, p, o, k, reps),
               rate(0, 0, o, k, p, reps), rate(1, 0, p, k, o, reps));
    }
    return 0;
}
