/* trainer.c — the single-process training loop of `absa train`: SGD / ABS / ABSA with gradient
 * accumulation over micro-batches, FGSM replacement, the end-of-epoch eigenvalue, the schedule
 * decision, the test pass, metrics, per-epoch atomic checkpoints and bitwise-exact resume.
 *
 * All randomness is a function of (seed, epoch, ...) — data order absa_permutation(seed, epoch),
 * augmentation absa_hash64(seed, epoch), eigenvalue samples and start vector from
 * absa_eig_seed(seed, epoch) — so a resumed run needs only model, optimizer and schedule state. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli_util.h"
#include "curvature.h"
#include "fgsm.h"
#include "h5reader.h"
#include "optim.h"
#include "train_io.h"

uint64_t absa_eig_seed(uint64_t seed, int epoch) { return absa_hash64(seed ^ 0xE16E16ull, (uint64_t)epoch); }

typedef struct tstate {
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
    FILE *metrics;
    double t_compute, t_data, t_eig, t_test;
    int tty;
} tstate;

static absa_status open_data(tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    ABSA_TRY(absa_h5reader_open(c->data, c->train_split, c->memory_budget, &t->train));
    absa_h5reader_shape(t->train, &t->C, &t->H, &t->W);
    t->K = absa_h5reader_num_classes(t->train);
    t->n_train = absa_h5reader_count(t->train);
    if (c->limit_train > 0 && (size_t)c->limit_train < t->n_train) t->n_train = (size_t)c->limit_train;
    if (t->C > 4) ABSA_FAIL(ABSA_EFORMAT, "%s: %d channels are not supported", c->data, t->C);
    if (strcmp(c->test_split, "none")) {
        ABSA_TRY(absa_h5reader_open(c->data, c->test_split, c->memory_budget, &t->test));
        int C2, H2, W2;
        absa_h5reader_shape(t->test, &C2, &H2, &W2);
        if (C2 != t->C || H2 != t->H || W2 != t->W) ABSA_FAIL(ABSA_EFORMAT, "%s: test and train shapes differ", c->data);
        t->n_test = absa_h5reader_count(t->test);
        if (c->limit_test > 0 && (size_t)c->limit_test < t->n_test) t->n_test = (size_t)c->limit_test;
    }
    int aug = !strcmp(c->augment, "crop-flip") || (!strcmp(c->augment, "auto") && t->C == 3 && t->H == 32 && t->W == 32);
    t->crop = aug ? 4 : 0;
    t->flip = aug;
    for (int ch = 0; ch < t->C; ch++) t->eps_c[ch] = (float)(c->adv_eps / absa_h5reader_std(t->train)[ch]);
cleanup:
    return status;
}

/* model, optimizer and progress: fresh or from --resume (all checks before any training) */
static absa_status setup_model(tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    absa_ckpt_extra *ex = NULL;
    ABSA_TRY(absa_model_create(c->model, t->C, t->H, t->W, t->K, &t->m));
    memset(&t->opt, 0, sizeof t->opt);
    t->opt.momentum = c->momentum;
    t->opt.weight_decay = c->weight_decay;
    t->opt.dampening = c->dampening;
    t->opt.nesterov = c->nesterov;
    t->opt.lr = c->sched.lr0;
    ABSA_TRY(absa_sgd_check(&t->opt));
    if (!c->resume[0]) {
        absa_model_init(t->m, c->seed);
        absa_sched_init(&c->sched, &t->pr.sched);
        return ABSA_OK;
    }
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
    ABSA_TRY(absa_progress_from_extra(ex, c, &t->pr));
    t->opt.has_buf = ex->sgd.has_buf;
    t->opt.steps = ex->sgd.steps;
cleanup:
    free(ex);
    return status;
}

static void log_step(tstate *t, int epoch, double loss)
{
    const absa_train_cfg *c = t->cfg;
    if (c->step_log > 0 && t->pr.global_step % c->step_log == 0)
        fprintf(t->metrics, "{\"type\": \"step\", \"epoch\": %d, \"step\": %lld, \"loss\": %.9g, \"lr\": %.9g, \"batch\": %d}\n",
                epoch, (long long)t->pr.global_step, loss, t->pr.sched.lr, t->pr.sched.batch);
}

