/* bn_impl.h — batch-norm kernels, included by bn.c six times: once per precision (ABSA_T /
 * ABSA_SFX, and ABSA_BNR_UINT, the unsigned integer of ABSA_T's width) and, within it, once per
 * mode, ABSA_BN_RELU / ABSA_BN_ADD (no include guard on purpose):
 *  - ABSA_BN_RELU 0: batch norm, absa_bn_{forward,backward,rforward,rbackward};
 *  - ABSA_BN_RELU 1: batch norm followed by ReLU as one kernel per pass (the BN_RELU op, issue 17),
 *    absa_bn_relu_*: the same functions with the ReLU's output z as an extra argument of the
 *    three derivative passes (see layers.h; the gradients they take are those of z);
 *  - ABSA_BN_RELU 1 and ABSA_BN_ADD 1: batch norm, a residual add, then ReLU, z = relu(BN(x) + q),
 *    as one kernel per pass (the BN_ADD_RELU op, issue 17), absa_bn_add_relu_*: the BN_RELU
 *    functions with the add's other operand q (forward), its R-value Rq (R-forward; NULL when q is
 *    the input node, whose R-value is zero: then nothing is added, as the add's R-forward copies)
 *    and the gradients dq, Rdq it receives (backward, R-backward: mask(z) * dz and mask(z) * Rdz,
 *    overwritten or accumulated as c->dq_set says, NULL skipped; they must not alias x, z, dz or
 *    dx). Neither the BN's output nor the sum is stored.
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
 * skipped. Channels are independent and are shared out over OpenMP threads.
 *
 * BN_RELU: z = relu(y). Every pass gives BITWISE what absa_bn_* then absa_relu_* (pointwise_impl.h)
 * give, because it is the BN's code (same double accumulation, same loop nests and simd
 * reductions, so the same summation order) with only the ReLU folded in where the separate ops
 * write or read the BN output y — the two macros below, which are the identity in the plain BN
 * (ABSA_BNR_MASK does not even evaluate its z argument, so the plain BN has no z):
 *  - ABSA_BNR_RELU(y): the forward writes z = y <= 0 ? 0 : y instead of y (y is never stored);
 *  - ABSA_BNR_MASK(z, v): the ReLU's backward mask(y) * v, i.e. (y <= 0 ? +0 : v). The backward
 *    reads its dy argument (which holds dz) through it, so the BN's dy is formed in the loops
 *    instead of materialised; the R-forward writes Rz = mask(y) * Ry to its Ry argument; the
 *    R-backward reads dy and Rdy (holding dz and Rdz) through it.
 * BN_ADD_RELU adds q to the BN's value, rounded as the separate add rounds it (the BN's value is
 * already an ABSA_T), before the ReLU; the mask then stands for the ReLU's mask of the sum, and the
 * add's backward (dq = or += the sum's gradient) is one more sweep over the row the dx loop has just
 * read (absa_bna_row), so its values and its order are the separate ops' too; test_bnaddrelu checks
 * every pass against absa_bn_*, absa_add_*, absa_relu_*.
 * The mask is read from z: y <= 0 <=> z <= 0 exactly (y <= 0 gives z = +0; y > 0 gives z = y > 0;
 * a NaN y gives a NaN z, which passes both masks, as in torch). Recomputing y from x and the saved
 * statistics would not be bit-safe: the forward's coefficient gamma*s is rounded from the double s,
 * save_invstd holds s rounded to ABSA_T. The summation order of a simd reduction is the lanes the
 * compiler picks, so "the same order" holds as long as it vectorises both alike (see the mask
 * below); test_bnrelu checks every pass against the two ops. The one difference it knows: in a
 * channel whose statistics are NaN (a NaN input) the R-backward's Rdx is NaN in both, but the NaN's
 * sign may differ (its coefficients are NaNs of both signs and which operand's NaN an SSE add
 * keeps depends on the operand order chosen for each loop; C does not fix it). */

#ifndef ABSA_BN_OMP_MIN
#define ABSA_BN_OMP_MIN 32768
#endif

/* element (sample j, channel ch, position i) of an N x C x HW tensor */
#define ABSA_BN_AT(ptr, j, ch, i) ((ptr)[((size_t)(j) * C + (ch)) * HW + (i)])

#if ABSA_BN_ADD && !ABSA_BN_RELU
#error "bn_impl.h: ABSA_BN_ADD needs ABSA_BN_RELU"
#endif

