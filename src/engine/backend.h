/* backend.h — the seam between the engine and the hardware: a backend owns the memory of a model
 * (parameters, gradients, v, Hv, momentum, batch-norm buffers, activations, workspace) and every
 * operation on it: the four passes of every layer op (the op table, generated from
 * engine_ops.def), copies between host and backend memory, the vector operations the method layer
 * needs, the SGD update, the loss, the batch-norm running-statistics merge, and the allreduce
 * entry that the distributed layer fills. Code above the engine never dereferences a backend
 * buffer: it asks the backend (absa_backend_* / absa_be_* below).
 *
 * Backends: "cpu" (backend_cpu.c, the specification) and "cpu-guarded" (backend_guarded.c: the
 * CPU kernels, but every buffer is mprotect(PROT_NONE) outside backend calls, so host code that
 * touches backend memory crashes in the tests); in CUDA builds "cuda" / "cuda:N"
 * (gpu/backend_cuda.c, docs/gpu.md). Adding a backend: docs/engine.md. */
#ifndef ABSA_BACKEND_H
#define ABSA_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "absa_error.h"

struct absa_model;
struct absa_node;

/* absa_op: one value per line of engine_ops.def, in that order. */
typedef enum absa_op {
#define ABSA_ENGINE_OP(E, name, flags) ABSA_OP_##E,
#include "engine_ops.def"
#undef ABSA_ENGINE_OP
    ABSA_OP_COUNT
} absa_op;

/* op flags (engine_ops.def) */
enum {
    ABSA_OPF_SETS_DX = 1u,   /* backward / R-backward can overwrite dx / Rdx (first writer) */
    ABSA_OPF_ALIAS = 2u,     /* no kernels: the output buffers are the producer's */
    ABSA_OPF_WORKSPACE = 4u  /* needs scratch: the workspace slot is set */
};

/* One pass of one node, prepared by the executor (model_exec.c). */
typedef struct absa_pass {
    struct absa_model *m;
    struct absa_node *n;       /* the node */
    const struct absa_node *p; /* its first producer */
    int N;                     /* batch */
    int train;                 /* BN: batch statistics (forward flag; later passes: the last forward's) */
    int update_running;        /* forward: update the BN running statistics */
    float *g;                  /* backward: parameter-gradient arena (NULL = none); R-backward: Hv arena */
    float *dx;                 /* backward: producer's dy; R-backward: producer's Rdy (NULL = not needed) */
    int setx;                  /* overwrite dx instead of += (only for ABSA_OPF_SETS_DX ops) */
    float *dq;                 /* two-input ops: the second producer's dy / Rdy (NULL = not needed) */
    int setq;
    const float *Rx;           /* R passes: producer's Ry (NULL = zero: the input node) */
} absa_pass;

typedef void (*absa_op_pass_fn)(const absa_pass *p);

/* The per-op table: one entry per engine op. */
typedef struct absa_op_ops {
    const char *name;
    unsigned flags;
    absa_op_pass_fn forward;   /* y = f(x) (overwrites) */
    absa_op_pass_fn backward;  /* dx (+)= ..., parameter gradients += ... into p->g */
    absa_op_pass_fn rforward;  /* Ry (overwrites) */
    absa_op_pass_fn rbackward; /* Rdx (+)= ..., Hv slice += ... into p->g */
    /* (optional) scratch floats needed by any pass of node n at batch N */
    size_t (*workspace)(const struct absa_model *m, const struct absa_node *n, int N);
} absa_op_ops;

/* SGD update arguments (PyTorch semantics, optim.c) */
typedef struct absa_sgd_args {
    float lr, momentum, weight_decay, damp; /* damp = 1 - dampening */
    int first, nesterov, use_mom;
} absa_sgd_args;

/* The allreduce entry of the distributed layer: sum buf[0..n) over the ranks, in place, in host
 * memory (absa_dist_allreduce_f32 with ctx = the absa_dist). */
typedef void (*absa_reduce_fn)(void *ctx, float *host_buf, size_t n);

typedef struct absa_backend absa_backend;

