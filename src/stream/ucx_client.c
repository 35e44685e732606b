/* ucx_client.c — the caller's side of the UCX data client (ucx_client.h): connect and HELLO,
 * the prefetch ring of outstanding requests delivered in request order, commit / release /
 * sync, checkpoint state and seek, and close. Connecting goes through the server's front door
 * (ucx_door.h), then UCX by worker address. The caller's thread never calls UCX: it queues
 * messages for the progress thread (ucx_client_io.c) and waits on a condition variable. */
#include "ucx_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int absa_ucx_prefetch_for(size_t batch_bytes)
{
    size_t k = batch_bytes ? (ABSA_UCX_PREFETCH_BYTES + batch_bytes - 1) / batch_bytes : ABSA_UCX_DEFAULT_PREFETCH;
    return k < ABSA_UCX_MIN_PREFETCH ? ABSA_UCX_MIN_PREFETCH : k > ABSA_UCX_DEFAULT_PREFETCH ? ABSA_UCX_DEFAULT_PREFETCH : (int)k;
}

#ifdef ABSA_HAVE_UCX
#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base_sys.h"
#include "ucx_client_impl.h"
#include "ucx_local.h"
#include "ucx_ep.h"
#include "ucx_door.h"
#include "ucx_util.h"

#define ABSA_UCX_CLIENT_TIMEOUT_S 30.0

/* wait on cv until deadline (monotonic seconds); returns 0 on timeout */
static int absa_ucx_client_wait_until(absa_ucx_client *c, double deadline)
{
    double now = absa_now();
    if (now >= deadline) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double left = deadline - now;
    ts.tv_sec += (time_t)left;
    ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&c->cv, &c->mu, &ts) != ETIMEDOUT || absa_now() < deadline;
}

/* mu held: report the client's failure in this thread's error message */
absa_status absa_ucx_client_failed_locked(absa_ucx_client *c)
{
    absa_errorf("%s", c->err);
    return c->failed;
}

