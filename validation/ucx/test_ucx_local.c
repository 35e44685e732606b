/* test_ucx_local.c — the shared split of `absa serve` (src/stream/ucx_local.h), without UCX:
 *  1. the reader's RAM hooks: a split read through them is byte-equal to one read into plain
 *     memory (every sample by gather_u8), lives in a memfd, and is sealed afterwards;
 *  2. nobody can change it: write() and a writable mapping of the descriptor are refused, as is
 *     reopening it read-write through /proc and writing there; it cannot shrink;
 *  3. another process attaches by pid and descriptor and reads the same bytes;
 *  4. attach refuses what is not the server's split: another nonce, another size, an unsealed
 *     memfd, a descriptor that is no memfd (/dev/null, a FIFO: refused by the descriptor's name
 *     before any open), a process that does not exist;
 *  5. a child that maps it and is SIGKILLed leaves the server's copy intact;
 *  6. ABSA_UCX_LOCAL=0 turns it off (absa_ucx_local_enabled). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absa_test.h"
#include "h5pack.h"
#include "h5reader.h"
#include "ucx_local.h"

enum { N = 700, C = 3, H = 16, W = 16, SB = C * H * W };

static int write_fixture(const char *path)
{
    absa_h5w_opts o = {.quiet = 1};
    absa_h5w *w = NULL;
    uint8_t *img = malloc((size_t)N * SB);
    int32_t *lab = malloc(N * sizeof *lab);
    for (size_t i = 0; i < (size_t)N * SB; i++) img[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int i = 0; i < N; i++) lab[i] = i % 10;
    int ok = absa_h5w_open(path, ABSA_H5W_WRITE, &o, "local", &w) == ABSA_OK && absa_h5w_set_classes(w, 10, NULL) == ABSA_OK &&
             absa_h5w_begin_split(w, "train", N, C, H, W) == ABSA_OK && absa_h5w_append(w, img, lab, NULL, N) == ABSA_OK &&
             absa_h5w_end_split(w) == ABSA_OK && absa_h5w_close(w) == ABSA_OK;
    if (!ok && w) absa_h5w_discard(w);
    free(img);
    free(lab);
    return ok;
}

/* in a child: attach to pid's descriptor fd and compare every byte with want; exit 0 if equal,
 * 2 if attach failed, 3 if the bytes differ; with hold, also wait for SIGKILL after attaching */
static pid_t child_attach(uint32_t pid, uint32_t fd, uint64_t bytes, const uint8_t *nonce, const uint8_t *want, int hold,
                          int pipe_w)
{
    fflush(NULL);
    pid_t c = fork();
    if (c != 0) return c;
    const uint8_t *p = NULL;
    size_t map = 0;
    if (absa_ucx_shared_attach(pid, fd, bytes, nonce, &p, &map) != ABSA_OK) _exit(2);
    int same = memcmp(p, want, bytes) == 0;
    if (hold) {
        char one = 1;
        if (write(pipe_w, &one, 1) != 1) _exit(4);
        for (volatile uint64_t sum = 0;;) /* read it until killed */
            for (size_t i = 0; i < bytes; i += 4096) sum += p[i];
    }
    absa_ucx_shared_detach(p, map);
    _exit(same ? 0 : 3);
}

