/* train_io.c — output directory, metrics.jsonl, config and checkpoint /train state for
 * `absa train`; see train_io.h. */
#include "train_io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

absa_status absa_metrics_open(const char *dir, int keep_epochs, int64_t keep_step, FILE **out)
{
    absa_status status = ABSA_OK;
    char path[4200];
    char *buf = NULL;
    FILE *in = NULL;
    *out = NULL;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (keep_epochs >= 0 && (in = fopen(path, "r"))) {
        size_t cap = 1 << 16, len = 0;
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
    *out = fopen(path, keep_epochs >= 0 ? "a" : "w");
    if (!*out) ABSA_FAIL(ABSA_EIO, "cannot open %s: %s", path, strerror(errno));
cleanup:
    if (in) fclose(in);
    free(buf);
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

void absa_progress_to_extra(const absa_train_progress *p, const absa_train_cfg *c, absa_ckpt_extra *e)
{
    absa_ckpt_set_i64(e, "epoch", p->epoch);
    absa_ckpt_set_i64(e, "global_step", p->global_step);
    absa_ckpt_set_i64(e, "samples_seen", p->samples_seen);
    absa_ckpt_set_i64(e, "batch", p->sched.batch);
    absa_ckpt_set_i64(e, "since_growth", p->sched.since_growth);
    absa_ckpt_set_i64(e, "at_cap", p->sched.at_cap);
    absa_ckpt_set_i64(e, "growths", p->sched.growths);
    absa_ckpt_set_f64(e, "lr", p->sched.lr);
    absa_ckpt_set_f64(e, "adv_ratio", p->sched.adv_ratio);
    absa_ckpt_set_i64(e, "has_eig_ref", !isnan(p->sched.eig_ref));
    absa_ckpt_set_f64(e, "eig_ref", isnan(p->sched.eig_ref) ? 0.0 : p->sched.eig_ref);
    absa_ckpt_set_f64(e, "wall_total", p->wall_total);
    absa_ckpt_set_i64(e, "ep_epoch", p->ep_epoch);
    absa_ckpt_set_i64(e, "ep_cursor", p->ep_cursor);
    absa_ckpt_set_f64(e, "ep_loss_sum", p->ep_loss_sum);
    absa_ckpt_set_i64(e, "ep_correct", p->ep_correct);
    absa_ckpt_set_i64(e, "ep_seen", p->ep_seen);
    absa_ckpt_set_f64(e, "resize_total", p->resize_total);
    absa_ckpt_set_i64(e, "resizes", p->resizes);
    absa_ckpt_set_i64(e, "method", c->sched.method);
    absa_ckpt_set_i64(e, "micro_batch", c->sched.micro);
    absa_ckpt_set_i64(e, "seed", (int64_t)c->seed);
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
                                     absa_train_progress *p)
{
    absa_status status = ABSA_OK;
    int64_t v, method, micro, seed, has_ref;
    memset(p, 0, sizeof *p);
    ABSA_TRY(check_train_ranges(e, c->resume[0] ? c->resume : "(resume)"));
    if (!absa_ckpt_get_i64(e, "epoch", &v) || !absa_ckpt_get_i64(e, "method", &method) ||
        !absa_ckpt_get_i64(e, "micro_batch", &micro) || !absa_ckpt_get_i64(e, "seed", &seed))
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint has no training state (written by absa init?); cannot resume");
    p->epoch = (int)v;
    if (method != c->sched.method) ABSA_FAIL(ABSA_EMISMATCH, "checkpoint was trained with another --schedule");
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
    if (p->ep_epoch && (p->ep_epoch != p->epoch + 1 || p->ep_cursor < 0 || p->ep_seen < 0))
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint mid-epoch state is corrupt (epoch %d in progress after %d)", p->ep_epoch, p->epoch);
    if (p->sched.batch < 1 || !(p->sched.lr > 0)) ABSA_FAIL(ABSA_EFORMAT, "checkpoint training state is corrupt (batch %d, lr %g)", p->sched.batch, p->sched.lr);
cleanup:
    return status;
}
