/* ucx_client_at.c — positional requests of the UCX data client (ucx_client.h): the caller
 * declares its next needs as permutation ranges of an epoch (a "plan"); up to `prefetch` of them
 * are kept requested ahead (REQUEST_AT), and the batch for the first one is returned in order.
 * When the plan changes (more ranks, another batch size, a new epoch) the outstanding requests
 * that no longer match its prefix are withdrawn: a request still waiting at the server gets a
 * CANCEL, and a batch the server has already sent is released unseen when it arrives. Such a
 * withdrawn slot ("zombie") lives on a side list until its one reply is in; the progress thread
 * (ucx_client_io.c) finishes it with absa_ucx_client_zombie_done_locked. Every lease is thus either
 * delivered to the caller or given back, so positions never stay blocked by a stale request. */
#include "ucx_client.h"

#include <stdlib.h>
#include <string.h>

#ifdef ABSA_HAVE_UCX
#include "base_sys.h"
#include "ucx_client_impl.h"

static int absa_ucx_client_slot_is(const absa_ucx_client_slot *s, const absa_ucx_want *w)
{
    return s->at && s->epoch == w->epoch && s->first == w->first && s->n == w->n;
}

void absa_ucx_client_zombie_done_locked(absa_ucx_client *c, absa_ucx_client_slot *s)
{
    absa_ucx_client_slot **pp = &c->zombies;
    while (*pp && *pp != s) pp = &(*pp)->next;
    ABSA_ASSERT(*pp == s, "withdrawn request %llu is not on the list", (unsigned long long)s->seq);
    *pp = s->next;
    if (s->m.type == ABSA_UCX_BATCH) { /* served before the CANCEL arrived: give it back */
        absa_ucx_msg r = {.type = ABSA_UCX_RELEASE, .lease = s->m.lease};
        absa_ucx_client_push_locked(c, &r, NULL);
        absa_ucx_client_wake(c);
    }
    absa_ucx_client_pool_put_locked(c, (absa_ucx_client_buf){s->buf, s->cap});
    free(s);
}

/* mu held: s (unlinked from the ring) leaves the plan */
static void absa_ucx_client_withdraw_locked(absa_ucx_client *c, absa_ucx_client_slot *s)
{
    c->withdrawn++;
    if (s->state == ABSA_SLOT_READY || s->state == ABSA_SLOT_FILL) { /* its reply is here, never delivered */
        if (s->m.type == ABSA_UCX_BATCH) {
            absa_ucx_msg r = {.type = ABSA_UCX_RELEASE, .lease = s->m.lease};
            absa_ucx_client_push_locked(c, &r, NULL);
        }
        absa_ucx_client_pool_put_locked(c, (absa_ucx_client_buf){s->buf, s->cap});
        free(s);
        return;
    }
    if (s->state == ABSA_SLOT_REQUESTED) { /* RECEIVING: the batch is already on its way */
        absa_ucx_msg r = {.type = ABSA_UCX_CANCEL, .req = s->seq};
        absa_ucx_client_push_locked(c, &r, NULL);
    }
    s->cancelled = 1;
    s->next = c->zombies;
    c->zombies = s;
}

static absa_status absa_ucx_client_plan_locked(absa_ucx_client *c, const absa_ucx_want *w, size_t nw)
{
    if (c->failed) return absa_ucx_client_failed_locked(c);
    if (c->mode == 1) {
        absa_errorf("positional requests on a client that uses next()");
        return ABSA_EINVAL;
    }
    for (size_t i = 0; i < nw; i++)
        if (w[i].n < 1 || w[i].n > c->meta.batch_max || w[i].first >= c->meta.count ||
            w[i].n > c->meta.count - w[i].first) {
            absa_errorf("positions [%llu, +%u) of epoch %llu: outside the split of %llu samples or not 1..%u samples",
                        (unsigned long long)w[i].first, w[i].n, (unsigned long long)w[i].epoch,
                        (unsigned long long)c->meta.count, c->meta.batch_max);
            return ABSA_EINVAL;
        }
    c->mode = 2;
    const size_t depth = absa_ucx_client_depth(c, w[0].n), lim = nw < depth ? nw : depth;
    size_t i = 0;
    int wake = 0;
    absa_ucx_client_slot *keep = NULL, *s = c->head;
    while (s && i < lim && absa_ucx_client_slot_is(s, &w[i])) { /* the prefix still planned */
        keep = s;
        s = s->next;
        i++;
    }
    if (s) { /* the rest of the ring left the plan */
        if (keep)
            keep->next = NULL;
        else
            c->head = NULL;
        c->tail = keep;
        while (s) {
            absa_ucx_client_slot *nx = s->next;
            c->nslots--;
            absa_ucx_client_withdraw_locked(c, s);
            s = nx;
        }
        wake = 1;
    }
    for (; i < lim; i++) {
        absa_ucx_msg m = {.type = ABSA_UCX_REQUEST_AT, .epoch = w[i].epoch, .first = w[i].first, .n = w[i].n};
        absa_ucx_client_request_locked(c, &m);
        wake = 1;
    }
    if (wake) absa_ucx_client_wake(c);
    return ABSA_OK;
}

