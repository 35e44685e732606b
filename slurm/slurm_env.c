/* slurm_env.c — the Slurm job environment as absa's view of "where may I grow": groups of a
 * (heterogeneous) job, their hosts and slots, the mpirun --host string, a JSON description and
 * the exports that point Open MPI's Slurm support at one het group; see absa_slurm.h. */
#include "absa_slurm.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base_json.h"

const char *absa_slurm_getenv_process(void *ctx, const char *key)
{
    (void)ctx;
    return getenv(key);
}

const char *absa_slurm_getenv_list(void *ctx, const char *key)
{
    const char *const *list = ctx, *found = NULL;
    size_t kl = strlen(key);
    for (; list && *list; list++)
        if (!strncmp(*list, key, kl) && (*list)[kl] == '=') found = *list + kl + 1;
    return found;
}

absa_status absa_slurm_envfile_read(const char *path, char ***out)
{
    absa_status status = ABSA_OK;
    enum { MAX_LINES = 4096, MAX_LINE = 65536 };
    char *line = NULL, **list = NULL;
    size_t n = 0, lineno = 0;
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) ABSA_FAIL(ABSA_ENOTFOUND, "%s: %s", path, strerror(errno));
    line = malloc(MAX_LINE + 2);
    list = calloc(MAX_LINES + 1, sizeof *list);
    if (!line || !list) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    while (fgets(line, MAX_LINE + 2, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len > MAX_LINE) ABSA_FAIL(ABSA_EFORMAT, "%s:%zu: line longer than %d bytes", path, lineno, MAX_LINE);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq || eq == line) ABSA_FAIL(ABSA_EFORMAT, "%s:%zu: want KEY=VALUE", path, lineno);
        if (n == MAX_LINES) ABSA_FAIL(ABSA_EFORMAT, "%s: more than %d variables", path, MAX_LINES);
        list[n] = strdup(line);
        if (!list[n]) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
        n++;
    }
    if (ferror(f)) ABSA_FAIL(ABSA_EIO, "%s: read error", path);
    *out = list;
    list = NULL;
cleanup:
    if (f) fclose(f);
    free(line);
    absa_slurm_envfile_free(list);
    return status;
}

void absa_slurm_envfile_free(char **list)
{
    if (!list) return;
    for (char **p = list; *p; p++) free(*p);
    free(list);
}

/* Look up NAME_HET_GROUP_<g>, else NAME_PACK_GROUP_<g> (Slurm < 20.02 names). */
static const char *get_group(absa_slurm_getenv_fn get, void *ctx, const char *name, int g)
{
    char key[128];
    snprintf(key, sizeof key, "%s_HET_GROUP_%d", name, g);
    const char *v = get(ctx, key);
    if (v) return v;
    snprintf(key, sizeof key, "%s_PACK_GROUP_%d", name, g);
    return get(ctx, key);
}

/* strict decimal integer in [lo, hi] */
static absa_status parse_int(const char *what, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        absa_errorf("%s='%s' is not an integer in [%ld, %ld]", what, s, lo, hi);
        return ABSA_EINVAL;
    }
    *out = (int)v;
    return ABSA_OK;
}

static void group_free(absa_slurm_group *g)
{
    free(g->nodelist);
    absa_slurm_hostlist_free(&g->nodes);
    free(g->slots);
    memset(g, 0, sizeof *g);
}

void absa_slurm_env_free(absa_slurm_env *e)
{
    if (!e) return;
    for (int i = 0; i < e->ngroups; i++) group_free(&e->groups[i]);
    free(e->groups);
    memset(e, 0, sizeof *e);
}

/* One group from its node list, tasks per node, CPUs per node and CPUs per task (any may be NULL
 * except the node list). `use_tasks` = 0 ignores tasks per node (a step's, not the job's). */
static absa_status read_group(absa_slurm_group *g, int index, const char *nodelist_var, const char *nodelist,
                              const char *tasks_var, const char *tasks, const char *cpus_var, const char *cpus,
                              const char *cpt_var, const char *cpt, int use_tasks)
{
    absa_status status = ABSA_OK;
    int *cpn = NULL;
    memset(g, 0, sizeof *g);
    g->index = index;
    g->cpus_per_task = 1;
    if (!nodelist) ABSA_FAIL(ABSA_EINVAL, "%s is not set", nodelist_var);
    g->nodelist = strdup(nodelist);
    if (!g->nodelist) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    status = absa_slurm_hostlist_expand(nodelist, &g->nodes);
    if (status != ABSA_OK) {
        char msg[512]; /* absa_errorf must not read the buffer it writes */
        snprintf(msg, sizeof msg, "%s", absa_last_error());
        ABSA_FAIL(status, "%s: %s", nodelist_var, msg);
    }
    if (cpt) ABSA_TRY(parse_int(cpt_var, cpt, 1, ABSA_SLURM_MAX_COUNT, &g->cpus_per_task));
    g->slots = calloc(g->nodes.n, sizeof *g->slots);
    if (!g->slots) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    if (tasks && use_tasks) {
        ABSA_TRY(absa_slurm_counts_expand(tasks, tasks_var, g->nodes.n, g->slots));
        g->slots_from_tasks = 1;
    } else if (cpus) {
        cpn = calloc(g->nodes.n, sizeof *cpn);
        if (!cpn) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
        ABSA_TRY(absa_slurm_counts_expand(cpus, cpus_var, g->nodes.n, cpn));
        for (size_t i = 0; i < g->nodes.n; i++) {
            g->slots[i] = cpn[i] / g->cpus_per_task;
            if (g->slots[i] < 1) g->slots[i] = 1;
        }
    } else {
        ABSA_FAIL(ABSA_EINVAL, "neither %s nor %s is set: cannot tell how many ranks fit on %s", tasks_var, cpus_var,
                  nodelist);
    }
    long total = 0;
    for (size_t i = 0; i < g->nodes.n; i++) total += g->slots[i];
    if (total < 1 || total > 0x7fffffffL) ABSA_FAIL(ABSA_EINVAL, "group %d (%s) has %ld slots", index, nodelist, total);
    g->total_slots = (int)total;
cleanup:
    free(cpn);
    if (status != ABSA_OK) group_free(g);
    return status;
}

