/* train_step.c — the computing part of an epoch of `absa train`, on one rank or spread over the
 * active ranks so that the result does not depend on their number:
 *
 *  - a step of batch B takes samples [cursor, cursor+B) of the ONE global permutation
 *    absa_permutation(seed, epoch); its k = ceil(B / micro) micro-batches j go to rank j % R,
 *    each backpropagated with weight nb/B into the zeroed gradient arena, which is added to an
 *    exact fixed-point sum (exact_sum.h) with the micro-batch's weighted loss; then one
 *    allreduce of those sums and one of a small double vector (correct count, stop flag,
 *    batch-norm statistics). The exact sums make the step's gradient and loss the same bits
 *    whatever the number of ranks and whichever rank ran which micro-batch (float addition
 *    would make them depend on the grouping, e.g. on the step at which spawned ranks join);
 *  - batch norm: batch statistics per micro-batch (train mode) as on one process. The running
 *    statistics after a step are those of the k sequential updates r <- (1-m) r + m s_j, which
 *    is linear: r_k = (1-m)^k r_0 + sum_j (1-m)^(k-1-j) m s_j, so each rank adds its own
 *    micro-batches' terms and the sum is reduced (on one rank the updates run natively);
 *  - FGSM (eval-mode BN) on one rank sees the live running statistics, updated by the earlier
 *    micro-batches of the step, as the reference (HessianFlow) does; on several ranks those
 *    micro-batches are elsewhere, so it sees the step-start statistics. This is the one place
 *    where results depend on the number of ranks: batch-norm models, ABSA with adversarial
 *    ratio > 0 and accumulation > 1 (docs/growth.md);
 *  - the eigenvalue: chunk c of the eig-samples set goes to rank c % R, Hv is allreduced;
 *  - the test pass: test batch b goes to rank b % R, loss and correct counts are summed;
 *  - --data ucx://: rank j % R asks `absa serve` for micro-batch j's exact permutation positions
 *    (train_source.h), so every step trains on the same samples as from the file, whatever the
 *    ranks' timing.
 * A stop signal (SIGTERM/SIGINT) seen by any rank ends the epoch after the current step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base_sys.h"
#include "dist_train.h"
#include "fgsm.h"
#include "trainer.h"
#include "train_source.h"
#include "trainer_impl.h"

enum { RED_CORRECT = 0, RED_STOP, RED_XBAD, RED_GROW, RED_BN = RED_GROW + 3 };

static void log_ids(absa_tstate *t, int epoch, const uint64_t *idx, int n)
{
    if (!t->idlog) return;
    fprintf(t->idlog, "%d %d", epoch, absa_dist_rank(t->dist));
    for (int i = 0; i < n; i++) fprintf(t->idlog, " %llu", (unsigned long long)idx[i]);
    fputc('\n', t->idlog);
}

/* a step line, handed to the kernel at once (it survives a kill -9 of this process) */
static absa_status log_step(absa_tstate *t, int epoch, double loss)
{
    const absa_train_cfg *c = t->cfg;
    if (!t->io || c->step_log <= 0 || t->pr.global_step % c->step_log != 0) return ABSA_OK;
    fprintf(t->metrics.f, "{\"type\": \"step\", \"epoch\": %d, \"step\": %lld, \"loss\": %.9g, \"lr\": %.9g, \"batch\": %d}\n",
            epoch, (long long)t->pr.global_step, loss, t->pr.sched.lr, t->pr.sched.batch);
    return absa_mlog_commit(&t->metrics, 0);
}

/* How a micro-batch's host gradient enters the step's exact sum (no device sum, m->gxl NULL).
 * Every way gives bitwise what zero + add (+ get) gives, with fewer passes over 16-byte words. */
typedef enum xs_way {
    XS_ROUND,   /* the step's only addend on one rank: rounded onto the grid in place */
    XS_SET,     /* this rank's first addend: the words are set, not zeroed then added to */
    XS_ADD,     /* a middle addend */
    XS_ADD_GET  /* the last addend on one rank: the sum goes straight to the host gradient */
} xs_way;