/* One epoch of SGD steps; returns mean train loss / accuracy through the pointers. */
static absa_status train_epoch(tstate *t, int epoch, double *loss_out, double *acc_out)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    const absa_sched_cfg *sc = &c->sched;
    absa_permutation(c->seed, (uint64_t)epoch, t->n_train, t->perm);
    uint64_t aug_seed = absa_hash64(c->seed ^ 0xA06ull, (uint64_t)epoch);
    double lsum = 0;
    long correct = 0, seen = 0;
    size_t steps_total = 0;
    for (size_t cur = 0; cur < t->n_train;) {
        int B = t->pr.sched.batch;
        if ((size_t)B > t->n_train - cur) B = (int)(t->n_train - cur);
        double t0 = absa_now(), step_loss = 0;
        absa_model_zero_grad(t->m);
        for (int off = 0; off < B; off += sc->micro) {
            int nb = B - off < sc->micro ? B - off : sc->micro;
            double d0 = absa_now();
            ABSA_TRY(absa_h5reader_gather_f32(t->train, t->perm + cur + off, (size_t)nb, 1, t->crop, t->flip, aug_seed, t->x, t->y));
            t->t_data += absa_now() - d0;
            for (int i = 0; i < nb; i++)
                if (t->y[i] < 0 || t->y[i] >= t->K) ABSA_FAIL(ABSA_EFORMAT, "%s: label %d out of range", c->data, t->y[i]);
            int k = sc->method == ABSA_SCHED_ABSA ? absa_sched_adv_count(sc, &t->pr.sched, nb) : 0;
            if (k > 0) ABSA_TRY(absa_fgsm(t->m, t->x, t->y, k, t->eps_c));
            const float *z = absa_model_forward(t->m, t->x, nb, 1, 1);
            if (!z) ABSA_FAIL(ABSA_ENOMEM, "%s", absa_last_error());
            double l = absa_model_loss(t->m, t->y);
            if (!isfinite(l)) ABSA_FAIL(ABSA_EINVAL, "training diverged: loss is %g at epoch %d step %lld (lr %g too large?)", l, epoch, (long long)t->pr.global_step, t->pr.sched.lr);
            absa_model_backward(t->m, t->x, t->y, (double)nb / B, 0);
            correct += absa_xent_correct_f32(nb, t->K, z, t->y);
            step_loss += l * nb / B;
        }
        t->opt.lr = t->pr.sched.lr;
        absa_sgd_step(t->m, &t->opt);
        t->pr.global_step++;
        t->pr.samples_seen += B;
        lsum += step_loss * B;
        seen += B;
        cur += (size_t)B;
        steps_total++;
        t->t_compute += absa_now() - t0;
        log_step(t, epoch, step_loss);
        if (t->tty && !c->quiet)
            fprintf(stderr, "\r  epoch %d: %zu/%zu samples, step %lld, loss %.4f   ", epoch, cur, t->n_train,
                    (long long)t->pr.global_step, step_loss);
    }
    if (t->tty && !c->quiet) fprintf(stderr, "\r%70s\r", "");
    *loss_out = lsum / (double)seen;
    *acc_out = (double)correct / (double)seen;
cleanup:
    return status;
}

/* Top eigenvalue on eig_samples un-augmented train samples, BN eval (reference). */
static absa_status epoch_eig(tstate *t, int epoch, double *eig, int *iters)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    size_t full = absa_h5reader_count(t->train);
    int n = c->eig_samples < (int)full ? c->eig_samples : (int)full;
    uint64_t es = absa_eig_seed(c->seed, epoch);
    uint64_t *perm = malloc(sizeof(uint64_t) * full);
    float *x = absa_try_alloc((size_t)n * t->C * t->H * t->W * sizeof(float));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    if (!perm || !x || !y) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate the eigenvalue samples");
    absa_permutation(es, 0, full, perm); /* as absa_samples_load(shuffle, seed = es) does */
    ABSA_TRY(absa_h5reader_gather_f32(t->train, perm, (size_t)n, 1, 0, 0, 0, x, y));
    absa_eig_opts o;
    absa_eig_defaults(&o);
    o.max_iters = c->eig_iters;
    o.tol = c->eig_tol;
    o.rule = c->eig_rule;
    o.chunk = c->eig_chunk;
    o.seed = es;
    absa_eig_result r;
    ABSA_TRY(absa_power_iteration(t->m, x, y, n, &o, NULL, &r, NULL));
    *eig = r.eig[0];
    *iters = r.iters[0];
cleanup:
    free(perm);
    absa_free(x);
    free(y);
    return status;
}

