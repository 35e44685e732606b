/* train_cfg.c — the option table of `absa train` (flags and config files), defaults, help and
 * validation; see train_cfg.h. */
#include "train_cfg.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base_json.h"
#include "model.h"

typedef enum { T_STR, T_INT, T_DBL, T_U64, T_SIZE, T_FLAG, T_METHOD, T_RULE, T_INTLIST } opt_type;

typedef struct opt {
    const char *key;
    opt_type type;
    size_t off, cap; /* offset in absa_train_cfg; capacity for strings */
    double lo, hi;   /* numeric range */
    const char *help;
} opt;

#define ABSA_TRAIN_MICRO_DEFAULT 128 /* largest default micro-batch (design: 128) */

#define F(field) offsetof(absa_train_cfg, field), sizeof(((absa_train_cfg *)0)->field)
static const opt absa_train_opts[] = {
    {"data", T_STR, F(data), 0, 0, "packed HDF5 dataset (absa pack), or ucx://HOST:PORT to stream it from absa serve"},
    {"secret-file", T_STR, F(secret_file), 0, 0, "ucx://: file with the shared secret, mode 0600 (else env ABSA_SECRET)"},
    {"prefetch", T_INT, F(prefetch), 0, 64, "ucx://: batch requests kept in flight; 0 = by batch size (3-6, about 16 MiB)"},
    {"test-data", T_STR, F(test_data), 0, 0, "ucx://: packed .h5 with the test split (test pass) and train split (eigenvalue samples); none: no test pass"},
    {"model", T_STR, F(model), 0, 0, "mlp | lenet | c1 | resnet20"},
    {"device", T_STR, F(device), 0, 0, "engine backend: cpu | cpu-guarded (tests: backend memory fenced off outside backend calls) | cuda[:N] (GPU N; cuda: one GPU per rank of the node, ranks spawned by growth included, wrapping when there are more ranks than GPUs; under MPI the gradient and Hv sums go through NCCL once every rank's communicator is ready, docs/gpu.md)"},
    {"schedule", T_METHOD, F(sched.method), 0, 0, "sgd | abs | absa"},
    {"epochs", T_INT, F(sched.epochs), 1, 1e6, "epochs"},
    {"batch", T_INT, F(sched.batch0), 1, 1 << 24, "initial (effective) batch B0"},
    {"micro-batch", T_INT, F(sched.micro), 0, 1 << 20, "samples per forward/backward (BN statistics); 0 = min(--batch, 128)"},
    {"max-batch", T_INT, F(sched.max_batch), 1, 1 << 30, "batch cap"},
    {"lr", T_DBL, F(sched.lr0), -1e9, 1e9, "initial learning rate"},
    {"lr-decay-epochs", T_INTLIST, F(sched.lr_decay_epochs), 0, 0, "comma list of epochs after which lr *= lr-decay ('none' for none)"},
    {"lr-decay", T_DBL, F(sched.lr_decay), 0, 1e9, "lr decay factor"},
    {"momentum", T_DBL, F(momentum), 0, 1, "SGD momentum"},
    {"weight-decay", T_DBL, F(weight_decay), 0, 1, "SGD weight decay"},
    {"dampening", T_DBL, F(dampening), 0, 1, "SGD dampening"},
    {"nesterov", T_INT, F(nesterov), 0, 1, "Nesterov momentum (0/1)"},
    {"adv-ratio", T_DBL, F(sched.adv_ratio0), 0, 1, "initial FGSM ratio (absa only)"},
    {"adv-eps", T_DBL, F(adv_eps), 0, 1, "FGSM step in [0,1] pixel units"},
    {"eig-samples", T_INT, F(eig_samples), 1, 1 << 24, "samples for the eigenvalue"},
    {"eig-iters", T_INT, F(eig_iters), 1, 100000, "max power iterations"},
    {"eig-tol", T_DBL, F(eig_tol), 1e-300, 1e300, "power iteration tolerance"},
    {"eig-rule", T_RULE, F(eig_rule), 0, 0, "absolute (HessianFlow) | relative (PyHessian)"},
    {"eig-chunk", T_INT, F(eig_chunk), 1, 1 << 20, "samples per HVP pass"},
    {"growth-ratio", T_DBL, F(sched.growth_ratio), 1, 1e9, "grow when lambda <= reference / ratio"},
    {"duration", T_INT, F(sched.duration), 1, 1e6, "eigenvalue epochs without growth before a forced growth"},
    {"seed", T_U64, F(seed), 0, 0, "seed of data order, eigenvalue samples, initialisation"},
    {"out", T_STR, F(out), 0, 0, "output directory (metrics.jsonl, checkpoint.h5, summary.json); one that holds a run is refused without --force or --resume"},
    {"force", T_FLAG, F(force), 0, 0, "overwrite the run in --out (its checkpoint, metrics, summary); command line only"},
    {"resume", T_STR, F(resume), 0, 0, "checkpoint to resume from; the options that define the run must be the checkpoint's (see above)"},
    {"train-split", T_STR, F(train_split), 0, 0, "split to train on"},
    {"test-split", T_STR, F(test_split), 0, 0, "split to test on ('none' to skip)"},
    {"augment", T_STR, F(augment), 0, 0, "auto (crop+flip for 32x32 RGB) | none | crop-flip"},
    {"limit-train", T_INT, F(limit_train), 0, 1 << 30, "use only the first N train samples (0 = all)"},
    {"limit-test", T_INT, F(limit_test), 0, 1 << 30, "use only the first N test samples (0 = all)"},
    {"test-batch", T_INT, F(test_batch), 1, 1 << 20, "batch of the test pass"},
    {"threads", T_INT, F(threads), 0, 4096, "OpenMP/OpenBLAS threads (0 = all cores; idle ones sleep unless OMP_WAIT_POLICY is set)"},
    {"step-log", T_INT, F(step_log), 0, 1 << 30, "a metrics line every N steps (0 = none)"},
    {"memory-budget", T_SIZE, F(memory_budget), 1 << 20, 1e15, "bytes of RAM for the data reader"},
    {"stop-after", T_INT, F(stop_after), 0, 1e6, "testing aid: stop after N epochs of this invocation"},
    {"stop-at-step", T_INT, F(stop_at_step), 0, 1 << 30, "testing aid: stop after step N of the run (its global step count) as on SIGTERM: a checkpoint with the epoch's cursor, continue with --resume"},
    {"max-ranks", T_INT, F(max_ranks), 0, 1 << 20, "most MPI ranks to grow to (0 = the allocation's slots under MPI, 1 = no growth)"},
    {"growth", T_STR, F(growth), 0, 0, "auto | spawn (MPI_Comm_spawn, under mpirun) | pool (pre-launched ranks, e.g. srun) | none"},
    {"spawn-host", T_STR, F(spawn_host), 0, 0, "placement of spawned ranks (MPI info key \"host\", e.g. n1,n2)"},
    {"spawn-timeout", T_DBL, F(spawn_timeout), 0.001, 1e6, "seconds before a spawn is given up (training goes on)"},
    {"spawn-test-delay", T_DBL, F(spawn_test_delay), 0, 1e6, "testing aid: spawned ranks sleep this long before MPI_Init"},
    {"sample-log", T_STR, F(sample_log), 0, 0, "debugging aid: directory for per-process logs of the sample ids trained on"},
    {"handoff", T_STR, F(handoff), 0, 0, "Slurm hand-off folder: ask for a bigger job when the batch wants more ranks than --max-ranks, hand over to it when it is ready (docs/slurm.md)"},
    {"handoff-id", T_STR, F(handoff_id), 0, 0, "--handoff: this job's id"},
    {"handoff-wait", T_FLAG, F(handoff_wait), 0, 0, "--handoff: set up, then wait for the running job to hand over before reading --resume; command line only"},
    {"handoff-queued", T_DBL, F(handoff_queued), 0, 1e9, "--handoff: seconds this job was queued (reported in the hand-off record)"},
    {"quiet", T_FLAG, F(quiet), 0, 0, "no progress output"},
};
#undef F
#define N_OPTS (sizeof absa_train_opts / sizeof absa_train_opts[0])