struct absa_backend {
    const char *name;
    int device;                /* cuda: the GPU's number (the test fallback: the one it would take) */
    void *ctx;                 /* the backend's own state (guarded: its allocation list) */
    int xl_flag;               /* xl.c's sticky "bad addend" flag (host-memory xl entries) */
    const absa_op_ops *ops;    /* ABSA_OP_COUNT entries, indexed by absa_op */
    /* memory; sizes in bytes. alloc returns NULL on failure, contents undefined */
    void *(*alloc)(absa_backend *be, size_t bytes);
    void (*free)(absa_backend *be, void *buf); /* NULL is a no-op */
    void (*zero)(absa_backend *be, void *buf, size_t bytes);
    void (*copy_to_host)(absa_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy_from_host)(absa_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*copy)(absa_backend *be, void *dst, const void *src, size_t bytes); /* backend to backend */
    /* (optional) a double-buffered input: copy a batch into dst while the kernels of the previous
     * batch may still read `retired`, the buffer the model stops reading now (the model's other
     * input buffer; NULL: none yet). The backend orders the copy after the last reader of dst's old
     * contents, i.e. after the work queued before dst was retired, and not after the work queued on
     * `retired`, so the copy overlaps the previous batch's compute. NULL: the model keeps one input
     * buffer and uses copy_from_host (host-memory backends: there is nothing to overlap). */
    void (*copy_input)(absa_backend *be, void *dst, const void *host_src, size_t bytes, const void *retired);
    /* vector operations on float buffers (dot: double accumulation, order independent of threads) */
    double (*dot)(absa_backend *be, size_t n, const float *a, const float *b);
    void (*axpy)(absa_backend *be, size_t n, float alpha, const float *x, float *y);
    void (*scale)(absa_backend *be, size_t n, float *a, float s);
    void (*sgd)(absa_backend *be, size_t n, float *w, const float *g, float *mom, const absa_sgd_args *a);
    /* softmax cross-entropy (layers.h); labels are host memory */
    double (*xent_forward)(absa_backend *be, int N, int K, const float *z, const int32_t *labels, float *p);
    void (*xent_backward)(absa_backend *be, int N, int K, const float *p, const int32_t *labels,
                          double scale, float *dz);
    void (*xent_rbackward)(absa_backend *be, int N, int K, const float *p, const float *Rz, double scale,
                           float *Rdz);
    /* batch-norm running statistics over several ranks (model_exec.c, absa_model_bn_merge):
     * acc (host, double) += w * bufs; bufs = decay * bn0 + acc */
    void (*bn_accumulate)(absa_backend *be, size_t n, double w, const float *bufs, double *acc);
    void (*bn_merge)(absa_backend *be, size_t n, double decay, const float *bn0, const double *acc,
                     float *bufs);
    /* sum buf over the ranks with the distributed layer's fn (the backend stages host memory) */
    void (*allreduce)(absa_backend *be, float *buf, size_t n, absa_reduce_fn fn, void *fn_ctx);
    void (*sync)(absa_backend *be);         /* (optional) wait for queued work */
    /* Device reductions (src/dist/dist_nccl.c; both optional, NULL on host-memory backends): the CUDA
     * stream collective libraries (NCCL) enqueue on, and a name of the device unique on its host
     * (CUDA: the PCI bus id) to find ranks that share one. */
    void *(*stream)(absa_backend *be);
    void (*device_id)(absa_backend *be, char *buf, size_t len);
    /* (optional, all three or none) exact gradient sums formed in backend memory, as int64 limbs
     * (src/base/exact_limbs.h; 3 per word): the gradient never leaves the device per micro-batch.
     * xl_add_f32: l[3i..3i+2] += the limbs of x[i]; an addend not finite or of magnitude >= limit
     * adds nothing and sets the backend's sticky flag, which xl_bad returns and clears (it waits for
     * the queued work). xl_get_f32: out[i] = the float of word i (bitwise exact_sum.h's). NULL: the
     * trainer sums a host copy of the gradient with exact_sum.h (the CPU backend: no copy to save). */
    void (*xl_add_f32)(absa_backend *be, int64_t *l, const float *x, size_t n, double limit);
    int (*xl_bad)(absa_backend *be);
    void (*xl_get_f32)(absa_backend *be, const int64_t *l, float *out, size_t n);
    void (*destroy)(absa_backend *be);      /* (optional) release ctx */
};

/* Opening a backend by name is the registry's (src/engine/registry/backend_registry.c, above
 * engine/cpu and gpu/): engine code never calls the four below (names, open, fallback mode,
 * known); it gets the backend in the model.
 * Device names accepted by absa_backend_open ("cpu", "cpu-guarded"), NULL-terminated; it also
 * takes "cuda" and "cuda:N" (absa_backend_known). */
extern const char *const absa_backend_names[];

