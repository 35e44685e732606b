/* backend_cuda.c — the CUDA backend: the backend table of src/engine/backend.h filled with the launchers
 * of gpu_layers.h (cuDNN conv, cuBLAS linear, own kernels), device memory through gpu_ctx.h, and
 * the vector operations, SGD, loss and BN-statistics entries on the GPU (the layer passes are
 * backend_cuda_ops.c's op table). Every buffer the engine
 * gets from this backend is device memory; labels arrive in host memory and are uploaded per call
 * (N ints). Large host-to-device copies (the batches) go through two pinned staging buffers and
 * a copy stream (cudaMemcpyAsync, ordered by events), so the host does not wait for them. The
 * allreduce entry stages the buffer through host memory for the distributed layer's (MPI)
 * function; the exact sums reach NCCL through src/dist/dist_nccl.c, which uses the `stream` and
 * `device_id` entries (docs/gpu.md).
 * Device: "cuda" (the GPU of the node-local index the registry passes, modulo the device count:
 * device_pick.h) or "cuda:N". No device: a one-line error from absa_backend_open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.h"
#include "device_pick.h"
#include "model.h"

/* pinned staging of host-to-device copies of at least this many bytes */
#define PIN_MIN_BYTES ((size_t)64 << 10)

static void cu_check(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) ABSA_ABORT("%s: %s", what, cudaGetErrorString(e));
}

/* zero-filled like the CPU backend's memory, so that nothing depends on what a fresh buffer holds */
static void *cu_alloc(absa_backend *be, size_t bytes)
{
    void *p = NULL;
    if (absa_gpu_try_malloc(&p, bytes ? bytes : 1) != ABSA_OK) return NULL;
    absa_gpu_memset0(G(be), p, bytes ? bytes : 1);
    return p;
}
static void cu_free(absa_backend *be, void *p)
{
    cuda_be *c = be->ctx;
    for (int i = 0; i < 2; i++) /* a later buffer at the same address has no retirement yet */
        if (p && c->ret[i].p == p) c->ret[i].p = NULL, c->ret[i].armed = 0;
    absa_gpu_free(p);
}
static void cu_zero(absa_backend *be, void *p, size_t bytes) { absa_gpu_memset0(G(be), p, bytes); }
static void cu_to_host(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    absa_gpu_download(G(be), dst, src, bytes);
}
/* Small copies: synchronous. Large ones (batches): copied into a pinned slot (after that slot's
 * previous copy finished), then cudaMemcpyAsync on the copy stream, which first waits for the
 * compute stream's queued work (it may still read dst); the compute stream waits for the copy's
 * event before anything after it. The host returns as soon as src is in pinned memory (src may be
 * reused at once), so the transfer overlaps the host's next work (the next batch's fetch and
 * augmentation) and the compute queue is never stalled by a pageable copy. */
/* The pinned, asynchronous copy of cu_from_host and cu_copy_input. after: the event the copy
 * waits for (the last reader of dst's old contents); NULL: everything queued on the compute
 * stream so far. */
static void copy_async(cuda_be *c, void *dst, const void *src, size_t bytes, cudaEvent_t after)
{
    const int k = c->next;
    c->next ^= 1;
    cu_check(cudaEventSynchronize(c->slot_done[k]), "cudaEventSynchronize (pinned slot)");
    if (bytes > c->pin_cap[k]) {
        if (c->pin[k]) cu_check(cudaFreeHost(c->pin[k]), "cudaFreeHost");
        c->pin[k] = NULL;
        c->pin_cap[k] = 0;
        if (cudaHostAlloc(&c->pin[k], bytes, cudaHostAllocDefault) != cudaSuccess) {
            (void)cudaGetLastError(); /* no pinned memory: this copy is synchronous */
            c->pin[k] = NULL;
            absa_gpu_upload(&c->g, dst, src, bytes);
            return;
        }
        c->pin_cap[k] = bytes;
    }
    memcpy(c->pin[k], src, bytes);
    if (!after) {
        cu_check(cudaEventRecord(c->queued, c->g.stream), "cudaEventRecord");
        after = c->queued;
    }
    cu_check(cudaStreamWaitEvent(c->copy, after, 0), "cudaStreamWaitEvent");
    cu_check(cudaMemcpyAsync(dst, c->pin[k], bytes, cudaMemcpyHostToDevice, c->copy), "cudaMemcpyAsync");
    cu_check(cudaEventRecord(c->slot_done[k], c->copy), "cudaEventRecord");
    cu_check(cudaStreamWaitEvent(c->g.stream, c->slot_done[k], 0), "cudaStreamWaitEvent");
}

static void cu_from_host(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_be *c = be->ctx;
    if (!c->copy || bytes < PIN_MIN_BYTES) {
        absa_gpu_upload(&c->g, dst, src, bytes);
        return;
    }
    copy_async(c, dst, src, bytes, NULL);
}

/* The slot of ret[] that holds p, or a free one (p == NULL: -1). Only the model's two input
 * buffers are ever retired, so two slots suffice; a third pointer takes a slot not holding keep. */
