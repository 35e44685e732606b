/* ucx_proto.c — encoder, strict decoder and payload validators of the `absa serve` wire
 * protocol (see ucx_proto.h and docs/ucx.md for the layouts). Every length and count is checked
 * against the received size and the hard limits before it is used; nothing here allocates. */
#include "ucx_proto.h"

#include <string.h>

/* per-type fixed header length (HELLO: plus the secret) */
static const uint32_t absa_ucx_hsize[ABSA_UCX_TYPE_END] = {
    [ABSA_UCX_HELLO] = 24,      [ABSA_UCX_META] = 64,       [ABSA_UCX_REQUEST] = 32,
    [ABSA_UCX_BATCH] = 72,      [ABSA_UCX_END] = 40,        [ABSA_UCX_COMMIT] = 24,
    [ABSA_UCX_COMMIT_OK] = 32,  [ABSA_UCX_RELEASE] = 24,    [ABSA_UCX_STATE] = 16,
    [ABSA_UCX_STATE_REPLY] = 48, [ABSA_UCX_SEEK] = 32,      [ABSA_UCX_SEEK_OK] = 32,
    [ABSA_UCX_ERROR] = 24,      [ABSA_UCX_BYE] = 16,        [ABSA_UCX_REQUEST_AT] = 48,
    [ABSA_UCX_CANCEL] = 24,     [ABSA_UCX_PING] = 16,       [ABSA_UCX_LOCAL] = 32 + ABSA_UCX_NONCE,
    [ABSA_UCX_LOCAL_OK] = 16,
};

const char *absa_ucx_type_name(unsigned type)
{
    static const char *const names[ABSA_UCX_TYPE_END] = {
        "?", "HELLO", "META", "REQUEST", "BATCH", "END", "COMMIT", "COMMIT_OK", "RELEASE",
        "STATE", "STATE_REPLY", "SEEK", "SEEK_OK", "ERROR", "BYE", "REQUEST_AT", "CANCEL", "PING",
        "LOCAL", "LOCAL_OK"};
    return type > 0 && type < ABSA_UCX_TYPE_END ? names[type] : "unknown";
}

/* ---- little-endian cursor ---- */
typedef struct absa_ucx_wr { uint8_t *p; } absa_ucx_wr;
typedef struct absa_ucx_rd { const uint8_t *p; } absa_ucx_rd;

static void absa_put32(absa_ucx_wr *w, uint32_t v)
{
    for (int i = 0; i < 4; i++) *w->p++ = (uint8_t)(v >> (8 * i));
}
static void absa_put64(absa_ucx_wr *w, uint64_t v)
{
    for (int i = 0; i < 8; i++) *w->p++ = (uint8_t)(v >> (8 * i));
}
static uint32_t absa_get32(absa_ucx_rd *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)*r->p++ << (8 * i);
    return v;
}
static uint64_t absa_get64(absa_ucx_rd *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)*r->p++ << (8 * i);
    return v;
}

uint64_t absa_ucx_batch_payload_len(uint64_t count, uint32_t nranges, uint64_t sample_bytes)
{
    if (count < 1 || count > ABSA_UCX_MAX_BATCH || nranges < 1 || nranges > ABSA_UCX_MAX_RANGES ||
        sample_bytes < 1 || sample_bytes > ABSA_UCX_MAX_SAMPLE_BYTES)
        return 0;
    /* count <= 2^22, sample_bytes <= 2^26: no overflow below 2^49 */
    return (uint64_t)nranges * sizeof(absa_ucx_range) + count * (8 + 4 + sample_bytes);
}

static uint64_t absa_ucx_sample_bytes(uint32_t C, uint32_t H, uint32_t W)
{
    if (C < 1 || C > ABSA_UCX_MAX_C || H < 1 || H > 65536 || W < 1 || W > 65536) return 0;
    uint64_t sb = (uint64_t)C * H * W;
    return sb <= ABSA_UCX_MAX_SAMPLE_BYTES ? sb : 0;
}

/* the payload implied by a header, or UINT64_MAX when the fields are out of range */
static uint64_t absa_ucx_implied_payload(const absa_ucx_msg *m)
{
    switch (m->type) {
    case ABSA_UCX_META: return absa_ucx_sample_bytes(m->C, m->H, m->W) ? 8ull * m->C : UINT64_MAX;
    case ABSA_UCX_BATCH: {
        uint64_t sb = absa_ucx_sample_bytes(m->C, m->H, m->W);
        uint64_t len = sb ? absa_ucx_batch_payload_len(m->count, m->nranges, sb) : 0;
        if (len && (m->flags & ABSA_UCX_BATCH_LOCAL)) len -= m->count * sb;
        return len ? len : UINT64_MAX;
    }
    case ABSA_UCX_STATE_REPLY:
    case ABSA_UCX_SEEK:
        return m->nranges <= ABSA_UCX_MAX_STATE_RANGES ? (uint64_t)m->nranges * sizeof(absa_ucx_range)
                                                       : UINT64_MAX;
    default: return 0;
    }
}

