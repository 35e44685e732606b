/* ucx_test_util.c — fixture, server and client processes and audit checks for the `absa serve`
 * loopback tests (see ucx_test_util.h). A client process checks every batch three ways: ids
 * against absa_permutation(seed, epoch) at the batch's positions, bytes against the in-process
 * HDF5 reader's gather of those ids, and bytes against the closed form of the fixture. */
#include "ucx_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "absa_test.h"
#include "h5pack.h"
#include "h5reader.h"

#define UCXT_SB ((size_t)UCXT_C * UCXT_H * UCXT_W)

uint8_t ucxt_pix(uint64_t i, size_t k)
{
    uint64_t s = i * 1000003u + k;
    return (uint8_t)(absa_test_next(&s) & 0xff);
}
int32_t ucxt_lab(uint64_t i) { return (int32_t)((i * 5 + 3) % UCXT_K); }

static double ucxt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ucxt_setup(ucxt_env *e, const char *dir, const char *tag, uint64_t n, uint64_t seed, uint64_t epochs,
               const char *serve_bin)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    long pid = (long)getpid();
    snprintf(e->data, sizeof e->data, "%s/ucx_%s_%ld.h5", dir, tag, pid);
    snprintf(e->secret_file, sizeof e->secret_file, "%s/ucx_%s_%ld.secret", dir, tag, pid);
    snprintf(e->addr_file, sizeof e->addr_file, "%s/ucx_%s_%ld.addr", dir, tag, pid);
    snprintf(e->log, sizeof e->log, "%s/ucx_%s_%ld.log", dir, tag, pid);
    e->n = n;
    e->seed = seed;
    e->epochs = epochs;
    e->serve_bin = serve_bin;
    /* environment: loopback only, tcp unless the test runner chose transports */
    setenv("UCX_NET_DEVICES", "lo", 0);
    setenv("UCX_TLS", "tcp", 0);
    setenv("UCX_TCP_CM_REUSEADDR", "y", 1);
    setenv("UCX_WARN_UNUSED_ENV_VARS", "n", 1);
    uint64_t s = (uint64_t)pid ^ (uint64_t)time(NULL);
    for (int i = 0; i < 40; i++) e->secret[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[absa_test_next(&s) % 36];
    e->secret[40] = 0;
    int fd = open(e->secret_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, e->secret, 40) != 40 || write(fd, "\n", 1) != 1) return -1;
    close(fd);
    absa_h5w_opts o = {.chunk_bytes = 50 * UCXT_SB, .quiet = 1};
    absa_h5w *w = NULL;
    uint8_t img[UCXT_SB];
    if (absa_h5w_open(e->data, ABSA_H5W_WRITE, &o, "synthetic", &w) != ABSA_OK) goto fail;
    if (absa_h5w_set_classes(w, UCXT_K, NULL) != ABSA_OK) goto fail;
    if (absa_h5w_begin_split(w, "train", n, UCXT_C, UCXT_H, UCXT_W) != ABSA_OK) goto fail;
    for (uint64_t i = 0; i < n; i++) {
        for (size_t b = 0; b < UCXT_SB; b++) img[b] = ucxt_pix(i, b);
        int32_t l = ucxt_lab(i);
        if (absa_h5w_append(w, img, &l, NULL, 1) != ABSA_OK) goto fail;
    }
    if (absa_h5w_end_split(w) != ABSA_OK) goto fail;
    return absa_h5w_close(w) == ABSA_OK ? 0 : -1;
fail:
    fprintf(stderr, "fixture: %s\n", absa_last_error());
    absa_h5w_discard(w);
    return -1;
}

