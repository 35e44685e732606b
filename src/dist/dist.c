/* dist.c — start and end of the distributed layer (MPI start only when a launcher or growth asks
 * for it, backend detection, the spawned child's merge with its parents) and the collectives
 * the trainer uses; growth itself is in dist_grow.c. See dist.h. Without ABSA_HAVE_MPI every
 * function is the one-rank identity. */
#include "dist_impl.h"
#include "dist_nccl.h"
#include "backend.h"
#include "exact_sum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int env_set(const char *k) { return getenv(k) && getenv(k)[0]; }

static int env_int(const char *k, int dflt)
{
    const char *v = getenv(k);
    return v && *v ? atoi(v) : dflt;
}

#ifdef ABSA_HAVE_MPI
/* spawn arguments: argv[1..argc) + the marker (the parent's own marker is never passed on) */
static absa_status make_spawn_argv(absa_dist *d, const absa_dist_opts *o)
{
    absa_status status = ABSA_OK;
    ssize_t n = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
    if (n <= 0) ABSA_FAIL(ABSA_ESPAWN, "cannot resolve /proc/self/exe for spawning");
    d->exe[n] = 0;
    d->spawn_argv = absa_xcalloc((size_t)o->argc + 2, sizeof(char *));
    int k = 0;
    for (int i = 0; i < o->argc; i++)
        if (strcmp(o->argv[i], ABSA_DIST_CHILD_MARKER)) d->spawn_argv[k++] = o->argv[i];
    d->spawn_argv[k++] = (char *)ABSA_DIST_CHILD_MARKER;
    d->spawn_argv[k] = NULL;
cleanup:
    return status;
}
#endif

absa_status absa_dist_init(const absa_dist_opts *o, absa_dist **out)
{
    absa_status status = ABSA_OK;
    absa_dist *d = absa_xcalloc(1, sizeof *d);
    d->size = d->world_size = d->max_ranks = 1;
    d->joined_local = -1;
    d->backend = ABSA_GROWTH_NONE;
    d->grow = &absa_grow_none;
    d->role = ABSA_DIST_ACTIVE;
    d->spawn_timeout = o->spawn_timeout > 0 ? o->spawn_timeout : 60;
    d->spawn_test_delay = o->spawn_test_delay;
    snprintf(d->spawn_host, sizeof d->spawn_host, "%s", o->spawn_host ? o->spawn_host : "");
    snprintf(d->why, sizeof d->why, "one process");
    const int under_mpirun = env_set("OMPI_MCA_orte_hnp_uri");
    const int launched = env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK");
    const int launched_size = env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", env_int("SLURM_STEP_NUM_TASKS", 1)));
    const int under_srun = env_set("SLURM_STEP_ID") && !under_mpirun;
    const int want = o->is_child || launched || o->max_ranks > 1 || o->growth == ABSA_GROWTH_SPAWN ||
                     o->growth == ABSA_GROWTH_POOL;
#ifndef ABSA_HAVE_MPI
    (void)under_srun;
    if (o->is_child || launched_size > 1 || o->growth == ABSA_GROWTH_SPAWN || o->growth == ABSA_GROWTH_POOL)
        ABSA_FAIL(ABSA_EINVAL, "this absa was built without MPI: %s", launched_size > 1 ? "it cannot run as several ranks" : "--growth spawn/pool needs MPI");
    if (want && o->max_ranks > 1)
        snprintf(d->why, sizeof d->why, "built without MPI: --max-ranks ignored, the batch grows by accumulation");
    (void)launched;
#else
    if (!want) goto done;
    if (o->is_child && o->spawn_test_delay > 0) {
        struct timespec ts = {(time_t)o->spawn_test_delay, (long)((o->spawn_test_delay - (time_t)o->spawn_test_delay) * 1e9)};
        nanosleep(&ts, NULL);
    }
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        ABSA_FAIL(ABSA_ESPAWN, "MPI_Init_thread failed");
    if (inited) MPI_Query_thread(&provided);
    d->mpi = 1;
    d->comm = d->parent = MPI_COMM_NULL;
    d->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->world_size);
    if (launched_size > 1 && d->world_size == 1 && !o->is_child)
        ABSA_FAIL(ABSA_EINVAL, "the launcher started %d tasks but MPI sees one rank: each would train alone "
                               "(under Slurm use srun --mpi=pmix, or mpirun)", launched_size);
    ABSA_TRY(make_spawn_argv(d, o));
    MPI_Comm_get_parent(&d->parent);
    if (d->parent != MPI_COMM_NULL) { /* spawned by a growth: joins after its setup (absa_dist_join) */
        d->backend = ABSA_GROWTH_SPAWN;
        d->grow = &absa_grow_spawn;
        snprintf(d->why, sizeof d->why, "spawned by a growth");
        d->role = ABSA_DIST_JOINING;
        d->rank = -1;
        goto done;
    }
    if (o->is_child) ABSA_FAIL(ABSA_EINVAL, ABSA_DIST_CHILD_MARKER " is set by growth, not by hand");
    int backend = o->growth;
    if (backend == ABSA_GROWTH_AUTO) {
        if (d->world_size > 1) {
            backend = ABSA_GROWTH_POOL;
            snprintf(d->why, sizeof d->why, "%d ranks launched: the ranks beyond the active ones are a pool", d->world_size);
        } else if (under_srun) {
            backend = ABSA_GROWTH_NONE;
            snprintf(d->why, sizeof d->why, "one rank under srun, whose PMIx server cannot spawn: launch the maximum number of ranks (srun -n N) for the pool backend, or use mpirun");
        } else {
            backend = ABSA_GROWTH_SPAWN;
            snprintf(d->why, sizeof d->why, "%s: MPI_Comm_spawn", under_mpirun ? "one rank under mpirun" : "singleton MPI process");
        }
    } else {
        snprintf(d->why, sizeof d->why, "requested by --growth");
    }
    d->backend = backend;
    d->grow = backend == ABSA_GROWTH_POOL ? &absa_grow_pool : backend == ABSA_GROWTH_SPAWN ? &absa_grow_spawn : &absa_grow_none;
    d->grow->start(d, o, under_srun);
    absa_error_set_rank(d->world_rank);
