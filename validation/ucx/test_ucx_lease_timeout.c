/* test_ucx_lease_timeout.c — the lease timeout of `absa serve`'s lease manager and the audit
 * log's lineage across resumes, without UCX (a fake clock drives the manager):
 *   - a silent owner's leases are revoked after the timeout (strictly more), a touched owner's
 *     are not; revoked positions are re-issued first (plain and positional grants); the late
 *     commit of a revoked lease is refused and recognised once (forget_revoked), not counted;
 *     dropping an owner forgets its revoked leases;
 *   - a random schedule of grants, commits, releases, clock steps, touches and expiries against
 *     the test's own record of when each lease's owner was last heard from: exactly the silent
 *     leases are revoked, and every position is committed exactly once in every epoch;
 *   - the audit (src/stream/ucx_audit.c): a seek back to a checkpoint writes a rewind line for exactly
 *     the commits made after it, their second commits are marked "redo", and the lineage
 *     (commits minus rewinds) holds each sample once per epoch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "h5reader.h"
#include "ucx_audit.h"
#include "ucx_lease.h"

typedef struct seen_ids {
    uint64_t id[64], owner[64];
    size_t n;
} seen_ids;

static void record(void *arg, const absa_ucx_lease *l)
{
    seen_ids *s = arg;
    if (s->n < 64) s->id[s->n] = l->id, s->owner[s->n++] = l->owner;
}

static void test_timeout_basic(void)
{
    absa_lease_mgr *m = NULL;
    absa_ucx_lease a, b, c, d;
    seen_ids rv = {0};
    int adv = 0;
    CHECK(absa_lease_mgr_create(10, 1, 2, &m) == ABSA_OK, "create");
    absa_lease_set_clock(m, 100.0);
    CHECK(absa_lease_grant(m, 1, 4, &a) == ABSA_LEASE_GRANTED && a.ranges[0].start == 0, "A: [0,4) at t=100");
    CHECK(absa_lease_grant(m, 2, 4, &b) == ABSA_LEASE_GRANTED && b.ranges[0].start == 4, "B: [4,8) at t=100");
    absa_lease_set_clock(m, 105.0);
    absa_lease_touch(m, 2);
    absa_lease_set_clock(m, 106.0);
    CHECK(absa_lease_expire(m, 6.0, record, &rv) == 0, "nothing revoked after exactly the timeout (6 s)");
    absa_lease_set_clock(m, 106.5);
    CHECK(absa_lease_expire(m, 6.0, record, &rv) == 1 && rv.n == 1 && rv.id[0] == a.id && rv.owner[0] == 1,
          "A silent 6.5 s > 6 s: its lease is revoked; B (heard at 105) keeps its");
    CHECK(absa_lease_find(m, 1, a.id) == NULL && absa_lease_find(m, 2, b.id) != NULL, "A's lease is gone, B's is held");
    CHECK(absa_lease_revoked_count(m, 1) == 1 && absa_lease_revoked_count(m, 2) == 0, "one revoked lease of A remembered");
    CHECK(absa_lease_mgr_free_count(m) == 6, "positions [0,4) are free again (free %llu)", (unsigned long long)absa_lease_mgr_free_count(m));
    CHECK(absa_lease_grant(m, 2, 10, &c) == ABSA_LEASE_GRANTED && c.count == 6 && c.nranges == 2 && c.ranges[0].start == 0 &&
              c.ranges[0].count == 4 && c.ranges[1].start == 8,
          "B gets the revoked [0,4) first, then [8,10)");
    CHECK(absa_lease_commit(m, 1, a.id, &adv) == ABSA_EINVAL, "A's late commit is refused");
    CHECK(absa_lease_forget_revoked(m, 2, a.id) == 0, "B cannot claim A's revoked lease");
    CHECK(absa_lease_forget_revoked(m, 1, a.id) == 1 && absa_lease_forget_revoked(m, 1, a.id) == 0,
          "A's revoked lease is recognised once");
    CHECK(absa_lease_commit(m, 2, b.id, &adv) == ABSA_OK && !adv && absa_lease_commit(m, 2, c.id, &adv) == ABSA_OK && adv,
          "B commits all 10: epoch 0 complete");
    CHECK(absa_lease_mgr_epoch(m) == 1, "epoch 1");

    /* touch refreshes every lease of the owner; positional grants are revoked alike */
    absa_lease_set_clock(m, 200.0);
    CHECK(absa_lease_grant_at(m, 3, 1, 2, 3, &d) == ABSA_LEASE_GRANTED, "C: positions [2,5) of epoch 1 at t=200");
    absa_lease_set_clock(m, 205.0);
    absa_lease_touch(m, 3);
    absa_lease_set_clock(m, 210.0);
    CHECK(absa_lease_expire(m, 6.0, NULL, NULL) == 0, "C touched at 205: kept at 210");
    absa_lease_set_clock(m, 211.5);
    CHECK(absa_lease_expire(m, 6.0, NULL, NULL) == 1, "C silent 6.5 s: revoked");
    CHECK(absa_lease_grant_at(m, 4, 1, 2, 3, &a) == ABSA_LEASE_GRANTED, "D gets exactly positions [2,5) after the revocation");
    absa_lease_set_clock(m, 100.0); /* the clock never goes back */
    CHECK(absa_lease_expire(m, 11.0, NULL, NULL) == 0, "clock kept at 211.5: D's lease (granted then) is not revoked");
    CHECK(absa_lease_drop_owner(m, 3) == 0 && absa_lease_revoked_count(m, 3) == 0, "dropping C forgets its revoked lease");
    absa_lease_mgr_free(m);
}

