/* curvature.h — second-order information of the training loss from exact Hessian-vector
 * products: Hv on a sample set, the top eigenvalue(s) by power iteration (with the HessianFlow
 * absolute and the PyHessian relative stopping rule, and deflation for top-k), and Hutchinson's
 * trace estimate. The loss is the mean cross-entropy over all n samples; samples are processed
 * in chunks of at most `chunk`, each weighted n_chunk/n, so the result does not depend on it
 * (up to float summation order). Batch norm mode is the caller's choice (reference: eval). */
#ifndef ABSA_CURVATURE_H
#define ABSA_CURVATURE_H
#include <stddef.h>
#include <stdint.h>

#include "model.h"

enum { ABSA_EIG_ABSOLUTE = 0, ABSA_EIG_RELATIVE = 1 };
#define ABSA_EIG_MAX_K 16

/* Progress report after every HVP pass: what = "eig" (k = eigenvalue index from 0, step =
 * iteration from 1, value = its current estimate) or "trace" (step = probes done, value = the
 * running mean). Called on the calling thread; must not fail. */
typedef void (*absa_curv_progress)(void *ctx, const char *what, int k, int step, double value);

typedef struct absa_eig_opts {
    int max_iters;   /* per eigenvalue (reference 10; PyHessian 100) */
    double tol;      /* reference 1e-2 absolute; PyHessian 1e-3 relative */
    int rule;        /* ABSA_EIG_ABSOLUTE or ABSA_EIG_RELATIVE */
    int topk;        /* number of eigenvalues (deflation), 1..ABSA_EIG_MAX_K */
    int train_mode;  /* BN with batch statistics during the HVPs (reference: 0) */
    int chunk;       /* samples per HVP pass */
    uint64_t seed;   /* Gaussian start vector */
    absa_curv_progress progress; /* NULL (default): none */
    void *progress_ctx;
} absa_eig_opts;

typedef struct absa_eig_result {
    int k;
    double eig[ABSA_EIG_MAX_K];
    int iters[ABSA_EIG_MAX_K];
    int converged[ABSA_EIG_MAX_K];
    int n_hvp;       /* HVP passes over the sample set */
    double loss;     /* mean loss on the sample set */
} absa_eig_result;

void absa_eig_defaults(absa_eig_opts *o); /* HessianFlow reference settings */
absa_status absa_eig_check(const absa_eig_opts *o);

/* hv = H v over the n samples (hv and v: host vectors, n_params long; copied to and from the
 * backend buffers m->v and m->hv). */
absa_status absa_hessian_vp(absa_model *m, const float *x, const int32_t *y, int n, int chunk,
                            int train, const float *v, float *hv, double *loss);

/* The operator of a power iteration: H v over a sample set that may be spread over ranks. hv
 * computes this rank's share of H v (all n_params entries, chunk-weighted by n_chunk/n_total) and of
 * the loss sum (sum over its samples of the per-sample loss); the reduce hooks sum a vector / a
 * few doubles over the ranks in place (NULL: one rank, nothing to sum). After the reduction every
 * rank holds the same H v, so the iteration runs identically on all of them; the serial case is
 * the one-rank case (no hooks), which keeps the result bitwise that of one process. */
typedef struct absa_hv_op {
    size_t n_params;
    int n_total; /* samples over all ranks; the reported loss is the reduced loss sum / n_total */
    absa_status (*hv)(void *ctx, const float *v, float *hv, double *loss_sum);
    void (*reduce_f32)(void *ctx, float *x, size_t n);  /* optional */
    void (*reduce_f64)(void *ctx, double *x, size_t n); /* optional */
    void *ctx;
} absa_hv_op;

/* This rank's part of a sample set spread over ranks: n_local samples of n_total in chunks of
 * `chunk`; absa_hv_local is an absa_hv_op.hv over it (ctx = the set). With `fixed` set the
 * caller promises that the parameters and the samples stay unchanged while the set is in use
 * (one power iteration, one trace): a set of one chunk then reuses the forward and backward
 * of its first HVP in the later ones (absa_model_hvp_again; the same bits). Whoever starts
 * using such a set calls absa_model_hvp_forget first (absa_power_iteration, the distributed one
 * and the trace do). */
typedef struct absa_hv_local_set {
    absa_model *m;
    const float *x;
    const int32_t *y;
    int n_local, n_total, chunk, train;
    int fixed;
} absa_hv_local_set;
absa_status absa_hv_local(const absa_hv_local_set *s, const float *v, float *hv, double *loss_sum);

/* The one power iteration (with deflation for topk > 1): Gaussian start from (opts->seed, stream
 * 0xE16) unless v0 (the unnormalised start of the first eigenvalue) is given, normalise,
 * lambda = <Hv, v>, v = Hv/|Hv|, absolute or relative stopping rule. eigvecs (topk * n_params
 * floats) may be NULL. opts->chunk and opts->train_mode are the operator's business. */
absa_status absa_power_iteration_op(const absa_hv_op *op, const absa_eig_opts *opts, const float *v0,
                                    absa_eig_result *res, float *eigvecs);

/* Power iteration on one process (absa_power_iteration_op over absa_hessian_vp's operator). If v0 is non-NULL it is the (unnormalised) start vector of the first
 * eigenvalue, otherwise a Gaussian from opts->seed. eigvecs (topk * n_params floats) may be NULL. */
absa_status absa_power_iteration(absa_model *m, const float *x, const int32_t *y, int n,
                                 const absa_eig_opts *opts, const float *v0, absa_eig_result *res,
                                 float *eigvecs);

/* Hutchinson: trace ~ mean over probes of <z, Hz>, z Rademacher. stderr_out may be NULL. */
absa_status absa_hutchinson_trace(absa_model *m, const float *x, const int32_t *y, int n,
                                  int chunk, int train, int probes, uint64_t seed, double *trace,
                                  double *stderr_out);
/* The same with a progress report (progress may be NULL). */
absa_status absa_hutchinson_trace_cb(absa_model *m, const float *x, const int32_t *y, int n,
                                     int chunk, int train, int probes, uint64_t seed, double *trace,
                                     double *stderr_out, absa_curv_progress progress, void *ctx);
#endif
