/* train_io.c — output directory (refusal to overwrite a run, stale temporaries, undo of a
 * failed start), metrics.jsonl as whole durable lines, config and checkpoint /train state
 * (with the options that define the run, checked on --resume) for `absa train`; see train_io.h. */
#include "train_io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base_sys.h"
#include "tmpfiles.h"

/* the files of a run in its directory; each is written through NAME.tmp.<pid> */
static const char *const run_files[] = {"checkpoint.h5", "metrics.jsonl", "summary.json", "config.txt"};
#define N_RUN_FILES (sizeof run_files / sizeof run_files[0])

absa_status absa_train_mkdir(const char *dir)
{
    absa_status status = ABSA_OK;
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) ABSA_FAIL(ABSA_EINVAL, "output %s exists and is not a directory", dir);
        return ABSA_OK;
    }
    /* several ranks may create the same directory (--sample-log) at once */
    if (mkdir(dir, 0755) != 0 && !(errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))) ABSA_FAIL(ABSA_EIO, "cannot create output directory %s: %s", dir, strerror(errno));
cleanup:
    return status;
}

absa_status absa_write_atomic(const char *path, const char *data, size_t len)
{
    absa_status status = ABSA_OK;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) ABSA_FAIL(ABSA_EIO, "cannot write %s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            close(fd);
            unlink(tmp);
            ABSA_FAIL(ABSA_EIO, "cannot write %s: %s", tmp, strerror(errno));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        ABSA_FAIL(ABSA_EIO, "cannot write %s: %s", path, strerror(errno));
    }
cleanup:
    return status;
}

/* An exclusive flock on DIR itself, held by the open descriptor until the run ends (the kernel
 * drops it on any exit, kill -9 included): a second trainer on the same --out, even one started in
 * the same millisecond, is refused (or, waiting for a hand-off, waits up to wait_s seconds for
 * the first to end). A file system without flock on directories runs unlocked, as before. */
static absa_status lock_dir(const char *dir, double wait_s, int *lock_fd)
{
    absa_status status = ABSA_OK;
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ABSA_FAIL(ABSA_EIO, "cannot open output %s: %s", dir, strerror(errno));
    const double until = absa_now() + wait_s;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) { /* no flock here (some network file systems): unlocked */
            close(fd);
            return ABSA_OK;
        }
        if (absa_now() >= until) {
            close(fd);
            ABSA_FAIL(ABSA_EEXIST, "output %s is in use by another absa train (it holds the directory's lock): "
                      "wait for it to end, or use another --out", dir);
        }
        usleep(100000);
    }
    *lock_fd = fd;
cleanup:
    return status;
}

absa_status absa_train_prepare_dir(const char *dir, int force, int resume, double wait_s, int *created,
                                   int *lock_fd)
{
    absa_status status = ABSA_OK;
    char path[4200];
    struct stat st;
    *created = 0;
    if (stat(dir, &st) != 0) {
        ABSA_TRY(absa_train_mkdir(dir));
        *created = 1;
    } else if (!S_ISDIR(st.st_mode)) {
        ABSA_FAIL(ABSA_EINVAL, "output %s exists and is not a directory", dir);
    }
    /* then, also in a directory just made (another trainer may have made it, run and ended
     * meanwhile), the lock before the sweep (a live run's temporaries are its own) and the checks */
    ABSA_TRY(lock_dir(dir, wait_s, lock_fd));
    for (size_t i = 0; i < N_RUN_FILES; i++) { /* temporaries of writers killed before a rename */
        snprintf(path, sizeof path, "%s.tmp.", run_files[i]);
        absa_tmp_sweep(dir, path);
    }
    const char *found = NULL;
    for (size_t i = 0; i < N_RUN_FILES && !found; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, run_files[i]);
        if (lstat(path, &st) == 0) found = run_files[i];
    }
    if (found && !force && !resume)
        ABSA_FAIL(ABSA_EEXIST, "output %s already holds a run (%s): use --force to overwrite it, --resume to continue it, or another --out", dir, found);
    for (size_t i = 0; i < N_RUN_FILES; i++) {
        /* --force: a fresh run; --resume: the old summary would describe another run. The
         * checkpoint being resumed is read before this, and metrics are rewritten from it. */
        if (!(force && !resume) && strcmp(run_files[i], "summary.json")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, run_files[i]);
        if (unlink(path) != 0 && errno != ENOENT) ABSA_FAIL(ABSA_EIO, "cannot remove %s: %s", path, strerror(errno));
    }
