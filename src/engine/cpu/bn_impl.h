/* bn_impl.h — batch-norm kernels, included by bn.c once per precision with ABSA_T / ABSA_SFX
 * defined (no include guard on purpose).
 *
 * Notation, per channel c over its n = N*HW values: mu = mean, s = invstd = 1/sqrt(var + eps),
 * xhat = (x - mu) * s, y = gamma * xhat + beta. In train mode mu and var (biased) are the batch
 * statistics and every pass differentiates through them; in eval mode they are the running
 * statistics (constants) and BN is the affine map y = gamma*s*(x - mu) + beta.
 *
 *  backward (train):  a = mean(dy), b = mean(dy*xhat)
 *     dx += gamma*s*(dy - a - xhat*b);  dgamma += sum dy*xhat;  dbeta += sum dy
 *  R-forward (train): z = s*(Rx - mean Rx), Rxhat = z - xhat*mean(xhat*z)
 *     Ry = Vgamma*xhat + gamma*Rxhat + Vbeta
 *  R-backward (train): the directional derivative of the backward along (Rx, Vgamma, Rdy):
 *     Rs = -s*mean(xhat*z), Ra = mean(Rdy), Rb = mean(Rdy*xhat + dy*Rxhat)
 *     Rdx += (Vgamma*s + gamma*Rs)*(dy - a - xhat*b) + gamma*s*(Rdy - Ra - Rxhat*b - xhat*Rb)
 *     Rdgamma += n*Rb;  Rdbeta += sum Rdy
 *  eval mode: dx += gamma*s*dy; Ry = Vgamma*xhat + gamma*s*Rx + Vbeta;
 *     Rdx += s*(Vgamma*dy + gamma*Rdy); Rdgamma += sum(Rdy*xhat + dy*s*Rx); Rdbeta += sum Rdy.
 *
 * Every per-channel reduction accumulates in double; the elementwise sweeps apply per-channel
 * coefficients (rounded to ABSA_T) to the centred values. gamma/beta NULL mean 1/0; Vgamma,
 * Vbeta, Rx and Rdy NULL mean zero; outputs dx/dgamma/dbeta/Rdx/Rdgamma/Rdbeta NULL are
 * skipped. Channels are independent and are shared out over OpenMP threads. */

#ifndef ABSA_BN_OMP_MIN
#define ABSA_BN_OMP_MIN 32768
#endif

/* element (sample j, channel ch, position i) of an N x C x HW tensor */
#define ABSA_BN_AT(ptr, j, ch, i) ((ptr)[((size_t)(j) * C + (ch)) * HW + (i)])

void ABSA_FN(absa_bn_forward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                              const ABSA_T *beta, ABSA_T *running_mean, ABSA_T *running_var,
                              ABSA_T *save_mean, ABSA_T *save_invstd, ABSA_T *y)
{
    const int N = c->N, C = c->C, HW = c->HW;
    const double n = (double)N * HW, eps = c->eps, mom = c->momentum;
    ABSA_ASSERT(N >= 1 && C >= 1 && HW >= 1, "bn: bad shape %d x %d x %d", N, C, HW);
    ABSA_ASSERT(train || (running_mean && running_var), "bn: eval mode needs running statistics");
    ABSA_ASSERT(!train || !running_var || n >= 2,
                "bn: train mode needs more than one value per channel (N*HW = %.0f)", n);
#pragma omp parallel for schedule(static) if (n * C > ABSA_BN_OMP_MIN)
    for (int ch = 0; ch < C; ch++) {
        double mu, s;
        if (train) {
            double sum = 0;
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sum)
                for (int i = 0; i < HW; i++) sum += ABSA_BN_AT(x, j, ch, i);
            mu = sum / n;
            double ss = 0; /* two-pass variance: no cancellation */
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : ss)
                for (int i = 0; i < HW; i++) {
                    double d = ABSA_BN_AT(x, j, ch, i) - mu;
                    ss += d * d;
                }
            const double var = ss / n;
            s = 1.0 / sqrt(var + eps);
            if (running_mean) running_mean[ch] = (ABSA_T)((1 - mom) * running_mean[ch] + mom * mu);
            if (running_var)
                running_var[ch] = (ABSA_T)((1 - mom) * running_var[ch] + mom * ss / (n - 1));
        } else {
            mu = running_mean[ch];
            s = 1.0 / sqrt((double)running_var[ch] + eps);
        }
        if (save_mean) save_mean[ch] = (ABSA_T)mu;
        if (save_invstd) save_invstd[ch] = (ABSA_T)s;
        const ABSA_T m = (ABSA_T)mu, alpha = (ABSA_T)((gamma ? gamma[ch] : 1) * s);
        const ABSA_T b = beta ? beta[ch] : 0;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++)
                ABSA_BN_AT(y, j, ch, i) = (ABSA_BN_AT(x, j, ch, i) - m) * alpha + b;
    }
}

