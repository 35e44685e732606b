/* ucx_lease.c — epoch permutation, global cursor, leases and commits for `absa serve` (see
 * ucx_lease.h). Per-position state bytes make every transition checkable: a bug that would
 * lease or commit a position twice aborts (ABSA_ASSERT) instead of corrupting an epoch. */
#include "ucx_lease.h"

#include <stdlib.h>
#include <string.h>

#include "base_hash.h"

enum { ABSA_POS_FREE = 0, ABSA_POS_LEASED = 1, ABSA_POS_COMMITTED = 2 };

struct absa_lease_mgr {
    uint64_t n, seed, epochs, epoch, cursor, committed, next_id, qcount;
    int done;
    uint64_t *perm;
    uint8_t *st;
    absa_ucx_range *q; /* given-back ranges, FIFO [qh, qn) */
    size_t qh, qn, qcap;
    absa_ucx_lease *leases; /* outstanding, unordered */
    size_t nleases, lcap;
    double now;              /* the caller's clock (lease timeout) */
    struct absa_lease_rev { uint64_t owner, id; } *revoked; /* revoked, not yet reported to the owner */
    size_t nrev, revcap;
};

static void absa_lease_start_epoch(absa_lease_mgr *m, uint64_t epoch)
{
    m->epoch = epoch;
    m->cursor = m->committed = m->qcount = 0;
    m->qh = m->qn = 0;
    m->done = m->epochs && epoch >= m->epochs;
    memset(m->st, ABSA_POS_FREE, m->n);
    if (!m->done) absa_permutation(m->seed, epoch, (size_t)m->n, m->perm);
}

absa_status absa_lease_mgr_create(uint64_t count, uint64_t seed, uint64_t epochs, absa_lease_mgr **out)
{
    absa_status status = ABSA_OK;
    absa_lease_mgr *m = absa_xcalloc(1, sizeof *m);
    *out = NULL;
    if (count < 1 || count > ((uint64_t)1 << 40)) ABSA_FAIL(ABSA_EINVAL, "sample count %llu out of range", (unsigned long long)count);
    m->n = count;
    m->seed = seed;
    m->epochs = epochs;
    m->next_id = 1;
    m->perm = malloc((size_t)count * sizeof *m->perm);
    m->st = malloc((size_t)count);
    if (!m->perm || !m->st) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate the permutation of %llu samples", (unsigned long long)count);
    absa_lease_start_epoch(m, 0);
    *out = m;
    m = NULL;
cleanup:
    absa_lease_mgr_free(m);
    return status;
}

void absa_lease_mgr_free(absa_lease_mgr *m)
{
    if (!m) return;
    free(m->perm);
    free(m->st);
    free(m->q);
    free(m->leases);
    free(m->revoked);
    free(m);
}

uint64_t absa_lease_mgr_count(const absa_lease_mgr *m) { return m->n; }
uint64_t absa_lease_mgr_epoch(const absa_lease_mgr *m) { return m->epoch; }
uint64_t absa_lease_mgr_epochs(const absa_lease_mgr *m) { return m->epochs; }
int absa_lease_mgr_done(const absa_lease_mgr *m) { return m->done; }
uint64_t absa_lease_mgr_committed(const absa_lease_mgr *m) { return m->committed; }
uint64_t absa_lease_mgr_free_count(const absa_lease_mgr *m) { return m->done ? 0 : m->qcount + (m->n - m->cursor); }
size_t absa_lease_mgr_outstanding(const absa_lease_mgr *m) { return m->nleases; }
const uint64_t *absa_lease_mgr_perm(const absa_lease_mgr *m) { return m->perm; }

