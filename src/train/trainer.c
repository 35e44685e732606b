/* trainer.c — the training loop of `absa train`: SGD / ABS / ABSA with gradient accumulation
 * over micro-batches (train_step.c, spread over MPI ranks when there are several), the
 * end-of-epoch eigenvalue, the schedule decision (rank 0 decides, everyone applies it), the test
 * pass, metrics, per-epoch atomic checkpoints, bitwise-exact resume, growth of the worker set
 * when the batch doubles (dist.h) and the graceful stop on SIGTERM/SIGINT with a mid-epoch
 * checkpoint.
 *
 * All randomness is a function of (seed, epoch, ...) — data order absa_permutation(seed, epoch),
 * augmentation absa_hash64(seed, epoch), eigenvalue samples and start vector from
 * absa_eig_seed(seed, epoch) — so a resumed run, or a rank that joins, needs only model,
 * optimizer, schedule state and the epoch cursor. Only active rank 0 writes files. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "base_sys.h"
#include "blas_core.h"
#include "dist_train.h"
#include "train_source.h"
#include "trainer_impl.h"

uint64_t absa_eig_seed(uint64_t seed, int epoch) { return absa_hash64(seed ^ 0xE16E16ull, (uint64_t)epoch); }

static const char *method_name(int m) { return m == ABSA_SCHED_SGD ? "sgd" : m == ABSA_SCHED_ABS ? "abs" : "absa"; }

static absa_status open_data(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    t->src = absa_source_for(c->data);
    ABSA_TRY(t->src->open(t));
    if (t->n_train < (size_t)c->sched.batch0)
        ABSA_FAIL(ABSA_EINVAL, "%zu training samples%s are fewer than one batch (--batch %d): lower --batch or raise --limit-train",
                  t->n_train, c->limit_train > 0 && (size_t)c->limit_train == t->n_train ? " (--limit-train)" : "", c->sched.batch0);
    int aug = !strcmp(c->augment, "crop-flip") || (!strcmp(c->augment, "auto") && t->C == 3 && t->H == 32 && t->W == 32);
    t->crop = aug ? 4 : 0;
    t->flip = aug;
cleanup:
    return status;
}

/* A rank spawned by a growth built its model before it joined, on the GPU of its local rank in the
 * spawned job, which counts from 0 again (the GPUs of the first ranks). Joined, it knows its
 * node-local index in the merged communicator: if that means another GPU, the model is built again
 * there, the old one released first (the state broadcast that follows fills it). If that fails
 * (e.g. that GPU is full), it goes back to the first GPU (one line): correct, and the NCCL layer's
 * shared-GPU check then takes the host path with its line. */
static void rechoose_device(absa_tstate *t)
{
    const absa_train_cfg *c = t->cfg;
    const int idx = absa_dist_joined_local_index(t->dist);
    const int want = idx < 0 ? -1 : absa_backend_device_for(c->device, idx);
    if (want < 0 || want == t->m->be->device || strcmp(t->m->be->name, "cuda")) return;
    const int had = t->m->be->device;
    absa_dist_nccl_rebind(t->dist, NULL);
    absa_model_free(t->m);
    t->m = NULL;
    if (absa_model_create_at(c->model, t->C, t->H, t->W, t->K, c->device, idx, &t->m) != ABSA_OK) {
        fprintf(stderr, "absa train: rank %d stays on cuda:%d: %s\n", absa_dist_rank(t->dist), had, absa_last_error());
        if (absa_model_create_on(c->model, t->C, t->H, t->W, t->K, c->device, &t->m) != ABSA_OK)
            ABSA_ABORT("rank %d: the model on cuda:%d again: %s", absa_dist_rank(t->dist), had, absa_last_error());
    }
    absa_model_init(t->m, c->seed);
    absa_dist_nccl_rebind(t->dist, t->m->be);
}

/* model, optimizer and progress: fresh or from --resume (read by rank 0 only: the others get
 * it by broadcast); all checks before any training */
