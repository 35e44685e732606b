/* pack_svhn.c — SVHN "format 2" (cropped digits) MATLAB files train_32x32.mat, test_32x32.mat and
 * extra_32x32.mat through libmatio: variable X is uint8 [H W C N] in MATLAB's column-major order
 * (element (y, x, c, n) at y + H*(x + W*(c + C*n))) and is transposed to NCHW; variable y holds
 * labels 1..10 with 10 meaning digit 0, mapped to 0..9. Each file becomes the split named by its
 * prefix (train, test, extra). Without libmatio (ABSA_HAVE_MATIO unset) the format reports so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5pack.h"

#ifdef ABSA_HAVE_MATIO
#include <matio.h>

static double absa_mat_get(const matvar_t *v, size_t i)
{
    switch (v->class_type) {
    case MAT_C_DOUBLE: return ((const double *)v->data)[i];
    case MAT_C_SINGLE: return ((const float *)v->data)[i];
    case MAT_C_UINT8: return ((const uint8_t *)v->data)[i];
    case MAT_C_INT8: return ((const int8_t *)v->data)[i];
    case MAT_C_UINT16: return ((const uint16_t *)v->data)[i];
    case MAT_C_INT16: return ((const int16_t *)v->data)[i];
    case MAT_C_UINT32: return ((const uint32_t *)v->data)[i];
    case MAT_C_INT32: return ((const int32_t *)v->data)[i];
    case MAT_C_INT64: return (double)((const int64_t *)v->data)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)v->data)[i];
    default: return -1;
    }
}

static absa_status absa_svhn_file(const char *path, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    mat_t *mat = NULL;
    matvar_t *X = NULL, *Y = NULL;
    uint8_t *img = NULL;
    int32_t *lab = NULL;
    char split[64];
    const char *b = absa_path_basename(path);
    size_t k = strcspn(b, "_.");
    if (k == 0 || k >= sizeof split) ABSA_FAIL(ABSA_EINVAL, "%s: cannot tell the split from the name", path);
    memcpy(split, b, k);
    split[k] = '\0';
    mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) ABSA_FAIL(ABSA_EFORMAT, "%s: not a MATLAB file libmatio can read", path);
    X = Mat_VarRead(mat, "X");
    Y = Mat_VarRead(mat, "y");
    if (!X || !Y) ABSA_FAIL(ABSA_EFORMAT, "%s: variables X and y expected (SVHN format 2)", path);
    if (X->rank != 4 || X->class_type != MAT_C_UINT8 || !X->data)
        ABSA_FAIL(ABSA_EFORMAT, "%s: X must be a 4-D uint8 array [H W C N] (rank %d)", path, X->rank);
    size_t H = X->dims[0], W = X->dims[1], C = X->dims[2], N = X->dims[3];
    if (H < 1 || W < 1 || C < 1 || C > 4 || H > ABSA_H5_MAX_DIM || W > ABSA_H5_MAX_DIM || N < 1)
        ABSA_FAIL(ABSA_EFORMAT, "%s: unsupported X shape %zux%zux%zux%zu", path, H, W, C, N);
    size_t ny = 1;
    for (int d = 0; d < Y->rank; d++) ny *= Y->dims[d];
    if (ny != N || !Y->data) ABSA_FAIL(ABSA_EMISMATCH, "%s: %zu labels for %zu images", path, ny, N);
    ABSA_TRY(absa_h5w_add_source(w, path));
    ABSA_TRY(absa_h5w_begin_split(w, split, N, (int)C, (int)H, (int)W));
    const size_t block = 256, plane = H * W, sb = C * plane;
    const uint8_t *src = X->data;
    img = malloc(block * sb);
    lab = malloc(block * sizeof *lab);
    if (!img || !lab) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    for (size_t n0 = 0; n0 < N; n0 += block) {
        size_t m = N - n0 < block ? N - n0 : block;
        for (size_t i = 0; i < m; i++) {
            double v = absa_mat_get(Y, n0 + i);
            if (!(v >= 1 && v <= 10) || v != (double)(int)v)
                ABSA_FAIL(ABSA_EFORMAT, "%s: label %g of sample %zu is not in 1..10", path, v, n0 + i);
            lab[i] = (int)v == 10 ? 0 : (int)v;
            const uint8_t *s = src + (n0 + i) * sb;
            uint8_t *d = img + i * sb;
            for (size_t c = 0; c < C; c++)
                for (size_t x = 0; x < W; x++)
                    for (size_t y = 0; y < H; y++) d[c * plane + y * W + x] = s[c * plane + x * H + y];
        }
        ABSA_TRY(absa_h5w_append(w, img, lab, NULL, m));
    }
    ABSA_TRY(absa_h5w_end_split(w));
cleanup:
    free(img);
    free(lab);
    if (X) Mat_VarFree(X);
    if (Y) Mat_VarFree(Y);
    if (mat) Mat_Close(mat);
    return status;
}

absa_status absa_pack_svhn(const absa_pack_args *a, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    char **names = NULL;
    int nnames = 0;
    if (a->class_names) {
        ABSA_TRY(absa_split_names(a->class_names, &names, &nnames));
        if (nnames != 10) ABSA_FAIL(ABSA_EINVAL, "--class-names gives %d names, expected 10", nnames);
    }
    ABSA_TRY(absa_h5w_set_classes(w, 10, (const char *const *)names));
    int packed = 0;
    for (int i = 0; i < a->ninputs; i++) {
        if (absa_path_is_dir(a->inputs[i])) {
            static const char *const std[3] = {"train_32x32.mat", "test_32x32.mat", "extra_32x32.mat"};
            for (int k = 0; k < 3; k++) {
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", a->inputs[i], std[k]);
                if (!absa_path_exists(p)) continue;
                ABSA_TRY(absa_svhn_file(p, w));
                packed++;
            }
        } else {
            ABSA_TRY(absa_svhn_file(a->inputs[i], w));
            packed++;
        }
    }
    if (!packed) ABSA_FAIL(ABSA_ENOTFOUND, "no SVHN .mat files (train_32x32.mat ...) in the inputs");
cleanup:
    absa_free_names(names, nnames);
    return status;
}

#else

absa_status absa_pack_svhn(const absa_pack_args *a, absa_h5w *w)
{
    (void)a;
    (void)w;
    absa_errorf("absa was built without libmatio: svhn packing is unavailable (install libmatio-dev and rebuild)");
    return ABSA_EINVAL;
}

#endif