/* append [start, start+k) to the queue, merging with the last queued range when contiguous */
static void absa_lease_queue_push(absa_lease_mgr *m, uint64_t start, uint64_t k)
{
    if (m->qn > m->qh && m->q[m->qn - 1].start + m->q[m->qn - 1].count == start) {
        m->q[m->qn - 1].count += k;
    } else {
        if (m->qn == m->qcap) {
            if (m->qh > 0) {
                memmove(m->q, m->q + m->qh, (m->qn - m->qh) * sizeof *m->q);
                m->qn -= m->qh;
                m->qh = 0;
            } else {
                m->qcap = m->qcap ? 2 * m->qcap : 64;
                m->q = realloc(m->q, m->qcap * sizeof *m->q);
                ABSA_ASSERT(m->q != NULL, "out of memory for the lease queue");
            }
        }
        m->q[m->qn].start = start;
        m->q[m->qn].count = k;
        m->qn++;
    }
    m->qcount += k;
}

static int absa_lease_add_range(absa_ucx_lease *l, uint64_t start, uint64_t k)
{
    if (l->nranges > 0 && l->ranges[l->nranges - 1].start + l->ranges[l->nranges - 1].count == start) {
        l->ranges[l->nranges - 1].count += k;
    } else {
        if (l->nranges == ABSA_UCX_MAX_RANGES) return 0;
        l->ranges[l->nranges].start = start;
        l->ranges[l->nranges].count = k;
        l->nranges++;
    }
    l->count += k;
    return 1;
}

static void absa_lease_mark(absa_lease_mgr *m, const absa_ucx_lease *l, uint8_t from, uint8_t to)
{
    for (uint32_t r = 0; r < l->nranges; r++)
        for (uint64_t p = l->ranges[r].start; p < l->ranges[r].start + l->ranges[r].count; p++) {
            ABSA_ASSERT(m->st[p] == from, "position %llu of epoch %llu is in state %d, expected %d",
                        (unsigned long long)p, (unsigned long long)m->epoch, m->st[p], from);
            m->st[p] = to;
        }
}

static void absa_lease_add(absa_lease_mgr *m, absa_ucx_lease *out)
{
    out->id = m->next_id++;
    out->seen = m->now;
    absa_lease_mark(m, out, ABSA_POS_FREE, ABSA_POS_LEASED);
    if (m->nleases == m->lcap) {
        m->lcap = m->lcap ? 2 * m->lcap : 16;
        m->leases = realloc(m->leases, m->lcap * sizeof *m->leases);
        ABSA_ASSERT(m->leases != NULL, "out of memory for leases");
    }
    m->leases[m->nleases++] = *out;
}

absa_lease_result absa_lease_grant(absa_lease_mgr *m, uint64_t owner, uint64_t n, absa_ucx_lease *out)
{
    if (m->done) return ABSA_LEASE_DONE;
    if (absa_lease_mgr_free_count(m) == 0) return ABSA_LEASE_EXHAUSTED;
    ABSA_ASSERT(n >= 1, "lease of 0 samples");
    memset(out, 0, offsetof(absa_ucx_lease, ranges));
    out->owner = owner;
    out->epoch = m->epoch;
    while (out->count < n && m->qh < m->qn) {
        absa_ucx_range *r = &m->q[m->qh];
        uint64_t k = r->count < n - out->count ? r->count : n - out->count;
        if (!absa_lease_add_range(out, r->start, k)) break;
        r->start += k;
        r->count -= k;
        m->qcount -= k;
        if (r->count == 0) m->qh++;
    }
    if (m->qh == m->qn) m->qh = m->qn = 0;
    if (out->count < n && m->cursor < m->n) {
        uint64_t k = m->n - m->cursor < n - out->count ? m->n - m->cursor : n - out->count;
        if (absa_lease_add_range(out, m->cursor, k)) m->cursor += k;
    }
    ABSA_ASSERT(out->count > 0, "grant found free positions but took none");
    absa_lease_add(m, out);
    return ABSA_LEASE_GRANTED;
}

