/* ucx_client_io.c — the progress thread of the UCX data client: it alone calls UCX. It sends
 * the commands the API queues, blocks on the worker event fd (plus an eventfd the API writes to
 * wake it), and in the AM callback decodes and validates every server message before use:
 * batches are received (rendezvous: straight into a pooled buffer) and checked against the
 * dataset metadata, replies are matched to outstanding requests by sequence number (a reply to
 * a withdrawn positional request is released unseen: ucx_client_at.c). Any protocol violation or
 * connection loss fails the client with one message. See ucx_client.h. */
#ifdef ABSA_HAVE_UCX
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base_sys.h"
#include "ucx_client_impl.h"
#include "ucx_local.h"
#include "ucx_util.h"

void absa_ucx_client_fail_locked(absa_ucx_client *c, absa_status st, const char *fmt, ...)
{
    if (c->failed == ABSA_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof c->err, fmt, ap);
        va_end(ap);
        c->failed = st;
    }
    pthread_cond_broadcast(&c->cv);
}

void absa_ucx_client_wake(absa_ucx_client *c)
{
    uint64_t one = 1;
    ssize_t r = write(c->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: a wakeup is already pending */
}

void absa_ucx_client_push_locked(absa_ucx_client *c, const absa_ucx_msg *m, void *payload)
{
    if (c->ncmd == c->cmdcap) {
        c->cmdcap = c->cmdcap ? 2 * c->cmdcap : 16;
        c->cmds = realloc(c->cmds, c->cmdcap * sizeof *c->cmds);
        ABSA_ASSERT(c->cmds != NULL, "out of memory for client commands");
    }
    c->cmds[c->ncmd].m = *m;
    c->cmds[c->ncmd].payload = payload;
    c->ncmd++;
}

absa_ucx_client_buf absa_ucx_client_pool_get_locked(absa_ucx_client *c, size_t bytes)
{
    for (size_t i = 0; i < c->npool; i++)
        if (c->pool[i].cap >= bytes) {
            absa_ucx_client_buf b = c->pool[i];
            c->pool[i] = c->pool[--c->npool];
            return b;
        }
    absa_ucx_client_buf b = {absa_ucx_buf_alloc(bytes), bytes};
    if (!b.p) b.cap = 0;
    return b;
}

void absa_ucx_client_pool_put_locked(absa_ucx_client *c, absa_ucx_client_buf b)
{
    if (!b.p) return;
    if (c->npool == c->poolcap) {
        c->poolcap = c->poolcap ? 2 * c->poolcap : 8;
        c->pool = realloc(c->pool, c->poolcap * sizeof *c->pool);
        ABSA_ASSERT(c->pool != NULL, "out of memory for the buffer pool");
    }
    c->pool[c->npool++] = b;
}

/* ---- sends (progress thread) ---- */
typedef struct absa_ucx_client_send {
    absa_ucx_client *c;
    void *payload;
    uint8_t hdr[ABSA_UCX_MAX_HLEN];
} absa_ucx_client_send;

static void absa_ucx_client_send_done(absa_ucx_client_send *x, ucs_status_t st)
{
    absa_ucx_client *c = x->c;
    c->sends--;
    if (st != UCS_OK) {
        pthread_mutex_lock(&c->mu);
        absa_ucx_client_fail_locked(c, ABSA_EUCX, "send to the server failed: %s", ucs_status_string(st));
        pthread_mutex_unlock(&c->mu);
    }
    free(x->payload);
    free(x);
}

static void absa_ucx_client_send_cb(void *req, ucs_status_t st, void *user_data)
{
    absa_ucx_client_send_done(user_data, st);
    ucp_request_free(req);
}

static void absa_ucx_client_send_cmd(absa_ucx_client *c, absa_ucx_client_cmd *cmd)
{
    absa_ucx_client_send *x = absa_xcalloc(1, sizeof *x);
    x->c = c;
    x->payload = cmd->payload;
    size_t hlen = absa_ucx_encode(&cmd->m, x->hdr, sizeof x->hdr);
    ABSA_ASSERT(hlen > 0, "cannot encode a %s message", absa_ucx_type_name(cmd->m.type));
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                                             UCP_OP_ATTR_FIELD_FLAGS,
                             .flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER,
                             .cb.send = absa_ucx_client_send_cb,
                             .user_data = x};
    c->sends++;
    c->last_send = absa_now();
    ucs_status_ptr_t r = ucp_am_send_nbx(c->ep, ABSA_UCX_AM_TO_SERVER, x->hdr, hlen, x->payload,
                                         (size_t)cmd->m.payload_len, &p);
    if (r == NULL)
        absa_ucx_client_send_done(x, UCS_OK);
    else if (UCS_PTR_IS_ERR(r))
        absa_ucx_client_send_done(x, UCS_PTR_STATUS(r));
}