/* A new backend instance for a device name; ABSA_EINVAL (message recorded) when unknown.
 * TEST ONLY: with ABSA_TEST_CUDA_FALLBACK set (never|fail|ready|shared, absa_cuda_fallback_mode),
 * "cuda" and "cuda:N" open the CPU kernels under the name "cuda" (no GPU needed) and the
 * distributed layer uses a fake NCCL (src/dist/dist_nccl.c) that never becomes ready, fails its init,
 * becomes ready (reducing over MPI) or reports every rank on one GPU. Never for production. */
absa_status absa_backend_open(const char *device, absa_backend **out);
/* The same for a process at node-local index local_index (its rank among the ranks of its node in
 * the merged communicator, device_pick.h): "cuda" takes that index's GPU. local_index < 0: the
 * launcher's local rank (OMPI_COMM_WORLD_LOCAL_RANK; 0 without one); absa_backend_open does so. */
absa_status absa_backend_open_at(const char *device, int local_index, absa_backend **out);
/* The GPU number absa_backend_open_at(device, local_index) would take; -1 when device is not a
 * valid cuda name. Under the fallback the device count is ABSA_TEST_CUDA_DEVICES (TEST ONLY; unset:
 * 1). */
int absa_backend_device_for(const char *device, int local_index);
/* The ABSA_TEST_CUDA_FALLBACK mode: 0 = off, else ABSA_FALLBACK_* (an unknown value aborts). */
enum { ABSA_FALLBACK_OFF = 0, ABSA_FALLBACK_NEVER, ABSA_FALLBACK_FAIL, ABSA_FALLBACK_READY, ABSA_FALLBACK_SHARED };
int absa_cuda_fallback_mode(void);
/* Whether absa_backend_open knows the name (a listed one, "cuda" or "cuda:..."; whether a GPU is
 * there is found out by opening it). */
int absa_backend_known(const char *device);

/* Release a backend from absa_backend_open (NULL is a no-op). */
static inline void absa_backend_close(absa_backend *be)
{
    if (!be) return;
    if (be->destroy) be->destroy(be);
    free(be);
}

/* Filled tables (backend_cpu.c, backend_guarded.c; gpu/backend_cuda.c in CUDA builds: device
 * "cuda" = the GPU of the node-local index, device_pick.h, or "cuda:N"; no usable GPU is a
 * one-line error). */
void absa_backend_cpu_fill(absa_backend *be);
absa_status absa_backend_cuda_fill(absa_backend *be, const char *device, int local_index);
int absa_backend_cuda_count(void); /* CUDA builds: the number of usable GPUs (0: none) */
absa_status absa_backend_guarded_fill(absa_backend *be);
/* The xl_* entries on host memory (engine/cpu/xl.c): the guarded backend (wrapped in its
 * fence) and the TEST-ONLY cuda fallback use them, so the CPU tests run the trainer's device-sum
 * path with the arithmetic of gpu/xsum.cu. The flag lives in be->xl_flag. */
void absa_backend_xl_host_fill(absa_backend *be);
/* The cpu backend's allocator (zeroed memory; 2 MiB aligned and advised for transparent huge pages
 * from 4 MiB on, backend_cpu.c); NULL with absa_errorf's message when out of memory. */
void *absa_cpu_alloc_bytes(size_t bytes);
/* The CPU op table (the specification; the guarded backend wraps it). */
extern const absa_op_ops absa_cpu_ops[ABSA_OP_COUNT];

/* Calls through the table (sizes in bytes for copies, elements for vectors). */
static inline void absa_backend_copy_to_host(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes) be->copy_to_host(be, dst, src, bytes);
}
static inline void absa_backend_copy_from_host(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes) be->copy_from_host(be, dst, src, bytes);
}
static inline void absa_be_zero(absa_backend *be, float *a, size_t n)
{
    if (n) be->zero(be, a, n * sizeof(float));
}
static inline void absa_be_copy(absa_backend *be, float *dst, const float *src, size_t n)
{
    if (n && dst != src) be->copy(be, dst, src, n * sizeof(float));
}
static inline double absa_be_dot(absa_backend *be, size_t n, const float *a, const float *b)
{
    return be->dot(be, n, a, b);
}
double absa_be_norm(absa_backend *be, size_t n, const float *a);
static inline void absa_be_axpy(absa_backend *be, size_t n, float alpha, const float *x, float *y)
{
    be->axpy(be, n, alpha, x, y);
}
static inline void absa_be_scale(absa_backend *be, size_t n, float *a, float s) { be->scale(be, n, a, s); }
static inline void absa_be_allreduce(absa_backend *be, float *buf, size_t n, absa_reduce_fn fn, void *ctx)
{
    if (n) be->allreduce(be, buf, n, fn, ctx);
}

#endif