static absa_status setup_model(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    absa_ckpt_extra *ex = NULL;
    int old_epochs = 0;
    ABSA_TRY(absa_model_create_on(c->model, t->C, t->H, t->W, t->K, c->device, &t->m));
    absa_dist_nccl_attach(t->dist, t->m->be); /* cuda under MPI: NCCL reductions (dist_nccl.h) */
    memset(&t->opt, 0, sizeof t->opt);
    t->opt.momentum = c->momentum;
    t->opt.weight_decay = c->weight_decay;
    t->opt.dampening = c->dampening;
    t->opt.nesterov = c->nesterov;
    t->opt.lr = c->sched.lr0;
    ABSA_TRY(absa_sgd_check(&t->opt));
    absa_model_init(t->m, c->seed);
    absa_sched_init(&c->sched, &t->pr.sched);
    ABSA_TRY(absa_handoff_wait(t)); /* a job taking over: set up, now the old job's checkpoint */
    if (!c->resume[0] || !t->io) return ABSA_OK;
    char name[64];
    int C, H, W, K;
    ABSA_TRY(absa_checkpoint_peek(c->resume, name, sizeof name, &C, &H, &W, &K));
    if (strcmp(name, c->model))
        ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s is a %s model, --model is %s", c->resume, name, c->model);
    if (C != t->C || H != t->H || W != t->W || K != t->K)
        ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s expects %dx%dx%d inputs and %d classes, data %s has %dx%dx%d and %d",
                  c->resume, C, H, W, K, c->data, t->C, t->H, t->W, t->K);
    ex = calloc(1, sizeof *ex);
    if (!ex) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    ABSA_TRY(absa_checkpoint_load(c->resume, t->m, ex));
    ABSA_TRY(absa_progress_from_extra(ex, c, &t->pr, &old_epochs));
    if (old_epochs && old_epochs != c->sched.epochs && !c->quiet)
        fprintf(stderr, "absa train: --epochs %d applied (the checkpoint's run had --epochs %d): the run %s\n", c->sched.epochs,
                old_epochs, c->sched.epochs > old_epochs ? "is extended" : "ends earlier");
    if (t->src->from_extra) t->src->from_extra(t, ex);
    if (t->pr.ep_epoch && (size_t)t->pr.ep_cursor > t->n_train)
        ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s stopped at sample %lld of epoch %d, beyond the %zu training samples (another --limit-train?)",
                  c->resume, (long long)t->pr.ep_cursor, t->pr.ep_epoch, t->n_train);
    t->opt.has_buf = ex->sgd.has_buf;
    t->opt.steps = ex->sgd.steps;
cleanup:
    free(ex);
    return status;
}