void absa_train_cfg_defaults(absa_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->model, "lenet");
    strcpy(c->device, "cpu");
    strcpy(c->train_split, "train");
    strcpy(c->test_split, "test");
    strcpy(c->augment, "auto");
    strcpy(c->out, "absa-run");
    absa_sched_defaults(&c->sched);
    c->sched.micro = 0; /* min(batch, ABSA_TRAIN_MICRO_DEFAULT), resolved after parsing */
    c->sched.epochs = 10;
    c->sched.lr0 = 0.02;
    c->sched.n_lr_decay = 0;
    c->momentum = 0.9;
    c->adv_eps = 0.005;
    c->eig_samples = 128;
    c->eig_iters = 10;
    c->eig_tol = 1e-2;
    c->eig_rule = ABSA_EIG_ABSOLUTE;
    c->eig_chunk = 128;
    c->test_batch = 1000;
    c->step_log = 1;
    c->prefetch = 0; /* by batch size: absa_ucx_prefetch_for */
    c->memory_budget = (size_t)4 << 30;
    strcpy(c->growth, "auto");
    c->spawn_timeout = 60;
}

static int keyeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

static absa_status set_opt(absa_train_cfg *c, const opt *o, const char *v)
{
    absa_status status = ABSA_OK;
    char *p = (char *)c + o->off, *end;
    errno = 0;
    switch (o->type) {
    case T_STR:
        if (strlen(v) >= o->cap) ABSA_FAIL(ABSA_EINVAL, "--%s: value too long", o->key);
        strcpy(p, v);
        break;
    case T_FLAG: *(int *)p = 1; break;
    case T_INT: case T_DBL: case T_SIZE: {
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d)) ABSA_FAIL(ABSA_EINVAL, "--%s: '%s' is not a number", o->key, v);
        if (d < o->lo || d > o->hi) ABSA_FAIL(ABSA_EINVAL, "--%s: %s is out of range [%g, %g]", o->key, v, o->lo, o->hi);
        if (o->type != T_DBL && d != floor(d)) ABSA_FAIL(ABSA_EINVAL, "--%s: '%s' is not an integer", o->key, v);
        if (o->type == T_INT) *(int *)p = (int)d;
        else if (o->type == T_SIZE) *(size_t *)p = (size_t)d;
        else *(double *)p = d;
    } break;
    case T_U64: {
        unsigned long long u = strtoull(v, &end, 0);
        if (errno || end == v || *end || *v == '-') ABSA_FAIL(ABSA_EINVAL, "--%s: '%s' is not an unsigned integer", o->key, v);
        *(uint64_t *)p = u;
    } break;
    case T_METHOD:
        if (!strcmp(v, "sgd")) c->sched.method = ABSA_SCHED_SGD;
        else if (!strcmp(v, "abs")) c->sched.method = ABSA_SCHED_ABS;
        else if (!strcmp(v, "absa")) c->sched.method = ABSA_SCHED_ABSA;
        else ABSA_FAIL(ABSA_EINVAL, "--schedule: '%s' is not sgd, abs or absa", v);
        break;
    case T_RULE:
        if (!strcmp(v, "absolute")) c->eig_rule = ABSA_EIG_ABSOLUTE;
        else if (!strcmp(v, "relative")) c->eig_rule = ABSA_EIG_RELATIVE;
        else ABSA_FAIL(ABSA_EINVAL, "--eig-rule: '%s' is not absolute or relative", v);
        break;
    case T_INTLIST: {
        c->sched.n_lr_decay = 0;
        if (!strcmp(v, "none") || !*v) break;
        const char *s = v;
        while (*s) {
            long e = strtol(s, &end, 10);
            if (end == s || e < 1 || e > 1000000 || (*end && *end != ','))
                ABSA_FAIL(ABSA_EINVAL, "--lr-decay-epochs: '%s' is not a comma list of epochs", v);
            if (c->sched.n_lr_decay == ABSA_SCHED_MAX_DECAYS) ABSA_FAIL(ABSA_EINVAL, "--lr-decay-epochs: at most %d", ABSA_SCHED_MAX_DECAYS);
            c->sched.lr_decay_epochs[c->sched.n_lr_decay++] = (int)e;
            s = *end ? end + 1 : end;
        }
    } break;
    }
