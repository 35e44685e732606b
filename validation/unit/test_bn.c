/* test_bn.c — batch-norm kernels (src/engine/cpu/bn.c) against PyTorch values, closed forms and central
 * finite differences in double, in train and eval mode:
 *  - forward, running-stat update, backward, R-forward and R-backward against numbers produced
 *    once by torch 1.13 (BatchNorm2d, autograd, torch.autograd.functional.jvp) for a tiny input;
 *  - forward and running statistics against a naive closed form (N*HW = 15 and N*HW = 2);
 *  - backward: per-coordinate FD of <r, y> over (x, gamma, beta);
 *  - R-forward: FD of the forward along (Rx, Vgamma, Vbeta);
 *  - R-backward: FD of the backward map (x, gamma, dy) -> (dx, dgamma, dbeta) along (Rx, Vgamma,
 *    Rdy), recomputing the batch statistics at the perturbed x in train mode;
 *  - NULL inputs mean zero, NULL outputs are skipped, backward passes accumulate (+=);
 *  - the float32 instance agrees with the float64 one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

/* Produced once with /usr/bin/python3 (Debian torch 1.13, float64) from the inputs x, gamma,
 * beta, dy, Rx, Vgamma, Vbeta, Rdy below: BatchNorm2d(2, eps=1e-5, momentum=0.1) with
 * running_mean [0.5, -1], running_var [2, 0.5]; one train-mode forward (y, updated running
 * stats), then an eval-mode forward with the updated running stats. Backward by autograd,
 * R-passes by torch.autograd.functional.jvp of the functional forward and of the backward
 * (autograd.grad with create_graph). Shape N=2, C=2, H=1, W=3. */
static const double tx[12] = {0.5, -1.25, 2.0, 0.75, 1.5, -0.5, 3.0, -2.0, 0.25, 1.0, 0.0, -1.5};
static const double tg_gamma[2] = {1.5, -0.75}, tg_beta[2] = {0.25, -0.5};
static const double tdy[12] = {0.3, -0.2, 0.7, 1.1, -0.4, 0.05, -0.6, 0.9, 0.2, -0.35, 0.45, 0.8};
static const double tRx[12] = {0.1, 0.4, -0.3, 0.2, -0.7, 0.6, 0.5, -0.15, 0.35, -0.45, 0.05, 0.25};
static const double tVg[2] = {0.2, -0.3}, tVb[2] = {0.15, 0.4};
static const double tRdy[12] = {-0.2, 0.6,   0.1,  -0.3, 0.45, -0.55,
                                0.25, 0.15, -0.65, 0.3,  -0.1, 0.5};
static const double torch_y_train[12] = {0.32250511470730636, -1.2001022941461272, 1.6275971794388209, -0.90449615408131767, -1.4645677520400653, 0.028956509183261592, 2.4976585559264972, -1.8526483265118845, 0.10498977058538726, -1.0911866867342335, -0.34442455612257011, 0.77571863979492495};
static const double torch_rm[2] = {0.4916666666666667, -0.87916666666666665};
static const double torch_rv[2] = {2.1566666666666667, 0.57104166666666667};
static const double torch_dx_train[12] = {0.081822329408504216, -0.54886986756048883, 0.59755674462513597, -0.72928086207390175, 0.23412095863228322, 0.31605500042052825, -0.42171646839446908, 0.32434271426517458, -0.033135452343856939, 0.30127710224257342, -0.087144101965010462, -0.035028097256472525};
static const double torch_dg_train[2] = {-1.3292604363006162, -1.6864378116313399};
static const double torch_db_train[2] = {1.2999999999999998, 1.6500000000000004};
static const double torch_Ry_train[12] = {0.11428389647265166, 0.21177603818120982, -0.093575278775780507, -0.052018966858964621, 0.20960668810171509, 0.33337661854606565, 0.69591740597878615, -0.33684040656033132, 0.30843834470346432, 0.29655633050867758, 0.47045561532260227, 1.1420237143799041};
static const double torch_Rdx_train[12] = {-0.2023196200319223, 0.35982956329838128, 0.15482796634748988, -0.31606328178194609, 0.018804494185314796, 0.55179422089601238, 0.32228868903377994, -0.04214091651465509, -0.59248568213307373, 0.12725487220543863, 0.035735596223023081, -0.41752590172784271};
static const double torch_Rdg_train[2] = {-0.71184561965944138, 0.56997829517542309};
static const double torch_Rdb_train[2] = {0.25, 0.29999999999999993};
static const double torch_y_eval[12] = {0.25851172322319571, -1.5289501536479073, 1.790621903398427, -2.1169220269729561, -2.861285108443882, -0.87631689118807932, 2.8120286901819145, -2.2950052437355231, 0.0031600265273238337, -2.3650430541299312, -1.3725589455020299, 0.11616721743982195};