absa_status absa_ucx_client_plan(absa_ucx_client *c, const absa_ucx_want *w, size_t nw)
{
    pthread_mutex_lock(&c->mu);
    absa_status status = absa_ucx_client_plan_locked(c, w, nw);
    pthread_mutex_unlock(&c->mu);
    return status;
}

absa_status absa_ucx_client_next_at(absa_ucx_client *c, const absa_ucx_want *w, size_t nw, absa_ucx_batch *out)
{
    absa_status status = ABSA_OK;
    memset(out, 0, sizeof *out);
    if (nw < 1) {
        absa_errorf("next_at: no positions asked for");
        return ABSA_EINVAL;
    }
    pthread_mutex_lock(&c->mu);
    status = absa_ucx_client_plan_locked(c, w, nw);
    while (status == ABSA_OK) {
        if (c->failed) {
            status = absa_ucx_client_failed_locked(c);
            break;
        }
        absa_ucx_client_slot *s = c->head;
        ABSA_ASSERT(s && absa_ucx_client_slot_is(s, &w[0]), "the plan's first request is not at the head");
        if (s->state == ABSA_SLOT_FILL) { /* images still to copy: do it here, not wait */
            absa_ucx_client_fill_locked(c, s);
            continue;
        }
        if (s->state != ABSA_SLOT_READY) {
            double t0 = absa_now();
            c->caller_waits = 1; /* the progress thread leaves the head's images to this thread */
            pthread_cond_wait(&c->cv, &c->mu);
            c->caller_waits = 0;
            c->wait_s += absa_now() - t0;
            continue;
        }
        absa_ucx_client_pop_locked(c);
        out->epoch = s->m.epoch;
        out->C = c->meta.C;
        out->H = c->meta.H;
        out->W = c->meta.W;
        if (s->m.type == ABSA_UCX_BATCH) {
            absa_ucx_client_deliver_locked(c, s, out);
        } else if (s->m.flags & ABSA_UCX_END_DONE) {
            out->done = 1;
        } else {
            absa_errorf("positions [%llu, %llu) of epoch %llu are not available (the server is at epoch %llu): %s",
                        (unsigned long long)w[0].first, (unsigned long long)(w[0].first + w[0].n),
                        (unsigned long long)w[0].epoch, (unsigned long long)s->m.epoch,
                        s->m.flags & ABSA_UCX_END_GONE ? "committed already, or their epoch is over" : "withdrawn");
            status = ABSA_EINVAL;
        }
        free(s);
        if (status == ABSA_OK && !out->done) status = absa_ucx_client_plan_locked(c, w + 1, nw - 1); /* keep prefetching */
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return status;
}

#else /* built without UCX */

absa_status absa_ucx_client_plan(absa_ucx_client *c, const absa_ucx_want *w, size_t nw)
{
    (void)c, (void)w, (void)nw;
    absa_errorf("built without UCX");
    return ABSA_EUCX;
}
absa_status absa_ucx_client_next_at(absa_ucx_client *c, const absa_ucx_want *w, size_t nw, absa_ucx_batch *out)
{
    (void)c, (void)w, (void)nw;
    memset(out, 0, sizeof *out);
    absa_errorf("built without UCX");
    return ABSA_EUCX;
}
#endif