cleanup:
    return status;
}

void absa_train_undo_dir(const char *dir, int created)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.txt", dir);
    unlink(path);
    if (created) rmdir(dir); /* fails harmlessly if anything else is in it */
}

/* ------------------------------------------------------------------ metrics.jsonl */

static absa_status mlog_fail(absa_mlog *l, const char *what, int e)
{
    if (!l->failed) { /* the first failure is the one reported, also by later commits */
        snprintf(l->err_what, sizeof l->err_what, "%s", what);
        l->err_no = e;
        l->failed = 1;
    }
    absa_errorf("cannot %s %s: %s", l->err_what, l->path, l->err_no ? strerror(l->err_no) : "short write");
    return ABSA_EIO;
}

absa_status absa_mlog_commit(absa_mlog *l, int sync)
{
    if (!l->f) return ABSA_OK;
    if (l->failed) return mlog_fail(l, "write", 0);
    if (fflush(l->f) != 0) return mlog_fail(l, "compose a line of", errno);
    size_t off = 0, n = l->len;
    /* the stream restarts at 0 for the next lines (its size follows the position) */
    if (fseeko(l->f, 0, SEEK_SET) != 0) return mlog_fail(l, "compose a line of", errno);
    while (off < n) {
        ssize_t w = write(l->fd, l->buf + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            /* never leave a cut line: back to the last whole one */
            if (ftruncate(l->fd, (off_t)l->good) == 0) lseek(l->fd, (off_t)l->good, SEEK_SET);
            return mlog_fail(l, "write", e);
        }
        off += (size_t)w;
    }
    l->good += (long long)n;
    if (sync && fsync(l->fd) != 0 && errno != EINVAL && errno != EROFS) return mlog_fail(l, "sync", errno);
    return ABSA_OK;
}

int absa_mlog_empty(const absa_mlog *l) { return l->good == 0; }

void absa_mlog_close(absa_mlog *l)
{
    if (!l->path[0]) return; /* never opened (or closed) */
    l->path[0] = 0;
    if (l->f) fclose(l->f);
    free(l->buf);
    if (l->fd >= 0) close(l->fd);
    l->f = NULL;
    l->buf = NULL;
    l->fd = -1;
}

/* the integer after "\"epoch\": " in a metrics line, or -1 */
static int line_epoch(const char *line)
{
    const char *p = strstr(line, "\"epoch\": ");
    return p ? atoi(p + 9) : -1;
}

/* a line's "step" (step and resize lines), or -1 for lines without one (epoch lines) */
static long long line_step(const char *line)
{
    const char *p = strstr(line, "\"step\": ");
    return p ? atoll(p + 8) : -1;
}

