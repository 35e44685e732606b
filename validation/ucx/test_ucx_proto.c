/* test_ucx_proto.c — the `absa serve` wire protocol and lease bookkeeping without UCX:
 * every message type round-trips through encode/decode; every truncation, a wrong magic,
 * version, type, header length, padding, count or payload length is rejected; batch payload
 * and range validators catch each kind of bad content; the secret comparison is exact; and the
 * lease manager, driven by a long random schedule of grants, commits, releases and owner drops
 * (crashes), commits every position exactly once per epoch, follows absa_permutation, honours
 * the range limit, and round-trips its state through seek; positional grants (REQUEST_AT) answer
 * exactly as the test's own record of leased and committed positions says they must. */
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "h5reader.h"
#include "ucx_lease.h"
#include "ucx_proto.h"

static size_t enc(absa_ucx_msg *m, uint8_t *buf) { return absa_ucx_encode(m, buf, ABSA_UCX_MAX_HLEN); }

static void test_roundtrip(void)
{
    absa_ucx_msg ms[] = {
        {.type = ABSA_UCX_HELLO, .secret_len = 5, .secret = "hello"},
        {.type = ABSA_UCX_META, .count = 60000, .epoch = 3, .epochs = 9, .C = 3, .H = 32, .W = 31, .num_classes = 10, .batch_max = 512,
         .lease_timeout_ms = 300000},
        {.type = ABSA_UCX_REQUEST, .req = 77, .n = 128},
        {.type = ABSA_UCX_BATCH, .req = 5, .epoch = 2, .lease = 99, .first = 640, .count = 100, .nranges = 3, .C = 1, .H = 28, .W = 28},
        {.type = ABSA_UCX_END, .req = 6, .epoch = 4, .flags = ABSA_UCX_END_DONE},
        {.type = ABSA_UCX_COMMIT, .lease = 1ull << 40},
        {.type = ABSA_UCX_COMMIT_OK, .lease = 12, .epoch = 1},
        {.type = ABSA_UCX_RELEASE, .lease = 13},
        {.type = ABSA_UCX_STATE},
        {.type = ABSA_UCX_STATE_REPLY, .epoch = 1, .count = 100, .committed = 40, .nranges = 2},
        {.type = ABSA_UCX_SEEK, .epoch = 1, .nranges = 7},
        {.type = ABSA_UCX_SEEK_OK, .epoch = 1, .committed = 40},
        {.type = ABSA_UCX_ERROR, .code = ABSA_UCX_ERR_SEEK_BUSY, .flags = ABSA_UCX_SEEK},
        {.type = ABSA_UCX_BYE},
        {.type = ABSA_UCX_REQUEST_AT, .req = 8, .epoch = 3, .first = 59000, .n = 1000},
        {.type = ABSA_UCX_CANCEL, .req = 9},
        {.type = ABSA_UCX_END, .req = 10, .epoch = 2, .flags = ABSA_UCX_END_GONE | ABSA_UCX_END_CANCELLED},
        {.type = ABSA_UCX_PING},
        {.type = ABSA_UCX_ERROR, .code = ABSA_UCX_ERR_REVOKED, .flags = ABSA_UCX_COMMIT},
        {.type = ABSA_UCX_LOCAL, .pid = 4194304, .fd = 17, .count = 60000ull * 784,
         .nonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 255}},
        {.type = ABSA_UCX_LOCAL_OK},
        /* a batch without images (same node): ranges, ids and labels only */
        {.type = ABSA_UCX_BATCH, .req = 5, .epoch = 2, .lease = 99, .first = 640, .count = 100, .nranges = 3, .C = 1, .H = 28, .W = 28,
         .flags = ABSA_UCX_BATCH_LOCAL},
    };
    uint64_t want_pl[] = {0, 24, 0, 3 * 16 + 100 * (12 + 784), 0, 0, 0, 0, 0, 32, 112, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          3 * 16 + 100 * 12};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        uint8_t buf[ABSA_UCX_MAX_HLEN + 8];
        absa_ucx_msg m = ms[i], d;
        size_t h = enc(&m, buf);
        CHECK(h >= ABSA_UCX_COMMON_HLEN, "%s encodes", absa_ucx_type_name(m.type));
        CHECK(m.payload_len == want_pl[i], "%s payload %llu want %llu", absa_ucx_type_name(m.type),
              (unsigned long long)m.payload_len, (unsigned long long)want_pl[i]);
        absa_status st = absa_ucx_decode(buf, h, m.payload_len, &d);
        CHECK(st == ABSA_OK, "%s decodes: %s", absa_ucx_type_name(m.type), absa_last_error());
        CHECK(d.type == m.type && d.epoch == m.epoch && d.lease == m.lease && d.req == m.req && d.first == m.first &&
                  d.count == m.count && d.committed == m.committed && d.epochs == m.epochs && d.n == m.n &&
                  d.nranges == m.nranges && d.C == m.C && d.H == m.H && d.W == m.W && d.num_classes == m.num_classes &&
                  d.batch_max == m.batch_max && d.lease_timeout_ms == m.lease_timeout_ms && d.flags == m.flags && d.code == m.code && d.secret_len == m.secret_len &&
                  !memcmp(d.secret, m.secret, sizeof d.secret) && d.pid == m.pid && d.fd == m.fd &&
                  !memcmp(d.nonce, m.nonce, sizeof d.nonce),
              "%s fields survive the round trip", absa_ucx_type_name(m.type));
        /* every truncation and one extra byte are rejected */
        int bad = 0;
        for (size_t k = 0; k < h; k++) bad += absa_ucx_decode(buf, k, m.payload_len, &d) == ABSA_OK;
        buf[h] = 0;
        bad += absa_ucx_decode(buf, h + 1, m.payload_len, &d) == ABSA_OK;
        CHECK(bad == 0, "%s: %d truncated/extended headers accepted", absa_ucx_type_name(m.type), bad);
        /* a payload one byte off either way is rejected */
        CHECK(absa_ucx_decode(buf, h, m.payload_len + 1, &d) != ABSA_OK, "%s: payload +1 accepted", absa_ucx_type_name(m.type));
        if (m.payload_len)
            CHECK(absa_ucx_decode(buf, h, m.payload_len - 1, &d) != ABSA_OK, "%s: payload -1 accepted", absa_ucx_type_name(m.type));
    }
}

