/* dataset.c — in-RAM sample sets for the engine commands, from packed HDF5 (via hdf5_io's
 * reader) or IDX files; see dataset.h. */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "h5pack.h"
#include "h5reader.h"
#include "rng.h"

absa_status absa_idx_read(const char *path, int want_ndim, uint32_t dims[3], uint8_t **data)
{
    absa_status status = ABSA_OK;
    uint8_t *buf = NULL;
    size_t hdr, got;
    *data = NULL;
    gzFile f = gzopen(path, "rb"); /* reads plain files too */
    if (!f) ABSA_FAIL(ABSA_ENOTFOUND, "cannot open %s", path);
    ABSA_TRY(absa_idx_header(f, path, want_ndim, dims, &hdr));
    size_t total = 1;
    for (int i = 0; i < want_ndim; i++) {
        if (dims[i] == 0 || dims[i] > (1u << 28)) ABSA_FAIL(ABSA_EFORMAT, "%s: bad dimension %u", path, dims[i]);
        total *= dims[i];
        if (total > ((size_t)1 << 36)) ABSA_FAIL(ABSA_EFORMAT, "%s: implausible size", path);
    }
    buf = malloc(total);
    if (!buf) ABSA_FAIL(ABSA_ENOMEM, "%s: cannot allocate %zu bytes", path, total);
    ABSA_TRY(absa_gz_read(f, path, buf, total, &got));
    if (got != total) ABSA_FAIL(ABSA_EFORMAT, "%s: truncated: %zu of %zu payload bytes", path, got, total);
    *data = buf;
    buf = NULL;
cleanup:
    if (f) gzclose(f);
    free(buf);
    return status;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "<dir>/<prefix>-<kind>-ubyte[.gz]" */
static absa_status idx_path(const char *dir, const char *prefix, const char *kind, char *out, size_t len)
{
    snprintf(out, len, "%s/%s-%s-ubyte.gz", dir, prefix, kind);
    if (file_exists(out)) return ABSA_OK;
    snprintf(out, len, "%s/%s-%s-ubyte", dir, prefix, kind);
    if (file_exists(out)) return ABSA_OK;
    absa_errorf("no %s-%s-ubyte[.gz] in %s", prefix, kind, dir);
    return ABSA_ENOTFOUND;
}

static absa_status idx_load_split(const char *dir, const char *split, uint8_t **img, int32_t **lab,
                                  int *count, int *H, int *W)
{
    absa_status status = ABSA_OK;
    char ip[4096], lp[4096];
    uint8_t *labels = NULL;
    uint32_t di[3], dl[3];
    *img = NULL;
    *lab = NULL;
    const char *prefix = !strcmp(split, "train") ? "train" : !strcmp(split, "test") ? "t10k" : NULL;
    if (!prefix) ABSA_FAIL(ABSA_EINVAL, "IDX data has splits 'train' and 'test', not '%s'", split);
    ABSA_TRY(idx_path(dir, prefix, "images-idx3", ip, sizeof ip));
    ABSA_TRY(idx_path(dir, prefix, "labels-idx1", lp, sizeof lp));
    ABSA_TRY(absa_idx_read(ip, 3, di, img));
    ABSA_TRY(absa_idx_read(lp, 1, dl, &labels));
    if (dl[0] != di[0]) ABSA_FAIL(ABSA_EFORMAT, "%s has %u images but %s has %u labels", ip, di[0], lp, dl[0]);
    *lab = malloc(sizeof(int32_t) * dl[0]);
    if (!*lab) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate labels");
    for (uint32_t i = 0; i < dl[0]; i++) {
        if (labels[i] > 9) ABSA_FAIL(ABSA_EFORMAT, "%s: label %u of sample %u out of range 0..9", lp, labels[i], i);
        (*lab)[i] = labels[i];
    }
    *count = (int)di[0];
    *H = (int)di[1];
    *W = (int)di[2];
cleanup:
    free(labels);
    if (status != ABSA_OK) {
        free(*img);
        free(*lab);
        *img = NULL;
        *lab = NULL;
    }
    return status;
}

static void choose(int total, int n, int shuffle, uint64_t seed, uint64_t *idx)
{
    if (!shuffle) {
        for (int i = 0; i < n; i++) idx[i] = (uint64_t)i;
        return;
    }
    uint64_t *perm = malloc(sizeof(uint64_t) * (size_t)total);
    ABSA_ASSERT(perm, "out of memory");
    absa_permutation(seed, 0, (size_t)total, perm);
    memcpy(idx, perm, sizeof(uint64_t) * (size_t)n);
    free(perm);
}

static absa_status load_idx(const char *dir, const char *split, int n, int shuffle, uint64_t seed,
                            int normalise, absa_samples *s)
{
    absa_status status = ABSA_OK;
    uint8_t *img = NULL, *timg = NULL;
    int32_t *lab = NULL, *tlab = NULL;
    uint64_t *idx = NULL;
    int count, H, W;
    ABSA_TRY(idx_load_split(dir, split, &img, &lab, &count, &H, &W));
    if (n <= 0 || n > count) n = count;
    /* channel statistics of the train split, [0,1] units (as the packer stores them) */
    int tcount = count, tH, tW;
    const uint8_t *stat_src = img;
    if (strcmp(split, "train")) {
        ABSA_TRY(idx_load_split(dir, "train", &timg, &tlab, &tcount, &tH, &tW));
        stat_src = timg;
    }
    double sum = 0, sum2 = 0;
    size_t tot = (size_t)tcount * H * W;
    for (size_t i = 0; i < tot; i++) {
        double v = stat_src[i] / 255.0;
        sum += v;
        sum2 += v * v;
    }
    double mean = sum / tot;
    s->mean[0] = (float)mean;
    s->std[0] = (float)sqrt(fmax(sum2 / tot - mean * mean, 1e-12));
    s->n = n;
    s->C = 1;
    s->H = H;
    s->W = W;
    s->n_classes = 10;
    idx = malloc(sizeof(uint64_t) * (size_t)n);
    s->x = absa_try_alloc((size_t)n * H * W * sizeof(float));
    s->y = malloc(sizeof(int32_t) * (size_t)n);
    if (!idx || !s->x || !s->y) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate %d samples", n);
    choose(count, n, shuffle, seed, idx);
    float mu = normalise ? s->mean[0] : 0.0f, inv = normalise ? 1.0f / s->std[0] : 1.0f;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = img + idx[i] * (size_t)H * W;
        float *dst = s->x + (size_t)i * H * W;
        for (int k = 0; k < H * W; k++) dst[k] = (src[k] / 255.0f - mu) * inv;
        s->y[i] = lab[idx[i]];
    }
cleanup:
    free(img);
    free(lab);
    free(timg);
    free(tlab);
    free(idx);
    return status;
}

