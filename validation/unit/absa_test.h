/* absa_test.h — minimal assertion helpers for the C unit tests (header-only).
 * A test's main() returns absa_test_finish(): 0 when every check passed, 1 otherwise.
 * Every check prints what it compared, so a failure says which numbers disagreed. */
#ifndef ABSA_TEST_H
#define ABSA_TEST_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct absa_test_state { int checks, failures; } absa_test_state;
static absa_test_state absa_test_st; /* per test executable */

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        absa_test_st.checks++;                                                            \
        if (!(cond)) {                                                                    \
            absa_test_st.failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* relative error |a-b| / max(|b|, floor) <= tol */
#define CHECK_REL(a, b, tol, floor_, what)                                                \
    do {                                                                                  \
        double a_ = (double)(a), b_ = (double)(b);                                        \
        double d_ = fabs(a_ - b_) / fmax(fabs(b_), (floor_));                             \
        CHECK(d_ <= (tol), "%s: got %.10g want %.10g rel %.3g > tol %.3g", (what), a_, b_, d_, \
              (double)(tol));                                                             \
    } while (0)

static inline int absa_test_finish(const char *name)
{
    printf("%s: %d checks, %d failures\n", name, absa_test_st.checks, absa_test_st.failures);
    return absa_test_st.failures ? 1 : 0;
}

/* deterministic test RNG (splitmix64 -> uniform / normal) */
static inline uint64_t absa_test_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double absa_test_uniform(uint64_t *s) { return (absa_test_next(s) >> 11) * 0x1.0p-53; }
static inline double absa_test_normal(uint64_t *s)
{
    double u1 = absa_test_uniform(s), u2 = absa_test_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
/* Central finite-difference check of a directional derivative:
 * analytic[n] against (plus[n] - minus[n]) / (2 eps). Passes when
 * ||analytic - fd|| <= tol * max(||fd||, 1e-12) and fd is not identically zero (a check of a
 * zero derivative proves nothing). Prints the relative error either way. */
static inline void absa_test_fd(const char *what, size_t n, const double *analytic,
                                const double *plus, const double *minus, double eps, double tol)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double fd = (plus[i] - minus[i]) / (2 * eps);
        num += (analytic[i] - fd) * (analytic[i] - fd);
        den += fd * fd;
    }
    double rel = sqrt(num) / fmax(sqrt(den), 1e-12);
    printf("  fd %-40s n=%zu rel=%.3e\n", what, n, rel);
    CHECK(rel <= tol && den > 0, "%s: finite-difference rel error %.3e > %.1e (|fd|=%.3e)", what,
          rel, tol, sqrt(den));
}
#endif
