/* trainer.h — `absa train` on one process or data-parallel over MPI ranks that grow with the
 * batch: see trainer.c for the loop and its determinism, dist.h for the ranks. */
#ifndef ABSA_TRAINER_H
#define ABSA_TRAINER_H
#include <stdint.h>

#include "dist.h"
#include "train_cfg.h"
#include "train_signal.h"

typedef struct absa_train_outcome {
    int report; /* this process should print absa_last_error() (one rank prints a shared error) */
    int agreed; /* every launched rank knows of the failure (setup): no need to abort the job */
} absa_train_outcome;

/* Run (or resume) training as configured on the ranks of d (absa_dist_init), polling sw for a
 * graceful stop; all bad configurations are reported before the first step. Returns ABSA_OK
 * when the configured epochs are done, --stop-after is reached, or a stop signal ended the run
 * with a checkpoint; on failure *out tells how to report it. */
absa_status absa_train_run(const absa_train_cfg *c, absa_dist *d, absa_stop_watch *sw, absa_train_outcome *out);
/* Seed of the epoch's eigenvalue: its samples are the first eig-samples of
 * absa_permutation(seed_e, 0, train count) and its start vector is drawn from seed_e, so
 * `absa eig --seed seed_e --samples N` on that epoch's checkpoint reproduces it. */
uint64_t absa_eig_seed(uint64_t seed, int epoch);
#endif
