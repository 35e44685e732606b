/* test_slurm_env.c — unit tests of slurm/ (absa_slurm.h): Slurm host lists and per-node counts
 * against tables of expected expansions (written by hand from Slurm 22.05's behaviour: the cases
 * Slurm accepts are also compared against `scontrol show hostnames` by test_hostlist_scontrol.sh),
 * bad input -> ABSA_EINVAL with a message (never a crash; plus 20000 random strings), the growth
 * view of environments recorded on the local cluster (the envs/ folder) and of hand-made ones, the
 * mpirun exports, and the shared-secret file (mode, content, freshness, readable by
 * absa_ucx_load_secret). Usage: test_slurm_env ENV_DIR WORK_DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absa_slurm.h"
#include "absa_test.h"
#include "ucx_util.h"

/* expected: names joined by single spaces, or NULL = must fail */
typedef struct hl_case { const char *spec, *want; } hl_case;

static const hl_case hl_cases[] = {
    {"n1", "n1"},
    {"n[1-3,7]", "n1 n2 n3 n7"},
    {"a[01-03]b", "a01b a02b a03b"},
    {"n[1-2],gpu[3,5-6]", "n1 n2 gpu3 gpu5 gpu6"},
    {"n[1-3,7],gpu[3,5-6]", "n1 n2 n3 n7 gpu3 gpu5 gpu6"},
    {"x[8-11]", "x8 x9 x10 x11"},
    {"y[008-010]", "y008 y009 y010"},
    {"z[1-03]", "z1 z2 z3"},        /* width = digits of the lower bound (as Slurm) */
    {"n[01-2]", "n01 n02"},
    {"n[098-101]", "n098 n099 n100 n101"},
    {"n[1-2][3-4]", "n13 n14 n23 n24"}, /* cartesian, leftmost outermost (as Slurm) */
    {"r[1-2]n[01-02]", "r1n01 r1n02 r2n01 r2n02"},
    {"gpu[1-2]-ib", "gpu1-ib gpu2-ib"},
    {"n1,,n2", "n1 n2"},             /* empty entries skipped (as Slurm) */
    {"n[1-2],", "n1 n2"},
    {" n1 n2\t", "n1 n2"},
    {"[1-2]", "1 2"},
    {"n[1,1]", "n1 n1"},             /* duplicates kept (as Slurm) */
    {"n[0-0]", "n0"},
    {"n-1.ex.com,node_2", "n-1.ex.com node_2"},
    {"c[999999998-999999999]", "c999999998 c999999999"},
    {"", NULL},
    {",", NULL},
    {"n[3-1]", NULL},
    {"n[1-2", NULL},
    {"n]", NULL},
    {"n[]", NULL},
    {"n[a-b]", NULL},
    {"n[1-2-3]", NULL},
    {"n[-1]", NULL},
    {"n[1-]", NULL},
    {"n[1,,2]", NULL},
    {"n[1,]", NULL},
    {"n[[1]]", NULL},
    {"n[1 2]", NULL},
    {"n[1-100000]", NULL},
    {"n[0-65536]", NULL},
    {"a[0-999]b[0-999]", NULL},
    {"n[1234567890]", NULL},
    {"n$1", NULL},
    {"n:1", NULL},
    {"n1;reboot", NULL},
    {"n'1", NULL},
    {"n\x01", NULL},
    {"n\xc3\xa9", NULL},
    {"a[1]b[1]c[1]d[1]e[1]f[1]g[1]h[1]i[1]", NULL}, /* 9 bracket groups */
};

static void join(const absa_slurm_hostlist *h, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < h->n && len + 2 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", h->names[i]);
}

