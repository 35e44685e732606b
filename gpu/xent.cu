/* xent.cu — softmax cross-entropy on the GPU (mirrors src/engine/cpu/xent.c): one thread per row with the
 * CPU's per-row arithmetic (max, sum of exp in double, p rounded once); the per-row losses and
 * the correct-prediction count are summed by one block in a fixed tree (deterministic; the
 * order differs from the CPU's row order, so the mean loss agrees to rounding, not bitwise).
 * A label outside [0, K) is counted on the device and aborts on the host, as on the CPU. */
#include "gpu_common.cuh"

namespace {

/* rows: per-row loss (or hit) into part[i]; then k_sum_rows sums part[0..N) */
template <typename T>
__global__ void k_xent_rows(int N, int K, const T *z, const int32_t *labels, T *p, double *part,
                            int *bad)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x) {
        const T *zi = z + (size_t)i * K;
        const int32_t lab = labels[i];
        if (lab < 0 || lab >= K) {
            atomicAdd(bad, 1); /* a count only: its order does not matter */
            part[i] = 0;
            continue;
        }
        double m = zi[0];
        for (int k = 1; k < K; k++)
            if (zi[k] > m) m = zi[k];
        double S = 0;
        for (int k = 0; k < K; k++) S += exp((double)zi[k] - m);
        if (p) {
            const double invS = 1.0 / S;
            for (int k = 0; k < K; k++) p[(size_t)i * K + k] = (T)(exp((double)zi[k] - m) * invS);
        }
        part[i] = log(S) - ((double)zi[lab] - m);
    }
}

template <typename T>
__global__ void k_correct_rows(int N, int K, const T *z, const int32_t *labels, double *part)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x) {
        const T *zi = z + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K && !isnan(zi[best]); k++)
            if (zi[k] > zi[best] || isnan(zi[k])) best = k;
        part[i] = best == labels[i];
    }
}

/* out[0] = sum part[0..n), one block, fixed order */
__global__ void k_sum_rows(int n, const double *part, double *out)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    double v[1] = {0};
    for (int i = threadIdx.x; i < n; i += ABSA_GPU_THREADS) v[0] += part[i];
    absa_block_sum<1>(v, sh);
    if (threadIdx.x == 0) out[0] = v[0];
}

template <typename T>
__global__ void k_xent_bwd(int N, int K, const T *p, const int32_t *labels, double f, T *dz)
{
    const size_t n = (size_t)N * K;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n;
         e += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(e % K);
        dz[e] += (T)(f * ((double)p[e] - (k == labels[e / K] ? 1.0 : 0.0)));
    }
}

template <typename T>
__global__ void k_xent_rbwd(int N, int K, const T *p, const T *Rz, double f, T *Rdz)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x) {
        const T *pi = p + (size_t)i * K, *ri = Rz + (size_t)i * K;
        double pr = 0;
        for (int k = 0; k < K; k++) pr += (double)pi[k] * ri[k];
        for (int k = 0; k < K; k++) Rdz[(size_t)i * K + k] += (T)(f * (double)pi[k] * ((double)ri[k] - pr));
    }
}

/* part needs N doubles: the context's scratch when it fits, else the workspace */
double *row_scratch(absa_gpu_ctx *g, int N)
{
    if (N + 1 <= ABSA_GPU_SCRATCH) return g->scratch;
    return (double *)absa_gpu_workspace(g, (size_t)(N + 1) * sizeof(double));
}

