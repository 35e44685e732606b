/* train_io.h — the trainer's files: output directory, metrics.jsonl (with truncation to the
 * resumed point), the effective config, summary.json, and the packing of the schedule,
 * counters and mid-epoch cursor into a checkpoint's /train attributes. */
#ifndef ABSA_TRAIN_IO_H
#define ABSA_TRAIN_IO_H
#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"
#include "schedule.h"
#include "train_cfg.h"

/* Everything that must survive a restart besides model and optimizer. */
typedef struct absa_train_progress {
    int epoch;            /* epochs finished */
    int64_t global_step;  /* SGD steps (iterations) so far */
    int64_t samples_seen;
    absa_sched_state sched;
    double wall_total;    /* seconds of training so far (all invocations) */
    /* an epoch stopped part-way (graceful stop): the resumed run continues it with the same
     * permutation from the cursor, and the epoch's train loss/accuracy sums carry over */
    int ep_epoch;         /* epoch in progress (0: none; else epoch + 1) */
    int64_t ep_cursor;    /* samples of ep_epoch's permutation committed */
    double ep_loss_sum;   /* sum over its steps of step loss x step batch */
    int64_t ep_correct, ep_seen;
    /* growth of the worker set */
    double resize_total;  /* seconds spent resizing (all invocations) */
    int64_t resizes;      /* successful resizes */
} absa_train_progress;

/* Create DIR (one level; the parent must exist). */
absa_status absa_train_mkdir(const char *dir);
/* Open DIR/metrics.jsonl for appending. If keep_epochs >= 0 the existing file is first rewritten
 * (atomically) to keep only lines whose "epoch" is <= keep_epochs, and lines whose "step" is
 * <= keep_step (steps and resizes of an epoch stopped part-way); if keep_epochs < 0 it is
 * truncated. */
absa_status absa_metrics_open(const char *dir, int keep_epochs, int64_t keep_step, FILE **out);
/* Write a whole file atomically (temp + fsync + rename) from a buffer. */
absa_status absa_write_atomic(const char *path, const char *data, size_t len);
/* Effective configuration to DIR/config.txt (atomically). */
absa_status absa_train_write_config(const char *dir, const absa_train_cfg *c);

void absa_progress_to_extra(const absa_train_progress *p, const absa_train_cfg *c, absa_ckpt_extra *e);
/* Restores progress and checks the run identity (schedule, micro-batch, seed) against c. */
absa_status absa_progress_from_extra(const absa_ckpt_extra *e, const absa_train_cfg *c,
                                     absa_train_progress *p);
#endif
