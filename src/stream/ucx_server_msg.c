/* ucx_server_msg.c — the message side of `absa serve`: the active-message handler (decode,
 * authenticate, dispatch; anything malformed or out of protocol drops that client), replies,
 * lease serving from the pending-request queue (plain requests take the next free positions;
 * positional REQUEST_AT ones wait there until exactly their range is free; CANCEL withdraws a
 * waiting one), and batch assembly (permutation positions -> sample ids ->
 * absa_h5reader_gather_u8 into a pooled buffer sent with UCP AM, rendezvous for large payloads
 * chosen by UCX), and the COMMIT_OKs owed until the next message to their client (at most
 * ABSA_SRV_ACK_DELAY_S). See ucx_server.h and docs/ucx.md. */
#ifdef ABSA_HAVE_UCX
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base_sys.h"
#include "ucx_server_impl.h"
#include "ucx_util.h"

typedef struct absa_srv_sendctx {
    absa_srv *s;
    uint64_t client;
    void *buf;
    int pooled;
    uint8_t hdr[ABSA_UCX_MAX_HLEN];
} absa_srv_sendctx;

/* ---- batch buffer pool ---- */
static void *absa_srv_pool_get(absa_srv *s)
{
    if (s->npool) return s->pool[--s->npool];
    return absa_ucx_buf_alloc(s->buf_bytes);
}

static void absa_srv_pool_put(absa_srv *s, void *p)
{
    if (s->npool == s->poolcap) {
        size_t cap = s->poolcap ? 2 * s->poolcap : 16;
        void **t = realloc(s->pool, cap * sizeof *t);
        if (!t) {
            absa_free(p);
            return;
        }
        s->pool = t;
        s->poolcap = cap;
    }
    s->pool[s->npool++] = p;
}

void absa_srv_pool_free(absa_srv *s)
{
    for (size_t i = 0; i < s->npool; i++) absa_free(s->pool[i]);
    free(s->pool);
    s->pool = NULL;
    s->npool = s->poolcap = 0;
}

/* ---- sends ---- */
static void absa_srv_send_done(absa_srv_sendctx *x, ucs_status_t st)
{
    absa_srv *s = x->s;
    absa_srv_client *c = absa_srv_find(s, x->client);
    if (c) {
        c->inflight--;
        if (st != UCS_OK && !c->dropping) absa_srv_drop(s, c, 0, "send failed: %s", ucs_status_string(st));
    }
    if (x->pooled)
        absa_srv_pool_put(s, x->buf);
    else
        free(x->buf);
    free(x);
}

static void absa_srv_send_cb(void *req, ucs_status_t st, void *user_data)
{
    absa_srv_send_done(user_data, st);
    ucp_request_free(req);
}

/* Send m with payload (ownership taken: pooled buffer or malloc'd, may be NULL). Batches and
 * state replies let UCX choose eager or rendezvous by size; small control replies are eager. */
static void absa_srv_send_now(absa_srv *s, absa_srv_client *c, absa_ucx_msg *m, void *payload, int pooled)
{
    int eager = m->type != ABSA_UCX_BATCH && m->type != ABSA_UCX_STATE_REPLY;
    absa_srv_sendctx *x = absa_xcalloc(1, sizeof *x);
    x->s = s;
    x->client = c->id;
    x->buf = payload;
    x->pooled = pooled;
    size_t hlen = absa_ucx_encode(m, x->hdr, sizeof x->hdr);
    ABSA_ASSERT(hlen > 0, "cannot encode a %s message", absa_ucx_type_name(m->type));
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                                             UCP_OP_ATTR_FIELD_FLAGS,
                             .flags = eager ? UCP_AM_SEND_FLAG_EAGER : 0,
                             .cb.send = absa_srv_send_cb,
                             .user_data = x};
    c->inflight++;
    ucs_status_ptr_t r = ucp_am_send_nbx(c->ep, ABSA_UCX_AM_TO_CLIENT, x->hdr, hlen, payload,
                                         (size_t)m->payload_len, &p);
    if (r == NULL)
        absa_srv_send_done(x, UCS_OK);
    else if (UCS_PTR_IS_ERR(r))
        absa_srv_send_done(x, UCS_PTR_STATUS(r));
}