/* ---- receives ---- */
static absa_ucx_client_slot *absa_ucx_client_find_slot(absa_ucx_client *c, uint64_t seq)
{
    for (int list = 0; list < 2; list++)
        for (absa_ucx_client_slot *s = list ? c->zombies : c->head; s; s = s->next)
            if (s->seq == seq) return s;
    return NULL;
}

void absa_ucx_client_fill_locked(absa_ucx_client *c, absa_ucx_client_slot *s)
{
    absa_ucx_batch_view v;
    absa_ucx_batch_layout(s->buf, s->m.count, s->m.nranges, &v);
    const size_t sb = c->sample_bytes, n = (size_t)s->m.count;
    const uint8_t *split = c->shm;
    uint8_t *img = (uint8_t *)(uintptr_t)v.images;
    s->state = ABSA_SLOT_FILLING; /* a withdrawal now only marks it cancelled (zombies) */
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) memcpy(img + i * sb, split + v.ids[i] * sb, sb); /* ids checked on arrival */
    pthread_mutex_lock(&c->mu);
    c->local_batches++;
    if (s->cancelled) {
        absa_ucx_client_zombie_done_locked(c, s);
        return;
    }
    s->state = ABSA_SLOT_READY;
    c->bytes += s->m.payload_len + s->m.count * sb; /* the batch's bytes as the caller sees them */
    if (s == c->head) pthread_cond_broadcast(&c->cv);
}

/* progress thread: fill one slot whose images are still to be copied (1 if it did), the newest
 * first, and the head only while the caller is not waiting for it: a waiting caller is woken
 * and copies the head itself, so that two cores copy when the caller has nothing else to do (a
 * trainer busy with its step finds its batches filled by this thread). One at a time: the
 * thread's loop sends the caller's requests and commits between two copies. */
static int absa_ucx_client_fill_one(absa_ucx_client *c)
{
    pthread_mutex_lock(&c->mu);
    absa_ucx_client_slot *pick = NULL;
    for (absa_ucx_client_slot *s = c->head; s; s = s->next)
        if (s->state == ABSA_SLOT_FILL && !(s == c->head && c->caller_waits)) pick = s;
    if (pick) absa_ucx_client_fill_locked(c, pick);
    pthread_mutex_unlock(&c->mu);
    return pick != NULL;
}

static void absa_ucx_client_batch_arrived_locked(absa_ucx_client *c, absa_ucx_client_slot *s)
{
    const absa_ucx_meta *mt = &c->meta;
    if (s->cancelled) { /* withdrawn meanwhile: give it back unseen */
        absa_ucx_client_zombie_done_locked(c, s);
        return;
    }
    if (absa_ucx_check_batch(&s->m, s->buf, mt->count, mt->C, mt->H, mt->W, mt->num_classes, s->n) != ABSA_OK) {
        absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "bad batch from the server: %s", absa_last_error());
        return;
    }
    if (s->at && (s->m.count != s->n || s->m.nranges != 1 || s->m.first != s->first || s->m.epoch != s->epoch)) {
        absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "the server answered positions [%llu, +%u) of epoch %llu with %llu samples at %llu of epoch %llu",
                             (unsigned long long)s->first, s->n, (unsigned long long)s->epoch, (unsigned long long)s->m.count,
                             (unsigned long long)s->m.first, (unsigned long long)s->m.epoch);
        return;
    }
    if (s->m.flags & ABSA_UCX_BATCH_LOCAL) { /* filled after this callback, or by the caller */
        s->state = ABSA_SLOT_FILL;
        if (s == c->head) c->kick = 1;
        return;
    }
    s->state = ABSA_SLOT_READY;
    c->bytes += s->m.payload_len;
    /* the caller waits for the head slot only (a later one becomes head by its own pop, which
     * checks again before waiting): waking it for any other slot costs a context switch per
     * batch that, on a loaded node, preempts the server's gather (docs/ucx.md, "Where the time
     * goes") */
    if (s == c->head) c->kick = 1; /* broadcast once mu is released (absa_ucx_client_kick) */
}