int ucxt_start_server(ucxt_env *e, const char *audit_suffix, const char *const *extra)
{
    char seed[32], epochs[32];
    const char *argv[64];
    int k = 0;
    snprintf(e->audit, sizeof e->audit, "%s/ucx_%ld_%s.audit", e->dir, (long)getpid(), audit_suffix);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)e->seed);
    snprintf(epochs, sizeof epochs, "%llu", (unsigned long long)e->epochs);
    argv[k++] = e->serve_bin;
    argv[k++] = "serve";
    const char *fixed[] = {"--data", e->data, "--address-file", e->addr_file, "--secret-file", e->secret_file,
                           "--seed", seed, "--epochs", epochs, "--audit", e->audit, "--batch-max", "128"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) argv[k++] = fixed[i];
    for (int i = 0; extra && extra[i] && k < 60; i++) argv[k++] = extra[i];
    const char *budget = getenv("UCXT_MEMORY_BUDGET"); /* e.g. 0: the chunk-streaming reader path */
    if (budget) {
        argv[k++] = "--memory-budget";
        argv[k++] = budget;
    }
    if (getenv("UCXT_NO_SHARED_SPLIT")) argv[k++] = "--no-shared-split"; /* the server shares nothing */
    argv[k] = NULL;
    unlink(e->addr_file);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 2);
        execv(e->serve_bin, (char *const *)argv);
        _exit(127);
    }
    e->server = pid;
    double t0 = ucxt_now();
    while (ucxt_now() - t0 < 15.0) {
        FILE *f = fopen(e->addr_file, "r");
        if (f) {
            int ok = fscanf(f, "%159s", e->url) == 1;
            fclose(f);
            if (ok) return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "server exited early (status %d), log %s\n", st, e->log);
            e->server = 0;
            return -1;
        }
        usleep(10000);
    }
    fprintf(stderr, "server did not write %s within 15 s\n", e->addr_file);
    return -1;
}

int ucxt_wait_pid(pid_t pid, double timeout_s)
{
    double t0 = ucxt_now();
    int st;
    while (ucxt_now() - t0 < timeout_s) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0) return -1;
        usleep(5000);
    }
    return -1;
}

int ucxt_wait_server(ucxt_env *e, int sig, double timeout_s)
{
    if (!e->server) return -1;
    if (sig) kill(e->server, sig);
    int rc = ucxt_wait_pid(e->server, timeout_s);
    if (rc == -1) {
        kill(e->server, SIGKILL);
        ucxt_wait_pid(e->server, 5);
    }
    e->server = 0;
    return rc;
}

void ucxt_kill_all(ucxt_env *e, const pid_t *pids, int k)
{
    for (int i = 0; i < k; i++)
        if (pids[i] > 0 && kill(pids[i], 0) == 0) {
            kill(pids[i], SIGKILL);
            ucxt_wait_pid(pids[i], 5);
        }
    if (e->server) ucxt_wait_server(e, SIGKILL, 5);
}