/* ---- owed COMMIT_OKs ----
 * A commit's COMMIT_OK waits (at most ABSA_SRV_ACK_DELAY_S) for the next message to the same
 * client, usually the rendezvous of the batch its next request asked for, so that the client's
 * progress thread wakes once for both instead of twice (each wakeup costs 30-45 us of scheduling
 * delay on a loaded node; docs/ucx.md, "Where the time goes"). Every message to a client first
 * sends what it is owed, so the client sees replies in the order the server made them. */
static void absa_srv_send_acks_of(absa_srv *s, uint64_t client)
{
    absa_srv_client *c = absa_srv_find(s, client);
    size_t j = 0;
    for (size_t i = 0; i < s->nacks; i++) {
        absa_srv_ack a = s->acks[i];
        if (a.client != client) {
            s->acks[j++] = a;
            continue;
        }
        if (c && !c->dropping) {
            absa_ucx_msg r = {.type = ABSA_UCX_COMMIT_OK, .lease = a.lease, .epoch = a.epoch};
            absa_srv_send_now(s, c, &r, NULL, 0);
        }
    }
    s->nacks = j;
}

size_t absa_srv_flush_acks(absa_srv *s, int all)
{
    size_t n = s->nacks;
    if (!n || (!all && absa_now() - s->acks[0].t < ABSA_SRV_ACK_DELAY_S)) return 0;
    while (s->nacks) absa_srv_send_acks_of(s, s->acks[0].client);
    return n;
}

static void absa_srv_owe_ack(absa_srv *s, absa_srv_client *c, uint64_t lease, uint64_t epoch)
{
    if (s->nacks == s->ackcap) {
        s->ackcap = s->ackcap ? 2 * s->ackcap : 64;
        s->acks = realloc(s->acks, s->ackcap * sizeof *s->acks);
        ABSA_ASSERT(s->acks != NULL, "out of memory for owed COMMIT_OKs");
    }
    s->acks[s->nacks++] = (absa_srv_ack){.client = c->id, .lease = lease, .epoch = epoch, .t = absa_now()};
}

static void absa_srv_send(absa_srv *s, absa_srv_client *c, absa_ucx_msg *m, void *payload, int pooled)
{
    for (size_t i = 0; i < s->nacks; i++)
        if (s->acks[i].client == c->id) {
            absa_srv_send_acks_of(s, c->id);
            break;
        }
    absa_srv_send_now(s, c, m, payload, pooled);
}

static void absa_srv_send_simple(absa_srv *s, absa_srv_client *c, absa_ucx_msg *m)
{
    absa_srv_send(s, c, m, NULL, 0);
}

/* ---- lease serving ---- */
/* The BATCH header of lease l answering request p; its payload buf laid out, ranges and ids
 * filled in (labels and images are the caller's); *ids and *labels point into it. */
static absa_ucx_msg absa_srv_batch_start(absa_srv *s, const absa_srv_pending *p, const absa_ucx_lease *l, void *buf,
                                         uint32_t flags, uint64_t **ids_out, int32_t **labels)
{
    absa_ucx_range *r;
    uint64_t *ids;
    uint8_t *images;
    absa_ucx_batch_layout_mut(buf, l->count, l->nranges, &r, &ids, labels, &images);
    *ids_out = ids;
    memcpy(r, l->ranges, l->nranges * sizeof *r);
    const uint64_t *perm = absa_lease_mgr_perm(s->lm);
    size_t k = 0;
    for (uint32_t i = 0; i < l->nranges; i++)
        for (uint64_t q = l->ranges[i].start; q < l->ranges[i].start + l->ranges[i].count; q++) ids[k++] = perm[q];
    return (absa_ucx_msg){.type = ABSA_UCX_BATCH, .req = p->req, .epoch = l->epoch, .lease = l->id,
                          .first = l->ranges[0].start, .count = l->count, .nranges = l->nranges,
                          .C = (uint32_t)s->C, .H = (uint32_t)s->H, .W = (uint32_t)s->W, .flags = flags};
}

/* A same-node client that maps the shared split (LOCAL_OK) gets ranges, ids and labels only,
 * sent at once: nothing to gather here, the client copies the images itself (one copy instead
 * of the gather here plus UCX's copy to the client). */