/* One micro-batch (global index j of the step starting at cur): FGSM, forward, backward. */
static absa_status micro_batch(absa_tstate *t, int epoch, size_t cur, int j, int B, int k, int merge_bn,
                               xs_way way, uint64_t aug_seed, long *correct)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    const absa_sched_cfg *sc = &c->sched;
    absa_model *m = t->m;
    const int off = j * sc->micro;
    int nb = B - off < sc->micro ? B - off : sc->micro;
    const uint64_t *ids = NULL;
    double d0 = absa_now();
    ABSA_TRY(t->src->fetch(t, epoch, cur, j, nb, aug_seed, &ids));
    t->t_data += absa_now() - d0;
    for (int i = 0; i < nb; i++)
        if (t->y[i] < 0 || t->y[i] >= t->K) ABSA_FAIL(ABSA_EFORMAT, "%s: label %d out of range", c->data, t->y[i]);
    log_ids(t, epoch, ids, nb);
    int adv = sc->method == ABSA_SCHED_ABSA ? absa_sched_adv_count(sc, &t->pr.sched, nb) : 0;
    if (adv > 0) {
        /* eval-mode BN: live running statistics on one rank (as the reference); on several,
         * the step-start ones (the earlier micro-batches of the step are on other ranks) */
        if (merge_bn) absa_model_bn_restore(m);
        status = absa_fgsm(m, t->x, t->y, adv, t->eps_c);
        if (status != ABSA_OK) ABSA_FAIL_CTX(status, "FGSM: ");
    }
    if (merge_bn) absa_model_bn_zero(m); /* the update leaves m * s_j */
    const float *z = absa_model_forward(m, t->x, nb, 1, 1);
    if (!z) { /* absa_model_forward recorded the message */
        status = ABSA_ENOMEM;
        goto cleanup;
    }
    double l = absa_model_loss(m, t->y);
    if (!isfinite(l))
        ABSA_FAIL(ABSA_EINVAL, "training diverged: loss is %g at epoch %d step %lld (lr %g too large?)", l, epoch,
                  (long long)t->pr.global_step, t->pr.sched.lr);
    absa_model_zero_grad(m);
    absa_model_backward(m, t->x, t->y, (double)nb / B, 0);
    *correct += absa_xent_correct_f32(nb, t->K, z, t->y);
    const double wl = l * nb / B;
    if (m->gxl) { /* the exact sum where the gradient is (a GPU: exact_limbs.h), no host copy */
        absa_model_xl_add_grad(m, t->gsum.limit);
    } else {
        absa_model_get(m, m->grad, t->ghost, m->n_params); /* a host copy for the exact sum */
        if (way == XS_ROUND)
            absa_xsum_round_f32(&t->gsum, t->ghost, m->n_params);
        else if (way == XS_SET)
            absa_xsum_set_f32(&t->gsum, 0, t->ghost, m->n_params);
        else if (way == XS_ADD)
            absa_xsum_add_f32(&t->gsum, 0, t->ghost, m->n_params);
        else
            absa_xsum_add_get_f32(&t->gsum, 0, t->ghost, t->ghost, m->n_params);
    }
    absa_xsum_add_f64(&t->gsum, t->gsum.n - 1, &wl, 1);
    if (merge_bn) absa_model_bn_accumulate(m, k, j, t->red + RED_BN);
cleanup:
    return status;
}

