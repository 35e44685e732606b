/* absa_slurm.h — what a Slurm job allows absa to grow into (docs/slurm.md).
 *
 * Slurm cannot grow a running job: the allocation (for a heterogeneous job, its training
 * component) is sized for the largest number of training ranks, and the trainer grows into it.
 * This module turns the job's environment into that view — a list of (host, slots) of the
 * training component — and provides the pieces the job scripts need:
 *
 *  - Slurm's compressed host lists: "n[1-3,7]", "gpu[3,5-6]", "a[01-03]b" (zero padding is the
 *    width of the lower bound), several bracket groups ("r[1-2]n[1-2]" = cartesian product,
 *    leftmost outermost), several comma/space-separated entries. A superset of what Slurm 22.05's
 *    own parser accepts (it rejects text after a bracket group such as "a[01-03]b").
 *  - counts per node as Slurm compresses them: "2(x3),1" = 2,2,2,1 (SLURM_TASKS_PER_NODE,
 *    SLURM_JOB_CPUS_PER_NODE).
 *  - the job environment: SLURM_JOB_ID, heterogeneous groups (SLURM_HET_SIZE and the
 *    *_HET_GROUP_<i> variables, or the older *_PACK_GROUP_<i> names), node lists, tasks and CPUs
 *    per node, CPUs per task. The environment is read through a lookup function, so recorded
 *    environments (tests) and the process environment go through the same code.
 *  - the shared secret of the UCX data stream: fresh random bytes, hex-encoded, mode 0600.
 *
 * Every parser returns ABSA_EINVAL with a one-line message for malformed input (never a crash)
 * and caps sizes (ABSA_SLURM_MAX_HOSTS hosts, ABSA_SLURM_MAX_NAME characters per host). */
#ifndef ABSA_SLURM_H
#define ABSA_SLURM_H

#include <stddef.h>
#include <stdio.h>

#include "absa_error.h"

#define ABSA_SLURM_MAX_HOSTS 65536 /* hosts in one expanded list */
#define ABSA_SLURM_MAX_NAME 255    /* characters in one host name */
#define ABSA_SLURM_MAX_GROUPS 64   /* components of a heterogeneous job */
#define ABSA_SLURM_MAX_COUNT 1000000 /* tasks or CPUs on one node */
#define ABSA_SLURM_GROUP_AUTO (-1)   /* training group: 1 in a het job, else 0 */

/* ---- host lists and per-node counts (slurm_hostlist.c) ---- */

typedef struct absa_slurm_hostlist {
    size_t n;
    char **names; /* n malloc'd NUL-terminated names, in Slurm's order (duplicates kept) */
} absa_slurm_hostlist;

/* Expand a compressed host list. Entries are separated by ',' or white space outside brackets;
 * empty entries are skipped (as Slurm does). Host characters: letters, digits, '-', '.', '_'.
 * Inside brackets: comma-separated N or LO-HI (decimal, at most 9 digits, LO <= HI). On error
 * *out is empty. */
absa_status absa_slurm_hostlist_expand(const char *spec, absa_slurm_hostlist *out);
void absa_slurm_hostlist_free(absa_slurm_hostlist *h);

/* Expand "2(x3),1" into exactly n counts (each 0..ABSA_SLURM_MAX_COUNT); the list must describe
 * exactly n nodes. `what` names the variable in error messages. */
absa_status absa_slurm_counts_expand(const char *spec, const char *what, size_t n, int *counts);
/* The inverse: "2(x3),1". Fails (ABSA_EINVAL) if it does not fit in cap bytes. */
absa_status absa_slurm_counts_format(const int *counts, size_t n, char *buf, size_t cap);

/* ---- the job environment (slurm_env.c) ---- */

/* Look up an environment variable; NULL when unset. */
typedef const char *(*absa_slurm_getenv_fn)(void *ctx, const char *key);
/* The process environment (ctx unused). */
const char *absa_slurm_getenv_process(void *ctx, const char *key);
/* ctx = a NULL-terminated array of "KEY=VALUE" strings (a recorded environment); the last
 * definition of a key wins. */
