/* xl.cu — the exact gradient sums on the device (mirrors src/engine/cpu/xl.c): int64 limbs, one
 * thread per word, with the inline arithmetic of src/base/exact_limbs.h compiled __host__
 * __device__, so what the kernels compute is what validation/unit/test_exact_limbs.c checks
 * bitwise against exact_sum.h on the host. Every word is owned by one thread: no atomics, no
 * order, the same bits on every run. A bad addend (not finite, or beyond the step's range) sets
 * *bad (a plain store of 1: any order of stores gives the same flag). */
#include "gpu_common.cuh"

#include "exact_limbs.h"

#define XL_GRID_STRIDE(i, n)                                                                   \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                   \
         i += (size_t)gridDim.x * blockDim.x)

namespace {

__global__ void k_xl_add(size_t n, int64_t *l, const float *x, double limit, int *bad)
{
    XL_GRID_STRIDE(i, n)
    {
        if (absa_xl_add_f32(l + 3 * i, x[i], limit)) *bad = 1;
    }
}

__global__ void k_xl_get(size_t n, const int64_t *l, float *out)
{
    XL_GRID_STRIDE(i, n) out[i] = absa_xl_get_f32(l + 3 * i);
}

} // namespace

extern "C" void absa_gpu_xl_add_f32(absa_gpu_ctx *g, size_t n, int64_t *l, const float *x, double limit, int *bad)
{
    if (!n) return;
    k_xl_add<<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(n, l, x, limit, bad);
    ABSA_LAUNCHED();
}

extern "C" void absa_gpu_xl_get_f32(absa_gpu_ctx *g, size_t n, const int64_t *l, float *out)
{
    if (!n) return;
    k_xl_get<<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(n, l, out);
    ABSA_LAUNCHED();
}