void ABSA_FN(absa_bn_backward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                               const ABSA_T *save_mean, const ABSA_T *save_invstd, const ABSA_T *dy,
                               ABSA_T *dx, ABSA_T *dgamma, ABSA_T *dbeta)
{
    const int N = c->N, C = c->C, HW = c->HW;
    const double n = (double)N * HW;
    ABSA_ASSERT(N >= 1 && C >= 1 && HW >= 1, "bn: bad shape %d x %d x %d", N, C, HW);
    const int need_sums = train ? (dx || dgamma || dbeta) : (dgamma || dbeta);
#pragma omp parallel for schedule(static) if (n * C > ABSA_BN_OMP_MIN)
    for (int ch = 0; ch < C; ch++) {
        const double mu = save_mean[ch], s = save_invstd[ch], g = gamma ? gamma[ch] : 1;
        double sdy = 0, sdyx = 0;
        if (need_sums) {
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sdy, sdyx)
                for (int i = 0; i < HW; i++) {
                    const double d = ABSA_BN_AT(dy, j, ch, i);
                    sdy += d;
                    sdyx += d * ((ABSA_BN_AT(x, j, ch, i) - mu) * s);
                }
        }
        if (dgamma) dgamma[ch] += (ABSA_T)sdyx;
        if (dbeta) dbeta[ch] += (ABSA_T)sdy;
        if (!dx) continue;
        /* dx += A*dy + B*(x - mu) + K */
        const double a = train ? sdy / n : 0, b = train ? sdyx / n : 0;
        const ABSA_T A = (ABSA_T)(g * s), B = (ABSA_T)(-g * s * s * b), K = (ABSA_T)(-g * s * a);
        const ABSA_T m = (ABSA_T)mu;
        for (int j = 0; j < N; j++) { /* overwrite or accumulate (see layers.h) */
            ABSA_T *d = &ABSA_BN_AT(dx, j, ch, 0);
            const ABSA_T *dyr = &ABSA_BN_AT(dy, j, ch, 0), *xr = &ABSA_BN_AT(x, j, ch, 0);
            if (c->dx_set)
                for (int i = 0; i < HW; i++) d[i] = A * dyr[i] + B * (xr[i] - m) + K;
            else
                for (int i = 0; i < HW; i++) d[i] += A * dyr[i] + B * (xr[i] - m) + K;
        }
    }
}

void ABSA_FN(absa_bn_rforward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                               const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *Vbeta,
                               const ABSA_T *save_mean, const ABSA_T *save_invstd, ABSA_T *Ry)
{
    const int N = c->N, C = c->C, HW = c->HW;
    const double n = (double)N * HW;
    ABSA_ASSERT(N >= 1 && C >= 1 && HW >= 1, "bn: bad shape %d x %d x %d", N, C, HW);
#pragma omp parallel for schedule(static) if (n * C > ABSA_BN_OMP_MIN)
    for (int ch = 0; ch < C; ch++) {
        const double mu = save_mean[ch], s = save_invstd[ch], g = gamma ? gamma[ch] : 1;
        const double vg = Vgamma ? Vgamma[ch] : 0, vb = Vbeta ? Vbeta[ch] : 0;
        double mRx = 0, mxz = 0; /* mean(Rx), mean(xhat*z) (train mode only) */
        if (train && Rx) {
            double sum = 0;
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sum)
                for (int i = 0; i < HW; i++) sum += ABSA_BN_AT(Rx, j, ch, i);
            mRx = sum / n;
            double sxz = 0;
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sxz)
                for (int i = 0; i < HW; i++)
                    sxz += ((ABSA_BN_AT(x, j, ch, i) - mu) * s) *
                           ((ABSA_BN_AT(Rx, j, ch, i) - mRx) * s);
            mxz = sxz / n;
        }
        /* Ry = P*(x - mu) + Q*(Rx - mean Rx) + vb */
        const ABSA_T P = (ABSA_T)(s * (vg - g * mxz)), Q = (ABSA_T)(g * s);
        const ABSA_T m = (ABSA_T)mu, mr = (ABSA_T)mRx, B = (ABSA_T)vb;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++) {
                ABSA_T r = P * (ABSA_BN_AT(x, j, ch, i) - m) + B;
                if (Rx) r += Q * (ABSA_BN_AT(Rx, j, ch, i) - mr);
                ABSA_BN_AT(Ry, j, ch, i) = r;
            }
    }
}