/* corrupt byte `off` of a valid REQUEST header to v; must be rejected */
static int corrupt_rejected(size_t off, uint8_t v)
{
    uint8_t buf[64];
    absa_ucx_msg m = {.type = ABSA_UCX_REQUEST, .req = 1, .n = 8}, d;
    size_t h = enc(&m, buf);
    buf[off] = v;
    return absa_ucx_decode(buf, h, 0, &d) != ABSA_OK;
}

static void test_rejects(void)
{
    CHECK(corrupt_rejected(0, 0x00), "bad magic rejected");
    CHECK(corrupt_rejected(4, 2), "version 2 rejected");
    CHECK(corrupt_rejected(4, 0), "version 0 rejected");
    CHECK(corrupt_rejected(6, 0), "type 0 rejected");
    CHECK(corrupt_rejected(6, 99), "type 99 rejected");
    CHECK(corrupt_rejected(8, 33), "header length field mismatch rejected");
    CHECK(corrupt_rejected(12, 1), "reserved field rejected");
    CHECK(corrupt_rejected(28, 1), "padding rejected");
    CHECK(corrupt_rejected(16 + 8, 0) && corrupt_rejected(16 + 8 + 3, 0x40), "n = 0 and n > max rejected");
    absa_ucx_msg d, m;
    uint8_t buf[ABSA_UCX_MAX_HLEN + 8];
    /* HELLO: secret length 0, 257, or larger than the header */
    m = (absa_ucx_msg){.type = ABSA_UCX_HELLO, .secret_len = 3, .secret = "abc"};
    size_t h = enc(&m, buf);
    buf[16] = 0;
    CHECK(absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "empty secret rejected");
    buf[16] = 200;
    CHECK(absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "secret longer than the header rejected");
    buf[16] = 1;
    buf[17] = 1; /* 257 */
    CHECK(absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "secret of 257 bytes rejected");
    m.secret_len = 0;
    CHECK(enc(&m, buf) == 0, "encoder refuses an empty secret");
    /* BATCH counts out of range */
    absa_ucx_msg b0 = {.type = ABSA_UCX_BATCH, .count = 10, .nranges = 1, .C = 3, .H = 4, .W = 4};
    absa_ucx_msg bs[] = {b0, b0, b0, b0, b0, b0};
    bs[0].count = 0;
    bs[1].nranges = 0;
    bs[2].nranges = ABSA_UCX_MAX_RANGES + 1;
    bs[3].C = 5;
    bs[4].H = 65536, bs[4].W = 65536;
    bs[5].count = ABSA_UCX_MAX_BATCH + 1;
    for (int i = 0; i < 6; i++) {
        absa_ucx_msg x = b0;
        size_t hh = enc(&x, buf);
        /* patch the fields in place (the encoder itself refuses them) */
        uint32_t f[5] = {(uint32_t)bs[i].count, bs[i].nranges, bs[i].C, bs[i].H, bs[i].W};
        for (int k = 0; k < 5; k++) memcpy(buf + 48 + 4 * k, &f[k], 4);
        int ok = 1;
        for (uint64_t pl = 0; pl < 4096 && ok; pl += 7) ok = absa_ucx_decode(buf, hh, pl, &d) != ABSA_OK;
        ok = ok && absa_ucx_decode(buf, hh, UINT64_MAX, &d) != ABSA_OK;
        CHECK(ok, "BATCH variant %d (bad count/ranges/shape) rejected", i);
        CHECK(enc(&bs[i], buf) == 0, "encoder refuses BATCH variant %d", i);
    }
    /* SEEK / STATE_REPLY claiming more ranges than the limit */
    m = (absa_ucx_msg){.type = ABSA_UCX_SEEK, .nranges = 1};
    h = enc(&m, buf);
    uint32_t big = ABSA_UCX_MAX_STATE_RANGES + 1;
    memcpy(buf + 24, &big, 4);
    CHECK(absa_ucx_decode(buf, h, (uint64_t)big * 16, &d) != ABSA_OK, "SEEK with too many ranges rejected");
    CHECK(absa_ucx_decode(NULL, 0, 0, &d) != ABSA_OK, "empty header rejected");
    /* REQUEST_AT: n = 0, a position beyond 2^40, padding; END: an unknown flag */
    m = (absa_ucx_msg){.type = ABSA_UCX_REQUEST_AT, .req = 1, .epoch = 1, .first = 5, .n = 3};
    h = enc(&m, buf);
    memset(buf + 40, 0, 4);
    CHECK(absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "REQUEST_AT of 0 samples rejected");
    h = enc(&m, buf);
    buf[16 + 16 + 6] = 1; /* first = 2^48 + 5 */
    CHECK(absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "REQUEST_AT position beyond 2^40 rejected");
    h = enc(&m, buf);
    buf[44] = 1;
    CHECK(absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "REQUEST_AT padding rejected");
    m = (absa_ucx_msg){.type = ABSA_UCX_END, .req = 1, .epoch = 1, .flags = 8};
    CHECK(enc(&m, buf) > 0 && absa_ucx_decode(buf, enc(&m, buf), 0, &d) != ABSA_OK, "END flag 8 rejected");
    /* BATCH: a flag other than LOCAL; the encoder refuses it too */
    m = b0;
    h = enc(&m, buf);
    buf[68] = 2;
    CHECK(absa_ucx_decode(buf, h, m.payload_len, &d) != ABSA_OK, "BATCH flag 2 rejected");
    m.flags = 2;
    CHECK(enc(&m, buf) == 0, "encoder refuses BATCH flag 2");
    /* a LOCAL batch claiming its images' length, and a whole batch claiming none, are rejected */
    m = b0;
    m.flags = ABSA_UCX_BATCH_LOCAL;
    h = enc(&m, buf);
    CHECK(h > 0 && m.payload_len == 16 + 10 * 12, "LOCAL batch payload %llu", (unsigned long long)m.payload_len);
    CHECK(absa_ucx_decode(buf, h, 16 + 10 * (12 + 48), &d) != ABSA_OK, "LOCAL batch with images rejected");
    m = b0;
    h = enc(&m, buf);
    CHECK(absa_ucx_decode(buf, h, 16 + 10 * 12, &d) != ABSA_OK, "whole batch without images rejected");
    /* LOCAL: pid 0 or beyond 2^22, descriptor beyond 2^20, 0 bytes or beyond 2^46 */
    absa_ucx_msg l0 = {.type = ABSA_UCX_LOCAL, .pid = 100, .fd = 5, .count = 4096};
    struct { size_t off, len; uint64_t v; const char *what; } lb[] = {
        {16, 4, 0, "pid 0"}, {16, 4, (1u << 22) + 1, "pid 2^22+1"}, {20, 4, (1u << 20) + 1, "descriptor 2^20+1"},
        {24, 8, 0, "0 bytes"}, {24, 8, ((uint64_t)1 << 46) + 1, "2^46+1 bytes"}};
    for (size_t i = 0; i < sizeof lb / sizeof *lb; i++) {
        m = l0;
        h = enc(&m, buf);
        memcpy(buf + lb[i].off, &lb[i].v, lb[i].len);
        CHECK(h == 64 && absa_ucx_decode(buf, h, 0, &d) != ABSA_OK, "LOCAL with %s rejected", lb[i].what);
    }
    m = l0;
    h = enc(&m, buf);
    CHECK(absa_ucx_decode(buf, h, 1, &d) != ABSA_OK, "LOCAL with a payload rejected");
    CHECK(!strcmp(absa_ucx_type_name(ABSA_UCX_LOCAL), "LOCAL") && !strcmp(absa_ucx_type_name(ABSA_UCX_LOCAL_OK), "LOCAL_OK"),
          "type names");
}

