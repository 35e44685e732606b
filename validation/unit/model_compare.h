/* model_compare.h — the bitwise checks of the unit tests that build one model twice: a graph
 * rewrite of the builder (model_build.c: the ReLU/max-pool commute, the BN_RELU fusion) against
 * the same model built with keep_order = 1, i.e. executed exactly as declared (the oracle). Used
 * by test_commute and test_bnrelu (header-only, like absa_test.h; include it after absa_test.h),
 * which also build their models through absa_mc_begin / absa_mc_finish.
 * Each absa_mc_* pass runs on both models with the same inputs and CHECKs that the results have
 * the same BITS (memcmp, so NaN payloads and the sign of zero count); `what` names the case in
 * the failure message. Parameters, buffers, x, labels and v are the caller's: set the same on
 * both models first. */
#ifndef ABSA_MODEL_COMPARE_H
#define ABSA_MODEL_COMPARE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "model_build.h"

/* A model under construction on the cpu backend (C x H x W inputs, K classes), with keep_order
 * (1: executed as declared, the oracle); NULL, after a failed CHECK, without a backend. */
static inline absa_model *absa_mc_begin(const char *name, int C, int H, int W, int K, int keep_order)
{
    absa_backend *be = NULL;
    CHECK(absa_backend_open_at(NULL, -1, &be) == ABSA_OK, "backend: %s", absa_last_error());
    if (!be) return NULL;
    absa_model *m = absa_mb_begin(name, C, H, W, K);
    m->be = be;
    m->keep_order = keep_order;
    return m;
}

/* absa_mb_finish with a CHECK: the built model, or NULL */
static inline absa_model *absa_mc_finish(absa_model *m)
{
    absa_model *out = NULL;
    CHECK(absa_mb_finish(m, &out) == ABSA_OK, "finish: %s", absa_last_error());
    return out;
}

/* a host copy of n floats of one of m's buffers (free() it) */
static inline float *absa_mc_get(absa_model *m, const float *buf, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof(float));
    absa_model_get(m, buf, h, n);
    return h;
}

static inline int absa_mc_same(const void *a, const void *b, size_t bytes) { return !memcmp(a, b, bytes); }

/* forward of N samples: the logits */
static inline void absa_mc_forward(absa_model *a, absa_model *b, const char *what, const float *x, int N,
                                   int train, int update_running)
{
    const float *za = absa_model_forward(a, x, N, train, update_running);
    const float *zb = absa_model_forward(b, x, N, train, update_running);
    CHECK(za && zb && absa_mc_same(za, zb, (size_t)N * a->n_classes * sizeof(float)),
          "%s train=%d: logits differ", what, train);
}

/* after absa_mc_forward on the same batch: the loss, then the backward from a zeroed gradient
 * with the input gradient (FGSM): parameter gradient and input gradient; the gradient must not
 * be all zero (a case whose gradient is zero tests nothing) */
static inline void absa_mc_backward(absa_model *a, absa_model *b, const char *what, const float *x,
                                    const int32_t *y, int N, int train)
{
    const size_t P = a->n_params, per = (size_t)a->in_c * a->in_h * a->in_w;
    const double la = absa_model_loss(a, y), lb = absa_model_loss(b, y);
    CHECK(la == lb, "%s train=%d: loss %.17g vs %.17g", what, train, la, lb);
    absa_be_zero(a->be, a->grad, P);
    absa_be_zero(b->be, b->grad, P);
    absa_model_backward(a, x, y, 1.0, 1);
    absa_model_backward(b, x, y, 1.0, 1);
    float *ga = absa_mc_get(a, a->grad, P), *gb = absa_mc_get(b, b->grad, P);
    CHECK(absa_mc_same(ga, gb, P * sizeof(float)), "%s train=%d: gradients differ", what, train);
    CHECK(absa_mc_same(a->dinput, b->dinput, (size_t)N * per * sizeof(float)),
          "%s train=%d: input gradients differ", what, train);
    int nonzero = 0;
    for (size_t i = 0; i < P; i++) nonzero |= ga[i] != 0;
    CHECK(nonzero, "%s: zero gradient (the case tests nothing)", what);
    free(ga), free(gb);
}

/* hv = 0.5 H v (from zero) for the direction v (named vname in the message), by absa_model_hvp or,
 * with again, absa_model_hvp_again: H v and the loss it returns */
static inline void absa_mc_hv(absa_model *a, absa_model *b, const char *what, const float *x,
                              const int32_t *y, int N, int train, const float *v, const char *vname,
                              int again)
{
    const size_t P = a->n_params;
    absa_model_set(a, a->v, v, P);
    absa_model_set(b, b->v, v, P);
    absa_be_zero(a->be, a->hv, P);
    absa_be_zero(b->be, b->hv, P);
    double ha = 0, hb = 0;
    absa_status sa = again ? absa_model_hvp_again(a, x, y, N, train, 0.5, &ha)
                           : absa_model_hvp(a, x, y, N, train, 0.5, &ha);
    absa_status sb = again ? absa_model_hvp_again(b, x, y, N, train, 0.5, &hb)
                           : absa_model_hvp(b, x, y, N, train, 0.5, &hb);
    CHECK(sa == ABSA_OK && sb == ABSA_OK, "hvp: %s", absa_last_error());
    float *hva = absa_mc_get(a, a->hv, P), *hvb = absa_mc_get(b, b->hv, P);
    CHECK(absa_mc_same(hva, hvb, P * sizeof(float)) && ha == hb, "%s train=%d: H %s differs", what, train,
          vname);
    free(hva), free(hvb);
}

#endif
