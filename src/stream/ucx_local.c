/* ucx_local.c — the shared split (see ucx_local.h): a sealed, read-only memfd on the server's
 * side, mapped read-only by same-node clients through /proc/PID/fd/FD. Plain POSIX/Linux calls;
 * no UCX. */
#define _GNU_SOURCE
#include "ucx_local.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define ABSA_SHARED_MAGIC "ABSASPLT"
#define ABSA_SHARED_NAME "absa-split" /* the memfd's name: /proc/PID/fd/FD -> "/memfd:absa-split (deleted)" */
#define ABSA_SHARED_VERSION 1u
#define ABSA_SHARED_SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)

/* the trailer page after the images (little-endian host, as the protocol) */
typedef struct absa_shared_trailer {
    char magic[8];
    uint32_t version, reserved;
    uint64_t bytes;
    uint8_t nonce[ABSA_UCX_NONCE];
} absa_shared_trailer;

static size_t absa_shared_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* bytes rounded up to whole pages, plus one page for the trailer; 0 on overflow */
static size_t absa_shared_map_bytes(uint64_t bytes)
{
    const size_t pg = absa_shared_page();
    if (bytes == 0 || bytes > (uint64_t)SIZE_MAX - 2 * pg) return 0;
    return ((size_t)bytes + pg - 1) / pg * pg + pg;
}

int absa_ucx_local_enabled(void)
{
    static const char *const off[] = {"0", "no", "off", "false"};
    const char *e = getenv("ABSA_UCX_LOCAL");
    for (size_t i = 0; e && i < sizeof off / sizeof *off; i++)
        if (!strcasecmp(e, off[i])) return 0;
    return 1;
}

static void absa_shared_why(absa_ucx_shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void absa_shared_why(absa_ucx_shared *sh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->why, sizeof sh->why, fmt, ap);
    va_end(ap);
}

void *absa_ucx_shared_alloc(void *ctx, size_t bytes)
{
    absa_ucx_shared *sh = ctx;
    const size_t map = absa_shared_map_bytes(bytes);
    void *p = MAP_FAILED;
    int fd = -1;
    if (!map) {
        absa_shared_why(sh, "%zu bytes is too large", bytes);
        return NULL;
    }
    if (getrandom(sh->nonce, sizeof sh->nonce, 0) != (ssize_t)sizeof sh->nonce) {
        absa_shared_why(sh, "getrandom: %s", strerror(errno));
        return NULL;
    }
    fd = memfd_create(ABSA_SHARED_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        absa_shared_why(sh, "memfd_create: %s", strerror(errno));
        return NULL;
    }
    if (ftruncate(fd, (off_t)map) != 0) {
        absa_shared_why(sh, "cannot size it to %zu bytes: %s", map, strerror(errno));
        goto fail;
    }
    p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        absa_shared_why(sh, "mmap of %zu bytes: %s", map, strerror(errno));
        goto fail;
    }
    (void)madvise(p, map, MADV_HUGEPAGE); /* honoured where shmem_enabled allows it (advise) */
    absa_shared_trailer t = {.version = ABSA_SHARED_VERSION, .bytes = bytes};
    memcpy(t.magic, ABSA_SHARED_MAGIC, 8);
    memcpy(t.nonce, sh->nonce, sizeof t.nonce);
    memcpy((uint8_t *)p + map - absa_shared_page(), &t, sizeof t);
    sh->fd = fd;
    sh->p = p;
    sh->bytes = bytes;
    sh->map_bytes = map;
    sh->sealed = 0;
    return p;
fail:
    close(fd);
    return NULL;
}