static void test_hostlists(void)
{
    char got[4096];
    for (size_t i = 0; i < sizeof hl_cases / sizeof hl_cases[0]; i++) {
        const hl_case *c = &hl_cases[i];
        absa_slurm_hostlist h;
        absa_clear_error();
        absa_status st = absa_slurm_hostlist_expand(c->spec, &h);
        if (c->want) {
            CHECK(st == ABSA_OK, "'%s' should expand: %s", c->spec, absa_last_error());
            if (st != ABSA_OK) continue;
            join(&h, got, sizeof got);
            CHECK(!strcmp(got, c->want), "'%s' -> '%s', want '%s'", c->spec, got, c->want);
        } else {
            CHECK(st == ABSA_EINVAL, "'%s' should fail with EINVAL, got %d (%s)", c->spec, st, absa_last_error());
            CHECK(absa_last_error()[0] != 0, "'%s': no error message", c->spec);
            CHECK(h.n == 0 && h.names == NULL, "'%s': output not empty after an error", c->spec);
            printf("  rejected %-40s %s\n", c->spec, absa_last_error());
        }
        absa_slurm_hostlist_free(&h);
    }
    /* exactly the cap is fine, one more is not (also across entries) */
    absa_slurm_hostlist h;
    CHECK(absa_slurm_hostlist_expand("n[00000-65535]", &h) == ABSA_OK && h.n == 65536 &&
              !strcmp(h.names[65535], "n65535") && !strcmp(h.names[7], "n00007"),
          "65536 hosts: %s", absa_last_error());
    absa_slurm_hostlist_free(&h);
    CHECK(absa_slurm_hostlist_expand("a[1-40000],b[1-40000]", &h) == ABSA_EINVAL, "80000 hosts over two entries accepted");
    /* a 255-character name is fine, 256 is not */
    char name[300];
    memset(name, 'h', 254);
    strcpy(name + 254, "[1]");
    CHECK(absa_slurm_hostlist_expand(name, &h) == ABSA_OK && h.n == 1 && strlen(h.names[0]) == 255, "255 chars: %s",
          absa_last_error());
    absa_slurm_hostlist_free(&h);
    strcpy(name + 254, "[10]");
    CHECK(absa_slurm_hostlist_expand(name, &h) == ABSA_EINVAL, "256-character name accepted");
    CHECK(absa_slurm_hostlist_expand(NULL, &h) == ABSA_EINVAL, "NULL accepted");
}

/* random strings over the grammar's alphabet: never a crash, and every success is well formed */
static void test_hostlist_random(void)
{
    static const char alpha[] = "n[]0123456789,- x.b";
    uint64_t s = 12345;
    int ok = 0, bad = 0;
    char spec[48];
    for (int it = 0; it < 20000; it++) {
        size_t len = (size_t)(absa_test_next(&s) % (sizeof spec - 1));
        for (size_t i = 0; i < len; i++) spec[i] = alpha[absa_test_next(&s) % (sizeof alpha - 1)];
        spec[len] = 0;
        absa_slurm_hostlist h;
        if (absa_slurm_hostlist_expand(spec, &h) == ABSA_OK) {
            ok++;
            int good = h.n >= 1 && h.n <= ABSA_SLURM_MAX_HOSTS;
            for (size_t i = 0; good && i < h.n; i++)
                good = h.names[i][0] && strlen(h.names[i]) <= ABSA_SLURM_MAX_NAME && !strpbrk(h.names[i], "[], ");
            CHECK(good, "random '%s' expanded to a bad list", spec);
        } else {
            bad++;
            CHECK(absa_last_error()[0], "random '%s': no message", spec);
        }
        absa_slurm_hostlist_free(&h);
    }
    printf("  random host lists: %d accepted, %d rejected\n", ok, bad);
    CHECK(ok > 100 && bad > 100, "random inputs should exercise both paths (%d ok, %d bad)", ok, bad);
}

typedef struct cnt_case { const char *spec; size_t n; int want[6]; int ok; } cnt_case;

