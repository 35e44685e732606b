/* dist_grow.c — growing the active set of ranks (see dist.h): the entry points, and the pool
 * backend, where rank 0 sends ACTIVATE to the next parked ranks and old and new ranks build the
 * new communicator with MPI_Comm_create_group over world ranks [0, target). Parked ranks sleep
 * 1 ms between MPI_Test calls instead of spinning in a blocking receive, which would take a
 * core from the active ranks. The spawn backend is in dist_spawn.c; the state broadcast that
 * follows a growth is the trainer's (dist_train.c, train_grow.c). */
#include "dist_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base_sys.h"

#ifdef ABSA_HAVE_MPI
static void make_group_comm(absa_dist *d, int n)
{
    MPI_Group world, g;
    int range[1][3] = {{0, n - 1, 1}};
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_range_incl(world, 1, range, &g);
    MPI_Comm c = MPI_COMM_NULL;
    int rc = MPI_Comm_create_group(MPI_COMM_WORLD, g, n, &c);
    MPI_Group_free(&g);
    MPI_Group_free(&world);
    if (rc != MPI_SUCCESS || c == MPI_COMM_NULL) ABSA_ABORT("MPI_Comm_create_group of %d ranks failed", n);
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    d->comm = c;
    d->size = n;
    MPI_Comm_rank(c, &d->rank);
}

/* ---- the pool growth backend ---- */

/* one active rank (world rank 0); the others park until a growth activates them */
static void pool_start(absa_dist *d, const absa_dist_opts *o, int under_srun)
{
    (void)under_srun;
    d->max_ranks = o->max_ranks > 0 && o->max_ranks < d->world_size ? o->max_ranks : d->world_size;
    d->size = 1; /* growth starts from one active rank */
    d->rank = d->world_rank;
    if (d->world_rank == 0) {
        MPI_Comm_dup(MPI_COMM_SELF, &d->comm);
    } else {
        d->comm = MPI_COMM_NULL;
        d->role = ABSA_DIST_PARKED;
    }
}

static int pool_can_grow(const absa_dist *d) { return d->size < d->world_size; }

static void pool_shutdown(absa_dist *d)
{
    if (d->world_rank == 0 && d->role != ABSA_DIST_PARKED)
        for (int r = d->size; r < d->world_size; r++) {
            int ctrl[2] = {ABSA_DIST_CTRL_EXIT, 0};
            MPI_Send(ctrl, 2, MPI_INT, r, ABSA_DIST_TAG_CTRL, MPI_COMM_WORLD);
        }
}

static int grow_pool(absa_dist *d, int target, absa_resize_cost *cost)
{
    /* target is rank 0's decision (within its max_ranks); the pool holds world_size ranks */
    if (target > d->world_size) target = d->world_size;
    if (target <= d->size) {
        snprintf(cost->error, sizeof cost->error, "no room to grow");
        return -1;
    }
    double t0 = absa_now();
    if (d->rank == 0)
        for (int r = d->size; r < target; r++) {
            int ctrl[2] = {ABSA_DIST_CTRL_ACTIVATE, target};
            MPI_Send(ctrl, 2, MPI_INT, r, ABSA_DIST_TAG_CTRL, MPI_COMM_WORLD);
        }
    cost->spawn_s = absa_now() - t0;
    double t1 = absa_now();
    make_group_comm(d, target);
    cost->merge_s = absa_now() - t1;
    cost->ok = 1;
    cost->to = d->size;
    return 1;
}

const absa_grow_ops absa_grow_pool = {
    .name = "pool", .start = pool_start, .can_grow = pool_can_grow, .grow = grow_pool, .shutdown = pool_shutdown};
#endif

int absa_dist_grow_begin(absa_dist *d, int target, absa_resize_cost *cost)
{
    memset(cost, 0, sizeof *cost);
    cost->from = cost->to = d->size;
    if (target <= d->size) return -1;
#ifdef ABSA_HAVE_MPI
    /* target is rank 0's decision (within its max_ranks; spawned ranks do not know that limit):
     * every rank checks only what all of them know alike */
    if (!d->mpi || d->growing) {
        snprintf(cost->error, sizeof cost->error, "%s", d->growing ? "a growth is still in progress" : "no room to grow");
        return -1;
    }
    return d->grow->grow(d, target, cost);
#else
    snprintf(cost->error, sizeof cost->error, "built without MPI");
    return -1;
#endif
}

int absa_dist_grow_pending(const absa_dist *d)
{
#ifdef ABSA_HAVE_MPI
    return d->growing != NULL;
#else
    (void)d;
    return 0;
#endif
}

#ifndef ABSA_HAVE_MPI
void absa_dist_grow_flags(const absa_dist *d, double f[3])
{
    (void)d;
    f[0] = f[1] = f[2] = 0;
}

int absa_dist_grow_settle(absa_dist *d, const double sums[3], int give_up, absa_resize_cost *cost)
{
    (void)d, (void)sums, (void)give_up, (void)cost;
    return 0;
}

int absa_dist_join(absa_dist *d) { return d->role != ABSA_DIST_DISMISSED; }
#endif

int absa_dist_park(absa_dist *d)
{
#ifdef ABSA_HAVE_MPI
    if (d->role != ABSA_DIST_PARKED) return d->role != ABSA_DIST_DISMISSED;
    int ctrl[2] = {0, 0}, flag = 0;
    MPI_Request rq;
    MPI_Irecv(ctrl, 2, MPI_INT, 0, ABSA_DIST_TAG_CTRL, MPI_COMM_WORLD, &rq);
    while (!flag) {
        MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (ctrl[0] != ABSA_DIST_CTRL_ACTIVATE) return 0;
    make_group_comm(d, ctrl[1]);
    d->role = ABSA_DIST_JOINING;
    return 1;
#else
    (void)d;
    return 0;
#endif
}
