/* bench_conv.c — timing of the conv2d kernels (float32) on the convolution shapes of lenet and
 * resnet20 (not a test): for each shape, the median time of forward + backward (dx, dW, db; no dx
 * for an input layer) and of R-forward + R-backward, then the per-network totals weighted by how
 * many times the shape occurs in the network. Also the median process CPU time of forward +
 * backward (all threads, spinning included; for OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 runs it
 * estimates the unloaded single-core time when the machine is busy).
 *
 * Fraction of peak (issue 17): the run first measures the cores' FP32 FMA peak and OpenBLAS's
 * large-sgemm rate (bench_peak.h), then counts the floating-point operations the convolutions
 * really EXECUTE: every cblas_sgemm call of the engine goes through the counting wrapper below
 * (2 M N K per call), so Winograd layers count their 16 transform-domain GEMMs (2.25x fewer than
 * nominal) and im2col layers their patch GEMMs; layers on the direct engine (conv_direct.h, its own
 * FMAs) count the nominal operations, which is what they execute; the transforms, layout copies and bias sums are
 * not counted (they are not multiply-adds on the FMA units' critical path). Printed per network:
 * executed and nominal GFLOP/s of fwd+bwd and of Rfwd+Rbwd and the executed fraction of peak.
 *
 * usage: bench_conv [batch=128] [repetitions=10] [shape-name substring]
 * BENCH_CONV_FLUSH_MB=n writes n MiB before each timed pass (fwd+bwd, R passes): the layer's
 * tensors then come from memory, as in a training step, instead of from the caches, where the
 * previous repetition left them (this Xeon's guest sees 260 MiB of L3: use 1024).
 * Compare with PyTorch by timing F.conv2d forward + autograd backward on the same shapes with
 * torch.set_num_threads(2).
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "absa_blas.h"
#include "bench_peak.h"
#include "conv_path.h"
#include "layers.h"

/* ---- executed-operation counter: this definition of cblas_sgemm takes the place of OpenBLAS's
 * for the statically linked engine, counts, and calls the library's own (RTLD_NEXT) ---- */
static _Atomic long long gemm_flops;
typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                         const blasint, const blasint, const blasint, const float, const float *,
                         const blasint, const float *, const blasint, const float, float *, const blasint);
