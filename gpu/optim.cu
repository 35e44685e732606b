/* optim.cu — flat-vector operations on the GPU (mirrors src/method/optim.c and the vector loops of
 * src/method/curvature.c): the SGD step with torch.optim.SGD semantics (same float expressions as the
 * CPU), and dot / axpy / scale / fill for power iteration. dot is deterministic: 64 blocks of
 * 256 threads, each thread a fixed strided set of elements, each block a fixed tree, then one
 * block sums the 64 partials in a fixed tree — accumulation in double throughout. */
#include "gpu_common.cuh"

#define ABSA_GPU_DOT_BLOCKS 64

namespace {

template <typename T>
__global__ void k_sgd(size_t n, T *w, const T *grad, T *buf, float lr, float mu, float damp, float wd,
                      int nesterov, int first, int use_mom)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        T d = grad[i];
        if (wd != 0) d += (T)wd * w[i];
        if (use_mom) {
            const T b = first ? d : (T)mu * buf[i] + (T)damp * d;
            buf[i] = b;
            d = nesterov ? d + (T)mu * b : b;
        }
        w[i] -= (T)lr * d;
    }
}

template <typename T> __global__ void k_dot_part(size_t n, const T *a, const T *b, double *part)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    double v[1] = {0};
    const size_t stride = (size_t)ABSA_GPU_DOT_BLOCKS * ABSA_GPU_THREADS;
    for (size_t i = blockIdx.x * (size_t)ABSA_GPU_THREADS + threadIdx.x; i < n; i += stride)
        v[0] += (double)a[i] * (double)b[i];
    absa_block_sum<1>(v, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = v[0];
}

__global__ void k_dot_final(const double *part, double *out)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    double v[1] = {threadIdx.x < ABSA_GPU_DOT_BLOCKS ? part[threadIdx.x] : 0.0};
    absa_block_sum<1>(v, sh);
    if (threadIdx.x == 0) out[0] = v[0];
}

template <typename T> __global__ void k_axpy(size_t n, T a, const T *x, T *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += a * x[i];
}

template <typename T> __global__ void k_scale(size_t n, T a, T *x)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] *= a;
}

template <typename T> __global__ void k_fill(size_t n, T v, T *x)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = v;
}

template <typename T> double dot(absa_gpu_ctx *g, size_t n, const T *a, const T *b)
{
    k_dot_part<T><<<ABSA_GPU_DOT_BLOCKS, ABSA_GPU_THREADS, 0, g->stream>>>(n, a, b, g->scratch);
    ABSA_LAUNCHED();
    k_dot_final<<<1, ABSA_GPU_THREADS, 0, g->stream>>>(g->scratch, g->scratch + ABSA_GPU_DOT_BLOCKS);
    ABSA_LAUNCHED();
    double r = 0;
    ABSA_CUDA(cudaMemcpyAsync(&r, g->scratch + ABSA_GPU_DOT_BLOCKS, sizeof r,
                              cudaMemcpyDeviceToHost, g->stream));
    ABSA_CUDA(cudaStreamSynchronize(g->stream));
    return r;
}

} // namespace

#define ABSA_GPU_VEC_DEFS(T, SFX)                                                              \
    extern "C" void absa_gpu_sgd_step_##SFX(absa_gpu_ctx *g, size_t n, T *w, const T *grad,   \
                                            T *buf, float lr, float momentum, float damp,      \
                                            float weight_decay, int nesterov, int first,       \
                                            int use_mom)                                       \
    {                                                                                          \
        if (!n) return;                                                                        \
        k_sgd<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(                      \
            n, w, grad, buf, lr, momentum, damp, weight_decay, nesterov, first, use_mom);      \
        ABSA_LAUNCHED();                                                                       \
    }                                                                                          \
    extern "C" double absa_gpu_dot_##SFX(absa_gpu_ctx *g, size_t n, const T *a, const T *b)   \
    {                                                                                          \
        return dot<T>(g, n, a, b);                                                             \
    }                                                                                          \
    extern "C" void absa_gpu_axpy_##SFX(absa_gpu_ctx *g, size_t n, double a, const T *x, T *y) \
    {                                                                                          \
        if (!n) return;                                                                        \
        k_axpy<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(n, (T)a, x, y);      \
        ABSA_LAUNCHED();                                                                       \
    }                                                                                          \
    extern "C" void absa_gpu_scale_##SFX(absa_gpu_ctx *g, size_t n, double a, T *x)           \
    {                                                                                          \
        if (!n) return;                                                                        \
        k_scale<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(n, (T)a, x);        \
        ABSA_LAUNCHED();                                                                       \
    }                                                                                          \
    extern "C" void absa_gpu_fill_##SFX(absa_gpu_ctx *g, size_t n, double v, T *x)            \
    {                                                                                          \
        if (!n) return;                                                                        \
        k_fill<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(n, (T)v, x);         \
        ABSA_LAUNCHED();                                                                       \
    }
ABSA_GPU_VEC_DEFS(float, f32)
ABSA_GPU_VEC_DEFS(double, f64)
