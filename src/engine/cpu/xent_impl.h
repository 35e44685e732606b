/* xent_impl.h — softmax cross-entropy kernels, included by xent.c once per precision with
 * ABSA_T / ABSA_SFX defined (no include guard on purpose).
 *
 * forward: per row, m = max z, S = sum exp(z - m) (double), p = exp(z - m) / S,
 *          loss_i = log S - (z_label - m); returns the mean in double. The loss sum runs over
 *          the rows in order (deterministic whatever the thread count).
 * backward:  dz  += scale * (p - onehot) / N
 * rbackward: Rdz += scale * (p .* Rz - p * (p . Rz)) / N   (p . Rz accumulated in double)
 * correct:   argmax per row as torch.argmax (first maximum on ties; a NaN counts as the maximum,
 *            the first NaN wins). */

#ifndef ABSA_XENT_OMP_MIN
#define ABSA_XENT_OMP_MIN 32768
#endif

double ABSA_FN(absa_xent_forward)(int N, int K, const ABSA_T *z, const int32_t *labels, ABSA_T *p)
{
    ABSA_ASSERT(N >= 1 && K >= 1, "xent: bad shape %d x %d", N, K);
    double loss = 0;
    for (int i = 0; i < N; i++) {
        const ABSA_T *zi = z + (size_t)i * K;
        const int32_t lab = labels[i];
        ABSA_ASSERT(lab >= 0 && lab < K, "xent: label %d of sample %d outside [0, %d)", (int)lab, i,
                    K);
        double m = zi[0];
        for (int k = 1; k < K; k++)
            if (zi[k] > m) m = zi[k];
        double S = 0;
        for (int k = 0; k < K; k++) S += exp((double)zi[k] - m);
        if (p) {
            ABSA_T *pi = p + (size_t)i * K;
            const double invS = 1.0 / S;
            for (int k = 0; k < K; k++) pi[k] = (ABSA_T)(exp((double)zi[k] - m) * invS);
        }
        loss += log(S) - ((double)zi[lab] - m);
    }
    return loss / N;
}

void ABSA_FN(absa_xent_backward)(int N, int K, const ABSA_T *p, const int32_t *labels, double scale,
                                 ABSA_T *dz)
{
    ABSA_ASSERT(N >= 1 && K >= 1, "xent: bad shape %d x %d", N, K);
    if (!dz) return;
    const double f = scale / N;
#pragma omp parallel for schedule(static) if ((size_t)N * K > ABSA_XENT_OMP_MIN)
    for (int i = 0; i < N; i++) {
        const ABSA_T *pi = p + (size_t)i * K;
        ABSA_T *di = dz + (size_t)i * K;
        const int32_t lab = labels[i];
        ABSA_ASSERT(lab >= 0 && lab < K, "xent: label %d of sample %d outside [0, %d)", (int)lab, i,
                    K);
        for (int k = 0; k < K; k++) di[k] += (ABSA_T)(f * ((double)pi[k] - (k == lab ? 1.0 : 0.0)));
    }
}

void ABSA_FN(absa_xent_rbackward)(int N, int K, const ABSA_T *p, const ABSA_T *Rz, double scale,
                                  ABSA_T *Rdz)
{
    ABSA_ASSERT(N >= 1 && K >= 1, "xent: bad shape %d x %d", N, K);
    if (!Rdz || !Rz) return; /* Rz NULL = zero direction: nothing to add */
    const double f = scale / N;
#pragma omp parallel for schedule(static) if ((size_t)N * K > ABSA_XENT_OMP_MIN)
    for (int i = 0; i < N; i++) {
        const ABSA_T *pi = p + (size_t)i * K;
        const ABSA_T *ri = Rz + (size_t)i * K;
        ABSA_T *di = Rdz + (size_t)i * K;
        double pr = 0;
        for (int k = 0; k < K; k++) pr += (double)pi[k] * ri[k];
        for (int k = 0; k < K; k++) di[k] += (ABSA_T)(f * (double)pi[k] * ((double)ri[k] - pr));
    }
}

int ABSA_FN(absa_xent_correct)(int N, int K, const ABSA_T *z, const int32_t *labels)
{
    ABSA_ASSERT(N >= 0 && K >= 1, "xent: bad shape %d x %d", N, K);
    int hits = 0;
    for (int i = 0; i < N; i++) {
        const ABSA_T *zi = z + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K && !isnan(zi[best]); k++)
            if (zi[k] > zi[best] || isnan(zi[k])) best = k;
        hits += best == labels[i];
    }
    return hits;
}
