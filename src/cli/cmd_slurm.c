/* cmd_slurm.c — `absa slurm` (also built standalone as the `absa-slurm` helper): what the job
 * scripts ask about their Slurm allocation — the training component's mpirun --host string and
 * slot count, a JSON view, the environment that points mpirun at one het group, host-list
 * expansion, and the shared secret of the UCX stream. See docs/slurm.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "absa_slurm.h"
#include "cli.h"
#include "cli_util.h"

#define CMD "slurm"

static void help(FILE *f)
{
    fprintf(f,
            "usage: absa slurm <action> [--group G] [--env-file FILE]\n\n"
            "What a Slurm job may grow into: the (host, slots) list of its training component\n"
            "(het group 1 of a heterogeneous job, where group 0 runs `absa serve`; the whole job otherwise).\n\n"
            "actions:\n"
            "  hosts            mpirun --host string of the training component, e.g. n3:4,n4:4\n"
            "  slots            number of slots (the largest number of training ranks)\n"
            "  view             JSON: job id, het size, the group's hosts and slots, every group\n"
            "  mpirun-env       shell exports that make mpirun (Open MPI) use that het group's\n"
            "                   allocation and launch its daemons with srun --het-group=G:\n"
            "                     eval \"$(absa slurm mpirun-env)\"; mpirun -np 1 absa train ...\n"
            "  expand LIST      expand a compressed host list (n[1-3,7],gpu[01-02]), one per line\n"
            "  secret FILE      write a fresh shared secret (hex of --bytes random bytes, mode 0600)\n\n"
            "options:\n"
            "  --group G        het group to describe (default: 1 in a het job, else 0)\n"
            "  --env-file FILE  read KEY=VALUE lines instead of the environment (recorded jobs)\n"
            "  --bytes N        secret: random bytes (16..128, default 32)\n");
}

int absa_cmd_slurm(int argc, char **argv)
{
    const char *action = NULL, *arg = NULL, *env_file = NULL;
    int group = ABSA_SLURM_GROUP_AUTO, bytes = 32, rc = 1;
    char **list = NULL, *hosts = NULL;
    absa_slurm_env env;
    memset(&env, 0, sizeof env);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help(stdout);
            return 0;
        }
        if (!strcmp(a, "--group") || !strcmp(a, "--env-file") || !strcmp(a, "--bytes")) {
            if (i + 1 >= argc) return absa_cli_usage(CMD, "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--env-file")) env_file = v;
            else if (!strcmp(a, "--group") && absa_arg_int(CMD, a, v, 0, ABSA_SLURM_MAX_GROUPS - 1, &group)) return 2;
            else if (!strcmp(a, "--bytes") && absa_arg_int(CMD, a, v, 16, 128, &bytes)) return 2;
        } else if (a[0] == '-' && a[1]) {
            return absa_cli_usage(CMD, "unknown option '%s'", a);
        } else if (!action) {
            action = a;
        } else if (!arg) {
            arg = a;
        } else {
            return absa_cli_usage(CMD, "unexpected argument '%s'", a);
        }
    }
    if (!action) return absa_cli_usage(CMD, "no action given");
    int needs_arg = !strcmp(action, "expand") || !strcmp(action, "secret");
    if (needs_arg && !arg) return absa_cli_usage(CMD, "%s needs an argument", action);
    if (!needs_arg && arg) return absa_cli_usage(CMD, "unexpected argument '%s'", arg);

    if (!strcmp(action, "expand")) {
        absa_slurm_hostlist h;
        if (absa_slurm_hostlist_expand(arg, &h) != ABSA_OK) return absa_cli_error(CMD, "%s", absa_last_error());
        for (size_t i = 0; i < h.n; i++) printf("%s\n", h.names[i]);
        absa_slurm_hostlist_free(&h);
        return 0;
    }
    if (!strcmp(action, "secret")) {
        if (absa_slurm_write_secret(arg, (size_t)bytes) != ABSA_OK) return absa_cli_error(CMD, "%s", absa_last_error());
        return 0;
    }
    if (strcmp(action, "hosts") && strcmp(action, "slots") && strcmp(action, "view") && strcmp(action, "mpirun-env"))
        return absa_cli_usage(CMD, "unknown action '%s'", action);

    if (env_file && absa_slurm_envfile_read(env_file, &list) != ABSA_OK) {
        rc = absa_cli_error(CMD, "%s", absa_last_error());
        goto done;
    }
    absa_status st = list ? absa_slurm_env_read(absa_slurm_getenv_list, list, &env)
                          : absa_slurm_env_read(absa_slurm_getenv_process, NULL, &env);
    const absa_slurm_group *g = NULL;
    if (st != ABSA_OK || absa_slurm_growth_view(&env, group, &g) != ABSA_OK) {
        rc = absa_cli_error(CMD, "%s", absa_last_error());
        goto done;
    }
    if (!strcmp(action, "hosts")) {
        size_t cap = g->nodes.n * (ABSA_SLURM_MAX_NAME + 16) + 1;
        hosts = malloc(cap);
        if (!hosts || absa_slurm_host_string(g, hosts, cap) != ABSA_OK) {
            rc = absa_cli_error(CMD, "%s", hosts ? absa_last_error() : "out of memory");
            goto done;
        }
        printf("%s\n", hosts);
    } else if (!strcmp(action, "slots")) {
        printf("%d\n", g->total_slots);
    } else if (!strcmp(action, "view")) {
        absa_slurm_view_json(stdout, &env, g);
    } else {
        absa_slurm_mpirun_exports(stdout, &env, g);
    }
    rc = fflush(stdout) == 0 ? 0 : absa_cli_error(CMD, "cannot write the output");
done:
    free(hosts);
    absa_slurm_env_free(&env);
    absa_slurm_envfile_free(list);
    return rc;
}
