/* ucx_server.h — `absa serve`: streams leases of a packed HDF5 split to trainer ranks over UCX
 * active messages (protocol: ucx_proto.h, bookkeeping: ucx_lease.h, guide: docs/ucx.md).
 *
 * One single-threaded event loop: the front door (ucx_door.h: absa's own TCP listener that
 * authenticates clients and hands them the UCP worker address; UCX listens on no sockaddr) and
 * a UCP worker, blocking on the worker's event fd (ucp_worker_arm + poll, no spinning core), the
 * door's epoll fd and a signalfd (SIGINT/SIGTERM stop the server cleanly). A dead client is seen
 * through an endpoint error (error callback; the error mode is ucx_util.h's) or its front-door
 * session socket (EOF). A client that fails, leaves,
 * times out before HELLO, or sends anything malformed or out of protocol is dropped with one
 * log line and its outstanding leases go back to the queue; other clients are not affected.
 * A client silent for longer than the lease timeout (stopped, hung: a live client's progress
 * thread sends PING) loses its leases to the queue; its late commit of one is refused (ERROR
 * REVOKED), so it is never counted.
 * Built without UCX (ABSA_HAVE_UCX undefined), absa_ucx_server_run returns ABSA_EUCX. */
#ifndef ABSA_UCX_SERVER_H
#define ABSA_UCX_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "ucx_proto.h"

#define ABSA_UCX_DEFAULT_LISTEN "127.0.0.1:0"
#define ABSA_UCX_DEFAULT_BATCH_MAX 1024
#define ABSA_UCX_DEFAULT_LEASE_TIMEOUT 300.0 /* seconds */
#define ABSA_UCX_MAX_CLIENTS 1024
#define ABSA_UCX_MAX_INFLIGHT 8        /* batch sends in flight per client */
#define ABSA_UCX_MAX_CLIENT_LEASES 4096 /* leases + queued requests per client */

typedef struct absa_ucx_server_opts {
    const char *data;         /* packed HDF5 file */
    const char *split;        /* default "train" */
    const char *listen;       /* HOST:PORT, default ABSA_UCX_DEFAULT_LISTEN */
    uint64_t seed;            /* permutation seed */
    uint64_t epochs;          /* epochs to serve, 0 = until stopped */
    size_t memory_budget;     /* bytes of images the reader may keep in RAM */
    uint8_t secret[ABSA_UCX_MAX_SECRET];
    size_t secret_len;
    uint32_t batch_max;       /* largest lease; 0 = default (capped to 64 MiB of images) */
    double hello_timeout_s;   /* drop clients that do not authenticate in time (0 = 10 s) */
    double lease_timeout_s;   /* revoke the leases of a client silent this long (0 = never) */
    int max_pending;          /* unauthenticated connections at the front door (0 = default 256) */
    int max_pending_peer;     /* ... from one IP address (0 = default 32) */
    const char *address_file; /* if set: "ucx://IP:PORT\n" is written there once listening */
    const char *audit_file;   /* if set: every committed sample as "EPOCH ID" lines (tests) */
    int quiet;                /* only errors and drops on stderr */
    int no_shared_split;      /* never offer same-node clients the split in RAM (ucx_local.h) */
} absa_ucx_server_opts;

/* Run until stopped by a signal, or until the epoch limit is reached and every client has left.
 * Returns ABSA_OK on a clean stop. */
absa_status absa_ucx_server_run(const absa_ucx_server_opts *o);

#endif
