/* schedule.c — the pure ABS/ABSA batch-size decision function; see schedule.h. */
#include "schedule.h"

#include <math.h>
#include <string.h>

void absa_sched_defaults(absa_sched_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->method = ABSA_SCHED_ABSA;
    cfg->epochs = 90;
    cfg->batch0 = 128;
    cfg->micro = 128;
    cfg->max_batch = 16384;
    cfg->lr0 = 0.1;
    cfg->lr_decay = 0.2;
    cfg->lr_decay_epochs[0] = 30;
    cfg->lr_decay_epochs[1] = 60;
    cfg->lr_decay_epochs[2] = 80;
    cfg->n_lr_decay = 3;
    cfg->adv_ratio0 = 0.2;
    cfg->growth_ratio = 2.0;
    cfg->duration = 10;
}

absa_status absa_sched_check(const absa_sched_cfg *c)
{
    absa_status status = ABSA_OK;
    if (c->method < ABSA_SCHED_SGD || c->method > ABSA_SCHED_ABSA) ABSA_FAIL(ABSA_EINVAL, "unknown schedule %d", c->method);
    if (c->epochs < 1) ABSA_FAIL(ABSA_EINVAL, "epochs must be >= 1 (got %d)", c->epochs);
    if (c->batch0 < 1) ABSA_FAIL(ABSA_EINVAL, "batch must be >= 1 (got %d)", c->batch0);
    if (c->micro < 1) ABSA_FAIL(ABSA_EINVAL, "micro-batch must be >= 1 (got %d)", c->micro);
    if (c->max_batch < c->batch0)
        ABSA_FAIL(ABSA_EINVAL, "max batch %d is below the batch %d", c->max_batch, c->batch0);
    if (!(c->lr0 > 0) || !isfinite(c->lr0)) ABSA_FAIL(ABSA_EINVAL, "learning rate must be positive (got %g)", c->lr0);
    if (!(c->lr_decay > 0) || !isfinite(c->lr_decay)) ABSA_FAIL(ABSA_EINVAL, "lr decay factor must be positive (got %g)", c->lr_decay);
    if (!(c->adv_ratio0 >= 0 && c->adv_ratio0 <= 1)) ABSA_FAIL(ABSA_EINVAL, "adversarial ratio must be in [0, 1] (got %g)", c->adv_ratio0);
    if (!(c->growth_ratio > 1)) ABSA_FAIL(ABSA_EINVAL, "growth ratio must be > 1 (got %g)", c->growth_ratio);
    if (c->duration < 1) ABSA_FAIL(ABSA_EINVAL, "duration must be >= 1 (got %d)", c->duration);
    if (c->n_lr_decay < 0 || c->n_lr_decay > ABSA_SCHED_MAX_DECAYS) ABSA_FAIL(ABSA_EINVAL, "too many lr decay epochs");
    for (int i = 0; i < c->n_lr_decay; i++)
        if (c->lr_decay_epochs[i] < 1) ABSA_FAIL(ABSA_EINVAL, "lr decay epoch %d must be >= 1", c->lr_decay_epochs[i]);
cleanup:
    return status;
}

void absa_sched_init(const absa_sched_cfg *cfg, absa_sched_state *st)
{
    memset(st, 0, sizeof *st);
    st->batch = cfg->batch0;
    st->lr = cfg->lr0;
    st->adv_ratio = cfg->method == ABSA_SCHED_ABSA ? cfg->adv_ratio0 : 0.0;
    st->eig_ref = NAN;
    st->at_cap = cfg->method == ABSA_SCHED_SGD || cfg->batch0 >= cfg->max_batch;
    if (st->at_cap && cfg->method != ABSA_SCHED_SGD) st->adv_ratio = 0.0;
}

int absa_sched_wants_eig(const absa_sched_cfg *cfg, const absa_sched_state *st)
{
    return cfg->method != ABSA_SCHED_SGD && !st->at_cap;
}

void absa_sched_end_epoch(const absa_sched_cfg *cfg, const absa_sched_state *in, double eig,
                          int epoch, absa_sched_state *out, absa_sched_decision *d)
{
    *out = *in;
    memset(d, 0, sizeof *d);
    d->old_batch = d->new_batch = in->batch;
    /* 1. growth checks */
    if (absa_sched_wants_eig(cfg, in) && isfinite(eig)) {
        int grow = 0;
        if (isnan(out->eig_ref)) {
            out->eig_ref = eig; /* the first eigenvalue is the reference */
        } else if (eig <= out->eig_ref / cfg->growth_ratio) {
            out->eig_ref = eig;
            grow = 1;
            d->by_eig = 1;
        }
        if (!grow && ++out->since_growth >= cfg->duration) grow = 1;
        if (grow) {
            long nb = 2L * in->batch;
            if (nb > cfg->max_batch) nb = cfg->max_batch;
            out->lr = in->lr * ((double)nb / in->batch);
            out->batch = (int)nb;
            out->adv_ratio = in->adv_ratio / 2;
            out->since_growth = 0;
            out->growths++;
            d->grew = 1;
            d->new_batch = out->batch;
            if (out->batch >= cfg->max_batch) {
                out->at_cap = 1;
                out->adv_ratio = 0.0;
            }
        }
    }
    /* 2. step lr decay at the listed epochs */
    for (int i = 0; i < cfg->n_lr_decay; i++)
        if (cfg->lr_decay_epochs[i] == epoch) {
            out->lr *= cfg->lr_decay;
            d->lr_decayed = 1;
        }
    /* 3. no adversarial training in the second half */
    if (out->adv_ratio != 0 && 2 * epoch >= cfg->epochs) {
        out->adv_ratio = 0.0;
        d->adv_off = 1;
    }
}

int absa_sched_adv_count(const absa_sched_cfg *cfg, const absa_sched_state *st, int n)
{
    if (!(st->adv_ratio > 1.0 / cfg->batch0)) return 0;
    int k = (int)floor(cfg->batch0 * st->adv_ratio);
    if (k < 1) k = 1;
    return k < n ? k : n;
}

int absa_sched_accum(const absa_sched_cfg *cfg, int batch) { return (batch + cfg->micro - 1) / cfg->micro; }

int absa_sched_handoff_want(int R, int max_ranks, int k, int grew)
{
    const int want = 2 * R < k ? 2 * R : k;
    return (grew || k > R) && want > max_ranks && R >= max_ranks ? want : 0;
}