static absa_status setup(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    ABSA_TRY(open_data(t));
    ABSA_TRY(setup_model(t));
    /* e.g. the stream: rank 0 puts the server where this run is, before any rank's first request */
    if (t->src->seek) ABSA_TRY(t->src->seek(t));
    /* batch buffers: a micro-batch (the test pass evaluates in pieces of that size) */
    size_t xs = (size_t)c->sched.micro;
    const size_t nbuf = t->m->n_bufs;
    t->x = absa_try_alloc(xs * t->C * t->H * t->W * sizeof(float));
    t->y = malloc(sizeof(int32_t) * xs);
    t->perm = malloc(sizeof(uint64_t) * t->n_train);
    t->red = malloc(sizeof(double) * (nbuf + 10));
    /* the host exact sum: the gradient's words and the loss word, or, where the backend sums the
     * gradient itself (m->gxl, device memory), the loss word alone and no host gradient copy */
    const size_t hw = t->m->gxl ? 0 : t->m->n_params;
    t->ghost = hw ? malloc(sizeof(float) * hw) : NULL;
    if (!t->x || !t->y || !t->perm || !t->red || (hw && !t->ghost) || absa_xsum_init(&t->gsum, hw + 1))
        ABSA_FAIL(ABSA_ENOMEM, "cannot allocate batch buffers");
    ABSA_TRY(absa_model_reserve(t->m, (int)xs));
    if (c->sample_log[0]) {
        char path[4200];
        ABSA_TRY(absa_train_mkdir(c->sample_log));
        snprintf(path, sizeof path, "%s/ids.%ld.txt", c->sample_log, (long)getpid());
        if (!(t->idlog = fopen(path, "a"))) ABSA_FAIL(ABSA_EIO, "cannot write %s", path);
    }
    if (!t->io) return ABSA_OK;
    /* only now, with options, data and checkpoint found good, is the run directory written */
    /* a hand-off's new job may get here while the old one is still exiting: it waits for the lock */
    ABSA_TRY(absa_train_prepare_dir(c->out, c->force, c->resume[0] != 0, c->handoff_wait ? 300.0 : 0.0,
                                    &t->dir_created, &t->dir_lock));
    t->dir_prepared = 1;
    ABSA_TRY(absa_train_write_config(c->out, c));
    ABSA_TRY(absa_metrics_open(c->out, c->resume[0] ? t->pr.epoch : -1, t->pr.global_step, &t->metrics));
cleanup:
    return status;
}

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v)) fprintf(f, ", \"%s\": %.9g", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

static absa_status save_checkpoint(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", t->cfg->out);
    absa_ckpt_extra *ex = calloc(1, sizeof *ex);
    if (!ex) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    ex->sgd = t->opt;
    ABSA_TRY(absa_progress_to_extra(&t->pr, t->cfg, ex));
    if (t->src->to_extra) ABSA_TRY(t->src->to_extra(t, ex));
    status = absa_checkpoint_save(ckpt, t->m, ex);
cleanup:
    free(ex);
    return status;
}

/* what rank 0 decides at the end of an epoch, applied by every rank */
typedef struct epoch_decision {
    absa_sched_state next;
    absa_sched_decision d;
    double eig;
    int eig_iters;
    int eig_converged;
    int target_ranks; /* > ranks: grow */
    int stop;         /* --stop-after reached (rank 0 counts: joined ranks ran fewer epochs) */
} epoch_decision;

static void decide(absa_tstate *t, const absa_sched_state *before, int epoch, double eig, int iters, int conv,
                   int ran, epoch_decision *e)
{
    memset(e, 0, sizeof *e);
    const absa_sched_cfg *sc = &t->cfg->sched;
    const int R = absa_dist_size(t->dist);
    if (t->io) {
        absa_sched_end_epoch(sc, before, eig, epoch, &e->next, &e->d);
        e->eig = eig;
        e->eig_iters = iters;
        e->eig_converged = conv;
        e->target_ranks = R;
        e->stop = t->cfg->stop_after > 0 && ran >= t->cfg->stop_after;
        /* while ranks < max: the doubling of the batch doubles the ranks (never beyond the
         * micro-batches of a step); beyond that, accumulation grows */
        if (!e->stop && epoch < sc->epochs && absa_handoff_on(t)) { /* beyond the job's slots */
            /* at a growth, and also whenever the ranks lag the batch (a step has more micro-batches
             * than ranks): a hand-off that took over only after the batch had doubled again (the old
             * job's request was already out) asks for the next one at its first epoch end */
            const int want = absa_sched_handoff_want(R, absa_dist_max_ranks(t->dist),
                                                     absa_sched_accum(sc, e->next.batch), e->d.grew);
            if (want) absa_handoff_want(t, epoch, want);
        }
        if (e->d.grew && !e->stop && epoch < sc->epochs && absa_dist_can_grow(t->dist)) {
            int k = absa_sched_accum(sc, e->next.batch), target = 2 * R;
            if (target > absa_dist_max_ranks(t->dist)) target = absa_dist_max_ranks(t->dist);
            if (target > k) target = k;
            if (target > R) e->target_ranks = target;
        }
    }
    absa_dist_bcast(t->dist, e, sizeof *e);
}

/* mid-epoch stop: the checkpoint carries the cursor of the epoch in progress */
static absa_status stop_now(absa_tstate *t, int epoch, double e0)
{
    absa_status status = ABSA_OK;
    t->pr.wall_total += absa_now() - e0;
    if (t->src->sync) ABSA_TRY(t->src->sync(t)); /* the committed positions, for --resume */
    if (!t->io) return ABSA_OK;
    ABSA_TRY(absa_mlog_commit(&t->metrics, 1));
    double q = absa_now();
    ABSA_TRY(save_checkpoint(t));
    if (t->ho_next[0]) return absa_handoff_release(t, epoch, absa_now() - q); /* a bigger job takes over */
    fprintf(stderr, "absa train: stopped by %s after step %lld (epoch %d, %lld of %zu samples); checkpoint %s/checkpoint.h5, continue with --resume\n",
            t->stop_sig == SIGTERM ? "SIGTERM" : t->stop_sig == SIGINT ? "SIGINT" : t->stop_sig == ABSA_STOP_AT_STEP ? "--stop-at-step" : "a signal on another rank",
            (long long)t->pr.global_step, epoch, (long long)t->pr.ep_cursor, t->n_train, t->cfg->out);
cleanup:
    return status;
}

enum { RUN_DONE = 0, RUN_STOPPED = 1 };

static absa_status run_epochs(absa_tstate *t, int *how)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    int ran = 0;
    *how = RUN_DONE;
    for (int epoch = t->pr.epoch + 1; epoch <= c->sched.epochs; epoch++) {
        double e0 = absa_now(), tc0 = t->t_compute, td0 = t->t_data, te0 = t->t_eig, tt0 = t->t_test, tm0 = t->t_comm;
        absa_sched_state before = t->pr.sched;
        const int accum = absa_sched_accum(&c->sched, before.batch);
        double tr_loss, tr_acc, eig = NAN, te_loss = NAN, te_acc = NAN;
        int eig_iters = 0, eig_conv = 0, stopped = 0;
        double w0 = t->src->wait_seconds ? t->src->wait_seconds(t) : 0;
        ABSA_TRY(absa_tr_train_epoch(t, epoch, &tr_loss, &tr_acc, &stopped));
        /* ranks still spawning join now (or are given up if the run stops here) */
        absa_tr_grow_wait(t, epoch, stopped);
        if (stopped) {
            *how = RUN_STOPPED;
            return stop_now(t, epoch, e0);
        }
        const int R = absa_dist_size(t->dist);
        /* time blocked waiting for data: the stream's wait (mean over the ranks), or the file reads */
        double stall = t->t_data - td0;
        if (t->src->wait_seconds) {
            stall = t->src->wait_seconds(t) - w0;
            absa_dist_allreduce_f64(t->dist, &stall, 1);
            stall /= R;
        }
        if (t->src->sync) ABSA_TRY(t->src->sync(t));
        if (absa_sched_wants_eig(&c->sched, &before) && t->train) {
            double q = absa_now();
            ABSA_TRY(absa_tr_epoch_eig(t, epoch, &eig, &eig_iters, &eig_conv));
            t->t_eig += absa_now() - q;
        }
        epoch_decision e;
        decide(t, &before, epoch, eig, eig_iters, eig_conv, ++ran, &e);
        t->pr.sched = e.next;
        t->pr.last_batch = before.batch;
        eig = e.eig;
        eig_iters = e.eig_iters;
        eig_conv = e.eig_converged;
        const int have_eig = !isnan(eig);
        if (t->test) {
            double q = absa_now();
            ABSA_TRY(absa_tr_test_pass(t, &te_loss, &te_acc));
            t->t_test += absa_now() - q;
        }
        if (absa_dist_check_params(t->dist, t->m, &t->opt, &t->pr) && t->io)
            fprintf(stderr, "absa train: warning: weights differed across ranks after epoch %d; resynchronised from rank 0\n", epoch);
        t->pr.epoch = epoch;
        t->pr.ep_epoch = 0;
        t->pr.ep_cursor = t->pr.ep_correct = t->pr.ep_seen = 0;
        t->pr.ep_loss_sum = 0;
        double wall = absa_now() - e0;
        t->pr.wall_total += wall;
        if (t->io) {
            FILE *f = t->metrics.f;
            fprintf(f, "{\"type\": \"epoch\", \"epoch\": %d", epoch);
            json_num(f, "train_loss", tr_loss);
            json_num(f, "train_acc", tr_acc);
            json_num(f, "test_loss", te_loss);
            json_num(f, "test_acc", te_acc);
            json_num(f, "eig", eig);
            fprintf(f, ", \"eig_iters\": %d, \"eig_converged\": %s, \"eig_seed\": %llu", eig_iters,
                    have_eig ? (eig_conv ? "true" : "false") : "null", (unsigned long long)absa_eig_seed(c->seed, epoch));
            json_num(f, "eig_ref", t->pr.sched.eig_ref);
            fprintf(f, ", \"data_source\": \"%s\"", t->src->name);
            if (!t->test) fprintf(f, ", \"test_skipped\": true");
            fprintf(f, ", \"batch\": %d, \"accum\": %d, \"ranks\": %d, \"adv_ratio\": %.9g, \"lr\": %.9g, \"next_batch\": %d, "
                       "\"next_lr\": %.9g, \"next_adv_ratio\": %.9g, \"grew\": %s, \"grow_reason\": %s, \"sgd_iters\": %lld, "
                       "\"wall\": {\"compute\": %.3f, \"eig\": %.3f, \"data\": %.3f, \"test\": %.3f, \"comm\": %.3f, \"epoch\": %.3f, \"total\": %.3f, "
                       "\"data_stall\": %.6f, \"data_stall_frac\": %.6f}}\n",
                    before.batch, accum, R, before.adv_ratio, before.lr, t->pr.sched.batch, t->pr.sched.lr,
                    t->pr.sched.adv_ratio, e.d.grew ? "true" : "false", !e.d.grew ? "null" : e.d.by_eig ? "\"eig\"" : "\"duration\"",
                    (long long)t->pr.global_step,
                    t->t_compute - tc0 - (t->t_data - td0) - (t->t_comm - tm0), t->t_eig - te0, t->t_data - td0,
                    t->t_test - tt0, t->t_comm - tm0, wall, t->pr.wall_total, stall, wall > 0 ? stall / wall : 0.0);
            ABSA_TRY(absa_mlog_commit(&t->metrics, 1));
            ABSA_TRY(save_checkpoint(t));
            if (!c->quiet) {
                char eigs[64] = "-", tests[64] = "", grows[160] = ""; /* "-": no eigenvalue (sgd, or at the cap) */
                if (have_eig && eig_conv) snprintf(eigs, sizeof eigs, "%.4g", eig);
                else if (have_eig) snprintf(eigs, sizeof eigs, "%.4g (not converged in %d iterations)", eig, eig_iters);
                if (t->test) snprintf(tests, sizeof tests, "  test %.4f/%.2f%%", te_loss, 100 * te_acc);
                if (e.d.grew && e.d.by_eig)
                    snprintf(grows, sizeof grows, "  -> batch %d (eigenvalue fell to 1/%g of the reference)", t->pr.sched.batch,
                             c->sched.growth_ratio);
                else if (e.d.grew)
                    snprintf(grows, sizeof grows, "  -> batch %d (--duration %d: %d eigenvalue epoch%s without growth)", t->pr.sched.batch,
                             c->sched.duration, c->sched.duration, c->sched.duration > 1 ? "s" : "");
                fprintf(stderr, "epoch %3d/%d  batch %5d  ranks %d  lr %.4g  adv %.4g  train %.4f/%.2f%%%s  eig %s  iters %lld  %.1fs%s\n",
                        epoch, c->sched.epochs, before.batch, R, before.lr, before.adv_ratio, tr_loss, 100 * tr_acc,
                        tests, eigs, (long long)t->pr.global_step, wall, grows);
            }
        }
        if (e.stop) return ABSA_EEXIST; /* sentinel: stopped on request (no growth pending) */
        if (e.target_ranks > R) absa_tr_grow_begin(t, epoch, e.target_ranks);
    }
cleanup:
    return status;
}

