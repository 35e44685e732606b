/* ucx_door.h — the front door of `absa serve`: absa's own TCP listener that authenticates a
 * client before it can reach UCX (docs/ucx.md, "Front door"). UCX never listens on a sockaddr:
 * a client that proves it knows the shared secret gets the server's UCP worker address and a
 * one-time token, and connects with ucp_ep_create by worker address; the server creates its
 * endpoint to the client's worker address (UCX matches the two into one connection).
 *
 * Wire format (TCP, little-endian, every length fixed or bounded before it is read):
 *   server greeting  48 B: magic "ABSADOOR", version u32 = 1, status u32 (0 ok, 2 busy), nonce_s[32]
 *   client auth      80 B + addr: magic, version u32, nonce_c[32], addr_len u32 (1..8192),
 *                    mac_c[32] = HMAC-SHA256(secret, "absa door client" | nonce_s | nonce_c | addr_len | addr),
 *                    addr (the client's UCP worker address)
 *   server reply     16 B: magic, version u32, status u32 (0 ok, 1 authentication failed, 3 refused);
 *                    if ok, then mac_s[32] = HMAC-SHA256(secret, "absa door server" | nonce_s | nonce_c |
 *                    token | addr_len | addr), token[32], addr_len u32, addr (the server's address)
 * The server closes the connection after any malformed byte, after "authentication failed", and
 * when the exchange is not done within the timeout. After "ok" the connection stays open as the
 * client's session: nothing more is sent on it; the server closes it when it drops the client
 * (the client's cue that it was dropped: UCX does not tell a peer that its endpoint closed). Non-blocking sockets, one epoll set, caps on pending
 * connections per peer address and in total (over the cap: a "busy" greeting, then close). */
#ifndef ABSA_UCX_DOOR_H
#define ABSA_UCX_DOOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "absa_error.h"

#define ABSA_DOOR_VERSION 1
#define ABSA_DOOR_NONCE 32
#define ABSA_DOOR_MAC 32
#define ABSA_DOOR_TOKEN 32
#define ABSA_DOOR_MAX_ADDR 8192
#define ABSA_DOOR_GREETING_LEN 48
#define ABSA_DOOR_AUTH_LEN 80
#define ABSA_DOOR_REPLY_LEN 16
#define ABSA_DOOR_DEFAULT_MAX_PENDING 256
#define ABSA_DOOR_DEFAULT_MAX_PER_PEER 32

enum { ABSA_DOOR_ST_OK = 0, ABSA_DOOR_ST_AUTH_FAILED = 1, ABSA_DOOR_ST_BUSY = 2, ABSA_DOOR_ST_REFUSED = 3 };

/* ---- server side ---- */
typedef struct absa_door absa_door;

/* Called for every authenticated client once the door's reply (the server's worker address and
 * the token) is sent: its peer address ("IP:PORT"), its UCP worker address, the token it will
 * present in HELLO, and the connection, which stays open as the client's session. Return 0 to
 * accept (the callee then owns fd and closes it when it drops the client: the client sees EOF),
 * non-zero to refuse (the door closes fd). */
typedef int (*absa_door_admit_fn)(void *arg, const char *peer, const void *addr, size_t len,
                                  const uint8_t token[ABSA_DOOR_TOKEN], int fd);

typedef struct absa_door_opts {
    const uint8_t *secret;
    size_t secret_len;
    double timeout_s;  /* a connection must finish the exchange within this */
    int max_pending;   /* unauthenticated connections in total */
    int max_per_peer;  /* ... from one peer IP address */
    int quiet;         /* log only refusals of authentication and errors */
    absa_door_admit_fn admit;
    void *arg;
} absa_door_opts;

/* Bind and listen on HOST:PORT (port 0: any free port). "address already in use" is said so. */
absa_status absa_door_bind(const char *listen, absa_door **out);
/* The bound address (port filled in). */
void absa_door_local(const absa_door *d, struct sockaddr_storage *ss);
/* Start admitting clients; srv_addr (the server's UCP worker address) is copied. */
absa_status absa_door_start(absa_door *d, const absa_door_opts *o, const void *srv_addr, size_t srv_len);
/* An fd that polls readable when the door has work (an epoll set). */
int absa_door_fd(const absa_door *d);
/* Accept, read, write and time out connections without blocking; calls admit. */
void absa_door_progress(absa_door *d, double now);
void absa_door_close(absa_door *d);

/* ---- client side (blocking, each step bounded by the deadline, absa_now() seconds) ---- */
/* TCP connection to the door; *local receives the local address used (its interface is the one
 * UCX should use). ABSA_EUCX when nothing answers (retryable). */
absa_status absa_door_dial(const struct sockaddr *sa, socklen_t sl, double deadline, int *fd,
                           struct sockaddr_storage *local);
/* The exchange on a dialled fd. ABSA_EINVAL with "authentication failed" for a wrong secret (do
 * not retry), ABSA_EUCX when the server is busy or the connection drops (retryable),
 * ABSA_EFORMAT when the peer is not an absa door. *srv_addr is malloc'd. */
absa_status absa_door_auth(int fd, const uint8_t *secret, size_t secret_len, const void *my_addr, size_t my_len,
                           double deadline, uint8_t token[ABSA_DOOR_TOKEN], void **srv_addr, size_t *srv_len);

/* ---- both ---- */
/* Value for UCX_NET_DEVICES that keeps UCX's network transports on the interface carrying
 * address sa, plus every InfiniBand port (they open no TCP listener): "" when no restriction
 * applies (sa is the wildcard address, the interface is not found, or UCX_NET_DEVICES is set
 * by the user). */
void absa_door_net_devices(const struct sockaddr *sa, char *buf, size_t cap);
/* TCP keepalive on a session socket (idle 20 s, then every 5 s, 4 probes: about 40 s): a peer
 * whose host died or dropped off the network, which sends no FIN or RST, then shows as an error
 * on the session socket. The data endpoints have no UCX keepalive lane (ucx_util.h, error mode). */
void absa_door_keepalive(int fd);

#endif
