/* dist_nccl.h — the distributed layer's device reductions (dist_nccl.c, docs/gpu.md): on a CUDA
 * backend under MPI, the exact sums (the step gradient and the power iteration's Hv, 128-bit
 * fixed point, exact_sum.h) go through NCCL as int64 limbs once every rank reports the current
 * communicator ready, through host memory and MPI before that and whenever NCCL cannot be used.
 * NCCL cannot add ranks, so every growth builds a new communicator (src/engine/nccl_comm.h: rank 0's
 * ncclUniqueId broadcast over the merged MPI communicator, a non-blocking init on every rank,
 * a collective poll at step boundaries, then the old communicator is destroyed). The result has
 * the same bits on either path, so the moment NCCL becomes ready changes nothing but speed. */
#ifndef ABSA_DIST_NCCL_H
#define ABSA_DIST_NCCL_H
#include <stddef.h>

#include "dist.h"

struct absa_backend;

/* what a grow or poll changed, for the trainer's log */
enum {
    ABSA_NCCL_EV_NONE = 0, /* nothing to report */
    ABSA_NCCL_EV_STARTED,  /* a new communicator is initialising (host path meanwhile) */
    ABSA_NCCL_EV_READY,    /* every rank is ready: reductions on NCCL from now on */
    ABSA_NCCL_EV_HOST      /* host path for good (init failed, or ranks share a GPU) */
};

typedef struct absa_nccl_report {
    int event;             /* ABSA_NCCL_EV_* */
    int ranks, generation;
    double bcast_s;        /* unique id broadcast */
    double init_s;         /* READY: from the init start until every rank reported ready */
    double destroy_s;      /* READY: destroying the previous communicator */
    int polls;             /* READY: collective polls it took */
    char line[256];        /* one line: "nccl: ready, 4 ranks, ..." / "nccl: host path: ..." */
    char devices[128];     /* growth: every rank's GPU number, a JSON array ("[0, 1]"; "" unknown) */
} absa_nccl_report;

/* Local (no collective): device reductions for backend be if it is "cuda" and MPI is in use;
 * otherwise nothing changes. The real NCCL table in CUDA builds; the fake one under the test-only
 * switch ABSA_TEST_CUDA_FALLBACK (backend.h). */
void absa_dist_nccl_attach(absa_dist *d, struct absa_backend *be);
int absa_dist_nccl_attached(const absa_dist *d);
/* Local: the model's backend changed (a joined rank moved to its own GPU, trainer.c): NULL before
 * the old backend is closed (its device buffer is released with it), then the new one. */
void absa_dist_nccl_rebind(absa_dist *d, struct absa_backend *be);
/* Collective over the active ranks after every growth (old and joined ranks alike, after the
 * state broadcast) and at the start of a run with several active ranks. No-op unless attached. */
void absa_dist_nccl_grow(absa_dist *d, absa_nccl_report *r);
/* Collective at step boundaries: an MPI min-reduction of the ranks' init states while a
 * communicator initialises (nothing otherwise). */
void absa_dist_nccl_poll(absa_dist *d, absa_nccl_report *r);
/* dist.c: sum n 128-bit words over the active ranks through NCCL; 0 = not ready, take MPI. */
int absa_dist_nccl_x128(absa_dist *d, void *buf, size_t n);
/* dist.c: sum nl int64 limbs in the attached backend's memory over the active ranks through
 * NCCL, in place; 0 = not ready, take MPI. */
int absa_dist_nccl_i64(absa_dist *d, int64_t *dbuf, size_t nl);
/* dist.c (finalize): destroys the communicators. */
void absa_dist_nccl_free(absa_dist *d);
#endif