size_t absa_ucx_encode(absa_ucx_msg *m, uint8_t *buf, size_t cap)
{
    if (m->type < 1 || m->type >= ABSA_UCX_TYPE_END) return 0;
    if (m->type == ABSA_UCX_HELLO && (m->secret_len < 1 || m->secret_len > ABSA_UCX_MAX_SECRET)) return 0;
    if (m->type == ABSA_UCX_BATCH && (m->flags & ~ABSA_UCX_BATCH_LOCAL)) return 0;
    uint32_t hlen = absa_ucx_hsize[m->type] + (m->type == ABSA_UCX_HELLO ? m->secret_len : 0);
    uint64_t pl = absa_ucx_implied_payload(m);
    if (hlen > cap || pl == UINT64_MAX) return 0;
    m->hlen = hlen;
    m->payload_len = pl;
    absa_ucx_wr w = {buf};
    absa_put32(&w, ABSA_UCX_MAGIC);
    *w.p++ = (uint8_t)(ABSA_UCX_VERSION & 0xff);
    *w.p++ = (uint8_t)(ABSA_UCX_VERSION >> 8);
    *w.p++ = (uint8_t)(m->type & 0xff);
    *w.p++ = (uint8_t)(m->type >> 8);
    absa_put32(&w, hlen);
    absa_put32(&w, 0);
    switch (m->type) {
    case ABSA_UCX_HELLO:
        absa_put32(&w, m->secret_len);
        absa_put32(&w, m->flags);
        memcpy(w.p, m->secret, m->secret_len);
        w.p += m->secret_len;
        break;
    case ABSA_UCX_META:
        absa_put64(&w, m->count);
        absa_put64(&w, m->epoch);
        absa_put64(&w, m->epochs);
        absa_put32(&w, m->C);
        absa_put32(&w, m->H);
        absa_put32(&w, m->W);
        absa_put32(&w, m->num_classes);
        absa_put32(&w, m->batch_max);
        absa_put32(&w, m->lease_timeout_ms);
        break;
    case ABSA_UCX_REQUEST:
        absa_put64(&w, m->req);
        absa_put32(&w, m->n);
        absa_put32(&w, 0);
        break;
    case ABSA_UCX_BATCH:
        absa_put64(&w, m->req);
        absa_put64(&w, m->epoch);
        absa_put64(&w, m->lease);
        absa_put64(&w, m->first);
        absa_put32(&w, (uint32_t)m->count);
        absa_put32(&w, m->nranges);
        absa_put32(&w, m->C);
        absa_put32(&w, m->H);
        absa_put32(&w, m->W);
        absa_put32(&w, m->flags);
        break;
    case ABSA_UCX_LOCAL:
        absa_put32(&w, m->pid);
        absa_put32(&w, m->fd);
        absa_put64(&w, m->count);
        memcpy(w.p, m->nonce, ABSA_UCX_NONCE);
        w.p += ABSA_UCX_NONCE;
        break;
    case ABSA_UCX_END:
        absa_put64(&w, m->req);
        absa_put64(&w, m->epoch);
        absa_put32(&w, m->flags);
        absa_put32(&w, 0);
        break;
    case ABSA_UCX_COMMIT:
    case ABSA_UCX_RELEASE: absa_put64(&w, m->lease); break;
    case ABSA_UCX_COMMIT_OK:
        absa_put64(&w, m->lease);
        absa_put64(&w, m->epoch);
        break;
    case ABSA_UCX_REQUEST_AT:
        absa_put64(&w, m->req);
        absa_put64(&w, m->epoch);
        absa_put64(&w, m->first);
        absa_put32(&w, m->n);
        absa_put32(&w, 0);
        break;
    case ABSA_UCX_CANCEL: absa_put64(&w, m->req); break;
    case ABSA_UCX_STATE_REPLY:
        absa_put64(&w, m->epoch);
        absa_put64(&w, m->count);
        absa_put64(&w, m->committed);
        absa_put32(&w, m->nranges);
        absa_put32(&w, 0);
        break;
    case ABSA_UCX_SEEK:
        absa_put64(&w, m->epoch);
        absa_put32(&w, m->nranges);
        absa_put32(&w, 0);
        break;
    case ABSA_UCX_SEEK_OK:
        absa_put64(&w, m->epoch);
        absa_put64(&w, m->committed);
        break;
    case ABSA_UCX_ERROR:
        absa_put32(&w, m->code);
        absa_put32(&w, m->flags);
        break;
    default: break; /* STATE, BYE, PING, LOCAL_OK: common part only */
    }
    return (size_t)(w.p - buf) == hlen ? hlen : 0;
}