void ABSA_FN(absa_bn_rbackward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                                const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *save_mean,
                                const ABSA_T *save_invstd, const ABSA_T *dy, const ABSA_T *Rdy,
                                ABSA_T *Rdx, ABSA_T *Rdgamma, ABSA_T *Rdbeta)
{
    const int N = c->N, C = c->C, HW = c->HW;
    const double n = (double)N * HW;
    ABSA_ASSERT(N >= 1 && C >= 1 && HW >= 1, "bn: bad shape %d x %d x %d", N, C, HW);
#pragma omp parallel for schedule(static) if (n * C > ABSA_BN_OMP_MIN)
    for (int ch = 0; ch < C; ch++) {
        const double mu = save_mean[ch], s = save_invstd[ch], g = gamma ? gamma[ch] : 1;
        const double vg = Vgamma ? Vgamma[ch] : 0;
        /* pass 1: sums of dy, dy*xhat, Rx, Rdy, Rdy*xhat */
        double sdy = 0, sdyx = 0, sRx = 0, sRdy = 0, sRdyx = 0;
        for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sdy, sdyx, sRx, sRdy, sRdyx)
            for (int i = 0; i < HW; i++) {
                const double xh = (ABSA_BN_AT(x, j, ch, i) - mu) * s;
                const double d = ABSA_BN_AT(dy, j, ch, i);
                sdy += d;
                sdyx += d * xh;
                if (Rx) sRx += ABSA_BN_AT(Rx, j, ch, i);
                if (Rdy) {
                    const double rd = ABSA_BN_AT(Rdy, j, ch, i);
                    sRdy += rd;
                    sRdyx += rd * xh;
                }
            }
        const double mRx = sRx / n;
        /* pass 2 (train mode): z = s*(Rx - mean Rx); mean(xhat*z), mean(dy*z)
         * eval mode: Rxhat = s*Rx, only mean(dy*Rxhat) is needed */
        double mxz = 0, mdz = 0;
        if (Rx) {
            const double shift = train ? mRx : 0;
            double sxz = 0, sdz = 0;
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sxz, sdz)
                for (int i = 0; i < HW; i++) {
                    const double z = (ABSA_BN_AT(Rx, j, ch, i) - shift) * s;
                    sxz += (ABSA_BN_AT(x, j, ch, i) - mu) * s * z;
                    sdz += ABSA_BN_AT(dy, j, ch, i) * z;
                }
            mxz = train ? sxz / n : 0; /* eval: Rxhat = z exactly (no statistics term) */
            mdz = sdz / n;
        }
        const double a = sdy / n, b = sdyx / n, Ra = sRdy / n;
        /* Rb = mean(Rdy*xhat) + mean(dy*Rxhat), Rxhat = z - xhat*mxz */
        const double Rb = sRdyx / n + mdz - mxz * b;
        if (Rdgamma) Rdgamma[ch] += (ABSA_T)(n * Rb);
        if (Rdbeta) Rdbeta[ch] += (ABSA_T)sRdy;
        if (!Rdx) continue;
        /* Rdx += Ad. dy + Ar. Rdy + Bx (x - mu) + Br (Rx - shift) + K */
        double Ad, Ar, Bx, Br, K;
        if (train) {
            const double P = s * (vg - g * mxz); /* Vgamma*s + gamma*Rs */
            Ad = P;
            Ar = g * s;
            Bx = -P * s * b + g * s * s * (b * mxz - Rb);
            Br = -g * s * s * b;
            K = -P * a - g * s * Ra;
        } else {
            Ad = vg * s;
            Ar = g * s;
            Bx = Br = K = 0;
        }
        const ABSA_T tAd = (ABSA_T)Ad, tAr = (ABSA_T)Ar, tBx = (ABSA_T)Bx, tBr = (ABSA_T)Br;
        const ABSA_T tK = (ABSA_T)K, m = (ABSA_T)mu, mr = (ABSA_T)(train ? mRx : 0);
        for (int j = 0; j < N; j++) {
            ABSA_T *d = &ABSA_BN_AT(Rdx, j, ch, 0);
            const ABSA_T *dyr = &ABSA_BN_AT(dy, j, ch, 0), *xr = &ABSA_BN_AT(x, j, ch, 0);
            const ABSA_T *Rdyr = Rdy ? &ABSA_BN_AT(Rdy, j, ch, 0) : NULL;
            const ABSA_T *Rxr = Rx ? &ABSA_BN_AT(Rx, j, ch, 0) : NULL;
            for (int i = 0; i < HW; i++) {
                ABSA_T r = tAd * dyr[i] + tK + tBx * (xr[i] - m);
                if (Rdyr) r += tAr * Rdyr[i];
                if (Rxr) r += tBr * (Rxr[i] - mr);
                if (c->dx_set) /* overwrite or accumulate (see layers.h); unswitched */
                    d[i] = r;
                else
                    d[i] += r;
            }
        }
    }
}

#undef ABSA_BN_AT
