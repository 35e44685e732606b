/* pointwise_impl.h — ReLU, residual add and global average pool kernels, included by
 * pointwise.c once per precision with ABSA_T / ABSA_SFX defined (no include guard on purpose).
 *
 * ReLU follows PyTorch exactly: y = x for x > 0 and 0 for x <= 0 (a NaN passes through, as
 * torch.relu does), and the backward mask is "x <= 0 -> 0", i.e. the derivative at 0 is 0 (and a
 * NaN input passes its gradient, as torch's threshold_backward does). Its second derivative is 0
 * almost everywhere, so R-backward is the mask applied to Rdy.
 * Add and average pool are linear: their R-passes are the same calls on R-values. */

/* Below this many elements the loops run on one thread (thread start-up would dominate). */
#ifndef ABSA_PW_OMP_MIN
#define ABSA_PW_OMP_MIN 32768
#endif

void ABSA_FN(absa_relu_forward)(size_t n, const ABSA_T *x, ABSA_T *y)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
    for (ptrdiff_t i = 0; i < m; i++) y[i] = x[i] <= 0 ? (ABSA_T)0 : x[i];
}

void ABSA_FN(absa_relu_backward_ex)(size_t n, const ABSA_T *x, const ABSA_T *dy, ABSA_T *dx, int set)
{
    if (!dx) return;
    const ptrdiff_t m = (ptrdiff_t)n;
    if (set) {
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
        for (ptrdiff_t i = 0; i < m; i++) {
            const ABSA_T d = dy[i]; /* loaded unconditionally: the select vectorises */
            dx[i] = x[i] <= 0 ? (ABSA_T)0 : d;
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
    for (ptrdiff_t i = 0; i < m; i++) {
        const ABSA_T d = dy[i];
        dx[i] += x[i] <= 0 ? (ABSA_T)0 : d;
    }
}

void ABSA_FN(absa_relu_backward)(size_t n, const ABSA_T *x, const ABSA_T *dy, ABSA_T *dx)
{
    ABSA_FN(absa_relu_backward_ex)(n, x, dy, dx, 0);
}

void ABSA_FN(absa_relu_rforward)(size_t n, const ABSA_T *x, const ABSA_T *Rx, ABSA_T *Ry)
{
    const ptrdiff_t m = (ptrdiff_t)n;
    if (!Rx) {
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
        for (ptrdiff_t i = 0; i < m; i++) Ry[i] = 0;
        return;
    }
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
    for (ptrdiff_t i = 0; i < m; i++) {
        const ABSA_T r = Rx[i];
        Ry[i] = x[i] <= 0 ? (ABSA_T)0 : r;
    }
}

void ABSA_FN(absa_relu_rbackward)(size_t n, const ABSA_T *x, const ABSA_T *Rdy, ABSA_T *Rdx)
{
    /* d/dt [mask(x + t Rx) * (dy + t Rdy)] = mask(x) * Rdy almost everywhere */
    ABSA_FN(absa_relu_backward)(n, x, Rdy, Rdx);
}

void ABSA_FN(absa_add_forward)(size_t n, const ABSA_T *a, const ABSA_T *b, ABSA_T *y)
{
    const ptrdiff_t m = (ptrdiff_t)n;
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
    for (ptrdiff_t i = 0; i < m; i++) y[i] = a[i] + b[i];
}

void ABSA_FN(absa_add_backward_ex)(size_t n, const ABSA_T *dy, ABSA_T *da, int set_a, ABSA_T *db,
                                   int set_b)
{
    /* two separate sweeps, so da == db (one tensor feeding both operands) gets 2*dy */
    const ptrdiff_t m = (ptrdiff_t)n;
    if (da && set_a) {
        memcpy(da, dy, n * sizeof(ABSA_T));
    } else if (da) {
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
        for (ptrdiff_t i = 0; i < m; i++) da[i] += dy[i];
    }
    if (db && set_b && db != da) {
        memcpy(db, dy, n * sizeof(ABSA_T));
    } else if (db) {
#pragma omp parallel for schedule(static) if (n > ABSA_PW_OMP_MIN)
        for (ptrdiff_t i = 0; i < m; i++) db[i] += dy[i];
    }
}

void ABSA_FN(absa_add_backward)(size_t n, const ABSA_T *dy, ABSA_T *da, ABSA_T *db)
{
    ABSA_FN(absa_add_backward_ex)(n, dy, da, 0, db, 0);
}

void ABSA_FN(absa_avgpool_forward)(int N, int C, int HW, const ABSA_T *x, ABSA_T *y)
{
    ABSA_ASSERT(N >= 0 && C >= 0 && HW >= 1, "avgpool: bad shape %d x %d x %d", N, C, HW);
    const ptrdiff_t planes = (ptrdiff_t)N * C;
    const double inv = 1.0 / HW;
#pragma omp parallel for schedule(static) if ((size_t)planes * HW > ABSA_PW_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        const ABSA_T *xp = x + (size_t)nc * HW;
        double s = 0;
        for (int i = 0; i < HW; i++) s += xp[i];
        y[nc] = (ABSA_T)(s * inv);
    }
}

void ABSA_FN(absa_avgpool_backward)(int N, int C, int HW, const ABSA_T *dy, ABSA_T *dx)
{
    ABSA_ASSERT(N >= 0 && C >= 0 && HW >= 1, "avgpool: bad shape %d x %d x %d", N, C, HW);
    if (!dx) return;
    const ptrdiff_t planes = (ptrdiff_t)N * C;
    const double inv = 1.0 / HW;
#pragma omp parallel for schedule(static) if ((size_t)planes * HW > ABSA_PW_OMP_MIN)
    for (ptrdiff_t nc = 0; nc < planes; nc++) {
        const ABSA_T g = (ABSA_T)(dy[nc] * inv);
        ABSA_T *dp = dx + (size_t)nc * HW;
        for (int i = 0; i < HW; i++) dp[i] += g;
    }
}
