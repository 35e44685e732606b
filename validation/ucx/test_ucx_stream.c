/* test_ucx_stream.c — `absa serve` over loopback UCX with real processes: one server and
 *   one   1 client, prefetch 3: positions arrive in order 0..N-1 each epoch (what a direct
 *         reader sees), the last batch of every epoch is short, END separates epochs;
 *   two   2 clients with different batch sizes; one shrinks its batch size mid-stream (its
 *         prefetched larger batches are given back and re-issued);
 *   join  1 client, then 3 more join mid-epoch (the first client runs slowly until they are in);
 *   kill  2 clients, one SIGKILLed mid-epoch while it holds leases (they must be re-issued);
 *   stop  2 clients, --lease-timeout 1: one is SIGSTOPped mid-epoch while it holds leases; the
 *         server revokes them after 1 s of silence and the other client finishes every epoch
 *         alone; then the stopped one is continued: its late commit is refused and it is told
 *         ("revoked"), so the audit still holds every sample exactly once;
 *   srvkill  the server is SIGKILLed under a streaming client: next() fails with ABSA_EUCX
 *         (no hang) and a new connect to the dead address fails.
 * Every client checks every batch against the permutation, the in-process HDF5 reader and the
 * fixture's closed form; the server's audit log must hold every sample exactly once per epoch
 * and as many samples as the clients committed. Usage: test_ucx_stream SCENARIO SERVE_BIN DIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "ucx_test_util.h"

enum { N = 1000, EPOCHS = 3 };

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s one|two|join|kill|stop|srvkill SERVE_BIN DIR\n", argv[0]);
        return 2;
    }
    const char *sc = argv[1];
    ucxt_env e;
    pid_t pids[UCXT_MAX_CLIENTS] = {0};
    int nc = 0;
    alarm(120);
    if (ucxt_setup(&e, argv[3], sc, N, 7, EPOCHS, argv[2]) != 0) return 1;
    ucxt_shared *sh = ucxt_shared_new(UCXT_MAX_CLIENTS);
    const char *const stop_args[] = {"--lease-timeout", "1", NULL};
    if (!sh || ucxt_start_server(&e, sc, !strcmp(sc, "stop") ? stop_args : NULL) != 0) return 1;
    printf("server %s (UCX_TLS=%s)\n", e.url, getenv("UCX_TLS"));
    ucxt_client_cfg cfg[UCXT_MAX_CLIENTS];
    memset(cfg, 0, sizeof cfg);
    for (int i = 0; i < UCXT_MAX_CLIENTS; i++) cfg[i] = (ucxt_client_cfg){.id = i, .n = 64, .prefetch = 3};
    if (!strcmp(sc, "one")) {
        cfg[0].check_order = 1;
        pids[nc++] = ucxt_spawn_client(&e, &cfg[0], &sh[0]);
    } else if (!strcmp(sc, "two")) {
        cfg[0].n = 32;
        cfg[1].n = 20;
        cfg[1].n_later = 7;
        cfg[1].switch_after = 10;
        cfg[1].prefetch = 2;
        cfg[0].step_us = cfg[1].step_us = 300;
        for (int i = 0; i < 2; i++) pids[nc++] = ucxt_spawn_client(&e, &cfg[i], &sh[i]);
    } else if (!strcmp(sc, "join")) {
        cfg[0].n = 10;
        cfg[0].slow_us = 20000; /* 20 ms per batch until everyone is in: epoch 0 takes >= 2 s alone */
        cfg[0].step_us = 300;
        pids[nc++] = ucxt_spawn_client(&e, &cfg[0], &sh[0]);
        while (sh[0].samples < 100 && !sh[0].failures) usleep(2000);
        for (int i = 1; i < 4; i++) {
            cfg[i].n = (size_t)(8 + 8 * i);
            cfg[i].step_us = 300;
            cfg[i].slow_us = 20000;
            pids[nc++] = ucxt_spawn_client(&e, &cfg[i], &sh[i]);
        }
        for (int i = 1; i < 4; i++)
            while (!sh[i].connected && !sh[i].failures) usleep(2000);
        uint64_t at_join = sh[0].samples;
        usleep(50000); /* the joiners take their first leases while the epoch is under way */
        for (int i = 0; i < 4; i++) sh[i].go_fast = 1;
        printf("joined after client 0 committed %llu samples\n", (unsigned long long)at_join);
        CHECK(at_join < N, "clients 1-3 connected after client 0 committed %llu samples (epoch 0 over)",
              (unsigned long long)at_join);
    } else if (!strcmp(sc, "kill")) {
        cfg[0].n = 16;
        cfg[0].slow_us = 5000; /* slow until the other client is killed: the kill is mid-epoch 0 */
        cfg[0].step_us = 300;
        cfg[1].n = 24;
        cfg[1].hold_after = 5;
        for (int i = 0; i < 2; i++) pids[nc++] = ucxt_spawn_client(&e, &cfg[i], &sh[i]);
        while (!sh[1].holding && !sh[1].failures) usleep(1000);
        CHECK(sh[0].samples < N, "client 1 was killed mid-epoch (client 0 committed %llu)", (unsigned long long)sh[0].samples);
        kill(pids[1], SIGKILL);
        int rc = ucxt_wait_pid(pids[1], 10);
        CHECK(rc == 128 + SIGKILL, "killed client status %d", rc);
        pids[1] = 0;
        sh[0].go_fast = 1;
    } else if (!strcmp(sc, "stop")) {
        cfg[0].n = 16;
        cfg[0].slow_us = 5000; /* slow until the other client is stopped: the stop is mid-epoch 0 */
        cfg[0].step_us = 300;
        cfg[1].n = 24;
        cfg[1].hold_after = 5;
        cfg[1].expect_revoked = 1;
        for (int i = 0; i < 2; i++) pids[nc++] = ucxt_spawn_client(&e, &cfg[i], &sh[i]);
        while (!sh[1].holding && !sh[1].failures) usleep(1000);
        CHECK(sh[0].samples < N, "client 1 was stopped mid-epoch (client 0 committed %llu)", (unsigned long long)sh[0].samples);
        kill(pids[1], SIGSTOP);
        sh[0].go_fast = 1;
        int rc = ucxt_wait_pid(pids[0], 40);
        CHECK(rc == 0 && sh[0].finished, "client 0 finished every epoch while client 1 was stopped (exit %d): %s", rc, sh[0].msg);
        pids[0] = 0;
        CHECK(ucxt_log_count(e.log, "leases revoked after") >= 1, "server revoked the stopped client's leases");
        sh[1].go_fast = 1;
        kill(pids[1], SIGCONT);
        rc = ucxt_wait_pid(pids[1], 20);
        CHECK(rc == 0 && sh[1].revoked, "continued client was told its leases were revoked (exit %d): %s", rc, sh[1].msg);
        pids[1] = 0;
    } else if (!strcmp(sc, "srvkill")) {
        cfg[0].n = 16;
        cfg[0].slow_us = 20000;
        cfg[0].expect_loss = 1;
        pids[nc++] = ucxt_spawn_client(&e, &cfg[0], &sh[0]);
        while (sh[0].batches < 5 && !sh[0].failures) usleep(2000);
        int rc = ucxt_wait_server(&e, SIGKILL, 10);
        CHECK(rc == 128 + SIGKILL, "server killed (%d)", rc);
        rc = ucxt_wait_pid(pids[0], 30);
        CHECK(rc == 0 && sh[0].finished, "client noticed the lost server (exit %d): %s", rc, sh[0].msg);
        ucxt_kill_all(&e, pids, nc);
        ucxt_finish_files(&e, absa_test_st.failures, NULL);
        return absa_test_finish(sc);
    } else {
        fprintf(stderr, "unknown scenario %s\n", sc);
        ucxt_kill_all(&e, pids, nc);
        return 2;
    }
    for (int i = 0; i < nc; i++) {
        if (!pids[i]) continue;
        int rc = ucxt_wait_pid(pids[i], 60);
        CHECK(rc == 0, "client %d exit %d: %s", i, rc, sh[i].msg);
        pids[i] = 0;
    }
    int src = ucxt_wait_server(&e, 0, 20); /* exits by itself: epochs served, clients gone */
    CHECK(src == 0, "server exit status %d (log %s)", src, e.log);
    ucxt_kill_all(&e, pids, nc);

    uint64_t lines, dups, committed = 0;
    int complete = ucxt_check_audit(e.audit, N, EPOCHS, &lines, &dups, NULL);
    for (int i = 0; i < nc; i++) committed += sh[i].samples;
    printf("audit: %d complete epochs, %llu lines, %llu duplicates; clients committed %llu samples\n", complete,
           (unsigned long long)lines, (unsigned long long)dups, (unsigned long long)committed);
    CHECK(complete == EPOCHS, "%d of %d epochs have every sample exactly once", complete, EPOCHS);
    CHECK(lines == (uint64_t)N * EPOCHS && dups == 0, "audit lines %llu (want %d), duplicates %llu",
          (unsigned long long)lines, N * EPOCHS, (unsigned long long)dups);
    /* (the killed client synced its commits before it was killed, so they all count; the stopped
     * one's commits after it was continued were refused: only its first 5 x 24 count) */
    if (!strcmp(sc, "stop")) committed = sh[0].samples + 5 * 24;
    CHECK(committed == (uint64_t)N * EPOCHS, "clients committed %llu samples, want %d", (unsigned long long)committed, N * EPOCHS);
    if (!strcmp(sc, "kill")) CHECK(sh[1].samples == 5 * 24, "killed client committed %llu", (unsigned long long)sh[1].samples);
    if (!strcmp(sc, "one")) CHECK(sh[0].short_batches == EPOCHS, "%llu short batches (want one per epoch)", (unsigned long long)sh[0].short_batches);
    if (!strcmp(sc, "join"))
        for (int i = 1; i < 4; i++)
            CHECK(sh[i].epoch_mask & 1, "joiner %d got a batch of epoch 0 (mask 0x%llx)", i, (unsigned long long)sh[i].epoch_mask);
    if (!strcmp(sc, "stop")) {
        CHECK(ucxt_log_count(e.log, "commit of revoked lease") >= 1, "server refused the late commit of a revoked lease");
        CHECK(ucxt_log_count(e.log, "dropped:") == 0, "nobody was dropped (the told client left with BYE)");
    }
    if (!strcmp(sc, "kill")) {
        CHECK(ucxt_log_count(e.log, "dropped: connection lost") >= 1, "server logged the lost client");
        CHECK(ucxt_log_count(e.log, "leases go back to the queue") >= 1, "server returned the killed client's leases");
    }
    /* UCXT_EXPECT_LOCAL=1: the clients mapped the server's split and copied the images of their
     * batches themselves (the checks above compared every byte with the reader's); =0: none did
     * (ABSA_UCX_LOCAL=0, images over UCX) */
    const char *el = getenv("UCXT_EXPECT_LOCAL");
    if (el) {
        uint64_t local = 0, batches = 0;
        int killed_all = !strcmp(sc, "srvkill"); /* its client ends on the lost path: only the log tells */
        for (int i = 0; i < nc; i++) local += sh[i].local, batches += sh[i].batches;
        if (!strcmp(el, "1")) {
            CHECK(killed_all || local > 0, "clients copied batches from the shared split (%llu of %llu)", (unsigned long long)local,
                  (unsigned long long)batches);
            CHECK(ucxt_log_count(e.log, "reads images from the shared split") >= 1, "server logged a same-node client");
        } else {
            CHECK(local == 0, "no batch from the shared split (%llu)", (unsigned long long)local);
            CHECK(ucxt_log_count(e.log, "reads images from the shared split") == 0, "server logged no same-node client");
        }
    }
    if (getenv("UCXT_EXPECT_RNDV")) {
        uint64_t rndv = 0;
        for (int i = 0; i < nc; i++) rndv += sh[i].rndv;
        CHECK(rndv > 0, "batches arrived by rendezvous (%llu)", (unsigned long long)rndv);
    }
    int fails = 0;
    for (int i = 0; i < nc; i++) fails += sh[i].failures;
    CHECK(fails == 0, "%d client-side failures", fails);
    ucxt_finish_files(&e, absa_test_st.failures, "echo '---- server log %1$s ----' >&2; tail -n 40 %1$s >&2");
    return absa_test_finish(sc);
}