const char *absa_slurm_getenv_list(void *ctx, const char *key);
/* Load a recorded environment: "KEY=VALUE" lines ('#' comments and blank lines skipped, lines of
 * at most 64 KiB, at most 4096 of them) into a NULL-terminated list for absa_slurm_getenv_list. */
absa_status absa_slurm_envfile_read(const char *path, char ***out);
void absa_slurm_envfile_free(char **list);

typedef struct absa_slurm_group {
    int index;             /* het group number (0 for a plain job) */
    char *nodelist;        /* compressed, as Slurm wrote it */
    absa_slurm_hostlist nodes;
    int *slots;            /* per node: ranks that may run there */
    int total_slots;
    int cpus_per_task;     /* 1 when Slurm does not say */
    int slots_from_tasks;  /* 1: tasks per node; 0: CPUs per node / CPUs per task */
} absa_slurm_group;

typedef struct absa_slurm_env {
    int in_slurm;          /* SLURM_JOB_ID is set */
    char job_id[32];
    int het_size;          /* components of a heterogeneous job; 0 = plain job */
    int in_step;           /* inside an srun step (SLURM_STEP_ID set) */
    int cpus_on_node;      /* SLURM_CPUS_ON_NODE (0 = unset) */
    char nodename[ABSA_SLURM_MAX_NAME + 1]; /* SLURMD_NODENAME ("" = unset) */
    int ngroups;           /* het_size, or 1 for a plain job, 0 outside Slurm */
    absa_slurm_group *groups;
} absa_slurm_env;

/* Read the job environment. Outside Slurm (no SLURM_JOB_ID) this succeeds with in_slurm = 0 and
 * no groups. Slots per node: the group's TASKS_PER_NODE when present — except for a plain job
 * inside a step, where SLURM_TASKS_PER_NODE describes the step, not the job — otherwise
 * JOB_CPUS_PER_NODE / CPUS_PER_TASK (at least 1 per node). */
absa_status absa_slurm_env_read(absa_slurm_getenv_fn get, void *ctx, absa_slurm_env *out);
void absa_slurm_env_free(absa_slurm_env *e);

/* "Where may I grow": the training component's (host, slots) list. group = ABSA_SLURM_GROUP_AUTO
 * picks component 1 of a heterogeneous job (component 0 runs `absa serve`) and the only
 * component of a plain job. ABSA_EINVAL outside Slurm or for a group the job does not have. */
absa_status absa_slurm_growth_view(const absa_slurm_env *e, int group, const absa_slurm_group **out);

/* mpirun --host string "n3:4,n4:4" (hosts with 0 slots are left out). */
absa_status absa_slurm_host_string(const absa_slurm_group *g, char *buf, size_t cap);
/* JSON object describing the job and the chosen group (one line, newline-terminated). */
void absa_slurm_view_json(FILE *f, const absa_slurm_env *e, const absa_slurm_group *g);
/* Shell lines `export NAME='value'` that point Open MPI's Slurm support (ras/plm slurm) at group
 * g of a heterogeneous job: SLURM_JOB_NODELIST, SLURM_NODELIST, SLURM_TASKS_PER_NODE,
 * SLURM_JOB_CPUS_PER_NODE, SLURM_JOB_NUM_NODES, SLURM_NNODES, SLURM_NTASKS, SLURM_NPROCS,
 * SLURM_CPUS_PER_TASK and OMPI_MCA_plm_slurm_args='--het-group=<g>' (so that mpirun's daemons
 * are launched by `srun --het-group=<g>`). For a plain job only the informational comment. */
void absa_slurm_mpirun_exports(FILE *f, const absa_slurm_env *e, const absa_slurm_group *g);

/* ---- shared secret (slurm_secret.c) ---- */

/* Write `nbytes` (16..128) fresh random bytes from /dev/urandom, hex-encoded (2*nbytes characters
 * plus a newline), to path with mode 0600: written to a temporary file in the same directory
 * (created 0600, O_EXCL) and renamed over path, so a reader never sees a partial or
 * group-readable secret. */
absa_status absa_slurm_write_secret(const char *path, size_t nbytes);

/* The command line (`absa slurm`, the absa-slurm helper) is src/cli/cmd_slurm.c (cli.h). */

#endif
