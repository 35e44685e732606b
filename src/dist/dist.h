/* dist.h — the trainer's distributed layer: data parallelism over MPI and growth of the worker
 * set at run time (docs/growth.md).
 *
 * An absa_dist is the set of ACTIVE ranks (a communicator; rank 0 decides and writes files) plus
 * the means to grow it:
 *   spawn  MPI_Comm_spawn of the same binary with the same arguments and the marker
 *          --dist-child, MPI_Intercomm_merge, under a deadline (a helper thread); works under
 *          mpirun, not under `srun --mpi=pmix`;
 *   pool   every rank is started by the launcher; ranks beyond the active ones park in a
 *          sleeping wait for a control message from rank 0, growth activates the next ones and
 *          builds the new communicator with MPI_Comm_create_group;
 *   none   a fixed set of ranks (all launched ranks are active).
 * `auto` picks spawn when one rank was launched by mpirun (or is a singleton), pool when several
 * ranks were launched, and none under srun with one rank (Slurm's PMIx server cannot spawn).
 *
 * Without MPI (ABSA_HAVE_MPI undefined, or a single process started without a launcher and
 * without --max-ranks > 1) everything is the identity on one rank, so single-process training
 * is exactly the serial trainer. Collective failures are bugs (tier 1, abort); spawn failures
 * are reported in the resize record and never stop training. */
#ifndef ABSA_DIST_H
#define ABSA_DIST_H
#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"

typedef struct absa_dist absa_dist;

/* argument appended to the spawned ranks' command line (and removed before option parsing) */
#define ABSA_DIST_CHILD_MARKER "--dist-child"

enum { ABSA_GROWTH_AUTO = 0, ABSA_GROWTH_SPAWN, ABSA_GROWTH_POOL, ABSA_GROWTH_NONE };
/* what this process is after absa_dist_init */
enum {
    ABSA_DIST_ACTIVE = 0, /* launched as an active rank: trains from the start */
    ABSA_DIST_JOINING,    /* spawned (or activated from the pool): receives the state, then trains */
    ABSA_DIST_PARKED,     /* pool rank waiting for activation (absa_dist_park) */
    ABSA_DIST_DISMISSED   /* spawned after its spawn was given up: exit quietly */
};

typedef struct absa_dist_opts {
    int growth;             /* ABSA_GROWTH_* requested */
    int max_ranks;          /* <= 0: the allocation's slots (MPI universe size / launched ranks) */
    const char *spawn_host; /* "host" info key for spawned ranks ("" or NULL: none) */
    double spawn_timeout;   /* seconds before a spawn is given up */
    double spawn_test_delay;/* testing aid: a spawned rank sleeps this long before MPI_Init */
    int argc;               /* the `train` arguments (argv[0] = "train") to spawn with */
    char **argv;
    int is_child;           /* the marker --dist-child was given */
} absa_dist_opts;

/* The cost of one resize attempt (seconds), as logged in metrics.jsonl. */
typedef struct absa_resize_cost {
    int from, to;           /* ranks before, ranks after (== from on failure) */
    int ok;
    double spawn_s;         /* MPI_Comm_spawn until the children are in MPI_Init / pool activation */
    double setup_wait_s;    /* spawn: from then until every child has opened the data and built
                               the model (READY) */
    double merge_s;         /* MPI_Intercomm_merge / MPI_Comm_create_group */
    double bcast_s;         /* broadcast of the training state */
    double child_setup_s;   /* the joining ranks' own setup time (max, as they report it) */
    double background_s;    /* spawn: from the start to the merge, overlapped with training */
    double total_s;         /* training stopped for the resize (what resize_fraction counts) */
    char error[256];        /* why it failed ("" when ok) */
} absa_resize_cost;

/* Start MPI when needed (MPI_Init_thread with MPI_THREAD_MULTIPLE), pick the backend and the
 * role. A spawned child merges with its parents here. Errors: ABSA_ESPAWN (MPI unusable), or
 * ABSA_EINVAL (--growth spawn|pool asked where it cannot work). */
absa_status absa_dist_init(const absa_dist_opts *o, absa_dist **out);
/* End: rank 0 releases parked pool ranks, pending spawn helpers are waited for (bounded),
 * MPI_Finalize. If !ok and other ranks may be waiting on this one, the job is aborted
 * (MPI_Abort) instead, so no rank hangs. Frees d. */
void absa_dist_finalize(absa_dist *d, int ok);

