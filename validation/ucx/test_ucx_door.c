/* test_ucx_door.c — `absa serve` on a hostile network (issue 14): every port it opens, fuzzed.
 *
 *   test_ucx_door listen SERVE_BIN DIR   with UCX_NET_DEVICES unset, every listening socket of a
 *       default server (--listen 127.0.0.1:0) is on 127.0.0.1 (read from /proc/PID/fd and
 *       /proc/net/tcp{,6}); 17 zero bytes to each (UCX 1.13's sockaddr listener aborted on them)
 *       leave it running; a client then streams its epochs exactly once (the server's audit).
 *   test_ucx_door fuzz SERVE_BIN DIR [SECONDS]   (default 20, or env UCXT_FUZZ_SECONDS)
 *       while a client streams (slowly) and must finish every epoch with every sample exactly
 *       once, a bounded loopback fuzzer hits the front door and every UCX listening port of the
 *       server: 1000 connections opened and left silent, random bytes, truncated and oversized
 *       handshakes, valid prefixes followed by garbage, wrong MACs (must be answered
 *       "authentication failed"), and connect/close storms. The server must never die, must
 *       close every silent door connection after --hello-timeout, and must hold no more
 *       descriptors afterwards than before (count of /proc/PID/fd). The seed is printed;
 *       UCXT_FUZZ_SEED replays it. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "absa_test.h"
#include "cli_util.h"
#include "ucx_door.h"
#include "ucx_test_util.h"
#include "ucx_util.h"

enum { N = 500, MAXPORTS = 16, SILENT = 1000 };

typedef struct lport {
    char ip[64];
    int port;
} lport;

static size_t inodes_of(pid_t pid, unsigned long *ino, size_t cap)
{
    char path[64], link[128];
    size_t n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[320];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        ssize_t l = readlink(p, link, sizeof link - 1);
        if (l <= 0) continue;
        link[l] = 0;
        if (n < cap && sscanf(link, "socket:[%lu]", &ino[n]) == 1) n++;
    }
    if (d) closedir(d);
    return n;
}

static int count_fds(pid_t pid)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return d ? n : -1;
}

/* listening TCP sockets of pid (state 0A in /proc/net/tcp{,6}) */
static int listening(pid_t pid, lport *out, int cap)
{
    unsigned long ino[4096];
    size_t ni = inodes_of(pid, ino, 4096);
    int n = 0;
    for (int v6 = 0; v6 < 2; v6++) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/net/tcp%s", (int)pid, v6 ? "6" : "");
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f)) {
            char addr[64];
            unsigned port, st;
            unsigned long inode;
            if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu", addr, &port, &st, &inode) != 4 ||
                st != 0x0A)
                continue;
            int mine = 0;
            for (size_t i = 0; i < ni; i++) mine |= ino[i] == inode;
            if (!mine || n >= cap) continue;
            if (!v6) {
                struct in_addr a = {.s_addr = (in_addr_t)strtoul(addr, NULL, 16)};
                inet_ntop(AF_INET, &a, out[n].ip, sizeof out[n].ip);
            } else {
                struct in6_addr a;
                for (int k = 0; k < 4; k++) {
                    char w[9];
                    memcpy(w, addr + 8 * k, 8);
                    w[8] = 0;
                    uint32_t x = (uint32_t)strtoul(w, NULL, 16);
                    memcpy((uint8_t *)&a + 4 * k, &x, 4);
                }
                inet_ntop(AF_INET6, &a, out[n].ip, sizeof out[n].ip);
            }
            out[n++].port = (int)port;
        }
        fclose(f);
    }
    return n;
}

static int alive(const ucxt_env *e)
{
    int st;
    return waitpid(e->server, &st, WNOHANG) == 0;
}

/* a blocking loopback connection with 2 s send/receive timeouts; -1 if refused */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const void *b, size_t n)
{
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    (void)w; /* the server may already have closed: that is fine */
}

static void close_rst(int fd) /* close with a reset instead of FIN */
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* 1 when the server closed fd (EOF or reset) within seconds */
static int closed_by_server(int fd, double seconds)
{
    uint8_t b[256];
    double t0 = absa_now();
    while (absa_now() - t0 < seconds) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return 1;
    }
    return 0;
}

static size_t read_exact(int fd, uint8_t *b, size_t n)
{
    size_t have = 0;
    while (have < n) {
        ssize_t r = recv(fd, b + have, n - have, 0);
        if (r <= 0) break;
        have += (size_t)r;
    }
    return have;
}

