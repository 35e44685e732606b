/* dist_train.h — the trainer's distributed pieces above dist.h (dist_train.c): broadcast of the
 * whole training state at start and after a growth, a per-epoch check that every rank holds the
 * same weights, and the top Hessian eigenvalue by power iteration on a sample set spread over
 * the ranks. All are the plain serial operation on one rank. */
#ifndef ABSA_DIST_TRAIN_H
#define ABSA_DIST_TRAIN_H
#include "curvature.h"
#include "dist.h"
#include "model.h"
#include "optim.h"
#include "train_io.h"

/* Rank 0's progress (schedule, counters, epoch cursor), optimizer, parameters, momentum, batch-
 * norm buffers and counters to every active rank. Everything that defines the run is in it:
 * data order, augmentation and eigenvalue samples are functions of (seed, epoch, cursor), so no
 * RNG state travels. Receivers must have built the same model (same configuration); a size
 * mismatch is a bug and aborts. Returns the seconds spent. */
double absa_dist_sync_state(absa_dist *d, absa_model *m, absa_sgd *opt, absa_train_progress *pr);

/* 64-bit hash of parameters, momentum, buffers and counters. */
uint64_t absa_model_state_hash(const absa_model *m);
/* Compares the hash over the active ranks; if it differs anywhere (which the deterministic
 * reductions should rule out) rank 0's state is broadcast again. Returns 1 if it had to. */
int absa_dist_check_params(absa_dist *d, absa_model *m, absa_sgd *opt, absa_train_progress *pr);

/* Chunk c (of `chunk` samples, in order) of a global sample set of n belongs to rank c % size.
 * Number of samples this rank holds, and the global index of its i-th sample. */
int absa_dist_local_count(int n, int chunk, int rank, int size);
int absa_dist_local_index(int i, int chunk, int rank, int size);

/* Top eigenvalue (topk must be 1) of the Hessian of the mean loss over all n_total samples,
 * each rank holding its chunks (absa_dist_local_*) concatenated in x/y: the same start vector,
 * chunk weights (n_chunk / n_total), iteration and stopping rule as absa_power_iteration, with
 * Hv summed over the ranks (one allreduce of n_params floats per iteration). On one rank the
 * result is bitwise that of absa_power_iteration. */
absa_status absa_dist_power_iteration(absa_dist *d, absa_model *m, const float *x, const int32_t *y,
                                      int n_local, int n_total, const absa_eig_opts *o,
                                      absa_eig_result *res);
/* The allreduce entry handed to the engine's backend (absa_model_allreduce): ctx = absa_dist *. */
void absa_dist_reduce_hook(void *ctx, float *host_buf, size_t n);

#endif