static int child_status(pid_t c)
{
    int st = 0;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int main(int argc, char **argv)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ucx_local_%d.h5", argc > 1 ? argv[1] : ".", (int)getpid());
    if (!write_fixture(path)) {
        fprintf(stderr, "cannot write the fixture: %s\n", absa_last_error());
        return 1;
    }
    /* 1. through the reader's hooks, against a plain reader */
    absa_ucx_shared sh = {.fd = -1};
    const absa_h5reader_ram ram = {.ctx = &sh, .alloc = absa_ucx_shared_alloc, .loaded = absa_ucx_shared_seal,
                                   .release = absa_ucx_shared_release};
    absa_h5reader *rs = NULL, *rp = NULL;
    CHECK(absa_h5reader_open_ram(path, "train", (size_t)1 << 30, &ram, &rs) == ABSA_OK, "open with hooks: %s", absa_last_error());
    CHECK(absa_h5reader_open(path, "train", (size_t)1 << 30, &rp) == ABSA_OK, "open plain: %s", absa_last_error());
    if (!rs || !rp) return absa_test_finish("test_ucx_local");
    CHECK(sh.fd >= 0 && sh.sealed && sh.bytes == (size_t)N * SB, "memfd %d, sealed %d, %zu bytes (%s)", sh.fd, sh.sealed, sh.bytes, sh.why);
    uint64_t *ids = malloc(N * sizeof *ids);
    uint8_t *a = malloc((size_t)N * SB), *b = malloc((size_t)N * SB);
    int32_t la[N], lb[N], lc[N];
    for (int i = 0; i < N; i++) ids[i] = (uint64_t)((i * 337) % N);
    CHECK(absa_h5reader_gather_u8(rs, ids, N, a, la) == ABSA_OK && absa_h5reader_gather_u8(rp, ids, N, b, lb) == ABSA_OK,
          "gathers");
    CHECK(!memcmp(a, b, (size_t)N * SB) && !memcmp(la, lb, sizeof la), "the shared split reads as the plain one");
    CHECK(absa_h5reader_gather_labels(rs, ids, N, lc) == ABSA_OK && !memcmp(lc, lb, sizeof lc), "gather_labels");
    ids[5] = N;
    CHECK(absa_h5reader_gather_labels(rs, ids, N, lc) == ABSA_EINVAL, "gather_labels refuses an id past the split");
    CHECK(absa_h5reader_gather_u8(rp, (uint64_t[]){0}, 1, b, NULL) == ABSA_OK &&
              !memcmp(sh.p, b, SB),
          "the memfd holds sample 0 at offset 0");
    /* 2. read-only for everyone */
    errno = 0;
    CHECK(pwrite(sh.fd, "x", 1, 0) < 0 && errno == EPERM, "write() refused (errno %d)", errno);
    CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sh.fd, 0) == MAP_FAILED, "writable mapping refused");
    CHECK(ftruncate(sh.fd, 4096) != 0, "shrinking refused");
    {
        char pp[64];
        snprintf(pp, sizeof pp, "/proc/self/fd/%d", sh.fd);
        int rw = open(pp, O_RDWR);
        CHECK(rw < 0 || pwrite(rw, "x", 1, 0) < 0, "writing through a read-write reopen refused");
        if (rw >= 0) close(rw);
    }
    /* 3. another process attaches and sees the same bytes */
    const uint32_t me = (uint32_t)getpid();
    CHECK(child_status(child_attach(me, (uint32_t)sh.fd, sh.bytes, sh.nonce, sh.p, 0, -1)) == 0,
          "a child attaches by pid and descriptor and reads the same bytes");
    /* 4. refusals */
    uint8_t other[ABSA_UCX_NONCE];
    memcpy(other, sh.nonce, sizeof other);
    other[31] ^= 1;
    const uint8_t *p = NULL;
    size_t map = 0;
    CHECK(absa_ucx_shared_attach(me, (uint32_t)sh.fd, sh.bytes, other, &p, &map) == ABSA_EFORMAT && !p, "another nonce refused");
    CHECK(absa_ucx_shared_attach(me, (uint32_t)sh.fd, sh.bytes - 1, sh.nonce, &p, &map) != ABSA_OK && !p, "another size refused");
    CHECK(absa_ucx_shared_attach(me, (uint32_t)sh.fd, sh.bytes + 4096, sh.nonce, &p, &map) != ABSA_OK && !p, "a larger size refused");
    absa_ucx_shared un = {.fd = -1};
    CHECK(absa_ucx_shared_alloc(&un, sh.bytes) != NULL, "an unsealed memfd: %s", un.why);
    memcpy(un.nonce, sh.nonce, sizeof un.nonce); /* even with the right trailer's nonce... */
    memcpy(un.p + un.map_bytes - 4096 + 24, sh.nonce, sizeof sh.nonce);
    CHECK(absa_ucx_shared_attach(me, (uint32_t)un.fd, sh.bytes, sh.nonce, &p, &map) == ABSA_EFORMAT && !p,
          "an unsealed memfd refused: %s", absa_last_error());
    absa_ucx_shared_release(&un);
    int devnull = open("/dev/null", O_RDONLY);
    CHECK(absa_ucx_shared_attach(me, (uint32_t)devnull, sh.bytes, sh.nonce, &p, &map) != ABSA_OK && !p, "/dev/null refused");
    close(devnull);
    CHECK(absa_ucx_shared_attach(me, 1000000, sh.bytes, sh.nonce, &p, &map) == ABSA_EIO && !p, "a closed descriptor refused");
    { /* a FIFO (on another node the same pid and number may be one: opening it could block) */
        char fifo[600];
        snprintf(fifo, sizeof fifo, "%s.fifo", path);
        int ff = mkfifo(fifo, 0600) == 0 ? open(fifo, O_RDWR) : -1;
        CHECK(ff >= 0, "a FIFO to try: %s", strerror(errno));
        alarm(10); /* a hang here is a failure */
        if (ff >= 0)
            CHECK(absa_ucx_shared_attach(me, (uint32_t)ff, sh.bytes, sh.nonce, &p, &map) == ABSA_EFORMAT && !p,
                  "a FIFO refused by its name, not opened: %s", absa_last_error());
        alarm(0);
        if (ff >= 0) close(ff);
        unlink(fifo);
    }
    CHECK(absa_ucx_shared_attach(4194304, (uint32_t)sh.fd, sh.bytes, sh.nonce, &p, &map) == ABSA_EIO && !p,
          "a process that does not exist refused");
    /* 5. a reader killed while reading changes nothing */
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t k = child_attach(me, (uint32_t)sh.fd, sh.bytes, sh.nonce, sh.p, 1, pfd[1]);
    close(pfd[1]); /* a child that fails before attaching closes the pipe: read returns 0, no hang */
    char one = 0;
    CHECK(read(pfd[0], &one, 1) == 1 && one == 1, "the child attached");
    kill(k, SIGKILL);
    CHECK(child_status(k) == 128 + SIGKILL, "the child was killed");
    CHECK(absa_h5reader_gather_u8(rs, (uint64_t[]){0}, 1, a, NULL) == ABSA_OK && !memcmp(a, b, SB) &&
              !memcmp(sh.p, b, SB),
          "the split is intact after its reader was killed");
    close(pfd[0]);
    /* 6. the switch */
    setenv("ABSA_UCX_LOCAL", "0", 1);
    CHECK(!absa_ucx_local_enabled(), "ABSA_UCX_LOCAL=0 turns the shared split off");
    const char *offs[] = {"no", "OFF", "False"};
    for (int i = 0; i < 3; i++) {
        setenv("ABSA_UCX_LOCAL", offs[i], 1);
        CHECK(!absa_ucx_local_enabled(), "ABSA_UCX_LOCAL=%s turns it off", offs[i]);
    }
    setenv("ABSA_UCX_LOCAL", "1", 1);
    CHECK(absa_ucx_local_enabled(), "ABSA_UCX_LOCAL=1 keeps it on");
    unsetenv("ABSA_UCX_LOCAL");
    CHECK(absa_ucx_local_enabled(), "on by default");
    absa_h5reader_close(rs);
    CHECK(sh.fd < 0 && sh.p == NULL, "closing the reader released the memfd");
    absa_h5reader_close(rp);
    free(ids);
    free(a);
    free(b);
    unlink(path);
    return absa_test_finish("test_ucx_local");
}