static void test_validators(void)
{
    enum { NS = 50, C = 1, H = 2, W = 3, K = 4 };
    absa_ucx_msg m = {.type = ABSA_UCX_BATCH, .count = 5, .nranges = 2, .C = C, .H = H, .W = W, .first = 10};
    uint8_t hb[128];
    enc(&m, hb);
    uint64_t *buf = calloc(1, (size_t)m.payload_len + 8);
    absa_ucx_range *r;
    uint64_t *ids;
    int32_t *lab;
    uint8_t *img;
    absa_ucx_batch_layout_mut(buf, 5, 2, &r, &ids, &lab, &img);
    r[0] = (absa_ucx_range){10, 3};
    r[1] = (absa_ucx_range){40, 2};
    for (int i = 0; i < 5; i++) ids[i] = (uint64_t)(7 * i), lab[i] = i % K;
    CHECK((uint8_t *)img - (uint8_t *)buf == 2 * 16 + 5 * 12, "payload layout ranges|ids|labels|images");
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) == ABSA_OK, "valid batch accepted: %s", absa_last_error());
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 4) != ABSA_OK, "batch larger than requested rejected");
    CHECK(absa_ucx_check_batch(&m, buf, NS, 3, H, W, K, 5) != ABSA_OK, "shape mismatch rejected");
    ids[4] = NS;
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "id >= N rejected");
    ids[4] = 1;
    lab[2] = K;
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "label >= K rejected");
    lab[2] = -1;
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "negative label rejected");
    lab[2] = 0;
    r[1].count = 3;
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "ranges not summing to count rejected");
    r[1] = (absa_ucx_range){49, 2};
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "range past N rejected");
    r[1] = (absa_ucx_range){UINT64_MAX - 1, 2};
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "wrapping range rejected");
    r[1] = (absa_ucx_range){40, 2};
    m.first = 11;
    CHECK(absa_ucx_check_batch(&m, buf, NS, C, H, W, K, 5) != ABSA_OK, "first != ranges[0].start rejected");
    free(buf);

    absa_ucx_range ok[3] = {{0, 5}, {7, 1}, {20, 30}}, sum_ok;
    uint64_t sum = 0;
    (void)sum_ok;
    CHECK(absa_ucx_check_ranges(ok, 3, 50, &sum) == ABSA_OK && sum == 36, "valid ranges sum %llu", (unsigned long long)sum);
    absa_ucx_range bad1[2] = {{7, 1}, {0, 5}}, bad2[2] = {{0, 5}, {4, 2}}, bad3[2] = {{0, 5}, {5, 2}}, bad4[1] = {{3, 0}};
    CHECK(absa_ucx_check_ranges(bad1, 2, 50, &sum) != ABSA_OK, "unsorted ranges rejected");
    CHECK(absa_ucx_check_ranges(bad2, 2, 50, &sum) != ABSA_OK, "overlapping ranges rejected");
    CHECK(absa_ucx_check_ranges(bad3, 2, 50, &sum) != ABSA_OK, "touching (unmerged) ranges rejected");
    CHECK(absa_ucx_check_ranges(bad4, 1, 50, &sum) != ABSA_OK, "empty range rejected");

    uint8_t a[ABSA_UCX_MAX_SECRET] = "s3cret-value", b2[ABSA_UCX_MAX_SECRET] = "s3cret-value";
    CHECK(absa_ucx_secret_equal(a, 12, b2, 12), "equal secrets match");
    CHECK(!absa_ucx_secret_equal(a, 12, b2, 11), "different lengths differ");
    b2[11] = 'f';
    CHECK(!absa_ucx_secret_equal(a, 12, b2, 12), "last byte differs");
    b2[11] = 'e';
    b2[0] = 'S';
    CHECK(!absa_ucx_secret_equal(a, 12, b2, 12), "first byte differs");
}