#if ABSA_BN_RELU
#if ABSA_BN_ADD
#define ABSA_BN_NAME(pass) ABSA_FN(absa_bn_add_relu_##pass)
#else
#define ABSA_BN_NAME(pass) ABSA_FN(absa_bn_relu_##pass)
/* The ReLU's backward on one element: z <= 0 ? +0 : v, bit for bit (+0 is the all-zero pattern),
 * as an AND with an integer mask (ABSA_BNR_UINT: the unsigned integer of ABSA_T's width, set by
 * bn.c). Written so, not as a ?: on floats, because GCC vectorises it inside the simd reductions
 * with the same lanes as the plain BN's loops (4 floats per vector), so the double sums add in
 * the same order; the ?: form stayed scalar (about 5x slower) and kept 2 lanes, which gave other
 * double sums than absa_bn_backward's (hidden in f32 by the rounding of the results, not
 * guaranteed). */
static inline ABSA_T ABSA_FN(absa_bnr_mask)(ABSA_T z, ABSA_T v)
{
    ABSA_BNR_UINT u;
    memcpy(&u, &v, sizeof u);
    u &= z <= 0 ? (ABSA_BNR_UINT)0 : ~(ABSA_BNR_UINT)0;
    ABSA_T r;
    memcpy(&r, &u, sizeof r);
    return r;
}
#endif /* the BN_ADD_RELU instance, included after BN_RELU's (bn.c), uses the same function */
#define ABSA_BNR_MASK(zv, v) ABSA_FN(absa_bnr_mask)((zv), (v))
#define ABSA_BNR_RELU(y) ((y) <= 0 ? (ABSA_T)0 : (y))
#else
#define ABSA_BN_NAME(pass) ABSA_FN(absa_bn_##pass)
#define ABSA_BNR_MASK(zv, v) (v) /* zv is not evaluated: the plain BN has no z */
#define ABSA_BNR_RELU(y) (y)
#endif

#if ABSA_BN_ADD
/* The add's backward on one row of the sum's gradient: e = (set) or += mask(z) * d (d NULL: zero) */
static void ABSA_FN(absa_bna_row)(int HW, const ABSA_T *z, const ABSA_T *d, ABSA_T *e, int set)
{
    if (!d) {
        if (set) memset(e, 0, (size_t)HW * sizeof *e);
        return;
    }
    if (set)
        for (int i = 0; i < HW; i++) e[i] = ABSA_BNR_MASK(z[i], d[i]);
    else
        for (int i = 0; i < HW; i++) e[i] += ABSA_BNR_MASK(z[i], d[i]);
}
/* ... over one channel (for when there is no dx sweep to ride on) */
static void ABSA_FN(absa_bna_channel)(int N, int C, int HW, int ch, const ABSA_T *z, const ABSA_T *d,
                                      ABSA_T *e, int set)
{
    for (int j = 0; j < N; j++)
        ABSA_FN(absa_bna_row)(HW, &ABSA_BN_AT(z, j, ch, 0), d ? &ABSA_BN_AT(d, j, ch, 0) : NULL,
                              &ABSA_BN_AT(e, j, ch, 0), set);
}
#endif

void ABSA_BN_NAME(forward)(const absa_bn_cfg *c, int train, const ABSA_T *x,
#if ABSA_BN_ADD
                           const ABSA_T *q, /* BN_ADD_RELU: y is relu(BN(x) + q) */
#endif
                           const ABSA_T *gamma, const ABSA_T *beta, ABSA_T *running_mean, ABSA_T *running_var,
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
            for (int i = 0; i < HW; i++) {
                const ABSA_T v = (ABSA_BN_AT(x, j, ch, i) - m) * alpha + b;
#if ABSA_BN_ADD
                const ABSA_T vq = v + ABSA_BN_AT(q, j, ch, i); /* the add, rounded as it rounds */
                ABSA_BN_AT(y, j, ch, i) = ABSA_BNR_RELU(vq);
#else
                ABSA_BN_AT(y, j, ch, i) = ABSA_BNR_RELU(v); /* BN_RELU: y is z */
#endif
            }
    }
}

void ABSA_BN_NAME(backward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                            const ABSA_T *save_mean, const ABSA_T *save_invstd,
#if ABSA_BN_RELU
                            const ABSA_T *z, /* dy holds dz */
#endif
                            const ABSA_T *dy, ABSA_T *dx, ABSA_T *dgamma, ABSA_T *dbeta
#if ABSA_BN_ADD
                            , ABSA_T *dq /* = or += mask(z) * dz (c->dq_set) */
#endif
                            )
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
                    const double d = ABSA_BNR_MASK(ABSA_BN_AT(z, j, ch, i), ABSA_BN_AT(dy, j, ch, i));
                    sdy += d;
                    sdyx += d * ((ABSA_BN_AT(x, j, ch, i) - mu) * s);
                }
        }
        if (dgamma) dgamma[ch] += (ABSA_T)sdyx;
        if (dbeta) dbeta[ch] += (ABSA_T)sdy;
