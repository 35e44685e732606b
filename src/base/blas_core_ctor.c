/* blas_core_ctor.c — compiled into every executable that links absa_base (an INTERFACE source
 * of that library, src/CMakeLists.txt): before main, re-run the process image with the
 * OPENBLAS_CORETYPE its CPU supports when OpenBLAS fell back to older kernels (src/base/
 * blas_core.h). It runs before main opens anything, so the re-run image inherits no absa state.
 * glibc passes argc, argv and envp to the executable's init_array functions. */
#include "blas_core.h"

__attribute__((constructor)) static void absa_blas_core_ctor(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc > 0) absa_blas_core_fix(argv, 0);
}
