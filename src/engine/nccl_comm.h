/* nccl_comm.h — NCCL communicators that follow a growing worker set.
 *
 * NCCL cannot add ranks to a communicator, so every growth builds a new one:
 *   1. absa_nccl_grow (collective over the merged MPI communicator): rank 0 makes a new unique
 *      id, the host table broadcasts it, every rank starts a NON-BLOCKING init of the new
 *      communicator (ncclCommInitRankConfig, config.blocking = 0) and returns at once;
 *   2. until every rank reports the new communicator ready, reductions take the host path (MPI
 *      through host memory): absa_nccl_use_device() says 0;
 *   3. absa_nccl_poll (collective, e.g. once per step) checks the local state
 *      (ncclCommGetAsyncError), agrees on "all ready" with a host min-reduction, and then
 *      switches to the new communicator and destroys the old one. An init error on any rank puts
 *      every rank on the host path for good (the reason is kept for the log).
 * Several ranks on one GPU (NCCL refuses duplicate devices in a communicator): the host path,
 * and absa_nccl_describe says so in one line. Timings (id broadcast, init until all ready,
 * destroy of the old one) are kept for the run's `resize` record.
 *
 * The NCCL and MPI calls go through two small function tables, so the state machine is tested
 * without a GPU or MPI (validation/gpu/test_nccl_state.c fakes both); nccl_ops.c has the real
 * NCCL table. This file needs no CUDA header. */
#ifndef ABSA_NCCL_COMM_H
#define ABSA_NCCL_COMM_H

#include <stddef.h>

#include "absa_error.h"

#define ABSA_NCCL_ID_BYTES 128 /* NCCL_UNIQUE_ID_BYTES */

/* element types of absa_nccl_allreduce_sum (ncclFloat32, ncclFloat64, ncclInt64) */
enum { ABSA_NCCL_F32 = 0, ABSA_NCCL_F64 = 1, ABSA_NCCL_I64 = 2 };

typedef struct absa_nccl_id {
    char bytes[ABSA_NCCL_ID_BYTES];
} absa_nccl_id;

/* the NCCL side; each call returns 0 on success, non-zero (NCCL's code) on failure */
typedef struct absa_nccl_ops {
    int (*get_unique_id)(void *self, absa_nccl_id *id);
    /* start a non-blocking init of rank `rank` of `nranks` on the current device */
    int (*init_start)(void *self, void **comm, int nranks, const absa_nccl_id *id, int rank);
    /* *ready = 1 when the init finished, 0 while in progress; non-zero return: init failed */
    int (*poll)(void *self, void *comm, int *ready);
    int (*destroy)(void *self, void *comm); /* finalize + destroy */
    int (*abort)(void *self, void *comm);   /* a failed or unfinished communicator */
    const char *(*error_string)(void *self, int code);
    /* recv = sum over ranks of send (count elements of `type`, ABSA_NCCL_F32 / F64 / I64) on a
     * CUDA stream */
    int (*allreduce_sum)(void *self, void *comm, const void *send, void *recv, size_t count,
                         int type, void *stream);
    void *self;
} absa_nccl_ops;

/* the host (MPI) side over the merged communicator; 0 on success */
typedef struct absa_nccl_host_ops {
    int (*bcast)(void *self, void *buf, size_t bytes, int root);
    int (*allreduce_min_int)(void *self, int *v); /* in place */
    double (*now)(void *self);                     /* seconds, monotonic */
    void *self;
} absa_nccl_host_ops;

typedef enum absa_nccl_state {
    ABSA_NCCL_HOST = 0,   /* no communicator yet: host path */
    ABSA_NCCL_PENDING,    /* a new communicator is initialising: host path meanwhile */
    ABSA_NCCL_READY,      /* reductions on the device through `comm` */
    ABSA_NCCL_SHARED_GPU, /* several ranks on one GPU: host path for good */
    ABSA_NCCL_FAILED      /* an init failed on some rank: host path for good */
} absa_nccl_state;

typedef struct absa_nccl_timing {
    double bcast_s;   /* unique id broadcast */
    double init_s;    /* from the start of the init until every rank reported ready */
    double destroy_s; /* destroying the previous communicator */
    int polls;        /* collective polls it took */
} absa_nccl_timing;

typedef struct absa_nccl {
    absa_nccl_ops ops;
    absa_nccl_host_ops host;
    absa_nccl_state state;
    void *comm;       /* the communicator reductions use (READY) */
    void *next;       /* the one initialising (PENDING) */
    int rank, nranks; /* of `next` while PENDING, else of `comm` */
    int generation;   /* communicators built so far */
    double t_start;
    absa_nccl_timing last; /* of the latest completed growth */
    char reason[160];      /* why the host path (FAILED / SHARED_GPU) */
} absa_nccl;

void absa_nccl_init(absa_nccl *c, const absa_nccl_ops *ops, const absa_nccl_host_ops *host);
/* Collective over the merged communicator (rank of nranks). shared_gpu: this rank shares its GPU
 * with another rank (any rank's flag puts all on the host path). A failing broadcast is an
 * error (ABSA_ESPAWN); a failing NCCL init start only moves to the host path. */
absa_status absa_nccl_grow(absa_nccl *c, int rank, int nranks, int shared_gpu);
/* Collective: advances PENDING -> READY (destroying the old communicator) once every rank's init
 * is done, or -> FAILED if any failed. Returns whether reductions may use the device now. */
int absa_nccl_poll(absa_nccl *c);
/* Whether reductions go through NCCL now (READY), else the host path. */
int absa_nccl_use_device(const absa_nccl *c);
/* Sum over the ranks on the device (READY only; asynchronous on `stream`); type ABSA_NCCL_*.
 * ABSA_EINVAL with NCCL's message on failure. The exact sums (src/base/exact_sum.h: 128-bit wrapping
 * integers, not a NCCL type) travel as int64 limbs (absa_xsum_to_limbs, ABSA_NCCL_I64;
 * src/dist/dist_nccl.c, docs/gpu.md). */
absa_status absa_nccl_allreduce_sum(absa_nccl *c, const void *send, void *recv, size_t count,
                                    int type, void *stream);
/* One line for the log: "nccl: ready, 4 ranks, generation 3" / "nccl: host path: ..." */
void absa_nccl_describe(const absa_nccl *c, char *buf, size_t len);
/* Destroys every communicator (aborts a pending one). */
void absa_nccl_free(absa_nccl *c);

/* The real NCCL table (nccl_ops.c; built with CUDA only). */
void absa_nccl_real_ops(absa_nccl_ops *ops);

#endif