template <typename T>
double xent_forward(absa_gpu_ctx *g, int N, int K, const T *z, const int32_t *labels, T *p)
{
    ABSA_ASSERT(N >= 1 && K >= 1, "xent: bad shape %d x %d", N, K);
    double *part = row_scratch(g, N);
    ABSA_CUDA(cudaMemsetAsync(g->flag, 0, sizeof(int), g->stream));
    k_xent_rows<T><<<absa_gpu_blocks(N), ABSA_GPU_THREADS, 0, g->stream>>>(N, K, z, labels, p,
                                                                           part, g->flag);
    ABSA_LAUNCHED();
    k_sum_rows<<<1, ABSA_GPU_THREADS, 0, g->stream>>>(N, part, part + N);
    ABSA_LAUNCHED();
    double sum = 0;
    int bad = 0;
    ABSA_CUDA(cudaMemcpyAsync(&sum, part + N, sizeof sum, cudaMemcpyDeviceToHost, g->stream));
    ABSA_CUDA(cudaMemcpyAsync(&bad, g->flag, sizeof bad, cudaMemcpyDeviceToHost, g->stream));
    ABSA_CUDA(cudaStreamSynchronize(g->stream));
    ABSA_ASSERT(bad == 0, "xent: %d label(s) outside [0, %d)", bad, K);
    return sum / N;
}

template <typename T> int xent_correct(absa_gpu_ctx *g, int N, int K, const T *z, const int32_t *labels)
{
    ABSA_ASSERT(N >= 0 && K >= 1, "xent: bad shape %d x %d", N, K);
    if (N == 0) return 0;
    double *part = row_scratch(g, N);
    k_correct_rows<T><<<absa_gpu_blocks(N), ABSA_GPU_THREADS, 0, g->stream>>>(N, K, z, labels, part);
    ABSA_LAUNCHED();
    k_sum_rows<<<1, ABSA_GPU_THREADS, 0, g->stream>>>(N, part, part + N);
    ABSA_LAUNCHED();
    double hits = 0;
    ABSA_CUDA(cudaMemcpyAsync(&hits, part + N, sizeof hits, cudaMemcpyDeviceToHost, g->stream));
    ABSA_CUDA(cudaStreamSynchronize(g->stream));
    return (int)hits;
}

} // namespace

#define ABSA_GPU_XENT_DEFS(T, SFX)                                                              \
    extern "C" double absa_gpu_xent_forward_##SFX(absa_gpu_ctx *g, int N, int K, const T *z,    \
                                                  const int32_t *labels, T *p)                  \
    {                                                                                           \
        return xent_forward<T>(g, N, K, z, labels, p);                                          \
    }                                                                                           \
    extern "C" void absa_gpu_xent_backward_##SFX(absa_gpu_ctx *g, int N, int K, const T *p,     \
                                                 const int32_t *labels, double scale, T *dz)    \
    {                                                                                           \
        ABSA_ASSERT(N >= 1 && K >= 1, "xent: bad shape %d x %d", N, K);                         \
        if (!dz) return;                                                                        \
        k_xent_bwd<T><<<absa_gpu_blocks((size_t)N * K), ABSA_GPU_THREADS, 0, g->stream>>>(      \
            N, K, p, labels, scale / N, dz);                                                    \
        ABSA_LAUNCHED();                                                                        \
    }                                                                                           \
    extern "C" void absa_gpu_xent_rbackward_##SFX(absa_gpu_ctx *g, int N, int K, const T *p,    \
                                                  const T *Rz, double scale, T *Rdz)            \
    {                                                                                           \
        ABSA_ASSERT(N >= 1 && K >= 1, "xent: bad shape %d x %d", N, K);                         \
        if (!Rdz || !Rz) return;                                                                \
        k_xent_rbwd<T><<<absa_gpu_blocks(N), ABSA_GPU_THREADS, 0, g->stream>>>(N, K, p, Rz,     \
                                                                               scale / N, Rdz); \
        ABSA_LAUNCHED();                                                                        \
    }                                                                                           \
    extern "C" int absa_gpu_xent_correct_##SFX(absa_gpu_ctx *g, int N, int K, const T *z,       \
                                               const int32_t *labels)                           \
    {                                                                                           \
        return xent_correct<T>(g, N, K, z, labels);                                             \
    }
ABSA_GPU_XENT_DEFS(float, f32)
ABSA_GPU_XENT_DEFS(double, f64)