done:
#endif
    *out = d;
    return ABSA_OK;
cleanup:
    absa_dist_finalize(d, 1);
    *out = NULL;
    return status;
}

void absa_dist_finalize(absa_dist *d, int ok)
{
    if (!d) return;
    absa_dist_nccl_free(d); /* normally done by the trainer, before its backend goes */
#ifndef ABSA_HAVE_MPI
    (void)ok;
#else
    if (d->mpi) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!ok && !finalized && (d->world_size > 1 || d->size > 1)) {
            fflush(stderr);
            MPI_Abort(d->comm != MPI_COMM_NULL ? d->comm : MPI_COMM_WORLD, 1);
        }
        if (d->grow->shutdown) d->grow->shutdown(d);
        /* a given-up spawn may still complete (its helper then dismisses the children): wait
         * for it a bounded time, since MPI_Finalize cannot run while it is inside MPI */
        if (d->growing) { /* the run ended before the ranks joined */
            double z[3] = {0, 0, 0};
            absa_resize_cost c;
            absa_dist_grow_settle(d, z, 1, &c);
        }
        int reaped = !d->pending || absa_dist_spawn_reap(d, d->spawn_timeout > 10 ? d->spawn_timeout : 10);
        if (d->mpi_spawn_failed && d->comm != MPI_COMM_NULL && !finalized) {
            MPI_Barrier(d->comm); /* everything is written */
            if (d->rank == 0) {
                fprintf(stderr, "absa train: run complete; ending the job with MPI_Abort(0) because Open MPI 4.1's mpirun "
                                "does not exit after a failed MPI_Comm_spawn (mpirun's exit code 1 is expected)\n");
                fflush(stderr);
                MPI_Abort(MPI_COMM_WORLD, 0);
            }
            MPI_Barrier(d->comm); /* never returns: rank 0 aborts the job */
        }
        if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
        if (d->parent != MPI_COMM_NULL) MPI_Comm_free(&d->parent);
        if (!reaped)
            fprintf(stderr, "absa train: a given-up spawn is still blocked in MPI_Comm_spawn; exiting without MPI_Finalize\n");
        else if (!finalized)
            MPI_Finalize();
    }
#endif
    free(d->spawn_argv);
    free(d);
}

