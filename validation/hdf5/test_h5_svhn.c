/* test_h5_svhn.c — `absa pack --format svhn` round trip: writes SVHN-format-2 .mat fixtures with
 * libmatio itself (X uint8 [32 32 3 N] column-major filled from a closed form f(n, c, y, x);
 * y double labels 1..10), one uncompressed and one zlib-compressed, packs them with
 * absa_cmd_pack and checks through the reader that every pixel equals f in NCHW order and that
 * label 10 became 0; a label of 11 must fail with no output left. Skips (77) without libmatio.
 * Usage: test_h5_svhn WORKDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "cli.h"
#include "h5pack.h"
#include "h5reader.h"

#ifndef ABSA_HAVE_MATIO
int main(void)
{
    printf("built without libmatio: skipped\n");
    return 77;
}
#else
#include <matio.h>

static uint8_t f(size_t n, size_t c, size_t y, size_t x) { return (uint8_t)(n * 7 + c * 50 + y * 3 + x * 11 + (x * y) % 5); }
static double ylab(size_t n) { return (double)(n % 10 + 1); } /* 1..10 */

static int write_mat(const char *path, size_t N, int compress, double bad_label)
{
    size_t dx[4] = {32, 32, 3, N}, dy[2] = {N, 1};
    uint8_t *X = malloc(32 * 32 * 3 * N);
    double *Y = malloc(N * sizeof *Y);
    for (size_t n = 0; n < N; n++) {
        Y[n] = ylab(n);
        for (size_t c = 0; c < 3; c++)
            for (size_t x = 0; x < 32; x++)
                for (size_t y = 0; y < 32; y++) X[y + 32 * (x + 32 * (c + 3 * n))] = f(n, c, y, x);
    }
    if (bad_label > 0) Y[N - 1] = bad_label;
    mat_t *m = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    if (!m) return -1;
    matvar_t *vx = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, dx, X, 0);
    matvar_t *vy = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dy, Y, 0);
    int rc = Mat_VarWrite(m, vx, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE) ||
             Mat_VarWrite(m, vy, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE);
    Mat_VarFree(vx);
    Mat_VarFree(vy);
    Mat_Close(m);
    free(X);
    free(Y);
    return rc ? -1 : 0;
}

static void check_split(const char *out, const char *split, size_t N)
{
    absa_h5reader *r = NULL;
    CHECK(absa_h5reader_open(out, split, 1 << 26, &r) == ABSA_OK, "open %s: %s", split, absa_last_error());
    if (!r) return;
    int C, H, W;
    absa_h5reader_shape(r, &C, &H, &W);
    CHECK(absa_h5reader_count(r) == N && C == 3 && H == 32 && W == 32, "%s shape %zu %dx%dx%d", split,
          absa_h5reader_count(r), C, H, W);
    uint64_t *idx = malloc(N * sizeof *idx);
    uint8_t *img = malloc(N * 3072);
    int32_t *lab = malloc(N * sizeof *lab);
    for (size_t i = 0; i < N; i++) idx[i] = i;
    CHECK(absa_h5reader_gather_u8(r, idx, N, img, lab) == ABSA_OK, "gather");
    size_t bad = 0, badl = 0, zeros = 0;
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < 3; c++)
            for (size_t y = 0; y < 32; y++)
                for (size_t x = 0; x < 32; x++) bad += img[n * 3072 + c * 1024 + y * 32 + x] != f(n, c, y, x);
        int want = (int)ylab(n) == 10 ? 0 : (int)ylab(n);
        badl += lab[n] != want;
        zeros += lab[n] == 0;
    }
    CHECK(bad == 0 && badl == 0, "%s: %zu wrong pixels, %zu wrong labels", split, bad, badl);
    CHECK(zeros == N / 10, "%s: %zu labels 0 (from 10), want %zu", split, zeros, N / 10);
    free(idx);
    free(img);
    free(lab);
    absa_h5reader_close(r);
}

int main(int argc, char **argv)
{
    char dir[4096], tr[4200], te[4200], ex[4200], out[4200], bad[4200];
    snprintf(dir, sizeof dir, "%s/svhn_%ld", argc > 1 ? argv[1] : ".", (long)getpid());
    snprintf(tr, sizeof tr, "%s/train_32x32.mat", dir);
    snprintf(te, sizeof te, "%s/test_32x32.mat", dir);
    snprintf(ex, sizeof ex, "%s/extra_32x32.mat", dir);
    snprintf(out, sizeof out, "%s/svhn.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return 1;
    CHECK(write_mat(tr, 40, 0, 0) == 0 && write_mat(te, 20, 1, 0) == 0 && write_mat(ex, 10, 1, 0) == 0, "write .mat fixtures");
    char *av[] = {"pack", "--format", "svhn", "--input", dir, "--output", out, "--verify", "--quiet", NULL};
    CHECK(absa_cmd_pack(9, av) == 0, "pack svhn: %s", absa_last_error());
    check_split(out, "train", 40);
    check_split(out, "test", 20);
    check_split(out, "extra", 10);
    /* label 11 is invalid */
    CHECK(write_mat(te, 20, 0, 11) == 0, "write bad fixture");
    char *av2[] = {"pack", "--format", "svhn", "--input", te, "--output", bad, "--quiet", NULL};
    CHECK(absa_cmd_pack(8, av2) == 1, "bad label must fail");
    CHECK(access(bad, F_OK) != 0, "no output after a failure");
    printf("  bad label message: %s\n", absa_last_error());
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return absa_test_finish("test_h5_svhn");
}
#endif