absa_status absa_metrics_open(const char *dir, int keep_epochs, int64_t keep_step, absa_mlog *out)
{
    absa_status status = ABSA_OK;
    char path[4200];
    char *buf = NULL;
    size_t len = 0;
    FILE *in = NULL;
    memset(out, 0, sizeof *out);
    out->fd = -1;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    snprintf(out->path, sizeof out->path, "%s", path);
    if (keep_epochs >= 0 && (in = fopen(path, "r"))) {
        size_t cap = 1 << 16;
        char line[4096];
        buf = malloc(cap);
        if (!buf) ABSA_FAIL(ABSA_ENOMEM, "out of memory reading %s", path);
        while (fgets(line, sizeof line, in)) {
            size_t l = strlen(line);
            if (l == 0 || line[l - 1] != '\n') continue; /* a line cut by a kill */
            if (line_epoch(line) > keep_epochs) {
                long long st = line_step(line);
                if (st < 0 || st > keep_step) continue;
            }
            if (len + l + 1 > cap) {
                char *nb = realloc(buf, cap *= 2);
                if (!nb) ABSA_FAIL(ABSA_ENOMEM, "out of memory reading %s", path);
                buf = nb;
            }
            memcpy(buf + len, line, l);
            len += l;
        }
        fclose(in);
        in = NULL;
        ABSA_TRY(absa_write_atomic(path, buf, len));
    }
    out->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | (keep_epochs >= 0 ? 0 : O_TRUNC), 0644);
    if (out->fd < 0) ABSA_FAIL(ABSA_EIO, "cannot open %s: %s", path, strerror(errno));
    off_t end = lseek(out->fd, 0, SEEK_END);
    out->good = end > 0 ? (long long)end : 0;
    out->f = open_memstream(&out->buf, &out->len);
    if (!out->f) ABSA_FAIL(ABSA_ENOMEM, "out of memory for %s", path);
cleanup:
    if (in) fclose(in);
    free(buf);
    if (status != ABSA_OK) absa_mlog_close(out);
    return status;
}

absa_status absa_train_write_config(const char *dir, const absa_train_cfg *c)
{
    char path[4200];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        absa_errorf("out of memory");
        return ABSA_ENOMEM;
    }
    fprintf(f, "# effective configuration of this run (absa train --config accepts this file)\n");
    absa_train_cfg_write(f, c);
    fclose(f);
    snprintf(path, sizeof path, "%s/config.txt", dir);
    absa_status st = absa_write_atomic(path, buf, len);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ run identity */

/* Options that define a run: a resumed run with another value would silently be another
 * experiment, so --resume refuses a change. Stored as /train attributes "run_<flag>"; strings
 * and lists as a 64-bit hash. (model, schedule, micro-batch and seed have older checks.) */
typedef struct run_opt {
    const char *flag;
    char type; /* i: int, d: double, s: string (hash), l: the lr decay epochs (hash) */
    size_t off;
} run_opt;
#define O(field) offsetof(absa_train_cfg, field)
static const run_opt run_opts[] = {
    {"batch", 'i', O(sched.batch0)},           {"max-batch", 'i', O(sched.max_batch)},
    {"lr", 'd', O(sched.lr0)},                 {"lr-decay", 'd', O(sched.lr_decay)},
    {"lr-decay-epochs", 'l', 0},               {"momentum", 'd', O(momentum)},
    {"weight-decay", 'd', O(weight_decay)},    {"dampening", 'd', O(dampening)},
    {"nesterov", 'i', O(nesterov)},            {"adv-ratio", 'd', O(sched.adv_ratio0)},
    {"adv-eps", 'd', O(adv_eps)},              {"growth-ratio", 'd', O(sched.growth_ratio)},
    {"duration", 'i', O(sched.duration)},      {"eig-samples", 'i', O(eig_samples)},
    {"eig-iters", 'i', O(eig_iters)},          {"eig-tol", 'd', O(eig_tol)},
    {"eig-rule", 'i', O(eig_rule)},            {"eig-chunk", 'i', O(eig_chunk)},
    {"augment", 's', O(augment)},              {"train-split", 's', O(train_split)},
    {"limit-train", 'i', O(limit_train)},
};
#undef O
#define N_RUN_OPTS (sizeof run_opts / sizeof run_opts[0])

static int64_t fnv64(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return (int64_t)(h >> 1);
}

