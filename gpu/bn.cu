/* bn.cu — batch norm on the GPU (mirrors src/engine/cpu/bn.c / bn_impl.h, whose header has the formulas):
 * one block per channel; every per-channel sum accumulates in double in a fixed tree
 * (absa_block_sum), the per-channel coefficients are computed exactly as the CPU computes them
 * and rounded to T, then one elementwise sweep. Train mode differentiates through the batch
 * statistics in all four passes; eval mode is the per-channel affine map. NULL conventions as
 * layers.h (gamma/beta NULL = 1/0, Vgamma/Vbeta/Rx/Rdy NULL = 0, NULL outputs skipped). */
#include "gpu_common.cuh"

namespace {

/* element (sample j, channel ch, position i) of N x C x HW; loop index k over the channel's n */
#define BN_IDX(k) ((((size_t)((k) / HW)) * C + ch) * HW + (k) % HW)

template <typename T>
__global__ void k_bn_forward(int N, int C, int HW, double eps, double mom, int train, const T *x,
                             const T *gamma, const T *beta, T *rm, T *rv, T *save_mean,
                             T *save_invstd, T *y)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    const int ch = blockIdx.x;
    const size_t n = (size_t)N * HW;
    double mu, s;
    if (train) {
        double v[1] = {0};
        for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) v[0] += (double)x[BN_IDX(k)];
        absa_block_sum<1>(v, sh);
        mu = v[0] / (double)n;
        double q[1] = {0}; /* two-pass variance */
        for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
            const double d = (double)x[BN_IDX(k)] - mu;
            q[0] += d * d;
        }
        absa_block_sum<1>(q, sh);
        s = 1.0 / sqrt(q[0] / (double)n + eps);
        if (threadIdx.x == 0) {
            if (rm) rm[ch] = (T)((1 - mom) * rm[ch] + mom * mu);
            if (rv) rv[ch] = (T)((1 - mom) * rv[ch] + mom * q[0] / ((double)n - 1));
        }
    } else {
        mu = rm[ch];
        s = 1.0 / sqrt((double)rv[ch] + eps);
    }
    if (threadIdx.x == 0) {
        if (save_mean) save_mean[ch] = (T)mu;
        if (save_invstd) save_invstd[ch] = (T)s;
    }
    const T m = (T)mu, alpha = (T)((gamma ? (double)gamma[ch] : 1.0) * s), b = beta ? beta[ch] : (T)0;
    for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
        const size_t i = BN_IDX(k);
        y[i] = (x[i] - m) * alpha + b;
    }
}

template <typename T>
__global__ void k_bn_backward(int N, int C, int HW, int train, int dx_set, const T *x,
                              const T *gamma, const T *save_mean, const T *save_invstd, const T *dy,
                              T *dx, T *dgamma, T *dbeta)
{
    __shared__ double sh[2 * ABSA_GPU_THREADS];
    const int ch = blockIdx.x;
    const size_t n = (size_t)N * HW;
    const double mu = save_mean[ch], s = save_invstd[ch], gm = gamma ? (double)gamma[ch] : 1.0;
    double v[2] = {0, 0}; /* sum dy, sum dy*xhat */
    for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
        const size_t i = BN_IDX(k);
        const double d = dy[i];
        v[0] += d;
        v[1] += d * (((double)x[i] - mu) * s);
    }
    absa_block_sum<2>(v, sh);
    if (threadIdx.x == 0) {
        if (dgamma) dgamma[ch] += (T)v[1];
        if (dbeta) dbeta[ch] += (T)v[0];
    }
    if (!dx) return;
    const double a = train ? v[0] / (double)n : 0, b = train ? v[1] / (double)n : 0;
    const T A = (T)(gm * s), B = (T)(-gm * s * s * b), K = (T)(-gm * s * a), m = (T)mu;
    for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
        const size_t i = BN_IDX(k);
        const T r = A * dy[i] + B * (x[i] - m) + K;
        dx[i] = dx_set ? r : dx[i] + r;
    }
}