/* random schedule against the test's own record of each lease's last-heard time */
static void test_timeout_random(void)
{
    enum { NPOS = 211, OWNERS = 4, EPOCHS = 12, MAXL = 512 };
    const double timeout = 5.0;
    absa_lease_mgr *m = NULL;
    absa_lease_mgr_create(NPOS, 7, EPOCHS, &m);
    uint32_t *hits = calloc((size_t)EPOCHS * NPOS, sizeof *hits);
    absa_ucx_lease *ls = calloc(MAXL, sizeof *ls);
    double *heard = calloc(MAXL, sizeof *heard), now = 0;
    uint64_t *perm = malloc(NPOS * sizeof *perm), rng = 4242, steps = 0, revoked = 0, late = 0;
    size_t nl = 0;
    int bad = 0;
    while (!absa_lease_mgr_done(m) && steps < 100000) {
        steps++;
        uint64_t op = absa_test_next(&rng) % 100, owner = 1 + absa_test_next(&rng) % OWNERS;
        if (op < 35 && nl < MAXL) {
            absa_ucx_lease l;
            if (absa_lease_grant(m, owner, 1 + absa_test_next(&rng) % 9, &l) == ABSA_LEASE_GRANTED) {
                bad += l.seen != now;
                heard[nl] = now;
                ls[nl++] = l;
            }
        } else if (op < 75 && nl) {
            size_t i = absa_test_next(&rng) % nl;
            absa_ucx_lease l = ls[i];
            ls[i] = ls[nl - 1], heard[i] = heard[nl - 1], nl--;
            int adv = 0, release = op >= 68;
            uint64_t ep = absa_lease_mgr_epoch(m);
            memcpy(perm, absa_lease_mgr_perm(m), sizeof *perm * NPOS);
            absa_status st = release ? absa_lease_release(m, l.owner, l.id) : absa_lease_commit(m, l.owner, l.id, &adv);
            bad += st != ABSA_OK;
            if (!release && st == ABSA_OK)
                for (uint32_t r = 0; r < l.nranges; r++)
                    for (uint64_t p = l.ranges[r].start; p < l.ranges[r].start + l.ranges[r].count; p++) hits[ep * NPOS + perm[p]]++;
        } else if (op < 88) { /* time passes; an owner speaks */
            now += (double)(absa_test_next(&rng) % 1000) / 250.0;
            absa_lease_set_clock(m, now);
            absa_lease_touch(m, owner);
            for (size_t i = 0; i < nl; i++)
                if (ls[i].owner == owner) heard[i] = now;
        } else { /* expiry sweep: exactly the leases silent for more than the timeout go */
            seen_ids rv = {0};
            size_t want = 0;
            for (size_t i = 0; i < nl; i++) want += now - heard[i] > timeout;
            size_t k = absa_lease_expire(m, timeout, record, &rv);
            bad += k != want || rv.n != k;
            for (size_t j = 0; j < rv.n; j++) {
                size_t i = 0;
                while (i < nl && ls[i].id != rv.id[j]) i++;
                if (i == nl || now - heard[i] <= timeout) {
                    bad++;
                    continue;
                }
                int adv = 0; /* the owner's late commit: refused and recognised, never counted */
                bad += absa_lease_commit(m, ls[i].owner, ls[i].id, &adv) != ABSA_EINVAL ||
                       absa_lease_forget_revoked(m, ls[i].owner, ls[i].id) != 1;
                ls[i] = ls[nl - 1], heard[i] = heard[nl - 1], nl--;
                late++;
            }
            revoked += k;
        }
    }
    int exact = 1;
    for (size_t i = 0; i < (size_t)EPOCHS * NPOS; i++) exact &= hits[i] == 1;
    printf("  timeout schedule: %llu steps, %llu leases revoked, %llu late commits refused\n", (unsigned long long)steps,
           (unsigned long long)revoked, (unsigned long long)late);
    CHECK(absa_lease_mgr_done(m), "all %d epochs completed", EPOCHS);
    CHECK(bad == 0, "%d inconsistencies (wrong leases revoked, late commit accepted, failed op)", bad);
    CHECK(revoked > 20, "schedule exercised revocations (%llu)", (unsigned long long)revoked);
    CHECK(exact, "every sample committed exactly once in each of %d epochs despite revocations", EPOCHS);
    free(hits);
    free(ls);
    free(heard);
    free(perm);
    absa_lease_mgr_free(m);
}