/* Wake the caller about the batch that arrived, after mu is released: broadcasting under mu
 * woke a thread that at once blocked again on mu (one more futex sleep and context switch per
 * batch, measured). Progress thread only; the state change happened under mu, so no wakeup is
 * lost. */
static void absa_ucx_client_kick(absa_ucx_client *c)
{
    if (!c->kick) return;
    c->kick = 0;
    pthread_cond_broadcast(&c->cv);
}

typedef struct absa_ucx_client_rx {
    absa_ucx_client *c;
    absa_ucx_client_slot *slot; /* NULL: control payload (STATE_REPLY) */
} absa_ucx_client_rx;

static void absa_ucx_client_ctl_arrived_locked(absa_ucx_client *c)
{
    if (c->ctl.type == ABSA_UCX_STATE_REPLY) {
        uint64_t sum = 0;
        if (c->ctl.count != c->meta.count ||
            absa_ucx_check_ranges(c->ctl_payload, c->ctl.nranges, c->meta.count, &sum) != ABSA_OK ||
            sum != c->ctl.committed) {
            absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "bad state reply from the server");
            return;
        }
    }
    c->ctl_ready = 1;
    pthread_cond_broadcast(&c->cv);
}

static void absa_ucx_client_rx_cb(void *req, ucs_status_t st, size_t length, void *user_data)
{
    absa_ucx_client_rx *rx = user_data;
    absa_ucx_client *c = rx->c;
    (void)length;
    pthread_mutex_lock(&c->mu);
    if (st != UCS_OK)
        absa_ucx_client_fail_locked(c, ABSA_EUCX, "receiving from the server failed: %s", ucs_status_string(st));
    else if (rx->slot)
        absa_ucx_client_batch_arrived_locked(c, rx->slot);
    else
        absa_ucx_client_ctl_arrived_locked(c);
    pthread_mutex_unlock(&c->mu);
    absa_ucx_client_kick(c);
    free(rx);
    ucp_request_free(req);
}

/* receive a payload into buf (copy if eager); mu held on entry and on return */
static ucs_status_t absa_ucx_client_receive_locked(absa_ucx_client *c, absa_ucx_client_slot *slot, void *buf, void *data,
                                            size_t length, int rndv)
{
    if (!rndv) {
        memcpy(buf, data, length);
        if (slot)
            absa_ucx_client_batch_arrived_locked(c, slot);
        else
            absa_ucx_client_ctl_arrived_locked(c);
        return UCS_OK;
    }
    absa_ucx_client_rx *rx = absa_xcalloc(1, sizeof *rx);
    rx->c = c;
    rx->slot = slot;
    if (slot) {
        slot->state = ABSA_SLOT_RECEIVING;
        c->rndv_batches++;
    }
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                             .cb.recv_am = absa_ucx_client_rx_cb,
                             .user_data = rx};
    pthread_mutex_unlock(&c->mu); /* a completion callback may run inside and take mu */
    ucs_status_ptr_t r = ucp_am_recv_data_nbx(c->w, data, buf, length, &p);
    pthread_mutex_lock(&c->mu);
    if (r == NULL) {
        free(rx);
        if (slot)
            absa_ucx_client_batch_arrived_locked(c, slot);
        else
            absa_ucx_client_ctl_arrived_locked(c);
    } else if (UCS_PTR_IS_ERR(r)) {
        free(rx);
        absa_ucx_client_fail_locked(c, ABSA_EUCX, "receiving from the server failed: %s", ucs_status_string(UCS_PTR_STATUS(r)));
    }
    return UCS_INPROGRESS;
}