static absa_status absa_ucx_client_connect_once(const char *url, const char *secret, int prefetch, absa_ucx_client **out)
{
    absa_status status = ABSA_OK;
    ucs_status_t st;
    struct sockaddr_storage ss;
    socklen_t sl;
    pthread_condattr_t ca;
    struct sockaddr_storage local;
    char dev[512], why[400];
    int fd = -1;
    ucp_config_t *cfg = NULL;
    ucp_address_t *waddr = NULL;
    size_t waddr_len = 0, saddr_len = 0;
    int peer_err = 0;
    void *saddr = NULL;
    uint8_t token[ABSA_DOOR_TOKEN] = {0};
    absa_ucx_client *c = absa_xcalloc(1, sizeof *c);
    *out = NULL;
    c->efd = c->evfd = c->session_fd = -1;
    c->prefetch = prefetch > 0 ? prefetch : 0;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    size_t slen = secret ? strlen(secret) : 0;
    if (slen < 1 || slen > ABSA_UCX_MAX_SECRET) ABSA_FAIL(ABSA_EINVAL, "the shared secret must be 1..%d bytes", ABSA_UCX_MAX_SECRET);
    if (strncmp(url, "ucx://", 6)) ABSA_FAIL(ABSA_EINVAL, "'%s': expected ucx://HOST:PORT", url);
    ABSA_TRY(absa_ucx_err_mode_peer(&peer_err));
    ABSA_TRY(absa_ucx_parse_addr(url, &ss, &sl));
    /* the front door first (ucx_door.h): nothing reaches the server's UCX before it */
    double deadline = absa_now() + ABSA_UCX_CLIENT_TIMEOUT_S;
    if (absa_door_dial((const struct sockaddr *)&ss, sl, deadline, &fd, &local) != ABSA_OK) {
        snprintf(why, sizeof why, "%s", absa_last_error()); /* absa_errorf must not read its own buffer */
        ABSA_FAIL(ABSA_EUCX, "%s: no server there: %s", url, why);
    }
    absa_door_net_devices((const struct sockaddr *)&local, dev, sizeof dev); /* UCX on the interface used */
    if ((st = ucp_config_read(NULL, NULL, &cfg)) != UCS_OK) ABSA_FAIL(ABSA_EUCX, "ucp_config_read: %s", ucs_status_string(st));
    if (dev[0] && (st = ucp_config_modify(cfg, "NET_DEVICES", dev)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "UCX_NET_DEVICES=%s: %s", dev, ucs_status_string(st));
    ucp_params_t p = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP};
    if ((st = ucp_init(&p, cfg, &c->ctx)) != UCS_OK) ABSA_FAIL(ABSA_EUCX, "ucp_init: %s", ucs_status_string(st));
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE, .thread_mode = UCS_THREAD_MODE_SINGLE};
    if ((st = ucp_worker_create(c->ctx, &wp, &c->w)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_create: %s", ucs_status_string(st));
    ucp_am_handler_param_t hp = {.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                                               UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS,
                                 .id = ABSA_UCX_AM_TO_CLIENT, .cb = absa_ucx_client_am_cb, .arg = c,
                                 .flags = UCP_AM_FLAG_WHOLE_MSG};
    if ((st = ucp_worker_set_am_recv_handler(c->w, &hp)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_set_am_recv_handler: %s", ucs_status_string(st));
    if ((st = ucp_worker_get_efd(c->w, &c->efd)) != UCS_OK) ABSA_FAIL(ABSA_EUCX, "ucp_worker_get_efd: %s", ucs_status_string(st));
    if ((c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) ABSA_FAIL(ABSA_EIO, "eventfd: %s", strerror(errno));
    if ((st = ucp_worker_get_address(c->w, &waddr, &waddr_len)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_get_address: %s", ucs_status_string(st));
    {
        absa_status ds = absa_door_auth(fd, (const uint8_t *)secret, slen, waddr, waddr_len, deadline, token, &saddr, &saddr_len);
        if (ds != ABSA_OK) {
            snprintf(why, sizeof why, "%s", absa_last_error());
            ABSA_FAIL(ds, "%s: %s", url, why);
        }
    }
    c->session_fd = fd; /* stays open: the server closes it when it drops this client */
    absa_door_keepalive(c->session_fd);
    fd = -1;
    ucp_worker_release_address(c->w, waddr);
    waddr = NULL;
    /* error mode as the server's (ucx_ep.h): the error callback sees a failed tcp lane, and the
     * session socket sees a dead server on any lane */
    if ((st = absa_ucx_ep_create(c->w, saddr, peer_err, absa_ucx_client_ep_err_cb, c, "absa: client endpoint:", &c->ep)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "cannot connect to %s: %s", url, ucs_status_string(st));
    {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* signals go to the caller's threads */
        int rc = pthread_create(&c->thr, NULL, absa_ucx_client_thread, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) ABSA_FAIL(ABSA_EIO, "cannot start the UCX progress thread: %s", strerror(rc));
        c->thr_started = 1;
    }
    pthread_mutex_lock(&c->mu);
    absa_ucx_msg h = {.type = ABSA_UCX_HELLO, .secret_len = ABSA_DOOR_TOKEN};
    memcpy(h.secret, token, ABSA_DOOR_TOKEN); /* the door's one-time token, not the secret */
    absa_ucx_client_push_locked(c, &h, NULL);
    memset(h.secret, 0, sizeof h.secret);
    absa_ucx_client_wake(c);
    deadline = absa_now() + ABSA_UCX_CLIENT_TIMEOUT_S;
    while (!c->have_meta && !c->failed && absa_ucx_client_wait_until(c, deadline)) {
    }
    if (!c->have_meta) {
        if (!c->failed) absa_ucx_client_fail_locked(c, ABSA_EUCX, "no reply within %.0f s", ABSA_UCX_CLIENT_TIMEOUT_S);
        absa_errorf("%s: authenticated, but no reply over UCX: %s", url, c->err);
        status = c->failed;
        pthread_mutex_unlock(&c->mu);
        goto cleanup;
    }
    pthread_mutex_unlock(&c->mu);
    *out = c;
    c = NULL;
cleanup:
    if (fd >= 0) close(fd);
    free(saddr);
    explicit_bzero(token, sizeof token);
    if (c && waddr) ucp_worker_release_address(c->w, waddr);
    if (cfg) ucp_config_release(cfg);
    if (c) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", absa_last_error());
        absa_ucx_client_close(c);
        absa_errorf("%s", keep);
    }
    return status;
}

/* A connection that fails before the metadata arrives (nothing listening yet, the door busy, the
 * UCX connection lost) is retried 4 times, over 3.7 s; bad arguments and a failed
 * authentication (wrong secret: ABSA_EINVAL) are not retried. */
absa_status absa_ucx_client_connect(const char *url, const char *secret, int prefetch, absa_ucx_client **out)
{
    static const useconds_t backoff_us[] = {200000, 500000, 1000000, 2000000};
    const int attempts = 1 + (int)(sizeof backoff_us / sizeof backoff_us[0]);
    absa_status status = ABSA_EUCX;
    for (int attempt = 0; attempt < attempts; attempt++) {
        if (attempt) usleep(backoff_us[attempt - 1]);
        status = absa_ucx_client_connect_once(url, secret, prefetch, out);
        if (status != ABSA_EUCX) break;
    }
    return status;
}

const absa_ucx_meta *absa_ucx_client_meta(const absa_ucx_client *c) { return &c->meta; }

size_t absa_ucx_client_depth(const absa_ucx_client *c, uint32_t n)
{
    if (c->prefetch > 0) return (size_t)c->prefetch;
    return (size_t)absa_ucx_prefetch_for((size_t)n * c->sample_bytes);
}

/* mu held: keep the prefetch depth's requests of n samples outstanding */
static void absa_ucx_client_top_up_locked(absa_ucx_client *c, uint32_t n)
{
    int pushed = 0;
    const size_t depth = absa_ucx_client_depth(c, n);
    while (c->nslots < depth && !c->done_seen) {
        absa_ucx_msg m = {.type = ABSA_UCX_REQUEST, .n = n};
        absa_ucx_client_request_locked(c, &m);
        pushed = 1;
    }
    if (pushed) absa_ucx_client_wake(c);
}

absa_ucx_client_slot *absa_ucx_client_request_locked(absa_ucx_client *c, absa_ucx_msg *m)
{
    absa_ucx_client_slot *s = absa_xcalloc(1, sizeof *s);
    s->seq = c->next_seq++;
    s->n = m->n;
    s->at = m->type == ABSA_UCX_REQUEST_AT;
    s->epoch = m->epoch;
    s->first = m->first;
    s->state = ABSA_SLOT_REQUESTED;
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->nslots++;
    m->req = s->seq;
    absa_ucx_client_push_locked(c, m, NULL);
    return s;
}

absa_ucx_client_slot *absa_ucx_client_pop_locked(absa_ucx_client *c)
{
    absa_ucx_client_slot *s = c->head;
    c->head = s->next;
    if (!c->head) c->tail = NULL;
    c->nslots--;
    return s;
}

void absa_ucx_client_deliver_locked(absa_ucx_client *c, absa_ucx_client_slot *s, absa_ucx_batch *out)
{
    absa_ucx_batch_view v;
    absa_ucx_batch_layout(s->buf, s->m.count, s->m.nranges, &v);
    out->epoch = s->m.epoch;
    out->C = c->meta.C;
    out->H = c->meta.H;
    out->W = c->meta.W;
    out->lease = s->m.lease;
    out->first = s->m.first;
    out->count = (size_t)s->m.count;
    out->ids = v.ids;
    out->labels = v.labels;
    out->images = v.images;
    out->nranges = s->m.nranges;
    out->ranges = v.ranges;
    if (c->nheld == c->heldcap) {
        c->heldcap = c->heldcap ? 2 * c->heldcap : 16;
        c->held = realloc(c->held, c->heldcap * sizeof *c->held);
        ABSA_ASSERT(c->held != NULL, "out of memory");
    }
    c->held[c->nheld++] = (absa_ucx_client_held){.lease = s->m.lease, .b = {s->buf, s->cap}};
}

absa_status absa_ucx_client_next(absa_ucx_client *c, size_t n, absa_ucx_batch *out)
{
    absa_status status = ABSA_OK;
    memset(out, 0, sizeof *out);
    if (n < 1 || n > c->meta.batch_max) {
        absa_errorf("batch of %zu samples: the server allows 1..%u", n, c->meta.batch_max);
        return ABSA_EINVAL;
    }
    pthread_mutex_lock(&c->mu);
    if (c->mode == 2) {
        pthread_mutex_unlock(&c->mu);
        absa_errorf("next() on a client that uses next_at() (positional requests)");
        return ABSA_EINVAL;
    }
    c->mode = 1;
    for (;;) {
        if (c->failed) {
            status = absa_ucx_client_failed_locked(c);
            break;
        }
        absa_ucx_client_top_up_locked(c, (uint32_t)n);
        if (!c->head) { /* done: nothing outstanding any more */
            out->done = 1;
            out->epoch = c->meta.epochs;
            break;
        }
        if (c->head->state == ABSA_SLOT_FILL) { /* images still to copy: do it here, not wait */
            absa_ucx_client_fill_locked(c, c->head);
            continue;
        }
        if (c->head->state != ABSA_SLOT_READY) {
            double t0 = absa_now();
            c->caller_waits = 1; /* the progress thread leaves the head's images to this thread */
            pthread_cond_wait(&c->cv, &c->mu);
            c->caller_waits = 0;
            c->wait_s += absa_now() - t0;
            continue;
        }
        absa_ucx_client_slot *s = absa_ucx_client_pop_locked(c);
        if (s->m.type == ABSA_UCX_BATCH && s->m.count > n) {
            /* requested before the caller changed n: give it back, its samples come first again */
            absa_ucx_msg r = {.type = ABSA_UCX_RELEASE, .lease = s->m.lease};
            absa_ucx_client_push_locked(c, &r, NULL);
            absa_ucx_client_wake(c);
            absa_ucx_client_pool_put_locked(c, (absa_ucx_client_buf){s->buf, s->cap});
            free(s);
            continue;
        }
        out->epoch = s->m.epoch;
        out->C = c->meta.C;
        out->H = c->meta.H;
        out->W = c->meta.W;
        if (s->m.type == ABSA_UCX_END) {
            out->epoch_end = !(s->m.flags & ABSA_UCX_END_DONE);
            out->done = !!(s->m.flags & ABSA_UCX_END_DONE);
            if (out->done) c->done_seen = 1;
        } else {
            absa_ucx_client_deliver_locked(c, s, out);
        }
        free(s);
        absa_ucx_client_top_up_locked(c, (uint32_t)n);
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return status;
}

static absa_status absa_ucx_client_finish(absa_ucx_client *c, const absa_ucx_batch *b, int type)
{
    absa_status status = ABSA_OK;
    if (b->count == 0) return ABSA_OK; /* epoch_end / done markers hold no lease */
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    while (i < c->nheld && c->held[i].lease != b->lease) i++;
    if (c->failed) {
        status = absa_ucx_client_failed_locked(c);
    } else if (i == c->nheld) {
        absa_errorf("lease %llu is not held by this client (committed or released twice?)", (unsigned long long)b->lease);
        status = ABSA_EINVAL;
    } else {
        absa_ucx_client_pool_put_locked(c, c->held[i].b);
        c->held[i] = c->held[--c->nheld];
        absa_ucx_msg m = {.type = (uint16_t)type, .lease = b->lease};
        absa_ucx_client_push_locked(c, &m, NULL);
        if (type == ABSA_UCX_COMMIT) c->unacked++;
        absa_ucx_client_wake(c);
    }
    pthread_mutex_unlock(&c->mu);
    return status;
}

absa_status absa_ucx_client_commit(absa_ucx_client *c, const absa_ucx_batch *b) { return absa_ucx_client_finish(c, b, ABSA_UCX_COMMIT); }
absa_status absa_ucx_client_release(absa_ucx_client *c, const absa_ucx_batch *b) { return absa_ucx_client_finish(c, b, ABSA_UCX_RELEASE); }

absa_status absa_ucx_client_sync(absa_ucx_client *c)
{
    absa_status status = ABSA_OK;
    pthread_mutex_lock(&c->mu);
    while (c->unacked && !c->failed) pthread_cond_wait(&c->cv, &c->mu);
    if (c->failed) status = absa_ucx_client_failed_locked(c);
    pthread_mutex_unlock(&c->mu);
    return status;
}

/* mu held: send m (payload owned by the command) and wait for the control reply */
static absa_status absa_ucx_client_control_locked(absa_ucx_client *c, const absa_ucx_msg *m, void *payload)
{
    c->ctl_wait = 1;
    c->ctl_ready = 0;
    absa_ucx_client_push_locked(c, m, payload);
    absa_ucx_client_wake(c);
    double deadline = absa_now() + ABSA_UCX_CLIENT_TIMEOUT_S;
    while (!c->ctl_ready && !c->failed && absa_ucx_client_wait_until(c, deadline)) {
    }
    c->ctl_wait = 0;
    if (c->failed) return absa_ucx_client_failed_locked(c);
    if (!c->ctl_ready) {
        absa_ucx_client_fail_locked(c, ABSA_EUCX, "no reply to %s within %.0f s", absa_ucx_type_name(m->type), ABSA_UCX_CLIENT_TIMEOUT_S);
        return absa_ucx_client_failed_locked(c);
    }
    return ABSA_OK;
}

absa_status absa_ucx_client_state(absa_ucx_client *c, absa_ucx_state *out)
{
    absa_status status = ABSA_OK;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    absa_ucx_msg m = {.type = ABSA_UCX_STATE};
    ABSA_TRY(absa_ucx_client_control_locked(c, &m, NULL));
    if (c->ctl.type != ABSA_UCX_STATE_REPLY)
        ABSA_FAIL(ABSA_EINVAL, "the server refused the state request (code %u)", c->ctl.code);
    out->epoch = c->ctl.epoch;
    out->count = c->ctl.count;
    out->committed = c->ctl.committed;
    out->nranges = c->ctl.nranges;
    out->ranges = c->ctl_payload;
    c->ctl_payload = NULL;
cleanup:
    free(c->ctl_payload);
    c->ctl_payload = NULL;
    pthread_mutex_unlock(&c->mu);
    return status;
}

void absa_ucx_state_free(absa_ucx_state *s)
{
    free(s->ranges);
    memset(s, 0, sizeof *s);
}

absa_status absa_ucx_client_seek(absa_ucx_client *c, const absa_ucx_state *s)
{
    absa_status status = ABSA_OK;
    pthread_mutex_lock(&c->mu);
    if (c->next_seq != 0) ABSA_FAIL(ABSA_EINVAL, "seek must come before this client's first next()");
    if (s->nranges > ABSA_UCX_MAX_STATE_RANGES) ABSA_FAIL(ABSA_EINVAL, "state has too many ranges");
    absa_ucx_range *r = NULL;
    if (s->nranges) {
        r = absa_xcalloc(s->nranges, sizeof *r);
        memcpy(r, s->ranges, s->nranges * sizeof *r);
    }
    absa_ucx_msg m = {.type = ABSA_UCX_SEEK, .epoch = s->epoch, .nranges = (uint32_t)s->nranges};
    ABSA_TRY(absa_ucx_client_control_locked(c, &m, r));
    if (c->ctl.type == ABSA_UCX_ERROR)
        ABSA_FAIL(c->ctl.code == ABSA_UCX_ERR_SEEK_BUSY ? ABSA_EEXIST : ABSA_EINVAL,
                  "the server refused the seek to epoch %llu: %s", (unsigned long long)s->epoch,
                  c->ctl.code == ABSA_UCX_ERR_SEEK_BUSY ? "leases are outstanding" : "bad epoch or ranges");
    if (c->ctl.type != ABSA_UCX_SEEK_OK) ABSA_FAIL(ABSA_EFORMAT, "unexpected reply to SEEK");
    c->meta.epoch = c->ctl.epoch;
cleanup:
    pthread_mutex_unlock(&c->mu);
    return status;
}

double absa_ucx_client_wait_seconds(const absa_ucx_client *c) { return c->wait_s; }
uint64_t absa_ucx_client_bytes(const absa_ucx_client *c) { return c->bytes; }
uint64_t absa_ucx_client_rndv_batches(const absa_ucx_client *c) { return c->rndv_batches; }
uint64_t absa_ucx_client_withdrawn(const absa_ucx_client *c) { return c->withdrawn; }
uint64_t absa_ucx_client_local_batches(absa_ucx_client *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->local_batches;
    pthread_mutex_unlock(&c->mu);
    return n;
}
const char *absa_ucx_client_local_why(absa_ucx_client *c)
{
    pthread_mutex_lock(&c->mu);
    const char *w = c->shm ? "" : c->local_why; /* written once, before or without the mapping */
    pthread_mutex_unlock(&c->mu);
    return w;
}

void absa_ucx_client_close(absa_ucx_client *c)
{
    if (!c) return;
    if (c->thr_started) {
        pthread_mutex_lock(&c->mu);
        if ((!c->failed || c->keep_conn) && c->have_meta) {
            absa_ucx_msg m = {.type = ABSA_UCX_BYE};
            absa_ucx_client_push_locked(c, &m, NULL);
            c->bye_sent = 1;
        }
        c->stop = 1;
        absa_ucx_client_wake(c);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thr, NULL);
    } else if (c->ep) {
        ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = UCP_EP_CLOSE_FLAG_FORCE};
        void *r = ucp_ep_close_nbx(c->ep, &p);
        if (r && !UCS_PTR_IS_ERR(r)) {
            while (ucp_request_check_status(r) == UCS_INPROGRESS) ucp_worker_progress(c->w);
            ucp_request_free(r);
        }
    }
    if (c->thr_started && c->ep) {
        fprintf(stderr, "absa: UCX endpoint did not close; leaving the UCX worker in place\n");
    } else {
        if (c->w) ucp_worker_destroy(c->w);
        if (c->ctx) ucp_cleanup(c->ctx);
    }
    if (c->evfd >= 0) close(c->evfd);
    if (c->session_fd >= 0) close(c->session_fd);
    for (int list = 0; list < 2; list++)
        for (absa_ucx_client_slot *s = list ? c->zombies : c->head, *nx; s; s = nx) {
            nx = s->next;
            absa_free(s->buf);
            free(s);
        }
    for (size_t i = 0; i < c->nheld; i++) absa_free(c->held[i].b.p);
    for (size_t i = 0; i < c->npool; i++) absa_free(c->pool[i].p);
    for (size_t i = 0; i < c->ncmd; i++) free(c->cmds[i].payload);
    free(c->held);
    free(c->pool);
    absa_ucx_shared_detach(c->shm, c->shm_map_bytes);
    free(c->cmds);
    free(c->ctl_payload);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

#else /* built without UCX */

struct absa_ucx_client {
    absa_ucx_meta meta;
};

static absa_status absa_ucx_client_nouc(void)
{
    absa_errorf("built without UCX (configure with UCX installed and -DABSA_WITH_UCX=ON)");
    return ABSA_EUCX;
}
absa_status absa_ucx_client_connect(const char *url, const char *secret, int prefetch, absa_ucx_client **out)
{
    (void)url, (void)secret, (void)prefetch;
    *out = NULL;
    return absa_ucx_client_nouc();
}
const absa_ucx_meta *absa_ucx_client_meta(const absa_ucx_client *c) { return &c->meta; }
absa_status absa_ucx_client_next(absa_ucx_client *c, size_t n, absa_ucx_batch *out)
{
    (void)c, (void)n;
    memset(out, 0, sizeof *out);
    return absa_ucx_client_nouc();
}
absa_status absa_ucx_client_commit(absa_ucx_client *c, const absa_ucx_batch *b) { (void)c, (void)b; return absa_ucx_client_nouc(); }
absa_status absa_ucx_client_release(absa_ucx_client *c, const absa_ucx_batch *b) { (void)c, (void)b; return absa_ucx_client_nouc(); }
absa_status absa_ucx_client_sync(absa_ucx_client *c) { (void)c; return absa_ucx_client_nouc(); }
absa_status absa_ucx_client_state(absa_ucx_client *c, absa_ucx_state *out)
{
    (void)c;
    memset(out, 0, sizeof *out);
    return absa_ucx_client_nouc();
}
void absa_ucx_state_free(absa_ucx_state *s)
{
    free(s->ranges);
    memset(s, 0, sizeof *s);
}
absa_status absa_ucx_client_seek(absa_ucx_client *c, const absa_ucx_state *s) { (void)c, (void)s; return absa_ucx_client_nouc(); }
double absa_ucx_client_wait_seconds(const absa_ucx_client *c) { (void)c; return 0; }
uint64_t absa_ucx_client_bytes(const absa_ucx_client *c) { (void)c; return 0; }
uint64_t absa_ucx_client_rndv_batches(const absa_ucx_client *c) { (void)c; return 0; }
uint64_t absa_ucx_client_withdrawn(const absa_ucx_client *c) { (void)c; return 0; }
uint64_t absa_ucx_client_local_batches(absa_ucx_client *c) { (void)c; return 0; }
const char *absa_ucx_client_local_why(absa_ucx_client *c) { (void)c; return ""; }
void absa_ucx_client_close(absa_ucx_client *c) { (void)c; }
#endif