absa_status absa_ucx_decode(const void *hdr, size_t hlen, uint64_t plen, absa_ucx_msg *m)
{
    absa_status status = ABSA_OK;
    memset(m, 0, sizeof *m);
    if (!hdr || hlen < ABSA_UCX_COMMON_HLEN)
        ABSA_FAIL(ABSA_EFORMAT, "truncated header (%zu bytes, need at least %d)", hlen, ABSA_UCX_COMMON_HLEN);
    absa_ucx_rd r = {hdr};
    uint32_t magic = absa_get32(&r);
    uint32_t version = (uint32_t)r.p[0] | (uint32_t)r.p[1] << 8;
    uint32_t type = (uint32_t)r.p[2] | (uint32_t)r.p[3] << 8;
    r.p += 4;
    uint32_t claimed = absa_get32(&r), reserved = absa_get32(&r);
    if (magic != ABSA_UCX_MAGIC) ABSA_FAIL(ABSA_EFORMAT, "bad magic 0x%08x", magic);
    if (version != ABSA_UCX_VERSION)
        ABSA_FAIL(ABSA_EFORMAT, "unsupported protocol version %u (this is version %d)", version, ABSA_UCX_VERSION);
    if (type < 1 || type >= ABSA_UCX_TYPE_END) ABSA_FAIL(ABSA_EFORMAT, "unknown message type %u", type);
    if (claimed != hlen) ABSA_FAIL(ABSA_EFORMAT, "header claims %u bytes, %zu received", claimed, hlen);
    if (reserved) ABSA_FAIL(ABSA_EFORMAT, "reserved header field is not zero");
    m->type = (uint16_t)type;
    m->hlen = claimed;
    uint32_t need = absa_ucx_hsize[type];
    if (type == ABSA_UCX_HELLO) {
        if (hlen < need) ABSA_FAIL(ABSA_EFORMAT, "truncated HELLO header (%zu bytes)", hlen);
        m->secret_len = absa_get32(&r);
        if (m->secret_len < 1 || m->secret_len > ABSA_UCX_MAX_SECRET)
            ABSA_FAIL(ABSA_EFORMAT, "HELLO secret length %u out of range [1, %d]", m->secret_len, ABSA_UCX_MAX_SECRET);
        need += m->secret_len;
        r.p = (const uint8_t *)hdr + ABSA_UCX_COMMON_HLEN;
    }
    if (hlen != need)
        ABSA_FAIL(ABSA_EFORMAT, "%s header is %zu bytes, expected %u", absa_ucx_type_name(type), hlen, need);
    uint32_t pad = 0;
    switch (type) {
    case ABSA_UCX_HELLO:
        m->secret_len = absa_get32(&r);
        m->flags = absa_get32(&r);
        memcpy(m->secret, r.p, m->secret_len);
        break;
    case ABSA_UCX_META:
        m->count = absa_get64(&r);
        m->epoch = absa_get64(&r);
        m->epochs = absa_get64(&r);
        m->C = absa_get32(&r);
        m->H = absa_get32(&r);
        m->W = absa_get32(&r);
        m->num_classes = absa_get32(&r);
        m->batch_max = absa_get32(&r);
        m->lease_timeout_ms = absa_get32(&r);
        if (m->count < 1 || m->num_classes < 1 || m->batch_max < 1 || m->batch_max > ABSA_UCX_MAX_BATCH)
            ABSA_FAIL(ABSA_EFORMAT, "META field out of range (count %llu, classes %u, batch max %u)",
                      (unsigned long long)m->count, m->num_classes, m->batch_max);
        break;
    case ABSA_UCX_REQUEST:
        m->req = absa_get64(&r);
        m->n = absa_get32(&r);
        pad = absa_get32(&r);
        if (m->n < 1 || m->n > ABSA_UCX_MAX_BATCH) ABSA_FAIL(ABSA_EFORMAT, "REQUEST of %u samples", m->n);
        break;
    case ABSA_UCX_BATCH:
        m->req = absa_get64(&r);
        m->epoch = absa_get64(&r);
        m->lease = absa_get64(&r);
        m->first = absa_get64(&r);
        m->count = absa_get32(&r);
        m->nranges = absa_get32(&r);
        m->C = absa_get32(&r);
        m->H = absa_get32(&r);
        m->W = absa_get32(&r);
        m->flags = absa_get32(&r);
        if (m->flags & ~ABSA_UCX_BATCH_LOCAL) ABSA_FAIL(ABSA_EFORMAT, "BATCH with unknown flags 0x%x", m->flags);
        break;
    case ABSA_UCX_LOCAL:
        m->pid = absa_get32(&r);
        m->fd = absa_get32(&r);
        m->count = absa_get64(&r);
        memcpy(m->nonce, r.p, ABSA_UCX_NONCE);
        if (m->pid < 1 || m->pid > (1u << 22) || m->fd > (1u << 20) || m->count < 1 || m->count > ((uint64_t)1 << 46))
            ABSA_FAIL(ABSA_EFORMAT, "LOCAL field out of range (pid %u, fd %u, %llu bytes)", m->pid, m->fd,
                      (unsigned long long)m->count);
        break;
    case ABSA_UCX_END:
        m->req = absa_get64(&r);
        m->epoch = absa_get64(&r);
        m->flags = absa_get32(&r);
        pad = absa_get32(&r);
        if (m->flags & ~ABSA_UCX_END_FLAGS) ABSA_FAIL(ABSA_EFORMAT, "END with unknown flags 0x%x", m->flags);
        break;
    case ABSA_UCX_COMMIT:
    case ABSA_UCX_RELEASE: m->lease = absa_get64(&r); break;
    case ABSA_UCX_REQUEST_AT:
        m->req = absa_get64(&r);
        m->epoch = absa_get64(&r);
        m->first = absa_get64(&r);
        m->n = absa_get32(&r);
        pad = absa_get32(&r);
        if (m->n < 1 || m->n > ABSA_UCX_MAX_BATCH) ABSA_FAIL(ABSA_EFORMAT, "REQUEST_AT of %u samples", m->n);
        if (m->first > ((uint64_t)1 << 40)) ABSA_FAIL(ABSA_EFORMAT, "REQUEST_AT position %llu out of range", (unsigned long long)m->first);
        break;
    case ABSA_UCX_CANCEL: m->req = absa_get64(&r); break;
    case ABSA_UCX_COMMIT_OK:
        m->lease = absa_get64(&r);
        m->epoch = absa_get64(&r);
        break;
    case ABSA_UCX_STATE_REPLY:
        m->epoch = absa_get64(&r);
        m->count = absa_get64(&r);
        m->committed = absa_get64(&r);
        m->nranges = absa_get32(&r);
        pad = absa_get32(&r);
        if (m->committed > m->count) ABSA_FAIL(ABSA_EFORMAT, "STATE_REPLY: committed > count");
        break;
    case ABSA_UCX_SEEK:
        m->epoch = absa_get64(&r);
        m->nranges = absa_get32(&r);
        pad = absa_get32(&r);
        break;
    case ABSA_UCX_SEEK_OK:
        m->epoch = absa_get64(&r);
        m->committed = absa_get64(&r);
        break;
    case ABSA_UCX_ERROR:
        m->code = absa_get32(&r);
        m->flags = absa_get32(&r);
        break;
    default: break;
    }
    if (pad || (type == ABSA_UCX_HELLO && m->flags))
        ABSA_FAIL(ABSA_EFORMAT, "%s: padding/flags not zero", absa_ucx_type_name(type));
    m->payload_len = absa_ucx_implied_payload(m);
    if (m->payload_len == UINT64_MAX)
        ABSA_FAIL(ABSA_EFORMAT, "%s: counts out of range", absa_ucx_type_name(type));
    if (plen != m->payload_len)
        ABSA_FAIL(ABSA_EFORMAT, "%s: payload is %llu bytes, header implies %llu", absa_ucx_type_name(type),
                  (unsigned long long)plen, (unsigned long long)m->payload_len);
cleanup:
    return status;
}

