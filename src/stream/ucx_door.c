/* ucx_door.c — the server side of the front door of `absa serve` (ucx_door.h): a non-blocking
 * TCP listener in an epoll set, one small state machine per connection (greeting out, auth in,
 * reply out; then close, or for an admitted client hand the connection to the server as the
 * client's session, which the server closes when it drops the client and watches for EOF: the
 * client is gone), a deadline per connection, caps per peer and in total, and the admission
 * of authenticated clients to the UCX side. Nothing a peer sends reaches UCX before its MAC has
 * been checked. Only compiled with UCX (the build needs OpenSSL libcrypto with it). */
#define _GNU_SOURCE /* accept4 */
#include "ucx_door.h"

#ifdef ABSA_HAVE_UCX
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <dirent.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base_sys.h"
#include "ucx_door_impl.h"
#include "ucx_util.h"

enum { DOOR_GREET, DOOR_AUTH, DOOR_REPLY };

typedef struct door_conn {
    int fd, phase;
    double deadline;
    struct sockaddr_storage peer;
    char name[80];
    uint8_t nonce[ABSA_DOOR_NONCE];
    uint8_t *in;          /* auth message: ABSA_DOOR_AUTH_LEN + addr_len bytes */
    size_t in_have, in_need;
    uint8_t *out;         /* greeting or reply */
    size_t out_have, out_len;
} door_conn;

struct absa_door {
    int lfd, epfd;
    struct sockaddr_storage local;
    absa_door_opts o;
    uint8_t secret[256];
    void *srv_addr;
    size_t srv_len;
    door_conn **c;
    size_t nc, cap;
    int lfd_paused;        /* out of descriptors: the listener is out of the epoll set */
    double resume_at, last_busy_log;
    uint64_t busy;
    /* silent connections at UCX's own tcp listener (door_sweep) */
    struct door_seen {
        int fd;
        ino_t ino;
        double since;
    } *seen;
    size_t nseen;
    double last_sweep, log_window;
    uint64_t swept, log_count, log_suppressed;
};

