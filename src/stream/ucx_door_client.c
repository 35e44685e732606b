/* ucx_door_client.c — the client side of the front door of `absa serve` (ucx_door.h): dial,
 * greeting, HMAC-SHA256 proof of the shared secret (OpenSSL libcrypto), the server's reply
 * checked (its own MAC proves the server knows the secret too), plus the wire helpers both sides
 * share, the choice of UCX network devices from the interface of an address and the TCP
 * keepalive of the session sockets. */
#include "ucx_door.h"

#ifdef ABSA_HAVE_UCX
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base_sys.h"
#include "ucx_door_impl.h"
#include "ucx_util.h"

void absa_door_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t absa_door_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void absa_door_put_head(uint8_t *p, uint32_t status)
{
    memcpy(p, ABSA_DOOR_MAGIC, 8);
    absa_door_put_u32(p + 8, ABSA_DOOR_VERSION);
    absa_door_put_u32(p + 12, status);
}

int absa_door_head_ok(const uint8_t *p) { return !memcmp(p, ABSA_DOOR_MAGIC, 8); }

void absa_door_mac(const uint8_t *secret, size_t secret_len, const char *label, const uint8_t *nonce_s,
                   const uint8_t *nonce_c, const uint8_t *token, const void *addr, size_t len,
                   uint8_t out[ABSA_DOOR_MAC])
{
    size_t ll = strlen(label), n = ll + 2 * ABSA_DOOR_NONCE + (token ? ABSA_DOOR_TOKEN : 0) + 4 + len, k = 0;
    uint8_t *msg = absa_xcalloc(1, n);
    memcpy(msg, label, ll), k += ll;
    memcpy(msg + k, nonce_s, ABSA_DOOR_NONCE), k += ABSA_DOOR_NONCE;
    memcpy(msg + k, nonce_c, ABSA_DOOR_NONCE), k += ABSA_DOOR_NONCE;
    if (token) memcpy(msg + k, token, ABSA_DOOR_TOKEN), k += ABSA_DOOR_TOKEN;
    absa_door_put_u32(msg + k, (uint32_t)len), k += 4;
    memcpy(msg + k, addr, len);
    unsigned int ol = ABSA_DOOR_MAC;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, msg, n, out, &ol) || ol != ABSA_DOOR_MAC)
        ABSA_ABORT("HMAC-SHA256 failed");
    explicit_bzero(msg, n);
    free(msg);
}

int absa_door_mac_equal(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (int i = 0; i < ABSA_DOOR_MAC; i++) d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

/* ---- client ---- */
static int door_wait(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - absa_now();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
}

absa_status absa_door_dial(const struct sockaddr *sa, socklen_t sl, double deadline, int *fd,
                           struct sockaddr_storage *local)
{
    absa_status status = ABSA_OK;
    char name[80];
    absa_ucx_format_addr(sa, name, sizeof name);
    *fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0) ABSA_FAIL(ABSA_EIO, "socket: %s", strerror(errno));
    if (connect(*fd, sa, sl) != 0) {
        if (errno != EINPROGRESS) ABSA_FAIL(ABSA_EUCX, "cannot connect to %s: %s", name, strerror(errno));
        if (door_wait(*fd, POLLOUT, deadline) <= 0) ABSA_FAIL(ABSA_EUCX, "cannot connect to %s: timed out", name);
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) ABSA_FAIL(ABSA_EUCX, "cannot connect to %s: %s", name, strerror(err));
    }
    socklen_t ll = sizeof *local;
    if (getsockname(*fd, (struct sockaddr *)local, &ll) != 0) ABSA_FAIL(ABSA_EIO, "getsockname: %s", strerror(errno));
cleanup:
    if (status != ABSA_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return status;
}

static absa_status door_io(int fd, void *buf, size_t len, int out, double deadline)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = out ? send(fd, (uint8_t *)buf + have, len - have, MSG_NOSIGNAL)
                        : recv(fd, (uint8_t *)buf + have, len - have, 0);
        if (n > 0) {
            have += (size_t)n;
            continue;
        }
        if (n == 0) {
            absa_errorf("the server closed the connection during authentication");
            return ABSA_EUCX;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            absa_errorf("connection to the server: %s", strerror(errno));
            return ABSA_EUCX;
        }
        int w = door_wait(fd, out ? POLLOUT : POLLIN, deadline);
        if (w == 0) {
            absa_errorf("no answer from the server within the connection timeout");
            return ABSA_EUCX;
        }
        if (w < 0) {
            absa_errorf("poll: %s", strerror(errno));
            return ABSA_EIO;
        }
    }
    return ABSA_OK;
}