int absa_dist_rank(const absa_dist *d) { return d->rank; }
int absa_dist_size(const absa_dist *d) { return d->size; }
int absa_dist_world_rank(const absa_dist *d) { return d->world_rank; }
int absa_dist_role(const absa_dist *d) { return d->role; }
int absa_dist_joined_local_index(const absa_dist *d) { return d->joined_local; }
int absa_dist_using_mpi(const absa_dist *d) { return d->mpi; }
int absa_dist_backend(const absa_dist *d) { return d->backend; }
int absa_dist_max_ranks(const absa_dist *d) { return d->max_ranks; }
const char *absa_dist_backend_why(const absa_dist *d) { return d->why; }

const char *absa_dist_backend_name(const absa_dist *d) { return d->grow->name; }

int absa_dist_can_grow(const absa_dist *d)
{
    if (!d->mpi || d->size >= d->max_ranks || absa_dist_grow_pending(d)) return 0;
    return d->grow->can_grow(d);
}

#ifdef ABSA_HAVE_MPI
void absa_dist_start_world(absa_dist *d)
{
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    d->rank = d->world_rank;
    d->size = d->world_size;
    /* a spawn beyond the slots fails inside mpirun (and leaves it unable to exit): only
     * when the launcher allows oversubscription may growth go past them */
    const char *ov = getenv("OMPI_MCA_rmaps_base_oversubscribe"), *pol = getenv("OMPI_MCA_rmaps_base_mapping_policy");
    d->oversubscribe = (ov && (!strcmp(ov, "1") || !strcmp(ov, "true"))) || (pol && strstr(pol, "OVERSUBSCRIBE"));
}
#endif

/* ---- the "none" growth backend: a fixed set of ranks ---- */

#ifdef ABSA_HAVE_MPI
static void none_start(absa_dist *d, const absa_dist_opts *o, int under_srun)
{
    (void)o, (void)under_srun;
    absa_dist_start_world(d);
    d->slots = d->world_size;
    d->max_ranks = d->size;
}
#endif

static int none_can_grow(const absa_dist *d)
{
    (void)d;
    return 0;
}

static int none_grow(absa_dist *d, int target, absa_resize_cost *cost)
{
    (void)d, (void)target;
    snprintf(cost->error, sizeof cost->error, "no room to grow");
    return -1;
}

const absa_grow_ops absa_grow_none = {
    .name = "none",
#ifdef ABSA_HAVE_MPI
    .start = none_start,
#endif
    .can_grow = none_can_grow,
    .grow = none_grow,
};

#ifdef ABSA_HAVE_MPI
static int multi(const absa_dist *d) { return d->mpi && d->size > 1 && d->comm != MPI_COMM_NULL; }
#endif

#ifdef ABSA_HAVE_MPI
/* In-place MPI_Allreduce of n elements over the ranks; aborts (file:line, rank) on failure. */
static void dist_allreduce(absa_dist *d, void *buf, size_t n, MPI_Datatype type, MPI_Op op,
                           const char *what)
{
    if (!multi(d)) return;
    ABSA_ASSERT(n < (size_t)1 << 31, "allreduce of %zu %s", n, what);
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, type, op, d->comm) != MPI_SUCCESS)
        ABSA_ABORT("MPI_Allreduce of %zu %s failed", n, what);
}
#endif

void absa_dist_allreduce_f32(absa_dist *d, float *buf, size_t n)
{
#ifdef ABSA_HAVE_MPI
    dist_allreduce(d, buf, n, MPI_FLOAT, MPI_SUM, "floats");
#else
    (void)d, (void)buf, (void)n;
#endif
}

void absa_dist_allreduce_f64(absa_dist *d, double *buf, size_t n)
{
#ifdef ABSA_HAVE_MPI
    dist_allreduce(d, buf, n, MPI_DOUBLE, MPI_SUM, "doubles");
#else
    (void)d, (void)buf, (void)n;
#endif
}

#ifdef ABSA_HAVE_MPI
/* MPI_Op: inout[i] += in[i] as wrapping 128-bit integers (unaligned buffers: memcpy). */
static void sum_x128(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    __extension__ typedef unsigned __int128 u128;
    const unsigned char *a = in;
    unsigned char *b = inout;
    for (int i = 0; i < *len; i++, a += 16, b += 16) {
        u128 x, y;
        memcpy(&x, a, 16);
        memcpy(&y, b, 16);
        y += x;
        memcpy(b, &y, 16);
    }
}
#endif