static int ret_slot(cuda_be *c, const void *p, const void *keep)
{
    if (!p) return -1;
    for (int i = 0; i < 2; i++)
        if (c->ret[i].p == p) return i;
    const int i = (c->ret[0].p && c->ret[0].p == keep) ? 1 : 0;
    c->ret[i].p = p;
    c->ret[i].armed = 0;
    return i;
}

/* backend.h copy_input: retire the other buffer (an event after the work queued so far, which
 * includes every reader of the previous batch), then copy the batch into dst after dst's own
 * retirement, i.e. after the batch before the previous one: the copy overlaps the previous
 * batch's kernels. The compute stream waits for the copy before the forward that reads it. */
static void cu_copy_input(absa_backend *be, void *dst, const void *src, size_t bytes, const void *retired)
{
    cuda_be *c = be->ctx;
    if (!c->copy || bytes < PIN_MIN_BYTES) { /* synchronous: ordered on the compute stream */
        absa_gpu_upload(&c->g, dst, src, bytes);
        return;
    }
    const int r = ret_slot(c, retired, dst);
    if (r >= 0) {
        cu_check(cudaEventRecord(c->ret[r].ev, c->g.stream), "cudaEventRecord (retired input)");
        c->ret[r].armed = 1;
    }
    const int d = ret_slot(c, dst, retired);
    ABSA_ASSERT(d >= 0, "copy_input: no destination");
    /* never retired (a fresh buffer, still being zeroed on the compute stream): after everything */
    copy_async(c, dst, src, bytes, c->ret[d].armed ? c->ret[d].ev : NULL);
    c->ret[d].armed = 0; /* live again until the model retires it */
}

static void upload_start(cuda_be *c)
{
    c->copy = NULL;
    if (cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking) != cudaSuccess) goto sync_only;
    if (cudaEventCreateWithFlags(&c->queued, cudaEventDisableTiming) != cudaSuccess) goto sync_only;
    for (int k = 0; k < 2; k++)
        if (cudaEventCreateWithFlags(&c->slot_done[k], cudaEventDisableTiming) != cudaSuccess ||
            cudaEventCreateWithFlags(&c->ret[k].ev, cudaEventDisableTiming) != cudaSuccess)
            goto sync_only;
    return;
sync_only: /* e.g. out of resources: uploads stay synchronous (correct, slower) */
    (void)cudaGetLastError();
    if (c->copy) cudaStreamDestroy(c->copy);
    c->copy = NULL;
}

static void upload_stop(cuda_be *c)
{
    if (!c->copy) return;
    cu_check(cudaStreamSynchronize(c->copy), "cudaStreamSynchronize (copy stream)");
    for (int k = 0; k < 2; k++) {
        if (c->pin[k]) cudaFreeHost(c->pin[k]);
        cudaEventDestroy(c->slot_done[k]);
        cudaEventDestroy(c->ret[k].ev);
    }
    cudaEventDestroy(c->queued);
    cudaStreamDestroy(c->copy);
    c->copy = NULL;
}
static void cu_copy(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    if (dst != src) absa_gpu_copy(G(be), dst, src, bytes);
}
static double cu_dot(absa_backend *be, size_t n, const float *a, const float *b)
{
    return absa_gpu_dot_f32(G(be), n, a, b);
}
static void cu_axpy(absa_backend *be, size_t n, float alpha, const float *x, float *y)
{
    absa_gpu_axpy_f32(G(be), n, alpha, x, y);
}
static void cu_scale(absa_backend *be, size_t n, float *a, float s) { absa_gpu_scale_f32(G(be), n, s, a); }
static void cu_sgd(absa_backend *be, size_t n, float *w, const float *g, float *mom, const absa_sgd_args *a)
{
    absa_gpu_sgd_step_f32(G(be), n, w, g, mom, a->lr, a->momentum, a->damp, a->weight_decay, a->nesterov,
                          a->first, a->use_mom);
}

static const int32_t *labels_up(absa_backend *be, int N, const int32_t *labels)
{
    cuda_be *c = be->ctx;
    if (N > c->labels_cap) {
        absa_gpu_free(c->labels);
        c->labels = absa_gpu_malloc((size_t)N * sizeof(int32_t));
        c->labels_cap = N;
    }
    absa_gpu_upload(&c->g, c->labels, labels, (size_t)N * sizeof(int32_t));
    return c->labels;
}
static double cu_xent_forward(absa_backend *be, int N, int K, const float *z, const int32_t *labels, float *p)
{
    return absa_gpu_xent_forward_f32(G(be), N, K, z, labels_up(be, N, labels), p);
}
static void cu_xent_backward(absa_backend *be, int N, int K, const float *p, const int32_t *labels,
                             double scale, float *dz)
{
    absa_gpu_xent_backward_f32(G(be), N, K, p, labels_up(be, N, labels), scale, dz);
}
static void cu_xent_rbackward(absa_backend *be, int N, int K, const float *p, const float *Rz, double scale,
                              float *Rdz)
{
    absa_gpu_xent_rbackward_f32(G(be), N, K, p, Rz, scale, Rdz);
}

