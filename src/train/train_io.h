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
    int last_batch;       /* batch of the last finished epoch (0: none yet) */
} absa_train_progress;

/* metrics.jsonl as whole lines: the writers compose lines on `f` (a memory stream) and
 * absa_mlog_commit hands them to the kernel with write(2), so a committed line survives a kill
 * -9 of the process (not a power loss: that needs the fsync of sync = 1). A failed or short write
 * (ENOSPC, EFBIG, EIO) truncates the file back to its last whole line and makes every later
 * commit fail with the same message. */
typedef struct absa_mlog {
    FILE *f;        /* compose lines here */
    char *buf;      /* f's buffer */
    size_t len;
    int fd;         /* the file, -1 when closed */
    long long good; /* bytes of whole lines in the file */
    int failed;     /* sticky: a commit failed */
    char path[4200];
    char err_what[32];
    int err_no;
} absa_mlog;

/* Create DIR (one level; the parent must exist). */
absa_status absa_train_mkdir(const char *dir);
/* Before a run writes DIR (rank 0, after the options and data were found good): takes DIR's
 * exclusive lock (*lock_fd, -1 where the file system has no flock; the caller closes it when the
 * run ends), refusing a DIR another trainer holds, or waiting up to wait_s seconds for it (a
 * hand-off); removes the stale temporaries of killed writers (*.tmp.<pid> of files the trainer
 * writes, tmpfiles.h); refuses a DIR that already holds a run's files (checkpoint.h5,
 * metrics.jsonl, summary.json, config.txt) unless force or resume; with force those files are
 * removed first; an old summary.json is removed in any case (it would describe another run).
 * *created: DIR was made. */
absa_status absa_train_prepare_dir(const char *dir, int force, int resume, double wait_s, int *created,
                                   int *lock_fd);
/* After a failed start that wrote nothing but its bookkeeping (empty metrics): remove
 * config.txt and metrics.jsonl, and DIR itself if this start created it. */
void absa_train_undo_dir(const char *dir, int created);
/* Open DIR/metrics.jsonl for appending. If keep_epochs >= 0 the existing file is first rewritten
 * (atomically) to keep only lines whose "epoch" is <= keep_epochs, and lines whose "step" is
 * <= keep_step (steps and resizes of an epoch stopped part-way); if keep_epochs < 0 it is
 * truncated. A last line cut short by a kill is dropped either way. */
absa_status absa_metrics_open(const char *dir, int keep_epochs, int64_t keep_step, absa_mlog *out);
/* Write the lines composed on l->f since the last commit (see absa_mlog); sync: also fsync. */
absa_status absa_mlog_commit(absa_mlog *l, int sync);
/* Whether anything was committed to the file (it is not empty). */
int absa_mlog_empty(const absa_mlog *l);
void absa_mlog_close(absa_mlog *l);
/* Write a whole file atomically (temp + fsync + rename) from a buffer. */
absa_status absa_write_atomic(const char *path, const char *data, size_t len);
/* Effective configuration to DIR/config.txt (atomically). */
absa_status absa_train_write_config(const char *dir, const absa_train_cfg *c);

absa_status absa_progress_to_extra(const absa_train_progress *p, const absa_train_cfg *c, absa_ckpt_extra *e);
/* Restores progress and checks the run identity against c: the options that define the run
 * (model is checked by the caller; schedule, micro-batch, seed, batch, max-batch, lr, lr decay,
 * momentum, weight decay, dampening, nesterov, FGSM, growth rule, eigenvalue settings,
 * augmentation, train split and --limit-train) must equal the checkpoint's, else a one-line
 * error names the option and both values. --epochs may differ (the run is extended or ends
 * early): *old_epochs gets the checkpoint's (0 if it did not record it). */
absa_status absa_progress_from_extra(const absa_ckpt_extra *e, const absa_train_cfg *c,
                                     absa_train_progress *p, int *old_epochs);
#endif
