/* ucx_test_util.h — shared pieces of the `absa serve` loopback tests: a packed fixture whose
 * pixels and labels are a closed-form function of (sample, byte), the shared secret file, the
 * server process (started as `SERVE_BIN serve ...`, address read from --address-file, stderr to
 * a log), client processes that verify every batch against an in-process HDF5 reader and the
 * closed form, and the check of the server's audit log (every sample exactly once per epoch).
 * Processes only: UCX is never initialised in the parent, so fork() stays safe. */
#ifndef ABSA_UCX_TEST_UTIL_H
#define ABSA_UCX_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ucx_client.h"

enum { UCXT_C = 3, UCXT_H = 5, UCXT_W = 7, UCXT_K = 7, UCXT_MAX_CLIENTS = 8 };

typedef struct ucxt_env {
    char dir[512];
    char data[700], secret_file[700], addr_file[700], audit[700], log[700];
    char secret[64], url[160];
    const char *serve_bin;
    uint64_t n, seed, epochs;
    pid_t server;
} ucxt_env;

/* per-client results in shared memory (written by the client process) */
typedef struct ucxt_shared {
    volatile int connected, holding, finished, failures, revoked;
    volatile uint64_t batches, samples, epoch_mask, short_batches, max_wait_us, rndv, local;
    volatile uint64_t state_epoch, state_committed, state_nranges;
    absa_ucx_range state_ranges[64];
    volatile int go_fast; /* set by the parent */
    char msg[256];
} ucxt_shared;

typedef struct ucxt_client_cfg {
    int id;
    size_t n;
    size_t n_later;       /* >0: ask for batches of this size after switch_after batches */
    int switch_after;
    int prefetch;
    int step_us;          /* simulated compute per batch */
    int slow_us;          /* step while shared->go_fast == 0 (0: same as step_us) */
    int hold_after;       /* after this many commits take one more batch and hang (killed) */
    int expect_revoked;   /* with hold_after: wait there (stopped and continued by the parent)
                           * until go_fast, then go on: a "revoked" failure is the expected end */
    int check_order;      /* single client: positions must be 0..N-1 in order, last batch short */
    int stop_after;       /* >0: after this many commits: sync, record state, close */
    int seek;             /* seek to shared->state_* before the first next() */
    int expect_seek_refused;
    int release_at;       /* >0: give this (1-based) batch back instead of committing it */
    int state_only;       /* connect, record the server state in shared->state_*, leave */
    int expect_loss;      /* the server will be killed: next() must fail (not hang), and a
                           * new connect to the dead address must fail too */
} ucxt_client_cfg;

uint8_t ucxt_pix(uint64_t i, size_t k);
int32_t ucxt_lab(uint64_t i);
/* fixture with n samples and a secret in dir; 0 ok */
int ucxt_setup(ucxt_env *e, const char *dir, const char *tag, uint64_t n, uint64_t seed, uint64_t epochs,
               const char *serve_bin);
/* start the server with extra args (NULL-terminated, may be NULL); 0 ok */
int ucxt_start_server(ucxt_env *e, const char *audit_suffix, const char *const *extra);
/* wait for the server to exit (after sig if sig != 0); returns its exit code, -1 on timeout */
int ucxt_wait_server(ucxt_env *e, int sig, double timeout_s);
/* shared memory for k clients */
ucxt_shared *ucxt_shared_new(int k);
/* fork a client process running cfg; returns its pid */
pid_t ucxt_spawn_client(const ucxt_env *e, const ucxt_client_cfg *cfg, ucxt_shared *sh);
/* wait for a client process; returns its exit code (or 128+signal) */
int ucxt_wait_pid(pid_t pid, double timeout_s);
/* count audit lines per (epoch, id) in the lineage (commits minus rewinds, src/stream/ucx_audit.h):
 * returns the number of epochs in which every sample is committed exactly once (consecutive
 * from epoch 0), and sets *lines (commit lines, re-deliveries included) and *dups (samples seen
 * more than once in some epoch). counts may be NULL, else gets [max_epochs * n] counts. */
int ucxt_check_audit(const char *path, uint64_t n, uint64_t max_epochs, uint64_t *lines, uint64_t *dups,
                     uint32_t *counts);
/* rewind and re-delivery ("redo") lines per (epoch, id) into [max_epochs * n] arrays; returns
 * the number of rewinds, -1 if the file cannot be read */
int ucxt_audit_events(const char *path, uint64_t n, uint64_t max_epochs, uint32_t *rewinds, uint32_t *redos);
/* number of lines of the server log containing needle */
int ucxt_log_count(const char *path, const char *needle);
void ucxt_kill_all(ucxt_env *e, const pid_t *pids, int k);
/* The end of a test: after a failure runs `show` (a shell command, %s = the server log) or
 * names the log, else removes the data, audit, log, secret and address files. */
void ucxt_finish_files(const ucxt_env *e, int failed, const char *show);

#endif