/* remove [a, b) (all FREE, below the cursor, hence queued) from the queue, splitting ranges */
static void absa_lease_queue_carve(absa_lease_mgr *m, uint64_t a, uint64_t b)
{
    if (a >= b) return;
    size_t nq = m->qn - m->qh, k = 0;
    absa_ucx_range *t = absa_xcalloc(nq + 1, sizeof *t);
    uint64_t taken = 0;
    for (size_t i = m->qh; i < m->qn; i++) {
        uint64_t s = m->q[i].start, e = s + m->q[i].count;
        if (e <= a || s >= b) {
            t[k++] = m->q[i];
            continue;
        }
        if (s < a) t[k++] = (absa_ucx_range){s, a - s};
        if (e > b) t[k++] = (absa_ucx_range){b, e - b};
        taken += (e < b ? e : b) - (s > a ? s : a);
    }
    ABSA_ASSERT(taken == b - a, "positions [%llu, %llu) are free but not all queued", (unsigned long long)a,
                (unsigned long long)b);
    ABSA_ASSERT(k <= nq + 1, "queue carve overflow");
    if (k > m->qcap) {
        m->q = realloc(m->q, k * sizeof *m->q);
        ABSA_ASSERT(m->q != NULL, "out of memory for the lease queue");
        m->qcap = k;
    }
    memcpy(m->q, t, k * sizeof *t);
    m->qh = 0;
    m->qn = k;
    m->qcount -= taken;
    free(t);
}

absa_lease_result absa_lease_grant_at(absa_lease_mgr *m, uint64_t owner, uint64_t epoch, uint64_t start, uint64_t n,
                                      absa_ucx_lease *out)
{
    if (m->done || (m->epochs && epoch >= m->epochs)) return ABSA_LEASE_DONE;
    if (epoch < m->epoch || n < 1 || start >= m->n || n > m->n - start) return ABSA_LEASE_GONE;
    if (epoch > m->epoch) return ABSA_LEASE_EXHAUSTED; /* waits for the epoch to start */
    const uint64_t end = start + n, cur = m->cursor;
    int busy = 0;
    for (uint64_t p = start; p < end; p++) {
        if (m->st[p] == ABSA_POS_COMMITTED) return ABSA_LEASE_GONE;
        busy |= m->st[p] == ABSA_POS_LEASED;
    }
    if (busy) return ABSA_LEASE_EXHAUSTED;
    /* free positions below the cursor are exactly the queued ones; above it, a skipped gap is
     * queued so that the invariant holds */
    absa_lease_queue_carve(m, start, end < cur ? end : cur);
    if (end > cur) {
        if (start > cur) absa_lease_queue_push(m, cur, start - cur);
        m->cursor = end;
    }
    memset(out, 0, offsetof(absa_ucx_lease, ranges));
    out->owner = owner;
    out->epoch = m->epoch;
    out->nranges = 1;
    out->count = n;
    out->ranges[0] = (absa_ucx_range){start, n};
    absa_lease_add(m, out);
    return ABSA_LEASE_GRANTED;
}

static size_t absa_lease_index(const absa_lease_mgr *m, uint64_t owner, uint64_t id)
{
    for (size_t i = 0; i < m->nleases; i++)
        if (m->leases[i].id == id) return m->leases[i].owner == owner ? i : SIZE_MAX;
    return SIZE_MAX;
}

const absa_ucx_lease *absa_lease_find(const absa_lease_mgr *m, uint64_t owner, uint64_t id)
{
    size_t i = absa_lease_index(m, owner, id);
    return i == SIZE_MAX ? NULL : &m->leases[i];
}

static void absa_lease_remove(absa_lease_mgr *m, size_t i)
{
    m->leases[i] = m->leases[--m->nleases];
}

