/* conv.cu — conv2d on the GPU through cuDNN (mirrors src/engine/cpu/conv.c). The four passes are composed
 * from the three cuDNN calls, absa's overwrite/accumulate modes mapped onto cuDNN's beta:
 *   forward      y   = conv(x, W) [beta 0]                      + b    (own bias kernel)
 *   backward     dx  = or += convT(dy, W) [beta 0 if dx_set],   dW += corr(dy, x) [beta 1],
 *                db += sum dy (own kernel, double)
 *   R-forward    Ry  = conv(x, V) [beta 0] + conv(Rx, W) [beta 1] + Vb
 *   R-backward   Rdx = or += convT(dy, V) [beta 0 if dx_set] + convT(Rdy, W) [beta 1],
 *                RdW += corr(Rdy, x) + corr(dy, Rx), Rdb += sum Rdy
 * Strict math: the convolution descriptor asks for CUDNN_FMA_MATH (no tensor cores, so no TF32)
 * and only deterministic algorithms in that math type are taken (cuDNN's v7 heuristics,
 * filtered), so two runs give the same bits. With beta 0 cuDNN never reads the output (NaN in
 * it is harmless). Descriptors are made per call: microseconds against the convolution. */
#include "gpu_common.cuh"

namespace {

template <typename T> struct cudnn_type;
template <> struct cudnn_type<float> { static constexpr cudnnDataType_t v = CUDNN_DATA_FLOAT; };
template <> struct cudnn_type<double> { static constexpr cudnnDataType_t v = CUDNN_DATA_DOUBLE; };

struct conv_desc {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
};

/* Descriptors only: no handle and no device needed. */
cudnnStatus_t conv_desc_make(conv_desc *d, const absa_conv_cfg *c, cudnnDataType_t t)
{
    cudnnStatus_t e;
    memset(d, 0, sizeof *d);
    if ((e = cudnnCreateTensorDescriptor(&d->x)) != CUDNN_STATUS_SUCCESS) return e;
    if ((e = cudnnCreateTensorDescriptor(&d->y)) != CUDNN_STATUS_SUCCESS) return e;
    if ((e = cudnnCreateFilterDescriptor(&d->w)) != CUDNN_STATUS_SUCCESS) return e;
    if ((e = cudnnCreateConvolutionDescriptor(&d->conv)) != CUDNN_STATUS_SUCCESS) return e;
    if ((e = cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, t, c->N, c->C, c->H, c->W)) !=
        CUDNN_STATUS_SUCCESS)
        return e;
    if ((e = cudnnSetFilter4dDescriptor(d->w, t, CUDNN_TENSOR_NCHW, c->O, c->C, c->kh, c->kw)) !=
        CUDNN_STATUS_SUCCESS)
        return e;
    if ((e = cudnnSetConvolution2dDescriptor(d->conv, c->ph, c->pw, c->sh, c->sw, 1, 1,
                                             CUDNN_CROSS_CORRELATION, t)) != CUDNN_STATUS_SUCCESS)
        return e;
    if ((e = cudnnSetConvolutionMathType(d->conv, CUDNN_FMA_MATH)) != CUDNN_STATUS_SUCCESS) return e;
    int n, o, h, w;
    if ((e = cudnnGetConvolution2dForwardOutputDim(d->conv, d->x, d->w, &n, &o, &h, &w)) !=
        CUDNN_STATUS_SUCCESS)
        return e;
    return cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, t, n, o, h, w);
}

void conv_desc_free(conv_desc *d)
{
    if (d->conv) cudnnDestroyConvolutionDescriptor(d->conv);
    if (d->w) cudnnDestroyFilterDescriptor(d->w);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
}

/* deterministic, FMA (or default, for double) math, succeeded */
template <typename P> bool usable(const P &p)
{
    return p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC &&
           (p.mathType == CUDNN_FMA_MATH || p.mathType == CUDNN_DEFAULT_MATH);
}

cudnnConvolutionFwdAlgo_t pick_fwd(absa_gpu_ctx *g, const conv_desc &d, size_t *ws)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    ABSA_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(g->cudnn, d.x, d.w, d.conv, d.y,
                                                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; i++)
        if (usable(perf[i])) {
            ABSA_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(g->cudnn, d.x, d.w, d.conv, d.y,
                                                               perf[i].algo, ws));
            return perf[i].algo;
        }
    ABSA_ABORT("cuDNN offers no deterministic FMA forward algorithm");
}