/* the fixed part of a client auth message with addr_len alen and a random (wrong) MAC */
static void auth_prefix(uint8_t *b, uint32_t alen, uint64_t *rng)
{
    memcpy(b, "ABSADOOR", 8);
    b[8] = ABSA_DOOR_VERSION, b[9] = b[10] = b[11] = 0;
    for (int i = 12; i < ABSA_DOOR_AUTH_LEN; i++) b[i] = (uint8_t)absa_test_next(rng);
    for (int i = 0; i < 4; i++) b[44 + i] = (uint8_t)(alen >> (8 * i));
}

typedef struct fuzz_stats {
    long conns, refused, auth_failed_seen, wrong_mac, busy;
} fuzz_stats;

/* one fuzz case on a fresh connection; returns 0, or -1 for a check that failed */
static int fuzz_case(int door, const lport *ports, int np, uint64_t *rng, fuzz_stats *st)
{
    static uint8_t buf[70000];
    int k = (int)(absa_test_next(rng) % 9);
    int port = k >= 6 ? ports[absa_test_next(rng) % (uint64_t)np].port : door;
    int fd = dial(port);
    st->conns++;
    if (fd < 0) {
        st->refused++;
        return 0;
    }
    size_t n = (size_t)(absa_test_next(rng) % 4097);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)absa_test_next(rng);
    uint8_t g[ABSA_DOOR_GREETING_LEN], r[ABSA_DOOR_REPLY_LEN];
    int rc = 0;
    switch (k) {
    case 0: /* random bytes to the door */
    case 6: /* random bytes to any port */
        send_all(fd, buf, n);
        break;
    case 1: /* truncated auth: a prefix of the fixed part, then close */
        read_exact(fd, g, sizeof g);
        auth_prefix(buf, 100, rng);
        send_all(fd, buf, 1 + absa_test_next(rng) % (ABSA_DOOR_AUTH_LEN - 1));
        break;
    case 2: { /* oversized or zero address length: closed without a reply */
        static const uint32_t bad[] = {0, ABSA_DOOR_MAX_ADDR + 1, 0x7fffffff, 0xffffffff};
        read_exact(fd, g, sizeof g);
        auth_prefix(buf, bad[absa_test_next(rng) % 4], rng);
        send_all(fd, buf, ABSA_DOOR_AUTH_LEN);
        if (!closed_by_server(fd, 3)) rc = -1, fprintf(stderr, "FAIL: bad address length not closed at once\n");
        break;
    }
    case 3: { /* a valid prefix (magic, version, nonce, length) with a wrong MAC and a garbage
               * address: answered "authentication failed" */
        if (read_exact(fd, g, sizeof g) != sizeof g) break; /* busy or closed: fine */
        if (g[12] == ABSA_DOOR_ST_BUSY) {
            st->busy++;
            break;
        }
        uint32_t alen = 1 + (uint32_t)(absa_test_next(rng) % 2000);
        auth_prefix(buf, alen, rng);
        send_all(fd, buf, ABSA_DOOR_AUTH_LEN + alen);
        st->wrong_mac++;
        if (read_exact(fd, r, sizeof r) == sizeof r && !memcmp(r, "ABSADOOR", 8) && r[12] == ABSA_DOOR_ST_AUTH_FAILED)
            st->auth_failed_seen++;
        else
            rc = -1, fprintf(stderr, "FAIL: a wrong MAC was not answered 'authentication failed'\n");
        break;
    }
    case 4: /* valid prefix, then a flood of garbage (oversized message) */
        read_exact(fd, g, sizeof g);
        auth_prefix(buf, 64, rng);
        send_all(fd, buf, sizeof buf);
        break;
    case 5: /* the greeting's own bytes echoed back, then garbage */
        read_exact(fd, g, sizeof g);
        send_all(fd, g, sizeof g);
        send_all(fd, buf, n);
        break;
    case 7: /* UCX 1.13's sockaddr listener asserted on 17 zero bytes; and a plausible tcp AM header */
        memset(buf, 0, 17);
        if (absa_test_next(rng) & 1) buf[0] = (uint8_t)(30 + absa_test_next(rng) % 4), buf[1] = (uint8_t)(n & 0xff);
        send_all(fd, buf, 17 + n % 64);
        break;
    default: /* connect/close storm: 20 connections closed at once, half with a reset */
        close(fd);
        fd = -1;
        for (int i = 0; i < 20; i++) {
            int f = dial(ports[absa_test_next(rng) % (uint64_t)np].port);
            if (f < 0) continue;
            if (i & 1)
                close_rst(f);
            else
                close(f);
        }
        break;
    }
    if (fd >= 0) {
        if (absa_test_next(rng) & 1)
            close_rst(fd);
        else
            close(fd);
    }
    return rc;
}

