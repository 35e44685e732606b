/* ucx_client.h — the trainer's side of `absa serve` (--data ucx://HOST:PORT; docs/ucx.md).
 *
 * A client owns one UCP worker driven by a background progress thread (blocking on the worker's
 * event fd; every UCX call happens on that thread), so transfers continue while the trainer
 * computes. absa_ucx_client_next keeps `prefetch` lease requests outstanding: while the caller
 * works on batch k, batches k+1..k+prefetch are in flight or ready. Batches are delivered in
 * request order; each stays valid until it is committed or released.
 *
 * Epochs: a batch carries its epoch. When the server has nothing left of the current epoch for
 * a request, next() returns an empty batch with epoch_end = 1 (the epoch's remaining samples are
 * with other ranks). Requests after that wait until the whole epoch is committed; the next
 * batches are from the next epoch — except that samples of a crashed client are re-issued to
 * whoever asks, so a batch of the old epoch may still follow an epoch_end (process and commit it
 * like any other). When the server's epoch limit is reached, next() returns done = 1.
 *
 * Checkpoints: commits are asynchronous; absa_ucx_client_sync waits until the server has applied
 * all of this client's commits. A consistent checkpoint: every rank syncs, barrier, one rank
 * calls absa_ucx_client_state and stores it; a resumed job calls absa_ucx_client_seek on one
 * rank before any rank's first next() (the server refuses a seek while leases are outstanding).
 *
 * Lease timeout: the progress thread sends PING when the client has sent nothing for a quarter
 * of the server's lease timeout, so only a stopped or hung process falls silent. A client whose
 * leases the server revoked meanwhile learns it when it commits one: the client fails (every
 * later call returns ABSA_EINVAL with a "revoked" message), since the caller may already have
 * used those samples, which the server has given to another client (docs/ucx.md).
 *
 * Not thread-safe: one thread calls the functions of a client. Built without UCX, connect
 * returns ABSA_EUCX. */
#ifndef ABSA_UCX_CLIENT_H
#define ABSA_UCX_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "ucx_proto.h"

/* prefetch <= 0 (the default): requests in flight chosen by batch size, about
 * ABSA_UCX_PREFETCH_BYTES of batches, 3..ABSA_UCX_DEFAULT_PREFETCH of them (absa_ucx_prefetch_for;
 * docs/ucx.md, "Same-node clients": two copiers need batches to work on, large ones thrash) */
#define ABSA_UCX_DEFAULT_PREFETCH 6
#define ABSA_UCX_MIN_PREFETCH 3
#define ABSA_UCX_PREFETCH_BYTES ((size_t)16 << 20)
int absa_ucx_prefetch_for(size_t batch_bytes);

typedef struct absa_ucx_client absa_ucx_client;

/* What the server says about the dataset in its reply to HELLO. */
typedef struct absa_ucx_meta {
    uint64_t count;  /* samples in the split */
    uint64_t epoch;  /* server's epoch at connect time */
    uint64_t epochs; /* epochs the server serves (0 = until stopped) */
    int C, H, W, num_classes;
    uint32_t batch_max;
    double lease_timeout_s; /* the server revokes the leases of a client silent this long (0 = never) */
    float mean[ABSA_UCX_MAX_C], std[ABSA_UCX_MAX_C]; /* per channel, [0,1] units */
} absa_ucx_meta;

typedef struct absa_ucx_batch {
    uint64_t epoch, lease;
    uint64_t first;    /* first permutation position (ranges[0].start) */
    size_t count;      /* samples (< n at the end of an epoch; 0 with epoch_end/done) */
    int C, H, W;
    int epoch_end;     /* no data: nothing left of `epoch` for this request */
    int done;          /* no data: the server's epoch limit is reached */
    const uint64_t *ids;     /* sample indices in the split */
    const int32_t *labels;
    const uint8_t *images;   /* count x C x H x W, uint8 */
    size_t nranges;          /* permutation positions of the samples, in order */
    const absa_ucx_range *ranges;
} absa_ucx_batch;

/* Checkpoint state of the server: epoch and its committed permutation positions. */
typedef struct absa_ucx_state {
    uint64_t epoch, count, committed;
    size_t nranges;
    absa_ucx_range *ranges; /* malloc'd; absa_ucx_state_free */
} absa_ucx_state;

