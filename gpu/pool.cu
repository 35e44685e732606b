/* pool.cu — max-pool on the GPU (mirrors src/engine/cpu/pool.c, PyTorch floor mode, -inf padding, ties
 * keep the first maximum, NaN wins). Forward: one thread per output, the CPU's row-major scan.
 * Backward: windows overlap when s < k, so instead of a scatter (atomics, completion order) each
 * input element gathers the dy of the outputs whose argmax it is, in ascending output order —
 * the CPU's order, hence the CPU's bits, with no atomics. R-forward gathers Rx at argmax. */
#include "gpu_common.cuh"

namespace {

template <typename T>
__global__ void k_max_fwd(size_t total, int H, int W, int Ho, int Wo, int k, int s, int p,
                          const T *x, T *y, int32_t *argmax)
{
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t nc = o / ((size_t)Ho * Wo);
        const int oh = (int)(o / Wo % Ho), ow = (int)(o % Wo);
        const T *xp = x + nc * H * W;
        int h0 = oh * s - p, h1 = h0 + k, w0 = ow * s - p, w1 = w0 + k;
        if (h1 > H) h1 = H;
        if (h0 < 0) h0 = 0;
        if (w1 > W) w1 = W;
        if (w0 < 0) w0 = 0;
        int best = h0 * W + w0;
        T m = -(T)INFINITY;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) {
                const int idx = ih * W + iw;
                const T v = xp[idx];
                if (v > m || v != v) {
                    m = v;
                    best = idx;
                }
            }
        y[o] = m;
        if (argmax) argmax[o] = best;
    }
}

/* outputs whose window contains input row ih: oh in [lo, hi] */
__device__ inline void win_range(int i, int k, int s, int p, int n_out, int *lo, int *hi)
{
    /* oh*s - p <= i <= oh*s - p + k - 1 */
    int a = i + p - k + 1;
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = (i + p) / s;
    if (*hi > n_out - 1) *hi = n_out - 1;
}

template <typename T>
__global__ void k_max_bwd(size_t total, int H, int W, int Ho, int Wo, int k, int s, int p,
                          const int32_t *argmax, const T *dy, T *dx, int set)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t nc = i / ((size_t)H * W);
        const int idx = (int)(i % ((size_t)H * W)), ih = idx / W, iw = idx % W;
        int oh0, oh1, ow0, ow1;
        win_range(ih, k, s, p, Ho, &oh0, &oh1);
        win_range(iw, k, s, p, Wo, &ow0, &ow1);
        const int32_t *ap = argmax + nc * Ho * Wo;
        const T *gp = dy + nc * Ho * Wo;
        T v = set ? (T)0 : dx[i]; /* set: the bits of zero-fill then accumulate (CPU spec) */
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++)
                if (ap[oh * Wo + ow] == idx) v += gp[oh * Wo + ow];
        dx[i] = v;
    }
}

template <typename T>
__global__ void k_max_rfwd(size_t total, int HW, int HWo, const int32_t *argmax, const T *Rx, T *Ry)
{
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x)
        Ry[o] = Rx ? Rx[o / HWo * HW + argmax[o]] : (T)0;
}

} // namespace

#define ABSA_GPU_POOL_DEFS(T, SFX)                                                              \
    extern "C" void absa_gpu_maxpool_forward_##SFX(absa_gpu_ctx *g, const absa_pool_cfg *c,     \
                                                   const T *x, T *y, int32_t *argmax)           \
    {                                                                                           \
        const size_t n = (size_t)c->N * c->C * c->Ho * c->Wo;                                   \
        if (!n) return;                                                                         \
        k_max_fwd<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(                   \
            n, c->H, c->W, c->Ho, c->Wo, c->k, c->s, c->p, x, y, argmax);                       \
        ABSA_LAUNCHED();                                                                        \
    }                                                                                           \
    extern "C" void absa_gpu_maxpool_backward_ex_##SFX(absa_gpu_ctx *g, const absa_pool_cfg *c, \
                                                       const int32_t *argmax, const T *dy, T *dx, \
                                                       int set)                                 \
    {                                                                                           \
        const size_t n = (size_t)c->N * c->C * c->H * c->W;                                     \
        if (!dx || !n) return;                                                                  \
        k_max_bwd<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(                   \
            n, c->H, c->W, c->Ho, c->Wo, c->k, c->s, c->p, argmax, dy, dx, set);                \
        ABSA_LAUNCHED();                                                                        \
    }                                                                                           \
    extern "C" void absa_gpu_maxpool_backward_##SFX(absa_gpu_ctx *g, const absa_pool_cfg *c,    \
                                                    const int32_t *argmax, const T *dy, T *dx)  \
    {                                                                                           \
        absa_gpu_maxpool_backward_ex_##SFX(g, c, argmax, dy, dx, 0);                            \
    }                                                                                           \
    extern "C" void absa_gpu_maxpool_rforward_##SFX(absa_gpu_ctx *g, const absa_pool_cfg *c,    \
                                                    const int32_t *argmax, const T *Rx, T *Ry)  \
    {                                                                                           \
        const size_t n = (size_t)c->N * c->C * c->Ho * c->Wo;                                   \
        if (!n) return;                                                                         \
        k_max_rfwd<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(                  \
            n, c->H * c->W, c->Ho * c->Wo, argmax, Rx, Ry);                                     \
        ABSA_LAUNCHED();                                                                        \
    }
ABSA_GPU_POOL_DEFS(float, f32)
ABSA_GPU_POOL_DEFS(double, f64)
