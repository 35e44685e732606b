/* ucx_fuzz.c — libFuzzer target for the `absa serve` wire protocol (src/stream/ucx_proto.c) and the
 * lease bookkeeping (src/stream/ucx_lease.c). Byte 0 selects the mode (value mod 3):
 *   0  server side: bytes 2.. are split at byte 1 into an AM header and payload, decoded as a
 *      client message; HELLO secrets are compared, SEEK payloads validated and applied to a
 *      lease manager (what the server does with them);
 *   1  client side: the same split decoded as a server message; BATCH payloads are checked
 *      against metadata taken from the header, STATE_REPLY ranges validated;
 *   2  a script of lease operations (grant / commit / release / drop owner / state+seek /
 *      positional grant) on a
 *      small manager, with an independent model asserting that no position is ever leased twice
 *      and every position is committed exactly once per epoch.
 * Any input may be rejected; none may crash, leak, overflow or break the invariants (abort).
 * Built and run by ucx_run_fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base_sys.h"
#include "ucx_lease.h"
#include "ucx_proto.h"

/* h5reader.c (linked for the lease manager's permutation) advises huge pages; base_sys.c, which
 * defines it, needs OpenMP and BLAS, so the fuzz target has this no-op instead (advice only).
 * fuzz.libfuzzer_smoke builds this target in CTest, so a missing symbol shows at once. */
void absa_advise_huge(void *p, size_t bytes)
{
    (void)p, (void)bytes;
}

static void *absa_fz_copy(const uint8_t *p, size_t n)
{
    void *q = malloc(n ? n : 1); /* malloc'd: 16-byte aligned like the real receive buffers */
    if (n) memcpy(q, p, n);
    return q;
}

static void absa_fz_message(const uint8_t *d, size_t n, int server_side)
{
    if (n < 1) return;
    size_t rest = n - 1, cut = (size_t)d[0] * rest / 255;
    const uint8_t *hdr = d + 1, *pay = d + 1 + cut;
    size_t plen = rest - cut;
    absa_ucx_msg m;
    if (absa_ucx_decode(hdr, cut, plen, &m) != ABSA_OK) return;
    if (m.payload_len != plen) abort(); /* the decoder must have enforced it */
    void *p = absa_fz_copy(pay, plen);
    uint64_t sum;
    if (server_side) {
        static const uint8_t secret[ABSA_UCX_MAX_SECRET] = "fuzz-secret";
        if (m.type == ABSA_UCX_HELLO) {
            int eq = absa_ucx_secret_equal(m.secret, m.secret_len, secret, 11);
            if (eq != (m.secret_len == 11 && !memcmp(m.secret, secret, 11))) abort();
        }
        if (m.type == ABSA_UCX_SEEK) {
            absa_lease_mgr *lm = NULL;
            if (absa_lease_mgr_create(1000, 1, 5, &lm) != ABSA_OK) abort();
            absa_status st = absa_lease_seek(lm, m.epoch, p, m.nranges);
            if (st == ABSA_OK && absa_ucx_check_ranges(p, m.nranges, 1000, &sum) != ABSA_OK) abort();
            absa_lease_mgr_free(lm);
        }
    } else {
        if (m.type == ABSA_UCX_BATCH) {
            uint64_t nt = 1 + (m.first % 5000);
            absa_ucx_check_batch(&m, p, nt, (int)m.C, (int)m.H, (int)m.W, 1 + (int)(m.lease % 20), m.count);
        }
        if (m.type == ABSA_UCX_STATE_REPLY) absa_ucx_check_ranges(p, m.nranges, m.count ? m.count : 1, &sum);
        /* re-encoding a decoded message reproduces it */
        uint8_t again[ABSA_UCX_MAX_HLEN];
        size_t h = absa_ucx_encode(&m, again, sizeof again);
        if (h != cut || memcmp(again, hdr, h)) abort();
    }
    free(p);
}

