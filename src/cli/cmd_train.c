/* cmd_train.c — `absa train`: parse flags / config file, start the ranks (dist.h: plain one
 * process unless an MPI launcher or growth asks for MPI), run the trainer, and end the ranks
 * (aborting the MPI job when one rank fails, so none waits forever). SIGTERM and SIGINT are
 * blocked from the start, before any thread exists, and polled by the trainer (graceful stop). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "dist.h"
#include "trainer.h"

/* rank given by the launcher before MPI starts (only rank 0 prints argument errors) */
static int launcher_rank(int is_child)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("PMIX_RANK");
    if (!r) r = getenv("PMI_RANK");
    return is_child ? 1 : r ? atoi(r) : 0;
}

static int growth_code(const char *s)
{
    return !strcmp(s, "spawn") ? ABSA_GROWTH_SPAWN : !strcmp(s, "pool") ? ABSA_GROWTH_POOL
         : !strcmp(s, "none") ? ABSA_GROWTH_NONE : ABSA_GROWTH_AUTO;
}

int absa_cmd_train(int argc, char **argv)
{
    absa_train_cfg c;
    absa_stop_watch sw;
    absa_train_outcome out;
    int help = 0, is_child = 0, rc = 0;
    absa_stop_watch_begin(&sw);
    char **args = absa_xcalloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0;
    for (int i = 0; i < argc; i++) { /* the growth marker is not a user option */
        if (i > 0 && !strcmp(argv[i], ABSA_DIST_CHILD_MARKER)) is_child = 1;
        else args[nargs++] = argv[i];
    }
    absa_train_cfg_defaults(&c);
    if (absa_train_cfg_parse(&c, nargs, args, &help) != ABSA_OK) {
        rc = launcher_rank(is_child) == 0 ? absa_cli_usage("train", "%s", absa_last_error()) : 2;
        goto done;
    }
    if (absa_train_cfg_check_env(&c) != ABSA_OK) {
        rc = launcher_rank(is_child) == 0 ? absa_cli_error("train", "%s", absa_last_error()) : 1;
        goto done;
    }
    if (help) {
        absa_train_cfg_help(stdout);
        goto done;
    }
    if (absa_train_cfg_check(&c) != ABSA_OK) { /* the same on every rank: before MPI starts; a
                                                  * bad option value is a usage error (exit 2) */
        rc = launcher_rank(is_child) == 0 ? absa_cli_usage("train", "%s", absa_last_error()) : 2;
        goto done;
    }
    if (absa_train_cfg_check_env(&c) != ABSA_OK) {
        rc = launcher_rank(is_child) == 0 ? absa_cli_error("train", "%s", absa_last_error()) : 1;
        goto done;
    }
    absa_dist_opts o = {growth_code(c.growth), c.max_ranks, c.spawn_host, c.spawn_timeout, c.spawn_test_delay,
                        nargs, args, is_child};
    absa_dist *d = NULL;
    if (absa_dist_init(&o, &d) != ABSA_OK) {
        rc = launcher_rank(is_child) == 0 ? absa_cli_error("train", "%s", absa_last_error()) : 1;
        goto done;
    }
    if (absa_train_run(&c, d, &sw, &out) != ABSA_OK) {
        rc = 1;
        if (out.report) absa_cli_error("train", "%s", absa_last_error());
        /* a failure all ranks agreed on ends normally; otherwise abort the MPI job, since
         * other ranks may be waiting on this one */
        absa_dist_finalize(d, out.agreed);
        goto done;
    }
    absa_dist_finalize(d, 1);
done:
    free(args);
    absa_stop_watch_end(&sw);
    return rc;
}
