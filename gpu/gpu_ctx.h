/* gpu_ctx.h — the CUDA back end's context: one device, one stream, the cuBLAS and cuDNN handles
 * bound to that stream, a growable workspace (cuDNN algorithms) and a small device scratch for
 * scalar results (loss, dot products). Everything the GPU kernels need travels in this struct;
 * gpu/ keeps no other mutable state. A C header (the CUDA, cuBLAS and cuDNN headers are C).
 *
 * Math: cuBLAS in CUBLAS_PEDANTIC_MATH and cuDNN convolutions in CUDNN_FMA_MATH, so no TF32
 * or reduced-precision path is ever taken whatever NVIDIA_TF32_OVERRIDE says. */
#ifndef ABSA_GPU_CTX_H
#define ABSA_GPU_CTX_H

#include <stddef.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "absa_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct absa_gpu_ctx {
    int device;             /* CUDA ordinal */
    cudaStream_t stream;    /* every kernel and library call of this context runs on it */
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    void *ws;               /* workspace (device), ws_bytes long; grown by absa_gpu_workspace */
    size_t ws_bytes;
    double *scratch;        /* ABSA_GPU_SCRATCH doubles (device): reduction partials, scalars */
    int *flag;              /* one device int: kernels report bad input (labels) here */
} absa_gpu_ctx;

#define ABSA_GPU_SCRATCH 1024

/* Number of usable CUDA devices; 0 when there is none or no driver (never fails, never
 * aborts: the CLI calls it to refuse --device cuda with one line). */
int absa_gpu_device_count(void);
/* One line describing why no device is usable ("no CUDA driver", "no CUDA device", ...). */
const char *absa_gpu_unavailable_reason(void);

/* Binds device `device`, creates the stream, handles and scratch. Returns ABSA_EINVAL with a
 * message when the device does not exist or a library fails to start. */
absa_status absa_gpu_ctx_create(absa_gpu_ctx *g, int device);
void absa_gpu_ctx_destroy(absa_gpu_ctx *g);
/* At least `bytes` of workspace (device memory, contents undefined); aborts when out of memory. */
void *absa_gpu_workspace(absa_gpu_ctx *g, size_t bytes);
/* Waits for the context's stream; aborts on an asynchronous kernel error. */
void absa_gpu_sync(absa_gpu_ctx *g);

/* Device memory of the context's device (aborts when out of memory: a bug-tier failure here,
 * the allocator of the back-end table reports it as a status). */
void *absa_gpu_malloc(size_t bytes);
/* The same without aborting: ABSA_ENOMEM with a message (the backend table's alloc). */
absa_status absa_gpu_try_malloc(void **p, size_t bytes);
void absa_gpu_free(void *p);
void absa_gpu_upload(absa_gpu_ctx *g, void *dst, const void *src, size_t bytes);
void absa_gpu_download(absa_gpu_ctx *g, void *dst, const void *src, size_t bytes);
void absa_gpu_memset0(absa_gpu_ctx *g, void *dst, size_t bytes);
/* xl.cu: the exact sums as int64 limbs (src/base/exact_limbs.h); *bad (device int) set to 1 by a
 * bad addend */
void absa_gpu_xl_add_f32(absa_gpu_ctx *g, size_t n, int64_t *l, const float *x, double limit, int *bad);
void absa_gpu_xl_get_f32(absa_gpu_ctx *g, size_t n, const int64_t *l, float *out);
void absa_gpu_copy(absa_gpu_ctx *g, void *dst, const void *src, size_t bytes); /* device to device */

#ifdef __cplusplus
}
#endif
#endif