static int absa_srv_send_batch_local(absa_srv *s, absa_srv_client *c, const absa_srv_pending *p, const absa_ucx_lease *l)
{
    size_t bytes = (size_t)absa_ucx_batch_payload_len(l->count, l->nranges, s->sample_bytes) - l->count * s->sample_bytes;
    void *buf = malloc(bytes);
    uint64_t *ids;
    int32_t *labels;
    if (!buf) {
        s->fatal = ABSA_ENOMEM;
        absa_srv_log(s, "error: out of memory for a batch of %zu bytes", bytes);
        return -1;
    }
    absa_ucx_msg m = absa_srv_batch_start(s, p, l, buf, ABSA_UCX_BATCH_LOCAL, &ids, &labels);
    absa_status st = absa_h5reader_gather_labels(s->rd, ids, l->count, labels);
    ABSA_ASSERT(st == ABSA_OK, "label of a permuted sample: %s", absa_last_error());
    s->batches++;
    s->local_batches++;
    s->bytes += bytes;
    absa_srv_send(s, c, &m, buf, 0);
    return 0;
}

/* Fill ranges and ids and hand the batch to the reader thread; sent by absa_srv_collect_batches. */
static int absa_srv_send_batch(absa_srv *s, absa_srv_client *c, const absa_srv_pending *p, const absa_ucx_lease *l)
{
    if (c->local) return absa_srv_send_batch_local(s, c, p, l);
    void *buf = absa_srv_pool_get(s);
    uint64_t *ids;
    int32_t *labels;
    if (!buf) {
        s->fatal = ABSA_ENOMEM;
        absa_srv_log(s, "error: %s", absa_last_error());
        return -1;
    }
    absa_srv_job *j = absa_xcalloc(1, sizeof *j);
    j->client = c->id;
    j->p = *p;
    j->buf = buf;
    j->m = absa_srv_batch_start(s, p, l, buf, 0, &ids, &labels); /* labels and images: the gatherers */
    c->inflight++; /* until sent (or dropped) */
    absa_srv_gather_submit(s, j);
    return 0;
}

static void absa_srv_queue_pending(absa_srv *s, absa_srv_client *c, const absa_srv_pending *p)
{
    if (s->npq == s->pqcap) {
        s->pqcap = s->pqcap ? 2 * s->pqcap : 64;
        s->pq = realloc(s->pq, s->pqcap * sizeof *s->pq);
        ABSA_ASSERT(s->pq != NULL, "out of memory for the request queue");
    }
    s->pq[s->npq++] = *p;
    c->queued++;
}

/* Send the batches the reader thread finished; a batch whose client left meanwhile is dropped
 * (its positions are re-issued from the queue); one whose lease was revoked meanwhile (lease
 * timeout) is dropped too and its request queued again, to be answered once the client is back. */
void absa_srv_collect_batches(absa_srv *s)
{
    for (absa_srv_job *j = absa_srv_gather_take_done(s), *nx; j; j = nx) {
        nx = j->next;
        absa_srv_client *c = absa_srv_find(s, j->client);
        if (c) c->inflight--;
        if (j->st != ABSA_OK) {
            if (!s->fatal) absa_srv_log(s, "error: reading samples: %s", j->err);
            s->fatal = j->st;
            absa_srv_pool_put(s, j->buf);
        } else if (!c || c->dropping) {
            absa_srv_pool_put(s, j->buf);
        } else if (!absa_lease_find(s->lm, c->id, j->m.lease)) {
            absa_srv_pool_put(s, j->buf);
            if (absa_lease_forget_revoked(s->lm, c->id, j->m.lease)) { /* never sent: ask again when back */
                c->revoked--;
                absa_srv_queue_pending(s, c, &j->p);
            }
        } else {
            s->batches++;
            s->bytes += absa_ucx_batch_payload_len(j->m.count, j->m.nranges, s->sample_bytes);
            absa_srv_send(s, c, &j->m, j->buf, 1);
        }
        free(j);
    }
}