static ucs_status_t absa_ucx_client_on_msg_locked(absa_ucx_client *c, const absa_ucx_msg *m, void *data, size_t length,
                                           int rndv)
{
    absa_ucx_client_slot *s;
    switch (m->type) {
    case ABSA_UCX_META: {
        if (c->have_meta || rndv) break;
        absa_ucx_meta *mt = &c->meta;
        memcpy(mt->mean, data, 4 * (size_t)m->C);
        memcpy(mt->std, (const char *)data + 4 * (size_t)m->C, 4 * (size_t)m->C);
        for (uint32_t i = 0; i < m->C; i++)
            if (!isfinite(mt->mean[i]) || !(mt->std[i] > 0) || !isfinite(mt->std[i])) {
                absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "bad mean/std in the server's metadata");
                return UCS_OK;
            }
        mt->count = m->count;
        mt->epoch = m->epoch;
        mt->epochs = m->epochs;
        mt->C = (int)m->C;
        mt->H = (int)m->H;
        mt->W = (int)m->W;
        mt->num_classes = (int)m->num_classes;
        mt->batch_max = m->batch_max;
        mt->lease_timeout_s = m->lease_timeout_ms / 1000.0;
        c->ping_s = mt->lease_timeout_s / 4;
        if (c->ping_s > 0 && c->ping_s < 0.05) c->ping_s = 0.05;
        c->sample_bytes = (size_t)m->C * m->H * m->W;
        c->have_meta = 1;
        pthread_cond_broadcast(&c->cv);
        return UCS_OK;
    }
    case ABSA_UCX_BATCH:
    case ABSA_UCX_END:
        s = absa_ucx_client_find_slot(c, m->req);
        if (!c->have_meta || !s || s->state != ABSA_SLOT_REQUESTED) break;
        if ((m->type == ABSA_UCX_END && (m->flags & ABSA_UCX_END_CANCELLED) && !s->cancelled) ||
            (m->type == ABSA_UCX_END && (m->flags & ABSA_UCX_END_GONE) && !s->at))
            break; /* an answer to something this client did not ask */
        s->m = *m;
        if (s->cancelled && (m->type == ABSA_UCX_END || !rndv)) { /* withdrawn: nothing to receive */
            absa_ucx_client_zombie_done_locked(c, s);
            return UCS_OK;
        }
        if (m->type == ABSA_UCX_END) {
            s->state = ABSA_SLOT_READY;
            pthread_cond_broadcast(&c->cv);
            return UCS_OK;
        }
        if (m->count > s->n || (int)m->C != c->meta.C || (int)m->H != c->meta.H || (int)m->W != c->meta.W) {
            absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "batch of %llu samples of %ux%ux%u for a request of %u %dx%dx%d",
                                 (unsigned long long)m->count, m->C, m->H, m->W, s->n, c->meta.C, c->meta.H, c->meta.W);
            return UCS_OK;
        }
        if ((m->flags & ABSA_UCX_BATCH_LOCAL) && !c->shm) {
            absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "the server sent a batch without images, but this client does not map its split");
            return UCS_OK;
        }
        {
            /* a batch without images is received into the start of a whole batch's buffer:
             * the images follow where the layout puts them */
            size_t whole = length + ((m->flags & ABSA_UCX_BATCH_LOCAL) ? (size_t)m->count * c->sample_bytes : 0);
            absa_ucx_client_buf b = absa_ucx_client_pool_get_locked(c, whole);
            if (!b.p) {
                absa_ucx_client_fail_locked(c, ABSA_ENOMEM, "cannot allocate %zu bytes for a batch", whole);
                return UCS_OK;
            }
            s->buf = b.p;
            s->cap = b.cap;
        }
        return absa_ucx_client_receive_locked(c, s, s->buf, data, length, rndv);
    case ABSA_UCX_LOCAL: {
        /* the server's split, if it is on this node: map it, then ask for batches without images */
        if (c->shm || c->local_why[0] || rndv) break; /* a second offer: out of protocol */
        const uint8_t *p = NULL;
        size_t map = 0;
        if (!c->have_meta) { /* (UCX delivers META first; were it not, stay on UCX) */
            snprintf(c->local_why, sizeof c->local_why, "the offer came before the metadata");
        } else if (!absa_ucx_local_enabled()) {
            snprintf(c->local_why, sizeof c->local_why, "ABSA_UCX_LOCAL=%s", getenv("ABSA_UCX_LOCAL"));
        } else if (m->count != c->meta.count * c->sample_bytes) {
            snprintf(c->local_why, sizeof c->local_why, "the offered split has %llu bytes, the metadata say %llu",
                     (unsigned long long)m->count, (unsigned long long)(c->meta.count * c->sample_bytes));
        } else if (absa_ucx_shared_attach(m->pid, m->fd, m->count, m->nonce, &p, &map) != ABSA_OK) {
            snprintf(c->local_why, sizeof c->local_why, "%s", absa_last_error());
        } else {
            c->shm = p;
            c->shm_map_bytes = map;
            absa_ucx_msg r = {.type = ABSA_UCX_LOCAL_OK};
            absa_ucx_client_push_locked(c, &r, NULL);
            absa_ucx_client_wake(c); /* this thread's loop sends it */
        }
        return UCS_OK;
    }
    case ABSA_UCX_COMMIT_OK:
        if (c->unacked == 0) break;
        c->unacked--;
        if (c->unacked == 0) pthread_cond_broadcast(&c->cv); /* sync() waits for all; next() for none */
        return UCS_OK;
    case ABSA_UCX_STATE_REPLY:
    case ABSA_UCX_SEEK_OK:
    case ABSA_UCX_ERROR:
        if (m->type == ABSA_UCX_ERROR && m->code == ABSA_UCX_ERR_REVOKED) {
            absa_ucx_client_fail_locked(c, ABSA_EINVAL,
                                 "the server revoked leases of this client after %.0f s of silence (absa serve --lease-timeout; "
                                 "was the process stopped?): their samples went to other clients and this client's "
                                 "use of them does not count; resume from the last checkpoint",
                                 c->meta.lease_timeout_s);
            c->keep_conn = 1;
            return UCS_OK;
        }
        if (!c->ctl_wait || c->ctl_ready || c->ctl_payload) break;
        c->ctl = *m;
        if (m->type != ABSA_UCX_STATE_REPLY || m->nranges == 0) {
            absa_ucx_client_ctl_arrived_locked(c);
            return UCS_OK;
        }
        c->ctl_payload = malloc(length);
        if (!c->ctl_payload) {
            absa_ucx_client_fail_locked(c, ABSA_ENOMEM, "cannot allocate the state reply");
            return UCS_OK;
        }
        return absa_ucx_client_receive_locked(c, NULL, c->ctl_payload, data, length, rndv);
    default: break;
    }
    absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "unexpected %s message from the server", absa_ucx_type_name(m->type));
    return UCS_OK;
}