absa_status absa_tr_train_epoch(absa_tstate *t, int epoch, double *loss_out, double *acc_out, int *stopped)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    const absa_sched_cfg *sc = &c->sched;
    absa_model *m = t->m;
    absa_train_progress *pr = &t->pr;
    const size_t nbuf = m->n_bufs;
    *stopped = 0;
    absa_permutation(c->seed, (uint64_t)epoch, t->n_train, t->perm);
    uint64_t aug_seed = absa_hash64(c->seed ^ 0xA06ull, (uint64_t)epoch);
    if (pr->ep_epoch != epoch) {
        pr->ep_epoch = epoch;
        pr->ep_cursor = 0;
        pr->ep_loss_sum = 0;
        pr->ep_correct = pr->ep_seen = 0;
    }
    for (size_t cur = (size_t)pr->ep_cursor; cur < t->n_train;) {
        absa_tr_nccl_poll(t, epoch); /* a step boundary: a new NCCL communicator may be ready */
        const int R = absa_dist_size(t->dist), rank = absa_dist_rank(t->dist); /* grows at steps */
        int B = pr->sched.batch;
        /* e.g. the stream: this rank's micro-batches of this and the next steps are requested
         * ahead (requests of an older plan, e.g. before the ranks grew, are withdrawn) */
        if (t->src->plan) ABSA_TRY(t->src->plan(t, epoch, cur, B, R, rank));
        if ((size_t)B > t->n_train - cur) B = (int)(t->n_train - cur);
        const int k = (B + sc->micro - 1) / sc->micro;
        const int merge_bn = R > 1 && nbuf > 0, growing = absa_dist_grow_pending(t->dist);
        double t0 = absa_now(), step_loss = 0;
        long correct = 0;
        /* The host exact sum of the gradient (xs_way): a rank with micro-batches sets the words
         * with its first one, so only the loss word is cleared here; on one rank the last one
         * adds and rounds in the same pass, straight into the host gradient (with a single
         * micro-batch: rounded onto the grid in place). Each is bitwise zero + add + get, with
         * 16 to 32 bytes less memory traffic per parameter and addend. */
        const int direct = R == 1 && !m->gxl; /* the sum ends in t->ghost without a get */
        absa_xsum_zero_from(&t->gsum, k, !m->gxl && rank < k ? t->gsum.n - 1 : 0);
        ABSA_ASSERT(k <= ABSA_XLIMB_MAX_RANKS, "%d micro-batches per step: exact sums hold %ld addends", k,
                    (long)ABSA_XLIMB_MAX_RANKS);
        if (m->gxl) absa_model_xl_zero(m);
        absa_model_bn_snapshot(m);
        if (merge_bn) memset(t->red + RED_BN, 0, nbuf * sizeof(double));
        for (int j = rank; j < k; j += R) {
            const xs_way way = direct && k == 1 ? XS_ROUND : j == rank ? XS_SET : direct && j + R >= k ? XS_ADD_GET : XS_ADD;
            ABSA_TRY(micro_batch(t, epoch, cur, j, B, k, merge_bn, way, aug_seed, &correct));
        }
        t->red[RED_CORRECT] = (double)correct;
        t->red[RED_XBAD] = t->gsum.bad || (m->gxl && absa_model_xl_bad(m));
        int sig = absa_stop_watch_poll(t->stop);
        if (!sig && c->stop_at_step > 0 && pr->global_step + 1 == c->stop_at_step) sig = ABSA_STOP_AT_STEP; /* every rank alike */
        if (!sig && absa_handoff_poll(t)) sig = -1; /* a bigger job is ready to take over */
        if (sig) t->stop_sig = sig;
        t->red[RED_STOP] = sig != 0;
        absa_dist_grow_flags(t->dist, t->red + RED_GROW); /* zeros unless a spawn is under way */
        if (R > 1) {
            double q = absa_now();
            if (m->gxl) { /* the loss word joins the device limbs: one reduction */
                absa_model_xl_loss(m, &t->gsum.v[t->gsum.n - 1], 1);
                absa_dist_allreduce_xlimbs(t->dist, m->be, m->gxl, m->n_params + 1);
                absa_model_xl_loss(m, &t->gsum.v[t->gsum.n - 1], 0);
            } else {
                absa_dist_allreduce_x128(t->dist, t->gsum.v, t->gsum.n);
            }
            absa_dist_allreduce_f64(t->dist, t->red, RED_BN + (merge_bn ? nbuf : 0));
            t->t_comm += absa_now() - q;
        }
        if (merge_bn) absa_model_bn_merge(m, k, t->red + RED_BN);
        if (t->red[RED_XBAD] > 0) /* every rank sees it after the reduction: all stop here */
            ABSA_FAIL(ABSA_EINVAL, "training diverged: a gradient is not finite or beyond %g at epoch %d step %lld (lr %g too large?)",
                      t->gsum.limit, epoch, (long long)pr->global_step, pr->sched.lr);
        if (m->gxl) {
            absa_model_xl_to_grad(m);
        } else {
            if (!direct) absa_xsum_get_f32(&t->gsum, 0, t->ghost, m->n_params);
            absa_model_set(m, m->grad, t->ghost, m->n_params);
        }
        step_loss = absa_xsum_get_f64(&t->gsum, t->gsum.n - 1);
        t->opt.lr = pr->sched.lr;
        absa_sgd_step(m, &t->opt);
        if (t->src->commit) ABSA_TRY(t->src->commit(t)); /* after the update: consumed exactly once */
        pr->global_step++;
        pr->samples_seen += B;
        pr->ep_loss_sum += step_loss * B;
        pr->ep_seen += B;
        pr->ep_correct += (int64_t)t->red[RED_CORRECT];
        cur += (size_t)B;
        pr->ep_cursor = (int64_t)cur;
        t->t_compute += absa_now() - t0;
        ABSA_TRY(log_step(t, epoch, step_loss));
        if (t->io && t->tty && !c->quiet)
            fprintf(stderr, "\r  epoch %d: %zu/%zu samples, step %lld, loss %.4f   ", epoch, cur, t->n_train,
                    (long long)pr->global_step, step_loss);
        if (t->red[RED_STOP] > 0) { /* some rank saw SIGTERM/SIGINT: the step is committed, stop */
            *stopped = 1;
            break;
        }
        /* a committed step boundary: ranks spawned in the background may join here */
        if (growing) absa_tr_grow_settle(t, epoch, t->red + RED_GROW, 0);
    }
    if (t->io && t->tty && !c->quiet) fprintf(stderr, "\r%70s\r", "");
    *loss_out = pr->ep_seen ? pr->ep_loss_sum / (double)pr->ep_seen : NAN;
    *acc_out = pr->ep_seen ? (double)pr->ep_correct / (double)pr->ep_seen : NAN;