void absa_srv_serve_pending(absa_srv *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->npq; i++) {
        absa_srv_pending p = s->pq[i];
        absa_srv_client *c = absa_srv_find(s, p.client);
        if (!c || c->dropping) continue;
        if (c->inflight >= ABSA_UCX_MAX_INFLIGHT || c->stale || s->fatal) {
            s->pq[j++] = p;
            continue;
        }
        absa_ucx_lease l;
        absa_lease_result r = p.at ? absa_lease_grant_at(s->lm, c->id, p.epoch, p.first, p.n, &l)
                                   : absa_lease_grant(s->lm, c->id, p.n, &l);
        uint64_t epoch = absa_lease_mgr_epoch(s->lm);
        if (p.at && r != ABSA_LEASE_GRANTED) {
            if (r == ABSA_LEASE_EXHAUSTED) { /* leased elsewhere or a later epoch: wait */
                s->pq[j++] = p;
                continue;
            }
            absa_ucx_msg m = {.type = ABSA_UCX_END, .req = p.req, .epoch = epoch,
                              .flags = r == ABSA_LEASE_DONE ? ABSA_UCX_END_DONE : ABSA_UCX_END_GONE};
            c->queued--;
            absa_srv_send_simple(s, c, &m);
            continue;
        }
        if (r == ABSA_LEASE_GRANTED) {
            c->queued--;
            c->leases++;
            if (absa_srv_send_batch(s, c, &p, &l) != 0) {
                absa_lease_release(s->lm, c->id, l.id);
                c->leases--;
            }
        } else if (r == ABSA_LEASE_DONE || !c->end_sent || c->end_epoch != epoch) {
            absa_ucx_msg m = {.type = ABSA_UCX_END, .req = p.req, .epoch = epoch,
                              .flags = r == ABSA_LEASE_DONE ? ABSA_UCX_END_DONE : 0};
            c->queued--;
            c->end_sent = 1;
            c->end_epoch = epoch;
            absa_srv_send_simple(s, c, &m);
        } else {
            s->pq[j++] = p; /* parked until the epoch completes or positions come back */
        }
    }
    s->npq = j;
}

static void absa_srv_queue_request(absa_srv *s, absa_srv_client *c, const absa_ucx_msg *m)
{
    absa_srv_pending p = {.client = c->id, .req = m->req, .n = m->n, .at = m->type == ABSA_UCX_REQUEST_AT,
                          .epoch = m->epoch, .first = m->first};
    absa_srv_queue_pending(s, c, &p);
}

/* ---- lease timeout ---- */
static void absa_srv_revoked_cb(void *arg, const absa_ucx_lease *l)
{
    absa_srv *s = arg;
    absa_srv_client *c = absa_srv_find(s, l->owner);
    ABSA_ASSERT(c != NULL && c->leases > 0, "revoked lease %llu of an unknown client", (unsigned long long)l->id);
    c->leases--;
    c->revoked++;
    c->revoked_now++;
    if (s->audit)
        absa_ucx_audit_note(s->audit, "lease %llu of client %llu revoked: %llu samples of epoch %llu back to the queue",
                            (unsigned long long)l->id, (unsigned long long)l->owner, (unsigned long long)l->count,
                            (unsigned long long)l->epoch);
}

void absa_srv_expire(absa_srv *s)
{
    const double timeout = s->o->lease_timeout_s, now = absa_now();
    if (timeout <= 0 || now - s->t_sweep < (timeout < 1.0 ? timeout / 4 : 0.25)) return; /* the loop wakes at least every 250 ms */
    s->t_sweep = now;
    absa_lease_set_clock(s->lm, now);
    for (size_t i = 0; i < s->ncl; i++) {
        absa_srv_client *c = s->cl[i];
        if (c->authed && !c->dropping && !c->stale && now - c->t_heard > timeout) c->stale = 1;
    }
    if (!absa_lease_expire(s->lm, timeout, absa_srv_revoked_cb, s)) return;
    for (size_t i = 0; i < s->ncl; i++) {
        absa_srv_client *c = s->cl[i];
        if (!c->revoked_now) continue;
        fprintf(stderr, "absa serve: client %llu (%s): %u leases revoked after %.0f s of silence (--lease-timeout); "
                        "their samples go to other clients\n",
                (unsigned long long)c->id, c->addr, c->revoked_now, timeout);
        c->revoked_now = 0;
    }
}

/* CANCEL: a request still waiting is withdrawn and answered END CANCELLED; one already answered
 * (or unknown) is ignored — the client gets exactly one reply per request either way */
