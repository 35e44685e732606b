/* test_oracle.c — the C engine (float32) against PyTorch (float64) on one fixture written by
 * gen_fixture.py: same weights (loaded with absa_checkpoint_load from the torch-written file),
 * same inputs. Compares, in train and eval mode, logits, loss, every parameter gradient, Hv,
 * the BN running statistics after a train-mode forward; the top eigenvalue after 20 power
 * iterations (absa_power_iteration, same start vector); the symmetry <u,Hw> = <Hu,w>;
 * and the losses of 5 SGD steps. Prints a table with torch's own float32 error next to ours.
 *
 *   test_oracle FIXTURE.h5        exit 0 pass, 1 fail, 77 fixture missing (generator skipped)
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "checkpoint.h"
#include "curvature.h"
#include "model.h"
#include "optim.h"

/* Tolerances (float32 engine vs float64 reference), issue #2 */
#define TOL_LOGITS 1e-5  /* ||dlogits|| / ||logits|| */
#define TOL_LOSS 1e-5    /* |dloss| / loss */
#define TOL_GRAD 1e-4    /* per tensor and overall */
#define TOL_HV 1e-4      /* overall ||dHv|| / ||Hv|| */
#define TOL_HV_TENSOR 1e-3 /* per tensor (catches a broken small layer the overall norm hides) */
#define TOL_RUNNING 1e-5 /* BN running mean / var per tensor */
#define TOL_EIG 1e-3
#define TOL_SYM 1e-4
#define TOL_SGD 1e-5
#define SGD_STRICT 3 /* losses before and after the first two steps */
#define TOL_SGD_UNSTABLE 1e-4 /* all steps, when torch float32 itself is off by > TOL_SGD */

typedef struct fixture {
    hid_t f;
    int N, P, T; /* batch, parameters, parameter tensors */
    float *x, *v, *v0, *sgd_x;
    int32_t *y, *sgd_y;
    int eig_iters, sgd_steps, sgd_N; /* sgd_N: the SGD run's batch (attribute sgd_batch, else N) */
    double sgd_lr, sgd_momentum, sgd_wd;
} fixture;

/* Reads a whole dataset of exactly n elements as memtype; aborts the test on error. */
static void rd(hid_t f, const char *path, hid_t memtype, size_t n, void *buf)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT), s = d < 0 ? -1 : H5Dget_space(d);
    hssize_t have = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
    if (have != (hssize_t)n || H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        fprintf(stderr, "test_oracle: fixture dataset %s: %lld elements, want %zu (or read error)\n",
                path, (long long)have, n);
        exit(1);
    }
    H5Sclose(s);
    H5Dclose(d);
}

static double rd_scalar(hid_t f, const char *path)
{
    double v;
    rd(f, path, H5T_NATIVE_DOUBLE, 1, &v);
    return v;
}

/* Attribute `name` of object `obj` (a path) as double; NAN when absent. */
static double rd_attr(hid_t f, const char *obj, const char *name)
{
    double v = NAN;
    if (H5Aexists_by_name(f, obj, name, H5P_DEFAULT) > 0) {
        hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_DOUBLE, &v);
        H5Aclose(a);
    }
    return v;
}

static void *xalloc(size_t n) { return absa_xcalloc(n ? n : 1, 1); }

/* ||c - ref|| / max(||ref||, floor) over n elements */
static double rel_err(size_t n, const float *c, const double *ref, double floor_)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)c[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return sqrt(num) / fmax(sqrt(den), floor_);
}

static double norm_d(size_t n, const double *a)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return sqrt(s);
}

static void row(const char *what, double c_err, double torch_err, double tol)
{
    int ok = c_err <= tol;
    printf("  %-30s %11.3e %13.3e %9.0e  %s\n", what, c_err, torch_err, tol, ok ? "ok" : "FAIL");
    CHECK(ok, "%s: C float32 relative error %.3e > %.0e (torch float32: %.3e)", what, c_err, tol, torch_err);
}

typedef struct state { float *params, *bufs; int64_t *counts; } state;

static void save_state(const absa_model *m, state *s)
{
    s->params = xalloc(m->n_params * sizeof(float));
    s->bufs = xalloc(m->n_bufs * sizeof(float));
    s->counts = xalloc((size_t)m->n_counts * sizeof(int64_t));
    absa_model_get(m, m->params, s->params, m->n_params); /* backend memory: copies only */
    absa_model_get(m, m->bufs, s->bufs, m->n_bufs);
    memcpy(s->counts, m->num_batches_tracked, (size_t)m->n_counts * sizeof(int64_t));
}