static absa_status write_summary(absa_tstate *t, double final_loss, double final_acc)
{
    char path[4200], *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ABSA_ENOMEM;
    fprintf(f, "{\"model\": \"%s\", \"schedule\": \"%s\", \"epochs\": %d, \"sgd_iters\": %lld, \"samples_seen\": %lld",
            t->cfg->model, method_name(t->cfg->sched.method), t->pr.epoch, (long long)t->pr.global_step,
            (long long)t->pr.samples_seen);
    json_num(f, "final_test_loss", final_loss);
    json_num(f, "final_test_acc", final_acc);
    fprintf(f, ", \"final_batch\": %d, \"next_batch\": %d, \"growths\": %lld, \"wall_total_s\": %.3f, \"ranks\": %d, \"growth_backend\": \"%s\", "
               "\"resizes\": %lld, \"resize_total_s\": %.6f",
            t->pr.last_batch ? t->pr.last_batch : t->pr.sched.batch, t->pr.sched.batch, (long long)t->pr.sched.growths, t->pr.wall_total, absa_dist_size(t->dist),
            absa_dist_backend_name(t->dist), (long long)t->pr.resizes, t->pr.resize_total);
    json_num(f, "resize_fraction", t->pr.wall_total > 0 ? t->pr.resize_total / t->pr.wall_total : 0.0);
    fputs("}\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/summary.json", t->cfg->out);
    absa_status st = absa_write_atomic(path, buf, len);
    free(buf);
    return st;
}