/* max_i |got - want| / max(max_i |want|, 1e-300) <= tol */
static void check_vec(const char *what, size_t n, const double *got, const double *want, double tol)
{
    double err = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    double rel = err / fmax(scale, 1e-300);
    printf("  %-44s n=%zu rel=%.3e\n", what, n, rel);
    CHECK(rel <= tol && scale > 0, "%s: rel error %.3e > %.1e", what, rel, tol);
}

static double *dvec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static void fill_normal(uint64_t *s, size_t n, double *a, double mean, double sd)
{
    for (size_t i = 0; i < n; i++) a[i] = mean + sd * absa_test_normal(s);
}

/* One BN problem in double: inputs, a direction, and fixed running statistics for eval mode. */
typedef struct prob {
    absa_bn_cfg c;
    size_t n; /* N*C*HW */
    double *x, *gamma, *beta, *dy, *Rx, *Vg, *Vb, *Rdy, *rm, *rv;
} prob;

static void prob_init(prob *p, int N, int C, int HW, uint64_t seed)
{
    uint64_t s = seed;
    p->c = (absa_bn_cfg){.N = N, .C = C, .HW = HW, .eps = 1e-5, .momentum = 0.1};
    p->n = (size_t)N * C * HW;
    double **v[] = {&p->x, &p->dy, &p->Rx, &p->Rdy};
    for (int i = 0; i < 4; i++) *v[i] = dvec(p->n);
    double **w[] = {&p->gamma, &p->beta, &p->Vg, &p->Vb, &p->rm, &p->rv};
    for (int i = 0; i < 6; i++) *w[i] = dvec((size_t)C);
    fill_normal(&s, p->n, p->x, 0.7, 1.3); /* non-zero mean: the centring matters */
    fill_normal(&s, p->n, p->dy, 0, 1);
    fill_normal(&s, p->n, p->Rx, 0.2, 1);
    fill_normal(&s, p->n, p->Rdy, 0, 1);
    for (int ch = 0; ch < C; ch++) {
        p->gamma[ch] = 0.5 + absa_test_uniform(&s);
        p->beta[ch] = absa_test_normal(&s);
        p->Vg[ch] = absa_test_normal(&s);
        p->Vb[ch] = absa_test_normal(&s);
        p->rm[ch] = 0.3 * absa_test_normal(&s);
        p->rv[ch] = 0.5 + absa_test_uniform(&s);
    }
}

static void prob_free(prob *p)
{
    double *all[] = {p->x, p->gamma, p->beta, p->dy, p->Rx, p->Vg, p->Vb, p->Rdy, p->rm, p->rv};
    for (int i = 0; i < 10; i++) free(all[i]);
}

/* forward without touching the problem's running statistics; fills sm/si */
static void fwd(const prob *p, int train, const double *x, const double *g, const double *b,
                double *sm, double *si, double *y)
{
    int C = p->c.C;
    double *rm = dvec((size_t)C), *rv = dvec((size_t)C);
    memcpy(rm, p->rm, C * sizeof(double));
    memcpy(rv, p->rv, C * sizeof(double));
    absa_bn_forward_f64(&p->c, train, x, g, b, train ? NULL : rm, train ? NULL : rv, sm, si, y);
    free(rm);
    free(rv);
}

