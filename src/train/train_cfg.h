/* train_cfg.h — the configuration of `absa train`: one table of options shared by the command
 * line (--key value) and config files (key = value lines, # comments), so both mean the same.
 * Later sources override earlier ones: defaults, then --config FILE, then the other flags. */
#ifndef ABSA_TRAIN_CFG_H
#define ABSA_TRAIN_CFG_H
#include <stdint.h>
#include <stdio.h>

#include "absa_error.h"
#include "curvature.h"
#include "schedule.h"

typedef struct absa_train_cfg {
    char data[4096];         /* packed .h5 file or ucx://HOST:PORT (absa serve) */
    char secret_file[4096];  /* ucx://: the shared secret (else env ABSA_SECRET) */
    int prefetch;            /* ucx://: batch requests kept outstanding */
    char test_data[4096];    /* ucx://: packed file for the test pass and eigenvalue samples */
    char model[32];
    char device[32];         /* engine backend (backend.h) */
    char out[4096];
    char resume[4096];
    char train_split[32], test_split[32];
    char augment[16];       /* auto | none | crop-flip */
    absa_sched_cfg sched;   /* method, epochs, batch0, micro, max_batch, lr0, decay, adv, duration */
    double momentum, weight_decay, dampening;
    int nesterov;
    double adv_eps;         /* FGSM step in [0,1] pixel units */
    int eig_samples, eig_iters, eig_rule, eig_chunk;
    double eig_tol;
    uint64_t seed;
    int limit_train;        /* use only the first N samples of the train split (0 = all) */
    int limit_test;
    int test_batch;
    int threads;
    int step_log;           /* write a metrics line every N steps (0 = none) */
    int quiet;
    int force;              /* overwrite a run already in --out (command line only) */
    size_t memory_budget;   /* bytes for the HDF5 reader's RAM copy / cache */
    int stop_after;         /* testing aid: stop after this many epochs of this invocation (0 = off) */
    int stop_at_step;       /* testing aid: stop after this step of the run as on SIGTERM (0 = off) */
    /* data parallelism and growth of the worker set (dist.h, docs/growth.md) */
    int max_ranks;          /* growth limit; 0 = the allocation's slots under MPI, else 1 */
    char growth[8];         /* auto | spawn | pool | none */
    char spawn_host[1024];  /* "host" info key (placement) of spawned ranks; "" = launcher's choice */
    double spawn_timeout;   /* seconds before a spawn is given up */
    double spawn_test_delay;/* testing aid: spawned ranks sleep this long before MPI_Init */
    char sample_log[4096];  /* debugging aid: directory for per-process logs of the sample ids used */
    /* growth beyond the Slurm job by hand-off to a bigger job (train_handoff.c, docs/slurm.md) */
    char handoff[4096];     /* the run's hand-off folder ("" = off) */
    char handoff_id[64];    /* this job's id in it */
    int handoff_wait;       /* set up, announce ready, wait for the running job's go before --resume */
    double handoff_queued;  /* seconds this job waited in the queue (for the resize record) */
} absa_train_cfg;

void absa_train_cfg_defaults(absa_train_cfg *c);
/* Apply one option by key (without leading dashes; '-' and '_' are equivalent). *used_value
 * tells whether the option consumed `value` (flags do not). */
absa_status absa_train_cfg_set(absa_train_cfg *c, const char *key, const char *value, int *used_value);
absa_status absa_train_cfg_load_file(absa_train_cfg *c, const char *path);
/* Parse argv (argv[0] = "train"); --help sets *help. --config is applied first wherever it is. */
absa_status absa_train_cfg_parse(absa_train_cfg *c, int argc, char **argv, int *help);
/* Consistency checks that must fail before any training starts. */
absa_status absa_train_cfg_check(const absa_train_cfg *c);
/* What the environment must provide (the UCX secret, as for absa serve): a runtime error (exit 1),
 * where absa_train_cfg_check's findings are usage errors (exit 2). */
absa_status absa_train_cfg_check_env(const absa_train_cfg *c);
void absa_train_cfg_help(FILE *f);
/* Write every option as "key = value" lines (the effective configuration). */
void absa_train_cfg_write(FILE *f, const absa_train_cfg *c);
#endif
