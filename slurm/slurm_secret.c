/* slurm_secret.c — the shared secret of a job's UCX data stream: fresh bytes from /dev/urandom,
 * hex-encoded, written atomically with mode 0600 (absa serve and the trainer read it with
 * absa_ucx_load_secret, which refuses group/other-accessible files); see absa_slurm.h. */
#include "absa_slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static absa_status read_random(unsigned char *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        absa_errorf("/dev/urandom: %s", strerror(errno));
        return ABSA_EIO;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            absa_errorf("/dev/urandom: %s", r < 0 ? strerror(errno) : "short read");
            close(fd);
            return ABSA_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    return ABSA_OK;
}

static absa_status write_all(int fd, const char *path, const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            absa_errorf("%s: %s", path, w < 0 ? strerror(errno) : "short write");
            return ABSA_EIO;
        }
        off += (size_t)w;
    }
    return ABSA_OK;
}

absa_status absa_slurm_write_secret(const char *path, size_t nbytes)
{
    absa_status status = ABSA_OK;
    unsigned char raw[128];
    char hex[2 * 128 + 2];
    char *tmp = NULL;
    int fd = -1;
    if (!path || !*path) ABSA_FAIL(ABSA_EINVAL, "secret: no file name");
    if (nbytes < 16 || nbytes > sizeof raw) ABSA_FAIL(ABSA_EINVAL, "secret: %zu bytes is outside [16, %zu]", nbytes, sizeof raw);
    ABSA_TRY(read_random(raw, nbytes));
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[2 * nbytes] = '\n';
    size_t tl = strlen(path) + 32;
    tmp = malloc(tl);
    if (!tmp) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* a stale temporary of this pid; O_EXCL below refuses anything else */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) ABSA_FAIL(ABSA_EIO, "%s: %s", tmp, strerror(errno));
    if (fchmod(fd, 0600) != 0) ABSA_FAIL(ABSA_EIO, "%s: chmod: %s", tmp, strerror(errno)); /* whatever the umask */
    ABSA_TRY(write_all(fd, tmp, hex, 2 * nbytes + 1));
    if (fsync(fd) != 0) ABSA_FAIL(ABSA_EIO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0) {
        fd = -1;
        ABSA_FAIL(ABSA_EIO, "%s: close: %s", tmp, strerror(errno));
    }
    fd = -1;
    if (rename(tmp, path) != 0) ABSA_FAIL(ABSA_EIO, "%s: rename to %s: %s", tmp, path, strerror(errno));
cleanup:
    if (fd >= 0) close(fd);
    if (status != ABSA_OK && tmp) unlink(tmp);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(hex, sizeof hex);
    free(tmp);
    return status;
}