/* the backward map into zeroed buffers out = [dx | dgamma | dbeta] */
static void bwd_map(const prob *p, int train, const double *x, const double *g, const double *dy,
                    double *out)
{
    size_t n = p->n, C = (size_t)p->c.C;
    double *sm = dvec(C), *si = dvec(C), *y = dvec(n);
    fwd(p, train, x, g, p->beta, sm, si, y);
    memset(out, 0, (n + 2 * C) * sizeof(double));
    absa_bn_backward_f64(&p->c, train, x, g, sm, si, dy, out, out + n, out + n + C);
    free(sm);
    free(si);
    free(y);
}

static void test_torch(void)
{
    absa_bn_cfg c = {.N = 2, .C = 2, .HW = 3, .eps = 1e-5, .momentum = 0.1};
    double rm[2] = {0.5, -1.0}, rv[2] = {2.0, 0.5}, sm[2], si[2], y[12];
    absa_bn_forward_f64(&c, 1, tx, tg_gamma, tg_beta, rm, rv, sm, si, y);
    check_vec("torch: train forward y", 12, y, torch_y_train, 1e-13);
    check_vec("torch: running_mean update", 2, rm, torch_rm, 1e-14);
    check_vec("torch: running_var update (unbiased)", 2, rv, torch_rv, 1e-14);
    double dx[12] = {0}, dg[2] = {0}, db[2] = {0};
    absa_bn_backward_f64(&c, 1, tx, tg_gamma, sm, si, tdy, dx, dg, db);
    check_vec("torch: train backward dx", 12, dx, torch_dx_train, 1e-12);
    check_vec("torch: train backward dgamma", 2, dg, torch_dg_train, 1e-13);
    check_vec("torch: train backward dbeta", 2, db, torch_db_train, 1e-13);
    double Ry[12];
    absa_bn_rforward_f64(&c, 1, tx, tRx, tg_gamma, tVg, tVb, sm, si, Ry);
    check_vec("torch: train R-forward", 12, Ry, torch_Ry_train, 1e-12);
    double Rdx[12] = {0}, Rdg[2] = {0}, Rdb[2] = {0};
    absa_bn_rbackward_f64(&c, 1, tx, tRx, tg_gamma, tVg, sm, si, tdy, tRdy, Rdx, Rdg, Rdb);
    check_vec("torch: train R-backward Rdx", 12, Rdx, torch_Rdx_train, 1e-12);
    check_vec("torch: train R-backward Rdgamma", 2, Rdg, torch_Rdg_train, 1e-12);
    check_vec("torch: train R-backward Rdbeta", 2, Rdb, torch_Rdb_train, 1e-13);
    /* eval mode with the running statistics updated by the train forward above */
    double rm0[2] = {rm[0], rm[1]}, rv0[2] = {rv[0], rv[1]};
    absa_bn_forward_f64(&c, 0, tx, tg_gamma, tg_beta, rm0, rv0, sm, si, y);
    check_vec("torch: eval forward y", 12, y, torch_y_eval, 1e-13);
    CHECK(rm0[0] == rm[0] && rv0[1] == rv[1], "eval forward must not touch the running statistics");
}