/* the option's value as stored (ints and hashes as int64) */
static void run_opt_value(const absa_train_cfg *c, const run_opt *o, int64_t *iv, double *dv)
{
    const char *p = (const char *)c + o->off;
    *iv = 0;
    *dv = 0;
    switch (o->type) {
    case 'i': *iv = *(const int *)p; break;
    case 'd': *dv = *(const double *)p; break;
    case 's': *iv = fnv64(p, strlen(p)); break;
    default: *iv = fnv64(c->sched.lr_decay_epochs, sizeof(int) * (size_t)c->sched.n_lr_decay); break;
    }
}

absa_status absa_progress_to_extra(const absa_train_progress *p, const absa_train_cfg *c, absa_ckpt_extra *e)
{
    absa_status status = ABSA_OK;
    ABSA_TRY(absa_ckpt_set_i64(e, "epoch", p->epoch));
    ABSA_TRY(absa_ckpt_set_i64(e, "global_step", p->global_step));
    ABSA_TRY(absa_ckpt_set_i64(e, "samples_seen", p->samples_seen));
    ABSA_TRY(absa_ckpt_set_i64(e, "batch", p->sched.batch));
    ABSA_TRY(absa_ckpt_set_i64(e, "since_growth", p->sched.since_growth));
    ABSA_TRY(absa_ckpt_set_i64(e, "at_cap", p->sched.at_cap));
    ABSA_TRY(absa_ckpt_set_i64(e, "growths", p->sched.growths));
    ABSA_TRY(absa_ckpt_set_f64(e, "lr", p->sched.lr));
    ABSA_TRY(absa_ckpt_set_f64(e, "adv_ratio", p->sched.adv_ratio));
    ABSA_TRY(absa_ckpt_set_i64(e, "has_eig_ref", !isnan(p->sched.eig_ref)));
    ABSA_TRY(absa_ckpt_set_f64(e, "eig_ref", isnan(p->sched.eig_ref) ? 0.0 : p->sched.eig_ref));
    ABSA_TRY(absa_ckpt_set_f64(e, "wall_total", p->wall_total));
    ABSA_TRY(absa_ckpt_set_i64(e, "ep_epoch", p->ep_epoch));
    ABSA_TRY(absa_ckpt_set_i64(e, "ep_cursor", p->ep_cursor));
    ABSA_TRY(absa_ckpt_set_f64(e, "ep_loss_sum", p->ep_loss_sum));
    ABSA_TRY(absa_ckpt_set_i64(e, "ep_correct", p->ep_correct));
    ABSA_TRY(absa_ckpt_set_i64(e, "ep_seen", p->ep_seen));
    ABSA_TRY(absa_ckpt_set_f64(e, "resize_total", p->resize_total));
    ABSA_TRY(absa_ckpt_set_i64(e, "resizes", p->resizes));
    ABSA_TRY(absa_ckpt_set_i64(e, "last_batch", p->last_batch));
    ABSA_TRY(absa_ckpt_set_i64(e, "method", c->sched.method));
    ABSA_TRY(absa_ckpt_set_i64(e, "micro_batch", c->sched.micro));
    ABSA_TRY(absa_ckpt_set_i64(e, "seed", (int64_t)c->seed));
    ABSA_TRY(absa_ckpt_set_i64(e, "run_epochs", c->sched.epochs));
    for (size_t i = 0; i < N_RUN_OPTS; i++) {
        char key[ABSA_CKPT_KEY_MAX];
        int64_t iv;
        double dv;
        run_opt_value(c, &run_opts[i], &iv, &dv);
        snprintf(key, sizeof key, "run_%s", run_opts[i].flag);
        if (run_opts[i].type == 'd') ABSA_TRY(absa_ckpt_set_f64(e, key, dv));
        else ABSA_TRY(absa_ckpt_set_i64(e, key, iv));
    }
cleanup:
    return status;
}

/* the first run-defining option whose value differs from the checkpoint's (checkpoints written
 * before these were recorded have none: nothing to compare) */
