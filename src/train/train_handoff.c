/* train_handoff.c — the trainer's side of growth beyond the Slurm allocation by hand-off
 * (ABSA_ALLOC=handoff in the job scripts; docs/slurm.md). Everything goes through small files in
 * the run's hand-off folder (--handoff DIR), written atomically (temp + rename) by rank 0:
 *
 *   want.JOBID running trainer: a batch doubling wants RANKS ranks, more than this job can place
 *              ("RANKS EPOCH STEP"); its job script renders and submits the next job
 *   ready      new trainer (--handoff-wait): set up (data open, model built), waiting ("JOBID")
 *   go.JOBID   old trainer: stopped at a step boundary and checkpointed for JOBID
 *              ("FROM_JOB RANKS STOP_TIME CKPT_SECONDS"); or the new job's script, when the old
 *              job is gone without one ("orphan:OLDJOB"): resume from the latest checkpoint
 *
 * The old trainer stats `ready` once per step (rank 0) and stops like on SIGTERM; the new one
 * loads the checkpoint only after go.JOBID, and logs a "resize" record of kind "handoff" with the
 * job ids, the queue wait and the training pause (old trainer's last step to new first step). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base_sys.h"
#include "trainer_impl.h"

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *job_id(const absa_tstate *t)
{
    return t->cfg->handoff_id[0] ? t->cfg->handoff_id : "0";
}

static absa_status put(const absa_tstate *t, const char *name, const char *text)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", t->cfg->handoff, name);
    return absa_write_atomic(path, text, strlen(text));
}

int absa_handoff_on(const absa_tstate *t) { return t->cfg->handoff[0] != 0; }

void absa_handoff_want(absa_tstate *t, int epoch, int ranks)
{
    if (!t->io || !absa_handoff_on(t) || ranks <= t->ho_wanted) return;
    char text[96];
    snprintf(text, sizeof text, "%d %d %lld\n", ranks, epoch, (long long)t->pr.global_step);
    char name[96];
    snprintf(name, sizeof name, "want.%s", job_id(t));
    (void)absa_train_mkdir(t->cfg->handoff);
    absa_status st = put(t, name, text);
    if (st == ABSA_OK) t->ho_wanted = ranks;
    fprintf(t->metrics.f, "{\"type\": \"handoff\", \"event\": \"want\", \"epoch\": %d, \"step\": %lld, \"job\": \"%s\", "
                          "\"ranks\": %d, \"want_ranks\": %d, \"time\": %.3f, \"ok\": %s}\n",
            epoch, (long long)t->pr.global_step, job_id(t), absa_dist_size(t->dist), ranks, wall_clock(),
            st == ABSA_OK ? "true" : "false");
    (void)absa_mlog_commit(&t->metrics, 0);
    fprintf(stderr, "absa train: the batch wants %d ranks, this job holds %d slots: %s\n", ranks,
            absa_dist_max_ranks(t->dist),
            st == ABSA_OK ? "asked the job script for a bigger job (hand-off); training goes on meanwhile"
                          : "cannot write the hand-off request; training goes on at this size");
}

int absa_handoff_poll(absa_tstate *t)
{
    if (!t->io || !absa_handoff_on(t)) return 0;
    char path[4300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/ready", t->cfg->handoff);
    if (stat(path, &sb) != 0) return 0;
    FILE *f = fopen(path, "r");
    char id[64] = "";
    if (f) {
        if (fscanf(f, "%63s", id) != 1) id[0] = 0;
        fclose(f);
    }
    if (!id[0] || !strcmp(id, job_id(t))) return 0; /* our own announcement, or cut */
    snprintf(t->ho_next, sizeof t->ho_next, "%s", id);
    t->ho_stop_at = wall_clock();
    return 1;
}

absa_status absa_handoff_release(absa_tstate *t, int epoch, double ckpt_s)
{
    absa_status status = ABSA_OK;
    char text[256], name[96];
    snprintf(text, sizeof text, "%s %d %.6f %.6f\n", job_id(t), absa_dist_size(t->dist), t->ho_stop_at, ckpt_s);
    snprintf(name, sizeof name, "go.%s", t->ho_next);
    fprintf(t->metrics.f, "{\"type\": \"handoff\", \"event\": \"released\", \"epoch\": %d, \"step\": %lld, \"job\": \"%s\", "
                          "\"to_job\": \"%s\", \"ranks\": %d, \"time\": %.3f, \"ckpt_write_s\": %.6f}\n",
            epoch, (long long)t->pr.global_step, job_id(t), t->ho_next, absa_dist_size(t->dist), t->ho_stop_at, ckpt_s);
    ABSA_TRY(absa_mlog_commit(&t->metrics, 1));
    ABSA_TRY(put(t, name, text));
    fprintf(stderr, "absa train: handed off to job %s after step %lld (epoch %d, %lld of %zu samples): checkpoint written in %.3f s\n",
            t->ho_next, (long long)t->pr.global_step, epoch, (long long)t->pr.ep_cursor, t->n_train, ckpt_s);
cleanup:
    return status;
}

