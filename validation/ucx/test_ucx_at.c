/* test_ucx_at.c — positional requests (REQUEST_AT / CANCEL through absa_ucx_client_plan and
 * absa_ucx_client_next_at) over loopback with real processes, used the way `absa train`'s ranks
 * use them: N = 1000 samples, micro-batches of 16, micro-batch j of a step goes to rank j % R,
 * and each rank plans its next micro-batches ahead (prefetch 4) assuming B and R stay:
 *   epoch 0: B = 48 on R = 2 ranks for 10 steps, then a third rank joins (R = 3): ranks 0 and 1
 *            hold requests and leases planned for R = 2, which they must withdraw;
 *   epoch 1: B = 64 (k = 4: rank 0 takes two micro-batches per step, the others one): the
 *            requests planned for B = 48 wait at the server until epoch 0 is complete and are
 *            then cancelled or, if already served, released unseen;
 *   epoch 2: B = 40 (k = 3, the last step short).
 * The ranks run at different speeds with no barrier. Each checks that every batch holds exactly
 * the positions it asked for (ids = absa_permutation at those positions, bytes = the HDF5
 * reader's and the fixture's closed form). The server's audit must hold every sample exactly
 * once per epoch, the ranks together must have committed 3 N samples, and withdrawals must have
 * happened. Usage: test_ucx_at SERVE_BIN DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "h5reader.h"
#include "ucx_test_util.h"

enum { N = 1000, EPOCHS = 3, MICRO = 16, PREFETCH = 4, JOIN_AT = 480 };
#define SB ((size_t)UCXT_C * UCXT_H * UCXT_W)

static int batch_of(uint64_t e) { return e == 0 ? 48 : e == 1 ? 64 : 40; }
static int ranks_at(uint64_t e, uint64_t cur) { return e == 0 && cur < JOIN_AT ? 2 : 3; }

/* the rank's micro-batches from micro-batch j0 of the step at cur, assuming B and R stay */
static size_t plan(uint64_t e, uint64_t cur, int rank, int j0, absa_ucx_want *w, size_t cap)
{
    const int B = batch_of(e), R = ranks_at(e, cur);
    size_t nw = 0;
    while (nw < cap && e < EPOCHS) {
        int b = (uint64_t)B < N - cur ? B : (int)(N - cur), k = (b + MICRO - 1) / MICRO;
        for (int j = 0; j < k && nw < cap; j++)
            if (j >= j0 && j % R == rank)
                w[nw++] = (absa_ucx_want){.epoch = e, .first = cur + (uint64_t)j * MICRO,
                                          .n = (uint32_t)(b - j * MICRO < MICRO ? b - j * MICRO : MICRO)};
        j0 = 0;
        cur += (uint64_t)b;
        if (cur == N) cur = 0, e++;
    }
    return nw;
}

#define RFAIL(...)                                                 \
    do {                                                           \
        snprintf(sh->msg, sizeof sh->msg, __VA_ARGS__);            \
        fprintf(stderr, "rank %d: %s\n", rank, sh->msg);           \
        sh->failures++;                                            \
        goto done;                                                 \
    } while (0)

