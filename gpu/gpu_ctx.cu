/* gpu_ctx.cu — the CUDA context (gpu_ctx.h): device probe, stream, cuBLAS/cuDNN handles in
 * strict FP32/FP64 math, workspace and device memory helpers. Only the CUDA runtime is linked
 * (statically), never libcuda: without a driver the probe answers 0 and the binary still runs. */
#include "gpu_common.cuh"

extern "C" int absa_gpu_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the sticky "no driver"/"no device" state */
        return 0;
    }
    return n;
}

extern "C" const char *absa_gpu_unavailable_reason(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    (void)cudaGetLastError();
    if (e == cudaErrorInsufficientDriver) return "no CUDA driver (or one older than the runtime)";
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) return "no CUDA device";
    if (e != cudaSuccess) return cudaGetErrorString(e);
    return "a CUDA device is available";
}

extern "C" absa_status absa_gpu_ctx_create(absa_gpu_ctx *g, int device)
{
    absa_status status = ABSA_OK;
    memset(g, 0, sizeof *g);
    g->device = device;
    const int n = absa_gpu_device_count();
    cudaError_t ce;
    cublasStatus_t be;
    cudnnStatus_t de;
    if (n == 0) ABSA_FAIL(ABSA_EINVAL, "--device cuda: %s", absa_gpu_unavailable_reason());
    if (device < 0 || device >= n)
        ABSA_FAIL(ABSA_EINVAL, "--device cuda:%d: only %d CUDA device(s)", device, n);
    if ((ce = cudaSetDevice(device)) != cudaSuccess ||
        (ce = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (ce = cudaMalloc((void **)&g->scratch, ABSA_GPU_SCRATCH * sizeof(double))) != cudaSuccess ||
        (ce = cudaMalloc((void **)&g->flag, sizeof(int))) != cudaSuccess)
        ABSA_FAIL(ABSA_EINVAL, "CUDA device %d: %s", device, cudaGetErrorString(ce));
    if ((be = cublasCreate(&g->cublas)) != CUBLAS_STATUS_SUCCESS ||
        (be = cublasSetStream(g->cublas, g->stream)) != CUBLAS_STATUS_SUCCESS ||
        (be = cublasSetMathMode(g->cublas, CUBLAS_PEDANTIC_MATH)) != CUBLAS_STATUS_SUCCESS ||
        (be = cublasSetPointerMode(g->cublas, CUBLAS_POINTER_MODE_HOST)) != CUBLAS_STATUS_SUCCESS)
        ABSA_FAIL(ABSA_EINVAL, "cuBLAS on device %d: status %d", device, (int)be);
    if ((de = cudnnCreate(&g->cudnn)) != CUDNN_STATUS_SUCCESS ||
        (de = cudnnSetStream(g->cudnn, g->stream)) != CUDNN_STATUS_SUCCESS)
        ABSA_FAIL(ABSA_EINVAL, "cuDNN on device %d: %s", device, cudnnGetErrorString(de));
cleanup:
    if (status != ABSA_OK) absa_gpu_ctx_destroy(g);
    return status;
}

extern "C" void absa_gpu_ctx_destroy(absa_gpu_ctx *g)
{
    if (g->stream) (void)cudaStreamSynchronize(g->stream);
    if (g->cudnn) cudnnDestroy(g->cudnn);
    if (g->cublas) cublasDestroy(g->cublas);
    if (g->ws) cudaFree(g->ws);
    if (g->scratch) cudaFree(g->scratch);
    if (g->flag) cudaFree(g->flag);
    if (g->stream) cudaStreamDestroy(g->stream);
    memset(g, 0, sizeof *g);
}

extern "C" void *absa_gpu_workspace(absa_gpu_ctx *g, size_t bytes)
{
    if (bytes <= g->ws_bytes) return g->ws;
    ABSA_CUDA(cudaStreamSynchronize(g->stream)); /* the old workspace may still be in use */
    if (g->ws) ABSA_CUDA(cudaFree(g->ws));
    g->ws = NULL;
    g->ws_bytes = 0;
    ABSA_CUDA(cudaMalloc(&g->ws, bytes));
    g->ws_bytes = bytes;
    return g->ws;
}

extern "C" void absa_gpu_sync(absa_gpu_ctx *g) { ABSA_CUDA(cudaStreamSynchronize(g->stream)); }

extern "C" void *absa_gpu_malloc(size_t bytes)
{
    void *p = NULL;
    ABSA_CUDA(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

extern "C" absa_status absa_gpu_try_malloc(void **p, size_t bytes)
{
    absa_status status = ABSA_OK;
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *p = NULL;
        ABSA_FAIL(ABSA_ENOMEM, "CUDA: %zu bytes of device memory: %s", bytes, cudaGetErrorString(e));
    }
cleanup:
    return status;
}

extern "C" void absa_gpu_free(void *p)
{
    if (p) ABSA_CUDA(cudaFree(p));
}

extern "C" void absa_gpu_upload(absa_gpu_ctx *g, void *dst, const void *src, size_t bytes)
{
    ABSA_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g->stream));
    ABSA_CUDA(cudaStreamSynchronize(g->stream)); /* src may be reused by the caller at once */
}

extern "C" void absa_gpu_download(absa_gpu_ctx *g, void *dst, const void *src, size_t bytes)
{
    ABSA_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g->stream));
    ABSA_CUDA(cudaStreamSynchronize(g->stream));
}

extern "C" void absa_gpu_memset0(absa_gpu_ctx *g, void *dst, size_t bytes)
{
    ABSA_CUDA(cudaMemsetAsync(dst, 0, bytes, g->stream));
}

extern "C" void absa_gpu_copy(absa_gpu_ctx *g, void *dst, const void *src, size_t bytes)
{
    ABSA_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g->stream));
}