static void absa_srv_cancel(absa_srv *s, absa_srv_client *c, uint64_t req)
{
    for (size_t i = 0; i < s->npq; i++)
        if (s->pq[i].client == c->id && s->pq[i].req == req) {
            memmove(s->pq + i, s->pq + i + 1, (s->npq - i - 1) * sizeof *s->pq);
            s->npq--;
            c->queued--;
            absa_ucx_msg m = {.type = ABSA_UCX_END, .req = req, .epoch = absa_lease_mgr_epoch(s->lm),
                              .flags = ABSA_UCX_END_CANCELLED};
            absa_srv_send_simple(s, c, &m);
            return;
        }
}

/* ---- handlers ---- */
static void absa_srv_hello(absa_srv *s, absa_srv_client *c, const absa_ucx_msg *m)
{
    if (!absa_ucx_secret_equal(m->secret, m->secret_len, c->token, ABSA_DOOR_TOKEN)) {
        absa_srv_drop(s, c, 0, "wrong token in HELLO");
        return;
    }
    c->authed = 1;
    absa_ucx_msg r = {.type = ABSA_UCX_META, .count = absa_lease_mgr_count(s->lm),
                      .epoch = absa_lease_mgr_epoch(s->lm), .epochs = absa_lease_mgr_epochs(s->lm),
                      .C = (uint32_t)s->C, .H = (uint32_t)s->H, .W = (uint32_t)s->W,
                      .num_classes = (uint32_t)s->K, .batch_max = s->batch_max,
                      .lease_timeout_ms = (uint32_t)(s->o->lease_timeout_s * 1000.0 + 0.5)};
    float *ms = absa_xcalloc(2 * (size_t)s->C, sizeof *ms);
    memcpy(ms, s->mean, (size_t)s->C * sizeof *ms);
    memcpy(ms + s->C, s->std, (size_t)s->C * sizeof *ms);
    absa_srv_send(s, c, &r, ms, 0);
    absa_srv_log(s, "client %llu (%s) authenticated", (unsigned long long)c->id, c->addr);
    if (s->shm.sealed) { /* where the split is, for a client on this node (ucx_local.h) */
        absa_ucx_msg l = {.type = ABSA_UCX_LOCAL, .pid = (uint32_t)getpid(), .fd = (uint32_t)s->shm.fd,
                          .count = s->shm.bytes};
        memcpy(l.nonce, s->shm.nonce, sizeof l.nonce);
        absa_srv_send(s, c, &l, NULL, 0);
        c->local_offered = 1;
    }
}

static void absa_srv_local_ok(absa_srv *s, absa_srv_client *c)
{
    if (!c->local_offered || c->local) {
        absa_srv_drop(s, c, 0, c->local ? "second LOCAL_OK" : "LOCAL_OK without an offer of the shared split");
        return;
    }
    c->local = 1;
    absa_srv_log(s, "client %llu (%s) reads images from the shared split (same node)", (unsigned long long)c->id, c->addr);
}

static void absa_srv_commit(absa_srv *s, absa_srv_client *c, uint64_t lease)
{
    const absa_ucx_lease *l = absa_lease_find(s->lm, c->id, lease);
    if (!l && absa_lease_forget_revoked(s->lm, c->id, lease)) {
        /* revoked after its owner's silence: the samples went back to the queue, so this commit
         * does not count; the client is told (it must not count them either) */
        c->revoked--;
        fprintf(stderr, "absa serve: client %llu (%s): commit of revoked lease %llu refused (not counted)\n",
                (unsigned long long)c->id, c->addr, (unsigned long long)lease);
        if (s->audit) absa_ucx_audit_note(s->audit, "commit of revoked lease %llu by client %llu refused", (unsigned long long)lease, (unsigned long long)c->id);
        absa_ucx_msg e = {.type = ABSA_UCX_ERROR, .code = ABSA_UCX_ERR_REVOKED, .flags = ABSA_UCX_COMMIT};
        absa_srv_send_simple(s, c, &e);
        return;
    }
    if (!l) {
        absa_srv_drop(s, c, 0, "commit of lease %llu, which it does not hold", (unsigned long long)lease);
        return;
    }
    if (s->audit) absa_ucx_audit_commit(s->audit, l, absa_lease_mgr_perm(s->lm));
    uint64_t epoch = l->epoch;
    int advanced = 0;
    absa_status st = absa_lease_commit(s->lm, c->id, lease, &advanced);
    ABSA_ASSERT(st == ABSA_OK, "commit of a found lease failed");
    c->leases--;
    absa_srv_owe_ack(s, c, lease, absa_lease_mgr_epoch(s->lm)); /* COMMIT_OK, sent with the next message */
    if (advanced) {
        if (s->audit) absa_ucx_audit_flush(s->audit);
        absa_srv_log(s, "epoch %llu complete (%llu samples committed)%s", (unsigned long long)epoch,
                     (unsigned long long)absa_lease_mgr_count(s->lm),
                     absa_lease_mgr_done(s->lm) ? "; all epochs served" : "");
    }
}