void *absa_ucx_shared_seal(void *ctx)
{
    absa_ucx_shared *sh = ctx;
    /* a read-only mapping first, through a read-only descriptor (a read-only mapping of the
     * read-write memfd could be made writable by mprotect, and the kernel then refuses
     * F_SEAL_WRITE with EBUSY), then the writable mapping goes: the data stay mapped throughout */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", sh->fd);
    int rfd = open(path, O_RDONLY | O_CLOEXEC);
    void *ro = rfd < 0 ? MAP_FAILED : mmap(NULL, sh->map_bytes, PROT_READ, MAP_SHARED, rfd, 0);
    if (rfd >= 0) close(rfd);
    if (ro == MAP_FAILED) { /* stays writable and unsealed: not offered */
        absa_shared_why(sh, "read-only mapping through %s: %s", path, strerror(errno));
        return sh->p;
    }
    munmap(sh->p, sh->map_bytes);
    sh->p = ro;
    sh->sealed = fcntl(sh->fd, F_ADD_SEALS, ABSA_SHARED_SEALS | F_SEAL_SEAL) == 0;
    if (!sh->sealed) absa_shared_why(sh, "cannot seal it: %s", strerror(errno));
    return sh->p;
}

void absa_ucx_shared_release(void *ctx)
{
    absa_ucx_shared *sh = ctx;
    if (sh->p) munmap(sh->p, sh->map_bytes);
    if (sh->fd >= 0) close(sh->fd);
    sh->p = NULL;
    sh->fd = -1;
    sh->sealed = 0;
}

absa_status absa_ucx_shared_attach(uint32_t pid, uint32_t fd, uint64_t bytes, const uint8_t *nonce,
                                   const uint8_t **data, size_t *map_bytes)
{
    absa_status status = ABSA_OK;
    char path[64], target[128];
    struct stat st;
    void *p = MAP_FAILED;
    int f = -1;
    const size_t map = absa_shared_map_bytes(bytes);
    *data = NULL;
    *map_bytes = 0;
    snprintf(path, sizeof path, "/proc/%u/fd/%u", pid, fd);
    if (!map) ABSA_FAIL(ABSA_EINVAL, "shared split of %llu bytes: too large", (unsigned long long)bytes);
    /* the descriptor must be the server's memfd before anything is opened: on another node the
     * same pid and number may name a FIFO (an open would block) or a device */
    ssize_t tl = readlink(path, target, sizeof target - 1);
    if (tl < 0) ABSA_FAIL(ABSA_EIO, "cannot read %s: %s (another node, namespace or user?)", path, strerror(errno));
    target[tl] = 0;
    if (strncmp(target, "/memfd:" ABSA_SHARED_NAME " ", 7 + sizeof ABSA_SHARED_NAME) != 0)
        ABSA_FAIL(ABSA_EFORMAT, "%s is %s, not the server's split", path, target);
    f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0) ABSA_FAIL(ABSA_EIO, "cannot open %s: %s (another node, namespace or user?)", path, strerror(errno));
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != map)
        ABSA_FAIL(ABSA_EFORMAT, "%s is not the server's split (%lld bytes, want %zu)", path, (long long)st.st_size, map);
    int seals = fcntl(f, F_GET_SEALS);
    if (seals < 0 || (seals & ABSA_SHARED_SEALS) != ABSA_SHARED_SEALS)
        ABSA_FAIL(ABSA_EFORMAT, "%s is not sealed against writing and resizing", path);
    p = mmap(NULL, map, PROT_READ, MAP_SHARED, f, 0);
    if (p == MAP_FAILED) ABSA_FAIL(ABSA_EIO, "cannot map %s: %s", path, strerror(errno));
    absa_shared_trailer t;
    memcpy(&t, (const uint8_t *)p + map - absa_shared_page(), sizeof t);
    if (memcmp(t.magic, ABSA_SHARED_MAGIC, 8) != 0 || t.version != ABSA_SHARED_VERSION || t.bytes != bytes ||
        memcmp(t.nonce, nonce, ABSA_UCX_NONCE) != 0)
        ABSA_FAIL(ABSA_EFORMAT, "%s is another file than the server's split (trailer or nonce differ)", path);
    *data = p;
    *map_bytes = map;
    p = MAP_FAILED;
cleanup:
    if (p != MAP_FAILED) munmap(p, map);
    if (f >= 0) close(f);
    return status;
}

void absa_ucx_shared_detach(const uint8_t *data, size_t map_bytes)
{
    if (data) munmap((void *)(uintptr_t)data, map_bytes);
}
