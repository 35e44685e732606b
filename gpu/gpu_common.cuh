/* gpu_common.cuh — internal helpers of the .cu files: error checks (bug tier: a failed CUDA,
 * cuBLAS or cuDNN call aborts with file:line), launch geometry, and the deterministic block
 * reduction (fixed-order tree in double: the same bits on every run with the same geometry). */
#ifndef ABSA_GPU_COMMON_CUH
#define ABSA_GPU_COMMON_CUH

#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "layers.h"
}
#include "gpu_ctx.h"

#define ABSA_CUDA(call)                                                                        \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess) ABSA_ABORT("%s: %s", #call, cudaGetErrorString(e_));            \
    } while (0)
#define ABSA_CUBLAS(call)                                                                      \
    do {                                                                                       \
        cublasStatus_t e_ = (call);                                                            \
        if (e_ != CUBLAS_STATUS_SUCCESS) ABSA_ABORT("%s: cuBLAS status %d", #call, (int)e_);   \
    } while (0)
#define ABSA_CUDNN(call)                                                                       \
    do {                                                                                       \
        cudnnStatus_t e_ = (call);                                                             \
        if (e_ != CUDNN_STATUS_SUCCESS) ABSA_ABORT("%s: %s", #call, cudnnGetErrorString(e_));  \
    } while (0)
/* after every kernel launch */
#define ABSA_LAUNCHED() ABSA_CUDA(cudaGetLastError())

#define ABSA_GPU_THREADS 256

static inline unsigned absa_gpu_blocks(size_t n)
{
    size_t b = (n + ABSA_GPU_THREADS - 1) / ABSA_GPU_THREADS;
    if (b < 1) b = 1;
    if (b > 65535u * 16u) b = 65535u * 16u; /* grid-stride loops cover the rest */
    return (unsigned)b;
}

/* Sums K doubles per thread over the block (blockDim.x == ABSA_GPU_THREADS) in a fixed tree;
 * thread 0 ... every thread gets the totals in v[]. sh: K * ABSA_GPU_THREADS doubles. */
template <int K>
__device__ inline void absa_block_sum(double (&v)[K], double *sh)
{
    const int t = threadIdx.x;
    for (int k = 0; k < K; k++) sh[k * ABSA_GPU_THREADS + t] = v[k];
    __syncthreads();
    for (int s = ABSA_GPU_THREADS / 2; s > 0; s >>= 1) {
        if (t < s)
            for (int k = 0; k < K; k++) sh[k * ABSA_GPU_THREADS + t] += sh[k * ABSA_GPU_THREADS + t + s];
        __syncthreads();
    }
    for (int k = 0; k < K; k++) v[k] = sh[k * ABSA_GPU_THREADS];
    __syncthreads();
}

#endif