cudnnConvolutionBwdDataAlgo_t pick_bwd_data(absa_gpu_ctx *g, const conv_desc &d, size_t *ws)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    ABSA_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        g->cudnn, d.w, d.y, d.conv, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; i++)
        if (usable(perf[i])) {
            ABSA_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize(g->cudnn, d.w, d.y, d.conv, d.x,
                                                                    perf[i].algo, ws));
            return perf[i].algo;
        }
    ABSA_ABORT("cuDNN offers no deterministic FMA backward-data algorithm");
}

cudnnConvolutionBwdFilterAlgo_t pick_bwd_filter(absa_gpu_ctx *g, const conv_desc &d, size_t *ws)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    ABSA_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        g->cudnn, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; i++)
        if (usable(perf[i])) {
            ABSA_CUDNN(cudnnGetConvolutionBackwardFilterWorkspaceSize(g->cudnn, d.x, d.y, d.conv,
                                                                      d.w, perf[i].algo, ws));
            return perf[i].algo;
        }
    ABSA_ABORT("cuDNN offers no deterministic FMA backward-filter algorithm");
}

/* y (N x O x P) += b[o] */
template <typename T> __global__ void k_add_bias(size_t total, int O, int P, const T *b, T *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[(i / P) % O];
}

/* db[o] += sum over n, p of dy (N x O x P); one block per channel, double, fixed tree */
template <typename T> __global__ void k_bias_grad(int N, int O, int P, const T *dy, T *db)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    const int o = blockIdx.x;
    double v[1] = {0};
    const size_t n = (size_t)N * P;
    for (size_t i = threadIdx.x; i < n; i += ABSA_GPU_THREADS)
        v[0] += (double)dy[((i / P) * O + o) * P + i % P];
    absa_block_sum<1>(v, sh);
    if (threadIdx.x == 0) db[o] += (T)v[0];
}

template <typename T> struct conv_run {
    absa_gpu_ctx *g;
    const absa_conv_cfg *c;
    conv_desc d;
    conv_run(absa_gpu_ctx *g_, const absa_conv_cfg *c_) : g(g_), c(c_)
    {
        ABSA_CUDNN(conv_desc_make(&d, c, cudnn_type<T>::v));
    }
    ~conv_run() { conv_desc_free(&d); }
    size_t ysize() const { return (size_t)c->N * c->O * c->Ho * c->Wo; }
    void fwd(const T *x, const T *W, T *y, T beta)
    {
        size_t wsb = 0;
        cudnnConvolutionFwdAlgo_t a = pick_fwd(g, d, &wsb);
        void *ws = absa_gpu_workspace(g, wsb);
        const T one = 1;
        ABSA_CUDNN(cudnnConvolutionForward(g->cudnn, &one, d.x, x, d.w, W, d.conv, a, ws, wsb, &beta,
                                           d.y, y));
    }
    void bwd_data(const T *W, const T *dy, T *dx, T beta)
    {
        size_t wsb = 0;
        cudnnConvolutionBwdDataAlgo_t a = pick_bwd_data(g, d, &wsb);
        void *ws = absa_gpu_workspace(g, wsb);
        const T one = 1;
        ABSA_CUDNN(cudnnConvolutionBackwardData(g->cudnn, &one, d.w, W, d.y, dy, d.conv, a, ws, wsb,
                                                &beta, d.x, dx));
    }
    void bwd_filter(const T *x, const T *dy, T *dW)
    {
        size_t wsb = 0;
        cudnnConvolutionBwdFilterAlgo_t a = pick_bwd_filter(g, d, &wsb);
        void *ws = absa_gpu_workspace(g, wsb);
        const T one = 1;
        ABSA_CUDNN(cudnnConvolutionBackwardFilter(g->cudnn, &one, d.x, x, d.y, dy, d.conv, a, ws,
                                                  wsb, &one, d.w, dW));
    }
    void add_bias(const T *b, T *y)
    {
        const size_t n = ysize();
        k_add_bias<T><<<absa_gpu_blocks(n), ABSA_GPU_THREADS, 0, g->stream>>>(
            n, c->O, c->Ho * c->Wo, b, y);
        ABSA_LAUNCHED();
    }
    void bias_grad(const T *dy, T *db)
    {
        k_bias_grad<T><<<c->O, ABSA_GPU_THREADS, 0, g->stream>>>(c->N, c->O, c->Ho * c->Wo, dy, db);
        ABSA_LAUNCHED();
    }
};