static void restore_state(absa_model *m, const state *s)
{
    absa_model_set(m, m->params, s->params, m->n_params);
    absa_model_set(m, m->bufs, s->bufs, m->n_bufs);
    memcpy(m->num_batches_tracked, s->counts, (size_t)m->n_counts * sizeof(int64_t));
}

/* Per-tensor errors kept for the final table: [mode][grad|hv][param tensor] */
typedef struct tensor_errs { double c[2][2][512], t[2][2][512]; } tensor_errs;

/* Per parameter tensor: relative error of got against ref (a tensor whose reference is ~0 is
 * compared against 1e-6 of the total norm), kept in ce[] beside torch float32's tf32[] (into
 * te[]) for the final table, and checked against tol. */
static void per_tensor(const absa_model *m, const float *got, const double *ref, double norm, double tol,
                       const double *tf32, double *ce, double *te, const char *mode, const char *what)
{
    for (int i = 0, k = 0; i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        if (t->kind != ABSA_TENSOR_PARAM) continue;
        double e = rel_err(t->numel, got + t->offset, ref + t->offset, 1e-6 * norm);
        ce[k] = e;
        te[k] = tf32[k];
        CHECK(e <= tol, "%s %s of %s: rel error %.3e > %.0e (torch f32 %.3e)", mode, what, t->name, e,
              tol, tf32[k]);
        k++;
    }
}

static void compare_mode(absa_model *m, const fixture *fx, const state *s0, int train, tensor_errs *te)
{
    const char *mode = train ? "train" : "eval";
    char path[64], what[160];
    const size_t P = m->n_params, NK = (size_t)fx->N * m->n_classes;
    double *ref = xalloc((P > NK ? P : NK) * sizeof(double));
    float *host = xalloc((P > m->n_bufs ? P : m->n_bufs) * sizeof(float) + 1); /* copies of backend buffers */
    snprintf(path, sizeof path, "/baseline_f32/%s", mode);

    restore_state(m, s0);
    const float *logits = absa_model_forward(m, fx->x, fx->N, train, train);
    CHECK(logits != NULL, "forward failed: %s", absa_last_error());
    if (!logits) exit(1);
    double loss = absa_model_loss(m, fx->y);
    snprintf(what, sizeof what, "/expected/%s/logits", mode);
    rd(fx->f, what, H5T_NATIVE_DOUBLE, NK, ref);
    snprintf(what, sizeof what, "%-5s logits", mode);
    row(what, rel_err(NK, logits, ref, 1e-30), rd_attr(fx->f, path, "logits"), TOL_LOGITS);
    snprintf(what, sizeof what, "/expected/%s/loss", mode);
    double loss_ref = rd_scalar(fx->f, what);
    snprintf(what, sizeof what, "%-5s loss (%.6f)", mode, loss_ref);
    row(what, fabs(loss - loss_ref) / fabs(loss_ref), rd_attr(fx->f, path, "loss"), TOL_LOSS);

    if (train) { /* BN running statistics after exactly one train-mode forward */
        double worst = 0;
        int n_bn = 0;
        absa_model_get(m, m->bufs, host, m->n_bufs);
        for (int i = 0; i < m->n_tensors; i++) {
            const absa_tensor_info *t = &m->tensors[i];
            snprintf(what, sizeof what, "/expected/train/running/%s", t->name);
            if (t->kind == ABSA_TENSOR_BUF) {
                rd(fx->f, what, H5T_NATIVE_DOUBLE, t->numel, ref);
                double e = rel_err(t->numel, host + t->offset, ref, 1e-30);
                worst = fmax(worst, e);
                n_bn++;
            } else if (t->kind == ABSA_TENSOR_COUNT) {
                int64_t c;
                rd(fx->f, what, H5T_NATIVE_INT64, 1, &c);
                CHECK(c == m->num_batches_tracked[t->offset], "%s: %lld, want %lld", t->name,
                      (long long)m->num_batches_tracked[t->offset], (long long)c);
            }
        }
        if (n_bn) row("train BN running stats (max)", worst, rd_attr(fx->f, path, "running_max"), TOL_RUNNING);
    }

    absa_model_zero_grad(m);
    absa_model_backward(m, fx->x, fx->y, 1.0, 0);
    absa_model_get(m, m->grad, host, P);
    snprintf(what, sizeof what, "/expected/%s/grad", mode);
    rd(fx->f, what, H5T_NATIVE_DOUBLE, P, ref);
    double gnorm = norm_d(P, ref);
    snprintf(what, sizeof what, "%-5s gradient (all)", mode);
    row(what, rel_err(P, host, ref, 1e-30), rd_attr(fx->f, path, "grad"), TOL_GRAD);
    double *tg = xalloc((size_t)fx->T * sizeof(double)), *th = xalloc((size_t)fx->T * sizeof(double));
    snprintf(what, sizeof what, "%s/grad_tensor", path);
    rd(fx->f, what, H5T_NATIVE_DOUBLE, (size_t)fx->T, tg);
    snprintf(what, sizeof what, "%s/hv_tensor", path);
    rd(fx->f, what, H5T_NATIVE_DOUBLE, (size_t)fx->T, th);
    per_tensor(m, host, ref, gnorm, TOL_GRAD, tg, te->c[train][0], te->t[train][0], mode, "gradient");

    restore_state(m, s0);
    absa_model_set(m, m->v, fx->v, P);
    absa_be_zero(m->be, m->hv, P);
    double hl = 0;
    absa_status st = absa_model_hvp(m, fx->x, fx->y, fx->N, train, 1.0, &hl);
    CHECK(st == ABSA_OK, "hvp: %s", absa_last_error());
    absa_model_get(m, m->bufs, host, m->n_bufs);
    CHECK(!memcmp(host, s0->bufs, m->n_bufs * sizeof(float)), "hvp changed the running statistics");
    absa_model_get(m, m->hv, host, P);
    snprintf(what, sizeof what, "/expected/%s/hv", mode);
    rd(fx->f, what, H5T_NATIVE_DOUBLE, P, ref);
    double hnorm = norm_d(P, ref);
    snprintf(what, sizeof what, "%-5s Hv (all)", mode);
    row(what, rel_err(P, host, ref, 1e-30), rd_attr(fx->f, path, "hv"), TOL_HV);
    CHECK(fabs(hl - loss_ref) <= TOL_LOSS * loss_ref, "hvp loss %.8f vs %.8f", hl, loss_ref);
    per_tensor(m, host, ref, hnorm, TOL_HV_TENSOR, th, te->c[train][1], te->t[train][1], mode, "Hv");
    free(tg);
    free(th);
    free(ref);
    free(host);
}