static absa_status test_pass(tstate *t, double *loss, double *acc)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    double lsum = 0;
    long correct = 0;
    uint64_t *idx = malloc(sizeof(uint64_t) * (size_t)c->test_batch);
    if (!idx) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    for (size_t s = 0; s < t->n_test; s += (size_t)c->test_batch) {
        int nb = (int)(t->n_test - s < (size_t)c->test_batch ? t->n_test - s : (size_t)c->test_batch);
        for (int i = 0; i < nb; i++) idx[i] = s + (size_t)i;
        ABSA_TRY(absa_h5reader_gather_f32(t->test, idx, (size_t)nb, 1, 0, 0, 0, t->x, t->y));
        const float *z = absa_model_forward(t->m, t->x, nb, 0, 0);
        if (!z) ABSA_FAIL(ABSA_ENOMEM, "%s", absa_last_error());
        lsum += absa_model_loss(t->m, t->y) * nb;
        correct += absa_xent_correct_f32(nb, t->K, z, t->y);
    }
    *loss = t->n_test ? lsum / (double)t->n_test : NAN;
    *acc = t->n_test ? (double)correct / (double)t->n_test : NAN;
cleanup:
    free(idx);
    return status;
}

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v)) fprintf(f, ", \"%s\": %.9g", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

static absa_status run_epochs(tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", c->out);
    int ran = 0;
    for (int epoch = t->pr.epoch + 1; epoch <= c->sched.epochs; epoch++) {
        double e0 = absa_now(), tc0 = t->t_compute, td0 = t->t_data, te0 = t->t_eig, tt0 = t->t_test;
        absa_sched_state before = t->pr.sched;
        int accum = absa_sched_accum(&c->sched, before.batch);
        double tr_loss, tr_acc, eig = NAN, te_loss = NAN, te_acc = NAN;
        int eig_iters = 0;
        ABSA_TRY(train_epoch(t, epoch, &tr_loss, &tr_acc));
        if (absa_sched_wants_eig(&c->sched, &before)) {
            double q = absa_now();
            ABSA_TRY(epoch_eig(t, epoch, &eig, &eig_iters));
            t->t_eig += absa_now() - q;
        }
        absa_sched_decision d;
        absa_sched_end_epoch(&c->sched, &before, eig, epoch, &t->pr.sched, &d);
        if (t->test) {
            double q = absa_now();
            ABSA_TRY(test_pass(t, &te_loss, &te_acc));
            t->t_test += absa_now() - q;
        }
        t->pr.epoch = epoch;
        double wall = absa_now() - e0;
        t->pr.wall_total += wall;
        FILE *f = t->metrics;
        fprintf(f, "{\"type\": \"epoch\", \"epoch\": %d", epoch);
        json_num(f, "train_loss", tr_loss);
        json_num(f, "train_acc", tr_acc);
        json_num(f, "test_loss", te_loss);
        json_num(f, "test_acc", te_acc);
        json_num(f, "eig", eig);
        fprintf(f, ", \"eig_iters\": %d, \"eig_seed\": %llu", eig_iters, (unsigned long long)absa_eig_seed(c->seed, epoch));
        json_num(f, "eig_ref", t->pr.sched.eig_ref);
        fprintf(f, ", \"batch\": %d, \"accum\": %d, \"adv_ratio\": %.9g, \"lr\": %.9g, \"next_batch\": %d, "
                   "\"next_lr\": %.9g, \"next_adv_ratio\": %.9g, \"grew\": %s, \"sgd_iters\": %lld, "
                   "\"wall\": {\"compute\": %.3f, \"eig\": %.3f, \"data\": %.3f, \"test\": %.3f, \"epoch\": %.3f, \"total\": %.3f}}\n",
                before.batch, accum, before.adv_ratio, before.lr, t->pr.sched.batch, t->pr.sched.lr,
                t->pr.sched.adv_ratio, d.grew ? "true" : "false", (long long)t->pr.global_step,
                t->t_compute - tc0 - (t->t_data - td0), t->t_eig - te0, t->t_data - td0, t->t_test - tt0, wall,
                t->pr.wall_total);
        fflush(f);
        fsync(fileno(f));
        absa_ckpt_extra *ex = calloc(1, sizeof *ex);
        if (!ex) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
        ex->sgd = t->opt;
        absa_progress_to_extra(&t->pr, c, ex);
        status = absa_checkpoint_save(ckpt, t->m, ex);
        free(ex);
        if (status != ABSA_OK) goto cleanup;
        if (!c->quiet)
            fprintf(stderr, "epoch %3d/%d  batch %5d  lr %.4g  adv %.4g  train %.4f/%.2f%%  test %.4f/%.2f%%  eig %s%.4g  iters %lld  %.1fs%s\n",
                    epoch, c->sched.epochs, before.batch, before.lr, before.adv_ratio, tr_loss, 100 * tr_acc,
                    te_loss, 100 * te_acc, isnan(eig) ? "-" : "", isnan(eig) ? 0.0 : eig,
                    (long long)t->pr.global_step, wall, d.grew ? "  -> batch grows" : "");
        if (c->stop_after > 0 && ++ran >= c->stop_after) {
            status = ABSA_OK;
            return ABSA_EEXIST; /* sentinel: stopped on request */
        }
    }
cleanup:
    return status;
}

static absa_status write_summary(tstate *t, double final_loss, double final_acc)
{
    char path[4200], *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ABSA_ENOMEM;
    fprintf(f, "{\"model\": \"%s\", \"schedule\": \"%s\", \"epochs\": %d, \"sgd_iters\": %lld, \"samples_seen\": %lld",
            t->cfg->model, t->cfg->sched.method == ABSA_SCHED_SGD ? "sgd" : t->cfg->sched.method == ABSA_SCHED_ABS ? "abs" : "absa",
            t->pr.epoch, (long long)t->pr.global_step, (long long)t->pr.samples_seen);
    json_num(f, "final_test_loss", final_loss);
    json_num(f, "final_test_acc", final_acc);
    fprintf(f, ", \"final_batch\": %d, \"growths\": %lld, \"wall_total_s\": %.3f, \"resize_fraction\": 0}\n",
            t->pr.sched.batch, (long long)t->pr.sched.growths, t->pr.wall_total);
    fclose(f);
    snprintf(path, sizeof path, "%s/summary.json", t->cfg->out);
    absa_status st = absa_write_atomic(path, buf, len);
    free(buf);
    return st;
}

absa_status absa_train_run(const absa_train_cfg *c)
{
    absa_status status = ABSA_OK;
    tstate t;
    memset(&t, 0, sizeof t);
    t.cfg = c;
    t.tty = isatty(fileno(stderr));
    absa_set_threads(c->threads);
    ABSA_TRY(absa_train_cfg_check(c));
    ABSA_TRY(open_data(&t));
    ABSA_TRY(setup_model(&t));
    if (t.pr.epoch >= c->sched.epochs && !c->quiet)
        fprintf(stderr, "absa train: checkpoint already has %d of %d epochs\n", t.pr.epoch, c->sched.epochs);
    size_t xs = (size_t)(c->sched.micro > c->test_batch ? c->sched.micro : c->test_batch);
    t.x = absa_try_alloc(xs * t.C * t.H * t.W * sizeof(float));
    t.y = malloc(sizeof(int32_t) * xs);
    t.perm = malloc(sizeof(uint64_t) * t.n_train);
    if (!t.x || !t.y || !t.perm) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate batch buffers");
    ABSA_TRY(absa_model_reserve(t.m, (int)xs));
    ABSA_TRY(absa_train_mkdir(c->out));
    ABSA_TRY(absa_train_write_config(c->out, c));
    ABSA_TRY(absa_metrics_open(c->out, c->resume[0] ? t.pr.epoch : -1, &t.metrics));
    if (!c->quiet)
        fprintf(stderr, "absa train: %s on %s (%zu train, %zu test, %dx%dx%d, %d classes), %s, %zu parameters, %s%s\n",
                c->model, c->data, t.n_train, t.n_test, t.C, t.H, t.W, t.K,
                c->sched.method == ABSA_SCHED_SGD ? "sgd" : c->sched.method == ABSA_SCHED_ABS ? "abs" : "absa",
                t.m->n_params, c->resume[0] ? "resuming after epoch " : "fresh start", "");
    status = run_epochs(&t);
    if (status == ABSA_EEXIST) { /* --stop-after */
        status = ABSA_OK;
        goto cleanup;
    }
    if (status != ABSA_OK) goto cleanup;
    double tl = NAN, ta = NAN;
    if (t.test) ABSA_TRY(test_pass(&t, &tl, &ta));
    ABSA_TRY(write_summary(&t, tl, ta));
    if (!c->quiet)
        fprintf(stderr, "absa train: done: test accuracy %.2f%%, %lld SGD iterations, final batch %d, %.1f s; output in %s/\n",
                100 * ta, (long long)t.pr.global_step, t.pr.sched.batch, t.pr.wall_total, c->out);
cleanup:
    if (t.metrics) fclose(t.metrics);
    absa_h5reader_close(t.train);
    absa_h5reader_close(t.test);
    absa_model_free(t.m);
    absa_free(t.x);
    free(t.y);
    free(t.perm);
    return status;
}