static void banner(absa_tstate *t)
{
    const absa_train_cfg *c = t->cfg;
    if (!t->io || c->quiet) return;
    fprintf(stderr, "absa train: %s on %s (%zu train, %zu test, %dx%dx%d, %d classes), %s, %zu parameters, %s",
            c->model, c->data, t->n_train, t->n_test, t->C, t->H, t->W, t->K, method_name(c->sched.method),
            t->m->n_params, c->resume[0] ? "resuming after epoch " : "fresh start");
    if (c->resume[0]) fprintf(stderr, "%d%s", t->pr.epoch, t->pr.ep_epoch ? " (mid-epoch)" : "");
    fputc('\n', stderr);
    if (absa_blas_core_rerun()) {
        char blas[256];
        fprintf(stderr, "absa train: %s\n", absa_blas_core_describe(blas, sizeof blas));
    }
    if (t->src->describe) t->src->describe(t);
    if (!absa_dist_using_mpi(t->dist) && c->max_ranks > 1)
        fprintf(stderr, "absa train: one process (%s): --max-ranks %d needs an MPI launcher; the batch grows by accumulation\n",
                absa_dist_backend_why(t->dist), c->max_ranks);
    else if (absa_dist_using_mpi(t->dist))
        fprintf(stderr, "absa train: %d rank%s, growth up to %d ranks, backend %s (%s)\n", absa_dist_size(t->dist),
                absa_dist_size(t->dist) > 1 ? "s" : "", absa_dist_max_ranks(t->dist), absa_dist_backend_name(t->dist),
                absa_dist_backend_why(t->dist));
}