#if ABSA_BN_ADD
        if (dq && !dx) ABSA_FN(absa_bna_channel)(N, C, HW, ch, z, dy, dq, c->dq_set);
#endif
        if (!dx) continue;
        /* dx += A*dy + B*(x - mu) + K */
        const double a = train ? sdy / n : 0, b = train ? sdyx / n : 0;
        const ABSA_T A = (ABSA_T)(g * s), B = (ABSA_T)(-g * s * s * b), K = (ABSA_T)(-g * s * a);
        const ABSA_T m = (ABSA_T)mu;
        for (int j = 0; j < N; j++) { /* overwrite or accumulate (see layers.h) */
            ABSA_T *d = &ABSA_BN_AT(dx, j, ch, 0);
#if ABSA_BN_RELU
            const ABSA_T *zr = &ABSA_BN_AT(z, j, ch, 0);
#endif
            const ABSA_T *dyr = &ABSA_BN_AT(dy, j, ch, 0), *xr = &ABSA_BN_AT(x, j, ch, 0);
            if (c->dx_set)
                for (int i = 0; i < HW; i++) d[i] = A * ABSA_BNR_MASK(zr[i], dyr[i]) + B * (xr[i] - m) + K;
            else
                for (int i = 0; i < HW; i++) d[i] += A * ABSA_BNR_MASK(zr[i], dyr[i]) + B * (xr[i] - m) + K;
#if ABSA_BN_ADD /* the add's gradient from the row just read (still in L1) */
            if (dq) ABSA_FN(absa_bna_row)(HW, zr, dyr, &ABSA_BN_AT(dq, j, ch, 0), c->dq_set);
#endif
        }
    }
}

void ABSA_BN_NAME(rforward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                            const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *Vbeta,
                            const ABSA_T *save_mean, const ABSA_T *save_invstd,
#if ABSA_BN_RELU
                            const ABSA_T *z, /* Ry is Rz */
#endif
#if ABSA_BN_ADD
                            const ABSA_T *Rq, /* NULL: zero, not added */
#endif
                            ABSA_T *Ry)
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
        /* Ry = P*(x - mu) + Q*(Rx - mean Rx) + vb (BN_RELU: Rz = mask * Ry) */
        const ABSA_T P = (ABSA_T)(s * (vg - g * mxz)), Q = (ABSA_T)(g * s);
        const ABSA_T m = (ABSA_T)mu, mr = (ABSA_T)mRx, B = (ABSA_T)vb;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++) {
                ABSA_T r = P * (ABSA_BN_AT(x, j, ch, i) - m) + B;
                if (Rx) r += Q * (ABSA_BN_AT(Rx, j, ch, i) - mr);
#if ABSA_BN_ADD
                if (Rq) r = r + ABSA_BN_AT(Rq, j, ch, i);
#endif
                ABSA_BN_AT(Ry, j, ch, i) = ABSA_BNR_MASK(ABSA_BN_AT(z, j, ch, i), r);
            }
    }
}