template <typename T>
void conv_forward(absa_gpu_ctx *g, const absa_conv_cfg *c, const T *x, const T *W, const T *b, T *y)
{
    conv_run<T> r(g, c);
    r.fwd(x, W, y, 0);
    if (c->has_bias && b) r.add_bias(b, y);
}

template <typename T>
void conv_backward(absa_gpu_ctx *g, const absa_conv_cfg *c, const T *x, const T *W, const T *dy,
                   T *dx, T *dW, T *db)
{
    conv_run<T> r(g, c);
    if (dx) r.bwd_data(W, dy, dx, c->dx_set ? 0 : 1);
    if (dW) r.bwd_filter(x, dy, dW);
    if (db && c->has_bias) r.bias_grad(dy, db);
}

template <typename T>
void conv_rforward(absa_gpu_ctx *g, const absa_conv_cfg *c, const T *x, const T *Rx, const T *W,
                   const T *V, const T *Vb, T *Ry)
{
    conv_run<T> r(g, c);
    r.fwd(x, V, Ry, 0);
    if (Rx) r.fwd(Rx, W, Ry, 1);
    if (c->has_bias && Vb) r.add_bias(Vb, Ry);
}

template <typename T>
void conv_rbackward(absa_gpu_ctx *g, const absa_conv_cfg *c, const T *x, const T *Rx, const T *W,
                    const T *V, const T *dy, const T *Rdy, T *Rdx, T *RdW, T *Rdb)
{
    conv_run<T> r(g, c);
    if (Rdx) {
        r.bwd_data(V, dy, Rdx, c->dx_set ? 0 : 1);
        if (Rdy) r.bwd_data(W, Rdy, Rdx, 1);
    }
    if (RdW) {
        if (Rdy) r.bwd_filter(x, Rdy, RdW);
        if (Rx) r.bwd_filter(Rx, dy, RdW);
    }
    if (Rdb && Rdy && c->has_bias) r.bias_grad(Rdy, Rdb);
}

} // namespace

#define ABSA_GPU_CONV_DEFS(T, SFX)                                                             \
    extern "C" void absa_gpu_conv2d_forward_##SFX(absa_gpu_ctx *g, const absa_conv_cfg *c,     \
                                                  const T *x, const T *W, const T *b, T *y)    \
    {                                                                                          \
        conv_forward<T>(g, c, x, W, b, y);                                                     \
    }                                                                                          \
    extern "C" void absa_gpu_conv2d_backward_##SFX(absa_gpu_ctx *g, const absa_conv_cfg *c,    \
                                                   const T *x, const T *W, const T *dy, T *dx, \
                                                   T *dW, T *db)                               \
    {                                                                                          \
        conv_backward<T>(g, c, x, W, dy, dx, dW, db);                                          \
    }                                                                                          \
    extern "C" void absa_gpu_conv2d_rforward_##SFX(absa_gpu_ctx *g, const absa_conv_cfg *c,    \
                                                   const T *x, const T *Rx, const T *W,        \
                                                   const T *V, const T *Vb, T *Ry)             \
    {                                                                                          \
        conv_rforward<T>(g, c, x, Rx, W, V, Vb, Ry);                                           \
    }                                                                                          \
    extern "C" void absa_gpu_conv2d_rbackward_##SFX(                                           \
        absa_gpu_ctx *g, const absa_conv_cfg *c, const T *x, const T *Rx, const T *W,          \
        const T *V, const T *dy, const T *Rdy, T *Rdx, T *RdW, T *Rdb)                         \
    {                                                                                          \
        conv_rbackward<T>(g, c, x, Rx, W, V, dy, Rdy, Rdx, RdW, Rdb);                          \
    }
ABSA_GPU_CONV_DEFS(float, f32)
ABSA_GPU_CONV_DEFS(double, f64)

extern "C" absa_status absa_gpu_conv_out_dims(const absa_conv_cfg *c, int *n, int *o, int *h, int *w)
{
    absa_status status = ABSA_OK;
    conv_desc d;
    cudnnStatus_t e = conv_desc_make(&d, c, CUDNN_DATA_FLOAT);
    if (e == CUDNN_STATUS_SUCCESS)
        e = cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, n, o, h, w);
    conv_desc_free(&d);
    if (e != CUDNN_STATUS_SUCCESS)
        ABSA_FAIL(ABSA_EINVAL, "cuDNN convolution descriptors: %s", cudnnGetErrorString(e));
cleanup:
    return status;
}