ucxt_shared *ucxt_shared_new(int k)
{
    void *p = mmap(NULL, (size_t)k * sizeof(ucxt_shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 0, (size_t)k * sizeof(ucxt_shared));
    return p;
}

#define UCXT_FAIL(...)                                                                   \
    do {                                                                                 \
        snprintf(sh->msg, sizeof sh->msg, __VA_ARGS__);                                  \
        fprintf(stderr, "client %d: %s\n", cfg->id, sh->msg);                            \
        sh->failures++;                                                                  \
        goto done;                                                                       \
    } while (0)

/* expect_revoked: a failure that says the server revoked our leases ends the client as expected */
#define UCXT_REVOKED_OR_FAIL(what)                                                      \
    do {                                                                                 \
        if (cfg->expect_revoked && sh->holding && strstr(absa_last_error(), "revoked")) { \
            snprintf(sh->msg, sizeof sh->msg, "%s", absa_last_error());                  \
            fprintf(stderr, "client %d: told as expected: %s\n", cfg->id, sh->msg);      \
            sh->revoked = 1;                                                             \
            sh->finished = 1;                                                            \
            goto done;                                                                   \
        }                                                                                \
        UCXT_FAIL("%s: %s", what, absa_last_error());                                    \
    } while (0)

/* one batch against the permutation, the reader and the closed form */
static int ucxt_verify(absa_h5reader *rd, const ucxt_env *e, const absa_ucx_batch *b, uint64_t *perm,
                       uint64_t *perm_epoch, uint8_t *img, int32_t *lab, char *msg, size_t cap)
{
    if (*perm_epoch != b->epoch) {
        absa_permutation(e->seed, b->epoch, (size_t)e->n, perm);
        *perm_epoch = b->epoch;
    }
    size_t k = 0;
    for (size_t r = 0; r < b->nranges; r++)
        for (uint64_t p = b->ranges[r].start; p < b->ranges[r].start + b->ranges[r].count; p++, k++)
            if (k >= b->count || b->ids[k] != perm[p]) {
                snprintf(msg, cap, "epoch %llu position %llu: id %llu, permutation says %llu", (unsigned long long)b->epoch,
                         (unsigned long long)p, (unsigned long long)(k < b->count ? b->ids[k] : 0), (unsigned long long)perm[p]);
                return -1;
            }
    if (k != b->count) return snprintf(msg, cap, "ranges cover %zu of %zu samples", k, b->count), -1;
    if (absa_h5reader_gather_u8(rd, b->ids, b->count, img, lab) != ABSA_OK)
        return snprintf(msg, cap, "reader: %s", absa_last_error()), -1;
    if (memcmp(img, b->images, b->count * UCXT_SB) || memcmp(lab, b->labels, b->count * sizeof *lab))
        return snprintf(msg, cap, "batch bytes differ from the reader's gather"), -1;
    for (size_t i = 0; i < b->count; i++) {
        if (b->labels[i] != ucxt_lab(b->ids[i])) return snprintf(msg, cap, "label of %llu wrong", (unsigned long long)b->ids[i]), -1;
        for (size_t q = 0; q < UCXT_SB; q++)
            if (b->images[i * UCXT_SB + q] != ucxt_pix(b->ids[i], q))
                return snprintf(msg, cap, "pixel %zu of sample %llu wrong", q, (unsigned long long)b->ids[i]), -1;
    }
    return 0;
}

/* The server's cursor state as this client sees it, into sh->state_*; -1 with err set. */
static int ucxt_keep_state(absa_ucx_client *c, ucxt_shared *sh, char *err, size_t errlen)
{
    absa_ucx_state s;
    if (absa_ucx_client_state(c, &s) != ABSA_OK) {
        snprintf(err, errlen, "state: %s", absa_last_error());
        return -1;
    }
    int rc = 0;
    if (s.nranges > sizeof sh->state_ranges / sizeof sh->state_ranges[0]) {
        snprintf(err, errlen, "state has %zu ranges", s.nranges);
        rc = -1;
    } else {
        sh->state_epoch = s.epoch;
        sh->state_committed = s.committed;
        sh->state_nranges = s.nranges;
        if (s.nranges) memcpy(sh->state_ranges, s.ranges, s.nranges * sizeof *s.ranges); /* no ranges: NULL */
    }
    absa_ucx_state_free(&s);
    return rc;
}

static int ucxt_client_main(const ucxt_env *e, const ucxt_client_cfg *cfg, ucxt_shared *sh)
{
    absa_h5reader *rd = NULL;
    absa_ucx_client *c = NULL;
    uint64_t *perm = malloc(e->n * sizeof *perm), perm_epoch = UINT64_MAX;
    size_t nmax = cfg->n > cfg->n_later ? cfg->n : cfg->n_later, n = cfg->n;
    uint8_t *img = malloc(nmax * UCXT_SB);
    int32_t *lab = malloc(nmax * sizeof *lab);
    uint64_t pos_expect = 0, cur_epoch = 0, commits = 0, received = 0;
    absa_status lost_st = ABSA_OK;
    int saw_end = 1;
    char err[sizeof sh->msg];
    if (absa_h5reader_open(e->data, "train", (size_t)1 << 30, &rd) != ABSA_OK) UCXT_FAIL("reader: %s", absa_last_error());
    if (absa_ucx_client_connect(e->url, e->secret, cfg->prefetch, &c) != ABSA_OK)
        UCXT_FAIL("connect: %s", absa_last_error());
    sh->connected = 1;
    const absa_ucx_meta *m = absa_ucx_client_meta(c);
    if (m->count != e->n || m->C != UCXT_C || m->H != UCXT_H || m->W != UCXT_W || m->num_classes != UCXT_K ||
        fabsf(m->mean[0] - absa_h5reader_mean(rd)[0]) > 1e-6f || fabsf(m->std[2] - absa_h5reader_std(rd)[2]) > 1e-6f)
        UCXT_FAIL("metadata differs from the file");
    if (cfg->state_only) {
        if (ucxt_keep_state(c, sh, err, sizeof err)) UCXT_FAIL("%s", err);
        sh->finished = 1;
        goto done;
    }
    if (cfg->seek) {
        absa_ucx_state s = {.epoch = sh->state_epoch, .count = e->n, .committed = sh->state_committed,
                            .nranges = sh->state_nranges, .ranges = sh->state_ranges};
        absa_status st = absa_ucx_client_seek(c, &s);
        if (cfg->expect_seek_refused ? st != ABSA_EEXIST : st != ABSA_OK)
            UCXT_FAIL("seek returned %s (%s)", absa_status_str(st), absa_last_error());
        if (!cfg->expect_seek_refused) pos_expect = s.nranges ? s.ranges[s.nranges - 1].start + s.ranges[s.nranges - 1].count : 0;
        cur_epoch = s.epoch;
    }
    for (;;) {
        absa_ucx_batch b;
        double t0 = ucxt_now();
        if (cfg->n_later && received == (uint64_t)cfg->switch_after) n = cfg->n_later;
        absa_status nst = absa_ucx_client_next(c, n, &b);
        lost_st = nst;
        if (nst != ABSA_OK && cfg->expect_loss) goto lost;
        if (nst != ABSA_OK) UCXT_REVOKED_OR_FAIL("next");
        uint64_t wus = (uint64_t)((ucxt_now() - t0) * 1e6);
        if (wus > sh->max_wait_us) sh->max_wait_us = wus;
        if (getenv("UCXT_TRACE"))
            fprintf(stderr, "client %d: epoch %llu first %llu count %zu end %d done %d\n", cfg->id,
                    (unsigned long long)b.epoch, (unsigned long long)b.first, b.count, b.epoch_end, b.done);
        if (b.done) break;
        if (b.epoch_end) {
            if (cfg->check_order && (pos_expect != e->n || b.epoch != cur_epoch))
                UCXT_FAIL("end of epoch %llu after %llu of %llu positions", (unsigned long long)b.epoch,
                          (unsigned long long)pos_expect, (unsigned long long)e->n);
            saw_end = 1;
            continue;
        }
        if (b.count < 1 || b.count > n) UCXT_FAIL("batch of %zu samples for n=%zu", b.count, n);
        char vmsg[200];
        if (ucxt_verify(rd, e, &b, perm, &perm_epoch, img, lab, vmsg, sizeof vmsg) != 0) UCXT_FAIL("%s", vmsg);
        sh->epoch_mask |= 1ull << (b.epoch & 63);
        if (b.count < n) sh->short_batches++;
        if (cfg->check_order) {
            if (b.epoch != cur_epoch) {
                if (!saw_end || b.epoch != cur_epoch + 1) UCXT_FAIL("epoch %llu began without the end of %llu",
                                                                     (unsigned long long)b.epoch, (unsigned long long)cur_epoch);
                cur_epoch = b.epoch;
                pos_expect = 0;
            }
            saw_end = 0;
            if (b.nranges != 1 || b.first != pos_expect)
                UCXT_FAIL("batch at position %llu (%zu ranges), expected %llu", (unsigned long long)b.first, b.nranges,
                          (unsigned long long)pos_expect);
            pos_expect += b.count;
            if (b.count < n && pos_expect != e->n) UCXT_FAIL("short batch before the end of the epoch");
        }
        if (cfg->hold_after && commits == (uint64_t)cfg->hold_after) {
            /* our commits so far are applied (acknowledged); this batch and the prefetched
             * ones are held when we are killed */
            if (absa_ucx_client_sync(c) != ABSA_OK) UCXT_FAIL("sync: %s", absa_last_error());
            sh->holding = 1;
            if (!cfg->expect_revoked)
                for (;;) pause(); /* killed by the parent with SIGKILL */
            /* stopped (SIGSTOP) and continued by the parent, which then sets go_fast */
            while (!sh->go_fast) usleep(1000);
        }
        int us = (!sh->go_fast && cfg->slow_us) ? cfg->slow_us : cfg->step_us;
        if (us) usleep((useconds_t)us);
        if (++received == (uint64_t)cfg->release_at) {
            if (absa_ucx_client_release(c, &b) != ABSA_OK) UCXT_FAIL("release: %s", absa_last_error());
            continue;
        }
        nst = absa_ucx_client_commit(c, &b);
        lost_st = nst;
        if (nst != ABSA_OK && cfg->expect_loss) goto lost;
        if (nst != ABSA_OK) UCXT_REVOKED_OR_FAIL("commit");
        commits++;
        sh->batches++;
        sh->samples += b.count;
        if (cfg->stop_after && commits == (uint64_t)cfg->stop_after) {
            if (absa_ucx_client_sync(c) != ABSA_OK) UCXT_FAIL("state: %s", absa_last_error());
            if (ucxt_keep_state(c, sh, err, sizeof err)) UCXT_FAIL("%s", err);
            break;
        }
    }
    if (absa_ucx_client_sync(c) != ABSA_OK) UCXT_REVOKED_OR_FAIL("sync");
    if (cfg->expect_revoked) UCXT_FAIL("the server did not revoke the stopped client's leases");
    sh->rndv = absa_ucx_client_rndv_batches(c);
    sh->local = absa_ucx_client_local_batches(c);
    if (cfg->expect_loss) UCXT_FAIL("the server did not go away");
    sh->finished = 1;
    fprintf(stderr, "client %d: %llu batches (%llu by rendezvous, %llu copied from the shared split), %llu samples, waited %.3f s\n",
            cfg->id, (unsigned long long)sh->batches, (unsigned long long)sh->rndv, (unsigned long long)sh->local,
            (unsigned long long)sh->samples,
            absa_ucx_client_wait_seconds(c));
    goto done;
lost: /* expect_loss: the server was killed; a new connection must be refused quickly */
    {
        double t1 = ucxt_now();
        absa_ucx_client *c2 = NULL;
        char first[256];
        snprintf(first, sizeof first, "%s", absa_last_error());
        if (lost_st != ABSA_EUCX) UCXT_FAIL("after the server died: %s, want EUCX", absa_status_str(lost_st));
        if (absa_ucx_client_connect(e->url, e->secret, 1, &c2) == ABSA_OK) {
            absa_ucx_client_close(c2);
            UCXT_FAIL("connect to a dead server succeeded");
        }
        fprintf(stderr, "client %d: server lost as expected (%s); reconnect refused in %.2f s (%s)\n", cfg->id, first,
                ucxt_now() - t1, absa_last_error());
        if (ucxt_now() - t1 > 10) UCXT_FAIL("reconnect took %.1f s to fail", ucxt_now() - t1);
        sh->finished = 1;
    }
done:
    absa_ucx_client_close(c);
    absa_h5reader_close(rd);
    free(perm);
    free(img);
    free(lab);
    return sh->failures ? 1 : 0;
}

pid_t ucxt_spawn_client(const ucxt_env *e, const ucxt_client_cfg *cfg, ucxt_shared *sh)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        _exit(ucxt_client_main(e, cfg, sh));
    }
    return pid;
}

