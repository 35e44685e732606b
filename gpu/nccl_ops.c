/* nccl_ops.c — the real NCCL table for nccl_comm.c: non-blocking ncclCommInitRankConfig
 * (config.blocking = 0) and ncclCommGetAsyncError polling; finalize + destroy, or abort. */
#include <nccl.h>
#include <string.h>

#include "nccl_comm.h"

_Static_assert(sizeof(ncclUniqueId) == ABSA_NCCL_ID_BYTES, "ncclUniqueId size");

static int real_id(void *self, absa_nccl_id *id)
{
    (void)self;
    ncclUniqueId u;
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r == ncclSuccess) memcpy(id->bytes, &u, sizeof u);
    return (int)r;
}

static int real_init(void *self, void **comm, int nranks, const absa_nccl_id *id, int rank)
{
    (void)self;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclUniqueId u;
    memcpy(&u, id->bytes, sizeof u);
    ncclComm_t c = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&c, nranks, u, rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) return (int)r;
    *comm = c;
    return 0;
}

static int real_poll(void *self, void *comm, int *ready)
{
    (void)self;
    ncclResult_t st = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError((ncclComm_t)comm, &st);
    if (r != ncclSuccess) return (int)r;
    if (st == ncclInProgress) {
        *ready = 0;
        return 0;
    }
    if (st != ncclSuccess) return (int)st;
    *ready = 1;
    return 0;
}

static int real_destroy(void *self, void *comm)
{
    (void)self;
    ncclComm_t c = (ncclComm_t)comm;
    ncclResult_t r = ncclCommFinalize(c);
    ncclResult_t st = ncclInProgress;
    /* non-blocking communicator: finalize completes asynchronously */
    while (r == ncclSuccess && st == ncclInProgress) r = ncclCommGetAsyncError(c, &st);
    ncclResult_t d = ncclCommDestroy(c);
    return (int)(r != ncclSuccess ? r : d);
}

static int real_abort(void *self, void *comm)
{
    (void)self;
    return (int)ncclCommAbort((ncclComm_t)comm);
}

static const char *real_err(void *self, int code)
{
    (void)self;
    return ncclGetErrorString((ncclResult_t)code);
}

static int real_allreduce(void *self, void *comm, const void *send, void *recv, size_t count,
                          int type, void *stream)
{
    (void)self;
    ncclComm_t c = (ncclComm_t)comm;
    const ncclDataType_t t = type == ABSA_NCCL_I64 ? ncclInt64 : type == ABSA_NCCL_F64 ? ncclFloat64 : ncclFloat32;
    ncclResult_t r = ncclAllReduce(send, recv, count, t, ncclSum, c, (cudaStream_t)stream);
    if (r == ncclInProgress) { /* non-blocking communicator: wait for the enqueue */
        ncclResult_t st = ncclInProgress;
        while ((r = ncclCommGetAsyncError(c, &st)) == ncclSuccess && st == ncclInProgress) {
        }
        if (r == ncclSuccess) r = st;
    }
    return (int)r;
}

void absa_nccl_real_ops(absa_nccl_ops *ops)
{
    memset(ops, 0, sizeof *ops);
    ops->get_unique_id = real_id;
    ops->init_start = real_init;
    ops->poll = real_poll;
    ops->destroy = real_destroy;
    ops->abort = real_abort;
    ops->error_string = real_err;
    ops->allreduce_sum = real_allreduce;
}