/* ---- lease manager ---- */
static void test_lease_basic(void)
{
    absa_lease_mgr *m = NULL;
    absa_ucx_lease l[6];
    int adv;
    CHECK(absa_lease_mgr_create(10, 5, 2, &m) == ABSA_OK, "create");
    uint64_t perm[10];
    absa_permutation(5, 0, 10, perm);
    CHECK(!memcmp(perm, absa_lease_mgr_perm(m), sizeof perm), "epoch 0 permutation is absa_permutation(seed, 0)");
    CHECK(absa_lease_grant(m, 1, 4, &l[0]) == ABSA_LEASE_GRANTED && l[0].nranges == 1 && l[0].ranges[0].start == 0 &&
              l[0].count == 4, "first lease [0,4)");
    CHECK(absa_lease_grant(m, 2, 4, &l[1]) == ABSA_LEASE_GRANTED && l[1].ranges[0].start == 4, "second lease [4,8)");
    CHECK(absa_lease_grant(m, 1, 4, &l[2]) == ABSA_LEASE_GRANTED && l[2].ranges[0].start == 8 && l[2].count == 2,
          "last lease short: [8,10) (count %llu)", (unsigned long long)l[2].count);
    CHECK(absa_lease_grant(m, 2, 4, &l[3]) == ABSA_LEASE_EXHAUSTED, "exhausted while leases are out");
    CHECK(absa_lease_commit(m, 1, l[1].id, &adv) != ABSA_OK, "commit by a non-owner refused");
    CHECK(absa_lease_commit(m, 2, 12345, &adv) != ABSA_OK, "commit of an unknown lease refused");
    CHECK(absa_lease_commit(m, 2, l[1].id, &adv) == ABSA_OK && !adv, "commit [4,8)");
    CHECK(absa_lease_commit(m, 2, l[1].id, &adv) != ABSA_OK, "second commit of the same lease refused");
    CHECK(absa_lease_drop_owner(m, 1) == 2, "dropping owner 1 returns 2 leases");
    CHECK(absa_lease_mgr_free_count(m) == 6, "6 positions free again");
    CHECK(absa_lease_grant(m, 3, 10, &l[4]) == ABSA_LEASE_GRANTED && l[4].count == 6 && l[4].nranges == 2 &&
              l[4].ranges[0].start == 0 && l[4].ranges[0].count == 4 && l[4].ranges[1].start == 8,
          "re-issue in position order: [0,4)+[8,10)");
    CHECK(absa_lease_commit(m, 3, l[4].id, &adv) == ABSA_OK && adv, "the last commit completes epoch 0");
    CHECK(absa_lease_mgr_epoch(m) == 1 && absa_lease_mgr_committed(m) == 0, "now in epoch 1");
    absa_permutation(5, 1, 10, perm);
    CHECK(!memcmp(perm, absa_lease_mgr_perm(m), sizeof perm), "epoch 1 permutation is absa_permutation(seed, 1)");
    CHECK(absa_lease_grant(m, 3, 10, &l[5]) == ABSA_LEASE_GRANTED && l[5].count == 10, "whole epoch in one lease");
    CHECK(absa_lease_seek(m, 0, NULL, 0) == ABSA_EEXIST, "seek refused while a lease is out");
    CHECK(absa_lease_release(m, 3, l[5].id) == ABSA_OK, "release");
    CHECK(absa_lease_seek(m, 2, NULL, 0) != ABSA_OK, "seek past the epoch limit refused");
    absa_ucx_range rr[2] = {{0, 3}, {5, 5}};
    CHECK(absa_lease_seek(m, 1, rr, 2) == ABSA_OK && absa_lease_mgr_committed(m) == 8, "seek with 8 committed");
    CHECK(absa_lease_grant(m, 4, 10, &l[0]) == ABSA_LEASE_GRANTED && l[0].count == 2 && l[0].ranges[0].start == 3,
          "after seek the hole [3,5) is issued");
    CHECK(absa_lease_commit(m, 4, l[0].id, &adv) == ABSA_OK && adv && absa_lease_mgr_done(m), "epoch 1 done: limit reached");
    CHECK(absa_lease_grant(m, 4, 1, &l[1]) == ABSA_LEASE_DONE, "grant after the limit says DONE");
    absa_lease_mgr_free(m);
}