cleanup:
    return status;
}

static const opt *find_opt(const char *key)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (keyeq(absa_train_opts[i].key, key)) return &absa_train_opts[i];
    return NULL;
}

absa_status absa_train_cfg_set(absa_train_cfg *c, const char *key, const char *value, int *used_value)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (keyeq(absa_train_opts[i].key, key)) {
            *used_value = absa_train_opts[i].type != T_FLAG;
            if (*used_value && !value) {
                absa_errorf("--%s needs a value", key);
                return ABSA_EINVAL;
            }
            return set_opt(c, &absa_train_opts[i], value);
        }
    absa_errorf("unknown option '%s'", key);
    return ABSA_EINVAL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
    return s;
}

absa_status absa_train_cfg_load_file(absa_train_cfg *c, const char *path)
{
    absa_status status = ABSA_OK;
    char line[8192];
    int lineno = 0, used;
    FILE *f = fopen(path, "r");
    if (!f) ABSA_FAIL(ABSA_ENOTFOUND, "cannot open config file %s", path);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) ABSA_FAIL(ABSA_EINVAL, "%s:%d: expected 'key = value'", path, lineno);
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        if (keyeq(k, "force")) continue; /* a saved config.txt must not overwrite runs */
        if (keyeq(k, "handoff-wait")) continue; /* one job's role, not the run's: command line only */
        if (keyeq(k, "config") || keyeq(k, "quiet")) {
            if (keyeq(k, "quiet") && strcmp(v, "0")) c->quiet = 1;
            continue;
        }
        if (absa_train_cfg_set(c, k, v, &used) != ABSA_OK)
            ABSA_FAIL_CTX(ABSA_EINVAL, "%s:%d: ", path, lineno);
    }