/* closed-form statistics and running update, straight from the definitions */
static void test_closed_form(int N, int C, int HW, uint64_t seed)
{
    prob p;
    prob_init(&p, N, C, HW, seed);
    size_t n = p.n;
    double *y = dvec(n), *sm = dvec(C), *si = dvec(C), *rm = dvec(C), *rv = dvec(C);
    double *want = dvec(n), *wrm = dvec(C), *wrv = dvec(C), *wsi = dvec(C), *wsm = dvec(C);
    memcpy(rm, p.rm, C * sizeof(double));
    memcpy(rv, p.rv, C * sizeof(double));
    absa_bn_forward_f64(&p.c, 1, p.x, p.gamma, p.beta, rm, rv, sm, si, y);
    double cnt = (double)N * HW;
    for (int ch = 0; ch < C; ch++) {
        double s = 0, ss = 0;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++) s += p.x[((size_t)j * C + ch) * HW + i];
        double mu = s / cnt;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++) {
                double d = p.x[((size_t)j * C + ch) * HW + i] - mu;
                ss += d * d;
            }
        double var = ss / cnt, unb = ss / (cnt - 1);
        wsm[ch] = mu;
        wsi[ch] = 1 / sqrt(var + 1e-5);
        wrm[ch] = 0.9 * p.rm[ch] + 0.1 * mu;
        wrv[ch] = 0.9 * p.rv[ch] + 0.1 * unb;
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++) {
                size_t k = ((size_t)j * C + ch) * HW + i;
                want[k] = p.gamma[ch] * (p.x[k] - mu) / sqrt(var + 1e-5) + p.beta[ch];
            }
    }
    char what[96];
    snprintf(what, sizeof what, "closed form N*HW=%d: train y", N * HW);
    check_vec(what, n, y, want, 1e-13);
    check_vec("  save_mean", C, sm, wsm, 1e-13);
    check_vec("  save_invstd", C, si, wsi, 1e-13);
    check_vec("  running_mean", C, rm, wrm, 1e-14);
    check_vec("  running_var", C, rv, wrv, 1e-14);
    /* eval mode: running statistics, save pair filled from them, running untouched */
    absa_bn_forward_f64(&p.c, 0, p.x, p.gamma, p.beta, p.rm, p.rv, sm, si, y);
    for (int ch = 0; ch < C; ch++) {
        wsm[ch] = p.rm[ch];
        wsi[ch] = 1 / sqrt(p.rv[ch] + 1e-5);
        for (int j = 0; j < N; j++)
            for (int i = 0; i < HW; i++) {
                size_t k = ((size_t)j * C + ch) * HW + i;
                want[k] = p.gamma[ch] * (p.x[k] - p.rm[ch]) * wsi[ch] + p.beta[ch];
            }
    }
    check_vec("  eval y", n, y, want, 1e-13);
    check_vec("  eval save_mean = running_mean", C, sm, wsm, 0);
    check_vec("  eval save_invstd", C, si, wsi, 1e-15);
    /* train mode without running pointers: statistics still saved, y the same */
    double *y2 = dvec(n);
    absa_bn_forward_f64(&p.c, 1, p.x, p.gamma, p.beta, rm, rv, sm, si, y);
    memcpy(wsm, sm, C * sizeof(double));
    memcpy(wsi, si, C * sizeof(double));
    memset(sm, 0, C * sizeof(double));
    memset(si, 0, C * sizeof(double));
    absa_bn_forward_f64(&p.c, 1, p.x, p.gamma, p.beta, NULL, NULL, sm, si, y2);
    check_vec("  train, running NULL: save_mean", C, sm, wsm, 0);
    check_vec("  train, running NULL: save_invstd", C, si, wsi, 0);
    check_vec("  train, running NULL: y", n, y2, y, 0);
    free(y2);
    double *all[] = {y, sm, si, rm, rv, want, wrm, wrv, wsi, wsm};
    for (int i = 0; i < 10; i++) free(all[i]);
    prob_free(&p);
}

