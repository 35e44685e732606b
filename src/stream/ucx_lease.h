/* ucx_lease.h — the server's bookkeeping of one pass over the data per epoch: the epoch
 * permutation, the global cursor, leases (contiguous ranges of permutation positions handed to a
 * client) and their commits. Pure logic, no UCX: unit-tested and fuzzed on its own.
 *
 * Every position of an epoch is FREE (never issued, or given back), LEASED (held by exactly one
 * lease) or COMMITTED. A grant takes positions first from the queue of given-back ranges (in the
 * order they came back; a dropped owner's ranges sorted by position) and then from the cursor,
 * so a lease is at most ABSA_UCX_MAX_RANGES ranges; a positional grant takes exactly the range
 * asked for, or waits while any of it is leased. Committing the last position of an epoch
 * starts the next one (new permutation from (seed, epoch)); at the epoch limit the manager is
 * done. Hence every position — and every sample — is committed exactly once per epoch, whatever
 * the order of grants, commits, releases, drops and revocations. Owners are opaque 64-bit ids.
 *
 * Lease timeout: the manager has a clock (seconds, set by the caller: the server's monotonic
 * time, a fake one in tests). A lease remembers when its owner was last heard from (its grant,
 * then every absa_lease_touch of the owner); absa_lease_expire revokes the leases whose owner
 * has been silent for longer than the timeout: their positions go back to the queue as for a
 * dropped owner, and (owner, id) is remembered as revoked, so that the owner's late commit or
 * release is recognised (absa_lease_forget_revoked) and refused rather than counted. */
#ifndef ABSA_UCX_LEASE_H
#define ABSA_UCX_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "ucx_proto.h"

typedef struct absa_lease_mgr absa_lease_mgr;

typedef struct absa_ucx_lease {
    uint64_t id, owner, epoch, count;
    double seen; /* the manager's clock when the owner was last heard from (grant, touch) */
    uint32_t nranges;
    absa_ucx_range ranges[ABSA_UCX_MAX_RANGES];
} absa_ucx_lease;

typedef enum absa_lease_result {
    ABSA_LEASE_GRANTED = 0,
    ABSA_LEASE_EXHAUSTED, /* nothing free in this epoch now (positions are leased, not committed) */
    ABSA_LEASE_DONE,      /* the epoch limit is reached */
    ABSA_LEASE_GONE       /* grant_at: the positions' epoch is over, or one is committed or out of range */
} absa_lease_result;

/* count samples, permutation seed, epochs = number of epochs to serve (0 = unlimited). */
absa_status absa_lease_mgr_create(uint64_t count, uint64_t seed, uint64_t epochs, absa_lease_mgr **out);
void absa_lease_mgr_free(absa_lease_mgr *m);

uint64_t absa_lease_mgr_count(const absa_lease_mgr *m);
uint64_t absa_lease_mgr_epoch(const absa_lease_mgr *m);
uint64_t absa_lease_mgr_epochs(const absa_lease_mgr *m);
int absa_lease_mgr_done(const absa_lease_mgr *m);
uint64_t absa_lease_mgr_committed(const absa_lease_mgr *m);   /* in the current epoch */
uint64_t absa_lease_mgr_free_count(const absa_lease_mgr *m);  /* grantable now */
size_t absa_lease_mgr_outstanding(const absa_lease_mgr *m);   /* leases not committed */
const uint64_t *absa_lease_mgr_perm(const absa_lease_mgr *m); /* current epoch's permutation */

/* Grant up to n (>= 1) positions to owner. out is filled on GRANTED (count may be < n: end of
 * the epoch, or the range limit while re-issuing given-back ranges). */
absa_lease_result absa_lease_grant(absa_lease_mgr *m, uint64_t owner, uint64_t n, absa_ucx_lease *out);
/* Positional grant (deterministic multi-rank batches): exactly positions [start, start+n) of
 * `epoch`, as one range. EXHAUSTED: not now (a later epoch than the current one, or a position is
 * leased: retry after commits and releases); DONE: epoch is at or past the epoch limit; GONE: the
 * epoch is over, or a position is committed or outside [0, count). Positions it skips stay free
 * (plain grants take them from the queue). */
absa_lease_result absa_lease_grant_at(absa_lease_mgr *m, uint64_t owner, uint64_t epoch, uint64_t start, uint64_t n,
                                      absa_ucx_lease *out);
/* The lease with this id if it is outstanding and belongs to owner, else NULL. */
const absa_ucx_lease *absa_lease_find(const absa_lease_mgr *m, uint64_t owner, uint64_t id);
/* Commit: ABSA_EINVAL if the lease is unknown or not owner's. *advanced = 1 when it completed
 * the epoch (the manager then is in the next epoch, or done). */
absa_status absa_lease_commit(absa_lease_mgr *m, uint64_t owner, uint64_t id, int *advanced);
/* Give a lease back uncommitted (its positions are re-issued first). */
absa_status absa_lease_release(absa_lease_mgr *m, uint64_t owner, uint64_t id);
/* Give back every lease of owner (and forget its revoked ones); returns how many. */
size_t absa_lease_drop_owner(absa_lease_mgr *m, uint64_t owner);

/* Lease timeout. Set the manager's clock (seconds; never goes back); grants stamp it. */
void absa_lease_set_clock(absa_lease_mgr *m, double now);
/* owner was heard from: its leases' silence restarts at the clock */
void absa_lease_touch(absa_lease_mgr *m, uint64_t owner);
/* Revoke every lease not touched for more than timeout (> 0) seconds: its positions go back to
 * the queue (sorted by position, re-issued first) and (owner, id) is remembered as revoked.
 * fn(arg, lease), if given, sees each revoked lease before it goes. Returns how many. */
size_t absa_lease_expire(absa_lease_mgr *m, double timeout, void (*fn)(void *arg, const absa_ucx_lease *l), void *arg);
/* 1 if owner's lease id was revoked (and not yet reported): forgets it. A commit or release of
 * it fails with ABSA_EINVAL like that of any lease not held; call this to tell the two apart. */
int absa_lease_forget_revoked(absa_lease_mgr *m, uint64_t owner, uint64_t id);
size_t absa_lease_revoked_count(const absa_lease_mgr *m, uint64_t owner); /* revoked, not yet reported */

/* Checkpoint state: the committed positions of the current epoch as merged, sorted ranges
 * (malloc'd, free with free(); *ranges = NULL when there are none). */
absa_status absa_lease_state(const absa_lease_mgr *m, absa_ucx_range **ranges, size_t *nranges);
/* Resume: only when no lease is outstanding. Sets the epoch (< the limit if any) and marks the
 * given ranges (sorted, disjoint, validated) committed; starts the next epoch if that completes
 * it. ABSA_EEXIST when leases are outstanding, ABSA_EINVAL for a bad epoch or bad ranges. */
absa_status absa_lease_seek(absa_lease_mgr *m, uint64_t epoch, const absa_ucx_range *ranges, size_t nranges);

#endif