void absa_dist_allreduce_x128(absa_dist *d, void *buf, size_t n)
{
#ifdef ABSA_HAVE_MPI
    if (!multi(d)) return;
    if (absa_dist_nccl_x128(d, buf, n)) return; /* NCCL ready on every rank: int64 limbs, same bits */
    MPI_Datatype t;
    MPI_Op op;
    if (MPI_Type_contiguous(16, MPI_BYTE, &t) != MPI_SUCCESS || MPI_Type_commit(&t) != MPI_SUCCESS ||
        MPI_Op_create(sum_x128, 1, &op) != MPI_SUCCESS)
        ABSA_ABORT("cannot create the MPI type/op of 128-bit sums");
    dist_allreduce(d, buf, n, t, op, "128-bit sums");
    MPI_Op_free(&op);
    MPI_Type_free(&t);
#else
    (void)d, (void)buf, (void)n;
#endif
}

void absa_dist_allreduce_xlimbs(absa_dist *d, struct absa_backend *be, int64_t *dl, size_t n)
{
#ifdef ABSA_HAVE_MPI
    if (!multi(d) || !n) return;
    const size_t nl = n * ABSA_XLIMBS;
    if (absa_dist_nccl_i64(d, dl, nl)) return; /* NCCL ready on every rank: no host copy */
    int64_t *h = malloc(nl * sizeof *h);
    if (!h) ABSA_ABORT("out of memory staging %zu exact-sum limbs", nl);
    absa_backend_copy_to_host(be, h, dl, nl * sizeof *h);
    dist_allreduce(d, h, nl, MPI_INT64_T, MPI_SUM, "int64 limbs");
    absa_backend_copy_from_host(be, dl, h, nl * sizeof *h);
    free(h);
#else
    (void)d, (void)be, (void)dl, (void)n;
#endif
}

void absa_dist_max_f64(absa_dist *d, double *buf, size_t n)
{
#ifdef ABSA_HAVE_MPI
    dist_allreduce(d, buf, n, MPI_DOUBLE, MPI_MAX, "doubles (max)");
#else
    (void)d, (void)buf, (void)n;
#endif
}

void absa_dist_minmax_u64(absa_dist *d, uint64_t v, uint64_t *mn, uint64_t *mx)
{
    *mn = *mx = v;
#ifdef ABSA_HAVE_MPI
    if (!multi(d)) return;
    if (MPI_Allreduce(&v, mn, 1, MPI_UINT64_T, MPI_MIN, d->comm) != MPI_SUCCESS ||
        MPI_Allreduce(&v, mx, 1, MPI_UINT64_T, MPI_MAX, d->comm) != MPI_SUCCESS)
        ABSA_ABORT("MPI_Allreduce (min/max) failed");
#else
    (void)d;
#endif
}

void absa_dist_bcast(absa_dist *d, void *buf, size_t bytes)
{
#ifdef ABSA_HAVE_MPI
    if (!multi(d)) return;
    /* in pieces of at most 1 GiB (MPI counts are int) */
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : (size_t)1 << 30;
        if (MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, 0, d->comm) != MPI_SUCCESS)
            ABSA_ABORT("MPI_Bcast of %zu bytes failed", bytes);
        off += n;
    }
#else
    (void)d, (void)buf, (void)bytes;
#endif
}

absa_status absa_dist_agree(absa_dist *d, absa_status mine, int *rank0_failed)
{
    *rank0_failed = d->world_rank == 0 && mine != ABSA_OK;
#ifdef ABSA_HAVE_MPI
    if (!d->mpi || d->world_size == 1 || d->role == ABSA_DIST_JOINING) return mine;
    int v[2] = {(int)mine, d->world_rank == 0 ? (int)mine : 0}, worst[2] = {0, 0};
    if (MPI_Allreduce(v, worst, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        ABSA_ABORT("MPI_Allreduce (status) failed");
    *rank0_failed = worst[1] != 0;
    return (absa_status)worst[0];
#else
    (void)d;
    return mine;
#endif
}