/* one audit line: kind 'c' commit, 'r' redo (a commit after a rewind), 'w' rewind; 0 if not one */
static int ucxt_audit_line(const char *line, unsigned long long *ep, unsigned long long *id)
{
    char word[16] = "";
    if (line[0] == '#') return 0;
    if (sscanf(line, "rewind %llu %llu", ep, id) == 2) return 'w';
    int k = sscanf(line, "%llu %llu %15s", ep, id, word);
    if (k == 2) return 'c';
    if (k == 3 && !strcmp(word, "redo")) return 'r';
    return 0;
}

int ucxt_audit_events(const char *path, uint64_t n, uint64_t max_epochs, uint32_t *rewinds, uint32_t *redos)
{
    char line[256];
    unsigned long long ep, id;
    int k = 0;
    memset(rewinds, 0, max_epochs * n * sizeof *rewinds);
    memset(redos, 0, max_epochs * n * sizeof *redos);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        int kind = ucxt_audit_line(line, &ep, &id);
        if (!kind || ep >= max_epochs || id >= n) continue;
        if (kind == 'w') rewinds[ep * n + id]++, k++;
        if (kind == 'r') redos[ep * n + id]++;
    }
    fclose(f);
    return k;
}

int ucxt_check_audit(const char *path, uint64_t n, uint64_t max_epochs, uint64_t *lines, uint64_t *dups,
                     uint32_t *counts)
{
    uint32_t *cnt = counts ? counts : calloc(max_epochs * n, sizeof *cnt);
    if (counts) memset(cnt, 0, max_epochs * n * sizeof *cnt);
    unsigned long long ep, id;
    char line[256];
    *lines = *dups = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!counts) free(cnt);
        return -1;
    }
    while (fgets(line, sizeof line, f)) { /* the lineage: commits minus rewinds */
        int kind = ucxt_audit_line(line, &ep, &id);
        if (!kind) continue;
        if (kind != 'w') (*lines)++;
        if (ep < max_epochs && id < n) cnt[ep * n + id] += kind == 'w' ? (uint32_t)-1 : 1u;
    }
    fclose(f);
    int complete = 0, stop = 0;
    for (uint64_t e = 0; e < max_epochs; e++) {
        int all = 1;
        for (uint64_t i = 0; i < n; i++) {
            all &= cnt[e * n + i] == 1;
            *dups += cnt[e * n + i] > 1;
        }
        if (all && !stop)
            complete++;
        else
            stop = 1;
    }
    if (!counts) free(cnt);
    return complete;
}

void ucxt_finish_files(const ucxt_env *e, int failed, const char *show)
{
    if (!failed) {
        unlink(e->data), unlink(e->audit), unlink(e->log), unlink(e->secret_file), unlink(e->addr_file);
    } else if (show) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, show, e->log);
        if (system(cmd) != 0) fprintf(stderr, "(cannot show the log %s)\n", e->log);
    } else {
        fprintf(stderr, "server log: %s\n", e->log);
    }
}

int ucxt_log_count(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int k = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) k++;
    fclose(f);
    return k;
}