absa_status absa_handoff_wait(absa_tstate *t)
{
    absa_status status = ABSA_OK;
    const absa_train_cfg *c = t->cfg;
    if (!t->io || !absa_handoff_on(t) || !c->handoff_wait) return ABSA_OK;
    char text[96], go[4300], ready[4300];
    snprintf(go, sizeof go, "%s/go.%s", c->handoff, job_id(t));
    snprintf(ready, sizeof ready, "%s/ready", c->handoff);
    snprintf(text, sizeof text, "%s\n", job_id(t));
    ABSA_TRY(absa_train_mkdir(c->handoff));
    ABSA_TRY(put(t, "ready", text));
    double w0 = absa_now();
    if (!c->quiet) fprintf(stderr, "absa train: set up; waiting for the running job to hand over (%s)\n", go);
    FILE *f;
    while (!(f = fopen(go, "r"))) {
        if (errno != ENOENT) ABSA_FAIL(ABSA_EIO, "cannot read %s: %s", go, strerror(errno));
        int sig = absa_stop_watch_poll(t->stop);
        if (sig) {
            unlink(ready);
            ABSA_FAIL(ABSA_EIO, "stopped by signal %d while waiting for the hand-off (%s)", sig, go);
        }
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    char from[64] = "";
    int ranks = 0;
    double stop_at = 0, ckpt_s = 0;
    int n = fscanf(f, "%63s %d %lf %lf", from, &ranks, &stop_at, &ckpt_s);
    fclose(f);
    unlink(ready);
    t->ho_waited = absa_now() - w0;
    t->ho_record = 1;
    t->ho_orphan = n < 4 || !strncmp(from, "orphan", 6);
    snprintf(t->ho_from, sizeof t->ho_from, "%s", n >= 1 ? from : "?");
    t->ho_from_ranks = n >= 2 ? ranks : 0;
    t->ho_stop_at = n >= 3 ? stop_at : 0;
    t->ho_ckpt_s = n >= 4 ? ckpt_s : 0;
    t->ho_go_at = wall_clock();
cleanup:
    return status;
}

void absa_handoff_record(absa_tstate *t)
{
    if (!t->io || !t->ho_record) return;
    t->ho_record = 0;
    const absa_train_cfg *c = t->cfg;
    double now = wall_clock();
    double pause = t->ho_orphan || t->ho_stop_at <= 0 ? -1 : now - t->ho_stop_at;
    FILE *f = t->metrics.f;
    fprintf(f, "{\"type\": \"resize\", \"kind\": \"handoff\", \"epoch\": %d, \"step\": %lld, \"backend\": \"handoff\", "
               "\"from\": %d, \"to\": %d, \"ok\": true, \"from_job\": \"%s\", \"to_job\": \"%s\", \"orphan\": %s, "
               "\"queue_wait_s\": %.3f, \"ready_wait_s\": %.6f, \"ckpt_write_s\": %.6f, \"resume_s\": %.6f, ",
            t->pr.ep_epoch ? t->pr.ep_epoch : t->pr.epoch + 1, (long long)t->pr.global_step, t->ho_from_ranks,
            absa_dist_size(t->dist), t->ho_from, job_id(t), t->ho_orphan ? "true" : "false", c->handoff_queued, t->ho_waited,
            t->ho_ckpt_s, now - t->ho_go_at);
    if (pause >= 0) fprintf(f, "\"pause_s\": %.6f, \"total_s\": %.6f, \"error\": null}\n", pause, pause);
    else fprintf(f, "\"pause_s\": null, \"total_s\": 0, \"error\": null}\n");
    (void)absa_mlog_commit(&t->metrics, 0);
    if (!c->quiet) {
        if (pause >= 0)
            fprintf(stderr, "absa train: took over from job %s (%d -> %d ranks): training paused %.3f s (checkpoint write %.3f s, "
                            "read and set-up %.3f s); queued %.0f s\n",
                    t->ho_from, t->ho_from_ranks, absa_dist_size(t->dist), pause, t->ho_ckpt_s, now - t->ho_go_at, c->handoff_queued);
        else
            fprintf(stderr, "absa train: job %s left without handing over: resumed from the latest checkpoint at %d ranks\n",
                    t->ho_from, absa_dist_size(t->dist));
    }
}
