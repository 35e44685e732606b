/* dist_nccl.c — device reductions of the distributed layer (see dist_nccl.h, docs/gpu.md): the
 * NCCL rebuild state machine of src/engine/nccl_comm.c driven over the active MPI communicator, and the
 * exact 128-bit sums through NCCL as int64 limbs (exact_sum.h: split, ncclInt64 sum, recombined
 * modulo 2^128: the bits of the MPI 128-bit sum). NCCL is reached only through the absa_nccl_ops
 * table: the real one (gpu/nccl_ops.c, CUDA builds) or, under the TEST-ONLY switch
 * ABSA_TEST_CUDA_FALLBACK (backend.h), a fake whose communicators never become ready, fail
 * their init, become ready and reduce over MPI in host memory, or whose ranks share one GPU. */
#include "dist_nccl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "base_sys.h"
#include "dist_impl.h"
#include "exact_sum.h"
#include "nccl_comm.h"

struct absa_dist_nccl {
    absa_nccl c;
    absa_dist *d;
    absa_backend *be;
    int fake;           /* ABSA_FALLBACK_* (0: the real NCCL table) */
    int64_t *limbs;     /* host limbs, 3 per word */
    size_t cap;         /* words they hold */
    void *dbuf;         /* backend (device) memory for the limbs */
    size_t dcap;
    int announced_host; /* the host-path line was reported */
    char devices[128];  /* the ranks' GPU numbers at the last rebuild, "[0, 1]" (the resize record) */
};

#ifdef ABSA_HAVE_MPI
/* ---- the host table: MPI over the active communicator ---- */

static int h_bcast(void *self, void *buf, size_t bytes, int root)
{
    absa_dist *d = self;
    return MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, d->comm) != MPI_SUCCESS;
}
static int h_min(void *self, int *v)
{
    absa_dist *d = self;
    return MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_MIN, d->comm) != MPI_SUCCESS;
}
static double h_now(void *self)
{
    (void)self;
    return absa_now();
}

/* ---- the fake NCCL (ABSA_TEST_CUDA_FALLBACK, tests only) ---- */

typedef struct fake_comm {
    int polls, rank;
} fake_comm;

static int f_id(void *self, absa_nccl_id *id)
{
    (void)self;
    memset(id, 0, sizeof *id);
    snprintf(id->bytes, sizeof id->bytes, "absa-fake-nccl");
    return 0;
}
static int f_init(void *self, void **comm, int nranks, const absa_nccl_id *id, int rank)
{
    struct absa_dist_nccl *x = self;
    if (strcmp(id->bytes, "absa-fake-nccl")) return 5; /* the broadcast did not arrive */
    if (x->fake == ABSA_FALLBACK_FAIL && rank == nranks - 1) return 3; /* the last rank fails */
    fake_comm *f = absa_xcalloc(1, sizeof *f);
    f->rank = rank;
    *comm = f;
    return 0;
}
static int f_poll(void *self, void *comm, int *ready)
{
    struct absa_dist_nccl *x = self;
    fake_comm *f = comm;
    f->polls++;
    *ready = x->fake == ABSA_FALLBACK_READY && f->polls >= 2; /* never: in progress for ever */
    return 0;
}
static int f_free(void *self, void *comm)
{
    (void)self;
    free(comm);
    return 0;
}
static const char *f_err(void *self, int code)
{
    (void)self;
    return code == 3 ? "fake NCCL: init failed (ABSA_TEST_CUDA_FALLBACK=fail)" : "fake NCCL: error";
}
/* the fallback's "device" memory is host memory: the sum is an MPI reduction in place */
static int f_allreduce(void *self, void *comm, const void *send, void *recv, size_t count, int type, void *stream)
{
    struct absa_dist_nccl *x = self;
    (void)comm, (void)stream;
    MPI_Datatype t = type == ABSA_NCCL_I64 ? MPI_INT64_T : type == ABSA_NCCL_F64 ? MPI_DOUBLE : MPI_FLOAT;
    if (count >= (size_t)1 << 31) return 1;
    return MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, t, MPI_SUM, x->d->comm) != MPI_SUCCESS;
}