/* absa_power_iteration (curvature.c) from the fixture's start vector, with a tolerance it cannot
 * reach so it runs all iterations: lambda = <Hv, v>, v = Hv/|Hv|, eval mode, as torch did. */
static void compare_eig(absa_model *m, const fixture *fx, const state *s0)
{
    double *lam_ref = xalloc((size_t)fx->eig_iters * sizeof(double));
    rd(fx->f, "/expected/eig/lambda", H5T_NATIVE_DOUBLE, (size_t)fx->eig_iters, lam_ref);
    restore_state(m, s0);
    absa_eig_opts o;
    absa_eig_defaults(&o);
    o.max_iters = fx->eig_iters;
    o.tol = 1e-300;
    o.chunk = fx->N;
    absa_eig_result res;
    memset(&res, 0, sizeof res);
    absa_status st = absa_power_iteration(m, fx->x, fx->y, fx->N, &o, fx->v0, &res, NULL);
    CHECK(st == ABSA_OK && res.k == 1 && res.iters[0] == fx->eig_iters,
          "absa_power_iteration: %s (%d iterations)", st == ABSA_OK ? "" : absa_last_error(), res.iters[0]);
    if (st == ABSA_OK && res.iters[0] >= 1) {
        double r = lam_ref[res.iters[0] - 1];
        char what[128];
        snprintf(what, sizeof what, "eig, %d power it. (%.6g)", res.iters[0], r);
        row(what, fabs(res.eig[0] - r) / fabs(r), rd_attr(fx->f, "/baseline_f32", "eig"), TOL_EIG);
    }
    free(lam_ref);
}

/* <u, H w> = <H u, w> for random u and w = u + z (so the products are far from zero). */
static void symmetry(absa_model *m, const fixture *fx, const state *s0, int train)
{
    const size_t P = m->n_params;
    float *u = xalloc(P * sizeof(float)), *w = xalloc(P * sizeof(float)), *hu = xalloc(P * sizeof(float));
    float *hw = xalloc(P * sizeof(float));
    uint64_t seed = 12345 + (uint64_t)train;
    for (size_t i = 0; i < P; i++) {
        u[i] = (float)absa_test_normal(&seed);
        w[i] = u[i] + (float)absa_test_normal(&seed);
    }
    restore_state(m, s0);
    absa_status st = absa_hessian_vp(m, fx->x, fx->y, fx->N, fx->N, train, u, hu, NULL);
    st = st == ABSA_OK ? absa_hessian_vp(m, fx->x, fx->y, fx->N, fx->N, train, w, hw, NULL) : st;
    CHECK(st == ABSA_OK, "hessian_vp: %s", absa_last_error());
    double a = absa_vec_dot(P, u, hw), b = absa_vec_dot(P, hu, w);
    char what[128];
    snprintf(what, sizeof what, "%-5s <u,Hw> vs <Hu,w> (%.4g)", train ? "train" : "eval", a);
    row(what, fabs(a - b) / fmax(fabs(a), fabs(b)), NAN, TOL_SYM);
    free(u);
    free(w);
    free(hu);
    free(hw);
}