static absa_status load_h5(const char *path, const char *split, int n, int shuffle, uint64_t seed,
                           int normalise, absa_samples *s)
{
    absa_status status = ABSA_OK;
    absa_h5reader *r = NULL;
    uint64_t *idx = NULL;
    ABSA_TRY(absa_h5reader_open(path, split, (size_t)1 << 30, &r));
    int count = (int)absa_h5reader_count(r);
    if (n <= 0 || n > count) n = count;
    absa_h5reader_shape(r, &s->C, &s->H, &s->W);
    if (s->C < 1 || s->C > 4) ABSA_FAIL(ABSA_EFORMAT, "%s: %d channels not supported (1..4)", path, s->C);
    s->n_classes = absa_h5reader_num_classes(r);
    for (int c = 0; c < s->C; c++) {
        s->mean[c] = absa_h5reader_mean(r)[c];
        s->std[c] = absa_h5reader_std(r)[c];
    }
    s->n = n;
    size_t per = (size_t)s->C * s->H * s->W;
    idx = malloc(sizeof(uint64_t) * (size_t)n);
    s->x = absa_try_alloc((size_t)n * per * sizeof(float));
    s->y = malloc(sizeof(int32_t) * (size_t)n);
    if (!idx || !s->x || !s->y) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate %d samples", n);
    choose(count, n, shuffle, seed, idx);
    ABSA_TRY(absa_h5reader_gather_f32(r, idx, (size_t)n, normalise, 0, 0, 0, s->x, s->y));
    for (int i = 0; i < n; i++)
        if (s->y[i] < 0 || s->y[i] >= s->n_classes)
            ABSA_FAIL(ABSA_EFORMAT, "%s: label %d of sample %llu out of range 0..%d", path, s->y[i],
                      (unsigned long long)idx[i], s->n_classes - 1);
cleanup:
    absa_h5reader_close(r);
    free(idx);
    return status;
}

absa_status absa_samples_load(const char *path, const char *split, int n, int shuffle,
                              uint64_t seed, int normalise, absa_samples *out)
{
    absa_status status = ABSA_OK;
    struct stat st;
    memset(out, 0, sizeof *out);
    if (stat(path, &st) != 0) ABSA_FAIL(ABSA_ENOTFOUND, "data %s does not exist", path);
    if (S_ISDIR(st.st_mode)) status = load_idx(path, split, n, shuffle, seed, normalise, out);
    else status = load_h5(path, split, n, shuffle, seed, normalise, out);
    if (status != ABSA_OK) goto cleanup;
    size_t tot = (size_t)out->n * out->C * out->H * out->W;
    for (size_t i = 0; i < tot; i++)
        if (!isfinite(out->x[i])) ABSA_FAIL(ABSA_EFORMAT, "data %s: non-finite input value in sample %zu (std 0?)", path, i / ((size_t)out->C * out->H * out->W));
    return ABSA_OK;
cleanup:
    absa_samples_free(out);
    return status;
}

void absa_samples_free(absa_samples *s)
{
    absa_free(s->x);
    free(s->y);
    s->x = NULL;
    s->y = NULL;
}
