/* linear.cu — the linear layer on the GPU through cuBLAS (mirrors src/engine/cpu/linear.c). Row-major
 * y[N,out] = x[N,in] W^T + b is, column-major, y^T = W x^T: gemm(T, N). The handle is in
 * CUBLAS_PEDANTIC_MATH (gpu_ctx.cu): strict FP32/FP64, no TF32. Bias as the CPU does it: y is
 * filled with b and the GEMM adds with beta 1; bias gradients are column sums in double (one
 * block per output, fixed tree). Backward passes accumulate (beta 1), as layers.h says. */
#include "gpu_common.cuh"

namespace {

cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const float *A, int lda, const float *B, int ldb, float beta, float *C,
                    int ldc)
{
    const float one = 1;
    return cublasSgemm(h, ta, tb, m, n, k, &one, A, lda, B, ldb, &beta, C, ldc);
}
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const double *A, int lda, const double *B, int ldb, double beta,
                    double *C, int ldc)
{
    const double one = 1;
    return cublasDgemm(h, ta, tb, m, n, k, &one, A, lda, B, ldb, &beta, C, ldc);
}

template <typename T> __global__ void k_fill_bias(size_t n, int out, const T *b, T *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = b[i % out];
}

template <typename T> __global__ void k_bias_grad(int N, int out, const T *dy, T *db)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    const int o = blockIdx.x;
    double v[1] = {0};
    for (int n = threadIdx.x; n < N; n += ABSA_GPU_THREADS) v[0] += (double)dy[(size_t)n * out + o];
    absa_block_sum<1>(v, sh);
    if (threadIdx.x == 0) db[o] += (T)v[0];
}

template <typename T> struct lin {
    absa_gpu_ctx *g;
    int N, in, out;
    /* y[N,out] (beta) + x[N,in] W[out,in]^T */
    void fwd(const T *x, const T *W, T *y, T beta)
    {
        ABSA_CUBLAS(gemm(g->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, W, in, x, in, beta, y, out));
    }
    /* dx[N,in] += dy[N,out] W[out,in] */
    void bdata(const T *W, const T *dy, T *dx)
    {
        ABSA_CUBLAS(gemm(g->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, W, in, dy, out, 1, dx, in));
    }
    /* dW[out,in] += dy^T x */
    void bfilter(const T *x, const T *dy, T *dW)
    {
        ABSA_CUBLAS(gemm(g->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, x, in, dy, out, 1, dW, in));
    }
    void fill(const T *b, T *y)
    {
        const size_t n = (size_t)N * out;
        k_fill_bias<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(n, out, b, y);
        ABSA_LAUNCHED();
    }
    void bgrad(const T *dy, T *db)
    {
        k_bias_grad<T><<<out, ABSA_GPU_THREADS, 0, g->stream>>>(N, out, dy, db);
        ABSA_LAUNCHED();
    }
};

template <typename T> lin<T> mk(absa_gpu_ctx *g, const absa_linear_cfg *c)
{
    ABSA_ASSERT(c->N >= 1 && c->in >= 1 && c->out >= 1, "linear: bad shape");
    return lin<T>{g, c->N, c->in, c->out};
}

template <typename T>
void linear_forward(absa_gpu_ctx *g, const absa_linear_cfg *c, const T *x, const T *W, const T *b, T *y)
{
    lin<T> l = mk<T>(g, c);
    const int bias = c->has_bias && b;
    if (bias) l.fill(b, y);
    l.fwd(x, W, y, bias ? 1 : 0);
}

template <typename T>
void linear_backward(absa_gpu_ctx *g, const absa_linear_cfg *c, const T *x, const T *W,
                     const T *dy, T *dx, T *dW, T *db)
{
    lin<T> l = mk<T>(g, c);
    if (dx) l.bdata(W, dy, dx);
    if (dW) l.bfilter(x, dy, dW);
    if (db && c->has_bias) l.bgrad(dy, db);
}

template <typename T>
void linear_rforward(absa_gpu_ctx *g, const absa_linear_cfg *c, const T *x, const T *Rx,
                     const T *W, const T *V, const T *Vb, T *Ry)
{
    lin<T> l = mk<T>(g, c);
    const int bias = c->has_bias && Vb;
    if (bias) l.fill(Vb, Ry);
    l.fwd(x, V, Ry, bias ? 1 : 0);
    if (Rx) l.fwd(Rx, W, Ry, 1);
}

template <typename T>
void linear_rbackward(absa_gpu_ctx *g, const absa_linear_cfg *c, const T *x, const T *Rx,
                      const T *W, const T *V, const T *dy, const T *Rdy, T *Rdx, T *RdW, T *Rdb)
{
    lin<T> l = mk<T>(g, c);
    if (Rdx) {
        l.bdata(V, dy, Rdx);
        l.bdata(W, Rdy, Rdx);
    }
    if (RdW) {
        l.bfilter(x, Rdy, RdW);
        if (Rx) l.bfilter(Rx, dy, RdW);
    }
    if (Rdb && c->has_bias) l.bgrad(Rdy, Rdb);
}

} // namespace

#define ABSA_GPU_LINEAR_DEFS(T, SFX)                                                              \
    extern "C" void absa_gpu_linear_forward_##SFX(absa_gpu_ctx *g, const absa_linear_cfg *c,      \
                                                  const T *x, const T *W, const T *b, T *y)       \
    {                                                                                             \
        linear_forward<T>(g, c, x, W, b, y);                                                      \
    }                                                                                             \
    extern "C" void absa_gpu_linear_backward_##SFX(absa_gpu_ctx *g, const absa_linear_cfg *c,     \
                                                   const T *x, const T *W, const T *dy, T *dx,    \
                                                   T *dW, T *db)                                  \
    {                                                                                             \
        linear_backward<T>(g, c, x, W, dy, dx, dW, db);                                           \
    }                                                                                             \
    extern "C" void absa_gpu_linear_rforward_##SFX(absa_gpu_ctx *g, const absa_linear_cfg *c,     \
                                                   const T *x, const T *Rx, const T *W,           \
                                                   const T *V, const T *Vb, T *Ry)                \
    {                                                                                             \
        linear_rforward<T>(g, c, x, Rx, W, V, Vb, Ry);                                            \
    }                                                                                             \
    extern "C" void absa_gpu_linear_rbackward_##SFX(                                              \
        absa_gpu_ctx *g, const absa_linear_cfg *c, const T *x, const T *Rx, const T *W,           \
        const T *V, const T *dy, const T *Rdy, T *Rdx, T *RdW, T *Rdb)                            \
    {                                                                                             \
        linear_rbackward<T>(g, c, x, Rx, W, V, dy, Rdy, Rdx, RdW, Rdb);                           \
    }
ABSA_GPU_LINEAR_DEFS(float, f32)
ABSA_GPU_LINEAR_DEFS(double, f64)