/* BN running statistics over ranks: small (two floats per channel), done on the host */
static void cu_bn_accumulate(absa_backend *be, size_t n, double w, const float *bufs, double *acc)
{
    float *h = absa_xcalloc(n ? n : 1, sizeof(float));
    absa_gpu_download(G(be), h, bufs, n * sizeof(float));
    for (size_t i = 0; i < n; i++) acc[i] += w * h[i];
    free(h);
}
static void cu_bn_merge(absa_backend *be, size_t n, double decay, const float *bn0, const double *acc,
                        float *bufs)
{
    float *h = absa_xcalloc(n ? n : 1, sizeof(float));
    absa_gpu_download(G(be), h, bn0, n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = (float)(decay * h[i] + acc[i]);
    absa_gpu_upload(G(be), bufs, h, n * sizeof(float));
    free(h);
}
/* the MPI host path (NCCL: docs/gpu.md) */
static void cu_allreduce(absa_backend *be, float *buf, size_t n, absa_reduce_fn fn, void *ctx)
{
    float *h = absa_xcalloc(n, sizeof(float));
    absa_gpu_download(G(be), h, buf, n * sizeof(float));
    fn(ctx, h, n);
    absa_gpu_upload(G(be), buf, h, n * sizeof(float));
    free(h);
}
/* the exact gradient sums on the device (gpu/xl.cu, backend.h xl_*) */
static void cu_xl_add(absa_backend *be, int64_t *l, const float *x, size_t n, double limit)
{
    cuda_be *c = be->ctx;
    absa_gpu_xl_add_f32(&c->g, n, l, x, limit, c->xl_bad);
}
static int cu_xl_bad(absa_backend *be)
{
    cuda_be *c = be->ctx;
    int bad = 0;
    absa_gpu_download(&c->g, &bad, c->xl_bad, sizeof bad);
    if (bad) absa_gpu_memset0(&c->g, c->xl_bad, sizeof bad);
    return bad;
}
static void cu_xl_get(absa_backend *be, const int64_t *l, float *out, size_t n)
{
    cuda_be *c = be->ctx;
    absa_gpu_xl_get_f32(&c->g, n, l, out);
}
static void cu_sync(absa_backend *be) { absa_gpu_sync(G(be)); }
static void *cu_stream(absa_backend *be) { return (void *)G(be)->stream; }
static void cu_device_id(absa_backend *be, char *buf, size_t len)
{
    if (cudaDeviceGetPCIBusId(buf, (int)len, G(be)->device) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, len, "cuda:%d", G(be)->device);
    }
}
static void cu_destroy(absa_backend *be)
{
    cuda_be *c = be->ctx;
    if (!c) return;
    upload_stop(c);
    absa_gpu_free(c->labels);
    absa_gpu_free(c->xl_bad);
    absa_gpu_ctx_destroy(&c->g);
    free(c);
    be->ctx = NULL;
}

int absa_backend_cuda_count(void) { return absa_gpu_device_count(); }

absa_status absa_backend_cuda_fill(absa_backend *be, const char *device, int local_index)
{
    absa_status status = ABSA_OK;
    int explicit_n = -1;
    ABSA_TRY(absa_cuda_parse(device, &explicit_n));
    const int dev = absa_cuda_pick(local_index, explicit_n >= 0 ? 0 : absa_gpu_device_count(), explicit_n);
    cuda_be *c = absa_xcalloc(1, sizeof *c);
    status = absa_gpu_ctx_create(&c->g, dev);
    if (status != ABSA_OK) {
        free(c);
        goto cleanup;
    }
    if (absa_gpu_try_malloc((void **)&c->xl_bad, sizeof(int)) != ABSA_OK) {
        absa_gpu_ctx_destroy(&c->g);
        free(c);
        status = ABSA_ENOMEM;
        goto cleanup;
    }
    absa_gpu_memset0(&c->g, c->xl_bad, sizeof(int));
    upload_start(c);
    *be = (absa_backend){
        .name = "cuda",
        .device = dev,
        .ctx = c,
        .ops = absa_cuda_ops,
        .alloc = cu_alloc,
        .free = cu_free,
        .zero = cu_zero,
        .copy_to_host = cu_to_host,
        .copy_from_host = cu_from_host,
        .copy_input = cu_copy_input,
        .xl_add_f32 = cu_xl_add,
        .xl_bad = cu_xl_bad,
        .xl_get_f32 = cu_xl_get,
        .copy = cu_copy,
        .dot = cu_dot,
        .axpy = cu_axpy,
        .scale = cu_scale,
        .sgd = cu_sgd,
        .xent_forward = cu_xent_forward,
        .xent_backward = cu_xent_backward,
        .xent_rbackward = cu_xent_rbackward,
        .bn_accumulate = cu_bn_accumulate,
        .bn_merge = cu_bn_merge,
        .allreduce = cu_allreduce,
        .sync = cu_sync,
        .stream = cu_stream,
        .device_id = cu_device_id,
        .destroy = cu_destroy,
    };
cleanup:
    return status;
}