absa_status absa_door_auth(int fd, const uint8_t *secret, size_t secret_len, const void *my_addr, size_t my_len,
                           double deadline, uint8_t token[ABSA_DOOR_TOKEN], void **srv_addr, size_t *srv_len)
{
    absa_status status = ABSA_OK;
    uint8_t g[ABSA_DOOR_GREETING_LEN], r[ABSA_DOOR_REPLY_LEN], mac[ABSA_DOOR_MAC], want[ABSA_DOOR_MAC], lb[4];
    uint8_t *msg = NULL, *addr = NULL;
    *srv_addr = NULL;
    *srv_len = 0;
    if (my_len < 1 || my_len > ABSA_DOOR_MAX_ADDR) ABSA_FAIL(ABSA_EUCX, "UCP worker address of %zu bytes", my_len);
    ABSA_TRY(door_io(fd, g, sizeof g, 0, deadline));
    if (!absa_door_head_ok(g) || absa_door_get_u32(g + 8) != ABSA_DOOR_VERSION)
        ABSA_FAIL(ABSA_EFORMAT, "not an absa serve front door (protocol %u)", absa_door_get_u32(g + 8));
    if (absa_door_get_u32(g + 12) == ABSA_DOOR_ST_BUSY)
        ABSA_FAIL(ABSA_EUCX, "the server is busy (too many pending connections)");
    if (absa_door_get_u32(g + 12) != ABSA_DOOR_ST_OK) ABSA_FAIL(ABSA_EFORMAT, "bad greeting from the server");
    const uint8_t *nonce_s = g + ABSA_DOOR_REPLY_LEN;
    msg = absa_xcalloc(1, ABSA_DOOR_AUTH_LEN + my_len);
    memcpy(msg, ABSA_DOOR_MAGIC, 8);
    absa_door_put_u32(msg + 8, ABSA_DOOR_VERSION);
    if (getrandom(msg + 12, ABSA_DOOR_NONCE, 0) != ABSA_DOOR_NONCE) ABSA_FAIL(ABSA_EIO, "getrandom: %s", strerror(errno));
    absa_door_put_u32(msg + 44, (uint32_t)my_len);
    absa_door_mac(secret, secret_len, "absa door client", nonce_s, msg + 12, NULL, my_addr, my_len, msg + 48);
    memcpy(msg + ABSA_DOOR_AUTH_LEN, my_addr, my_len);
    ABSA_TRY(door_io(fd, msg, ABSA_DOOR_AUTH_LEN + my_len, 1, deadline));
    ABSA_TRY(door_io(fd, r, sizeof r, 0, deadline));
    if (!absa_door_head_ok(r) || absa_door_get_u32(r + 8) != ABSA_DOOR_VERSION)
        ABSA_FAIL(ABSA_EFORMAT, "bad reply from the server");
    switch (absa_door_get_u32(r + 12)) {
    case ABSA_DOOR_ST_OK: break;
    case ABSA_DOOR_ST_AUTH_FAILED: ABSA_FAIL(ABSA_EINVAL, "authentication failed: the server has another secret");
    case ABSA_DOOR_ST_REFUSED: ABSA_FAIL(ABSA_EUCX, "the server refused the connection (see its log)");
    default: ABSA_FAIL(ABSA_EFORMAT, "bad reply status %u from the server", absa_door_get_u32(r + 12));
    }
    ABSA_TRY(door_io(fd, mac, sizeof mac, 0, deadline));
    ABSA_TRY(door_io(fd, token, ABSA_DOOR_TOKEN, 0, deadline));
    ABSA_TRY(door_io(fd, lb, 4, 0, deadline));
    uint32_t alen = absa_door_get_u32(lb);
    if (alen < 1 || alen > ABSA_DOOR_MAX_ADDR) ABSA_FAIL(ABSA_EFORMAT, "bad server address length %u", alen);
    addr = absa_xcalloc(1, alen);
    ABSA_TRY(door_io(fd, addr, alen, 0, deadline));
    absa_door_mac(secret, secret_len, "absa door server", nonce_s, msg + 12, token, addr, alen, want);
    if (!absa_door_mac_equal(mac, want)) ABSA_FAIL(ABSA_EINVAL, "authentication failed: the server does not know the secret");
    *srv_addr = addr;
    *srv_len = alen;
    addr = NULL;
cleanup:
    free(msg);
    free(addr);
    return status;
}

/* ---- interface selection ---- */
static int door_addr_eq(const struct sockaddr *a, const struct sockaddr *b)
{
    if (!a || !b || a->sa_family != b->sa_family) return 0;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, sizeof(struct in6_addr));
    return 0;
}

void absa_door_net_devices(const struct sockaddr *sa, char *buf, size_t cap)
{
    buf[0] = 0;
    if (getenv("UCX_NET_DEVICES")) return; /* the user's choice */
    if (sa->sa_family == AF_INET && ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr == htonl(INADDR_ANY))
        return;
    if (sa->sa_family == AF_INET6 &&
        !memcmp(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, &in6addr_any, sizeof in6addr_any))
        return;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
        if (door_addr_eq(i->ifa_addr, sa) && strlen(i->ifa_name) + 1 < cap) {
            snprintf(buf, cap, "%s", i->ifa_name);
            break;
        }
    freeifaddrs(ifs);
    if (!buf[0]) return;
    /* InfiniBand ports open no TCP listener: keep them usable */
    DIR *ib = opendir("/sys/class/infiniband");
    for (struct dirent *e; ib && (e = readdir(ib));) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "/sys/class/infiniband/%s/ports", e->d_name);
        DIR *ports = opendir(path);
        for (struct dirent *p; ports && (p = readdir(ports));) {
            if (p->d_name[0] == '.') continue;
            size_t l = strlen(buf);
            if (l + strlen(e->d_name) + strlen(p->d_name) + 3 < cap) snprintf(buf + l, cap - l, ",%s:%s", e->d_name, p->d_name);
        }
        if (ports) closedir(ports);
    }
    if (ib) closedir(ib);
}
#else
typedef int absa_ucx_door_client_unused; /* built without UCX */
#endif

void absa_door_keepalive(int fd)
{
    int on = 1, idle = 20, intvl = 5, cnt = 4;
    /* best effort: without it, the lease timeout still returns a vanished client's leases */
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}
