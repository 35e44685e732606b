/* test_blas_core.c — OpenBLAS's kernel choice (src/base/blas_core.[ch]): the rule on every
 * branch, then the real re-run of a process image. The test executes itself ("child" mode, which
 * prints what OpenBLAS runs) with the test hook ABSA_TEST_OPENBLAS_CORENAME=Prescott, so the
 * constructor every absa executable carries (src/base/blas_core_ctor.c) re-runs it with
 * OPENBLAS_CORETYPE whatever OpenBLAS would pick on this CPU: the child must then run the kernel
 * the rule names for this CPU, say so in its banner line, and have re-run exactly once; with
 * OPENBLAS_CORETYPE set by the user it must keep that, and without the hook it must run
 * OpenBLAS's own choice or the rule's replacement of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include "absa_test.h"
#include "blas_core.h"

static void rule(const char *chosen, int a512, int a2, const char *want)
{
    const char *got = absa_blas_core_for(chosen, a512, a2);
    CHECK(want ? got && !strcmp(got, want) : !got, "core_for(%s, avx512 %d, avx2 %d) = %s, want %s",
          chosen ? chosen : "NULL", a512, a2, got ? got : "keep", want ? want : "keep");
}

/* Runs this executable as "child" with OPENBLAS_CORETYPE = core (NULL: unset) and the hook =
 * pretend (NULL: unset); returns its one line of output in out. */
static int run_child(const char *core, const char *pretend, char *out, size_t n)
{
    int fd[2];
    if (pipe(fd)) return -1;
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        core ? setenv("OPENBLAS_CORETYPE", core, 1) : unsetenv("OPENBLAS_CORETYPE");
        pretend ? setenv(ABSA_BLAS_CORE_PRETEND_ENV, pretend, 1) : unsetenv(ABSA_BLAS_CORE_PRETEND_ENV);
        unsetenv(ABSA_BLAS_CORE_ENV);
        char *argv[] = {"test_blas_core", "child", NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd[0], out + got, n - 1 - got)) > 0) got += (size_t)r;
    out[got] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int child(void)
{
    char line[256];
    const char *note = getenv(ABSA_BLAS_CORE_ENV);
    printf("core=%s rerun=%d note=%s hook=%s banner=%s\n", openblas_get_corename(), absa_blas_core_rerun(),
           note ? note : "-", getenv(ABSA_BLAS_CORE_PRETEND_ENV) ? "kept" : "gone",
           absa_blas_core_describe(line, sizeof line));
    return 0;
}

