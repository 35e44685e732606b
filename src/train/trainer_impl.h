/* trainer_impl.h — the state of one `absa train` process, shared by trainer.c (setup, epoch
 * loop, schedule decision, growth, graceful stop, checkpoints) and train_step.c (the SGD steps
 * of an epoch over the active ranks, the distributed eigenvalue and test pass). */
#ifndef ABSA_TRAINER_IMPL_H
#define ABSA_TRAINER_IMPL_H
#include <stdint.h>
#include <stdio.h>

#include "dist.h"
#include "dist_nccl.h"
#include "exact_sum.h"
#include "h5reader.h"
#include "model.h"
#include "optim.h"
#include "train_io.h"
#include "train_signal.h"
#include "train_source.h"
#include "ucx_client.h"

/* stop_sig of a stop by --stop-at-step (a testing aid), not by a signal */
#define ABSA_STOP_AT_STEP (-2)

/* PyTorch's BatchNorm2d momentum, which model_exec.c uses for every BN layer; the running
 * statistics of a distributed step are merged with it (train_step.c). */

typedef struct absa_tstate {
    const absa_train_cfg *cfg;
    absa_model *m;
    absa_sgd opt;
    absa_h5reader *train, *test;
    size_t n_train, n_test;
    int C, H, W, K, crop, flip;
    float eps_c[4];
    absa_train_progress pr;
    float *x;
    int32_t *y;
    uint64_t *perm;
    absa_mlog metrics;       /* rank 0 only (metrics.f NULL elsewhere) */
    int dir_prepared;        /* rank 0 got to write the output directory */
    int dir_created;         /* this invocation created it */
    int dir_lock;            /* the output directory's flock (train_io.h), -1 none */
    double t_compute, t_data, t_eig, t_test, t_comm;
    int tty;
    int io;                  /* this process writes files and logs (active rank 0) */
    absa_dist *dist;
    absa_stop_watch *stop;   /* polled at step boundaries */
    int stop_sig;            /* the stop signal seen by some rank (0 = none, -1 the hand-off, ABSA_STOP_AT_STEP) */
    double *red;             /* per-step reduction: loss, correct, stop, growth flags, BN terms */
    absa_xsum gsum;          /* the step's gradient (n_params words; none with m->gxl) and loss
                              * (the last word, gsum.n - 1), summed exactly */
    float *ghost;            /* host copy of the model's gradient (n_params) for gsum; NULL with m->gxl */
    FILE *idlog;             /* --sample-log: this process's sample ids */
    absa_nccl_report nccl;   /* the last NCCL rebuild (absa_tr_nccl_grow) for the resize record */
    const absa_source_ops *src; /* where the training samples come from (train_source.h) */
    /* --data ucx://: the stream (train_source.c); t->train is then --test-data's train split
     * (eigenvalue samples only) or NULL */
    absa_ucx_client *ucx;
    uint64_t *ids;           /* sample ids of the micro-batch in t->x */
    absa_ucx_batch *held;    /* leases of the current step, committed after its update */
    size_t nheld, cap_held;
    absa_ucx_state ucx_state;/* rank 0: the server's state at the last sync (for checkpoints) */
    int have_ucx_state;
    int ucx_seed_warned;     /* the server's order differs from --seed (warned once) */
    /* --handoff (train_handoff.c), rank 0 only */
    int ho_wanted;           /* ranks asked for in handoff/want (0: none) */
    char ho_next[64];        /* the job taking over (its handoff/ready) */
    char ho_from[64];        /* the job that handed over (go.JOBID), "orphan:..." if none did */
    int ho_from_ranks, ho_record, ho_orphan;
    double ho_stop_at, ho_ckpt_s, ho_go_at, ho_waited;
} absa_tstate;

/* The SGD steps of `epoch` from the committed cursor (t->pr.ep_*) to the end of the epoch, or
 * up to the step after which a stop signal was seen (*stopped = 1). Mean train loss and
 * accuracy of the whole epoch through the pointers when it completes. */
absa_status absa_tr_train_epoch(absa_tstate *t, int epoch, double *loss, double *acc, int *stopped);
/* The epoch's top eigenvalue on the eig-samples set spread over the ranks; *converged: the
 * power iteration met --eig-tol within --eig-iters. */
absa_status absa_tr_epoch_eig(absa_tstate *t, int epoch, double *eig, int *iters, int *converged);
/* Test loss and accuracy, test batches spread over the ranks (each evaluated in pieces of at
 * most --micro-batch samples, so the activations stay those of training). */
absa_status absa_tr_test_pass(absa_tstate *t, double *loss, double *acc);

/* train_grow.c: growth of the worker set, collective over the active ranks. Start growing to
 * target ranks after the checkpoint of `epoch`; settle a pending growth with the step's summed
 * flags (absa_dist_grow_flags); or wait for it (epoch end), giving it up if give_up. Each
 * finished attempt is a "resize" metrics event. */
void absa_tr_grow_begin(absa_tstate *t, int epoch, int target);
void absa_tr_grow_settle(absa_tstate *t, int epoch, const double sums[3], int give_up);
void absa_tr_grow_wait(absa_tstate *t, int epoch, int give_up);
/* NCCL (dist_nccl.h; CUDA backend under MPI): a new communicator after every growth and at the
 * start of a several-rank run (collective; its state goes into the next resize record), and the
 * collective poll at step boundaries (an "nccl" metrics record when it settles: ready, or the
 * host path for good, which is also one stderr line). No-ops otherwise. */
void absa_tr_nccl_grow(absa_tstate *t, int epoch);
void absa_tr_nccl_poll(absa_tstate *t, int epoch);

/* train_handoff.c: growth beyond the job by hand-off to a bigger job (--handoff DIR); rank 0 only
 * (no-ops elsewhere and without --handoff). want: a doubling wants `ranks` (> this job's slots):
 * ask the job script for a bigger job. poll (per step): a new job is ready, stop after this step.
 * release: after the stop's checkpoint, hand over to it (go file). wait (--handoff-wait, before
 * --resume is read): announce this job ready and wait for the old job's go. record: the resize
 * record of kind "handoff" (after the metrics file is open). */
int absa_handoff_on(const absa_tstate *t);
void absa_handoff_want(absa_tstate *t, int epoch, int ranks);
int absa_handoff_poll(absa_tstate *t);
absa_status absa_handoff_release(absa_tstate *t, int epoch, double ckpt_s);
absa_status absa_handoff_wait(absa_tstate *t);
void absa_handoff_record(absa_tstate *t);
#endif