/* Whether two active ranks share a device: "host/device id" of every rank, gathered. */
static int shared_device(struct absa_dist_nccl *x)
{
    enum { ID = 192 };
    char mine[ID];
    memset(mine, 0, sizeof mine);
    char host[64] = "?", dev[96] = "?";
    gethostname(host, sizeof host - 1);
    if (x->fake == ABSA_FALLBACK_SHARED) snprintf(dev, sizeof dev, "fallback-gpu-0");
    else if (x->fake && getenv("ABSA_TEST_CUDA_DEVICES")) snprintf(dev, sizeof dev, "fallback-gpu-%d", x->be->device);
    else if (x->fake) snprintf(dev, sizeof dev, "fallback-pid-%ld", (long)getpid());
    else if (x->be->device_id) x->be->device_id(x->be, dev, sizeof dev);
    snprintf(mine, sizeof mine, "%s/%s", host, dev);
    const int n = x->d->size;
    char *all = absa_xcalloc((size_t)n, ID);
    if (MPI_Allgather(mine, ID, MPI_CHAR, all, ID, MPI_CHAR, x->d->comm) != MPI_SUCCESS)
        ABSA_ABORT("MPI_Allgather of the device names failed");
    int shared = 0;
    for (int r = 0; r < n; r++)
        if (r != x->d->rank && !strncmp(all + (size_t)r * ID, mine, ID)) shared = 1;
    free(all);
    int *nums = absa_xcalloc((size_t)n, sizeof(int));
    if (MPI_Allgather(&x->be->device, 1, MPI_INT, nums, 1, MPI_INT, x->d->comm) != MPI_SUCCESS)
        ABSA_ABORT("MPI_Allgather of the device numbers failed");
    size_t k = (size_t)snprintf(x->devices, sizeof x->devices, "[");
    for (int r = 0; r < n && k < sizeof x->devices; r++)
        k += (size_t)snprintf(x->devices + k, sizeof x->devices - k, "%s%d", r ? ", " : "", nums[r]);
    if (k + 2 > sizeof x->devices) snprintf(x->devices, sizeof x->devices, "[]"); /* too many to list */
    else snprintf(x->devices + k, sizeof x->devices - k, "]");
    free(nums);
    return shared;
}
#endif

void absa_dist_nccl_attach(absa_dist *d, absa_backend *be)
{
#ifdef ABSA_HAVE_MPI
    if (d->nccl) return;
    if (!d->mpi || strcmp(be->name, "cuda")) return;
    struct absa_dist_nccl *x = absa_xcalloc(1, sizeof *x);
    x->d = d;
    x->be = be;
    x->fake = absa_cuda_fallback_mode();
    absa_nccl_ops ops;
    memset(&ops, 0, sizeof ops);
    if (x->fake) {
        ops = (absa_nccl_ops){f_id, f_init, f_poll, f_free, f_free, f_err, f_allreduce, x};
    } else {
#ifdef ABSA_HAVE_CUDA
        absa_nccl_real_ops(&ops);
#else
        ABSA_ABORT("a cuda backend in a build without CUDA");
#endif
    }
    absa_nccl_host_ops host = {h_bcast, h_min, h_now, d};
    absa_nccl_init(&x->c, &ops, &host);
    d->nccl = x;
#else
    (void)d, (void)be;
#endif
}

int absa_dist_nccl_attached(const absa_dist *d) { return d->nccl != NULL; }

void absa_dist_nccl_rebind(absa_dist *d, absa_backend *be)
{
    struct absa_dist_nccl *x = d->nccl;
    if (!x) return;
    if (x->dbuf && x->be) x->be->free(x->be, x->dbuf);
    x->dbuf = NULL;
    x->dcap = 0;
    x->be = be;
}

static void report(const struct absa_dist_nccl *x, int event, absa_nccl_report *r)
{
    memset(r, 0, sizeof *r);
    r->event = event;
    r->ranks = x->c.nranks;
    r->generation = x->c.generation;
    r->bcast_s = x->c.last.bcast_s;
    r->init_s = x->c.last.init_s;
    r->destroy_s = x->c.last.destroy_s;
    r->polls = x->c.last.polls;
    absa_nccl_describe(&x->c, r->line, sizeof r->line);
}

static int host_for_good(const absa_nccl *c) { return c->state == ABSA_NCCL_FAILED || c->state == ABSA_NCCL_SHARED_GPU; }

void absa_dist_nccl_grow(absa_dist *d, absa_nccl_report *r)
{
    memset(r, 0, sizeof *r);
    struct absa_dist_nccl *x = d->nccl;
    if (!x) return;
#ifdef ABSA_HAVE_MPI
    /* a failure before some ranks joined holds for them too (the state machine would skip the
     * collectives on the failed ranks only) */
    int failed = x->c.state == ABSA_NCCL_FAILED;
    if (MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, d->comm) != MPI_SUCCESS)
        ABSA_ABORT("MPI_Allreduce (NCCL state) failed");
    if (failed) {
        if (x->c.state != ABSA_NCCL_FAILED) {
            absa_nccl_free(&x->c);
            x->c.state = ABSA_NCCL_FAILED;
            snprintf(x->c.reason, sizeof x->c.reason, "NCCL failed before this rank joined");
        }
        x->c.nranks = d->size;
        report(x, ABSA_NCCL_EV_NONE, r);
        return;
    }
    const int was_host = host_for_good(&x->c);
    const int shared = shared_device(x);
    if (absa_nccl_grow(&x->c, d->rank, d->size, shared) != ABSA_OK)
        ABSA_ABORT("NCCL rebuild: %s", absa_last_error());
    int ev = ABSA_NCCL_EV_STARTED;
    if (host_for_good(&x->c)) ev = was_host && x->announced_host ? ABSA_NCCL_EV_NONE : ABSA_NCCL_EV_HOST;
    if (ev == ABSA_NCCL_EV_HOST) x->announced_host = 1;
    report(x, ev, r);
    snprintf(r->devices, sizeof r->devices, "%s", x->devices);
