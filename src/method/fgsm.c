/* fgsm.c — FGSM adversarial samples for ABSA; see fgsm.h. */
#include "fgsm.h"

absa_status absa_fgsm(absa_model *m, float *x, const int32_t *y, int k, const float *eps_c)
{
    if (k <= 0) return ABSA_OK;
    const int C = m->in_c;
    const size_t plane = (size_t)m->in_h * m->in_w, per = (size_t)C * plane, tot = (size_t)k * per;
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < tot; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    const float *g = absa_model_input_grad(m, x, y, k, 0);
    if (!g) return ABSA_ENOMEM;
    for (int s = 0; s < k; s++)
        for (int c = 0; c < C; c++) {
            float e = eps_c[c];
            float *xp = x + (size_t)s * per + (size_t)c * plane;
            const float *gp = g + (size_t)s * per + (size_t)c * plane;
            for (size_t i = 0; i < plane; i++) {
                float sg = gp[i] > 0 ? 1.0f : gp[i] < 0 ? -1.0f : 0.0f;
                float v = xp[i] + e * sg;
                xp[i] = v < lo ? lo : v > hi ? hi : v;
            }
        }
    return ABSA_OK;
}