int absa_dist_rank(const absa_dist *d);       /* in the active set (0 without MPI) */
int absa_dist_size(const absa_dist *d);       /* active ranks (1 without MPI) */
int absa_dist_world_rank(const absa_dist *d); /* launcher rank (pool), 0 for spawned ranks */
int absa_dist_role(const absa_dist *d);
/* A rank spawned by a growth, once joined: its node-local index (its rank among the active ranks
 * of its host, by merged rank: the parents keep theirs, the new ranks follow); -1 for every other
 * rank (launched ones use the launcher's local rank). Picks its GPU (device_pick.h). */
int absa_dist_joined_local_index(const absa_dist *d);
int absa_dist_using_mpi(const absa_dist *d);
int absa_dist_backend(const absa_dist *d);    /* ABSA_GROWTH_SPAWN / POOL / NONE */
const char *absa_dist_backend_name(const absa_dist *d);
const char *absa_dist_backend_why(const absa_dist *d); /* one phrase: why this backend */
int absa_dist_max_ranks(const absa_dist *d);  /* growth limit (>= size) */
int absa_dist_can_grow(const absa_dist *d);   /* backend able to add ranks now */

/* Collectives over the active ranks (no-ops on one rank). */
void absa_dist_allreduce_f32(absa_dist *d, float *buf, size_t n);  /* sum, in place */
void absa_dist_allreduce_f64(absa_dist *d, double *buf, size_t n); /* sum, in place */
/* Sum, in place, of n 16-byte two's-complement words (exact_sum.h: wrapping 128-bit addition,
 * so the result does not depend on the reduction order). */
void absa_dist_allreduce_x128(absa_dist *d, void *buf, size_t n);
/* Sum, in place, of n words held as int64 limbs in the memory of backend be (exact_limbs.h: the
 * device form of the exact sums; the recombined words are those of absa_dist_allreduce_x128):
 * NCCL on the device when its communicator is ready on every rank, else staged through host memory
 * and summed as int64 by MPI. At most ABSA_XLIMB_MAX_RANKS addends per word over all ranks. */
struct absa_backend;
void absa_dist_allreduce_xlimbs(absa_dist *d, struct absa_backend *be, int64_t *dl, size_t n);
void absa_dist_max_f64(absa_dist *d, double *buf, size_t n);       /* max, in place */
void absa_dist_minmax_u64(absa_dist *d, uint64_t v, uint64_t *mn, uint64_t *mx);
void absa_dist_bcast(absa_dist *d, void *buf, size_t bytes);       /* from rank 0 */
/* Every launched rank (pool included) agrees on a status: returns the worst code of any rank
 * and tells whether rank 0 failed (then only rank 0 should print its message). Parked ranks
 * take part; spawned ranks do not (they start after the checks). */
absa_status absa_dist_agree(absa_dist *d, absa_status mine, int *rank0_failed);

/* Growth, collective over the active ranks at a committed step boundary. Start growing to
 * `target` ranks (> size; rank 0's decision, within its absa_dist_max_ranks, the same on every
 * rank). Pool: done at once (returns 1; the activated ranks wait for the state broadcast, the
 * caller's next collective). Spawn: runs in the background (returns 0) while training goes on
 * (or, without MPI_THREAD_MULTIPLE, to its end here: 1 or -1). -1: nothing changed, cost->error
 * says why. A growth failure never fails the run. */
int absa_dist_grow_begin(absa_dist *d, int target, absa_resize_cost *cost);
int absa_dist_grow_pending(const absa_dist *d);
/* This rank's view of a pending growth, to be SUMMED over the active ranks (the trainer adds
 * the three numbers to its per-step reduction): ready, failed, past the deadline. */
void absa_dist_grow_flags(const absa_dist *d, double f[3]);
/* With the summed flags (the same on every rank): 1 = the new ranks joined now (merge done; the
 * state broadcast must follow), -1 = given up (also when give_up is set: the run ends), 0 =
 * keep training and ask again at the next step. cost gets the split of the time. */
int absa_dist_grow_settle(absa_dist *d, const double sums[3], int give_up, absa_resize_cost *cost);
/* A spawned rank, once set up: tell the parents, merge, and learn whether it joins (1) or was
 * given up (0: role DISMISSED, exit quietly). Other ranks: 1. */
int absa_dist_join(absa_dist *d);
/* Pool: block (sleeping) until rank 0 activates this rank (returns 1: role JOINING, now in the
 * active set) or ends the run (returns 0). */
int absa_dist_park(absa_dist *d);
#endif