void ABSA_BN_NAME(rbackward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                             const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *save_mean,
                             const ABSA_T *save_invstd,
#if ABSA_BN_RELU
                             const ABSA_T *z, /* dy, Rdy hold dz, Rdz */
#endif
                             const ABSA_T *dy, const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *Rdgamma,
                             ABSA_T *Rdbeta
#if ABSA_BN_ADD
                             , ABSA_T *Rdq /* = or += mask(z) * Rdz (c->dq_set) */
#endif
                             )
{
    const int N = c->N, C = c->C, HW = c->HW;
    const double n = (double)N * HW;
    ABSA_ASSERT(N >= 1 && C >= 1 && HW >= 1, "bn: bad shape %d x %d x %d", N, C, HW);
#pragma omp parallel for schedule(static) if (n * C > ABSA_BN_OMP_MIN)
    for (int ch = 0; ch < C; ch++) {
        const double mu = save_mean[ch], s = save_invstd[ch], g = gamma ? gamma[ch] : 1;
        const double vg = Vgamma ? Vgamma[ch] : 0;
        /* pass 1: sums of dy, dy*xhat, Rx, Rdy, Rdy*xhat (BN_RELU: dy, Rdy masked) */
        double sdy = 0, sdyx = 0, sRx = 0, sRdy = 0, sRdyx = 0;
        for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sdy, sdyx, sRx, sRdy, sRdyx)
            for (int i = 0; i < HW; i++) {
                const double xh = (ABSA_BN_AT(x, j, ch, i) - mu) * s;
#if ABSA_BN_RELU
                const ABSA_T zv = ABSA_BN_AT(z, j, ch, i);
#endif
                const double d = ABSA_BNR_MASK(zv, ABSA_BN_AT(dy, j, ch, i));
                sdy += d;
                sdyx += d * xh;
                if (Rx) sRx += ABSA_BN_AT(Rx, j, ch, i);
                if (Rdy) {
                    const double rd = ABSA_BNR_MASK(zv, ABSA_BN_AT(Rdy, j, ch, i));
                    sRdy += rd;
                    sRdyx += rd * xh;
                }
            }
        const double mRx = sRx / n;
        /* pass 2 (train mode): z = s*(Rx - mean Rx) (zz); mean(xhat*z), mean(dy*z)
         * eval mode: Rxhat = s*Rx, only mean(dy*Rxhat) is needed */
        double mxz = 0, mdz = 0;
        if (Rx) {
            const double shift = train ? mRx : 0;
            double sxz = 0, sdz = 0;
            for (int j = 0; j < N; j++)
#pragma omp simd reduction(+ : sxz, sdz)
                for (int i = 0; i < HW; i++) {
                    const double zz = (ABSA_BN_AT(Rx, j, ch, i) - shift) * s;
#if ABSA_BN_RELU /* two statement orders, each the one its loop had when the kernels were two
                  * files, so GCC emits the same code instruction for instruction (one common
                  * order keeps the lanes, hence the bits, but changes one loop's registers) */
                    const ABSA_T dyv = ABSA_BNR_MASK(ABSA_BN_AT(z, j, ch, i), ABSA_BN_AT(dy, j, ch, i));
                    sxz += (ABSA_BN_AT(x, j, ch, i) - mu) * s * zz;
                    sdz += dyv * zz;
#else
                    sxz += (ABSA_BN_AT(x, j, ch, i) - mu) * s * zz;
                    sdz += ABSA_BN_AT(dy, j, ch, i) * zz;
#endif
                }
            mxz = train ? sxz / n : 0; /* eval: Rxhat = z exactly (no statistics term) */
            mdz = sdz / n;
        }
        const double a = sdy / n, b = sdyx / n, Ra = sRdy / n;
        /* Rb = mean(Rdy*xhat) + mean(dy*Rxhat), Rxhat = z - xhat*mxz */
        const double Rb = sRdyx / n + mdz - mxz * b;
        if (Rdgamma) Rdgamma[ch] += (ABSA_T)(n * Rb);
        if (Rdbeta) Rdbeta[ch] += (ABSA_T)sRdy;
#if ABSA_BN_ADD
        if (Rdq && !Rdx) ABSA_FN(absa_bna_channel)(N, C, HW, ch, z, Rdy, Rdq, c->dq_set);
#endif
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
#if ABSA_BN_RELU
            const ABSA_T *zr = &ABSA_BN_AT(z, j, ch, 0);
#endif
            const ABSA_T *dyr = &ABSA_BN_AT(dy, j, ch, 0), *xr = &ABSA_BN_AT(x, j, ch, 0);
            const ABSA_T *Rdyr = Rdy ? &ABSA_BN_AT(Rdy, j, ch, 0) : NULL;
            const ABSA_T *Rxr = Rx ? &ABSA_BN_AT(Rx, j, ch, 0) : NULL;
            for (int i = 0; i < HW; i++) {
                ABSA_T r = tAd * ABSA_BNR_MASK(zr[i], dyr[i]) + tK + tBx * (xr[i] - m);
                if (Rdyr) r += tAr * ABSA_BNR_MASK(zr[i], Rdyr[i]);
                if (Rxr) r += tBr * (Rxr[i] - mr);
                if (c->dx_set) /* overwrite or accumulate (see layers.h); unswitched */
                    d[i] = r;
                else
                    d[i] += r;
            }
#if ABSA_BN_ADD
            if (Rdq) ABSA_FN(absa_bna_row)(HW, zr, Rdyr, &ABSA_BN_AT(Rdq, j, ch, 0), c->dq_set);
#endif
        }
    }
}

#undef ABSA_BNR_RELU
#undef ABSA_BNR_MASK
#undef ABSA_BN_NAME
#undef ABSA_BN_AT
