/* test_schedule.c — the ABS/ABSA decision function against a table of hand-worked cases:
 * eigenvalue trigger, duration trigger, the cap (power-of-two and not), lr decay on the same
 * epoch as a growth, the adversarial switch-off at epochs/2, SGD never growing, validation. */
#include <math.h>
#include <string.h>

#include "absa_test.h"
#include "schedule.h"

typedef struct step { double eig; int batch; double lr; double adv; double ref; int grew; } step;

/* run epochs 1..n with the given eigenvalues; check the state after each */
static void run(const char *name, const absa_sched_cfg *cfg, const step *s, int n)
{
    absa_sched_state st, nx;
    absa_sched_init(cfg, &st);
    for (int e = 1; e <= n; e++) {
        absa_sched_decision d;
        double eig = absa_sched_wants_eig(cfg, &st) ? s[e - 1].eig : NAN;
        absa_sched_end_epoch(cfg, &st, eig, e, &nx, &d);
        st = nx;
        const step *w = &s[e - 1];
        CHECK(st.batch == w->batch, "%s epoch %d: batch %d want %d", name, e, st.batch, w->batch);
        CHECK(fabs(st.lr - w->lr) <= 1e-12 * w->lr, "%s epoch %d: lr %.10g want %.10g", name, e, st.lr, w->lr);
        CHECK(fabs(st.adv_ratio - w->adv) <= 1e-12, "%s epoch %d: adv %.6g want %.6g", name, e, st.adv_ratio, w->adv);
        CHECK((isnan(w->ref) && isnan(st.eig_ref)) || fabs(st.eig_ref - w->ref) <= 1e-12,
              "%s epoch %d: ref %g want %g", name, e, st.eig_ref, w->ref);
        CHECK(d.grew == w->grew, "%s epoch %d: grew %d want %d", name, e, d.grew, w->grew);
    }
}