cleanup:
    if (f) fclose(f);
    return status;
}

absa_status absa_train_cfg_parse(absa_train_cfg *c, int argc, char **argv, int *help)
{
    absa_status status = ABSA_OK;
    *help = 0;
    for (int i = 1; i < argc; i++) /* --config first, so flags override it */
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) ABSA_FAIL(ABSA_EINVAL, "--config needs a file");
            ABSA_TRY(absa_train_cfg_load_file(c, argv[i + 1]));
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return ABSA_OK;
        }
        if (strncmp(a, "--", 2)) ABSA_FAIL(ABSA_EINVAL, "unexpected argument '%s'", a);
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        char key[64];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL, *eq = strchr(a, '=');
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - a - 2) : (int)strlen(a + 2), a + 2);
        if (eq) val = eq + 1;
        if (!find_opt(key)) /* named as typed on the command line: '--foo', not 'foo' */
            ABSA_FAIL(ABSA_EINVAL, "unknown option '%.*s'", eq ? (int)(eq - a) : (int)strlen(a), a);
        int used = 0;
        ABSA_TRY(absa_train_cfg_set(c, key, val, &used));
        if (used && !eq) i++;
    }
    /* --micro-batch 0 (the default): the batch itself, up to ABSA_TRAIN_MICRO_DEFAULT samples */
    if (c->sched.micro == 0)
        c->sched.micro = c->sched.batch0 < ABSA_TRAIN_MICRO_DEFAULT ? c->sched.batch0 : ABSA_TRAIN_MICRO_DEFAULT;
cleanup:
    return status;
}

absa_status absa_train_cfg_check(const absa_train_cfg *c)
{
    absa_status status = ABSA_OK;
    int known = 0;
    for (int i = 0; absa_model_names[i]; i++) known |= !strcmp(absa_model_names[i], c->model);
    if (!known) ABSA_FAIL(ABSA_EINVAL, "unknown model '%s' (known: mlp, lenet, c1, resnet20)", c->model);
    if (!absa_backend_known(c->device))
        ABSA_FAIL(ABSA_EINVAL, "unknown device '%s' (known: cpu, cpu-guarded, cuda[:N])", c->device);
    if (!c->data[0]) ABSA_FAIL(ABSA_EINVAL, "--data is required (a packed .h5 file, see absa pack, or ucx://HOST:PORT)");
    ABSA_TRY(absa_sched_check(&c->sched));
    if (c->sched.micro > c->sched.batch0)
        ABSA_FAIL(ABSA_EINVAL, "micro-batch %d is larger than the batch %d", c->sched.micro, c->sched.batch0);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        ABSA_FAIL(ABSA_EINVAL, "Nesterov momentum requires a momentum and zero dampening");
    if (strcmp(c->augment, "auto") && strcmp(c->augment, "none") && strcmp(c->augment, "crop-flip"))
        ABSA_FAIL(ABSA_EINVAL, "--augment: '%s' is not auto, none or crop-flip", c->augment);
    if (!c->out[0]) ABSA_FAIL(ABSA_EINVAL, "--out must name a directory");
    if (strcmp(c->growth, "auto") && strcmp(c->growth, "spawn") && strcmp(c->growth, "pool") && strcmp(c->growth, "none"))
        ABSA_FAIL(ABSA_EINVAL, "--growth: '%s' is not auto, spawn, pool or none", c->growth);
cleanup:
    return status;
}