void absa_ucx_batch_layout(const void *payload, uint64_t count, uint32_t nranges,
                           absa_ucx_batch_view *v)
{
    const uint8_t *p = payload;
    v->ranges = (const absa_ucx_range *)(const void *)p;
    p += (size_t)nranges * sizeof(absa_ucx_range);
    v->ids = (const uint64_t *)(const void *)p;
    p += (size_t)count * 8;
    v->labels = (const int32_t *)(const void *)p;
    p += (size_t)count * 4;
    v->images = p;
}

void absa_ucx_batch_layout_mut(void *payload, uint64_t count, uint32_t nranges,
                               absa_ucx_range **ranges, uint64_t **ids, int32_t **labels,
                               uint8_t **images)
{
    absa_ucx_batch_view v;
    absa_ucx_batch_layout(payload, count, nranges, &v);
    *ranges = (absa_ucx_range *)(uintptr_t)v.ranges;
    *ids = (uint64_t *)(uintptr_t)v.ids;
    *labels = (int32_t *)(uintptr_t)v.labels;
    *images = (uint8_t *)(uintptr_t)v.images;
}

absa_status absa_ucx_check_batch(const absa_ucx_msg *m, const void *payload, uint64_t n_total,
                                 int C, int H, int W, int num_classes, uint64_t max_count)
{
    absa_status status = ABSA_OK;
    if (m->type != ABSA_UCX_BATCH) ABSA_FAIL(ABSA_EFORMAT, "not a BATCH");
    if ((uintptr_t)payload % 8) ABSA_FAIL(ABSA_EINVAL, "batch payload not 8-byte aligned");
    if ((int64_t)m->C != C || (int64_t)m->H != H || (int64_t)m->W != W)
        ABSA_FAIL(ABSA_EFORMAT, "BATCH shape %ux%ux%u differs from the dataset's %dx%dx%d", m->C, m->H, m->W, C, H, W);
    if (m->count > max_count)
        ABSA_FAIL(ABSA_EFORMAT, "BATCH of %llu samples, at most %llu requested",
                  (unsigned long long)m->count, (unsigned long long)max_count);
    absa_ucx_batch_view v;
    absa_ucx_batch_layout(payload, m->count, m->nranges, &v);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m->nranges; i++) {
        const absa_ucx_range *r = &v.ranges[i];
        if (r->count < 1 || r->start >= n_total || r->count > n_total - r->start)
            ABSA_FAIL(ABSA_EFORMAT, "BATCH range %u [%llu,+%llu) outside [0,%llu)", i,
                      (unsigned long long)r->start, (unsigned long long)r->count, (unsigned long long)n_total);
        sum += r->count;
    }
    if (sum != m->count)
        ABSA_FAIL(ABSA_EFORMAT, "BATCH ranges cover %llu positions, count is %llu", (unsigned long long)sum,
                  (unsigned long long)m->count);
    if (m->first != v.ranges[0].start) ABSA_FAIL(ABSA_EFORMAT, "BATCH first position differs from its ranges");
    for (uint64_t i = 0; i < m->count; i++) {
        if (v.ids[i] >= n_total)
            ABSA_FAIL(ABSA_EFORMAT, "BATCH sample id %llu >= %llu", (unsigned long long)v.ids[i],
                      (unsigned long long)n_total);
        if (v.labels[i] < 0 || v.labels[i] >= num_classes)
            ABSA_FAIL(ABSA_EFORMAT, "BATCH label %d outside [0,%d)", (int)v.labels[i], num_classes);
    }