/* FD checks of backward, R-forward and R-backward in one mode */
static void test_fd(int N, int C, int HW, int train, uint64_t seed)
{
    const double eps = 1e-5, tol = 1e-6;
    prob p;
    prob_init(&p, N, C, HW, seed);
    size_t n = p.n, Cs = (size_t)C, m = n + 2 * Cs;
    uint64_t s = seed ^ 0x5555;
    double *r = dvec(n), *y = dvec(n), *sm = dvec(Cs), *si = dvec(Cs);
    fill_normal(&s, n, r, 0, 1);
    const char *mode = train ? "train" : "eval";
    char what[96];

    /* backward: gradient of <r, y> w.r.t. theta = [x | gamma | beta], coordinate by coordinate */
    double *theta = dvec(m), *grad = dvec(m), *plus = dvec(m), *minus = dvec(m);
    memcpy(theta, p.x, n * sizeof(double));
    memcpy(theta + n, p.gamma, Cs * sizeof(double));
    memcpy(theta + n + Cs, p.beta, Cs * sizeof(double));
    fwd(&p, train, p.x, p.gamma, p.beta, sm, si, y);
    absa_bn_backward_f64(&p.c, train, p.x, p.gamma, sm, si, r, grad, grad + n, grad + n + Cs);
    for (size_t k = 0; k < m; k++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            double keep = theta[k];
            theta[k] = keep + sign * eps;
            fwd(&p, train, theta, theta + n, theta + n + Cs, sm, si, y);
            theta[k] = keep;
            double dot = 0;
            for (size_t i = 0; i < n; i++) dot += r[i] * y[i];
            (sign > 0 ? plus : minus)[k] = dot;
        }
    }
    snprintf(what, sizeof what, "%s N=%d C=%d HW=%d backward", mode, N, C, HW);
    absa_test_fd(what, m, grad, plus, minus, eps, tol);

    /* R-forward along (Rx, Vgamma, Vbeta) */
    double *Ry = dvec(n), *yp = dvec(n), *ym = dvec(n), *xs = dvec(n);
    double *gs = dvec(Cs), *bs = dvec(Cs);
    fwd(&p, train, p.x, p.gamma, p.beta, sm, si, y);
    absa_bn_rforward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, p.Vb, sm, si, Ry);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (size_t i = 0; i < n; i++) xs[i] = p.x[i] + sign * eps * p.Rx[i];
        for (size_t i = 0; i < Cs; i++) {
            gs[i] = p.gamma[i] + sign * eps * p.Vg[i];
            bs[i] = p.beta[i] + sign * eps * p.Vb[i];
        }
        fwd(&p, train, xs, gs, bs, sm, si, sign > 0 ? yp : ym);
    }
    snprintf(what, sizeof what, "%s N=%d C=%d HW=%d R-forward", mode, N, C, HW);
    absa_test_fd(what, n, Ry, yp, ym, eps, tol);

    /* R-backward along (Rx, Vgamma, Rdy) */
    double *Rb = dvec(m), *dys = dvec(n);
    fwd(&p, train, p.x, p.gamma, p.beta, sm, si, y);
    absa_bn_rbackward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, Rb, Rb + n,
                          Rb + n + Cs);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (size_t i = 0; i < n; i++) {
            xs[i] = p.x[i] + sign * eps * p.Rx[i];
            dys[i] = p.dy[i] + sign * eps * p.Rdy[i];
        }
        for (size_t i = 0; i < Cs; i++) gs[i] = p.gamma[i] + sign * eps * p.Vg[i];
        bwd_map(&p, train, xs, gs, dys, sign > 0 ? plus : minus);
    }
    snprintf(what, sizeof what, "%s N=%d C=%d HW=%d R-backward", mode, N, C, HW);
    absa_test_fd(what, m, Rb, plus, minus, eps, tol);

    /* NULL inputs mean zero: Rx, Vgamma, Vbeta, Rdy */
    double *zero = dvec(n), *alt = dvec(m);
    for (size_t i = 0; i < n; i++) ym[i] = NAN;
    absa_bn_rforward_f64(&p.c, train, p.x, NULL, p.gamma, NULL, NULL, sm, si, ym);
    for (size_t i = 0; i < n; i++)
        CHECK(ym[i] == 0, "R-forward, zero direction: Ry[%zu]=%g", i, ym[i]);
    absa_bn_rforward_f64(&p.c, train, p.x, NULL, p.gamma, p.Vg, p.Vb, sm, si, ym);
    absa_bn_rforward_f64(&p.c, train, p.x, zero, p.gamma, p.Vg, p.Vb, sm, si, yp);
    check_vec("  R-forward: Rx NULL == zeros", n, ym, yp, 1e-15);
    for (size_t i = 0; i < n; i++) yp[i] = NAN; /* overwrite, not accumulate */
    absa_bn_rforward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, p.Vb, sm, si, yp);
    check_vec("  R-forward overwrites Ry", n, yp, Ry, 0);
    memset(Rb, 0, m * sizeof(double));
    absa_bn_rbackward_f64(&p.c, train, p.x, NULL, p.gamma, NULL, sm, si, p.dy, NULL, Rb, Rb + n,
                          Rb + n + Cs);
    for (size_t i = 0; i < m; i++)
        CHECK(Rb[i] == 0, "R-backward of a zero direction is zero at %zu", i);
    absa_bn_rbackward_f64(&p.c, train, p.x, NULL, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, Rb, Rb + n,
                          Rb + n + Cs);
    memset(alt, 0, m * sizeof(double));
    absa_bn_rbackward_f64(&p.c, train, p.x, zero, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, alt, alt + n,
                          alt + n + Cs);
    check_vec("  R-backward: Rx NULL == zeros", m, Rb, alt, 1e-15);

    /* accumulation (+=) and NULL outputs skipped */
    double *acc = dvec(m), *ref = dvec(m);
    memset(ref, 0, m * sizeof(double));
    absa_bn_backward_f64(&p.c, train, p.x, p.gamma, sm, si, p.dy, ref, ref + n, ref + n + Cs);
    for (size_t i = 0; i < m; i++) acc[i] = alt[i] = 0.5 + i;
    absa_bn_backward_f64(&p.c, train, p.x, p.gamma, sm, si, p.dy, acc, acc + n, acc + n + Cs);
    for (size_t i = 0; i < m; i++) alt[i] += ref[i];
    check_vec("  backward accumulates", m, acc, alt, 1e-15);
    memcpy(acc, ref, m * sizeof(double));
    absa_bn_backward_f64(&p.c, train, p.x, p.gamma, sm, si, p.dy, NULL, acc + n, NULL);
    for (size_t i = 0; i < m; i++) alt[i] = ref[i] * (i >= n && i < n + Cs ? 2 : 1);
    check_vec("  backward: NULL dx/dbeta skipped", m, acc, alt, 1e-15);
    memset(ref, 0, m * sizeof(double));
    absa_bn_rbackward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, ref, ref + n,
                          ref + n + Cs);
    for (size_t i = 0; i < m; i++) acc[i] = alt[i] = 1.0 - 0.25 * i;
    absa_bn_rbackward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, acc, acc + n,
                          acc + n + Cs);
    for (size_t i = 0; i < m; i++) alt[i] += ref[i];
    check_vec("  R-backward accumulates", m, acc, alt, 1e-14);
    memcpy(acc, ref, m * sizeof(double));
    absa_bn_rbackward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, NULL, NULL,
                          acc + n + Cs);
    for (size_t i = 0; i < m; i++) alt[i] = ref[i] * (i >= n + Cs ? 2 : 1);
    check_vec("  R-backward: NULL Rdx/Rdgamma skipped", m, acc, alt, 1e-15);

    double *all[] = {r, y, sm, si, theta, grad, plus, minus, Ry, yp, ym, xs, gs, bs, Rb, dys,
                     zero, alt, acc, ref};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    prob_free(&p);
}

