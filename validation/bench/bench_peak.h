/* bench_peak.h — the machine's arithmetic ceilings for the benchmarks (not a test): FP32 FMA peak
 * of the cores (register-only FMA chains, AVX-512 and AVX2 variants, one per OpenMP thread) and
 * OpenBLAS sgemm at a large square size (a practical ceiling), plus which OpenBLAS kernel ran. */
#ifndef BENCH_PEAK_H
#define BENCH_PEAK_H

/* GFLOP/s (2 per FMA lane) of `threads` OpenMP threads running independent FMA chains for about
 * `secs` seconds (best round); width 512 or 256 (AVX-512F / AVX2+FMA); 0 when the CPU lacks the
 * instructions. *per_cpu_s: the same operations per second of process CPU time (the rate of one
 * core while it runs: on a loaded machine a steadier ceiling than the wall-clock rate). */
double bench_fma_peak(int width, int threads, double secs, double *per_cpu_s);

/* GFLOP/s of the best of `reps` cblas_sgemm calls C[n x n] = A B with `threads` OpenBLAS threads. */
double bench_sgemm_rate(int n, int threads, int reps);

/* Prints the OpenBLAS core name and configuration and OPENBLAS_CORETYPE, then both FMA peaks and
 * the sgemm rate; returns the widest FMA peak (wall clock) and its rate per CPU second. */
double bench_print_ceilings(int threads, double *per_cpu_s);

/* process CPU time and monotonic wall time in seconds */
double bench_cpu_now(void);
double bench_now(void);
#endif