absa_status absa_door_bind(const char *where, absa_door **out)
{
    absa_status status = ABSA_OK;
    struct sockaddr_storage ss;
    socklen_t sl;
    absa_door *d = absa_xcalloc(1, sizeof *d);
    d->lfd = d->epfd = -1;
    *out = NULL;
    ABSA_TRY(absa_ucx_parse_addr(where, &ss, &sl));
    if ((d->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        ABSA_FAIL(ABSA_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(d->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* rebind over TIME_WAIT */
    if (bind(d->lfd, (struct sockaddr *)&ss, sl) != 0)
        ABSA_FAIL(ABSA_EIO, "cannot listen on %s: %s", where,
                  errno == EADDRINUSE ? "the address is already in use" : strerror(errno));
    if (listen(d->lfd, 128) != 0) ABSA_FAIL(ABSA_EIO, "cannot listen on %s: %s", where, strerror(errno));
    sl = sizeof d->local;
    if (getsockname(d->lfd, (struct sockaddr *)&d->local, &sl) != 0)
        ABSA_FAIL(ABSA_EIO, "getsockname: %s", strerror(errno));
    if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) ABSA_FAIL(ABSA_EIO, "epoll_create1: %s", strerror(errno));
    *out = d;
    d = NULL;
cleanup:
    absa_door_close(d);
    return status;
}

void absa_door_local(const absa_door *d, struct sockaddr_storage *ss) { *ss = d->local; }
int absa_door_fd(const absa_door *d) { return d->epfd; }

static int door_watch(absa_door *d, int fd, uint32_t events, void *ptr, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    return epoll_ctl(d->epfd, op, fd, &ev);
}

absa_status absa_door_start(absa_door *d, const absa_door_opts *o, const void *srv_addr, size_t srv_len)
{
    absa_status status = ABSA_OK;
    if (o->secret_len < 1 || o->secret_len > sizeof d->secret) ABSA_FAIL(ABSA_EINVAL, "bad secret length");
    if (srv_len < 1 || srv_len > ABSA_DOOR_MAX_ADDR)
        ABSA_FAIL(ABSA_EUCX, "the UCP worker address has %zu bytes (the door carries 1..%d)", srv_len, ABSA_DOOR_MAX_ADDR);
    d->o = *o;
    memcpy(d->secret, o->secret, o->secret_len);
    d->o.secret = d->secret;
    if (d->o.max_pending < 1) d->o.max_pending = ABSA_DOOR_DEFAULT_MAX_PENDING;
    if (d->o.max_per_peer < 1) d->o.max_per_peer = ABSA_DOOR_DEFAULT_MAX_PER_PEER;
    if (d->o.timeout_s <= 0) d->o.timeout_s = 10.0;
    d->srv_addr = absa_xcalloc(1, srv_len);
    memcpy(d->srv_addr, srv_addr, srv_len);
    d->srv_len = srv_len;
    if (door_watch(d, d->lfd, EPOLLIN, NULL, EPOLL_CTL_ADD) != 0) ABSA_FAIL(ABSA_EIO, "epoll_ctl: %s", strerror(errno));
cleanup:
    return status;
}

/* one line per event, at most 10 a second (a flood of bad connections must not flood the log) */
static void door_log(absa_door *d, int always, const door_conn *c, const char *what)
{
    if (!always && d->o.quiet) return;
    double now = absa_now();
    if (now - d->log_window >= 1.0) {
        if (d->log_suppressed)
            fprintf(stderr, "absa serve: %llu more messages about connections suppressed\n",
                    (unsigned long long)d->log_suppressed);
        d->log_window = now;
        d->log_count = d->log_suppressed = 0;
    }
    if (d->log_count++ < 10)
        fprintf(stderr, "absa serve: connection from %s %s\n", c ? c->name : "?", what);
    else
        d->log_suppressed++;
}

static void door_drop(absa_door *d, size_t i)
{
    door_conn *c = d->c[i];
    close(c->fd); /* also removes it from the epoll set */
    free(c->in);
    free(c->out);
    explicit_bzero(c, sizeof *c);
    free(c);
    d->c[i] = d->c[--d->nc];
    if (d->lfd_paused) d->resume_at = 0; /* a descriptor is free again */
}

static int door_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                       sizeof(struct in6_addr));
    return 0;
}

/* write as much of c->out as the socket takes; 1 when all of it is out */
static int door_flush(door_conn *c)
{
    while (c->out_have < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_have, c->out_len - c->out_have, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_have += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return 0;
        } else {
            return -1;
        }
    }
    return 1;
}

static void door_set_out(door_conn *c, uint8_t *buf, size_t len)
{
    free(c->out);
    c->out = buf;
    c->out_len = len;
    c->out_have = 0;
}

