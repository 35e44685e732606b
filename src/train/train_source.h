/* train_source.h — where `absa train` gets its training samples, behind one table
 * (absa_source_ops): a packed HDF5 file (the trainer's permutation absa_permutation(seed, epoch)
 * and cursor; train_source_file.c) or an `absa serve` stream (--data ucx://HOST:PORT; docs/ucx.md), which owns permutation and cursor.
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

/* A data source of the trainer: the trainer calls only through this table (t->src) and never
 * asks which source it has. Slots marked optional may be NULL. Sources: absa_source_file
 * (train_source_file.c: the trainer's own permutation over a packed file) and absa_source_ucx
 * (train_source.c: `absa serve`, below); absa_source_for picks one from --data. */
typedef struct absa_source_ops {
    const char *name; /* "file", "ucx": metrics' data_source */
    /* shapes, counts, classes, FGSM eps (t->eps_c), the test split and the train split used for
     * the eigenvalue samples (t->train; NULL if none) */
    absa_status (*open)(struct absa_tstate *t);
    /* optional, rank 0, after the model is set up and before any rank's first request: put the
     * source where the run is (fresh start or --resume) */
    absa_status (*seek)(struct absa_tstate *t);
    /* optional, every rank at each step start (cur, B, R, rank of that step): ask ahead */
    absa_status (*plan)(struct absa_tstate *t, int epoch, size_t cur, int B, int R, int rank);
    /* micro-batch j (nb samples, positions cur + j*micro ... of the epoch's order) into
     * t->x/t->y, augmented with aug_seed; *ids = its sample ids */
    absa_status (*fetch)(struct absa_tstate *t, int epoch, size_t cur, int j, int nb, uint64_t aug_seed,
                         const uint64_t **ids);
    /* optional, after the step's SGD update: the step's samples are consumed */
    absa_status (*commit)(struct absa_tstate *t);
    /* optional, collective over the active ranks at the end of an epoch and at a stop: the
     * committed position is settled (and, on rank 0, kept for the next checkpoint) */
    absa_status (*sync)(struct absa_tstate *t);
    /* optional: seconds this rank has been blocked waiting for data so far; the epoch's data
     * stall is then its mean over the ranks (NULL: the stall is this rank's read time) */
    double (*wait_seconds)(const struct absa_tstate *t);
    /* optional: the source's position into / out of a checkpoint's /train attributes */
    absa_status (*to_extra)(const struct absa_tstate *t, absa_ckpt_extra *e);
    void (*from_extra)(struct absa_tstate *t, const absa_ckpt_extra *e);
    /* optional: a console line at start (rank 0, not --quiet) */
    void (*describe)(const struct absa_tstate *t);
    /* release what open allocated (not t->train/t->test: the trainer closes those); safe
     * after a failed or no open */
    void (*close)(struct absa_tstate *t);
} absa_source_ops;

extern const absa_source_ops absa_source_file; /* train_source_file.c */
extern const absa_source_ops absa_source_ucx;  /* train_source.c */
/* the source for --data: ucx://HOST:PORT streams from absa serve, anything else is a file */
const absa_source_ops *absa_source_for(const char *data);

/* ---- the UCX source (absa_source_ucx's rows) ---- */

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