/* float32 instance against float64 on the same (float-representable) inputs */
static void test_f32(int N, int C, int HW, int train)
{
    prob p;
    prob_init(&p, N, C, HW, 77 + train);
    size_t n = p.n, Cs = (size_t)C, m = n + 2 * Cs;
    /* float copies: [x | dy | Rx | Rdy], per channel [gamma | beta | Vg | Vb | rm | rv | sm | si] */
    float *fa = malloc(4 * n * sizeof(float)), *fc = malloc(8 * Cs * sizeof(float));
    float *fx = fa, *fdy = fa + n, *fRx = fa + 2 * n, *fRdy = fa + 3 * n;
    float *fg = fc, *fb = fc + Cs, *fVg = fc + 2 * Cs, *fVb = fc + 3 * Cs, *frm = fc + 4 * Cs;
    float *frv = fc + 5 * Cs, *fsm = fc + 6 * Cs, *fsi = fc + 7 * Cs;
    double *src[] = {p.x, p.dy, p.Rx, p.Rdy};
    for (int a = 0; a < 4; a++)
        for (size_t i = 0; i < n; i++) src[a][i] = fa[a * n + i] = (float)src[a][i];
    double *csrc[] = {p.gamma, p.beta, p.Vg, p.Vb, p.rm, p.rv};
    for (int a = 0; a < 6; a++)
        for (size_t i = 0; i < Cs; i++) csrc[a][i] = fc[a * Cs + i] = (float)csrc[a][i];
    double *sm = dvec(Cs), *si = dvec(Cs), *rr = dvec(2 * Cs);
    memcpy(rr, p.rm, Cs * sizeof(double));
    memcpy(rr + Cs, p.rv, Cs * sizeof(double));
    double *y = dvec(n), *Ry = dvec(n), *g = dvec(m), *Rg = dvec(m), *cmp = dvec(m);
    float *fy = calloc(n, sizeof(float)), *fRy = calloc(n, sizeof(float));
    float *fgd = calloc(m, sizeof(float)), *fRg = calloc(m, sizeof(float));
    absa_bn_forward_f64(&p.c, train, p.x, p.gamma, p.beta, rr, rr + Cs, sm, si, y);
    absa_bn_forward_f32(&p.c, train, fx, fg, fb, frm, frv, fsm, fsi, fy);
    absa_bn_backward_f64(&p.c, train, p.x, p.gamma, sm, si, p.dy, g, g + n, g + n + Cs);
    absa_bn_backward_f32(&p.c, train, fx, fg, fsm, fsi, fdy, fgd, fgd + n, fgd + n + Cs);
    absa_bn_rforward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, p.Vb, sm, si, Ry);
    absa_bn_rforward_f32(&p.c, train, fx, fRx, fg, fVg, fVb, fsm, fsi, fRy);
    absa_bn_rbackward_f64(&p.c, train, p.x, p.Rx, p.gamma, p.Vg, sm, si, p.dy, p.Rdy, Rg, Rg + n,
                          Rg + n + Cs);
    absa_bn_rbackward_f32(&p.c, train, fx, fRx, fg, fVg, fsm, fsi, fdy, fRdy, fRg, fRg + n,
                          fRg + n + Cs);
    char what[96];
    snprintf(what, sizeof what, "f32 vs f64 %s N=%d C=%d HW=%d forward", train ? "train" : "eval",
             N, C, HW);
    for (size_t i = 0; i < n; i++) cmp[i] = fy[i];
    check_vec(what, n, cmp, y, 2e-6);
    for (size_t i = 0; i < 2 * Cs; i++) cmp[i] = frm[i]; /* frm, frv are contiguous */
    check_vec("  running stats", 2 * Cs, cmp, rr, 1e-6);
    for (size_t i = 0; i < m; i++) cmp[i] = fgd[i];
    check_vec("  backward", m, cmp, g, 1e-5);
    for (size_t i = 0; i < n; i++) cmp[i] = fRy[i];
    check_vec("  R-forward", n, cmp, Ry, 1e-5);
    for (size_t i = 0; i < m; i++) cmp[i] = fRg[i];
    check_vec("  R-backward", m, cmp, Rg, 1e-5);
    void *all[] = {fa, fc, sm, si, rr, y, Ry, g, Rg, cmp, fy, fRy, fgd, fRg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    prob_free(&p);
}

int main(void)
{
    test_torch();
    test_closed_form(3, 4, 5, 11);
    test_closed_form(2, 3, 1, 12); /* N*HW = 2, the smallest train-mode batch */
    test_closed_form(8, 16, 324, 13); /* above the OpenMP threshold */
    for (int train = 0; train <= 1; train++) {
        test_fd(3, 4, 5, train, 21 + train);
        test_fd(2, 2, 1, train, 31 + train);
        test_fd(1, 3, 6, train, 41 + train);
        test_f32(4, 3, 49, train);
        test_f32(8, 16, 324, train); /* above the OpenMP threshold */
    }
    return absa_test_finish("test_bn");
}
