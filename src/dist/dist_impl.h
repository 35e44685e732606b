/* dist_impl.h — the inside of an absa_dist, shared by dist.c (start, collectives, end) and
 * dist_grow.c (spawn and pool growth). Not for other modules: they use dist.h. */
#ifndef ABSA_DIST_IMPL_H
#define ABSA_DIST_IMPL_H
#include "dist.h"

#ifdef ABSA_HAVE_MPI
#include <mpi.h>
#include <pthread.h>
#endif

enum { ABSA_DIST_GO = 0x60, ABSA_DIST_ABORT = 0xAB }; /* first word a joining rank receives */
enum { ABSA_DIST_CTRL_ACTIVATE = 1, ABSA_DIST_CTRL_EXIT = 2 }; /* pool control messages */
#define ABSA_DIST_TAG_CTRL 4242
#define ABSA_DIST_TAG_READY 4243 /* spawned rank -> parent rank 0: set up, about to merge */

#ifdef ABSA_HAVE_MPI
/* One MPI_Comm_spawn run by a helper thread so that the caller can give up after a deadline. */
typedef struct absa_spawn_job {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    MPI_Comm pcomm;     /* dup of the active communicator: the spawn's own collective context */
    MPI_Comm inter;     /* result */
    MPI_Info info;
    const char *exe;
    char **argv;
    int n_new;
    int collect_ready;  /* this is parent rank 0: wait for every child's READY */
    int rc;             /* MPI_Comm_spawn's return code */
    int errs_ok;        /* every errcode is MPI_SUCCESS */
    int done;           /* MPI_Comm_spawn returned */
    int ready;          /* ... and (rank 0) every child has set up and sent READY */
    int decided, merge; /* the ranks' joint decision: 1 = the caller merges, 0 = dismiss */
    int finished;       /* the helper has nothing left to do */
    int target;         /* ranks after the growth */
    double t_start, t_done, t_ready; /* absa_now() at start, spawn return, READY */
} absa_spawn_job;
#endif

/* A growth backend: how the set of active ranks gets bigger. One table per backend, each in its
 * own file (none: dist.c, pool: dist_grow.c, spawn: dist_spawn.c); absa_dist_start picks one
 * (the only place that looks at the --growth choice) and everything else calls through d->grow.
 * A new backend (e.g. a hand-off to a bigger job) adds a table and a row in that selection. */
typedef struct absa_grow_ops {
    const char *name; /* "none", "pool", "spawn": reports, summary.json */
#ifdef ABSA_HAVE_MPI
    /* MPI is up and this process was launched (not spawned by a growth): set the active set
     * (comm, rank, size, role), slots and max_ranks from the options; may add to d->why */
    void (*start)(absa_dist *d, const absa_dist_opts *o, int under_srun);
#endif
    /* able to add ranks now (the caller has checked MPI, --max-ranks and a pending growth) */
    int (*can_grow)(const absa_dist *d);
    /* start growing to target (> size) ranks: 0 = in the background (absa_dist_grow_settle
     * finishes it), 1 = done, -1 = failed (cost->error says why) */
    int (*grow)(absa_dist *d, int target, absa_resize_cost *cost);
    /* optional: at the end of the run, before MPI_Finalize (e.g. release parked ranks) */
    void (*shutdown)(absa_dist *d);
} absa_grow_ops;

extern const absa_grow_ops absa_grow_none;  /* dist.c */
#ifdef ABSA_HAVE_MPI
extern const absa_grow_ops absa_grow_pool;  /* dist_grow.c */
extern const absa_grow_ops absa_grow_spawn; /* dist_spawn.c */
#endif

struct absa_dist {
    const absa_grow_ops *grow; /* the growth backend (absa_grow_none without MPI) */
    int mpi;               /* MPI started (by us or before us) and in use */
    int rank, size;        /* in the active set */
    int joined_local;      /* spawned rank after joining: its node-local index in the merged
                              communicator (absa_dist_joined_local_index); else -1 */
    int world_rank, world_size;
    int role, backend, max_ranks;
    int thread_multiple;
    int spawn_disabled;    /* after a failed or given-up spawn (Open MPI 4.1's mpirun cannot
                              launch again after a failed launch: see docs/growth.md) */
    int mpi_spawn_failed;  /* MPI_Comm_spawn itself returned an error: Open MPI 4.1.4's mpirun
                              then never exits, so the run ends with MPI_Abort(0) once done */
    int oversubscribe;     /* the launcher may place more ranks than slots */
    int slots;             /* MPI universe size (spawn) */
    char why[256];         /* why this backend */
    char disabled_why[256];
    double spawn_timeout, spawn_test_delay;
    char spawn_host[1024];
    char exe[4096];        /* /proc/self/exe */
    char **spawn_argv;     /* argv[1..] + marker, NULL-terminated (MPI_Comm_spawn's argv) */
    struct absa_dist_nccl *nccl; /* device reductions (dist_nccl.c), NULL: MPI only */
#ifdef ABSA_HAVE_MPI
    MPI_Comm comm;         /* the active ranks (MPI_COMM_NULL while parked) */
    MPI_Comm parent;       /* spawned rank: the intercommunicator to its parents until it joins */
    absa_spawn_job *growing; /* a spawn in progress in the background */
    absa_spawn_job *pending; /* a given-up spawn whose helper thread may still be running */
#endif
};

#ifdef ABSA_HAVE_MPI
/* dist.c: every launched rank active (comm = a dup of MPI_COMM_WORLD), oversubscription flag */
void absa_dist_start_world(absa_dist *d);
/* dist_spawn.c: start a spawn growth (0: in the background, 1: done, -1: failed) */
int absa_dist_spawn_begin(absa_dist *d, int target, absa_resize_cost *cost);
/* dist_spawn.c: wait (bounded) for a given-up spawn's helper; 1 if it ended. */
int absa_dist_spawn_reap(absa_dist *d, double timeout_s);
#endif
#endif