absa_status absa_lease_commit(absa_lease_mgr *m, uint64_t owner, uint64_t id, int *advanced)
{
    absa_status status = ABSA_OK;
    *advanced = 0;
    size_t i = absa_lease_index(m, owner, id);
    if (i == SIZE_MAX) ABSA_FAIL(ABSA_EINVAL, "commit of lease %llu, which this client does not hold", (unsigned long long)id);
    ABSA_ASSERT(m->leases[i].epoch == m->epoch, "outstanding lease of an old epoch");
    absa_lease_mark(m, &m->leases[i], ABSA_POS_LEASED, ABSA_POS_COMMITTED);
    m->committed += m->leases[i].count;
    absa_lease_remove(m, i);
    if (m->committed == m->n) {
        ABSA_ASSERT(m->nleases == 0 && m->qcount == 0, "epoch complete with leases outstanding");
        absa_lease_start_epoch(m, m->epoch + 1);
        *advanced = 1;
    }
cleanup:
    return status;
}

absa_status absa_lease_release(absa_lease_mgr *m, uint64_t owner, uint64_t id)
{
    absa_status status = ABSA_OK;
    size_t i = absa_lease_index(m, owner, id);
    if (i == SIZE_MAX) ABSA_FAIL(ABSA_EINVAL, "release of lease %llu, which this client does not hold", (unsigned long long)id);
    absa_lease_mark(m, &m->leases[i], ABSA_POS_LEASED, ABSA_POS_FREE);
    for (uint32_t r = 0; r < m->leases[i].nranges; r++)
        absa_lease_queue_push(m, m->leases[i].ranges[r].start, m->leases[i].ranges[r].count);
    absa_lease_remove(m, i);
cleanup:
    return status;
}

static int absa_range_cmp(const void *a, const void *b)
{
    const absa_ucx_range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Give back every lease for which pick(m, lease, arg) is true: positions FREE again and queued,
 * sorted by position (re-issued first, in order); revoke = remember (owner, id) as revoked. */
static size_t absa_lease_give_back(absa_lease_mgr *m, int (*pick)(const absa_lease_mgr *, const absa_ucx_lease *, const void *),
                                   const void *arg, int revoke, void (*fn)(void *, const absa_ucx_lease *), void *fn_arg)
{
    size_t nr = 0, nl = 0;
    for (size_t i = 0; i < m->nleases; i++)
        if (pick(m, &m->leases[i], arg)) nr += m->leases[i].nranges;
    if (nr == 0) return 0;
    absa_ucx_range *tmp = absa_xcalloc(nr, sizeof *tmp);
    nr = 0;
    for (size_t i = 0; i < m->nleases;) {
        if (!pick(m, &m->leases[i], arg)) {
            i++;
            continue;
        }
        if (fn) fn(fn_arg, &m->leases[i]);
        absa_lease_mark(m, &m->leases[i], ABSA_POS_LEASED, ABSA_POS_FREE);
        for (uint32_t r = 0; r < m->leases[i].nranges; r++) tmp[nr++] = m->leases[i].ranges[r];
        if (revoke) {
            if (m->nrev == m->revcap) {
                m->revcap = m->revcap ? 2 * m->revcap : 16;
                m->revoked = realloc(m->revoked, m->revcap * sizeof *m->revoked);
                ABSA_ASSERT(m->revoked != NULL, "out of memory for revoked leases");
            }
            m->revoked[m->nrev].owner = m->leases[i].owner;
            m->revoked[m->nrev++].id = m->leases[i].id;
        }
        absa_lease_remove(m, i);
        nl++;
    }
    qsort(tmp, nr, sizeof *tmp, absa_range_cmp);
    for (size_t r = 0; r < nr; r++) absa_lease_queue_push(m, tmp[r].start, tmp[r].count);
    free(tmp);
    return nl;
}

static int absa_lease_of_owner(const absa_lease_mgr *m, const absa_ucx_lease *l, const void *owner)
{
    (void)m;
    return l->owner == *(const uint64_t *)owner;
}

size_t absa_lease_drop_owner(absa_lease_mgr *m, uint64_t owner)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nrev; i++)
        if (m->revoked[i].owner != owner) m->revoked[k++] = m->revoked[i];
    m->nrev = k;
    return absa_lease_give_back(m, absa_lease_of_owner, &owner, 0, NULL, NULL);
}