static void compare_sgd(absa_model *m, const fixture *fx, const state *s0)
{
    const int S = fx->sgd_steps, N = fx->sgd_N;
    const size_t per = (size_t)N * m->in_c * m->in_h * m->in_w;
    double *ref = xalloc((size_t)(S + 1) * sizeof(double)), worst = 0, worst_strict = 0;
    rd(fx->f, "/expected/sgd/losses", H5T_NATIVE_DOUBLE, (size_t)S + 1, ref);
    restore_state(m, s0);
    absa_sgd opt;
    memset(&opt, 0, sizeof opt);
    opt.lr = fx->sgd_lr;
    opt.momentum = fx->sgd_momentum;
    opt.weight_decay = fx->sgd_wd;
    printf("  SGD losses (C / torch f64):");
    for (int k = 0; k <= S; k++) {
        absa_model_zero_grad(m);
        absa_model_forward(m, fx->sgd_x + k * per, N, 1, 1);
        double l = absa_model_loss(m, fx->sgd_y + (size_t)k * N);
        worst = fmax(worst, fabs(l - ref[k]) / fabs(ref[k]));
        if (k < SGD_STRICT) worst_strict = worst;
        printf(" %.6f/%.6f", l, ref[k]);
        if (k == S) break;
        absa_model_backward(m, fx->sgd_x + k * per, fx->sgd_y + (size_t)k * N, 1.0, 0);
        absa_sgd_step(m, &opt);
    }
    printf("\n");
    /* The first SGD_STRICT losses (a plain step, then one with momentum and weight decay) must
     * match to TOL_SGD. Over all steps, when lr * lambda_max > 2 the trajectory is unstable
     * and amplifies float32 rounding (c1: lambda ~ 650, lr 0.05): when torch's own float32 run
     * misses TOL_SGD, ours is held to TOL_SGD_UNSTABLE instead. (What pushed both past TOL_SGD
     * was a ReLU-kink or max-pool flip along the run; gen_fixture.py now keeps the SGD inputs
     * off those, and every model meets TOL_SGD.) */
    double base = rd_attr(fx->f, "/baseline_f32", "sgd_losses");
    char what[64];
    snprintf(what, sizeof what, "SGD first %d losses (max)", SGD_STRICT);
    row(what, worst_strict, NAN, TOL_SGD);
    snprintf(what, sizeof what, "SGD %d steps, losses (max)", S);
    row(what, worst, base, base > TOL_SGD ? TOL_SGD_UNSTABLE : TOL_SGD);
    free(ref);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: test_oracle FIXTURE.h5 [DEVICE]   (DEVICE: cpu (default) | cpu-guarded)\n");
        return 2;
    }
    const char *device = argc == 3 ? argv[2] : "cpu";
    const char *path = argv[1];
    if (access(path, R_OK) != 0) {
        printf("test_oracle: fixture %s not found (generator skipped?): skipped\n", path);
        return 77;
    }
    char name[64];
    int C, H, W, K;
    absa_model *m = NULL;
    if (absa_checkpoint_peek(path, name, sizeof name, &C, &H, &W, &K) != ABSA_OK ||
        absa_model_create_on(name, C, H, W, K, device, &m) != ABSA_OK) {
        fprintf(stderr, "test_oracle: %s\n", absa_last_error());
        return 1;
    }
    /* the torch-written state_dict goes through the real checkpoint loader */
    if (absa_checkpoint_load(path, m, NULL) != ABSA_OK) {
        fprintf(stderr, "test_oracle: %s\n", absa_last_error());
        return 1;
    }
    fixture fx;
    memset(&fx, 0, sizeof fx);
    fx.f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(fx.f, "/data/y", H5P_DEFAULT), s = H5Dget_space(d);
    fx.N = (int)H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    H5Dclose(d);
    fx.P = (int)m->n_params;
    const size_t per = (size_t)C * H * W;
    fx.eig_iters = (int)rd_attr(fx.f, "/expected", "eig_iters");
    fx.sgd_steps = (int)rd_attr(fx.f, "/expected", "sgd_steps");
    fx.sgd_lr = rd_attr(fx.f, "/expected", "sgd_lr");
    fx.sgd_momentum = rd_attr(fx.f, "/expected", "sgd_momentum");
    fx.sgd_wd = rd_attr(fx.f, "/expected", "sgd_weight_decay");
    fx.x = xalloc((size_t)fx.N * per * sizeof(float));
    fx.y = xalloc((size_t)fx.N * sizeof(int32_t));
    fx.v = xalloc(m->n_params * sizeof(float));
    fx.v0 = xalloc(m->n_params * sizeof(float));
    const double sgd_batch = rd_attr(fx.f, "/expected", "sgd_batch");
    fx.sgd_N = isnan(sgd_batch) ? fx.N : (int)sgd_batch;
    fx.sgd_x = xalloc((size_t)(fx.sgd_steps + 1) * fx.sgd_N * per * sizeof(float));
    fx.sgd_y = xalloc((size_t)(fx.sgd_steps + 1) * fx.sgd_N * sizeof(int32_t));
    rd(fx.f, "/data/x", H5T_NATIVE_FLOAT, (size_t)fx.N * per, fx.x);
    rd(fx.f, "/data/y", H5T_NATIVE_INT32, (size_t)fx.N, fx.y);
    rd(fx.f, "/data/v", H5T_NATIVE_FLOAT, m->n_params, fx.v);
    rd(fx.f, "/data/v0", H5T_NATIVE_FLOAT, m->n_params, fx.v0);
    rd(fx.f, "/data/sgd_x", H5T_NATIVE_FLOAT, (size_t)(fx.sgd_steps + 1) * fx.sgd_N * per, fx.sgd_x);
    rd(fx.f, "/data/sgd_y", H5T_NATIVE_INT32, (size_t)(fx.sgd_steps + 1) * fx.sgd_N, fx.sgd_y);

    /* the parameter arena must be torch's parameters_to_vector layout */
    for (int i = 0; i < m->n_tensors; i++) fx.T += m->tensors[i].kind == ABSA_TENSOR_PARAM;
    int64_t *offs = xalloc((size_t)(fx.T + 1) * sizeof(int64_t));
    rd(fx.f, "/meta/param_offsets", H5T_NATIVE_INT64, (size_t)fx.T + 1, offs);
    for (int i = 0, k = 0; i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        if (t->kind != ABSA_TENSOR_PARAM) continue;
        CHECK((int64_t)t->offset == offs[k] && (int64_t)(t->offset + t->numel) == offs[k + 1],
              "%s at [%zu, %zu), torch parameters() has [%lld, %lld)", t->name, t->offset,
              t->offset + t->numel, (long long)offs[k], (long long)offs[k + 1]);
        k++;
    }
    CHECK(fx.T <= 512, "too many parameter tensors");
    if (absa_test_st.failures) return absa_test_finish("test_oracle");

    printf("oracle %s %dx%dx%d, N=%d, %zu parameters in %d tensors\n", name, C, H, W, fx.N,
           m->n_params, fx.T);
    printf("  %-30s %11s %13s %9s\n", "quantity", "C f32 err", "torch f32 err", "tol");
    state s0;
    save_state(m, &s0);
    tensor_errs *te = xalloc(sizeof *te);
    compare_mode(m, &fx, &s0, 0, te);
    compare_mode(m, &fx, &s0, 1, te);
    compare_eig(m, &fx, &s0);
    symmetry(m, &fx, &s0, 0);
    symmetry(m, &fx, &s0, 1);
    compare_sgd(m, &fx, &s0);

    printf("  per tensor, relative error C f32 [torch f32] vs torch f64:\n");
    printf("  %-34s %9s %21s %21s %21s %21s\n", "tensor", "numel", "grad eval", "grad train",
           "Hv eval", "Hv train");
    for (int i = 0, k = 0; i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        if (t->kind != ABSA_TENSOR_PARAM) continue;
        printf("  %-34s %9zu", t->name, t->numel);
        for (int q = 0; q < 2; q++)
            for (int md = 0; md < 2; md++) printf("  %8.2e [%8.2e]", te->c[md][q][k], te->t[md][q][k]);
        printf("\n");
        k++;
    }
    H5Fclose(fx.f);
    free(te);
    free(offs);
    free(s0.params);
    free(s0.bufs);
    free(s0.counts);
    free(fx.x);
    free(fx.y);
    free(fx.v);
    free(fx.v0);
    free(fx.sgd_x);
    free(fx.sgd_y);
    absa_model_free(m);
    return absa_test_finish("test_oracle");
}
