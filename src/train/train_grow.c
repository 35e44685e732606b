/* train_grow.c — the trainer's side of growing the worker set (dist.h): start a growth when the
 * schedule doubles the batch, settle it at a step boundary (the joining ranks receive the whole
 * training state by broadcast there), log every resize as a metrics.jsonl event with its cost
 * split, and count the time training stood still for it (summary resize_fraction). */
#include <stdio.h>
#include <time.h>

#include "base_sys.h"
#include "base_json.h"
#include "dist_train.h"
#include "trainer_impl.h"

static void log_resize(absa_tstate *t, int epoch, const absa_resize_cost *c)
{
    t->pr.resize_total += c->total_s;
    if (!t->io) return;
    const char *backend = absa_dist_backend_name(t->dist);
    FILE *f = t->metrics.f;
    fprintf(f, "{\"type\": \"resize\", \"epoch\": %d, \"step\": %lld, \"backend\": \"%s\", \"from\": %d, \"to\": %d, \"ok\": %s, "
               "\"spawn_s\": %.6f, \"setup_wait_s\": %.6f, \"background_s\": %.6f, \"merge_s\": %.6f, \"bcast_s\": %.6f, "
               "\"child_setup_s\": %.6f, \"total_s\": %.6f, \"error\": ",
            epoch, (long long)t->pr.global_step, backend, c->from, c->to, c->ok ? "true" : "false", c->spawn_s,
            c->setup_wait_s, c->background_s, c->merge_s, c->bcast_s, c->child_setup_s, c->total_s);
    if (c->ok) fputs("null", f);
    else absa_json_string(f, c->error);
    if (c->ok && absa_dist_nccl_attached(t->dist)) { /* the new communicator: initialising or host path */
        fprintf(f, ", \"nccl\": {\"bcast_s\": %.6f, \"state\": ", t->nccl.bcast_s);
        absa_json_string(f, t->nccl.line);
        if (t->nccl.devices[0]) fprintf(f, ", \"devices\": %s", t->nccl.devices); /* every rank's GPU */
        fputc('}', f);
    }
    fputs("}\n", f);
    (void)absa_mlog_commit(&t->metrics, 0); /* a failure is sticky: the epoch's commit reports it */
    if (!t->cfg->quiet || !c->ok)
        fprintf(stderr, "absa train: %s %d -> %d ranks (%s) at step %lld: training paused %.3f s (merge %.3f, state %.3f); "
                        "in the background %.3f s (spawn %.3f, setup %.3f)%s%s\n",
                c->ok ? "grew" : "could not grow", c->from, c->ok ? c->to : 2 * c->from, backend,
                (long long)t->pr.global_step, c->total_s, c->merge_s, c->bcast_s, c->background_s, c->spawn_s,
                c->setup_wait_s, c->ok ? "" : ": ", c->ok ? "" : c->error);
}

/* the new ranks are in the communicator: they report their setup time, then get the state */
static void joined(absa_tstate *t, absa_resize_cost *c, double t0)
{
    double cs = 0;
    absa_dist_max_f64(t->dist, &cs, 1);
    c->child_setup_s = cs;
    c->bcast_s = absa_dist_sync_state(t->dist, t->m, &t->opt, &t->pr);
    absa_tr_nccl_grow(t, -1); /* non-blocking init: training goes on over MPI meanwhile */
    c->total_s = absa_now() - t0;
    t->pr.resizes++;
}

/* an "nccl" record when the communicator settles, and the line on the terminal */
static void nccl_event(absa_tstate *t, int epoch, const absa_nccl_report *r)
{
    if (!t->io || r->event == ABSA_NCCL_EV_NONE || r->event == ABSA_NCCL_EV_STARTED) return;
    const int ok = r->event == ABSA_NCCL_EV_READY;
    if (!t->cfg->quiet || !ok) fprintf(stderr, "absa train: %s\n", r->line);
    FILE *f = t->metrics.f;
    fprintf(f, "{\"type\": \"nccl\", \"epoch\": %d, \"step\": %lld, \"ranks\": %d, \"ok\": %s, \"path\": \"%s\", "
               "\"generation\": %d, \"bcast_s\": %.6f, \"init_s\": %.6f, \"destroy_s\": %.6f, \"polls\": %d, \"line\": ",
            epoch, (long long)t->pr.global_step, r->ranks, ok ? "true" : "false", ok ? "nccl" : "host", r->generation,
            r->bcast_s, ok ? r->init_s : 0.0, ok ? r->destroy_s : 0.0, r->polls);
    absa_json_string(f, r->line);
    fputs("}\n", f);
    (void)absa_mlog_commit(&t->metrics, 0);
}

void absa_tr_nccl_grow(absa_tstate *t, int epoch)
{
    if (absa_dist_size(t->dist) <= 1) return; /* the same on every active rank */
    absa_dist_nccl_grow(t->dist, &t->nccl);
    nccl_event(t, epoch < 0 ? t->pr.epoch + 1 : epoch, &t->nccl); /* e.g. ranks sharing a GPU */
}

void absa_tr_nccl_poll(absa_tstate *t, int epoch)
{
    absa_nccl_report r;
    absa_dist_nccl_poll(t->dist, &r);
    nccl_event(t, epoch, &r);
}

void absa_tr_grow_begin(absa_tstate *t, int epoch, int target)
{
    absa_resize_cost c;
    double t0 = absa_now();
    int r = absa_dist_grow_begin(t->dist, target, &c);
    if (r == 0) return; /* spawning in the background: settled at a later step */
    if (r > 0) joined(t, &c, t0);
    else c.total_s = absa_now() - t0;
    t->pr.wall_total += c.total_s; /* between epochs: not in any epoch's wall time */
    log_resize(t, epoch, &c);
}

void absa_tr_grow_settle(absa_tstate *t, int epoch, const double sums[3], int give_up)
{
    absa_resize_cost c;
    double t0 = absa_now();
    int r = absa_dist_grow_settle(t->dist, sums, give_up, &c);
    if (r == 0) return;
    if (r > 0) joined(t, &c, t0);
    else c.total_s = absa_now() - t0;
    log_resize(t, epoch, &c);
}

void absa_tr_grow_wait(absa_tstate *t, int epoch, int give_up)
{
    double t0 = absa_now(), f[3];
    while (absa_dist_grow_pending(t->dist)) {
        absa_dist_grow_flags(t->dist, f);
        absa_dist_allreduce_f64(t->dist, f, 3);
        absa_resize_cost c;
        int r = absa_dist_grow_settle(t->dist, f, give_up, &c);
        if (r > 0) joined(t, &c, t0);
        if (r != 0) {
            c.total_s = absa_now() - t0; /* training stood still for all of it */
            log_resize(t, epoch, &c);
            break;
        }
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}
