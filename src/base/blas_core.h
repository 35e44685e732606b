/* blas_core.h — OpenBLAS's kernel choice on CPUs it does not know (docs/engine.md, "Math
 * libraries and threads"). Debian 12's OpenBLAS 0.3.21 picks its kernels from a list of CPU
 * models; on a newer model it falls back to its Prescott (SSE3) kernels: on a family 6 model 207
 * Xeon (Emerald Rapids, AVX-512) sgemm ran at 65 GFLOP/s against 313 with its SkylakeX kernels,
 * and resnet20's convolutions 2.7x slower. OpenBLAS reads OPENBLAS_CORETYPE once, when it is
 * loaded, so the only documented way to change its choice is the environment of a new process
 * image: every absa executable (the constructor in src/base/blas_core_ctor.c) re-runs
 * itself once, before main, with OPENBLAS_CORETYPE set to the kernel its CPU's instruction sets
 * support, when OpenBLAS chose a kernel known to use less and the user set no OPENBLAS_CORETYPE
 * of their own (an explicit one, any value, is always kept). */
#ifndef ABSA_BLAS_CORE_H
#define ABSA_BLAS_CORE_H
#include <stddef.h>

/* The environment variable that tells the re-run image what happened: "WAS>NOW" (e.g.
 * "Prescott>SkylakeX"). */
#define ABSA_BLAS_CORE_ENV "ABSA_OPENBLAS_REEXEC"
/* Test hook: the name to act as if OpenBLAS had chosen (the re-run is then real). */
#define ABSA_BLAS_CORE_PRETEND_ENV "ABSA_TEST_OPENBLAS_CORENAME"

/* The OPENBLAS_CORETYPE to re-run with, or NULL to keep OpenBLAS's choice: "SkylakeX" when the
 * CPU has AVX-512 F/CD/BW/DQ/VL and `chosen` is a kernel known to be narrower (AVX2 or older),
 * "Haswell" when the CPU has AVX2 and FMA and `chosen` is known to be older than AVX2. Unknown
 * names (a newer OpenBLAS's own kernels, other architectures) and NULL are kept. Pure. */
const char *absa_blas_core_for(const char *chosen, int cpu_avx512, int cpu_avx2_fma);

/* What this CPU supports, as absa_blas_core_for wants it. */
void absa_blas_core_cpu(int *avx512, int *avx2_fma);

/* Re-runs the process image (exec /proc/self/exe with argv) when OpenBLAS's choice is to be
 * replaced, with OPENBLAS_CORETYPE and ABSA_BLAS_CORE_ENV set, or when `also` (the caller changed
 * its own environment for a library that reads it when loaded, e.g. OMP_WAIT_POLICY): one exec
 * for both. Nothing is done when OPENBLAS_CORETYPE is already set, OpenBLAS is not a DYNAMIC_ARCH
 * build (the others ignore the variable) or absa_blas_core_for says keep, and `also` is 0. Only
 * returns when nothing was to be done or the exec failed; a failed exec of a replacement prints
 * one warning line, undoes the environment, and a later call in the same image does not try
 * again. Called from the constructor of src/base/blas_core_ctor.c, and by absa's own, earlier
 * one (src/cli/main.c) with its OMP_WAIT_POLICY. */
void absa_blas_core_fix(char **argv, int also);

/* One line for banners: "OpenBLAS 0.3.21, SkylakeX kernels (re-run with OPENBLAS_CORETYPE=
 * SkylakeX: OpenBLAS picked Prescott for this CPU)", or without the parenthesis when OpenBLAS's
 * own choice runs. Returns buf. */
char *absa_blas_core_describe(char *buf, size_t n);
/* 1 when this process image is the re-run one (its kernel is absa's choice, not OpenBLAS's). */
int absa_blas_core_rerun(void);
#endif