static void test_counts(void)
{
    static const cnt_case cases[] = {
        {"2(x3),1", 4, {2, 2, 2, 1}, 1},  {"4", 1, {4}, 1},          {"4(x2)", 2, {4, 4}, 1},
        {"1(x1)", 1, {1}, 1},             {"4,1", 2, {4, 1}, 1},      {"0,3", 2, {0, 3}, 1},
        {"1,2(x2),3", 4, {1, 2, 2, 3}, 1}, {"2(x3)", 4, {0}, 0},      {"2(x5)", 4, {0}, 0},
        {"", 1, {0}, 0},                  {"x", 1, {0}, 0},           {"2(3)", 3, {0}, 0},
        {"2(x0)", 1, {0}, 0},             {"2(x)", 1, {0}, 0},        {"2(x3", 3, {0}, 0},
        {"-1", 1, {0}, 0},                {"2,,1", 2, {0}, 0},        {"2 (x3)", 3, {0}, 0},
        {"99999999999", 1, {0}, 0},       {"1000001", 1, {0}, 0},     {"2(x3),", 3, {0}, 0},
        {"2(x99999999999)", 3, {0}, 0},   {"1,2", 1, {0}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cnt_case *c = &cases[i];
        int got[6] = {-7, -7, -7, -7, -7, -7};
        absa_status st = absa_slurm_counts_expand(c->spec, "SLURM_TASKS_PER_NODE", c->n, got);
        if (c->ok) {
            CHECK(st == ABSA_OK, "'%s' (n=%zu): %s", c->spec, c->n, absa_last_error());
            for (size_t k = 0; st == ABSA_OK && k < c->n; k++)
                CHECK(got[k] == c->want[k], "'%s'[%zu] = %d, want %d", c->spec, k, got[k], c->want[k]);
            char back[64];
            CHECK(absa_slurm_counts_format(got, c->n, back, sizeof back) == ABSA_OK, "format");
            int again[6];
            CHECK(absa_slurm_counts_expand(back, "x", c->n, again) == ABSA_OK && !memcmp(again, got, c->n * sizeof(int)),
                  "'%s' -> '%s' does not round-trip", c->spec, back);
        } else {
            CHECK(st == ABSA_EINVAL && absa_last_error()[0], "'%s' (n=%zu) should fail", c->spec, c->n);
            printf("  rejected counts %-18s %s\n", c->spec, absa_last_error());
        }
    }
    char buf[64];
    int v[4] = {2, 2, 2, 1};
    CHECK(absa_slurm_counts_format(v, 4, buf, sizeof buf) == ABSA_OK && !strcmp(buf, "2(x3),1"), "format '%s'", buf);
    CHECK(absa_slurm_counts_format(v, 4, buf, 5) == ABSA_EINVAL && buf[0] == 0, "format into 5 bytes should fail");
}

/* ---- environments ---- */

typedef struct env_case {
    const char *file;  /* recorded environment in ENV_DIR */
    int group;
    const char *hosts; /* expected mpirun --host string; NULL = must fail */
    int total, cpt, from_tasks, het;
} env_case;

static const env_case env_cases[] = {
    /* sbatch -n1 -c1 : -n3 -c1  (component 1 on n2 with 3 tasks) */
    {"het-1-3.env", ABSA_SLURM_GROUP_AUTO, "n2:3", 3, 1, 1, 2},
    {"het-1-3.env", 0, "n1:1", 1, 1, 1, 2},
    {"het-1-3.env", 1, "n2:3", 3, 1, 1, 2},
    {"het-1-3.env", 2, NULL, 0, 0, 0, 0},
    /* sbatch -n1 : -n2 -c2  (2 tasks of 2 CPUs) */
    {"het-1-2c2.env", ABSA_SLURM_GROUP_AUTO, "n2:2", 2, 2, 1, 2},
    /* sbatch -n1 : -N2 -n5 on three nodes: 4 + 1 tasks */
    {"het-1-N2n5.env", ABSA_SLURM_GROUP_AUTO, "n2:4,n3:1", 5, 1, 1, 2},
    /* the same job seen from a rank that mpirun started through srun --het-group=1 */
    {"het-1-N2n5-rank.env", ABSA_SLURM_GROUP_AUTO, "n2:4,n3:1", 5, 1, 1, 2},
    /* plain jobs */
    {"plain-n3-c2.env", ABSA_SLURM_GROUP_AUTO, "n1:2,n2:1", 3, 2, 1, 0},
    {"plain-N2-tpn2.env", ABSA_SLURM_GROUP_AUTO, "n1:2,n2:2", 4, 1, 1, 0},
    {"plain-exclusive.env", ABSA_SLURM_GROUP_AUTO, "n1:4,n2:4", 8, 1, 1, 0},
    {"plain-N1-default.env", ABSA_SLURM_GROUP_AUTO, "n2:1", 1, 1, 1, 0},
    {"plain-N1-default.env", 1, NULL, 0, 0, 0, 0},
    /* inside `srun -n1` of sbatch -N2 -n6: SLURM_TASKS_PER_NODE=1 is the step's, CPUs tell the job */
    {"plain-N2n6-step.env", ABSA_SLURM_GROUP_AUTO, "n1:4,n2:2", 6, 1, 0, 0},
};

static void check_view(const char *name, absa_status st, const absa_slurm_env *e, int group, const char *hosts, int total,
                       int cpt, int from_tasks, int het)
{
    const absa_slurm_group *g = NULL;
    if (st == ABSA_OK) st = absa_slurm_growth_view(e, group, &g);
    if (!hosts) {
        CHECK(st == ABSA_EINVAL && absa_last_error()[0], "%s group %d should fail (status %d)", name, group, st);
        printf("  rejected %-28s %s\n", name, absa_last_error());
        return;
    }
    CHECK(st == ABSA_OK, "%s group %d: %s", name, group, absa_last_error());
    if (st != ABSA_OK) return;
    char buf[1024];
    CHECK(absa_slurm_host_string(g, buf, sizeof buf) == ABSA_OK, "host string");
    CHECK(!strcmp(buf, hosts), "%s group %d: hosts '%s', want '%s'", name, group, buf, hosts);
    CHECK(g->total_slots == total, "%s: %d slots, want %d", name, g->total_slots, total);
    CHECK(g->cpus_per_task == cpt, "%s: %d CPUs per task, want %d", name, g->cpus_per_task, cpt);
    CHECK(g->slots_from_tasks == from_tasks, "%s: slots from %s", name, g->slots_from_tasks ? "tasks" : "cpus");
    CHECK(e->het_size == het, "%s: het size %d, want %d", name, e->het_size, het);
    printf("  %-28s group %2d -> %s (%d slots)\n", name, group, buf, total);
}

static void test_recorded(const char *dir)
{
    for (size_t i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
        const env_case *c = &env_cases[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, c->file);
        char **list = NULL;
        absa_status st = absa_slurm_envfile_read(path, &list);
        CHECK(st == ABSA_OK, "%s: %s", path, absa_last_error());
        if (st != ABSA_OK) continue;
        absa_slurm_env e;
        st = absa_slurm_env_read(absa_slurm_getenv_list, list, &e);
        CHECK(st == ABSA_OK && e.in_slurm && e.job_id[0], "%s: %s", c->file, absa_last_error());
        check_view(c->file, st, &e, c->group, c->hosts, c->total, c->cpt, c->from_tasks, c->het);
        absa_slurm_env_free(&e);
        absa_slurm_envfile_free(list);
    }
    char **list = NULL;
    CHECK(absa_slurm_envfile_read("/nonexistent/x.env", &list) == ABSA_ENOTFOUND && !list, "missing env file");
}

/* hand-made environments: old PACK names, CPUs only, broken and hostile values */
typedef struct inline_case {
    const char *name;
    const char *env[10];
    const char *hosts;
    int total, cpt, from_tasks, het;
} inline_case;

static const inline_case inline_cases[] = {
    {"pack names (Slurm < 20.02)",
     {"SLURM_JOB_ID=7", "SLURM_PACK_SIZE=2", "SLURM_JOB_NODELIST_PACK_GROUP_0=s1", "SLURM_TASKS_PER_NODE_PACK_GROUP_0=1",
      "SLURM_JOB_NODELIST_PACK_GROUP_1=g[01-02]", "SLURM_TASKS_PER_NODE_PACK_GROUP_1=8(x2)", NULL},
     "g01:8,g02:8", 16, 1, 1, 2},
    {"cpus only",
     {"SLURM_JOB_ID=8", "SLURM_JOB_NODELIST=c[1-2]", "SLURM_JOB_CPUS_PER_NODE=8(x2)", "SLURM_CPUS_PER_TASK=3", NULL},
     "c1:2,c2:2", 4, 3, 0, 0},
    {"fewer cpus than a task",
     {"SLURM_JOB_ID=9", "SLURM_NODELIST=c1", "SLURM_JOB_CPUS_PER_NODE=2", "SLURM_CPUS_PER_TASK=4", NULL}, "c1:1", 1, 4, 0, 0},
    {"het size 1", {"SLURM_JOB_ID=10", "SLURM_HET_SIZE=1", "SLURM_JOB_NODELIST_HET_GROUP_0=a1", "SLURM_TASKS_PER_NODE_HET_GROUP_0=2", NULL},
     "a1:2", 2, 1, 1, 1},
    {"last definition wins", {"SLURM_JOB_ID=11", "SLURM_JOB_NODELIST=old", "SLURM_TASKS_PER_NODE=1", "SLURM_JOB_NODELIST=new", NULL},
     "new:1", 1, 1, 1, 0},
    {"no node list", {"SLURM_JOB_ID=1", "SLURM_TASKS_PER_NODE=1", NULL}, NULL, 0, 0, 0, 0},
    {"no counts", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n1", NULL}, NULL, 0, 0, 0, 0},
    {"het size abc", {"SLURM_JOB_ID=1", "SLURM_HET_SIZE=abc", NULL}, NULL, 0, 0, 0, 0},
    {"het size 0", {"SLURM_JOB_ID=1", "SLURM_HET_SIZE=0", NULL}, NULL, 0, 0, 0, 0},
    {"het size 65", {"SLURM_JOB_ID=1", "SLURM_HET_SIZE=65", NULL}, NULL, 0, 0, 0, 0},
    {"het group 1 missing",
     {"SLURM_JOB_ID=1", "SLURM_HET_SIZE=2", "SLURM_JOB_NODELIST_HET_GROUP_0=n1", "SLURM_TASKS_PER_NODE_HET_GROUP_0=1", NULL},
     NULL, 0, 0, 0, 0},
    {"tasks do not match nodes", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n[1-3]", "SLURM_TASKS_PER_NODE=2(x2)", NULL}, NULL, 0, 0, 0, 0},
    {"hostile node list", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n[1-99999999]", "SLURM_TASKS_PER_NODE=1", NULL}, NULL, 0, 0, 0, 0},
    {"shell in node list", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n1$(id)", "SLURM_TASKS_PER_NODE=1", NULL}, NULL, 0, 0, 0, 0},
    {"bad job id", {"SLURM_JOB_ID=1;rm", "SLURM_JOB_NODELIST=n1", "SLURM_TASKS_PER_NODE=1", NULL}, NULL, 0, 0, 0, 0},
    {"cpus per task 0", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n1", "SLURM_TASKS_PER_NODE=1", "SLURM_CPUS_PER_TASK=0", NULL},
     NULL, 0, 0, 0, 0},
    {"zero tasks", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n[1-2]", "SLURM_TASKS_PER_NODE=0(x2)", NULL}, NULL, 0, 0, 0, 0},
    {"huge counts", {"SLURM_JOB_ID=1", "SLURM_JOB_NODELIST=n[1-3000]", "SLURM_TASKS_PER_NODE=1000000(x3000)", NULL}, NULL, 0, 0, 0, 0},
};

static void test_inline(void)
{
    for (size_t i = 0; i < sizeof inline_cases / sizeof inline_cases[0]; i++) {
        const inline_case *c = &inline_cases[i];
        absa_slurm_env e;
        absa_clear_error();
        absa_status st = absa_slurm_env_read(absa_slurm_getenv_list, (void *)c->env, &e);
        check_view(c->name, st, &e, ABSA_SLURM_GROUP_AUTO, c->hosts, c->total, c->cpt, c->from_tasks, c->het);
        absa_slurm_env_free(&e);
    }
    /* outside Slurm: reading succeeds, the view does not */
    const char *none[] = {"HOME=/root", NULL};
    absa_slurm_env e;
    const absa_slurm_group *g;
    CHECK(absa_slurm_env_read(absa_slurm_getenv_list, (void *)none, &e) == ABSA_OK && !e.in_slurm && e.ngroups == 0,
          "no SLURM_JOB_ID: not in Slurm");
    CHECK(absa_slurm_growth_view(&e, ABSA_SLURM_GROUP_AUTO, &g) == ABSA_EINVAL && !g &&
              strstr(absa_last_error(), "not running under Slurm"),
          "view outside Slurm: %s", absa_last_error());
    absa_slurm_env_free(&e);
}

static void test_exports(const char *dir)
{
    char path[4096], **list = NULL, *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/het-1-N2n5.env", dir);
    absa_slurm_env e;
    const absa_slurm_group *g;
    if (absa_slurm_envfile_read(path, &list) != ABSA_OK ||
        absa_slurm_env_read(absa_slurm_getenv_list, list, &e) != ABSA_OK ||
        absa_slurm_growth_view(&e, ABSA_SLURM_GROUP_AUTO, &g) != ABSA_OK) {
        CHECK(0, "exports: %s", absa_last_error());
        absa_slurm_envfile_free(list);
        return;
    }
    FILE *f = open_memstream(&buf, &len);
    absa_slurm_mpirun_exports(f, &e, g);
    fclose(f);
    static const char *want[] = {"export SLURM_JOB_NODELIST='n[2-3]'\n", "export SLURM_NODELIST='n[2-3]'\n",
                                 "export SLURM_TASKS_PER_NODE='4,1'\n", "export SLURM_JOB_CPUS_PER_NODE='4,1'\n",
                                 "export SLURM_JOB_NUM_NODES='2'\n",   "export SLURM_NNODES='2'\n",
                                 "export SLURM_NTASKS='5'\n",          "export SLURM_NPROCS='5'\n",
                                 "export SLURM_CPUS_PER_TASK='1'\n",   "export OMPI_MCA_plm_slurm_args='--het-group=1'\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK(strstr(buf, want[i]), "exports lack %s", want[i]);
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    absa_slurm_view_json(f, &e, g);
    fclose(f);
    CHECK(strstr(buf, "\"hosts\": [{\"host\": \"n2\", \"slots\": 4}, {\"host\": \"n3\", \"slots\": 1}]") &&
              strstr(buf, "\"total_slots\": 5") && strstr(buf, "\"het_size\": 2"),
          "view json: %s", buf);
    free(buf);
    absa_slurm_env_free(&e);
    absa_slurm_envfile_free(list);
}

static void test_secret(const char *work)
{
    char p[4096], a[300] = {0}, b[300] = {0};
    snprintf(p, sizeof p, "%s/secret", work);
    unlink(p);
    /* an existing world-readable file is replaced by a 0600 one */
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("old\n", f);
        fclose(f);
        chmod(p, 0644);
    }
    CHECK(absa_slurm_write_secret(p, 32) == ABSA_OK, "write secret: %s", absa_last_error());
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 65, "secret mode %o size %lld",
          (unsigned)(st.st_mode & 0777), (long long)st.st_size);
    f = fopen(p, "r");
    if (f) {
        if (!fgets(a, sizeof a, f)) a[0] = 0;
        fclose(f);
    }
    CHECK(strlen(a) == 65 && strspn(a, "0123456789abcdef") == 64 && a[64] == '\n', "secret content '%s'", a);
    uint8_t s[ABSA_UCX_MAX_SECRET];
    size_t slen = 0;
    CHECK(absa_ucx_load_secret(p, s, &slen) == ABSA_OK && slen == 64 && !memcmp(s, a, 64),
          "absa_ucx_load_secret reads it: %s (len %zu)", absa_last_error(), slen);
    CHECK(absa_slurm_write_secret(p, 32) == ABSA_OK, "rewrite");
    f = fopen(p, "r");
    if (f) {
        if (!fgets(b, sizeof b, f)) b[0] = 0;
        fclose(f);
    }
    CHECK(strlen(b) == 65 && strcmp(a, b), "a second secret must differ from the first");
    CHECK(absa_slurm_write_secret(p, 128) == ABSA_OK && stat(p, &st) == 0 && st.st_size == 257, "128 bytes");
    CHECK(absa_slurm_write_secret(p, 8) == ABSA_EINVAL, "8 bytes accepted");
    CHECK(absa_slurm_write_secret(p, 129) == ABSA_EINVAL, "129 bytes accepted");
    CHECK(absa_slurm_write_secret("/nonexistent-dir/secret", 32) == ABSA_EIO && absa_last_error()[0], "bad directory");
    CHECK(absa_slurm_write_secret("", 32) == ABSA_EINVAL, "empty path accepted");
    unlink(p);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ENV_DIR WORK_DIR\n", argv[0]);
        return 1;
    }
    test_hostlists();
    test_hostlist_random();
    test_counts();
    test_recorded(argv[1]);
    test_inline();
    test_exports(argv[1]);
    test_secret(argv[2]);
    return absa_test_finish("test_slurm_env");
}