static void absa_fz_leases(const uint8_t *d, size_t n)
{
    if (n < 2) return;
    uint64_t npos = 1 + d[0] % 64, epochs = 1 + d[1] % 4;
    absa_lease_mgr *m = NULL;
    if (absa_lease_mgr_create(npos, d[1], epochs, &m) != ABSA_OK) abort();
    uint8_t held[64] = {0};
    uint32_t hits[4][64];
    memset(hits, 0, sizeof hits);
    absa_ucx_lease ls[256];
    size_t nl = 0;
    for (size_t i = 2; i + 1 < n && !absa_lease_mgr_done(m); i += 2) {
        uint8_t op = d[i] % 6, arg = d[i + 1];
        uint64_t owner = 1 + arg % 4;
        if (op == 0 && nl < 256) {
            absa_ucx_lease l;
            if (absa_lease_grant(m, owner, 1 + arg % 9, &l) == ABSA_LEASE_GRANTED) {
                for (uint32_t r = 0; r < l.nranges; r++)
                    for (uint64_t p = l.ranges[r].start; p < l.ranges[r].start + l.ranges[r].count; p++)
                        if (held[p]++) abort();
                ls[nl++] = l;
            }
        } else if ((op == 1 || op == 2) && nl) {
            size_t k = arg % nl;
            absa_ucx_lease l = ls[k];
            ls[k] = ls[--nl];
            uint64_t ep = absa_lease_mgr_epoch(m);
            const uint64_t *perm = absa_lease_mgr_perm(m);
            for (uint32_t r = 0; r < l.nranges; r++)
                for (uint64_t p = l.ranges[r].start; p < l.ranges[r].start + l.ranges[r].count; p++) {
                    held[p] = 0;
                    if (op == 1) hits[ep][perm[p]]++;
                }
            int adv = 0;
            if ((op == 1 ? absa_lease_commit(m, l.owner, l.id, &adv) : absa_lease_release(m, l.owner, l.id)) != ABSA_OK)
                abort();
            if (absa_lease_commit(m, l.owner, l.id, &adv) == ABSA_OK) abort(); /* never twice */
        } else if (op == 3) {
            size_t k = 0;
            for (size_t j = 0; j < nl; j++) {
                if (ls[j].owner == owner) {
                    for (uint32_t r = 0; r < ls[j].nranges; r++)
                        for (uint64_t p = ls[j].ranges[r].start; p < ls[j].ranges[r].start + ls[j].ranges[r].count; p++) held[p] = 0;
                    k++;
                } else {
                    ls[j - k] = ls[j];
                }
            }
            nl -= k;
            if (absa_lease_drop_owner(m, owner) != k) abort();
        } else if (op == 5 && nl < 256) { /* positional: exact range, only when free and uncommitted */
            absa_ucx_lease l;
            uint64_t ep = absa_lease_mgr_epoch(m), want_ep = ep + (arg >> 7), p0 = arg % npos, k = 1 + (arg >> 3) % 9;
            const uint64_t *perm = absa_lease_mgr_perm(m);
            int any_held = 0, any_done = 0;
            for (uint64_t p = p0; p < p0 + k && p < npos; p++) any_held |= held[p], any_done |= hits[ep][perm[p]] > 0;
            absa_lease_result r = absa_lease_grant_at(m, owner, want_ep, p0, k, &l);
            if (r == ABSA_LEASE_GRANTED) {
                if (want_ep != ep || p0 + k > npos || any_held || any_done || l.nranges != 1 || l.count != k ||
                    l.ranges[0].start != p0)
                    abort();
                for (uint64_t p = p0; p < p0 + k; p++) held[p] = 1;
                ls[nl++] = l;
            } else if (r == ABSA_LEASE_EXHAUSTED ? want_ep == ep && !any_held
                       : r == ABSA_LEASE_GONE ? want_ep == ep && p0 + k <= npos && !any_done
                                               : want_ep < epochs) {
                abort(); /* refused without a reason */
            }
        } else if (op == 4 && nl == 0) {
            absa_ucx_range *st = NULL;
            size_t nr = 0;
            if (absa_lease_state(m, &st, &nr) != ABSA_OK) abort();
            uint64_t c0 = absa_lease_mgr_committed(m), f0 = absa_lease_mgr_free_count(m);
            if (absa_lease_seek(m, absa_lease_mgr_epoch(m), st, nr) != ABSA_OK) abort();
            if (absa_lease_mgr_committed(m) != c0 || absa_lease_mgr_free_count(m) != f0) abort();
            free(st);
        }
    }
    /* completed epochs: exactly once; the current one: at most once */
    uint64_t done_epochs = absa_lease_mgr_epoch(m);
    for (uint64_t e = 0; e < epochs && e <= done_epochs; e++)
        for (uint64_t i = 0; i < npos; i++)
            if (e < done_epochs ? hits[e][i] != 1 : hits[e][i] > 1) abort();
    absa_lease_mgr_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0: absa_fz_message(data + 1, size - 1, 1); break;
    case 1: absa_fz_message(data + 1, size - 1, 0); break;
    default: absa_fz_leases(data + 1, size - 1); break;
    }
    return 0;
}