template <typename T>
__global__ void k_bn_rforward(int N, int C, int HW, int train, const T *x, const T *Rx,
                              const T *gamma, const T *Vgamma, const T *Vbeta, const T *save_mean,
                              const T *save_invstd, T *Ry)
{
    __shared__ double sh[ABSA_GPU_THREADS];
    const int ch = blockIdx.x;
    const size_t n = (size_t)N * HW;
    const double mu = save_mean[ch], s = save_invstd[ch], gm = gamma ? (double)gamma[ch] : 1.0;
    const double vg = Vgamma ? (double)Vgamma[ch] : 0, vb = Vbeta ? (double)Vbeta[ch] : 0;
    double mRx = 0, mxz = 0;
    if (train && Rx) {
        double v[1] = {0};
        for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) v[0] += (double)Rx[BN_IDX(k)];
        absa_block_sum<1>(v, sh);
        mRx = v[0] / (double)n;
        double q[1] = {0};
        for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
            const size_t i = BN_IDX(k);
            q[0] += (((double)x[i] - mu) * s) * (((double)Rx[i] - mRx) * s);
        }
        absa_block_sum<1>(q, sh);
        mxz = q[0] / (double)n;
    }
    const T P = (T)(s * (vg - gm * mxz)), Q = (T)(gm * s), m = (T)mu, mr = (T)mRx, B = (T)vb;
    for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
        const size_t i = BN_IDX(k);
        T r = P * (x[i] - m) + B;
        if (Rx) r += Q * (Rx[i] - mr);
        Ry[i] = r;
    }
}

template <typename T>
__global__ void k_bn_rbackward(int N, int C, int HW, int train, int dx_set, const T *x,
                               const T *Rx, const T *gamma, const T *Vgamma, const T *save_mean,
                               const T *save_invstd, const T *dy, const T *Rdy, T *Rdx,
                               T *Rdgamma, T *Rdbeta)
{
    __shared__ double sh[5 * ABSA_GPU_THREADS];
    const int ch = blockIdx.x;
    const size_t n = (size_t)N * HW;
    const double dn = (double)n;
    const double mu = save_mean[ch], s = save_invstd[ch], gm = gamma ? (double)gamma[ch] : 1.0;
    const double vg = Vgamma ? (double)Vgamma[ch] : 0;
    double v[5] = {0, 0, 0, 0, 0}; /* sdy, sdyx, sRx, sRdy, sRdyx */
    for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
        const size_t i = BN_IDX(k);
        const double xh = ((double)x[i] - mu) * s, d = dy[i];
        v[0] += d;
        v[1] += d * xh;
        if (Rx) v[2] += (double)Rx[i];
        if (Rdy) {
            const double rd = Rdy[i];
            v[3] += rd;
            v[4] += rd * xh;
        }
    }
    absa_block_sum<5>(v, sh);
    const double mRx = v[2] / dn;
    double mxz = 0, mdz = 0;
    if (Rx) {
        const double shift = train ? mRx : 0;
        double q[2] = {0, 0};
        for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
            const size_t i = BN_IDX(k);
            const double z = ((double)Rx[i] - shift) * s;
            q[0] += ((double)x[i] - mu) * s * z;
            q[1] += (double)dy[i] * z;
        }
        absa_block_sum<2>(q, sh);
        mxz = train ? q[0] / dn : 0;
        mdz = q[1] / dn;
    }
    const double a = v[0] / dn, b = v[1] / dn, Ra = v[3] / dn;
    const double Rb = v[4] / dn + mdz - mxz * b;
    if (threadIdx.x == 0) {
        if (Rdgamma) Rdgamma[ch] += (T)(dn * Rb);
        if (Rdbeta) Rdbeta[ch] += (T)v[3];
    }
    if (!Rdx) return;
    double Ad, Ar, Bx, Br, K;
    if (train) {
        const double P = s * (vg - gm * mxz);
        Ad = P;
        Ar = gm * s;
        Bx = -P * s * b + gm * s * s * (b * mxz - Rb);
        Br = -gm * s * s * b;
        K = -P * a - gm * s * Ra;
    } else {
        Ad = vg * s;
        Ar = gm * s;
        Bx = Br = K = 0;
    }
    const T tAd = (T)Ad, tAr = (T)Ar, tBx = (T)Bx, tBr = (T)Br, tK = (T)K, m = (T)mu;
    const T mr = (T)(train ? mRx : 0);
    for (size_t k = threadIdx.x; k < n; k += ABSA_GPU_THREADS) {
        const size_t i = BN_IDX(k);
        T r = tAd * dy[i] + tK + tBx * (x[i] - m);
        if (Rdy) r += tAr * Rdy[i];
        if (Rx) r += tBr * (Rx[i] - mr);
        Rdx[i] = dx_set ? r : Rdx[i] + r;
    }
}