absa_status absa_train_run(const absa_train_cfg *c, absa_dist *d, absa_stop_watch *sw, absa_train_outcome *out)
{
    absa_status status = ABSA_OK;
    absa_tstate t;
    memset(&t, 0, sizeof t);
    t.dir_lock = -1;
    t.cfg = c;
    t.dist = d;
    t.stop = sw;
    out->report = 1;
    out->agreed = 0;
    int role = absa_dist_role(d);
    if (role == ABSA_DIST_DISMISSED) return ABSA_OK;
    t.io = role == ABSA_DIST_ACTIVE && absa_dist_rank(d) == 0;
    t.tty = t.io && isatty(fileno(stderr));
    absa_set_threads(c->threads);
    double s0 = absa_now();
    status = setup(&t);
    double setup_s = absa_now() - s0;
    if (role != ABSA_DIST_JOINING) { /* every launched rank agrees before anything trains */
        int r0_failed = 0;
        absa_status all = absa_dist_agree(d, status, &r0_failed);
        if (all != ABSA_OK) {
            if (status == ABSA_OK) absa_errorf("setup failed on another rank");
            out->report = t.io || (status != ABSA_OK && !r0_failed);
            out->agreed = 1;
            status = all;
            goto cleanup;
        }
    }
    if (status != ABSA_OK) goto cleanup;
    if (role == ABSA_DIST_PARKED) {
        if (!absa_dist_park(d)) goto cleanup; /* released at the end of the run */
        role = ABSA_DIST_JOINING;
        setup_s = 0; /* set up before parking: nothing to wait for */
    }
    if (role == ABSA_DIST_JOINING) { /* the other half of a growth (train_grow.c) */
        if (!absa_dist_join(d)) goto cleanup; /* given up by the parents: exit quietly */
        rechoose_device(&t);
        absa_dist_max_f64(d, &setup_s, 1);
        absa_dist_sync_state(d, t.m, &t.opt, &t.pr);
    } else {
        absa_dist_sync_state(d, t.m, &t.opt, &t.pr); /* several launched ranks start equal */
    }
    absa_tr_nccl_grow(&t, -1); /* joined ranks: the other half of the growth's rebuild */
    if (t.pr.epoch >= c->sched.epochs && t.io && !c->quiet)
        fprintf(stderr, "absa train: checkpoint already has %d of %d epochs\n", t.pr.epoch, c->sched.epochs);
    banner(&t);
    absa_handoff_record(&t);
    int how = RUN_DONE;
    status = run_epochs(&t, &how);
    if (status == ABSA_EEXIST) { /* --stop-after */
        status = ABSA_OK;
        goto cleanup;
    }
    if (status != ABSA_OK || how == RUN_STOPPED) goto cleanup;
    double tl = NAN, ta = NAN;
    if (t.test) ABSA_TRY(absa_tr_test_pass(&t, &tl, &ta));
    if (t.io) {
        ABSA_TRY(write_summary(&t, tl, ta));
        if (!c->quiet) {
            char tests[64] = "no test split";
            if (t.test) snprintf(tests, sizeof tests, "test accuracy %.2f%%", 100 * ta);
            fprintf(stderr, "absa train: done: %s, %lld SGD iterations, final batch %d, %d rank%s, %.1f s "
                            "(resizing %.3f s, %.3f%%); output in %s/\n",
                    tests, (long long)t.pr.global_step, t.pr.last_batch ? t.pr.last_batch : t.pr.sched.batch, absa_dist_size(d),
                    absa_dist_size(d) > 1 ? "s" : "", t.pr.wall_total, t.pr.resize_total,
                    t.pr.wall_total > 0 ? 100 * t.pr.resize_total / t.pr.wall_total : 0.0, c->out);
        }
    }
cleanup:
    /* a fresh start that failed before any metrics line leaves no run directory behind */
    if (t.dir_prepared && status != ABSA_OK && !c->resume[0] && (!t.metrics.f || absa_mlog_empty(&t.metrics))) {
        absa_mlog_close(&t.metrics);
        absa_train_undo_dir(c->out, t.dir_created);
    }
    if (t.metrics.f) absa_mlog_close(&t.metrics);
    if (t.dir_lock >= 0) close(t.dir_lock); /* after the last write to the directory */
    if (t.idlog) fclose(t.idlog);
    if (t.src) t.src->close(&t);
    absa_dist_nccl_free(d); /* communicators and device buffers before the backend goes */
    absa_h5reader_close(t.train);
    absa_h5reader_close(t.test);
    absa_model_free(t.m);
    absa_free(t.x);
    free(t.y);
    free(t.perm);
    free(t.red);
    free(t.ghost);
    absa_xsum_free(&t.gsum);
    return status;
}
