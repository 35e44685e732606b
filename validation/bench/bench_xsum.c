/* bench_xsum.c — timing of the trainer's exact gradient sum (src/base/exact_sum.h), not a test:
 * for one step of k micro-batches on one rank, the way the trainer runs it (k = 1: round in
 * place; k > 1: set, k - 2 adds, add + get in one pass) against the composed calls that give the
 * same bits (zero, k adds, get), in the same run, the best of R repetitions each, on n float
 * gradients of random signs and magnitudes with 1 in 13 exactly zero (dead units).
 *
 * usage: bench_xsum [n=421642 (lenet's parameters)] [repetitions=200]
 * Threads: OMP_NUM_THREADS (the loops run on OpenMP threads from 65536 elements). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base_sys.h"
#include "exact_sum.h"

int main(int argc, char **argv)
{
    const size_t n = argc > 1 ? (size_t)atol(argv[1]) : 421642;
    const int reps = argc > 2 ? atoi(argv[2]) : 200;
    if (n < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_xsum [n>=1] [repetitions>=1]\n");
        return 2;
    }
    float *g[4], *out = malloc(n * sizeof(float));
    unsigned long long s = 88172645463325252ull;
    for (int k = 0; k < 4; k++) {
        g[k] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            const double u = (double)(s >> 11) * 0x1p-53 - 0.5;
            g[k][i] = i % 13 == 0 ? 0.f : (float)(u * ldexp(1.0, (int)(s % 30) - 30));
        }
    }
    absa_xsum a;
    if (!out || absa_xsum_init(&a, n)) {
        fprintf(stderr, "bench_xsum: out of memory\n");
        return 1;
    }
    printf("exact sum of one step, %zu parameters, best of %d (ms)\n", n, reps);
    printf("micro-batches  composed (zero, adds, get)  trainer's way   ratio\n");
    for (int k = 1; k <= 4; k *= 2) {
        double tc = 1e30, tw = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = absa_now();
            absa_xsum_zero(&a, k);
            for (int j = 0; j < k; j++) absa_xsum_add_f32(&a, 0, g[j], n);
            absa_xsum_get_f32(&a, 0, out, n);
            double t1 = absa_now();
            if (k == 1) {
                memcpy(out, g[0], n * sizeof(float)); /* the trainer's host copy, counted */
                absa_xsum_round_f32(&a, out, n);
            } else {
                absa_xsum_zero_from(&a, k, n);
                absa_xsum_set_f32(&a, 0, g[0], n);
                for (int j = 1; j < k - 1; j++) absa_xsum_add_f32(&a, 0, g[j], n);
                absa_xsum_add_get_f32(&a, 0, g[k - 1], out, n);
            }
            double t2 = absa_now();
            if (t1 - t0 < tc) tc = t1 - t0;
            if (t2 - t1 < tw) tw = t2 - t1;
        }
        printf("%13d  %26.3f  %14.3f  %6.2f\n", k, tc * 1e3, tw * 1e3, tw / tc);
    }
    absa_xsum_free(&a);
    for (int k = 0; k < 4; k++) free(g[k]);
    free(out);
    return 0;
}
