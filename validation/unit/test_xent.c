/* test_xent.c — softmax cross-entropy kernels (src/engine/cpu/xent.c):
 *  - loss, gradient and R-backward against values produced once by PyTorch (incl. logits ~800
 *    where a naive exp overflows);
 *  - loss and softmax against the closed form mean(log sum exp z - z_label); shift invariance;
 *  - backward (scale * dL/dz) by per-coordinate central finite differences in double;
 *  - R-backward by FD of the backward map z -> dz along Rz;
 *  - accumulation (+=), NULL outputs, argmax counting with ties/NaN as torch.argmax;
 *  - float32 agrees with float64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "layers.h"

static double *dvec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

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

/* Produced once with /usr/bin/python3 (Debian torch 1.13, float64):
 * torch.nn.functional.cross_entropy(z, labels) (mean), z.grad by backward, and the R-backward by
 * torch.autograd.functional.jvp of z -> autograd.grad(loss, z, create_graph=True) along Rz. */
static void test_torch(void)
{
    const double z[12] = {1.0, -0.5, 2.0, 0.25, -1.5, 0.75, 0.0, 3.0, 800.0, 799.0, 801.5, -800.0};
    const int32_t lab[3] = {2, 0, 1};
    const double Rz[12] = {0.3, -0.2, 0.1, 0.5, 0.0, 1.0, -1.0, 0.25, 0.7, -0.4, 0.2, 0.1};
    const double torch_loss = 2.6349771134491902;
    const double torch_grad[12] = {0.075521082494432068, 0.016851031231565408, -0.12804574712316211, 0.035673633397164672, -0.3301583236428029, 0.030123653221630898, 0.014229406228267551, 0.28580526419290447, 0.056984260065930083, -0.31236999558471079, 0.25538573551878074, 0};
    const double torch_Rgrad[12] = {0.0095945697731916139, -0.0062846777257351749, -0.014976772575685048, 0.011666880528228597, -0.00083196902724564281, 0.022230150867092072, -0.01795803272453414, -0.0034401491153122949, 0.025771565712284089, -0.013578842331136574, -0.012192723381147514, -0};
    double p[12], dz[12] = {0}, Rdz[12] = {0};
    double loss = absa_xent_forward_f64(3, 4, z, lab, p);
    CHECK_REL(loss, torch_loss, 1e-14, 1e-300, "torch: loss");
    absa_xent_backward_f64(3, 4, p, lab, 1.0, dz);
    check_vec("torch: gradient", 12, dz, torch_grad, 1e-14);
    absa_xent_rbackward_f64(3, 4, p, Rz, 1.0, Rdz);
    check_vec("torch: R-backward", 12, Rdz, torch_Rgrad, 1e-13);
    CHECK(isfinite(loss) && p[11] == 0, "large logits: p %g", p[11]);
    float fz[12], fp[12];
    for (int i = 0; i < 12; i++) fz[i] = (float)z[i];
    double floss = absa_xent_forward_f32(3, 4, fz, lab, fp);
    CHECK_REL(floss, torch_loss, 1e-6, 1e-300, "torch: loss f32");
}

static void naive_loss(int N, int K, const double *z, const int32_t *lab, double *loss, double *p)
{
    double L = 0;
    for (int i = 0; i < N; i++) {
        double S = 0;
        for (int k = 0; k < K; k++) S += exp(z[i * K + k]);
        for (int k = 0; k < K; k++) p[i * K + k] = exp(z[i * K + k]) / S;
        L += log(S) - z[i * K + lab[i]];
    }
    *loss = L / N;
}