int main(void)
{
    absa_sched_cfg c;
    absa_sched_defaults(&c);
    c.epochs = 20;
    c.n_lr_decay = 1;
    c.lr_decay_epochs[0] = 3;
    c.max_batch = 1024;
    /* eigenvalue trigger: 10 -> ref; 6 no (> 5); 5 grows (<= 10/2); lr decay at epoch 3 after
     * the growth of the same epoch; 2.4 grows (<= 2.5); ... */
    const step eigtrig[] = {
        {10.0, 128, 0.1, 0.2, 10.0, 0},
        {6.0, 128, 0.1, 0.2, 10.0, 0},
        {5.0, 256, 0.1 * 2 * 0.2, 0.1, 5.0, 1},      /* growth + lr decay same epoch */
        {2.4, 512, 0.1 * 4 * 0.2, 0.05, 2.4, 1},
        {1.3, 512, 0.1 * 4 * 0.2, 0.05, 2.4, 0},
        {1.2, 1024, 0.1 * 8 * 0.2, 0.0, 1.2, 1},     /* cap reached: adv 0 */
        {99, 1024, 0.1 * 8 * 0.2, 0.0, 1.2, 0},      /* at the cap: eigenvalue ignored */
    };
    run("eig-trigger", &c, eigtrig, 7);

    /* duration trigger: eigenvalue never halves; growth after `duration` eigenvalue epochs */
    absa_sched_defaults(&c);
    c.epochs = 100;
    c.n_lr_decay = 0;
    c.duration = 3;
    c.max_batch = 300; /* not a power of two: 128 -> 256 -> 300 (clamped) */
    const step dur[] = {
        {4.0, 128, 0.1, 0.2, 4.0, 0},
        {3.9, 128, 0.1, 0.2, 4.0, 0},
        {3.8, 256, 0.2, 0.1, 4.0, 1},                /* 3rd eigen epoch without growth: grow, ref unchanged */
        {3.7, 256, 0.2, 0.1, 4.0, 0},
        {1.0, 300, 0.2 * 300.0 / 256.0, 0.0, 1.0, 1}, /* eig trigger, clamped to the cap, lr scaled by 300/256 */
        {0.1, 300, 0.2 * 300.0 / 256.0, 0.0, 1.0, 0},
    };
    run("duration+cap", &c, dur, 6);

    /* adversarial switch-off at epochs/2 without growth; ABS has no adversarial ratio */
    absa_sched_defaults(&c);
    c.epochs = 4;
    c.n_lr_decay = 0;
    const step adv[] = {
        {1.0, 128, 0.1, 0.2, 1.0, 0},
        {0.9, 128, 0.1, 0.0, 1.0, 0},                /* epoch 2 >= 4/2 */
        {0.8, 128, 0.1, 0.0, 1.0, 0},
    };
    run("adv-off", &c, adv, 3);
    c.method = ABSA_SCHED_ABS;
    const step abs_[] = {{1.0, 128, 0.1, 0.0, 1.0, 0}, {0.4, 256, 0.2, 0.0, 0.4, 1}};
    run("abs", &c, abs_, 2);

    /* SGD: never grows, never wants eigenvalues; lr decay still applies */
    absa_sched_defaults(&c);
    c.method = ABSA_SCHED_SGD;
    c.epochs = 3;
    c.n_lr_decay = 1;
    c.lr_decay_epochs[0] = 2;
    absa_sched_state st;
    absa_sched_init(&c, &st);
    CHECK(!absa_sched_wants_eig(&c, &st), "sgd wants eigenvalues");
    const step sgd[] = {{0.1, 128, 0.1, 0.0, NAN, 0}, {0.01, 128, 0.02, 0.0, NAN, 0}};
    run("sgd", &c, sgd, 2);

    /* FGSM sample counts: B0 = 128 */
    absa_sched_defaults(&c);
    absa_sched_init(&c, &st);
    st.adv_ratio = 0.2;
    CHECK(absa_sched_adv_count(&c, &st, 128) == 25, "adv count 0.2 -> %d", absa_sched_adv_count(&c, &st, 128));
    CHECK(absa_sched_adv_count(&c, &st, 10) == 10, "adv count capped by n");
    st.adv_ratio = 0.0125;
    CHECK(absa_sched_adv_count(&c, &st, 128) == 1, "adv count 0.0125 -> %d", absa_sched_adv_count(&c, &st, 128));
    st.adv_ratio = 0.00625; /* below 1/128 */
    CHECK(absa_sched_adv_count(&c, &st, 128) == 0, "adv count 0.00625 -> %d", absa_sched_adv_count(&c, &st, 128));
    CHECK(absa_sched_accum(&c, 1000) == 8 && absa_sched_accum(&c, 256) == 2, "accumulation");

    /* hand-off requests (R, slots, micro-batches per step, grew) */
    CHECK(absa_sched_handoff_want(1, 1, 2, 1) == 2, "doubling in a full 1-slot job: ask for 2");
    CHECK(absa_sched_handoff_want(2, 2, 16, 1) == 4, "doubling at 2 of 2 slots, 16 micro-batches: 4");
    CHECK(absa_sched_handoff_want(2, 2, 3, 1) == 3, "never more ranks than micro-batches");
    CHECK(absa_sched_handoff_want(1, 2, 16, 1) == 0, "slots left in the job: grow inside it first");
    CHECK(absa_sched_handoff_want(2, 2, 2, 1) == 0, "2 micro-batches on 2 ranks: nothing to ask");
    CHECK(absa_sched_handoff_want(2, 4, 16, 1) == 0, "4 slots want 4: inside the job");
    /* no doubling this epoch, but the ranks lag the batch (slurm.e2e_handoff run D: a job that took
     * over at 2 ranks after the batch reached its cap of 16 micro-batches) */
    CHECK(absa_sched_handoff_want(2, 2, 16, 0) == 4, "ranks lag the batch: ask for the next size");
    CHECK(absa_sched_handoff_want(4, 4, 4, 0) == 0, "ranks caught up: no request without a doubling");
    CHECK(absa_sched_handoff_want(1, 1, 1, 0) == 0, "one micro-batch: nothing to ask");

    /* validation */
    absa_sched_defaults(&c);
    c.max_batch = 64;
    CHECK(absa_sched_check(&c) == ABSA_EINVAL, "cap below batch accepted");
    absa_sched_defaults(&c);
    c.lr0 = -0.1;
    CHECK(absa_sched_check(&c) == ABSA_EINVAL, "negative lr accepted");
    absa_sched_defaults(&c);
    CHECK(absa_sched_check(&c) == ABSA_OK, "defaults rejected: %s", absa_last_error());
    return absa_test_finish("test_schedule");
}
