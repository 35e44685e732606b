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
    char data[4096];
    char model[32];
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
    size_t memory_budget;   /* bytes for the HDF5 reader's RAM copy / cache */
    int stop_after;         /* testing aid: exit(3) after this many epochs of this invocation (0 = off) */
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
void absa_train_cfg_help(FILE *f);
/* Write every option as "key = value" lines (the effective configuration). */
void absa_train_cfg_write(FILE *f, const absa_train_cfg *c);
#endif