void absa_lease_set_clock(absa_lease_mgr *m, double now)
{
    if (now > m->now) m->now = now;
}

void absa_lease_touch(absa_lease_mgr *m, uint64_t owner)
{
    for (size_t i = 0; i < m->nleases; i++)
        if (m->leases[i].owner == owner) m->leases[i].seen = m->now;
}

static int absa_lease_silent(const absa_lease_mgr *m, const absa_ucx_lease *l, const void *timeout)
{
    return m->now - l->seen > *(const double *)timeout;
}

size_t absa_lease_expire(absa_lease_mgr *m, double timeout, void (*fn)(void *arg, const absa_ucx_lease *l), void *arg)
{
    ABSA_ASSERT(timeout > 0, "lease timeout %g", timeout);
    return absa_lease_give_back(m, absa_lease_silent, &timeout, 1, fn, arg);
}

int absa_lease_forget_revoked(absa_lease_mgr *m, uint64_t owner, uint64_t id)
{
    for (size_t i = 0; i < m->nrev; i++)
        if (m->revoked[i].id == id && m->revoked[i].owner == owner) {
            m->revoked[i] = m->revoked[--m->nrev];
            return 1;
        }
    return 0;
}

size_t absa_lease_revoked_count(const absa_lease_mgr *m, uint64_t owner)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nrev; i++) k += m->revoked[i].owner == owner;
    return k;
}

absa_status absa_lease_state(const absa_lease_mgr *m, absa_ucx_range **ranges, size_t *nranges)
{
    absa_status status = ABSA_OK;
    size_t nr = 0, cap = 0;
    absa_ucx_range *r = NULL;
    *ranges = NULL;
    *nranges = 0;
    if (m->done) goto cleanup;
    for (uint64_t p = 0; p < m->n;) {
        if (m->st[p] != ABSA_POS_COMMITTED) {
            p++;
            continue;
        }
        uint64_t s = p;
        while (p < m->n && m->st[p] == ABSA_POS_COMMITTED) p++;
        if (nr == cap) {
            cap = cap ? 2 * cap : 16;
            absa_ucx_range *t = realloc(r, cap * sizeof *r);
            if (!t) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate the state ranges");
            r = t;
        }
        r[nr].start = s;
        r[nr].count = p - s;
        nr++;
    }
    *ranges = r;
    *nranges = nr;
    r = NULL;
cleanup:
    free(r);
    return status;
}

absa_status absa_lease_seek(absa_lease_mgr *m, uint64_t epoch, const absa_ucx_range *ranges, size_t nranges)
{
    absa_status status = ABSA_OK;
    uint64_t sum = 0;
    if (m->nleases) ABSA_FAIL(ABSA_EEXIST, "seek refused: %zu leases are outstanding", m->nleases);
    if (m->epochs && epoch >= m->epochs)
        ABSA_FAIL(ABSA_EINVAL, "seek to epoch %llu, the server serves %llu epochs", (unsigned long long)epoch,
                  (unsigned long long)m->epochs);
    ABSA_TRY(absa_ucx_check_ranges(ranges, nranges, m->n, &sum));
    absa_lease_start_epoch(m, epoch);
    for (size_t i = 0; i < nranges; i++)
        memset(m->st + ranges[i].start, ABSA_POS_COMMITTED, (size_t)ranges[i].count);
    m->committed = sum;
    /* holes below the last committed position are re-issued first, in order */
    m->cursor = nranges ? ranges[nranges - 1].start + ranges[nranges - 1].count : 0;
    for (size_t i = 0; i < nranges; i++) {
        uint64_t hole0 = i ? ranges[i - 1].start + ranges[i - 1].count : 0;
        if (ranges[i].start > hole0) absa_lease_queue_push(m, hole0, ranges[i].start - hole0);
    }
    if (m->committed == m->n) absa_lease_start_epoch(m, epoch + 1);
cleanup:
    return status;
}
