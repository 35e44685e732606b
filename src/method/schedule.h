/* schedule.h — the ABS/ABSA batch-size schedule as a pure decision function.
 *
 * absa_sched_end_epoch(cfg, state, eig, epoch) -> new state + decision, with no I/O and no
 * globals, reproducing the reference (HessianFlow) order at the end of every epoch:
 *   1. growth checks (only while batch < cap and the method is abs/absa, using the epoch's
 *      eigenvalue): the first eigenvalue becomes the reference; lambda <= reference/ratio
 *      (ratio 2) sets reference = lambda and grows; independently, `duration` eigenvalue epochs
 *      without growth grow (reference unchanged). Grow = batch x2 clamped to the cap,
 *      lr x (new/old), adversarial ratio /2, duration counter reset. Reaching the cap sets the
 *      adversarial ratio to 0 and stops eigenvalue work.
 *   2. step lr decay: lr x lr_decay at each epoch listed in lr_decay_epochs (1-based epoch
 *      numbers, the epoch just finished);
 *   3. adversarial ratio = 0 once the number of finished epochs >= epochs/2;
 *   (4. the test pass is the trainer's business.)
 * The caller computes the eigenvalue only when absa_sched_wants_eig(state) says so.
 */
#ifndef ABSA_SCHEDULE_H
#define ABSA_SCHEDULE_H
#include <stdint.h>

#include "absa_error.h"

enum { ABSA_SCHED_SGD = 0, ABSA_SCHED_ABS = 1, ABSA_SCHED_ABSA = 2 };
#define ABSA_SCHED_MAX_DECAYS 16

typedef struct absa_sched_cfg {
    int method;             /* ABSA_SCHED_SGD / ABS / ABSA */
    int epochs;             /* total epochs */
    int batch0;             /* initial batch (B0), reference 128 */
    int micro;              /* micro-batch (max samples per forward/backward), reference 128 */
    int max_batch;          /* cap, reference 16384; >= batch0 */
    double lr0;             /* initial learning rate */
    double lr_decay;        /* factor, reference 0.2 */
    int lr_decay_epochs[ABSA_SCHED_MAX_DECAYS];
    int n_lr_decay;
    double adv_ratio0;      /* initial adversarial ratio (ABSA), reference 0.2; 0 for SGD/ABS */
    double growth_ratio;    /* lambda <= reference / growth_ratio triggers growth, reference 2 */
    int duration;           /* eigenvalue epochs without growth before a forced growth, reference 10 */
} absa_sched_cfg;

typedef struct absa_sched_state {
    int batch;              /* effective batch size */
    double lr;
    double adv_ratio;
    double eig_ref;         /* reference eigenvalue; NaN before the first */
    int since_growth;       /* eigenvalue epochs without growth */
    int at_cap;             /* batch == cap: no more eigenvalue work */
    int64_t growths;        /* number of growths so far */
} absa_sched_state;

typedef struct absa_sched_decision {
    int grew;               /* 1 if the batch grew this epoch */
    int by_eig;             /* growth triggered by the eigenvalue (else by duration) */
    int old_batch, new_batch;
    int lr_decayed;
    int adv_off;            /* adversarial ratio switched to 0 by the epochs/2 rule this epoch */
} absa_sched_decision;

void absa_sched_defaults(absa_sched_cfg *cfg);
/* Validates a configuration (positive sizes, cap >= batch0, lr > 0, ...). */
absa_status absa_sched_check(const absa_sched_cfg *cfg);
/* Initial state for a configuration. */
void absa_sched_init(const absa_sched_cfg *cfg, absa_sched_state *st);
/* Whether the epoch that is ending needs an eigenvalue (abs/absa, below the cap). */
int absa_sched_wants_eig(const absa_sched_cfg *cfg, const absa_sched_state *st);
/* The decision at the end of epoch `epoch` (1-based: the number of epochs finished). eig is the
 * eigenvalue measured this epoch (ignored unless absa_sched_wants_eig). Pure: reads *in, writes *out. */
void absa_sched_end_epoch(const absa_sched_cfg *cfg, const absa_sched_state *in, double eig,
                          int epoch, absa_sched_state *out, absa_sched_decision *d);
/* Number of FGSM samples in a micro-batch of n: max(floor(B0*ratio), 1) while ratio > 1/B0,
 * else 0; never more than n. */
int absa_sched_adv_count(const absa_sched_cfg *cfg, const absa_sched_state *st, int n);
/* accumulation steps (micro-batches) for an effective batch: ceil(batch / micro) */
int absa_sched_accum(const absa_sched_cfg *cfg, int batch);
/* Growth beyond the job (hand-off): the ranks to ask a bigger job for at an epoch end, or 0. R
 * ranks now, the job holds max_ranks slots, k micro-batches per step of the next batch, grew: the
 * batch doubled at this epoch end. Asks for min(2R, k) when that exceeds the job and the ranks
 * are at its size, at a doubling and also whenever the ranks lag the batch (k > R: a job that
 * took over after the batch had doubled again). Pure. */
int absa_sched_handoff_want(int R, int max_ranks, int k, int grew);
#endif