absa_status absa_slurm_env_read(absa_slurm_getenv_fn get, void *ctx, absa_slurm_env *out)
{
    absa_status status = ABSA_OK;
    memset(out, 0, sizeof *out);
    const char *job = get(ctx, "SLURM_JOB_ID");
    if (!job) job = get(ctx, "SLURM_JOBID");
    if (!job) return ABSA_OK; /* not under Slurm */
    if (!*job || strlen(job) >= sizeof out->job_id) ABSA_FAIL(ABSA_EINVAL, "SLURM_JOB_ID='%s' is not a job id", job);
    for (const char *p = job; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '+')
            ABSA_FAIL(ABSA_EINVAL, "SLURM_JOB_ID='%s' is not a job id", job);
    out->in_slurm = 1;
    strcpy(out->job_id, job);
    out->in_step = get(ctx, "SLURM_STEP_ID") != NULL || get(ctx, "SLURM_STEPID") != NULL;
    const char *v = get(ctx, "SLURM_CPUS_ON_NODE");
    if (v) ABSA_TRY(parse_int("SLURM_CPUS_ON_NODE", v, 0, ABSA_SLURM_MAX_COUNT, &out->cpus_on_node));
    v = get(ctx, "SLURMD_NODENAME");
    if (v) {
        if (strlen(v) > ABSA_SLURM_MAX_NAME) ABSA_FAIL(ABSA_EINVAL, "SLURMD_NODENAME is longer than %d characters", ABSA_SLURM_MAX_NAME);
        strcpy(out->nodename, v);
    }
    const char *het = get(ctx, "SLURM_HET_SIZE");
    if (!het) het = get(ctx, "SLURM_PACK_SIZE");
    if (het) ABSA_TRY(parse_int("SLURM_HET_SIZE", het, 1, ABSA_SLURM_MAX_GROUPS, &out->het_size));
    int ng = het ? out->het_size : 1;
    out->groups = calloc((size_t)ng, sizeof *out->groups);
    if (!out->groups) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    if (het) {
        for (int i = 0; i < ng; i++) {
            char nv[64], tv[64], cv[64], pv[64];
            snprintf(nv, sizeof nv, "SLURM_JOB_NODELIST_HET_GROUP_%d", i);
            snprintf(tv, sizeof tv, "SLURM_TASKS_PER_NODE_HET_GROUP_%d", i);
            snprintf(cv, sizeof cv, "SLURM_JOB_CPUS_PER_NODE_HET_GROUP_%d", i);
            snprintf(pv, sizeof pv, "SLURM_CPUS_PER_TASK_HET_GROUP_%d", i);
            ABSA_TRY(read_group(&out->groups[i], i, nv, get_group(get, ctx, "SLURM_JOB_NODELIST", i), tv,
                                get_group(get, ctx, "SLURM_TASKS_PER_NODE", i), cv,
                                get_group(get, ctx, "SLURM_JOB_CPUS_PER_NODE", i), pv,
                                get_group(get, ctx, "SLURM_CPUS_PER_TASK", i), 1));
            out->ngroups = i + 1;
        }
    } else {
        const char *nl = get(ctx, "SLURM_JOB_NODELIST");
        if (!nl) nl = get(ctx, "SLURM_NODELIST");
        ABSA_TRY(read_group(&out->groups[0], 0, "SLURM_JOB_NODELIST", nl, "SLURM_TASKS_PER_NODE",
                            get(ctx, "SLURM_TASKS_PER_NODE"), "SLURM_JOB_CPUS_PER_NODE",
                            get(ctx, "SLURM_JOB_CPUS_PER_NODE"), "SLURM_CPUS_PER_TASK",
                            get(ctx, "SLURM_CPUS_PER_TASK"), !out->in_step));
        out->ngroups = 1;
    }
cleanup:
    if (status != ABSA_OK) absa_slurm_env_free(out);
    return status;
}