#endif
}

void absa_dist_nccl_poll(absa_dist *d, absa_nccl_report *r)
{
    memset(r, 0, sizeof *r);
    struct absa_dist_nccl *x = d->nccl;
    if (!x || x->c.state != ABSA_NCCL_PENDING) return;
    const int ready = absa_nccl_poll(&x->c);
    if (ready) {
        report(x, ABSA_NCCL_EV_READY, r);
    } else if (x->c.state == ABSA_NCCL_FAILED) {
#ifdef ABSA_HAVE_MPI
        /* every rank learns the first failed rank's own reason (the others only know "another") */
        int who = strcmp(x->c.reason, "NCCL init failed on another rank") ? d->rank : d->size;
        if (MPI_Allreduce(MPI_IN_PLACE, &who, 1, MPI_INT, MPI_MIN, d->comm) != MPI_SUCCESS ||
            (who < d->size && MPI_Bcast(x->c.reason, (int)sizeof x->c.reason, MPI_CHAR, who, d->comm) != MPI_SUCCESS))
            ABSA_ABORT("MPI collective (NCCL failure reason) failed");
#endif
        x->announced_host = 1;
        report(x, ABSA_NCCL_EV_HOST, r);
    }
}

/* NCCL's int64 sum, in place, of nl limbs in backend memory on the backend's stream */
static void nccl_sum_i64(struct absa_dist_nccl *x, void *dbuf, size_t nl)
{
    void *stream = x->be->stream ? x->be->stream(x->be) : NULL;
    if (absa_nccl_allreduce_sum(&x->c, dbuf, dbuf, nl, ABSA_NCCL_I64, stream) != ABSA_OK)
        ABSA_ABORT("%s", absa_last_error()); /* a collective failure: bug tier, as MPI's */
}

int absa_dist_nccl_x128(absa_dist *d, void *buf, size_t n)
{
    struct absa_dist_nccl *x = d->nccl;
    if (!x || !absa_nccl_use_device(&x->c) || !n) return 0;
    ABSA_ASSERT(d->size <= ABSA_XLIMB_MAX_RANKS, "%d ranks: int64 limbs hold sums of %ld", d->size,
                (long)ABSA_XLIMB_MAX_RANKS);
    const size_t nl = (size_t)ABSA_XLIMBS * n, bytes = nl * sizeof(int64_t);
    if (n > x->cap) {
        free(x->limbs);
        x->limbs = absa_xcalloc(nl, sizeof(int64_t));
        x->cap = n;
    }
    if (bytes > x->dcap) {
        x->be->free(x->be, x->dbuf);
        x->dbuf = x->be->alloc(x->be, bytes);
        if (!x->dbuf) ABSA_ABORT("no device memory for %zu bytes of NCCL limbs: %s", bytes, absa_last_error());
        x->dcap = bytes;
    }
    absa_xword *w = buf; /* exact_sum's words (aligned allocations) */
    absa_xsum_to_limbs(w, n, x->limbs);
    absa_backend_copy_from_host(x->be, x->dbuf, x->limbs, bytes);
    nccl_sum_i64(x, x->dbuf, nl);
    absa_backend_copy_to_host(x->be, x->limbs, x->dbuf, bytes); /* on the same stream: after the sum */
    absa_xsum_from_limbs(x->limbs, n, w);
    return 1;
}

int absa_dist_nccl_i64(absa_dist *d, int64_t *dbuf, size_t nl)
{
    struct absa_dist_nccl *x = d->nccl;
    if (!x || !absa_nccl_use_device(&x->c) || !nl) return 0;
    nccl_sum_i64(x, dbuf, nl);
    return 1;
}

void absa_dist_nccl_free(absa_dist *d)
{
    struct absa_dist_nccl *x = d->nccl;
    if (!x) return;
    absa_nccl_free(&x->c);
    if (x->dbuf) x->be->free(x->be, x->dbuf);
    free(x->limbs);
    free(x);
    d->nccl = NULL;
}
