/* test_conv_paths.c — the CPU paths of the conv2d engine (conv_path.h) give the same bits: for
 * patch-matrix and Winograd geometries (sizes that fill the 8x8 and, on AVX-512, 16x16 register
 * transposes and leave edges), float32 and float64, the forward, backward (+= into pre-filled
 * gradients), R-forward and R-backward passes of every path this CPU supports equal the baseline
 * path's bitwise. Float32 layers on the direct engine (conv_direct.h: FMA chains on the avx2 and
 * avx512 paths, Winograd or patches on the baseline one; stride 1 and 2, 3x3 and 1x1, rows and
 * flat runs, channel counts off the vector widths) are compared avx512 against avx2, and with
 * ABSA_CONV_DIRECT=0 every path against the baseline. Also: the path chosen for absa_conv2d_* is
 * supported and honours ABSA_CPU_PATH (the CTest runs of the conv and oracle tests on each path
 * set it). Prints the paths it compared; with only the baseline path on this CPU it still checks
 * the dispatcher. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "absa_test.h"
#include "conv_path.h"

typedef struct geo { int N, C, H, W, O, k, s, p, bias; } geo;

static uint64_t seed = 42;

#define RUN_T(T, S)                                                                               \
    static void run_##S(const absa_conv_cfg *c, int path, T **out)                                \
    {                                                                                             \
        const size_t nx = (size_t)c->N * c->C * c->H * c->W, ny = (size_t)c->N * c->O * c->Ho * c->Wo; \
        const size_t nw = (size_t)c->O * c->C * c->kh * c->kw, no = (size_t)c->O;                  \
        const size_t nws = absa_conv_workspace(c);                                                \
        T *in[7];                                                                                 \
        const size_t nin[7] = {nx, nx, nw, nw, no, ny, ny}; /* x Rx W V Vb dy Rdy */              \
        uint64_t s = seed;                                                                        \
        for (int i = 0; i < 7; i++) {                                                             \
            in[i] = malloc(nin[i] * sizeof(T));                                                   \
            for (size_t e = 0; e < nin[i]; e++) in[i][e] = (T)absa_test_normal(&s);               \
        }                                                                                         \
        /* out: y, dx, dW, db, Ry, Rdx, RdW, Rdb (gradients pre-filled: += is compared too) */    \
        const size_t nout[8] = {ny, nx, nw, no, ny, nx, nw, no};                                  \
        for (int i = 0; i < 8; i++) {                                                             \
            out[i] = malloc(nout[i] * sizeof(T));                                                 \
            for (size_t e = 0; e < nout[i]; e++) out[i][e] = (T)absa_test_normal(&s);             \
        }                                                                                         \
        T *ws = malloc(nws * sizeof(T));                                                          \
        for (int pass = 0; pass < 4; pass++) {                                                    \
            for (size_t e = 0; e < nws; e++) ws[e] = (T)NAN;                                      \
            switch (path * 4 + pass) {                                                            \
            RUN_PATH(T, S, 0, baseline)                                                           \
            RUN_PATH(T, S, 1, avx2)                                                               \
            RUN_PATH(T, S, 2, avx512)                                                             \
            }                                                                                     \
        }                                                                                         \
        for (int i = 0; i < 7; i++) free(in[i]);                                                  \
        free(ws);                                                                                 \
    }
#define RUN_PATH(T, S, P, name)                                                                   \
    case P * 4 + 0: absa_conv2d_forward_##S##_##name(c, in[0], in[2], in[4], out[0], ws); break;  \
    case P * 4 + 1:                                                                               \
        absa_conv2d_backward_##S##_##name(c, in[0], in[2], in[5], out[1], out[2], out[3], ws);    \
        break;                                                                                    \
    case P * 4 + 2:                                                                               \
        absa_conv2d_rforward_##S##_##name(c, in[0], in[1], in[2], in[3], in[4], out[4], ws);      \
        break;                                                                                    \
    case P * 4 + 3:                                                                               \
        absa_conv2d_rbackward_##S##_##name(c, in[0], in[1], in[2], in[3], in[5], in[6], out[5],   \
                                           out[6], out[7], ws);                                   \
        break;