cleanup:
    if (t->idlog) fflush(t->idlog);
    return status;
}

absa_status absa_tr_epoch_eig(absa_tstate *t, int epoch, double *eig, int *iters, int *converged)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    const int R = absa_dist_size(t->dist), rank = absa_dist_rank(t->dist);
    size_t full = absa_h5reader_count(t->train);
    int n = c->eig_samples < (int)full ? c->eig_samples : (int)full;
    int nl = absa_dist_local_count(n, c->eig_chunk, rank, R);
    uint64_t es = absa_eig_seed(c->seed, epoch);
    uint64_t *perm = malloc(sizeof(uint64_t) * full);
    uint64_t *idx = malloc(sizeof(uint64_t) * (size_t)(nl ? nl : 1));
    float *x = absa_try_alloc((size_t)(nl ? nl : 1) * t->C * t->H * t->W * sizeof(float));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)(nl ? nl : 1));
    if (!perm || !idx || !x || !y) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate the eigenvalue samples");
    absa_permutation(es, 0, full, perm); /* as absa_samples_load(shuffle, seed = es) does */
    for (int i = 0; i < nl; i++) idx[i] = perm[absa_dist_local_index(i, c->eig_chunk, rank, R)];
    if (nl) ABSA_TRY(absa_h5reader_gather_f32(t->train, idx, (size_t)nl, 1, 0, 0, 0, x, y));
    absa_eig_opts o;
    absa_eig_defaults(&o);
    o.max_iters = c->eig_iters;
    o.tol = c->eig_tol;
    o.rule = c->eig_rule;
    o.chunk = c->eig_chunk;
    o.seed = es;
    absa_eig_result r;
    ABSA_TRY(absa_dist_power_iteration(t->dist, t->m, x, y, nl, n, &o, &r));
    *eig = r.eig[0];
    *iters = r.iters[0];
    *converged = r.converged[0];
cleanup:
    free(perm);
    free(idx);
    absa_free(x);
    free(y);
    return status;
}

absa_status absa_tr_test_pass(absa_tstate *t, double *loss, double *acc)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    const int R = absa_dist_size(t->dist), rank = absa_dist_rank(t->dist);
    /* a test batch is evaluated in pieces of at most a micro-batch: the activations (and t->x)
     * of training suffice. Evaluation (BN eval mode) is per sample and the batch's loss is
     * summed per sample in order as absa_model_loss does; only the GEMMs' row count differs
     * from one forward of the whole test batch, which can change a logit's last bit (OpenBLAS
     * picks kernels by size): same accuracy, loss equal to ~10 digits (docs/training.md). */
    const int piece = c->sched.micro < c->test_batch ? c->sched.micro : c->test_batch;
    double sums[2] = {0, 0}; /* loss x samples, correct */
    uint64_t *idx = malloc(sizeof(uint64_t) * (size_t)piece);
    if (!idx) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    size_t b = 0;
    for (size_t s = 0; s < t->n_test; s += (size_t)c->test_batch, b++) {
        if ((int)(b % (size_t)R) != rank) continue;
        int nb = (int)(t->n_test - s < (size_t)c->test_batch ? t->n_test - s : (size_t)c->test_batch);
        double batch_loss = 0; /* sum of the per-sample losses, in sample order */
        for (int o = 0; o < nb; o += piece) {
            int np = nb - o < piece ? nb - o : piece;
            for (int i = 0; i < np; i++) idx[i] = s + (size_t)o + (size_t)i;
            ABSA_TRY(absa_h5reader_gather_f32(t->test, idx, (size_t)np, 1, 0, 0, 0, t->x, t->y));
            const float *z = absa_model_forward(t->m, t->x, np, 0, 0);
            if (!z) { /* absa_model_forward recorded the message */
                status = ABSA_ENOMEM;
                goto cleanup;
            }
            for (int i = 0; i < np; i++) batch_loss += absa_xent_forward_f32(1, t->K, z + (size_t)i * t->K, t->y + i, NULL);
            sums[1] += absa_xent_correct_f32(np, t->K, z, t->y);
        }
        sums[0] += batch_loss / nb * nb; /* as the mean of the batch x its size before */
    }
    absa_dist_allreduce_f64(t->dist, sums, 2);
    *loss = t->n_test ? sums[0] / (double)t->n_test : NAN;
    *acc = t->n_test ? sums[1] / (double)t->n_test : NAN;
cleanup:
    free(idx);
    return status;
}