static int run_client_env(ucxt_env *e, ucxt_shared *sh, int slow_us, uint64_t epochs)
{
    ucxt_client_cfg good = {.id = 0, .n = 16, .prefetch = 3, .step_us = 0, .slow_us = slow_us};
    (void)epochs;
    return (int)ucxt_spawn_client(e, &good, sh);
}

static int listen_main(const char *bin, const char *dir)
{
    ucxt_env e;
    lport lp[MAXPORTS];
    if (ucxt_setup(&e, dir, "door_listen", N, 5, 2, bin) != 0) return 1;
    unsetenv("UCX_NET_DEVICES"); /* after ucxt_setup, which sets lo: the default, UCX would use every interface */
    ucxt_shared *sh = ucxt_shared_new(1);
    if (ucxt_start_server(&e, "l", NULL) != 0) return 1;
    int np = listening(e.server, lp, MAXPORTS);
    CHECK(np >= 1, "%d listening sockets found", np);
    for (int i = 0; i < np; i++) {
        fprintf(stderr, "listening: %s:%d\n", lp[i].ip, lp[i].port);
        CHECK(!strcmp(lp[i].ip, "127.0.0.1"), "listening socket %s:%d is on the --listen address 127.0.0.1", lp[i].ip,
              lp[i].port);
        int fd = dial(lp[i].port);
        uint8_t z[17] = {0};
        if (fd >= 0) {
            send_all(fd, z, sizeof z);
            close(fd);
        }
    }
    usleep(300000);
    CHECK(alive(&e), "the server survives 17 zero bytes on each of its ports");
    pid_t pid = run_client_env(&e, sh, 0, 2);
    sh->go_fast = 1;
    int crc = ucxt_wait_pid(pid, 60);
    CHECK(crc == 0, "client streamed its epochs (exit %d): %s", crc, sh->msg);
    int src = ucxt_wait_server(&e, 0, 20);
    CHECK(src == 0, "server finished normally (exit %d)", src);
    uint64_t lines, dups;
    int complete = ucxt_check_audit(e.audit, N, 2, &lines, &dups, NULL);
    CHECK(complete == 2 && dups == 0, "audit: %d complete epochs, %llu duplicates", complete, (unsigned long long)dups);
    ucxt_finish_files(&e, absa_test_st.failures, "cat %s >&2");
    return absa_test_finish("test_ucx_door listen");
}

