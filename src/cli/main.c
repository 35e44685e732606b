/* main.c — the `absa` binary: dispatches to the subcommands declared in cli.h, after choosing
 * passive OpenMP waits unless the user chose a policy and OpenBLAS's kernels for the CPU
 * (absa_early_env). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_core.h"
#include "cli.h"

typedef struct absa_subcommand {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} absa_subcommand;

static const absa_subcommand absa_subcommands[] = {
    {"train", absa_cmd_train, "train with SGD, ABS or ABSA (adaptive batch size), metrics + checkpoints"},
    {"plot", absa_cmd_plot, "plot eigenvalue, batch, lr and accuracy of a run directory (PNG)"},
    {"init", absa_cmd_init, "write a freshly initialised model checkpoint (HDF5)"},
    {"eig", absa_cmd_eig, "top Hessian eigenvalue(s) and trace of a checkpoint on a dataset (JSON)"},
    {"bench", absa_cmd_bench, "training-step and Hessian-vector-product throughput (images/s)"},
    {"pack", absa_cmd_pack, "pack a dataset (IDX, CIFAR, SVHN, image folders) into HDF5"},
    {"info", absa_cmd_info, "describe a packed HDF5 dataset"},
    {"serve", absa_cmd_serve, "stream a packed dataset to training ranks over UCX"},
    {"slurm", absa_cmd_slurm, "read the Slurm allocation: hosts and slots to grow into"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: absa <command> [options]   (absa <command> --help for details)\n\n"
               "Adaptive-batch-size training with exact Hessian-vector products.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof absa_subcommands / sizeof absa_subcommands[0]; i++)
        fprintf(f, "  %-8s %s\n", absa_subcommands[i].name, absa_subcommands[i].summary);
    fprintf(f, "\n  --version  print the version\n\n"
               "exit status (every command): 0 success; 1 runtime failure (a file, the data, the network,\n"
               "training itself), with one line 'absa <command>: error: ...' on stderr; 2 usage error (unknown\n"
               "option, bad or missing option value), with one line ending in (see 'absa <command> --help').\n");
}

/* Idle OpenMP workers sleep instead of spinning (OMP_WAIT_POLICY=passive) unless the user set a
 * policy: on a shared or oversubscribed node (other jobs, several ranks per node, MPI progress
 * threads) spinning workers steal the cores that the busy ones need, measured 2-4x slower than
 * one thread (docs/benchmarks.md), while passive costs little on an idle node. libgomp reads the
 * variable when it is loaded, before main, so the binary sets it and executes itself again, once
 * (the variable is then set); if that exec fails, absa goes on with the runtime's default. The
 * same exec carries OpenBLAS's kernel choice (src/base/blas_core.h), so absa re-runs at most once:
 * this constructor runs before the generic one of blas_core_ctor.c, which then finds
 * OPENBLAS_CORETYPE set. */
__attribute__((constructor(101))) static void absa_early_env(int argc, char **argv, char **envp)
{
    (void)envp;
    /* Started with stdin, stdout or stderr closed (`2>&-`, some daemon launchers), the first file
     * absa opens would get that number and every progress or error line would be written into it
     * (metrics.jsonl, config.txt, a checkpoint): the missing ones become /dev/null first
     * (cli.messages). Before the exec, so the re-run image inherits them. */
    for (int fd = 0; fd <= 2; fd++) /* open() takes the lowest free number: fd, the ones below are open */
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) (void)open("/dev/null", fd ? O_WRONLY : O_RDONLY);
    if (argc < 1) return;
    const int wait = !getenv("OMP_WAIT_POLICY") && !setenv("OMP_WAIT_POLICY", "passive", 1);
    absa_blas_core_fix(argv, wait); /* one exec for both */
}

int main(int argc, char **argv)
{
    /* A file size limit (ulimit -f, or one Slurm propagates from the submit host) below an output
     * would kill absa with SIGXFSZ mid-write, with no message and a temporary file left behind;
     * ignored, the write fails with EFBIG and every writer's error path reports it in one line
     * and removes its temporary file, as for a full disk (crash.fsize). `absa serve`'s split in
     * RAM is a memfd, which the limit also bounds: it falls back to anonymous memory. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("absa %s\n", ABSA_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof absa_subcommands / sizeof absa_subcommands[0]; i++)
        if (!strcmp(argv[1], absa_subcommands[i].name)) return absa_subcommands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "absa: unknown command '%s' (see 'absa --help')\n", argv[1]);
    return 2;
}