static absa_status check_run_opts(const absa_ckpt_extra *e, const absa_train_cfg *c)
{
    absa_status status = ABSA_OK;
    for (size_t i = 0; i < N_RUN_OPTS; i++) {
        const run_opt *o = &run_opts[i];
        char key[ABSA_CKPT_KEY_MAX];
        int64_t iv, old_i;
        double dv, old_d;
        run_opt_value(c, o, &iv, &dv);
        snprintf(key, sizeof key, "run_%s", o->flag);
        if (o->type == 'd') {
            if (!absa_ckpt_get_f64(e, key, &old_d) || old_d == dv) continue;
            ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s was trained with --%s %.9g, not %.9g: options that define the run cannot change on --resume (start a new run with another --out)",
                      c->resume, o->flag, old_d, dv);
        }
        if (!absa_ckpt_get_i64(e, key, &old_i) || old_i == iv) continue;
        if (o->type == 'i')
            ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s was trained with --%s %lld, not %lld: options that define the run cannot change on --resume (start a new run with another --out)",
                      c->resume, o->flag, (long long)old_i, (long long)iv);
        ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s was trained with another --%s than this run's: options that define the run cannot change on --resume (start a new run with another --out)",
                  c->resume, o->flag);
    }
cleanup:
    return status;
}

/* Every /train value a resume uses, checked before use: an integer in [lo, hi], a double finite
 * and in [lo, hi]. The message names the file (--resume), the attribute and the value. */
static const struct { const char *key; int is_int; double lo, hi; } train_ranges[] = {
    {"epoch", 1, 0, 1e9},        {"global_step", 1, 0, 1e15},  {"samples_seen", 1, 0, 1e18},
    {"batch", 1, 1, 1e9},        {"since_growth", 1, 0, 1e9},  {"at_cap", 1, 0, 1},
    {"growths", 1, 0, 1e6},      {"lr", 0, 0, 1e6},            {"adv_ratio", 0, 0, 1},
    {"has_eig_ref", 1, 0, 1},    {"eig_ref", 0, -1e300, 1e300}, {"wall_total", 0, 0, 1e12},
    {"ep_epoch", 1, 0, 1e9},     {"ep_cursor", 1, 0, 1e15},    {"ep_loss_sum", 0, 0, 1e300},
    {"ep_correct", 1, 0, 1e15},  {"ep_seen", 1, 0, 1e15},      {"resize_total", 0, 0, 1e12},
    {"resizes", 1, 0, 1e12},     {"method", 1, 0, 16},         {"micro_batch", 1, 1, 1e9},
};

static absa_status check_train_ranges(const absa_ckpt_extra *e, const char *path)
{
    absa_status status = ABSA_OK;
    for (size_t i = 0; i < sizeof train_ranges / sizeof train_ranges[0]; i++) {
        double lo = train_ranges[i].lo, hi = train_ranges[i].hi;
        for (int k = 0; k < e->n_kv; k++) {
            const absa_ckpt_kv *kv = &e->kv[k];
            if (strcmp(kv->key, train_ranges[i].key)) continue;
            if (kv->is_int != train_ranges[i].is_int)
                ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute /train/%s is %s, expected %s", path, kv->key,
                          kv->is_int ? "an integer" : "a float", kv->is_int ? "a float" : "an integer");
            if (kv->is_int && ((double)kv->i64 < lo || (double)kv->i64 > hi))
                ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute /train/%s = %lld is out of range [%.0f, %.0f]",
                          path, kv->key, (long long)kv->i64, lo, hi);
            if (!kv->is_int && !isfinite(kv->f64))
                ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute /train/%s = %g is not finite", path, kv->key,
                          kv->f64);
            if (!kv->is_int && (kv->f64 < lo || kv->f64 > hi))
                ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute /train/%s = %g is out of range [%g, %g]", path,
                          kv->key, kv->f64, lo, hi);
        }
    }
cleanup:
    return status;
}