static void door_accept(absa_door *d, double now)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int fd = accept4(d->lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop accepting for a moment instead of spinning */
                epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->lfd, NULL);
                d->lfd_paused = 1;
                d->resume_at = now + 0.1;
                fprintf(stderr, "absa serve: cannot accept a connection: %s\n", strerror(errno));
            }
            return; /* EAGAIN, or the peer left before accept */
        }
        size_t same = 0;
        for (size_t i = 0; i < d->nc; i++) same += door_same_ip(&d->c[i]->peer, &peer);
        if (d->nc >= (size_t)d->o.max_pending || same >= (size_t)d->o.max_per_peer) {
            uint8_t busy[ABSA_DOOR_GREETING_LEN];
            absa_door_put_head(busy, ABSA_DOOR_ST_BUSY);
            memset(busy + ABSA_DOOR_REPLY_LEN, 0, sizeof busy - ABSA_DOOR_REPLY_LEN);
            ssize_t w = send(fd, busy, sizeof busy, MSG_NOSIGNAL | MSG_DONTWAIT); /* best effort */
            (void)w;
            close(fd);
            d->busy++;
            if (now - d->last_busy_log >= 1.0) {
                char name[80];
                absa_ucx_format_addr((struct sockaddr *)&peer, name, sizeof name);
                fprintf(stderr, "absa serve: connection from %s refused: %zu pending connections (%zu from that "
                        "address; %llu refused so far)\n", name + 6, d->nc, same, (unsigned long long)d->busy);
                d->last_busy_log = now;
            }
            continue;
        }
        door_conn *c = absa_xcalloc(1, sizeof *c);
        c->fd = fd;
        c->peer = peer;
        c->deadline = now + d->o.timeout_s;
        absa_ucx_format_addr((struct sockaddr *)&peer, c->name, sizeof c->name);
        memmove(c->name, c->name + 6, strlen(c->name + 6) + 1); /* drop "ucx://" */
        uint8_t *g = absa_xcalloc(1, ABSA_DOOR_GREETING_LEN);
        absa_door_put_head(g, ABSA_DOOR_ST_OK);
        if (getrandom(c->nonce, sizeof c->nonce, 0) != (ssize_t)sizeof c->nonce) {
            fprintf(stderr, "absa serve: getrandom: %s\n", strerror(errno));
            free(g);
            close(fd);
            free(c);
            continue;
        }
        memcpy(g + ABSA_DOOR_REPLY_LEN, c->nonce, ABSA_DOOR_NONCE);
        door_set_out(c, g, ABSA_DOOR_GREETING_LEN);
        c->in = absa_xcalloc(1, ABSA_DOOR_AUTH_LEN + ABSA_DOOR_MAX_ADDR);
        c->in_need = ABSA_DOOR_AUTH_LEN;
        if (d->nc == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 64;
            d->c = realloc(d->c, d->cap * sizeof *d->c);
            ABSA_ASSERT(d->c != NULL, "out of memory for door connections");
        }
        d->c[d->nc++] = c;
        if (door_watch(d, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, c, EPOLL_CTL_ADD) != 0) door_drop(d, d->nc - 1);
    }
}

/* the auth message is complete: check it; a good one gets its reply at once (it fits an empty
 * socket buffer) and the connection goes to the server as the client's session: 1. A wrong MAC
 * gets "authentication failed" (then close): 0. -1: close now. */
static int door_check(absa_door *d, door_conn *c)
{
    uint32_t alen = absa_door_get_u32(c->in + 44);
    const uint8_t *nonce_c = c->in + 12, *mac = c->in + 48, *addr = c->in + ABSA_DOOR_AUTH_LEN;
    uint8_t want[ABSA_DOOR_MAC], token[ABSA_DOOR_TOKEN];
    absa_door_mac(d->secret, d->o.secret_len, "absa door client", c->nonce, nonce_c, NULL, addr, alen, want);
    uint8_t *r = absa_xcalloc(1, ABSA_DOOR_REPLY_LEN + ABSA_DOOR_MAC + ABSA_DOOR_TOKEN + 4 + d->srv_len);
    size_t rlen = ABSA_DOOR_REPLY_LEN;
    c->phase = DOOR_REPLY;
    if (!absa_door_mac_equal(want, mac)) {
        shutdown(c->fd, SHUT_RD);
        absa_door_put_head(r, ABSA_DOOR_ST_AUTH_FAILED);
        door_set_out(c, r, rlen);
        door_log(d, 1, c, "refused: authentication failed (wrong secret)");
        return 0;
    }
    if (getrandom(token, sizeof token, 0) != (ssize_t)sizeof token) {
        free(r);
        return -1;
    }
    absa_door_put_head(r, ABSA_DOOR_ST_OK);
    absa_door_mac(d->secret, d->o.secret_len, "absa door server", c->nonce, nonce_c, token, d->srv_addr, d->srv_len,
                  r + rlen);
    rlen += ABSA_DOOR_MAC;
    memcpy(r + rlen, token, ABSA_DOOR_TOKEN);
    rlen += ABSA_DOOR_TOKEN;
    absa_door_put_u32(r + rlen, (uint32_t)d->srv_len);
    rlen += 4;
    memcpy(r + rlen, d->srv_addr, d->srv_len);
    rlen += d->srv_len;
    door_set_out(c, r, rlen);
    int ok = door_flush(c) == 1 && d->o.admit(d->o.arg, c->name, addr, alen, token, c->fd) == 0;
    explicit_bzero(token, sizeof token);
    if (!ok) door_log(d, 1, c, "authenticated but not admitted (see above)");
    return ok ? 1 : -1;
}