/* url: "ucx://HOST:PORT"; secret: NUL-terminated (1..256 bytes); prefetch <= 0: by batch size
 * (absa_ucx_prefetch_for, above).
 * Authenticates at the server's front door (HMAC-SHA256 challenge, ucx_door.h), connects to its
 * UCP worker by address and receives the metadata (timeout 30 s per attempt; a connection that
 * fails before the metadata arrives, or finds the door busy, is retried 4 times over 3.7 s; a
 * wrong secret fails at once with ABSA_EINVAL, "authentication failed"). */
absa_status absa_ucx_client_connect(const char *url, const char *secret, int prefetch, absa_ucx_client **out);
const absa_ucx_meta *absa_ucx_client_meta(const absa_ucx_client *c);
/* Next batch of at most n (1..batch_max) samples; blocks until it is there. */
absa_status absa_ucx_client_next(absa_ucx_client *c, size_t n, absa_ucx_batch *out);
/* Positional requests (deterministic batches on several ranks; docs/ucx.md): instead of "the
 * next n free samples", ask for exactly permutation positions [first, first+n) of `epoch`. The
 * server answers when all of them are free in that epoch (it waits while another client holds
 * some of them or while an earlier epoch is not complete) and refuses positions already
 * committed. A client uses either next() or the positional calls, not both.
 *
 * absa_ucx_client_plan: the caller's next needs, in order (w[0] is the next one next_at will
 * ask for). Up to `prefetch` of them are requested ahead; outstanding requests that do not match
 * the plan's prefix are withdrawn (CANCEL; if already served, released unseen), so a plan may
 * change at any time (more ranks, another batch size). Never blocks; nw = 0 withdraws all.
 * absa_ucx_client_next_at: plan(w, nw) and return the batch for w[0] (blocks until it is there);
 * then w[1..nw) stay requested ahead. out->done = 1 when the server's epoch limit is before
 * w[0].epoch; ABSA_EINVAL when the positions are already committed or their epoch is over. */
typedef struct absa_ucx_want {
    uint64_t epoch, first;
    uint32_t n;
} absa_ucx_want;
absa_status absa_ucx_client_plan(absa_ucx_client *c, const absa_ucx_want *w, size_t nw);
absa_status absa_ucx_client_next_at(absa_ucx_client *c, const absa_ucx_want *w, size_t nw, absa_ucx_batch *out);
/* The step that used b is done: its samples count as consumed (exactly once per epoch). */
absa_status absa_ucx_client_commit(absa_ucx_client *c, const absa_ucx_batch *b);
/* Give b back unconsumed: its samples are re-issued (first) to the next request. */
absa_status absa_ucx_client_release(absa_ucx_client *c, const absa_ucx_batch *b);
/* Wait until the server has acknowledged every commit of this client. */
absa_status absa_ucx_client_sync(absa_ucx_client *c);
absa_status absa_ucx_client_state(absa_ucx_client *c, absa_ucx_state *out);
void absa_ucx_state_free(absa_ucx_state *s);
/* Resume the server at s (see above). ABSA_EEXIST: leases outstanding; ABSA_EINVAL: refused. */
absa_status absa_ucx_client_seek(absa_ucx_client *c, const absa_ucx_state *s);
/* Seconds next() spent blocked waiting for data, and batches / bytes received. */
double absa_ucx_client_wait_seconds(const absa_ucx_client *c);
uint64_t absa_ucx_client_bytes(const absa_ucx_client *c);
uint64_t absa_ucx_client_rndv_batches(const absa_ucx_client *c); /* received by rendezvous */
uint64_t absa_ucx_client_withdrawn(const absa_ucx_client *c);     /* positional requests withdrawn by a plan change */
/* Same node: batches whose images this client copied from the server's shared split itself
 * (docs/ucx.md, "Same-node clients"), and why an offered split was not mapped ("" if it was,
 * or none was offered: the server is elsewhere, or shares nothing). */
uint64_t absa_ucx_client_local_batches(absa_ucx_client *c);
const char *absa_ucx_client_local_why(absa_ucx_client *c);
/* Leave: uncommitted leases (held and prefetched) go back to the server's queue. NULL is fine. */
void absa_ucx_client_close(absa_ucx_client *c);

#endif