absa_status absa_progress_from_extra(const absa_ckpt_extra *e, const absa_train_cfg *c,
                                     absa_train_progress *p, int *old_epochs)
{
    absa_status status = ABSA_OK;
    int64_t v, method, micro, seed, has_ref;
    memset(p, 0, sizeof *p);
    ABSA_TRY(check_train_ranges(e, c->resume[0] ? c->resume : "(resume)"));
    *old_epochs = absa_ckpt_get_i64(e, "run_epochs", &v) ? (int)v : 0;
    if (!absa_ckpt_get_i64(e, "epoch", &v) || !absa_ckpt_get_i64(e, "method", &method) ||
        !absa_ckpt_get_i64(e, "micro_batch", &micro) || !absa_ckpt_get_i64(e, "seed", &seed))
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint has no training state (written by absa init?); cannot resume");
    p->epoch = (int)v;
    static const char *const methods[] = {"sgd", "abs", "absa"};
    if (method != c->sched.method)
        ABSA_FAIL(ABSA_EMISMATCH, "checkpoint %s was trained with --schedule %s, not %s: options that define the run cannot change on --resume",
                  c->resume, method >= 0 && method <= 2 ? methods[method] : "?", methods[c->sched.method]);
    if (micro != c->sched.micro) ABSA_FAIL(ABSA_EMISMATCH, "checkpoint used --micro-batch %lld, not %d", (long long)micro, c->sched.micro);
    if ((uint64_t)seed != c->seed) ABSA_FAIL(ABSA_EMISMATCH, "checkpoint used --seed %llu, not %llu", (unsigned long long)seed, (unsigned long long)c->seed);
    absa_ckpt_get_i64(e, "global_step", &p->global_step);
    absa_ckpt_get_i64(e, "samples_seen", &p->samples_seen);
    if (absa_ckpt_get_i64(e, "batch", &v)) p->sched.batch = (int)v;
    if (absa_ckpt_get_i64(e, "since_growth", &v)) p->sched.since_growth = (int)v;
    if (absa_ckpt_get_i64(e, "at_cap", &v)) p->sched.at_cap = (int)v;
    absa_ckpt_get_i64(e, "growths", &p->sched.growths);
    absa_ckpt_get_f64(e, "lr", &p->sched.lr);
    absa_ckpt_get_f64(e, "adv_ratio", &p->sched.adv_ratio);
    absa_ckpt_get_f64(e, "eig_ref", &p->sched.eig_ref);
    if (!absa_ckpt_get_i64(e, "has_eig_ref", &has_ref) || !has_ref) p->sched.eig_ref = NAN;
    absa_ckpt_get_f64(e, "wall_total", &p->wall_total);
    if (absa_ckpt_get_i64(e, "ep_epoch", &v)) p->ep_epoch = (int)v;
    absa_ckpt_get_i64(e, "ep_cursor", &p->ep_cursor);
    absa_ckpt_get_f64(e, "ep_loss_sum", &p->ep_loss_sum);
    absa_ckpt_get_i64(e, "ep_correct", &p->ep_correct);
    absa_ckpt_get_i64(e, "ep_seen", &p->ep_seen);
    absa_ckpt_get_f64(e, "resize_total", &p->resize_total);
    absa_ckpt_get_i64(e, "resizes", &p->resizes);
    if (absa_ckpt_get_i64(e, "last_batch", &v)) p->last_batch = (int)v;
    ABSA_TRY(check_run_opts(e, c));
    if (p->ep_epoch && (p->ep_epoch != p->epoch + 1 || p->ep_cursor < 0 || p->ep_seen < 0))
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint mid-epoch state is corrupt (epoch %d in progress after %d)", p->ep_epoch, p->epoch);
    if (p->sched.batch < 1 || !(p->sched.lr > 0)) ABSA_FAIL(ABSA_EFORMAT, "checkpoint training state is corrupt (batch %d, lr %g)", p->sched.batch, p->sched.lr);
cleanup:
    return status;
}
