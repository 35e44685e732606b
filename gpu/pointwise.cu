/* pointwise.cu — ReLU, residual add and global average pool on the GPU (mirrors
 * src/engine/cpu/pointwise.c): one thread per element (grid-stride), the same expressions as the CPU, so
 * the results are bitwise the CPU's (average pool: one thread per plane, serial double sum in
 * the CPU's order). ReLU: y = x > 0 ? x : 0 (NaN passes), backward mask x <= 0 -> 0. */
#include "gpu_common.cuh"

#define GRID_STRIDE(i, n)                                                                      \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                   \
         i += (size_t)gridDim.x * blockDim.x)

namespace {

template <typename T> __global__ void k_relu_fwd(size_t n, const T *x, T *y)
{
    GRID_STRIDE(i, n) y[i] = x[i] <= 0 ? (T)0 : x[i];
}

template <typename T> __global__ void k_relu_bwd(size_t n, const T *x, const T *dy, T *dx, int set)
{
    GRID_STRIDE(i, n)
    {
        const T r = x[i] <= 0 ? (T)0 : dy[i];
        dx[i] = set ? r : dx[i] + r;
    }
}

template <typename T> __global__ void k_relu_rfwd(size_t n, const T *x, const T *Rx, T *Ry)
{
    GRID_STRIDE(i, n) Ry[i] = (!Rx || x[i] <= 0) ? (T)0 : Rx[i];
}

template <typename T> __global__ void k_add_fwd(size_t n, const T *a, const T *b, T *y)
{
    GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

/* da = or += dy, then db = or += dy; da == db: the second is +=, as the CPU's two sweeps */
template <typename T>
__global__ void k_add_bwd(size_t n, const T *dy, T *da, int set_a, T *db, int set_b)
{
    GRID_STRIDE(i, n)
    {
        const T d = dy[i];
        if (da) da[i] = set_a ? d : da[i] + d;
        if (db) db[i] = (set_b && db != da) ? d : db[i] + d;
    }
}

template <typename T> __global__ void k_avg_fwd(size_t planes, int HW, const T *x, T *y)
{
    const double inv = 1.0 / HW;
    GRID_STRIDE(nc, planes)
    {
        double s = 0;
        for (int i = 0; i < HW; i++) s += x[nc * HW + i];
        y[nc] = (T)(s * inv);
    }
}

template <typename T> __global__ void k_avg_bwd(size_t n, int HW, const T *dy, T *dx)
{
    const double inv = 1.0 / HW;
    GRID_STRIDE(i, n) dx[i] += (T)(dy[i / HW] * inv);
}

} // namespace

#define LAUNCH(kernel, n, ...)                                                                 \
    do {                                                                                       \
        if ((n) == 0) break;                                                                   \
        kernel<<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>((n), __VA_ARGS__);     \
        ABSA_LAUNCHED();                                                                       \
    } while (0)

#define ABSA_GPU_PW_DEFS(T, SFX)                                                               \
    extern "C" void absa_gpu_relu_forward_##SFX(absa_gpu_ctx *g, size_t n, const T *x, T *y)  \
    {                                                                                          \
        LAUNCH(k_relu_fwd<T>, n, x, y);                                                        \
    }                                                                                          \
    extern "C" void absa_gpu_relu_backward_ex_##SFX(absa_gpu_ctx *g, size_t n, const T *x,    \
                                                    const T *dy, T *dx, int set)               \
    {                                                                                          \
        if (dx) LAUNCH(k_relu_bwd<T>, n, x, dy, dx, set);                                      \
    }                                                                                          \
    extern "C" void absa_gpu_relu_rforward_##SFX(absa_gpu_ctx *g, size_t n, const T *x,       \
                                                 const T *Rx, T *Ry)                           \
    {                                                                                          \
        LAUNCH(k_relu_rfwd<T>, n, x, Rx, Ry);                                                  \
    }                                                                                          \
    extern "C" void absa_gpu_add_forward_##SFX(absa_gpu_ctx *g, size_t n, const T *a,         \
                                               const T *b, T *y)                               \
    {                                                                                          \
        LAUNCH(k_add_fwd<T>, n, a, b, y);                                                      \
    }                                                                                          \
    extern "C" void absa_gpu_add_backward_ex_##SFX(absa_gpu_ctx *g, size_t n, const T *dy,    \
                                                   T *da, int set_a, T *db, int set_b)         \
    {                                                                                          \
        if (da || db) LAUNCH(k_add_bwd<T>, n, dy, da, set_a, db, set_b);                       \
    }                                                                                          \
    extern "C" void absa_gpu_avgpool_forward_##SFX(absa_gpu_ctx *g, int N, int C, int HW,     \
                                                   const T *x, T *y)                           \
    {                                                                                          \
        ABSA_ASSERT(N >= 0 && C >= 0 && HW >= 1, "avgpool: bad shape %d x %d x %d", N, C, HW); \
        LAUNCH(k_avg_fwd<T>, (size_t)N * C, HW, x, y);                                         \
    }                                                                                          \
    extern "C" void absa_gpu_avgpool_backward_##SFX(absa_gpu_ctx *g, int N, int C, int HW,    \
                                                    const T *dy, T *dx)                        \
    {                                                                                          \
        ABSA_ASSERT(N >= 0 && C >= 0 && HW >= 1, "avgpool: bad shape %d x %d x %d", N, C, HW); \
        if (dx) LAUNCH(k_avg_bwd<T>, (size_t)N * C * HW, HW, dy, dx);                          \
    }
ABSA_GPU_PW_DEFS(float, f32)
ABSA_GPU_PW_DEFS(double, f64)