ucs_status_t absa_ucx_client_am_cb(void *arg, const void *header, size_t header_length, void *data, size_t length,
                            const ucp_am_recv_param_t *param)
{
    absa_ucx_client *c = arg;
    absa_ucx_msg m;
    ucs_status_t ret = UCS_OK;
    absa_status st = absa_ucx_decode(header, header_length, length, &m);
    pthread_mutex_lock(&c->mu);
    if (st != ABSA_OK)
        absa_ucx_client_fail_locked(c, ABSA_EFORMAT, "bad message from the server: %s", absa_last_error());
    else if (c->failed == ABSA_OK)
        ret = absa_ucx_client_on_msg_locked(c, &m, data, length, !!(param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV));
    pthread_mutex_unlock(&c->mu);
    absa_ucx_client_kick(c);
    return ret;
}

void absa_ucx_client_ep_err_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    absa_ucx_client *c = arg;
    (void)ep;
    pthread_mutex_lock(&c->mu);
    c->ep_lost = 1;
    absa_ucx_client_fail_locked(c, ABSA_EUCX, "connection to the server lost: %s", ucs_status_string(status));
    pthread_mutex_unlock(&c->mu);
}

/* ---- the thread ---- */
/* the server closed the front door session (it dropped this client or stopped): poll it */
int absa_ucx_client_session_closed(absa_ucx_client *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->session_fd, .events = POLLIN};
    return c->session_fd >= 0 && poll(&p, 1, timeout_ms) > 0;
}

static void absa_ucx_client_progress_for(absa_ucx_client *c, void *req, double seconds)
{
    double t0 = absa_now();
    while (absa_now() - t0 < seconds) {
        ucp_worker_progress(c->w);
        if (req ? ucp_request_check_status(req) != UCS_INPROGRESS : c->sends == 0) return;
    }
}

/* Leaving: once BYE (queued by close) is out, wait briefly for the server to close the
 * connection (it does on BYE, after returning our leases: a clean "left" in its log), then
 * force-close the endpoint (cancels receives still in flight). c->ep stays set when the close
 * does not complete, so that the caller leaks the worker rather than destroying it under a live
 * endpoint. */