void cblas_sgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint M, const blasint N, const blasint K, const float alpha, const float *A,
                 const blasint lda, const float *B, const blasint ldb, const float beta, float *C,
                 const blasint ldc)
{
    static _Atomic(sgemm_fn) real;
    sgemm_fn f = atomic_load(&real);
    if (!f) {
        f = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
        if (!f) {
            fprintf(stderr, "bench_conv: cblas_sgemm not found in the BLAS library\n");
            exit(1);
        }
        atomic_store(&real, f);
    }
    atomic_fetch_add(&gemm_flops, 2LL * M * N * K);
    f(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef struct shape {
    const char *net, *name;
    int C, H, W, O, k, s, p, bias, first, count;
} shape;

static const shape shapes[] = {
    {"lenet", "conv1 1->32 28x28", 1, 28, 28, 32, 3, 1, 1, 1, 1, 1},
    {"lenet", "conv2 32->64 14x14", 32, 14, 14, 64, 3, 1, 1, 1, 0, 1},
    {"resnet20", "stem 3->16 32x32", 3, 32, 32, 16, 3, 1, 1, 0, 1, 1},
    {"resnet20", "16->16 32x32", 16, 32, 32, 16, 3, 1, 1, 0, 0, 6},
    {"resnet20", "16->32 s2 32x32", 16, 32, 32, 32, 3, 2, 1, 0, 0, 1},
    {"resnet20", "proj 16->32 1x1 s2", 16, 32, 32, 32, 1, 2, 0, 0, 0, 1},
    {"resnet20", "32->32 16x16", 32, 16, 16, 32, 3, 1, 1, 0, 0, 5},
    {"resnet20", "32->64 s2 16x16", 32, 16, 16, 64, 3, 2, 1, 0, 0, 1},
    {"resnet20", "proj 32->64 1x1 s2", 32, 16, 16, 64, 1, 2, 0, 0, 0, 1},
    {"resnet20", "64->64 8x8", 64, 8, 8, 64, 3, 1, 1, 0, 0, 5},
};

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* process CPU time: on a shared, loaded machine a single-threaded run's CPU time is a steadier
 * estimate of its unloaded wall time than the wall time itself */
static double cpu_now(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int net_of(const shape *sh) { return strcmp(sh->net, "lenet") == 0 ? 0 : 1; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rnd(size_t n, unsigned *seed)
{
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        v[i] = (float)((*seed >> 8) * (1.0 / 16777216.0) - 0.5);
    }
    return v;
}

/* Writes the flush buffer; the empty asm with a memory clobber makes the stores happen here (the
 * buffer is never read, so without it GCC drops or sinks the memset into the timed region). */
static void flush_caches(unsigned char *f, size_t n, int r)
{
    memset(f, r & 0xff, n);
    __asm__ __volatile__("" : : "r"(f) : "memory");
}

int main(int argc, char **argv)
{
    int N = argc > 1 ? atoi(argv[1]) : 128, reps = argc > 2 ? atoi(argv[2]) : 10;
    if (N <= 0 || reps <= 0) {
        fprintf(stderr, "usage: bench_conv [batch>0] [repetitions>0] [shape substring]\n");
        return 2;
    }
    double tot_fb[2] = {0, 0}, tot_r[2] = {0, 0};
    double *t_fb = malloc((size_t)reps * sizeof(double));
    double *t_r = malloc((size_t)reps * sizeof(double));
    double *c_fb = malloc((size_t)reps * sizeof(double)), tot_cpu[2] = {0, 0};
    /* executed (GEMM) and nominal GFLOP per network, fwd+bwd [0] and Rfwd+Rbwd [1] */
    double ex[2][2] = {{0, 0}, {0, 0}}, nom[2][2] = {{0, 0}, {0, 0}};
    const int threads = omp_get_max_threads();
    printf("CPU path %s, %d threads\n", absa_conv_path_name(absa_conv_path_active()), threads);
    double peak_cpu;
    const double peak = bench_print_ceilings(threads, &peak_cpu);
    double *c_r = malloc((size_t)reps * sizeof(double)), tot_cpu_r[2] = {0, 0};
    /* BENCH_CONV_FLUSH_MB=n: write n MiB before each timed pass, so that the layer's tensors come
     * from memory as in a training step (whose activations do not fit the caches) instead of
     * staying in L2/L3 from the previous repetition */
    const char *fe = getenv("BENCH_CONV_FLUSH_MB");
    const size_t flush_bytes = fe ? (size_t)strtoul(fe, NULL, 10) << 20 : 0;
    unsigned char *flush = flush_bytes ? malloc(flush_bytes) : NULL;
    if (flush_bytes && !flush) {
        fprintf(stderr, "bench_conv: cannot allocate the %s MiB flush buffer\n", fe);
        return 1;
    }
    printf("batch %d, median of %d repetitions (ms)%s\n", N, reps,
           flush ? ", caches flushed before each pass (BENCH_CONV_FLUSH_MB)" : ", tensors cache-warm");
    printf("%-9s %-22s %5s %10s %10s %10s %8s %s\n", "net", "shape", "count", "fwd+bwd", "Rfwd+Rbwd",
           "cpu f+b", "ws MB", "engine");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *sh = &shapes[si];
        if (argc > 3 && !strstr(sh->name, argv[3])) continue;
        absa_conv_cfg c;
        if (absa_conv_cfg_init(&c, N, sh->C, sh->H, sh->W, sh->O, sh->k, sh->s, sh->p, sh->bias)) {
            fprintf(stderr, "bad shape %s\n", sh->name);
            return 1;
        }
        unsigned seed = 1234u + (unsigned)si;
        size_t nx = (size_t)N * c.C * c.H * c.W, nw = (size_t)c.O * c.C * c.kh * c.kw;
        size_t ny = (size_t)N * c.O * c.Ho * c.Wo, nws = absa_conv_workspace(&c);
        float *x = rnd(nx, &seed), *Rx = rnd(nx, &seed), *W = rnd(nw, &seed), *V = rnd(nw, &seed);
        float *b = rnd((size_t)c.O, &seed), *Vb = rnd((size_t)c.O, &seed);
        float *dy = rnd(ny, &seed), *Rdy = rnd(ny, &seed);
        float *y = calloc(ny, sizeof(float)), *dx = calloc(nx, sizeof(float));
        float *dW = calloc(nw, sizeof(float)), *db = calloc((size_t)c.O, sizeof(float));
        float *ws = malloc(nws * sizeof(float));
        float *gx = sh->first ? NULL : dx;
        long long f_fb = 0, f_r = 0; /* executed operations of one repetition */
        for (int r = -2; r < reps; r++) { /* two warm-up rounds */
            if (flush) flush_caches(flush, flush_bytes, r); /* the layer's tensors out of every cache */
            long long f0 = atomic_load(&gemm_flops);
            double t0 = now(), c0 = cpu_now();
            absa_conv2d_forward_f32(&c, x, W, b, y, ws);
            absa_conv2d_backward_f32(&c, x, W, dy, gx, dW, db, ws);
            const double t1 = now(), c1 = cpu_now();
            if (flush) flush_caches(flush, flush_bytes, r + 1);
            const double t1r = now(), c1r = cpu_now(); /* the R passes' start */
            long long f1 = atomic_load(&gemm_flops);
            absa_conv2d_rforward_f32(&c, x, sh->first ? NULL : Rx, W, V, Vb, y, ws);
            absa_conv2d_rbackward_f32(&c, x, sh->first ? NULL : Rx, W, V, dy, Rdy, gx, dW, db, ws);
            double t2 = now(), c2 = cpu_now();
            f_fb = f1 - f0;
            f_r = atomic_load(&gemm_flops) - f1;
            if (r >= 0) {
                t_fb[r] = t1 - t0;
                c_fb[r] = c1 - c0;
                t_r[r] = t2 - t1r;
                c_r[r] = c2 - c1r;
            }
        }
        qsort(t_fb, (size_t)reps, sizeof(double), cmp_double);
        qsort(t_r, (size_t)reps, sizeof(double), cmp_double);
        qsort(c_fb, (size_t)reps, sizeof(double), cmp_double);
        qsort(c_r, (size_t)reps, sizeof(double), cmp_double);
        tot_cpu_r[net_of(sh)] += sh->count * 1e3 * c_r[reps / 2];
        double mfb = 1e3 * t_fb[reps / 2], mr = 1e3 * t_r[reps / 2], mc = 1e3 * c_fb[reps / 2];
        int net = net_of(sh);
        tot_fb[net] += sh->count * mfb;
        tot_r[net] += sh->count * mr;
        tot_cpu[net] += sh->count * mc;
        /* nominal: 2 N Ho Wo O C k k per product pass; fwd+bwd = fwd + dW (+ dx); the R passes
         * run each product twice (W and V, x and Rx) except where Rx is absent (input layer) */
        const double pass = 2.0 * N * c.Ho * c.Wo * c.O * c.C * c.kh * c.kw;
        /* the direct engine's products are FMAs of its own, not GEMMs: it executes the nominal ones */
        const char *eng = absa_conv_engine_f32(&c);
        const int direct = !strcmp(eng, "direct");
        ex[net][0] += sh->count * ((double)f_fb + (direct ? pass * (sh->first ? 2 : 3) : 0));
        ex[net][1] += sh->count * ((double)f_r + (direct ? pass * (sh->first ? 2 : 6) : 0));
        nom[net][0] += sh->count * pass * (sh->first ? 2 : 3);
        nom[net][1] += sh->count * pass * (sh->first ? 2 : 6);
        printf("%-9s %-22s %5d %10.3f %10.3f %10.3f %8.2f %s\n", sh->net, sh->name, sh->count, mfb, mr,
               mc, (double)nws * sizeof(float) / 1048576.0, eng);
        free(x); free(Rx); free(W); free(V); free(b); free(Vb); free(dy); free(Rdy);
        free(y); free(dx); free(dW); free(db); free(ws);
    }
    printf("total lenet convs    fwd+bwd %9.3f ms   Rfwd+Rbwd %9.3f ms   cpu f+b %9.3f ms\n",
           tot_fb[0], tot_r[0], tot_cpu[0]);
    printf("total resnet20 convs fwd+bwd %9.3f ms   Rfwd+Rbwd %9.3f ms   cpu f+b %9.3f ms\n",
           tot_fb[1], tot_r[1], tot_cpu[1]);
    static const char *const netname[2] = {"lenet", "resnet20"};
    const double *tt[2] = {tot_fb, tot_r}, *tc[2] = {tot_cpu, tot_cpu_r};
    double peak_end_cpu, peak_end = bench_fma_peak(512, threads, 0.5, &peak_end_cpu);
    if (peak_end <= 0) peak_end = bench_fma_peak(256, threads, 0.5, &peak_end_cpu);
    const double pk = peak_end > peak ? peak_end : peak, pkc = peak_end_cpu > peak_cpu ? peak_end_cpu : peak_cpu;
    printf("FMA peak again after the convolutions: %.1f GFLOP/s (%.1f per CPU second); fractions "
           "below use the larger of the two: %.1f (%.1f)\n", peak_end, peak_end_cpu, pk, pkc);
    for (int net = 0; net < 2; net++)
        for (int ph = 0; ph < 2; ph++) {
            if (tt[ph][net] <= 0) continue;
            double s_ = tt[ph][net] * 1e-3, e = ex[net][ph] / s_ / 1e9, n = nom[net][ph] / s_ / 1e9;
            double ec = ex[net][ph] / (tc[ph][net] * 1e-3) / 1e9;
            printf("%-8s convs %-9s executed %6.1f GFLOP/s = %5.1f %% of the FMA peak (per CPU second: "
                   "%5.1f %%), nominal %6.1f GFLOP/s (executed/nominal operations %.2f)\n",
                   netname[net], ph ? "Rfwd+Rbwd" : "fwd+bwd", e, 100 * e / pk, 100 * ec / pkc, n,
                   ex[net][ph] / nom[net][ph]);
        }
    free(c_r);
    free(flush);
    free(c_fb);
    free(t_fb);
    free(t_r);
    return 0;
}
