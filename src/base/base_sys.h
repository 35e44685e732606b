/* base_sys.h — the monotonic clock and the thread-count setting, usable from every layer. */
#ifndef ABSA_BASE_SYS_H
#define ABSA_BASE_SYS_H

/* Wall clock in seconds (monotonic). */
double absa_now(void);
/* Set OpenMP and OpenBLAS thread counts (n <= 0: leave the defaults). */
void absa_set_threads(int n);
#endif