cleanup:
    return status;
}

absa_status absa_ucx_check_ranges(const absa_ucx_range *r, size_t nr, uint64_t n_total, uint64_t *sum)
{
    absa_status status = ABSA_OK;
    uint64_t s = 0, end = 0;
    for (size_t i = 0; i < nr; i++) {
        if (r[i].count < 1 || r[i].start >= n_total || r[i].count > n_total - r[i].start)
            ABSA_FAIL(ABSA_EFORMAT, "range %zu [%llu,+%llu) outside [0,%llu)", i, (unsigned long long)r[i].start,
                      (unsigned long long)r[i].count, (unsigned long long)n_total);
        if (i > 0 && r[i].start <= end)
            ABSA_FAIL(ABSA_EFORMAT, "range %zu starts at %llu, not after the previous end %llu", i,
                      (unsigned long long)r[i].start, (unsigned long long)end);
        end = r[i].start + r[i].count;
        s += r[i].count;
    }
    *sum = s;
cleanup:
    return status;
}

int absa_ucx_secret_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    /* both buffers hold ABSA_UCX_MAX_SECRET bytes, zero beyond their length: one full-length,
     * branch-free scan whatever the content */
    uint32_t diff = (uint32_t)(alen != blen) | (uint32_t)(alen > ABSA_UCX_MAX_SECRET) |
                    (uint32_t)(blen > ABSA_UCX_MAX_SECRET);
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < ABSA_UCX_MAX_SECRET; i++) acc = (uint8_t)(acc | (a[i] ^ b[i]));
    return (diff | acc) == 0;
}