static void field(const char *out, const char *key, char *val, size_t n)
{
    const char *p = strstr(out, key);
    val[0] = 0;
    if (p) snprintf(val, n, "%.*s", (int)strcspn(p + strlen(key), " \n"), p + strlen(key));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "child")) return child();

    /* the rule, every branch */
    rule("Prescott", 1, 1, "SkylakeX");
    rule("prescott", 1, 1, "SkylakeX"); /* names compare without case */
    rule("Prescott", 0, 1, "Haswell");
    rule("Prescott", 0, 0, NULL);
    rule("Sandybridge", 1, 1, "SkylakeX");
    rule("Nehalem", 0, 1, "Haswell");
    rule("Haswell", 1, 1, "SkylakeX");
    rule("Zen", 1, 1, "SkylakeX");
    rule("Haswell", 0, 1, NULL);
    rule("Zen", 0, 1, NULL);
    rule("SkylakeX", 1, 1, NULL);
    rule("Cooperlake", 1, 1, NULL);
    rule("SapphireRapids", 1, 1, NULL); /* a newer OpenBLAS's own name: kept */
    rule("NEOVERSEN1", 1, 1, NULL);
    rule("", 1, 1, NULL);
    rule(NULL, 1, 1, NULL);

    int a512 = 0, a2 = 0;
    absa_blas_core_cpu(&a512, &a2);
    const char *want = absa_blas_core_for("Prescott", a512, a2);
    printf("this CPU: AVX-512 %d, AVX2+FMA %d; OpenBLAS here: %s; from Prescott the rule gives %s\n", a512, a2,
           openblas_get_corename(), want ? want : "keep");

    /* the hook: OpenBLAS "picked" Prescott, nothing set by the user -> one re-run */
    char out[512], core[64], rerun[8], note[96], hook[8];
    CHECK(run_child(NULL, "Prescott", out, sizeof out) == 0, "child ran: %s", out);
    printf("pretend Prescott: %s", out);
    field(out, "core=", core, sizeof core);
    field(out, "rerun=", rerun, sizeof rerun);
    field(out, "note=", note, sizeof note);
    field(out, "hook=", hook, sizeof hook);
    if (want) {
        char want_note[96];
        snprintf(want_note, sizeof want_note, "Prescott>%s", want);
        CHECK(!strcasecmp(core, want), "re-run child runs %s, want %s", core, want);
        CHECK(!strcmp(rerun, "1"), "child says it was re-run: %s", rerun);
        CHECK(!strcmp(note, want_note), "note %s, want %s", note, want_note);
        CHECK(!strcmp(hook, "gone"), "the hook is not passed to the re-run image: %s", hook);
        CHECK(strstr(out, "OpenBLAS picked Prescott for this CPU") != NULL, "banner says so: %s", out);
    } else {
        CHECK(!strcmp(rerun, "0") && !strcmp(note, "-"), "no re-run without AVX2: %s", out);
    }

    /* the user's own OPENBLAS_CORETYPE is kept, whatever it names */
    CHECK(run_child("Prescott", "Prescott", out, sizeof out) == 0, "child ran: %s", out);
    printf("user Prescott: %s", out);
    field(out, "core=", core, sizeof core);
    field(out, "rerun=", rerun, sizeof rerun);
    field(out, "note=", note, sizeof note);
    CHECK(!strcasecmp(core, "Prescott") && !strcmp(rerun, "0") && !strcmp(note, "-"),
          "a user's OPENBLAS_CORETYPE=Prescott is kept: %s", out);
    CHECK(strstr(out, "re-run") == NULL, "banner claims no re-run: %s", out);

    /* no hook: OpenBLAS's own choice, or the rule's replacement of it (this CPU decides which) */
    CHECK(run_child(NULL, NULL, out, sizeof out) == 0, "child ran: %s", out);
    printf("OpenBLAS's own choice: %s", out);
    field(out, "core=", core, sizeof core);
    field(out, "rerun=", rerun, sizeof rerun);
    field(out, "note=", note, sizeof note);
    if (!strcmp(rerun, "1")) {
        const char *gt = strchr(note, '>');
        char was[64] = "";
        if (gt) snprintf(was, sizeof was, "%.*s", (int)(gt - note), note);
        const char *w = absa_blas_core_for(was, a512, a2);
        CHECK(w && !strcasecmp(w, core), "re-run from %s runs %s, the rule says %s", was, core, w ? w : "keep");
    } else {
        CHECK(!strcmp(note, "-") && absa_blas_core_for(core, a512, a2) == NULL,
              "no re-run, and the rule keeps %s: %s", core, out);
    }
    /* the exec fails (strace injects EACCES into every execve after the one that starts the
     * child, which strace makes before it injects anything): one warning line,
     * the environment undone, the run goes on; skipped where strace is missing or cannot trace */
    char self[1024];
    const ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl > 0 && access("/usr/bin/strace", X_OK) == 0) {
        self[sl] = 0;
        char cmd[1400];
        snprintf(cmd, sizeof cmd,
                 "unset OPENBLAS_CORETYPE " ABSA_BLAS_CORE_ENV "; " ABSA_BLAS_CORE_PRETEND_ENV "=Prescott "
                 "ASAN_OPTIONS=detect_leaks=0 exec " /* LeakSanitizer cannot ptrace a traced process */
                 "/usr/bin/strace -f -qq -o /dev/null -e trace=execve -e inject=execve:error=EACCES:when=1+ "
                 "'%s' child 2>&1",
                 self);
        FILE *p = popen(cmd, "r");
        size_t got = 0, r;
        while (p && got + 1 < sizeof out && (r = fread(out + got, 1, sizeof out - 1 - got, p)) > 0) got += r;
        out[got] = 0;
        const int st = p ? pclose(p) : -1;
        if (strstr(out, "core=") == NULL) {
            printf("exec failure: skipped (strace could not run the child: %.200s)\n", out);
        } else {
            printf("exec failure injected: %s", out);
            int warnings = 0;
            for (const char *q = out; (q = strstr(q, "absa: warning: OpenBLAS picked its Prescott")); q++) warnings++;
            CHECK(st == 0, "child exit status %d", st);
            if (want) {
                CHECK(warnings == 1, "%d warning lines, want 1", warnings);
                char msg[160];
                snprintf(msg, sizeof msg, "re-running with OPENBLAS_CORETYPE=%s failed (Permission denied)", want);
                CHECK(strstr(out, msg) != NULL, "the warning names the kernel and the error: %s", out);
            }
            field(out, "rerun=", rerun, sizeof rerun);
            field(out, "note=", note, sizeof note);
            CHECK(!strcmp(rerun, "0") && !strcmp(note, "-"), "after the failed exec nothing claims a re-run: %s", out);
        }
    }
    return absa_test_finish("test_blas_core");
}