static void absa_ucx_client_shutdown(absa_ucx_client *c)
{
    absa_ucx_client_progress_for(c, NULL, 2.0); /* flush BYE and other sends */
    pthread_mutex_lock(&c->mu);
    int wait_bye = c->bye_sent && (!c->failed || c->keep_conn);
    pthread_mutex_unlock(&c->mu);
    for (double t0 = absa_now(); wait_bye && absa_now() - t0 < 2.0;) {
        if (!ucp_worker_progress(c->w)) usleep(100);
        pthread_mutex_lock(&c->mu);
        wait_bye = !c->ep_lost && (!c->failed || c->keep_conn) && !absa_ucx_client_session_closed(c, 0);
        pthread_mutex_unlock(&c->mu);
    }
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = UCP_EP_CLOSE_FLAG_FORCE};
    void *r = ucp_ep_close_nbx(c->ep, &p);
    if (r && !UCS_PTR_IS_ERR(r)) {
        absa_ucx_client_progress_for(c, r, 10.0);
        if (ucp_request_check_status(r) == UCS_INPROGRESS) return;
        ucp_request_free(r);
    }
    while (ucp_worker_progress(c->w)) {
    }
    c->ep = NULL;
}

void *absa_ucx_client_thread(void *arg)
{
    absa_ucx_client *c = arg;
    struct pollfd pfd[3] = {{.fd = c->efd, .events = POLLIN}, {.fd = c->evfd, .events = POLLIN},
                            {.fd = c->session_fd, .events = POLLIN}};
    absa_ucx_client_cmd *cmds = NULL;
    size_t cap = 0;
    for (;;) {
        while (ucp_worker_progress(c->w)) {
        }
        pthread_mutex_lock(&c->mu);
        size_t n = c->ncmd;
        if (n > cap) {
            cap = c->cmdcap;
            cmds = realloc(cmds, cap * sizeof *cmds);
            ABSA_ASSERT(cmds != NULL, "out of memory");
        }
        if (n) memcpy(cmds, c->cmds, n * sizeof *cmds);
        c->ncmd = 0;
        int stop = c->stop, failed = c->failed != ABSA_OK;
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < n; i++) absa_ucx_client_send_cmd(c, &cmds[i]);
        if (c->shm && absa_ucx_client_fill_one(c)) continue; /* c->shm: set by this thread */
        if (n) continue;
        if (stop) break;
        if (c->ping_s > 0 && !failed && absa_now() - c->last_send >= c->ping_s) { /* alive (lease timeout) */
            absa_ucx_client_cmd ping = {.m = {.type = ABSA_UCX_PING}};
            absa_ucx_client_send_cmd(c, &ping);
            continue;
        }
        ucs_status_t st = ucp_worker_arm(c->w);
        if (st == UCS_ERR_BUSY) continue;
        if (st != UCS_OK) {
            pthread_mutex_lock(&c->mu);
            absa_ucx_client_fail_locked(c, ABSA_EUCX, "ucp_worker_arm: %s", ucs_status_string(st));
            pthread_mutex_unlock(&c->mu);
            break;
        }
        int wait_ms = 1000;
        if (c->ping_s > 0) {
            double left = c->ping_s - (absa_now() - c->last_send);
            wait_ms = left <= 0 ? 0 : left * 1000 < 1000 ? (int)(left * 1000) + 1 : 1000;
        }
        if (poll(pfd, 3, wait_ms) < 0 && errno != EINTR) break;
        if (pfd[2].revents) { /* UCX does not tell us that the server closed our endpoint */
            pthread_mutex_lock(&c->mu);
            absa_ucx_client_fail_locked(c, ABSA_EUCX, "the server closed the connection (this client was dropped, or the "
                                 "server stopped; see its log)");
            pthread_mutex_unlock(&c->mu);
            pfd[2].fd = -1; /* reported once; keep progressing until the caller closes */
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(c->evfd, &v, sizeof v);
            (void)r;
        }
    }
    free(cmds);
    absa_ucx_client_shutdown(c);
    return NULL;
}
#else
typedef int absa_ucx_client_io_unused; /* built without UCX */
#endif