/* the audit's lineage: commit epoch 1 and half of epoch 2, seek back to 3 positions of epoch 1 */
static void test_audit_lineage(const char *dir)
{
    enum { N = 8 };
    char path[600];
    snprintf(path, sizeof path, "%s/ucx_audit_unit_%ld.txt", dir, (long)getpid());
    uint64_t p1[N], p2[N];
    absa_permutation(3, 1, N, p1);
    absa_permutation(3, 2, N, p2);
    absa_ucx_audit *a = NULL;
    CHECK(absa_ucx_audit_open(path, N, 3, &a) == ABSA_OK, "audit open");
    absa_ucx_range ck = {0, 3}; /* the checkpoint: positions [0,3) of epoch 1 */
    CHECK(absa_ucx_audit_seek(a, 9, 1, NULL, 0) == 0, "a seek on a fresh server rewinds nothing");
    absa_ucx_lease l = {.epoch = 1, .nranges = 1, .count = 3, .ranges = {{0, 3}}};
    absa_ucx_audit_commit(a, &l, p1); /* the checkpoint is taken after this one */
    l = (absa_ucx_lease){.epoch = 1, .nranges = 1, .count = 5, .ranges = {{3, 5}}};
    absa_ucx_audit_commit(a, &l, p1);
    l = (absa_ucx_lease){.epoch = 2, .nranges = 1, .count = 4, .ranges = {{0, 4}}};
    absa_ucx_audit_commit(a, &l, p2);
    CHECK(absa_ucx_audit_seek(a, 9, 1, &ck, 1) == 9, "seek back to the checkpoint rewinds 5 + 4 commits");
    l = (absa_ucx_lease){.epoch = 1, .nranges = 1, .count = 5, .ranges = {{3, 5}}};
    absa_ucx_audit_commit(a, &l, p1);
    l = (absa_ucx_lease){.epoch = 2, .nranges = 1, .count = 8, .ranges = {{0, 8}}};
    absa_ucx_audit_commit(a, &l, p2);
    CHECK(absa_ucx_audit_close(a) == ABSA_OK, "audit close");
    /* parse it independently */
    int live[3][N] = {{0}}, rew[3][N] = {{0}}, redo[3][N] = {{0}}, other = 0;
    FILE *f = fopen(path, "r");
    char line[128], w[16];
    unsigned long long e, id;
    while (f && fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (sscanf(line, "rewind %llu %llu", &e, &id) == 2 && e < 3 && id < N) {
            live[e][id]--, rew[e][id]++;
        } else {
            int k = sscanf(line, "%llu %llu %15s", &e, &id, w);
            if (k >= 2 && e < 3 && id < N && (k == 2 || !strcmp(w, "redo"))) {
                live[e][id]++;
                if (k == 3) redo[e][id]++;
            } else {
                other++;
            }
        }
    }
    if (f) fclose(f);
    int once = 1, rew_ok = 1, redo_ok = 1;
    for (int i = 0; i < N; i++) {
        once &= live[1][i] == 1 && live[2][i] == 1;
        /* rewound and re-delivered: epoch 1 positions 3..7 and epoch 2 positions 0..3 */
        int in1 = 0, in2 = 0;
        for (int p = 3; p < 8; p++) in1 |= p1[p] == (uint64_t)i;
        for (int p = 0; p < 4; p++) in2 |= p2[p] == (uint64_t)i;
        rew_ok &= rew[1][i] == in1 && rew[2][i] == in2;
        redo_ok &= redo[1][i] == in1 && redo[2][i] == in2;
    }
    CHECK(other == 0, "%d unparsable lines", other);
    CHECK(once, "lineage: every sample exactly once in epochs 1 and 2");
    CHECK(rew_ok, "rewind lines: exactly the commits after the checkpoint");
    CHECK(redo_ok, "redo lines: exactly the rewound samples, committed again");
    if (!absa_test_st.failures) unlink(path);
}

int main(int argc, char **argv)
{
    test_timeout_basic();
    test_timeout_random();
    test_audit_lineage(argc > 1 ? argv[1] : ".");
    return absa_test_finish("test_ucx_lease_timeout");
}