absa_status absa_train_cfg_check_env(const absa_train_cfg *c)
{
    absa_status status = ABSA_OK;
    if (!strncmp(c->data, "ucx://", 6) && !c->secret_file[0] && !getenv("ABSA_SECRET"))
        ABSA_FAIL(ABSA_EINVAL, "--data %s needs the server's secret: --secret-file FILE or env ABSA_SECRET", c->data);
cleanup:
    return status;
}

static void fmt_value(char *buf, size_t len, const absa_train_cfg *c, const opt *o)
{
    const char *p = (const char *)c + o->off;
    switch (o->type) {
    case T_STR: snprintf(buf, len, "%s", p); break;
    case T_FLAG: case T_INT: snprintf(buf, len, "%d", *(const int *)p); break;
    case T_DBL: absa_fmt_double(buf, len, *(const double *)p); break;
    case T_U64: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case T_SIZE: snprintf(buf, len, "%zu", *(const size_t *)p); break;
    case T_METHOD: snprintf(buf, len, "%s", c->sched.method == ABSA_SCHED_SGD ? "sgd" : c->sched.method == ABSA_SCHED_ABS ? "abs" : "absa"); break;
    case T_RULE: snprintf(buf, len, "%s", c->eig_rule == ABSA_EIG_RELATIVE ? "relative" : "absolute"); break;
    case T_INTLIST: {
        size_t n = 0;
        buf[0] = 0;
        for (int i = 0; i < c->sched.n_lr_decay && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? "," : "", c->sched.lr_decay_epochs[i]);
        if (!c->sched.n_lr_decay) snprintf(buf, len, "none");
    } break;
    }
}

void absa_train_cfg_help(FILE *f)
{
    absa_train_cfg d;
    absa_train_cfg_defaults(&d);
    fprintf(f, "usage: absa train --data FILE.h5 | ucx://HOST:PORT [options]\n\n"
               "Train with SGD, ABS or ABSA (adaptive batch size from the top Hessian eigenvalue,\n"
               "FGSM adversarial samples early on). Every option may also be given in a --config FILE\n"
               "as 'key = value' lines; flags override the file.\n"
               "Under mpirun (or srun for a pool of ranks) training is data-parallel and the ranks grow\n"
               "with the batch up to --max-ranks (docs/growth.md). SIGTERM/SIGINT: the current step is\n"
               "finished, a checkpoint with the position in the epoch is written and absa exits 0;\n"
               "--resume continues from there. On --resume the options that define the run (model, schedule,\n"
               "seed, batch, micro-batch, max-batch, lr, lr-decay(-epochs), momentum, weight-decay, dampening,\n"
               "nesterov, adv-ratio, adv-eps, growth-ratio, duration, eig-samples/iters/tol/rule/chunk, augment,\n"
               "train-split, limit-train) must equal the checkpoint's, else absa refuses naming the option and\n"
               "both values; --epochs is applied (extends the run, said on the console); the others (test\n"
               "split and batch, limits of the test, threads, logging, data paths, ranks) are applied as given.\n"
               "What the run directory holds, its refusal to overwrite a run, disk-full and kill behaviour,\n"
               "and how growth is reported: docs/training.md.\n"
               "--data ucx://HOST:PORT streams the training split from `absa serve` (docs/ucx.md), which\n"
               "owns the epoch order; serve with --seed = this --seed and --epochs >= epochs + 1 (or 0).\n\n");
    fprintf(f, "  %-18s %s\n", "--config FILE", "read options from FILE first");
    for (size_t i = 0; i < N_OPTS; i++) {
        char v[256], k[64];
        fmt_value(v, sizeof v, &d, &absa_train_opts[i]);
        snprintf(k, sizeof k, "--%s", absa_train_opts[i].key);
        if (absa_train_opts[i].type == T_FLAG) fprintf(f, "  %-18s %s\n", k, absa_train_opts[i].help);
        else fprintf(f, "  %-18s %s (default: %s)\n", k, absa_train_opts[i].help, v[0] ? v : "none");
    }
    fprintf(f, "  %-18s %s\n", "-h, --help", "this help");
}

void absa_train_cfg_write(FILE *f, const absa_train_cfg *c)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        char v[8192];
        fmt_value(v, sizeof v, c, &absa_train_opts[i]);
        fprintf(f, "%s = %s\n", absa_train_opts[i].key, v);
    }
}