static int rank_main(const ucxt_env *env, int rank, ucxt_shared *sh)
{
    absa_h5reader *rd = NULL;
    absa_ucx_client *c = NULL;
    uint64_t *perm = malloc(N * sizeof *perm);
    uint8_t *img = malloc(MICRO * SB);
    int32_t lab[MICRO];
    absa_ucx_batch held[4];
    if (absa_h5reader_open(env->data, "train", (size_t)1 << 30, &rd) != ABSA_OK) RFAIL("reader: %s", absa_last_error());
    if (absa_ucx_client_connect(env->url, env->secret, PREFETCH, &c) != ABSA_OK) RFAIL("connect: %s", absa_last_error());
    sh->connected = 1;
    for (uint64_t e = 0; e < EPOCHS; e++) {
        absa_permutation(env->seed, e, N, perm);
        for (uint64_t cur = rank == 2 && e == 0 ? JOIN_AT : 0; cur < N;) {
            const int R = ranks_at(e, cur), b = (uint64_t)batch_of(e) < N - cur ? batch_of(e) : (int)(N - cur);
            const int k = (b + MICRO - 1) / MICRO;
            absa_ucx_want w[PREFETCH + 1];
            size_t nh = 0, nw = plan(e, cur, rank, 0, w, PREFETCH);
            if (absa_ucx_client_plan(c, w, nw) != ABSA_OK) RFAIL("plan: %s", absa_last_error());
            for (int j = rank; j < k; j += R) {
                nw = plan(e, cur, rank, j, w, PREFETCH + 1);
                absa_ucx_batch bt;
                if (absa_ucx_client_next_at(c, w, nw, &bt) != ABSA_OK) RFAIL("next_at: %s", absa_last_error());
                const uint64_t first = cur + (uint64_t)j * MICRO;
                if (bt.done || bt.epoch != e || bt.first != first || bt.count != w[0].n || bt.nranges != 1)
                    RFAIL("asked for [%llu,+%u) of epoch %llu, got %zu at %llu of epoch %llu (done %d)",
                          (unsigned long long)first, w[0].n, (unsigned long long)e, bt.count,
                          (unsigned long long)bt.first, (unsigned long long)bt.epoch, bt.done);
                if (memcmp(bt.ids, perm + first, bt.count * sizeof *bt.ids)) RFAIL("ids differ from the permutation at %llu", (unsigned long long)first);
                if (absa_h5reader_gather_u8(rd, bt.ids, bt.count, img, lab) != ABSA_OK || memcmp(img, bt.images, bt.count * SB) ||
                    memcmp(lab, bt.labels, bt.count * sizeof *lab))
                    RFAIL("bytes at %llu differ from the reader's", (unsigned long long)first);
                for (size_t i = 0; i < bt.count; i++)
                    if (bt.labels[i] != ucxt_lab(bt.ids[i]) || bt.images[i * SB + 5] != ucxt_pix(bt.ids[i], 5))
                        RFAIL("sample %llu differs from the closed form", (unsigned long long)bt.ids[i]);
                held[nh++] = bt;
            }
            usleep((useconds_t)(400 + 500 * rank)); /* the step: ranks at different speeds */
            for (size_t i = 0; i < nh; i++) {
                if (absa_ucx_client_commit(c, &held[i]) != ABSA_OK) RFAIL("commit: %s", absa_last_error());
                sh->samples += held[i].count;
                sh->batches++;
            }
            cur += (uint64_t)b;
        }
    }
    if (absa_ucx_client_sync(c) != ABSA_OK) RFAIL("sync: %s", absa_last_error());
    sh->rndv = absa_ucx_client_withdrawn(c); /* (the field carries the withdrawals here) */
    fprintf(stderr, "rank %d: %llu batches, %llu samples, %llu requests withdrawn\n", rank, (unsigned long long)sh->batches,
            (unsigned long long)sh->samples, (unsigned long long)sh->rndv);
    sh->finished = 1;
done:
    absa_ucx_client_close(c);
    absa_h5reader_close(rd);
    free(perm);
    free(img);
    return sh->failures ? 1 : 0;
}

static pid_t spawn_rank(const ucxt_env *e, int rank, ucxt_shared *sh)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        _exit(rank_main(e, rank, sh));
    }
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SERVE_BIN DIR\n", argv[0]);
        return 2;
    }
    ucxt_env e;
    pid_t pids[3] = {0};
    alarm(120);
    if (ucxt_setup(&e, argv[2], "at", N, 5, EPOCHS, argv[1]) != 0) return 1;
    ucxt_shared *sh = ucxt_shared_new(3);
    if (!sh || ucxt_start_server(&e, "at", NULL) != 0) return 1;
    printf("server %s (UCX_TLS=%s)\n", e.url, getenv("UCX_TLS"));
    pids[0] = spawn_rank(&e, 0, &sh[0]);
    pids[1] = spawn_rank(&e, 1, &sh[1]);
    /* the third rank joins once rank 0 is past the change to R = 3 (its R = 2 requests for the
     * positions of step 10 and later, served or waiting, are then withdrawn) */
    while (sh[0].samples < JOIN_AT / 48 * 32 + 16 && !sh[0].failures && !sh[1].failures) usleep(2000);
    pids[2] = spawn_rank(&e, 2, &sh[2]);
    for (int i = 0; i < 3; i++) {
        int rc = ucxt_wait_pid(pids[i], 60);
        CHECK(rc == 0 && sh[i].finished, "rank %d exit %d: %s", i, rc, sh[i].msg);
        pids[i] = 0;
    }
    int src = ucxt_wait_server(&e, 0, 20);
    CHECK(src == 0, "server exit status %d (log %s)", src, e.log);
    ucxt_kill_all(&e, pids, 3);
    uint64_t lines, dups, committed = sh[0].samples + sh[1].samples + sh[2].samples;
    int complete = ucxt_check_audit(e.audit, N, EPOCHS, &lines, &dups, NULL);
    printf("audit: %d complete epochs, %llu lines, %llu duplicates; ranks committed %llu samples; withdrawn %llu/%llu/%llu\n",
           complete, (unsigned long long)lines, (unsigned long long)dups, (unsigned long long)committed,
           (unsigned long long)sh[0].rndv, (unsigned long long)sh[1].rndv, (unsigned long long)sh[2].rndv);
    CHECK(complete == EPOCHS && lines == (uint64_t)N * EPOCHS && dups == 0, "every sample exactly once in each of %d epochs", EPOCHS);
    CHECK(committed == (uint64_t)N * EPOCHS, "ranks committed %llu samples, want %d", (unsigned long long)committed, N * EPOCHS);
    CHECK(sh[0].rndv > 0 && sh[1].rndv > 0, "ranks 0 and 1 withdrew requests of older plans (%llu, %llu)",
          (unsigned long long)sh[0].rndv, (unsigned long long)sh[1].rndv);
    CHECK(ucxt_log_count(e.log, "dropped:") == 0, "no client dropped");
    ucxt_finish_files(&e, absa_test_st.failures, "tail -n 30 %s >&2");
    return absa_test_finish("at");
}