static void absa_srv_state(absa_srv *s, absa_srv_client *c)
{
    absa_ucx_range *r = NULL;
    size_t nr = 0;
    if (absa_lease_state(s->lm, &r, &nr) != ABSA_OK || nr > ABSA_UCX_MAX_STATE_RANGES) {
        free(r);
        absa_ucx_msg e = {.type = ABSA_UCX_ERROR, .code = ABSA_UCX_ERR_STATE_TOO_BIG, .flags = ABSA_UCX_STATE};
        absa_srv_send_simple(s, c, &e);
        return;
    }
    absa_ucx_msg m = {.type = ABSA_UCX_STATE_REPLY, .epoch = absa_lease_mgr_epoch(s->lm),
                      .count = absa_lease_mgr_count(s->lm), .committed = absa_lease_mgr_committed(s->lm),
                      .nranges = (uint32_t)nr};
    absa_srv_send(s, c, &m, r, 0);
}

static void absa_srv_seek(absa_srv *s, absa_srv_client *c, const absa_ucx_msg *m, const void *data)
{
    absa_ucx_range *r = NULL;
    if (m->nranges) {
        r = absa_xcalloc(m->nranges, sizeof *r);
        memcpy(r, data, m->nranges * sizeof *r); /* data may be unaligned */
    }
    absa_status st = absa_lease_seek(s->lm, m->epoch, r, m->nranges);
    uint64_t rewound = st == ABSA_OK && s->audit ? absa_ucx_audit_seek(s->audit, c->id, m->epoch, r, m->nranges) : 0;
    free(r);
    if (st != ABSA_OK) {
        absa_srv_log(s, "client %llu: %s", (unsigned long long)c->id, absa_last_error());
        absa_ucx_msg e = {.type = ABSA_UCX_ERROR, .flags = ABSA_UCX_SEEK,
                          .code = st == ABSA_EEXIST ? ABSA_UCX_ERR_SEEK_BUSY : ABSA_UCX_ERR_SEEK_RANGE};
        absa_srv_send_simple(s, c, &e);
        return;
    }
    for (size_t i = 0; i < s->ncl; i++) s->cl[i]->end_sent = 0;
    absa_srv_log(s, "client %llu: seek to epoch %llu with %llu samples committed%s", (unsigned long long)c->id,
                 (unsigned long long)absa_lease_mgr_epoch(s->lm), (unsigned long long)absa_lease_mgr_committed(s->lm),
                 rewound ? " (rewinds commits made after the client's checkpoint: see the audit)" : "");
    absa_ucx_msg ok = {.type = ABSA_UCX_SEEK_OK, .epoch = absa_lease_mgr_epoch(s->lm),
                       .committed = absa_lease_mgr_committed(s->lm)};
    absa_srv_send_simple(s, c, &ok);
}

static absa_srv_client *absa_srv_find_ep(absa_srv *s, ucp_ep_h ep)
{
    for (size_t i = 0; i < s->ncl; i++)
        if (s->cl[i]->ep == ep) return s->cl[i];
    return NULL;
}

