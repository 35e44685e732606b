/* backend_cuda.h — what the CUDA backend's two files share (not a public header: the engine
 * reaches the backend through src/engine/backend.h): the backend's context, cuda_be, whose first
 * member is the GPU context of gpu_ctx.h (G(be)), and the op table of backend_cuda_ops.c. */
#ifndef ABSA_BACKEND_CUDA_H
#define ABSA_BACKEND_CUDA_H

#include "backend.h"
#include "gpu_layers.h"

typedef struct cuda_be {
    absa_gpu_ctx g;
    int32_t *labels; /* device copy of the last labels */
    int *xl_bad;     /* device: a bad addend reached the exact sums (xl_add) */
    int labels_cap;
    /* asynchronous uploads: two pinned slots used in turn, each with the event of its last copy */
    cudaStream_t copy;        /* the copy stream (NULL: uploads are synchronous) */
    cudaEvent_t slot_done[2]; /* the slot's last copy has finished: the host may refill it */
    cudaEvent_t queued;       /* the compute stream's work queued before a copy (it may read dst) */
    void *pin[2];
    size_t pin_cap[2];
    int next;
    /* the double-buffered input (copy_input): per input buffer, the compute-stream event recorded
     * when the model retired it (every reader of its contents was queued before that event) */
    struct {
        const void *p;
        cudaEvent_t ev;
        int armed;
    } ret[2];
} cuda_be;

#define G(be) (&((cuda_be *)(be)->ctx)->g)

/* the passes of every op of engine_ops.def (backend_cuda_ops.c) */
extern const absa_op_ops absa_cuda_ops[ABSA_OP_COUNT];

#endif
