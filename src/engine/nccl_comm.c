/* nccl_comm.c — the NCCL rebuild-on-growth state machine (see nccl_comm.h). Pure C over two
 * function tables: no NCCL, CUDA or MPI header, so it is unit-tested with fakes everywhere. */
#include "nccl_comm.h"

#include <stdio.h>
#include <string.h>

void absa_nccl_init(absa_nccl *c, const absa_nccl_ops *ops, const absa_nccl_host_ops *host)
{
    memset(c, 0, sizeof *c);
    c->ops = *ops;
    c->host = *host;
    c->state = ABSA_NCCL_HOST;
}

static const char *nccl_err(const absa_nccl *c, int code)
{
    return c->ops.error_string ? c->ops.error_string(c->ops.self, code) : "error";
}

static void drop(absa_nccl *c, void **comm, int abort_it)
{
    if (!*comm) return;
    if (abort_it) c->ops.abort(c->ops.self, *comm);
    else c->ops.destroy(c->ops.self, *comm);
    *comm = NULL;
}

absa_status absa_nccl_grow(absa_nccl *c, int rank, int nranks, int shared_gpu)
{
    absa_status status = ABSA_OK;
    ABSA_ASSERT(nranks >= 1 && rank >= 0 && rank < nranks, "nccl: rank %d of %d", rank, nranks);
    if (c->state == ABSA_NCCL_FAILED) goto cleanup; /* stays on the host path */
    /* a growth while the previous init is still running: that one is obsolete */
    if (c->next) drop(c, &c->next, 1);
    int any_shared = shared_gpu ? 0 : 1; /* min over ranks: 0 when some rank shares */
    if (c->host.allreduce_min_int(c->host.self, &any_shared))
        ABSA_FAIL(ABSA_ESPAWN, "nccl: host reduction of the shared-GPU flags failed");
    if (!any_shared) {
        drop(c, &c->comm, 0);
        c->state = ABSA_NCCL_SHARED_GPU;
        c->rank = rank;
        c->nranks = nranks;
        snprintf(c->reason, sizeof c->reason,
                 "%d ranks share a GPU: NCCL needs one GPU per rank, reductions go through MPI "
                 "host memory", nranks);
        goto cleanup;
    }
    absa_nccl_id id;
    memset(&id, 0, sizeof id);
    int rc = 0;
    if (rank == 0) rc = c->ops.get_unique_id(c->ops.self, &id);
    /* a failed id on rank 0 still broadcasts (zeros) so that nobody waits; every rank then
     * learns of the failure from the flag below */
    int ok = rc == 0;
    const double t0 = c->host.now(c->host.self);
    if (c->host.allreduce_min_int(c->host.self, &ok))
        ABSA_FAIL(ABSA_ESPAWN, "nccl: host reduction failed");
    if (c->host.bcast(c->host.self, &id, sizeof id, 0))
        ABSA_FAIL(ABSA_ESPAWN, "nccl: broadcast of the unique id failed");
    c->last.bcast_s = c->host.now(c->host.self) - t0;
    if (!ok) {
        c->state = ABSA_NCCL_FAILED;
        snprintf(c->reason, sizeof c->reason, "ncclGetUniqueId failed on rank 0: host path");
        drop(c, &c->comm, 0);
        goto cleanup;
    }
    c->t_start = c->host.now(c->host.self);
    rc = c->ops.init_start(c->ops.self, &c->next, nranks, &id, rank);
    if (rc) {
        /* the others find out at the next poll (min over the ready flags) */
        snprintf(c->reason, sizeof c->reason, "ncclCommInitRankConfig on rank %d: %s", rank,
                 nccl_err(c, rc));
        c->next = NULL;
        c->state = ABSA_NCCL_PENDING;
        c->rank = rank;
        c->nranks = nranks;
        c->last.polls = 0;
        c->last.init_s = -1; /* marks a failed start for the poll */
        goto cleanup;
    }
    c->state = ABSA_NCCL_PENDING;
    c->rank = rank;
    c->nranks = nranks;
    c->last.polls = 0;
    c->last.init_s = 0;
cleanup:
    return status;
}

int absa_nccl_poll(absa_nccl *c)
{
    if (c->state != ABSA_NCCL_PENDING) return absa_nccl_use_device(c);
    /* local state: 1 ready, 0 in progress, -1 failed */
    int local = -1;
    if (c->next) {
        int ready = 0;
        const int rc = c->ops.poll(c->ops.self, c->next, &ready);
        if (rc) snprintf(c->reason, sizeof c->reason, "NCCL init on rank %d: %s", c->rank, nccl_err(c, rc));
        local = rc ? -1 : ready;
    }
    c->last.polls++;
    /* min over ranks: -1 if any failed, 0 if any still in progress, 1 when all are ready */
    int all = local;
    if (c->host.allreduce_min_int(c->host.self, &all))
        ABSA_ABORT("nccl: host reduction failed while polling the communicator");
    if (all < 0) {
        drop(c, &c->next, 1);
        drop(c, &c->comm, 0);
        c->state = ABSA_NCCL_FAILED;
        if (local >= 0) snprintf(c->reason, sizeof c->reason, "NCCL init failed on another rank");
        return 0;
    }
    if (all == 0) return 0;
    c->last.init_s = c->host.now(c->host.self) - c->t_start;
    const double t0 = c->host.now(c->host.self);
    drop(c, &c->comm, 0);
    c->last.destroy_s = c->host.now(c->host.self) - t0;
    c->comm = c->next;
    c->next = NULL;
    c->state = ABSA_NCCL_READY;
    c->generation++;
    return 1;
}

absa_status absa_nccl_allreduce_sum(absa_nccl *c, const void *send, void *recv, size_t count,
                                    int type, void *stream)
{
    absa_status status = ABSA_OK;
    ABSA_ASSERT(c->state == ABSA_NCCL_READY, "nccl: allreduce without a ready communicator");
    const int rc = c->ops.allreduce_sum(c->ops.self, c->comm, send, recv, count, type, stream);
    if (rc) ABSA_FAIL(ABSA_EINVAL, "ncclAllReduce: %s", nccl_err(c, rc));
cleanup:
    return status;
}

int absa_nccl_use_device(const absa_nccl *c) { return c->state == ABSA_NCCL_READY; }

void absa_nccl_describe(const absa_nccl *c, char *buf, size_t len)
{
    switch (c->state) {
    case ABSA_NCCL_READY:
        snprintf(buf, len, "nccl: ready, %d ranks, generation %d (init %.3f s, destroy %.3f s)",
                 c->nranks, c->generation, c->last.init_s, c->last.destroy_s);
        break;
    case ABSA_NCCL_PENDING:
        snprintf(buf, len, "nccl: %d-rank communicator initialising, host path meanwhile", c->nranks);
        break;
    case ABSA_NCCL_SHARED_GPU:
    case ABSA_NCCL_FAILED: snprintf(buf, len, "nccl: host path: %s", c->reason); break;
    case ABSA_NCCL_HOST: snprintf(buf, len, "nccl: no communicator yet, host path"); break;
    }
}

void absa_nccl_free(absa_nccl *c)
{
    drop(c, &c->next, 1);
    drop(c, &c->comm, 0);
    c->state = ABSA_NCCL_HOST;
}
