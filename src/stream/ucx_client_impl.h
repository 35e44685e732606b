/* ucx_client_impl.h — internal state of the UCX data client shared by ucx_client.c (the
 * caller's API, main thread) and ucx_client_io.c (the progress thread: every UCX call, AM
 * callbacks, sends). Everything marked "shared" is guarded by `mu`. Only compiled with UCX. */
#ifndef ABSA_UCX_CLIENT_IMPL_H
#define ABSA_UCX_CLIENT_IMPL_H
#ifdef ABSA_HAVE_UCX

#include <pthread.h>

#include <ucp/api/ucp.h>

#include "ucx_client.h"

/* FILL: a batch without images arrived (same node), checked; they are still to be copied from
 * the shared split, by the progress thread or by the caller waiting for it (FILLING meanwhile) */
enum { ABSA_SLOT_REQUESTED, ABSA_SLOT_RECEIVING, ABSA_SLOT_FILL, ABSA_SLOT_FILLING, ABSA_SLOT_READY };

/* one outstanding REQUEST and, once it arrived, its reply (BATCH or END) */
typedef struct absa_ucx_client_slot {
    struct absa_ucx_client_slot *next;
    uint64_t seq;
    uint32_t n;
    int state;
    int at;                /* positional (REQUEST_AT): exactly [first, first+n) of epoch */
    int cancelled;         /* withdrawn (in `zombies`): its reply is released or dropped on arrival */
    uint64_t epoch, first;
    absa_ucx_msg m;
    void *buf;
    size_t cap;
} absa_ucx_client_slot;

typedef struct absa_ucx_client_buf {
    void *p;
    size_t cap;
} absa_ucx_client_buf;

typedef struct absa_ucx_client_held {
    uint64_t lease;
    absa_ucx_client_buf b;
} absa_ucx_client_held;

/* a message for the progress thread to send (payload malloc'd, owned by the command) */
typedef struct absa_ucx_client_cmd {
    absa_ucx_msg m;
    void *payload;
} absa_ucx_client_cmd;

struct absa_ucx_client {
    ucp_context_h ctx;
    ucp_worker_h w;
    ucp_ep_h ep;
    int efd, evfd;
    int session_fd;         /* the front door connection: EOF there = dropped by the server */
    pthread_t thr;
    int thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int prefetch;           /* requests kept in flight; 0 = by batch size (absa_ucx_client_depth) */
    size_t sample_bytes;
    /* the server's split, mapped read-only when it is on this node (ucx_local.h); set once by
     * the progress thread, before LOCAL_OK is sent, and unmapped at close */
    const uint8_t *shm;
    size_t shm_map_bytes;
    char local_why[200];    /* why the offered split was not mapped ("" = mapped or not offered) */
    /* shared */
    absa_status failed;
    char err[256];
    int keep_conn; /* failed, but the connection is fine (a lease revoked): close still says BYE */
    int ep_lost;   /* the endpoint reported an error */
    int have_meta;
    absa_ucx_meta meta;
    absa_ucx_client_slot *head, *tail;
    size_t nslots;
    absa_ucx_client_slot *zombies; /* cancelled slots awaiting their reply */
    int mode;               /* requests so far: 0 none, 1 next() (REQUEST), 2 next_at() (REQUEST_AT) */
    absa_ucx_client_held *held;
    size_t nheld, heldcap;
    absa_ucx_client_buf *pool;
    size_t npool, poolcap;
    absa_ucx_client_cmd *cmds;
    size_t ncmd, cmdcap;
    uint64_t unacked;
    int ctl_wait, ctl_ready;
    int caller_waits;       /* the caller is blocked in next()/next_at() for the head slot */
    absa_ucx_msg ctl;
    void *ctl_payload;
    int stop, done_seen, bye_sent;
    uint64_t next_seq, bytes, rndv_batches, withdrawn, local_batches;
    double wait_s;
    /* progress thread only */
    int sends;
    int kick;                 /* the head slot became ready: broadcast cv after releasing mu */
    double ping_s, last_send; /* PING after ping_s seconds without a send (0: never) */
};

/* ucx_client.c */
size_t absa_ucx_client_depth(const absa_ucx_client *c, uint32_t n); /* requests in flight for batches of n */
absa_status absa_ucx_client_failed_locked(absa_ucx_client *c);     /* c->err as this thread's error */
/* a new tail slot for request m (REQUEST or REQUEST_AT; sets m->req), and m queued for sending */
absa_ucx_client_slot *absa_ucx_client_request_locked(absa_ucx_client *c, absa_ucx_msg *m);
absa_ucx_client_slot *absa_ucx_client_pop_locked(absa_ucx_client *c);       /* unlink the head slot */
void absa_ucx_client_deliver_locked(absa_ucx_client *c, absa_ucx_client_slot *s, absa_ucx_batch *out); /* BATCH -> out, held */

/* ucx_client_io.c: copy the images of a FILL slot from the shared split (mu released meanwhile;
 * the slot is READY after, or done with if it was withdrawn meanwhile). The caller of next()
 * and next_at() uses it on the head slot instead of waiting for the progress thread. */
void absa_ucx_client_fill_locked(absa_ucx_client *c, absa_ucx_client_slot *s);

/* ucx_client_at.c: a cancelled slot got its reply (BATCH: released, its buffer pooled) */
void absa_ucx_client_zombie_done_locked(absa_ucx_client *c, absa_ucx_client_slot *s);

/* ucx_client_io.c */
void *absa_ucx_client_thread(void *arg);
ucs_status_t absa_ucx_client_am_cb(void *arg, const void *header, size_t header_length, void *data,
                            size_t length, const ucp_am_recv_param_t *param);
void absa_ucx_client_ep_err_cb(void *arg, ucp_ep_h ep, ucs_status_t status);
int absa_ucx_client_session_closed(absa_ucx_client *c, int timeout_ms); /* the server closed the door session */
/* record the first failure (mu held) and wake waiters */
void absa_ucx_client_fail_locked(absa_ucx_client *c, absa_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* queue a message for the progress thread (mu held); wake it with absa_ucx_client_wake */
void absa_ucx_client_push_locked(absa_ucx_client *c, const absa_ucx_msg *m, void *payload);
void absa_ucx_client_wake(absa_ucx_client *c);
absa_ucx_client_buf absa_ucx_client_pool_get_locked(absa_ucx_client *c, size_t bytes);
void absa_ucx_client_pool_put_locked(absa_ucx_client *c, absa_ucx_client_buf b);

#endif
#endif
