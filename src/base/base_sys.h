/* base_sys.h — the monotonic clock, the thread-count setting and the huge-page advice, usable
 * from every layer. */
#ifndef ABSA_BASE_SYS_H
#define ABSA_BASE_SYS_H
#include <stddef.h>

/* Wall clock in seconds (monotonic). */
double absa_now(void);
/* Set OpenMP and OpenBLAS thread counts (n <= 0: leave the defaults). */
void absa_set_threads(int n);
/* The transparent huge page size, and the advice (MADV_HUGEPAGE, best effort: without THP it does
 * nothing) for the ABSA_HUGE_PAGE-aligned interior of [p, p + bytes), to be given before the
 * memory is first touched: large buffers read at random (the split in RAM, batch buffers) then
 * miss the TLB far less (docs/ucx.md, "Where the time goes"). */
#define ABSA_HUGE_PAGE ((size_t)2 << 20)
void absa_advise_huge(void *p, size_t bytes);
/* Zeroed memory (free() releases it; NULL with absa_errorf's message when out of memory): from
 * `min` bytes on ABSA_HUGE_PAGE aligned, rounded up to it and advised as above before the zeroing
 * touches it; below `min` as absa_try_alloc (64-byte aligned). */
void *absa_try_alloc_huge(size_t bytes, size_t min);
#endif
