/* ucx_util.c — socket address parsing/formatting and shared-secret loading for `absa serve`
 * and its client (see ucx_util.h). No UCX needed. */
#include "ucx_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base_sys.h"

absa_status absa_ucx_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    absa_status status = ABSA_OK;
    char host[256];
    const char *p = s, *colon;
    struct addrinfo hints, *res = NULL;
    memset(ss, 0, sizeof *ss);
    if (!strncmp(p, "ucx://", 6)) p += 6;
    if (*p == '[') {
        const char *rb = strchr(p, ']');
        if (!rb || rb[1] != ':') ABSA_FAIL(ABSA_EINVAL, "'%s': expected [IPv6]:PORT", s);
        if ((size_t)(rb - p - 1) >= sizeof host) ABSA_FAIL(ABSA_EINVAL, "'%s': host too long", s);
        memcpy(host, p + 1, (size_t)(rb - p - 1));
        host[rb - p - 1] = 0;
        colon = rb + 1;
    } else {
        colon = strrchr(p, ':');
        if (!colon || colon == p) ABSA_FAIL(ABSA_EINVAL, "'%s': expected HOST:PORT", s);
        if ((size_t)(colon - p) >= sizeof host) ABSA_FAIL(ABSA_EINVAL, "'%s': host too long", s);
        memcpy(host, p, (size_t)(colon - p));
        host[colon - p] = 0;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        ABSA_FAIL(ABSA_EINVAL, "'%s': bad port", s);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) ABSA_FAIL(ABSA_EINVAL, "'%s': cannot resolve host '%s': %s", s, host, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (socklen_t)res->ai_addrlen;
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ABSA_FAIL(ABSA_EINVAL, "'%s': not an IPv4/IPv6 address", s);
cleanup:
    if (res) freeaddrinfo(res);
    return status;
}

void absa_ucx_format_addr(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(buf, cap, "ucx://%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(buf, cap, "ucx://[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        snprintf(buf, cap, "ucx://?");
    }
}

absa_status absa_ucx_load_secret(const char *file, uint8_t out[ABSA_UCX_MAX_SECRET], size_t *len)
{
    absa_status status = ABSA_OK;
    int fd = -1;
    size_t n = 0;
    memset(out, 0, ABSA_UCX_MAX_SECRET);
    *len = 0;
    if (file) {
        struct stat st;
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) ABSA_FAIL(ABSA_EIO, "secret file %s: %s", file, strerror(errno));
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) ABSA_FAIL(ABSA_EINVAL, "secret file %s is not a regular file", file);
        if (st.st_mode & (S_IRWXG | S_IRWXO))
            ABSA_FAIL(ABSA_EINVAL, "secret file %s has mode %03o: it must not be accessible by group or others (chmod 600)",
                      file, (unsigned)(st.st_mode & 0777));
        uint8_t tmp[ABSA_UCX_MAX_SECRET + 2];
        ssize_t r;
        while (n < sizeof tmp && (r = read(fd, tmp + n, sizeof tmp - n)) > 0) n += (size_t)r;
        if (n > 0 && tmp[n - 1] == '\n') n--;
        if (n > 0 && tmp[n - 1] == '\r') n--;
        if (n < 1 || n > ABSA_UCX_MAX_SECRET)
            ABSA_FAIL(ABSA_EINVAL, "secret file %s: the secret must be 1..%d bytes", file, ABSA_UCX_MAX_SECRET);
        memcpy(out, tmp, n);
        memset(tmp, 0, sizeof tmp);
    } else {
        const char *e = getenv("ABSA_SECRET");
        if (!e || !*e) ABSA_FAIL(ABSA_EINVAL, "no shared secret: give --secret-file FILE (mode 0600) or set ABSA_SECRET");
        n = strlen(e);
        if (n > ABSA_UCX_MAX_SECRET) ABSA_FAIL(ABSA_EINVAL, "ABSA_SECRET is longer than %d bytes", ABSA_UCX_MAX_SECRET);
        memcpy(out, e, n);
    }
    *len = n;
cleanup:
    if (fd >= 0) close(fd);
    return status;
}

absa_status absa_ucx_err_mode_peer(int *peer)
{
    const char *v = getenv("ABSA_UCX_ERR_MODE");
    *peer = 0;
    if (!v || !*v || !strcmp(v, "none")) return ABSA_OK;
    if (!strcmp(v, "peer")) {
        *peer = 1;
        return ABSA_OK;
    }
    absa_errorf("ABSA_UCX_ERR_MODE=%s: expected none or peer", v);
    return ABSA_EINVAL;
}

void *absa_ucx_buf_alloc(size_t bytes) { return absa_try_alloc_huge(bytes, ABSA_HUGE_PAGE / 2); }