RUN_T(float, f32)
RUN_T(double, f64)

static const char *const out_names[8] = {"y", "dx", "dW", "db", "Ry", "Rdx", "RdW", "Rdb"};

#define COMPARE_T(T, S)                                                                           \
    static void compare_##S(const absa_conv_cfg *c, int rpath, int path, const char *what)        \
    {                                                                                             \
        const size_t nx = (size_t)c->N * c->C * c->H * c->W, ny = (size_t)c->N * c->O * c->Ho * c->Wo; \
        const size_t nw = (size_t)c->O * c->C * c->kh * c->kw, no = (size_t)c->O;                  \
        const size_t nout[8] = {ny, nx, nw, no, ny, nx, nw, no};                                  \
        T *ref[8], *got[8];                                                                       \
        run_##S(c, rpath, ref);                                                                   \
        run_##S(c, path, got);                                                                    \
        for (int i = 0; i < 8; i++) {                                                             \
            CHECK(!memcmp(ref[i], got[i], nout[i] * sizeof(T)), "%s %s %s: %s differs from %s",   \
                  what, #S, out_names[i], absa_conv_path_name(path), absa_conv_path_name(rpath)); \
            free(ref[i]);                                                                         \
            free(got[i]);                                                                         \
        }                                                                                         \
    }
COMPARE_T(float, f32)
COMPARE_T(double, f64)

/* conv_direct.h's rule on an FMA path: 3x3 padding 1 at stride 1 or 2, 1x1 padding 0 at stride
 * 2, except Winograd's 3x3 stride-1 layers (C and O >= 8) other than 16 -> 16 (written out here,
 * not taken from the engine, so that a change of the rule shows) */
static int direct_geo(const absa_conv_cfg *c)
{
    const int k = c->kh, s = c->sh, p = c->ph;
    if (!((k == 3 && p == 1 && (s == 1 || s == 2)) || (k == 1 && p == 0 && s == 2))) return 0;
    if (k == 3 && s == 1 && c->C >= 8 && c->O >= 8) return c->C == 16 && c->O == 16;
    return 1;
}

int main(void)
{
    int n_direct = 0;
    static const geo geos[] = {
        {3, 3, 13, 11, 12, 5, 1, 2, 1}, /* patch matrix, 5x5 */
        {2, 16, 9, 9, 8, 3, 2, 1, 0},   /* patch matrix, stride 2 */
        {4, 8, 12, 10, 16, 3, 1, 1, 1}, /* Winograd */
        {5, 9, 7, 8, 10, 3, 1, 0, 1},   /* Winograd, odd output, C != O */
        {2, 24, 14, 14, 40, 3, 1, 1, 1}, /* Winograd as lenet's conv2: 16x16 transposes (AVX-512) with 8x8 and scalar edges */
        {2, 16, 10, 10, 24, 3, 1, 0, 1}, /* Winograd, no padding, even output: whole-plane transposes */
        {2, 1, 28, 28, 32, 3, 1, 1, 1},  /* patch matrix as lenet's conv1: [784][32] output transpose */
        {3, 16, 32, 32, 16, 3, 1, 1, 0}, /* Winograd as resnet20's first stage */
        {2, 8, 17, 19, 9, 3, 1, 1, 1},   /* Winograd, odd 17x19: partial tiles */
        {3, 16, 7, 37, 16, 3, 1, 1, 1},  /* direct, rows of 2 blocks + 5 (AVX-512), 6 blocks + 1 (AVX2) */
        {2, 3, 32, 32, 16, 3, 1, 1, 1},  /* direct as resnet20's stem: 3 channels in, 3 out of 16 in dx */
        {3, 16, 32, 32, 32, 3, 2, 1, 0}, /* direct stride 2 as resnet20's 16->32: rows of 16 */
        {2, 32, 16, 16, 64, 3, 2, 1, 0}, /* direct stride 2 as its 32->64: 8x8, flat runs on AVX-512 */
        {3, 16, 32, 32, 32, 1, 2, 0, 0}, /* direct 1x1 stride 2 as its projections */
        {2, 32, 16, 16, 64, 1, 2, 0, 1}, /* the same at 8x8, with a bias */
        {3, 20, 9, 7, 48, 3, 2, 1, 1},   /* stride 2, odd 9x7: uneven phases; 20 -> 48 channels (3 vectors on AVX-512) */
        {2, 5, 11, 6, 3, 1, 2, 0, 1},    /* 1x1 stride 2, odd rows: odd positions get no gradient */
        {2, 17, 6, 45, 5, 3, 1, 1, 0},   /* 3x3 stride 1 with 5 outputs: not Winograd's (O < 8); 45-wide rows */
    };
    const char *env = getenv("ABSA_CPU_PATH");
    const int active = absa_conv_path_active();
    printf("active path: %s (ABSA_CPU_PATH=%s); supported:", absa_conv_path_name(active), env ? env : "unset");
    for (int p = 0; p < ABSA_CONV_N_PATHS; p++)
        if (absa_conv_path_supported(p)) printf(" %s", absa_conv_path_name(p));
    printf("\n");
    CHECK(absa_conv_path_supported(active), "active path %s is not supported", absa_conv_path_name(active));
    if (env && *env && strcmp(env, "auto")) { /* the asked path, or the widest supported below it */
        int want = 0;
        while (want < ABSA_CONV_N_PATHS && strcmp(env, absa_conv_path_name(want))) want++;
        while (want > 0 && !absa_conv_path_supported(want)) want--;
        CHECK(active == want, "ABSA_CPU_PATH=%s gave %s", env, absa_conv_path_name(active));
    } else {
        for (int p = active + 1; p < ABSA_CONV_N_PATHS; p++)
            CHECK(!absa_conv_path_supported(p), "auto chose %s below the supported %s", absa_conv_path_name(active),
                  absa_conv_path_name(p));
    }
    for (size_t g = 0; g < sizeof geos / sizeof geos[0]; g++) {
        const geo *q = &geos[g];
        absa_conv_cfg c;
        CHECK(absa_conv_cfg_init(&c, q->N, q->C, q->H, q->W, q->O, q->k, q->s, q->p, q->bias) == 0, "cfg");
        char what[64];
        snprintf(what, sizeof what, "geometry %zu", g);
        /* float32 layers on the direct engine (conv_direct.h) run FMA chains on the avx2 and
         * avx512 paths and Winograd or patches on the baseline one: those two paths agree with each other,
         * and with ABSA_CONV_DIRECT=0 every path agrees with the baseline */
        const int direct = direct_geo(&c);
        for (int p = 1; p < ABSA_CONV_N_PATHS; p++) {
            if (!absa_conv_path_supported(p)) continue;
            if (!direct) compare_f32(&c, ABSA_CONV_PATH_BASELINE, p, what);
            else if (p > ABSA_CONV_PATH_AVX2) compare_f32(&c, ABSA_CONV_PATH_AVX2, p, what);
            compare_f64(&c, ABSA_CONV_PATH_BASELINE, p, what);
        }
        if (direct) {
            char w2[96];
            snprintf(w2, sizeof w2, "%s, ABSA_CONV_DIRECT=0", what);
            setenv("ABSA_CONV_DIRECT", "0", 1);
            for (int p = 1; p < ABSA_CONV_N_PATHS; p++)
                if (absa_conv_path_supported(p)) compare_f32(&c, ABSA_CONV_PATH_BASELINE, p, w2);
            unsetenv("ABSA_CONV_DIRECT");
            n_direct++;
        }
        seed++;
    }
    printf("geometries on the direct engine: %d (float32 %s there: %s)\n", n_direct,
           absa_conv_path_name(active), active == ABSA_CONV_PATH_BASELINE ? "winograd" : "direct");
    CHECK(n_direct == 12, "expected 12 direct geometries, found %d", n_direct);
    return absa_test_finish("test_conv_paths");
}