#undef BN_IDX

void bn_check(const absa_bn_cfg *c)
{
    ABSA_ASSERT(c->N >= 1 && c->C >= 1 && c->HW >= 1, "bn: bad shape %d x %d x %d", c->N, c->C,
                c->HW);
}

} // namespace

#define ABSA_GPU_BN_DEFS(T, SFX)                                                                  \
    extern "C" void absa_gpu_bn_forward_##SFX(absa_gpu_ctx *g, const absa_bn_cfg *c, int train,   \
                                              const T *x, const T *gamma, const T *beta, T *rm,   \
                                              T *rv, T *save_mean, T *save_invstd, T *y)          \
    {                                                                                             \
        bn_check(c);                                                                              \
        ABSA_ASSERT(train || (rm && rv), "bn: eval mode needs running statistics");               \
        ABSA_ASSERT(!train || !rv || (double)c->N * c->HW >= 2,                                   \
                    "bn: train mode needs more than one value per channel");                      \
        k_bn_forward<T><<<c->C, ABSA_GPU_THREADS, 0, g->stream>>>(                                \
            c->N, c->C, c->HW, c->eps, c->momentum, train, x, gamma, beta, rm, rv, save_mean,     \
            save_invstd, y);                                                                      \
        ABSA_LAUNCHED();                                                                          \
    }                                                                                             \
    extern "C" void absa_gpu_bn_backward_##SFX(                                                   \
        absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const T *x, const T *gamma,             \
        const T *save_mean, const T *save_invstd, const T *dy, T *dx, T *dgamma, T *dbeta)        \
    {                                                                                             \
        bn_check(c);                                                                              \
        k_bn_backward<T><<<c->C, ABSA_GPU_THREADS, 0, g->stream>>>(                               \
            c->N, c->C, c->HW, train, c->dx_set, x, gamma, save_mean, save_invstd, dy, dx,        \
            dgamma, dbeta);                                                                       \
        ABSA_LAUNCHED();                                                                          \
    }                                                                                             \
    extern "C" void absa_gpu_bn_rforward_##SFX(                                                   \
        absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const T *x, const T *Rx,                \
        const T *gamma, const T *Vgamma, const T *Vbeta, const T *save_mean,                      \
        const T *save_invstd, T *Ry)                                                              \
    {                                                                                             \
        bn_check(c);                                                                              \
        k_bn_rforward<T><<<c->C, ABSA_GPU_THREADS, 0, g->stream>>>(                               \
            c->N, c->C, c->HW, train, x, Rx, gamma, Vgamma, Vbeta, save_mean, save_invstd, Ry);   \
        ABSA_LAUNCHED();                                                                          \
    }                                                                                             \
    extern "C" void absa_gpu_bn_rbackward_##SFX(                                                  \
        absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const T *x, const T *Rx,                \
        const T *gamma, const T *Vgamma, const T *save_mean, const T *save_invstd, const T *dy,   \
        const T *Rdy, T *Rdx, T *Rdgamma, T *Rdbeta)                                              \
    {                                                                                             \
        bn_check(c);                                                                              \
        k_bn_rbackward<T><<<c->C, ABSA_GPU_THREADS, 0, g->stream>>>(                              \
            c->N, c->C, c->HW, train, c->dx_set, x, Rx, gamma, Vgamma, save_mean, save_invstd,    \
            dy, Rdy, Rdx, Rdgamma, Rdbeta);                                                       \
        ABSA_LAUNCHED();                                                                          \
    }
ABSA_GPU_BN_DEFS(float, f32)
ABSA_GPU_BN_DEFS(double, f64)