static void test_random(int N, int K, uint64_t seed)
{
    uint64_t s = seed;
    const double eps = 1e-5, tol = 1e-6, scale = 0.5;
    size_t n = (size_t)N * K;
    double *z = dvec(n), *p = dvec(n), *pw = dvec(n), *dz = dvec(n), *Rz = dvec(n), *Rdz = dvec(n);
    double *plus = dvec(n), *minus = dvec(n), *zs = dvec(n), *ps = dvec(n), *acc = dvec(n);
    int32_t *lab = malloc(N * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) z[i] = 2 * absa_test_normal(&s), Rz[i] = absa_test_normal(&s);
    for (int i = 0; i < N; i++) lab[i] = (int32_t)(absa_test_next(&s) % K);
    printf(" N=%d K=%d\n", N, K);
    double loss = absa_xent_forward_f64(N, K, z, lab, p), want;
    naive_loss(N, K, z, lab, &want, pw);
    CHECK_REL(loss, want, 1e-13, 1e-300, "loss vs closed form");
    check_vec("softmax vs closed form", n, p, pw, 1e-14);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double row = 0;
        for (int k = 0; k < K; k++) row += p[i * K + k];
        worst = fmax(worst, fabs(row - 1));
    }
    CHECK(worst < 1e-14, "softmax rows sum to 1 (worst %.3g)", worst);
    /* shift invariance and stability: + 1000 per row (naive exp would overflow) */
    for (size_t i = 0; i < n; i++) zs[i] = z[i] + 1000 + 10 * (double)(i / K);
    double lshift = absa_xent_forward_f64(N, K, zs, lab, ps);
    CHECK_REL(lshift, loss, 1e-11, 1e-300, "loss with logits shifted by 1000+");
    check_vec("softmax with shifted logits", n, ps, p, 1e-11);
    double lnull = absa_xent_forward_f64(N, K, z, lab, NULL);
    CHECK(lnull == loss, "forward with p NULL gives the same loss");
    /* backward: gradient of scale*loss, coordinate by coordinate */
    absa_xent_backward_f64(N, K, p, lab, scale, dz);
    if (n <= 4000) {
        for (size_t j = 0; j < n; j++) {
            double keep = z[j];
            z[j] = keep + eps;
            plus[j] = scale * absa_xent_forward_f64(N, K, z, lab, NULL);
            z[j] = keep - eps;
            minus[j] = scale * absa_xent_forward_f64(N, K, z, lab, NULL);
            z[j] = keep;
        }
        absa_test_fd("xent backward (scale 0.5)", n, dz, plus, minus, eps, tol);
    } else { /* too many coordinates: directional derivative along Rz */
        double dir = 0, lp, lm;
        for (size_t i = 0; i < n; i++) dir += dz[i] * Rz[i], zs[i] = z[i] + eps * Rz[i];
        lp = scale * absa_xent_forward_f64(N, K, zs, lab, NULL);
        for (size_t i = 0; i < n; i++) zs[i] = z[i] - eps * Rz[i];
        lm = scale * absa_xent_forward_f64(N, K, zs, lab, NULL);
        absa_test_fd("xent backward along Rz (scale 0.5)", 1, &dir, &lp, &lm, eps, tol);
    }
    /* R-backward: FD of z -> dz along Rz */
    absa_xent_rbackward_f64(N, K, p, Rz, scale, Rdz);
    for (int sign = -1; sign <= 1; sign += 2) {
        double *out = sign > 0 ? plus : minus;
        for (size_t i = 0; i < n; i++) zs[i] = z[i] + sign * eps * Rz[i], out[i] = 0;
        absa_xent_forward_f64(N, K, zs, lab, ps);
        absa_xent_backward_f64(N, K, ps, lab, scale, out);
    }
    absa_test_fd("xent R-backward (scale 0.5)", n, Rdz, plus, minus, eps, tol);
    /* accumulation and NULL outputs */
    for (size_t i = 0; i < n; i++) acc[i] = 0.1 * (double)i;
    absa_xent_backward_f64(N, K, p, lab, scale, acc);
    absa_xent_backward_f64(N, K, p, lab, scale, NULL);
    for (size_t i = 0; i < n; i++) plus[i] = 0.1 * i + dz[i];
    check_vec("backward accumulates", n, acc, plus, 1e-15);
    for (size_t i = 0; i < n; i++) acc[i] = -0.1 * (double)i;
    absa_xent_rbackward_f64(N, K, p, Rz, scale, acc);
    absa_xent_rbackward_f64(N, K, p, Rz, scale, NULL);
    absa_xent_rbackward_f64(N, K, p, NULL, scale, acc); /* zero direction adds nothing */
    for (size_t i = 0; i < n; i++) plus[i] = -0.1 * i + Rdz[i];
    check_vec("R-backward accumulates", n, acc, plus, 1e-15);
    /* float32 against float64 */
    float *fz = malloc(n * sizeof(float)), *fp = malloc(n * sizeof(float));
    float *fRz = malloc(n * sizeof(float)), *fdz = calloc(n, sizeof(float));
    float *fRdz = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) fz[i] = (float)z[i], fRz[i] = (float)Rz[i];
    double fl = absa_xent_forward_f32(N, K, fz, lab, fp);
    absa_xent_backward_f32(N, K, fp, lab, scale, fdz);
    absa_xent_rbackward_f32(N, K, fp, fRz, scale, fRdz);
    CHECK_REL(fl, loss, 1e-6, 1e-300, "f32 loss");
    for (size_t i = 0; i < n; i++) acc[i] = fdz[i];
    check_vec("f32 backward", n, acc, dz, 1e-6);
    for (size_t i = 0; i < n; i++) acc[i] = fRdz[i];
    check_vec("f32 R-backward", n, acc, Rdz, 1e-5);
    CHECK(absa_xent_correct_f32(N, K, fz, lab) == absa_xent_correct_f64(N, K, z, lab),
          "f32/f64 correct counts");
    free(fz), free(fp), free(fRz), free(fdz), free(fRdz), free(lab);
    double *all[] = {z, p, pw, dz, Rz, Rdz, plus, minus, zs, ps, acc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* argmax counting; expected argmax of the first two rows from torch.argmax (torch 1.13):
 * [1, 3, 3, 0] -> 1 (first maximum), [NaN, 5, NaN, 1] -> 0 (NaN is the maximum, first one) */
static void test_correct(void)
{
    const double z[5 * 4] = {1, 3, 3, 0, NAN, 5, NAN, 1, 0, 0, 0, 0, -1, -2, -0.5, -3, 2, 1, 2, 9};
    int32_t lab[5] = {1, 0, 0, 2, 3};
    CHECK(absa_xent_correct_f64(5, 4, z, lab) == 5, "all 5 rows correct: %d",
          absa_xent_correct_f64(5, 4, z, lab));
    int32_t wrong[5] = {2, 2, 1, 0, 0};
    CHECK(absa_xent_correct_f64(5, 4, z, wrong) == 0, "no row correct: %d",
          absa_xent_correct_f64(5, 4, z, wrong));
    float fz[20];
    for (int i = 0; i < 20; i++) fz[i] = (float)z[i];
    CHECK(absa_xent_correct_f32(5, 4, fz, lab) == 5 && absa_xent_correct_f32(5, 4, fz, wrong) == 0,
          "f32 correct counts");
    CHECK(absa_xent_correct_f64(0, 4, z, lab) == 0, "empty batch");
}

int main(void)
{
    test_torch();
    test_correct();
    test_random(5, 7, 1);
    test_random(1, 2, 2);
    test_random(300, 10, 3);
    test_random(128, 300, 4); /* above the OpenMP threshold */
    return absa_test_finish("test_xent");
}