/* read what is there of the auth message; -1: drop the connection, 1: handed over */
static int door_read(absa_door *d, door_conn *c)
{
    while (c->in_have < c->in_need) {
        ssize_t n = recv(c->fd, c->in + c->in_have, c->in_need - c->in_have, 0);
        if (n == 0) return -1; /* the peer closed before finishing */
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->in_have += (size_t)n;
        if (c->in_have == ABSA_DOOR_AUTH_LEN && c->in_need == ABSA_DOOR_AUTH_LEN) {
            /* fixed part: strict checks before the length is trusted */
            uint32_t alen = absa_door_get_u32(c->in + 44);
            if (!absa_door_head_ok(c->in) || absa_door_get_u32(c->in + 8) != ABSA_DOOR_VERSION || alen < 1 ||
                alen > ABSA_DOOR_MAX_ADDR) {
                door_log(d, 0, c, "dropped: not an absa client");
                return -1;
            }
            c->in_need = ABSA_DOOR_AUTH_LEN + alen;
        }
    }
    return door_check(d, c);
}

/* the connection now belongs to the server (the client's session): forget it without closing */
static void door_detach(absa_door *d, size_t i)
{
    door_conn *c = d->c[i];
    epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    free(c->in);
    free(c->out);
    explicit_bzero(c, sizeof *c);
    free(c);
    d->c[i] = d->c[--d->nc];
}

/* one connection's turn; -1: drop it, 1: it was handed over to the server */
static int door_step(absa_door *d, door_conn *c, uint32_t ev)
{
    if (c->phase == DOOR_GREET) {
        int f = door_flush(c);
        if (f < 0) return -1;
        if (f == 0) return 0;
        c->phase = DOOR_AUTH;
        struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &e);
    }
    if (c->phase == DOOR_AUTH) {
        (void)ev;
        int r = door_read(d, c);
        if (r != 0) return r;
        if (c->phase != DOOR_REPLY) return 0;
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &e);
    }
    /* DOOR_REPLY: all out, then close */
    return door_flush(c) == 0 ? 0 : -1;
}

/* UCX's tcp transport listens too (on the interface of --listen only) and keeps a connection
 * that never sends a byte for as long as the peer keeps it open: UCX 1.13 has no timeout for
 * it. Every 0.5 s: find UCX's listening ports among this process's sockets, and shut down
 * (not close: the descriptor stays UCX's, which then sees EOF and closes it itself) every
 * connection accepted on them that has received no byte for longer than the timeout. A UCX peer
 * sends its connection request at once, so no real connection is touched. */
static int door_sock_port(int fd, int peer)
{
    struct sockaddr_storage a;
    socklen_t al = sizeof a;
    if ((peer ? getpeername(fd, (struct sockaddr *)&a, &al) : getsockname(fd, (struct sockaddr *)&a, &al)) != 0) return -1;
    if (a.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&a)->sin_port);
    if (a.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return -1;
}