/* positional grants: exactly the range asked for; waits (EXHAUSTED) while leased or for a later
 * epoch; GONE for committed positions or a past epoch; skipped positions stay grantable */
static void test_lease_at(void)
{
    absa_lease_mgr *m = NULL;
    absa_ucx_lease a, b, c, d;
    int adv;
    absa_lease_mgr_create(10, 3, 3, &m);
    CHECK(absa_lease_grant_at(m, 1, 0, 6, 4, &a) == ABSA_LEASE_GRANTED && a.nranges == 1 && a.ranges[0].start == 6 &&
              a.count == 4, "positions [6,10) granted first");
    CHECK(absa_lease_mgr_free_count(m) == 6, "the skipped [0,6) stays free (%llu)", (unsigned long long)absa_lease_mgr_free_count(m));
    CHECK(absa_lease_grant_at(m, 2, 0, 5, 2, &b) == ABSA_LEASE_EXHAUSTED, "[5,7) waits: 6 is leased");
    CHECK(absa_lease_grant_at(m, 2, 1, 0, 2, &b) == ABSA_LEASE_EXHAUSTED, "epoch 1 waits for epoch 0");
    CHECK(absa_lease_grant_at(m, 2, 0, 2, 2, &b) == ABSA_LEASE_GRANTED && b.ranges[0].start == 2, "[2,4) from the middle of the gap");
    CHECK(absa_lease_grant(m, 3, 10, &c) == ABSA_LEASE_GRANTED && c.count == 4 && c.nranges == 2 && c.ranges[0].start == 0 &&
              c.ranges[0].count == 2 && c.ranges[1].start == 4 && c.ranges[1].count == 2,
          "a plain grant takes the rest of the gap: [0,2)+[4,6)");
    CHECK(absa_lease_commit(m, 1, a.id, &adv) == ABSA_OK && !adv, "commit [6,10)");
    CHECK(absa_lease_grant_at(m, 4, 0, 8, 1, &d) == ABSA_LEASE_GONE, "committed position 8: GONE");
    CHECK(absa_lease_grant_at(m, 4, 0, 9, 2, &d) == ABSA_LEASE_GONE, "range past the end: GONE");
    CHECK(absa_lease_release(m, 2, b.id) == ABSA_OK && absa_lease_grant_at(m, 4, 0, 3, 1, &d) == ABSA_LEASE_GRANTED,
          "a released position is granted again");
    CHECK(absa_lease_grant_at(m, 4, 0, 2, 1, &b) == ABSA_LEASE_GRANTED && absa_lease_mgr_free_count(m) == 0, "all leased");
    CHECK(absa_lease_commit(m, 3, c.id, &adv) == ABSA_OK && absa_lease_commit(m, 4, d.id, &adv) == ABSA_OK &&
              absa_lease_commit(m, 4, b.id, &adv) == ABSA_OK && adv && absa_lease_mgr_epoch(m) == 1,
          "epoch 0 complete");
    CHECK(absa_lease_grant_at(m, 4, 0, 0, 1, &d) == ABSA_LEASE_GONE, "epoch 0 is over: GONE");
    CHECK(absa_lease_grant_at(m, 4, 3, 0, 1, &d) == ABSA_LEASE_DONE, "epoch 3 is past the limit: DONE");
    absa_lease_mgr_free(m);
}

