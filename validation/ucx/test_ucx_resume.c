/* test_ucx_resume.c — checkpoint and resume through `absa serve`: two clients stream, one after
 * the other, into epoch 1 and stop (sync, leave: their prefetched leases go back; the second one
 * gives one batch back just before it stops, leaving a hole); a third client records the
 * server state; the server is stopped with SIGTERM and a new server is started; a client seeks
 * to the recorded state and streams to the end, while a late client's seek is refused (leases
 * are outstanding). The state must equal what the first server's audit committed in epoch 1,
 * and the two audits together must hold every sample exactly once per epoch.
 * Usage: test_ucx_resume SERVE_BIN DIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "h5reader.h"
#include "ucx_test_util.h"

enum { N = 600, EPOCHS = 3 };

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    ucxt_env e;
    pid_t pids[UCXT_MAX_CLIENTS] = {0};
    alarm(120);
    if (ucxt_setup(&e, argv[2], "resume", N, 11, EPOCHS, argv[1]) != 0) return 1;
    ucxt_shared *sh = ucxt_shared_new(UCXT_MAX_CLIENTS);
    if (ucxt_start_server(&e, "a", NULL) != 0) return 1;
    char audit_a[700];
    snprintf(audit_a, sizeof audit_a, "%s", e.audit);
    /* client 1: 10 x 30 samples; client 0: 38 x 20 samples, giving its 38th batch back: the
     * state is 460 samples of epoch 1 in two ranges */
    ucxt_client_cfg c1 = {.id = 1, .n = 30, .prefetch = 2, .stop_after = 10, .step_us = 200};
    ucxt_client_cfg c0 = {.id = 0, .n = 20, .prefetch = 3, .stop_after = 38, .release_at = 38, .step_us = 200};
    pids[1] = ucxt_spawn_client(&e, &c1, &sh[1]);
    CHECK(ucxt_wait_pid(pids[1], 30) == 0, "client 1: %s", sh[1].msg);
    pids[0] = ucxt_spawn_client(&e, &c0, &sh[0]);
    CHECK(ucxt_wait_pid(pids[0], 30) == 0, "client 0: %s", sh[0].msg);
    pids[0] = pids[1] = 0;
    ucxt_client_cfg cs = {.id = 2, .n = 1, .state_only = 1};
    pids[2] = ucxt_spawn_client(&e, &cs, &sh[2]);
    CHECK(ucxt_wait_pid(pids[2], 30) == 0, "state client: %s", sh[2].msg);
    pids[2] = 0;
    int rc = ucxt_wait_server(&e, SIGTERM, 10);
    CHECK(rc == 0, "first server stopped cleanly on SIGTERM (%d)", rc);
    printf("state: epoch %llu, %llu committed in %llu ranges\n", (unsigned long long)sh[2].state_epoch,
           (unsigned long long)sh[2].state_committed, (unsigned long long)sh[2].state_nranges);
    CHECK(sh[2].state_epoch == 1 && sh[2].state_committed == 460 && sh[2].state_nranges == 2,
          "checkpoint: epoch 1, 460 committed in 2 ranges");

    /* the state is exactly what the first server committed in epoch 1 */
    uint32_t *ca = calloc((size_t)EPOCHS * N, sizeof *ca), *cb = calloc((size_t)EPOCHS * N, sizeof *cb);
    uint64_t lines, dups, *perm = malloc(N * sizeof *perm), st_sum = 0;
    int complete = ucxt_check_audit(audit_a, N, EPOCHS, &lines, &dups, ca);
    CHECK(complete == 1 && dups == 0, "first server: epoch 0 complete (%d), no duplicates (%llu)", complete, (unsigned long long)dups);
    absa_permutation(e.seed, 1, N, perm);
    uint8_t *in_state = calloc(N, 1);
    for (uint64_t r = 0; r < sh[2].state_nranges; r++)
        for (uint64_t p = sh[2].state_ranges[r].start; p < sh[2].state_ranges[r].start + sh[2].state_ranges[r].count; p++)
            in_state[perm[p]] = 1, st_sum++;
    int same = st_sum == sh[2].state_committed;
    for (int i = 0; i < N; i++) same &= (ca[N + i] == 1) == in_state[i] && ca[N + i] <= 1;
    CHECK(same, "state ranges (%llu samples) = the first server's epoch-1 commits", (unsigned long long)st_sum);

    /* resume on a new server */
    if (ucxt_start_server(&e, "b", NULL) != 0) return 1;
    ucxt_client_cfg c3 = {.id = 3, .n = 25, .prefetch = 3, .seek = 1, .step_us = 300, .slow_us = 20000};
    memcpy(&sh[3].state_ranges, sh[2].state_ranges, sizeof sh[3].state_ranges);
    sh[3].state_epoch = sh[2].state_epoch, sh[3].state_committed = sh[2].state_committed, sh[3].state_nranges = sh[2].state_nranges;
    sh[4] = sh[3];
    pids[3] = ucxt_spawn_client(&e, &c3, &sh[3]);
    while (sh[3].batches < 1 && !sh[3].failures) usleep(2000);
    ucxt_client_cfg c4 = {.id = 4, .n = 10, .prefetch = 2, .seek = 1, .expect_seek_refused = 1, .step_us = 300};
    pids[4] = ucxt_spawn_client(&e, &c4, &sh[4]);
    while (!sh[4].connected && !sh[4].failures) usleep(2000);
    usleep(100000);
    sh[3].go_fast = 1;
    for (int i = 3; i < 5; i++) {
        CHECK(ucxt_wait_pid(pids[i], 40) == 0, "client %d: %s", i, sh[i].msg);
        pids[i] = 0;
    }
    rc = ucxt_wait_server(&e, 0, 20);
    CHECK(rc == 0, "second server finished by itself (%d)", rc);
    ucxt_check_audit(e.audit, N, EPOCHS, &lines, &dups, cb);
    int e0 = 1, e1 = 1, e2 = 1;
    for (int i = 0; i < N; i++) {
        e0 &= cb[i] == 0;
        e1 &= ca[N + i] + cb[N + i] == 1;
        e2 &= cb[2 * N + i] == 1;
    }
    CHECK(e0, "the resumed server served nothing of epoch 0");
    CHECK(e1, "epoch 1: first and second server together committed every sample exactly once");
    CHECK(e2, "epoch 2 complete on the resumed server");
    CHECK(sh[3].epoch_mask == 6 || sh[3].epoch_mask == 2 || sh[3].epoch_mask == 4, "resumed client saw epochs mask 0x%llx",
          (unsigned long long)sh[3].epoch_mask);
    ucxt_kill_all(&e, pids, 5);
    free(ca);
    free(cb);
    free(perm);
    free(in_state);
    if (!absa_test_st.failures) unlink(audit_a);
    ucxt_finish_files(&e, absa_test_st.failures, NULL);
    return absa_test_finish("test_ucx_resume");
}
