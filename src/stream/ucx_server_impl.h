/* ucx_server_impl.h — internal state of `absa serve` shared by ucx_server.c (event loop,
 * connections, drops) and ucx_server_msg.c (message handling, sends, lease serving).
 * Only compiled with UCX. */
#ifndef ABSA_UCX_SERVER_IMPL_H
#define ABSA_UCX_SERVER_IMPL_H
#ifdef ABSA_HAVE_UCX

#include <pthread.h>
#include <stdio.h>

#include <ucp/api/ucp.h>

#include "h5reader.h"
#include "ucx_audit.h"
#include "ucx_door.h"
#include "ucx_lease.h"
#include "ucx_local.h"
#include "ucx_server.h"

typedef struct absa_srv_client {
    uint64_t id;
    ucp_ep_h ep;           /* to the worker address the client gave the front door (error mode: peer_err) */
    uint8_t token[ABSA_UCX_MAX_SECRET]; /* one-time token from the front door, expected in HELLO */
    int session_fd;        /* the door connection, kept open while the client is; closed on drop */
    double session_eof;    /* when the session socket reported EOF or bytes (0 = not yet): dropped a grace later */
    int authed;
    int local_offered;     /* sent LOCAL (the shared split) after META */
    int local;             /* answered LOCAL_OK: its batches carry no images */
    int dropping;          /* scheduled for removal (reason in drop_reason) */
    int end_sent;          /* END already answered for epoch end_epoch */
    uint64_t end_epoch;
    uint32_t inflight;     /* sends not completed */
    uint32_t queued;       /* requests in the pending queue */
    uint32_t leases;       /* leases held (not committed or released) */
    uint32_t revoked;      /* leases revoked (lease timeout) whose late commit/release is still due */
    uint32_t revoked_now;  /* revoked by the current sweep (for its log line) */
    int stale;             /* silent for longer than the lease timeout: no grants until it speaks */
    double t_connect, t_heard;
    void *close_req;       /* ucp_ep_close_nbx request while closing */
    int closing, quiet_drop;
    char addr[80];
    char drop_reason[200];
} absa_srv_client;

/* a COMMIT_OK owed to a client: sent just before the next message to it, before the loop
 * blocks, or ABSA_SRV_ACK_DELAY_S after the commit, whichever comes first (ucx_server_msg.c) */
typedef struct absa_srv_ack {
    uint64_t client, lease, epoch;
    double t;
} absa_srv_ack;
#define ABSA_SRV_ACK_DELAY_S 0.001

typedef struct absa_srv_pending {
    uint64_t client, req;
    uint32_t n;
    int at;               /* REQUEST_AT: exactly positions [first, first+n) of epoch */
    uint64_t epoch, first;
} absa_srv_pending;

/* a batch being gathered, in slices, by the reader thread and the event loop (ucx_server_gather.c) */
typedef struct absa_srv_job {
    struct absa_srv_job *next;
    uint64_t client;
    absa_srv_pending p; /* the request it answers (queued again if the lease is revoked meanwhile) */
    absa_ucx_msg m; /* the BATCH header to send (lease, epoch, ranges count...) */
    void *buf;      /* pooled payload; ranges and ids filled in, labels and images by the gatherers */
    absa_status st;
    uint64_t claimed, finished; /* samples handed out to gatherers / gathered (under gmu) */
    char err[200];
} absa_srv_job;

typedef struct absa_srv {
    const absa_ucx_server_opts *o;
    absa_h5reader *rd;
    absa_ucx_shared shm;   /* the split in RAM as a sealed memfd (offered when shm.sealed) */
    absa_lease_mgr *lm;
    int C, H, W, K;
    size_t sample_bytes, buf_bytes; /* buf_bytes: payload of a batch_max lease */
    uint32_t batch_max;
    float mean[ABSA_UCX_MAX_C], std[ABSA_UCX_MAX_C];
    ucp_context_h ctx;
    ucp_worker_h w;
    absa_door *door;       /* the front door: authenticates before anything reaches UCX */
    ucp_address_t *waddr;  /* this worker's address, handed out by the door */
    size_t waddr_len;
    int efd, sfd;
    int sess_ep;           /* epoll set of the clients' session sockets (EOF = the client is gone) */
    int peer_err;          /* endpoints with UCP_ERR_HANDLING_MODE_PEER (ABSA_UCX_ERR_MODE=peer) */
    absa_srv_client **cl;
    size_t ncl, clcap;
    uint64_t next_client;
    absa_srv_pending *pq;
    size_t npq, pqcap;
    absa_srv_ack *acks; /* owed COMMIT_OKs, in commit order */
    size_t nacks, ackcap;
    void **pool; /* free batch buffers of buf_bytes */
    size_t npool, poolcap;
    absa_ucx_audit *audit;
    /* batch assembly (ucx_server_gather.c): todo = jobs with slices left or in progress */
    pthread_t gthr;
    pthread_mutex_t gmu;
    pthread_cond_t gcv;
    absa_srv_job *todo, *todo_tail, *done, *done_tail;
    int gfd, gstop, gsync, gthr_started;
    int loop_gathers; /* dataset in RAM: the event loop gathers slices too when it is idle */
    absa_status fatal; /* set on an unrecoverable server-side error (e.g. HDF5 read) */
    int stop;
    double t_sweep; /* last lease-timeout sweep */
    uint64_t batches, bytes, drops, local_batches;
} absa_srv;

/* ucx_server.c */
absa_srv_client *absa_srv_find(absa_srv *s, uint64_t id);
void absa_srv_drop(absa_srv *s, absa_srv_client *c, int quiet, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void absa_srv_log(const absa_srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ucx_server_gather.c */
absa_status absa_srv_gather_start(absa_srv *s);
void absa_srv_gather_submit(absa_srv *s, absa_srv_job *j);
absa_srv_job *absa_srv_gather_take_done(absa_srv *s); /* finished jobs, in finishing order; NULL if none */
void absa_srv_gather_stop(absa_srv *s);
int absa_srv_gather_step(absa_srv *s); /* event loop: gather one slice; 1 if one was gathered */

/* ucx_server_msg.c */
void absa_srv_collect_batches(absa_srv *s);
ucs_status_t absa_srv_am_cb(void *arg, const void *header, size_t header_length, void *data,
                            size_t length, const ucp_am_recv_param_t *param);
void absa_srv_serve_pending(absa_srv *s);
void absa_srv_expire(absa_srv *s); /* lease timeout: mark silent clients stale, revoke their leases */
void absa_srv_pool_free(absa_srv *s);
/* send the owed COMMIT_OKs: all of them (all != 0, before the loop blocks) or, if the oldest
 * is ABSA_SRV_ACK_DELAY_S old, all of them too; returns how many were sent */
size_t absa_srv_flush_acks(absa_srv *s, int all);

#endif
#endif