static void test_lease_range_limit(void)
{
    absa_lease_mgr *m = NULL;
    absa_ucx_lease *l = calloc(200, sizeof *l), big;
    int adv;
    absa_lease_mgr_create(400, 1, 0, &m);
    for (int i = 0; i < 200; i++) absa_lease_grant(m, 1, 2, &l[i]);
    /* commit every other lease, release the rest: 100 separate holes */
    for (int i = 0; i < 200; i++) {
        if (i % 2)
            absa_lease_commit(m, 1, l[i].id, &adv);
        else
            absa_lease_release(m, 1, l[i].id);
    }
    CHECK(absa_lease_grant(m, 2, 400, &big) == ABSA_LEASE_GRANTED && big.nranges == ABSA_UCX_MAX_RANGES &&
              big.count == 2 * ABSA_UCX_MAX_RANGES,
          "fragmented re-issue stops at %d ranges (got %u ranges, %llu samples)", ABSA_UCX_MAX_RANGES, big.nranges,
          (unsigned long long)big.count);
    absa_ucx_range *st;
    size_t nr;
    absa_lease_state(m, &st, &nr);
    CHECK(nr == 100 && st[0].start == 2 && st[0].count == 2, "state lists the 100 committed pairs (%zu)", nr);
    free(st);
    free(l);
    absa_lease_mgr_free(m);
}