absa_status absa_slurm_growth_view(const absa_slurm_env *e, int group, const absa_slurm_group **out)
{
    *out = NULL;
    if (!e->in_slurm || e->ngroups < 1) {
        absa_errorf("not running under Slurm (SLURM_JOB_ID is not set)");
        return ABSA_EINVAL;
    }
    if (group == ABSA_SLURM_GROUP_AUTO) group = e->het_size >= 2 ? 1 : 0;
    if (group < 0 || group >= e->ngroups) {
        absa_errorf("job %s has no het group %d (it has %d component%s)", e->job_id, group, e->ngroups,
                    e->ngroups == 1 ? "" : "s");
        return ABSA_EINVAL;
    }
    *out = &e->groups[group];
    return ABSA_OK;
}

absa_status absa_slurm_host_string(const absa_slurm_group *g, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap) buf[0] = 0;
    for (size_t i = 0; i < g->nodes.n; i++) {
        if (g->slots[i] <= 0) continue;
        int w = snprintf(buf + len, cap - len, "%s%s:%d", len ? "," : "", g->nodes.names[i], g->slots[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            absa_errorf("the host string of %zu hosts does not fit in %zu bytes", g->nodes.n, cap);
            if (cap) buf[0] = 0;
            return ABSA_EINVAL;
        }
        len += (size_t)w;
    }
    return ABSA_OK;
}

void absa_slurm_view_json(FILE *f, const absa_slurm_env *e, const absa_slurm_group *g)
{
    fprintf(f, "{\"job_id\": ");
    absa_json_string(f, e->job_id);
    fprintf(f, ", \"het_size\": %d, \"in_step\": %s, \"group\": %d, \"nodelist\": ", e->het_size,
            e->in_step ? "true" : "false", g->index);
    absa_json_string(f, g->nodelist);
    fprintf(f, ", \"slots_from\": \"%s\", \"cpus_per_task\": %d, \"total_slots\": %d, \"hosts\": [",
            g->slots_from_tasks ? "tasks" : "cpus", g->cpus_per_task, g->total_slots);
    for (size_t i = 0; i < g->nodes.n; i++) {
        fprintf(f, "%s{\"host\": ", i ? ", " : "");
        absa_json_string(f, g->nodes.names[i]);
        fprintf(f, ", \"slots\": %d}", g->slots[i]);
    }
    fprintf(f, "], \"groups\": [");
    for (int i = 0; i < e->ngroups; i++) {
        fprintf(f, "%s{\"group\": %d, \"nodelist\": ", i ? ", " : "", i);
        absa_json_string(f, e->groups[i].nodelist);
        fprintf(f, ", \"total_slots\": %d}", e->groups[i].total_slots);
    }
    fprintf(f, "]}\n");
}

/* export NAME='value' with the value single-quoted for sh */
static void export_line(FILE *f, const char *name, const char *value)
{
    fprintf(f, "export %s='", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\'') fputs("'\\''", f);
        else fputc(*p, f);
    }
    fputs("'\n", f);
}

void absa_slurm_mpirun_exports(FILE *f, const absa_slurm_env *e, const absa_slurm_group *g)
{
    char num[32], counts[4096];
    if (e->het_size < 2) {
        fprintf(f, "# plain job %s: Open MPI reads the allocation (%s) itself; nothing to change\n", e->job_id,
                g->nodelist);
        return;
    }
    fprintf(f, "# het group %d of job %s for mpirun: its allocation, launched by srun --het-group=%d\n", g->index,
            e->job_id, g->index);
    export_line(f, "SLURM_JOB_NODELIST", g->nodelist);
    export_line(f, "SLURM_NODELIST", g->nodelist);
    if (absa_slurm_counts_format(g->slots, g->nodes.n, counts, sizeof counts) == ABSA_OK) {
        export_line(f, "SLURM_TASKS_PER_NODE", counts);
        int *cpn = malloc(g->nodes.n * sizeof *cpn);
        if (cpn) {
            for (size_t i = 0; i < g->nodes.n; i++) cpn[i] = g->slots[i] * g->cpus_per_task;
            if (absa_slurm_counts_format(cpn, g->nodes.n, counts, sizeof counts) == ABSA_OK)
                export_line(f, "SLURM_JOB_CPUS_PER_NODE", counts);
            free(cpn);
        }
    }
    snprintf(num, sizeof num, "%zu", g->nodes.n);
    export_line(f, "SLURM_JOB_NUM_NODES", num);
    export_line(f, "SLURM_NNODES", num);
    snprintf(num, sizeof num, "%d", g->total_slots);
    export_line(f, "SLURM_NTASKS", num);
    export_line(f, "SLURM_NPROCS", num);
    snprintf(num, sizeof num, "%d", g->cpus_per_task);
    export_line(f, "SLURM_CPUS_PER_TASK", num);
    snprintf(counts, sizeof counts, "--het-group=%d", g->index);
    export_line(f, "OMPI_MCA_plm_slurm_args", counts);
}