ucs_status_t absa_srv_am_cb(void *arg, const void *header, size_t header_length, void *data,
                            size_t length, const ucp_am_recv_param_t *param)
{
    absa_srv *s = arg;
    absa_srv_client *c = (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? absa_srv_find_ep(s, param->reply_ep) : NULL;
    if (!c || c->dropping) return UCS_OK; /* unattributable or already being dropped: discard */
    if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
        absa_srv_drop(s, c, 0, "rendezvous message of %zu bytes (clients send small messages only)", length);
        return UCS_OK;
    }
    absa_ucx_msg m;
    if (absa_ucx_decode(header, header_length, length, &m) != ABSA_OK) {
        absa_srv_drop(s, c, 0, "malformed message: %s", absa_last_error());
        return UCS_OK;
    }
    if (!c->authed && m.type != ABSA_UCX_HELLO) {
        absa_srv_drop(s, c, 0, "first message is %s, not HELLO", absa_ucx_type_name(m.type));
        return UCS_OK;
    }
    /* heard from: its leases' silence (lease timeout) starts again */
    c->t_heard = absa_now();
    c->stale = 0;
    absa_lease_set_clock(s->lm, c->t_heard);
    absa_lease_touch(s->lm, c->id);
    switch (m.type) {
    case ABSA_UCX_HELLO:
        if (c->authed)
            absa_srv_drop(s, c, 0, "second HELLO");
        else
            absa_srv_hello(s, c, &m);
        break;
    case ABSA_UCX_REQUEST:
        if (m.n > s->batch_max)
            absa_srv_drop(s, c, 0, "request of %u samples exceeds the batch maximum %u", m.n, s->batch_max);
        else if (c->queued + c->leases + c->revoked >= ABSA_UCX_MAX_CLIENT_LEASES)
            absa_srv_drop(s, c, 0, "too many leases and requests (%u + %u + %u revoked)", c->leases, c->queued, c->revoked);
        else
            absa_srv_queue_request(s, c, &m);
        break;
    case ABSA_UCX_REQUEST_AT:
        if (m.n > s->batch_max)
            absa_srv_drop(s, c, 0, "request of %u samples exceeds the batch maximum %u", m.n, s->batch_max);
        else if (m.first >= absa_lease_mgr_count(s->lm) || m.n > absa_lease_mgr_count(s->lm) - m.first)
            absa_srv_drop(s, c, 0, "request of positions [%llu, +%u) outside the split of %llu samples",
                          (unsigned long long)m.first, m.n, (unsigned long long)absa_lease_mgr_count(s->lm));
        else if (c->queued + c->leases + c->revoked >= ABSA_UCX_MAX_CLIENT_LEASES)
            absa_srv_drop(s, c, 0, "too many leases and requests (%u + %u + %u revoked)", c->leases, c->queued, c->revoked);
        else
            absa_srv_queue_request(s, c, &m);
        break;
    case ABSA_UCX_CANCEL: absa_srv_cancel(s, c, m.req); break;
    case ABSA_UCX_COMMIT: absa_srv_commit(s, c, m.lease); break;
    case ABSA_UCX_RELEASE:
        if (absa_lease_forget_revoked(s->lm, c->id, m.lease))
            c->revoked--; /* revoked meanwhile: its positions are back in the queue already */
        else if (absa_lease_release(s->lm, c->id, m.lease) != ABSA_OK)
            absa_srv_drop(s, c, 0, "release of lease %llu, which it does not hold", (unsigned long long)m.lease);
        else
            c->leases--;
        break;
    case ABSA_UCX_STATE: absa_srv_state(s, c); break;
    case ABSA_UCX_SEEK: absa_srv_seek(s, c, &m, data); break;
    case ABSA_UCX_BYE: absa_srv_drop(s, c, 1, "left"); break;
    case ABSA_UCX_PING: break; /* alive: heard from above */
    case ABSA_UCX_LOCAL_OK: absa_srv_local_ok(s, c); break;
    default: absa_srv_drop(s, c, 0, "unexpected message type %s from a client", absa_ucx_type_name(m.type)); break;
    }
    /* answer at once, in arrival order relative to other messages: a request that arrives while
     * nothing of the epoch is free gets END even if a commit completing the epoch follows it */
    if (m.type == ABSA_UCX_REQUEST || m.type == ABSA_UCX_REQUEST_AT || m.type == ABSA_UCX_COMMIT ||
        m.type == ABSA_UCX_RELEASE || m.type == ABSA_UCX_SEEK || m.type == ABSA_UCX_PING)
        absa_srv_serve_pending(s);
    return UCS_OK;
}
#else
typedef int absa_ucx_server_msg_unused; /* built without UCX */
#endif