static void door_sweep(absa_door *d, double now)
{
    if (now - d->last_sweep < 0.5) return;
    d->last_sweep = now;
    int fds[4096], nfd = 0, ports[16], np = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return;
    for (struct dirent *e; (e = readdir(dir)) && nfd < 4096;) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(dir) && fd != d->lfd && fd != d->epfd) fds[nfd++] = fd;
    }
    closedir(dir);
    int *acc = absa_xcalloc((size_t)nfd + 1, sizeof *acc), *proto = absa_xcalloc((size_t)nfd + 1, sizeof *proto);
    for (int i = 0; i < nfd; i++) {
        socklen_t l = sizeof acc[i];
        acc[i] = -1;
        if (getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &acc[i], &l) != 0) acc[i] = -1; /* not a socket */
        l = sizeof proto[i];
        if (acc[i] >= 0 && getsockopt(fds[i], SOL_SOCKET, SO_PROTOCOL, &proto[i], &l) != 0) acc[i] = -1;
        if (acc[i] == 1 && proto[i] == IPPROTO_TCP && np < 16) ports[np++] = door_sock_port(fds[i], 0);
    }
    struct door_seen *next = NULL;
    size_t keep = 0, ncap = 0;
    for (int i = 0; i < nfd && np; i++) {
        if (acc[i] != 0 || proto[i] != IPPROTO_TCP) continue;
        int lp = door_sock_port(fds[i], 0), mine = 0;
        for (int k = 0; k < np; k++) mine |= lp == ports[k];
        if (!mine || door_sock_port(fds[i], 1) < 0) continue; /* not accepted by UCX's listener */
        struct tcp_info ti;
        socklen_t l = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (getsockopt(fds[i], IPPROTO_TCP, TCP_INFO, &ti, &l) != 0 ||
            l < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received || ti.tcpi_bytes_received)
            continue;
        struct stat st;
        if (fstat(fds[i], &st) != 0) continue;
        size_t j = 0;
        while (j < d->nseen && !(d->seen[j].fd == fds[i] && d->seen[j].ino == st.st_ino)) j++;
        double since = j < d->nseen ? d->seen[j].since : now;
        if (now - since > d->o.timeout_s) {
            shutdown(fds[i], SHUT_RDWR);
            if (!d->swept++ || (!d->o.quiet && now - d->last_busy_log >= 1.0)) {
                fprintf(stderr, "absa serve: a connection at UCX's listener sent nothing for %.0f s: shut down (%llu so far)\n",
                        d->o.timeout_s, (unsigned long long)d->swept);
                d->last_busy_log = now;
            }
            continue;
        }
        if (keep == ncap) {
            ncap = ncap ? 2 * ncap : 64;
            next = realloc(next, ncap * sizeof *next);
            ABSA_ASSERT(next != NULL, "out of memory");
        }
        next[keep++] = (struct door_seen){fds[i], st.st_ino, since};
    }
    free(d->seen);
    d->seen = next;
    d->nseen = keep;
    free(acc);
    free(proto);
}

void absa_door_progress(absa_door *d, double now)
{
    door_sweep(d, now);
    if (d->lfd_paused && now >= d->resume_at && door_watch(d, d->lfd, EPOLLIN, NULL, EPOLL_CTL_ADD) == 0)
        d->lfd_paused = 0;
    struct epoll_event ev[64];
    int n = epoll_wait(d->epfd, ev, 64, 0);
    for (int i = 0; i < n; i++) {
        if (!ev[i].data.ptr) {
            door_accept(d, now);
            continue;
        }
        door_conn *c = ev[i].data.ptr;
        size_t k = 0;
        while (k < d->nc && d->c[k] != c) k++;
        if (k == d->nc) continue; /* dropped earlier in this batch */
        int r = door_step(d, c, ev[i].events);
        if (r < 0) door_drop(d, k);
        if (r > 0) door_detach(d, k);
    }
    for (size_t i = 0; i < d->nc;) {
        if (now > d->c[i]->deadline) {
            if (d->c[i]->phase != DOOR_REPLY) door_log(d, 0, d->c[i], "dropped: no authentication in time");
            door_drop(d, i);
        } else {
            i++;
        }
    }
}

void absa_door_close(absa_door *d)
{
    if (!d) return;
    while (d->nc) door_drop(d, d->nc - 1);
    free(d->c);
    if (d->lfd >= 0) close(d->lfd);
    if (d->epfd >= 0) close(d->epfd);
    free(d->srv_addr);
    free(d->seen);
    explicit_bzero(d->secret, sizeof d->secret);
    free(d);
}
#else
typedef int absa_ucx_door_unused; /* built without UCX */
#endif
