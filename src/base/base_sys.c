/* base_sys.c — the process-level facilities every layer may use: the monotonic clock and the
 * OpenMP/OpenBLAS thread count; see base_sys.h. */
#include "base_sys.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <cblas.h>

#include "absa_error.h"

double absa_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void absa_set_threads(int n)
{
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

void absa_advise_huge(void *p, size_t bytes)
{
    const uintptr_t h = ABSA_HUGE_PAGE, a = ((uintptr_t)p + h - 1) & ~(h - 1), e = ((uintptr_t)p + bytes) & ~(h - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

void *absa_try_alloc_huge(size_t bytes, size_t min)
{
    if (bytes < min) return absa_try_alloc(bytes);
    const size_t rounded = (bytes + ABSA_HUGE_PAGE - 1) & ~(ABSA_HUGE_PAGE - 1);
    void *p = NULL;
    if (posix_memalign(&p, ABSA_HUGE_PAGE, rounded) != 0) {
        absa_errorf("cannot allocate %zu bytes", bytes);
        return NULL;
    }
    absa_advise_huge(p, rounded); /* before the first touch */
    memset(p, 0, rounded);
    return p;
}