static int fuzz_main(const char *bin, const char *dir, double seconds)
{
    ucxt_env e;
    lport lp[MAXPORTS];
    const char *se = getenv("UCXT_FUZZ_SEED");
    uint64_t seed = se ? strtoull(se, NULL, 0) : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid(), rng = seed;
    fprintf(stderr, "fuzz: %.0f s, seed %llu (UCXT_FUZZ_SEED replays it)\n", seconds, (unsigned long long)seed);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < SILENT + 200 && rl.rlim_max >= SILENT + 200) {
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < SILENT + 200) {
        printf("skip: need %d descriptors, the limit is %llu\n", SILENT + 200, (unsigned long long)rl.rlim_cur);
        return 77;
    }
    /* the client takes one batch of 16 per 0.25 s until told to go fast: enough epochs to outlast the fuzzing */
    uint64_t epochs = 2 + (uint64_t)(seconds * 4 * 16 / N) + 1;
    if (ucxt_setup(&e, dir, "door_fuzz", N, 7, epochs, bin) != 0) return 1;
    ucxt_shared *sh = ucxt_shared_new(2);
    const char *extra[] = {"--hello-timeout", "1", NULL};
    if (ucxt_start_server(&e, "f", extra) != 0) return 1;
    /* a client that comes and goes first, so lazily opened UCX descriptors are in the baseline */
    ucxt_client_cfg warm = {.id = 1, .n = 16, .prefetch = 1, .state_only = 1};
    CHECK(ucxt_wait_pid(ucxt_spawn_client(&e, &warm, &sh[1]), 30) == 0, "warm-up client: %s", sh[1].msg);
    usleep(500000);
    int fd0 = count_fds(e.server);
    int np = listening(e.server, lp, MAXPORTS);
    int door = atoi(strrchr(e.url, ':') + 1);
    fprintf(stderr, "server: %d descriptors; %d listening ports:", fd0, np);
    for (int i = 0; i < np; i++) fprintf(stderr, " %s:%d%s", lp[i].ip, lp[i].port, lp[i].port == door ? " (door)" : "");
    fprintf(stderr, "\n");
    CHECK(np >= 2, "the door and UCX's tcp listener found (%d)", np);
    pid_t client = run_client_env(&e, &sh[0], 250000, epochs);
    for (double t = absa_now(); sh[0].batches < 2 && !sh[0].failures && absa_now() - t < 30;) usleep(2000);
    /* 1000 silent connections, spread over the ports (most at the door) */
    static int silent[SILENT];
    int nsilent = 0;
    for (int i = 0; i < SILENT; i++) {
        int port = i % 10 ? door : lp[i / 10 % np].port;
        if ((silent[nsilent] = dial(port)) >= 0) nsilent++;
    }
    double t_silent = absa_now();
    fprintf(stderr, "fuzz: %d silent connections open\n", nsilent);
    fuzz_stats st = {0};
    int fails = 0;
    double t0 = absa_now();
    while (absa_now() - t0 < seconds && fails < 5) {
        fails += fuzz_case(door, lp, np, &rng, &st) != 0;
        if (!alive(&e)) break;
    }
    CHECK(alive(&e), "the server is alive after %ld fuzz connections", st.conns);
    CHECK(fails == 0, "%d fuzz cases failed their check", fails);
    CHECK(st.wrong_mac == 0 || st.auth_failed_seen == st.wrong_mac, "%ld of %ld wrong MACs answered 'authentication failed'",
          st.auth_failed_seen, st.wrong_mac);
    /* every silent connection, at the door and at UCX's listener, is closed by the server after
     * --hello-timeout 1 (allow 4 s more for the 0.5 s sweep on a loaded machine) */
    int door_open = 0, ucx_open = 0;
    for (double t = absa_now(); absa_now() - t < 6;) {
        door_open = ucx_open = 0;
        for (int i = 0; i < nsilent; i++) {
            if (silent[i] < 0) continue;
            struct sockaddr_in a;
            socklen_t al = sizeof a;
            getpeername(silent[i], (struct sockaddr *)&a, &al);
            int is_door = ntohs(a.sin_port) == door;
            if (closed_by_server(silent[i], 0.001)) {
                close(silent[i]);
                silent[i] = -1;
            } else {
                is_door ? door_open++ : ucx_open++;
            }
        }
        if (absa_now() - t_silent > 1.0 + 0.5 && !door_open && !ucx_open) break;
        usleep(200000);
    }
    for (int i = 0; i < nsilent; i++)
        if (silent[i] >= 0) close(silent[i]);
    CHECK(door_open == 0, "%d silent door connections still open after the hello timeout", door_open);
    CHECK(ucx_open == 0, "%d silent connections at UCX's listener still open after the hello timeout", ucx_open);
    fprintf(stderr, "fuzz: %ld connections (%ld refused), %ld wrong MACs, %ld busy\n", st.conns, st.refused, st.wrong_mac,
            st.busy);
    CHECK(!sh[0].finished && sh[0].failures == 0, "the client streamed throughout the fuzzing (%llu samples)",
          (unsigned long long)sh[0].samples);
    sh[0].go_fast = 1;
    int crc = ucxt_wait_pid(client, 120);
    CHECK(crc == 0, "client finished its epochs (exit %d): %s", crc, sh[0].msg);
    usleep(2500000); /* door deadlines (1 s) and UCX closing the fuzzers' connections */
    int fd1 = count_fds(e.server);
    CHECK(fd1 >= 0 && fd1 <= fd0, "server descriptors: %d before, %d after (no leak)", fd0, fd1);
    int src = ucxt_wait_server(&e, 0, 20);
    CHECK(src == 0, "server finished normally (exit %d)", src);
    uint64_t lines, dups;
    int complete = ucxt_check_audit(e.audit, N, epochs, &lines, &dups, NULL);
    CHECK(complete == (int)epochs && dups == 0 && lines == N * epochs, "audit: %d of %llu epochs exactly once, %llu lines, %llu duplicates",
          complete, (unsigned long long)epochs, (unsigned long long)lines, (unsigned long long)dups);
    int lost = ucxt_log_count(e.log, ") dropped:"); /* "client N (IP:PORT) dropped: ..." */
    CHECK(lost == 0, "no client past the door was dropped (%d)", lost);
    ucxt_finish_files(&e, absa_test_st.failures, "tail -30 %s >&2");
    return absa_test_finish("test_ucx_door fuzz");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_ucx_door listen|fuzz SERVE_BIN DIR [SECONDS]\n");
        return 2;
    }
    alarm(600);
    if (!strcmp(argv[1], "listen")) return listen_main(argv[2], argv[3]);
    const char *env = getenv("UCXT_FUZZ_SECONDS");
    double seconds = env ? atof(env) : argc > 4 ? atof(argv[4]) : 20;
    if (seconds > 540) seconds = 540;
    return fuzz_main(argv[2], argv[3], seconds);
}
