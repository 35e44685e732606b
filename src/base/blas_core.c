/* blas_core.c — OpenBLAS's kernel choice on CPUs it does not know: the rule, the re-run of the
 * process image with OPENBLAS_CORETYPE, and the banner line; see blas_core.h. */
#define _GNU_SOURCE
#include "blas_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

/* OpenBLAS's x86 kernel names (its corename[] lists) known to use no AVX2/FMA3 GEMM kernels. */
static const char *const absa_pre_avx2[] = {
    "Prescott",  "Katmai",    "Coppermine", "Northwood", "Banias",      "Core2",   "Penryn",
    "Dunnington", "Nehalem",  "Sandybridge", "Atom",     "Athlon",      "Opteron", "Opteron_SSE3",
    "Barcelona", "Bobcat",    "Bulldozer",  "Piledriver", "Steamroller", "Nano",   "Generic",
    "Unknown",
};
/* ... and those with AVX2/FMA3 but no AVX-512 kernels. */
static const char *const absa_avx2_only[] = {"Haswell", "Zen", "Excavator"};

static int absa_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(name, list[i])) return 1;
    return 0;
}

const char *absa_blas_core_for(const char *chosen, int cpu_avx512, int cpu_avx2_fma)
{
    if (!chosen || !*chosen) return NULL;
    const size_t n_old = sizeof absa_pre_avx2 / sizeof *absa_pre_avx2;
    const size_t n_avx2 = sizeof absa_avx2_only / sizeof *absa_avx2_only;
    const int old = absa_in(chosen, absa_pre_avx2, n_old), avx2 = absa_in(chosen, absa_avx2_only, n_avx2);
    if (cpu_avx512 && (old || avx2)) return "SkylakeX";
    if (cpu_avx2_fma && old) return "Haswell";
    return NULL;
}

void absa_blas_core_cpu(int *avx512, int *avx2_fma)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init(); /* needed before main (constructors) */
    *avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
              __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
              __builtin_cpu_supports("avx512vl");
    *avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    *avx512 = *avx2_fma = 0;
#endif
}

static const char *absa_blas_chosen(void)
{
    const char *pretend = getenv(ABSA_BLAS_CORE_PRETEND_ENV);
    return pretend && *pretend ? pretend : openblas_get_corename();
}

/* Set when an exec failed: the image's second constructor (absa's own, then the generic one)
 * does not try, and warn, again. This module's only state, written before main. */
static int absa_blas_core_gave_up;

static void absa_blas_core_failed(int err);

/* Decide, and when OpenBLAS's choice is to be replaced set OPENBLAS_CORETYPE and
 * ABSA_BLAS_CORE_ENV and return the new kernel name (the caller then execs itself); NULL (nothing
 * changed) when OPENBLAS_CORETYPE is already set, OpenBLAS is not a DYNAMIC_ARCH build (the others
 * ignore the variable) or absa_blas_core_for says keep. */
static const char *absa_blas_core_prepare(void)
{
    if (absa_blas_core_gave_up || getenv("OPENBLAS_CORETYPE")) return NULL;
    const char *cfg = openblas_get_config(); /* only DYNAMIC_ARCH builds read OPENBLAS_CORETYPE */
    if (!cfg || !strstr(cfg, "DYNAMIC_ARCH")) return NULL;
    int avx512 = 0, avx2 = 0;
    absa_blas_core_cpu(&avx512, &avx2);
    const char *was = absa_blas_chosen(), *want = absa_blas_core_for(was, avx512, avx2);
    if (!want) return NULL;
    char note[96];
    snprintf(note, sizeof note, "%s>%s", was, want);
    if (setenv("OPENBLAS_CORETYPE", want, 1) || setenv(ABSA_BLAS_CORE_ENV, note, 1)) {
        absa_blas_core_failed(errno);
        return NULL;
    }
    unsetenv(ABSA_BLAS_CORE_PRETEND_ENV); /* the re-run image reads OpenBLAS's real choice */
    return want;
}

/* After a failed exec: one warning line, and the environment prepare set is undone. */
static void absa_blas_core_failed(int err)
{
    absa_blas_core_gave_up = 1;
    const char *note = getenv(ABSA_BLAS_CORE_ENV), *want = getenv("OPENBLAS_CORETYPE");
    const char *gt = note ? strchr(note, '>') : NULL;
    if (gt && want)
        fprintf(stderr, "absa: warning: OpenBLAS picked its %.*s kernels for this CPU; re-running with "
                        "OPENBLAS_CORETYPE=%s failed (%s): set it yourself for faster GEMMs\n",
                (int)(gt - note), note, want, strerror(err));
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(ABSA_BLAS_CORE_ENV);
}

void absa_blas_core_fix(char **argv, int also)
{
    if (!argv || !argv[0]) return;
    const char *blas = absa_blas_core_prepare();
    if (!blas && !also) return;
    execv("/proc/self/exe", argv);
    if (blas) absa_blas_core_failed(errno);
}

int absa_blas_core_rerun(void)
{
    const char *note = getenv(ABSA_BLAS_CORE_ENV), *core = getenv("OPENBLAS_CORETYPE");
    const char *gt = note ? strchr(note, '>') : NULL;
    return gt && core && !strcasecmp(gt + 1, core); /* a child given another value is not one */
}

char *absa_blas_core_describe(char *buf, size_t n)
{
    char version[32] = "OpenBLAS";
    const char *cfg = openblas_get_config();
    if (cfg && !strncmp(cfg, "OpenBLAS ", 9)) snprintf(version, sizeof version, "%.*s", 9 + (int)strcspn(cfg + 9, " "), cfg);
    const int m = snprintf(buf, n, "%s, %s kernels", version, openblas_get_corename());
    if (m >= 0 && (size_t)m < n && absa_blas_core_rerun()) {
        const char *note = getenv(ABSA_BLAS_CORE_ENV);
        const int was = (int)(strchr(note, '>') - note);
        snprintf(buf + m, n - (size_t)m, " (re-run with OPENBLAS_CORETYPE=%s: OpenBLAS picked %.*s for this CPU)",
                 getenv("OPENBLAS_CORETYPE"), was, note);
    }
    return buf;
}
