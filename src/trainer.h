/* trainer.h — `absa train` on one process: see trainer.c for the loop and its determinism. */
#ifndef ABSA_TRAINER_H
#define ABSA_TRAINER_H
#include <stdint.h>

#include "train_cfg.h"

/* Run (or resume) training as configured; all bad configurations are reported before the
 * first step. Returns ABSA_OK when the configured epochs are done (or --stop-after reached). */
absa_status absa_train_run(const absa_train_cfg *c);
/* Seed of the epoch's eigenvalue: its samples are the first eig-samples of
 * absa_permutation(seed_e, 0, train count) and its start vector is drawn from seed_e, so
 * `absa eig --seed seed_e --samples N` on that epoch's checkpoint reproduces it. */
uint64_t absa_eig_seed(uint64_t seed, int epoch);
#endif
