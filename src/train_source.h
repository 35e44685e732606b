/* train_source.h — where `absa train` gets its training samples: a packed HDF5 file (the
 * trainer's permutation absa_permutation(seed, epoch) and cursor; train_step.c) or an
 * `absa serve` stream (--data ucx://HOST:PORT; docs/ucx.md), which owns permutation and cursor.
 *
 * UCX source: every rank has its own client (prefetch ring --prefetch). Trainer epoch e is the
 * server's epoch e (the server's epoch permutation is absa_permutation(seed, e)), and every rank
 * asks for exact permutation positions, so any number of ranks gets exactly the batches of the
 * file path (with the same --seed on both sides): at start rank 0 seeks the server to the
 * run's position (epoch 1 on a fresh start, the checkpoint's epoch and committed ranges on
 * --resume), so the server must serve at least epochs + 1 epochs (--epochs 0 = unlimited).
 * Images arrive as uint8 and are normalised with the server's mean/std and augmented as
 * h5reader's gather_f32 does (crop/flip drawn from absa_hash64(aug_seed, sample id)). A step's
 * leases are committed after its SGD update. The test split and the eigenvalue samples come
 * from --test-data FILE.h5 (a packed file: its test split, and its train split for the
 * eigenvalue, exactly as the file path); without it the test pass is skipped and abs/absa
 * (which need the eigenvalue) are refused before training. */
#ifndef ABSA_TRAIN_SOURCE_H
#define ABSA_TRAIN_SOURCE_H
#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "checkpoint.h"

struct absa_tstate;

/* "ucx://" prefix */
int absa_tsrc_is_ucx(const char *data);
/* connect (secret from --secret-file or ABSA_SECRET), metadata -> shapes, counts, eps; opens
 * --test-data. On rank 0 (t->io) seeks the server to the run's position (after setup_model). */
absa_status absa_tsrc_ucx_open(struct absa_tstate *t);
absa_status absa_tsrc_ucx_seek(struct absa_tstate *t);
/* Positional fetching (docs/ucx.md): the step at position `cur` of `epoch` with batch B on R ranks
 * trains on exactly the file path's samples, positions [cur, cur+B) of the server's permutation;
 * micro-batch j (positions cur + j*micro ...) is asked for by rank j % R. _plan (every rank, at
 * each step start): request this rank's next micro-batches ahead (prefetch) and withdraw requests
 * an older plan made (other R or B); _fetch: micro-batch j into t->x/t->y/t->ids (normalised,
 * augmented with aug_seed), its lease held until absa_tsrc_ucx_commit. */
absa_status absa_tsrc_ucx_plan(struct absa_tstate *t, int epoch, size_t cur, int B, int R, int rank);
absa_status absa_tsrc_ucx_fetch(struct absa_tstate *t, int epoch, size_t cur, int B, int R, int j, uint64_t aug_seed);
/* commit every lease held (after the step's SGD update) */
absa_status absa_tsrc_ucx_commit(struct absa_tstate *t);
/* collective over the active ranks: every commit is applied by the server; rank 0 then reads
 * the server's state into t (stored with the next checkpoint) */
absa_status absa_tsrc_ucx_sync_state(struct absa_tstate *t);
/* the stored state into / out of a checkpoint's /train attributes */
absa_status absa_tsrc_ucx_to_extra(const struct absa_tstate *t, absa_ckpt_extra *e);
void absa_tsrc_ucx_from_extra(struct absa_tstate *t, const absa_ckpt_extra *e);
double absa_tsrc_ucx_wait_seconds(const struct absa_tstate *t);
void absa_tsrc_ucx_close(struct absa_tstate *t);
#endif