/* random schedule with crashes: every position committed exactly once per epoch */
static void test_lease_random(void)
{
    enum { NPOS = 503, OWNERS = 5, EPOCHS = 20, MAXL = 4096 };
    absa_lease_mgr *m = NULL;
    absa_lease_mgr_create(NPOS, 99, EPOCHS, &m);
    uint32_t *hits = calloc((size_t)EPOCHS * NPOS, sizeof *hits);
    uint8_t *held = calloc(NPOS, 1);
    absa_ucx_lease *ls = calloc(MAXL, sizeof *ls);
    size_t nl = 0;
    uint64_t rng = 12345, steps = 0, drops = 0, seeks = 0;
    int bad = 0;
    uint64_t *perm = malloc(NPOS * sizeof *perm), ats = 0;
    uint8_t *done = calloc(NPOS, 1); /* the test's own record of the epoch's committed positions */
    while (!absa_lease_mgr_done(m) && steps < 200000) {
        steps++;
        uint64_t op = absa_test_next(&rng) % 100, owner = 1 + absa_test_next(&rng) % OWNERS;
        if (op < 20 && nl < MAXL) { /* positional: the answer follows from held/done alone */
            absa_ucx_lease l;
            uint64_t n = 1 + absa_test_next(&rng) % 16, p0 = absa_test_next(&rng) % NPOS, ep = absa_lease_mgr_epoch(m);
            uint64_t want_ep = ep + (absa_test_next(&rng) % 8 == 0);
            int any_done = 0, any_held = 0;
            for (uint64_t p = p0; p < p0 + n && p < NPOS; p++) any_done |= done[p], any_held |= held[p];
            absa_lease_result r = absa_lease_grant_at(m, owner, want_ep, p0, n, &l);
            absa_lease_result want = want_ep >= EPOCHS ? ABSA_LEASE_DONE
                                     : p0 + n > NPOS ? ABSA_LEASE_GONE
                                     : want_ep > ep ? ABSA_LEASE_EXHAUSTED
                                     : any_done ? ABSA_LEASE_GONE
                                     : any_held ? ABSA_LEASE_EXHAUSTED : ABSA_LEASE_GRANTED;
            bad += r != want;
            if (r == ABSA_LEASE_GRANTED) {
                bad += l.count != n || l.nranges != 1 || l.ranges[0].start != p0 || l.epoch != ep;
                for (uint64_t p = p0; p < p0 + n; p++) held[p] = 1;
                ls[nl++] = l;
                ats++;
            }
        } else if (op < 45 && nl < MAXL) {
            absa_ucx_lease l;
            uint64_t n = 1 + absa_test_next(&rng) % 16;
            if (absa_lease_grant(m, owner, n, &l) == ABSA_LEASE_GRANTED) {
                bad += l.count > n || l.count == 0 || l.epoch != absa_lease_mgr_epoch(m);
                for (uint32_t r = 0; r < l.nranges; r++)
                    for (uint64_t p = l.ranges[r].start; p < l.ranges[r].start + l.ranges[r].count; p++) bad += held[p]++ != 0;
                ls[nl++] = l;
            }
        } else if (op < 85 && nl) {
            size_t i = absa_test_next(&rng) % nl;
            absa_ucx_lease l = ls[i];
            ls[i] = ls[--nl];
            int release = op >= 78, adv = 0;
            uint64_t ep = absa_lease_mgr_epoch(m);
            memcpy(perm, absa_lease_mgr_perm(m), NPOS * sizeof *perm);
            absa_status st = release ? absa_lease_release(m, l.owner, l.id) : absa_lease_commit(m, l.owner, l.id, &adv);
            bad += st != ABSA_OK;
            for (uint32_t r = 0; r < l.nranges; r++)
                for (uint64_t p = l.ranges[r].start; p < l.ranges[r].start + l.ranges[r].count; p++) {
                    held[p] = 0;
                    if (!release) hits[ep * NPOS + perm[p]]++, done[p] = 1;
                }
            if (adv) memset(held, 0, NPOS), memset(done, 0, NPOS);
        } else if (op < 88) { /* crash of an owner */
            size_t k = 0;
            for (size_t i = 0; i < nl; i++) {
                if (ls[i].owner == owner) {
                    for (uint32_t r = 0; r < ls[i].nranges; r++)
                        for (uint64_t p = ls[i].ranges[r].start; p < ls[i].ranges[r].start + ls[i].ranges[r].count; p++) held[p] = 0;
                    k++;
                } else {
                    ls[i - k] = ls[i];
                }
            }
            nl -= k;
            bad += absa_lease_drop_owner(m, owner) != k;
            drops += k > 0;
        } else if (op < 89) { /* give everything back, checkpoint, resume into a fresh manager */
            for (size_t i = 0; i < nl; i++) bad += absa_lease_release(m, ls[i].owner, ls[i].id) != ABSA_OK;
            nl = 0;
            memset(held, 0, NPOS);
            absa_ucx_range *st;
            size_t nr;
            absa_lease_state(m, &st, &nr);
            absa_lease_mgr *m2 = NULL;
            absa_lease_mgr_create(NPOS, 99, EPOCHS, &m2);
            bad += absa_lease_seek(m2, absa_lease_mgr_epoch(m), st, nr) != ABSA_OK;
            bad += absa_lease_mgr_committed(m2) != absa_lease_mgr_committed(m) ||
                   absa_lease_mgr_free_count(m2) != absa_lease_mgr_free_count(m) ||
                   memcmp(absa_lease_mgr_perm(m2), absa_lease_mgr_perm(m), NPOS * sizeof *perm);
            absa_lease_mgr_free(m);
            m = m2;
            free(st);
            seeks++;
        }
    }
    int exact = 1;
    for (size_t i = 0; i < (size_t)EPOCHS * NPOS; i++) exact &= hits[i] == 1;
    printf("  random schedule: %llu steps, %llu positional grants, %llu crashes, %llu resumes\n", (unsigned long long)steps,
           (unsigned long long)ats, (unsigned long long)drops, (unsigned long long)seeks);
    CHECK(ats > 100, "schedule exercised positional grants (%llu)", (unsigned long long)ats);
    CHECK(absa_lease_mgr_done(m), "all %d epochs completed (epoch %llu)", EPOCHS, (unsigned long long)absa_lease_mgr_epoch(m));
    CHECK(bad == 0, "%d inconsistencies (double lease, bad count, failed op)", bad);
    CHECK(exact, "every sample committed exactly once in each of %d epochs", EPOCHS);
    CHECK(drops > 10 && seeks > 2, "schedule exercised crashes (%llu) and resumes (%llu)", (unsigned long long)drops,
          (unsigned long long)seeks);
    free(hits);
    free(held);
    free(done);
    free(ls);
    free(perm);
    absa_lease_mgr_free(m);
}

int main(void)
{
    test_roundtrip();
    test_rejects();
    test_validators();
    test_lease_basic();
    test_lease_at();
    test_lease_range_limit();
    test_lease_random();
    return absa_test_finish("test_ucx_proto");
}
