/* h5writer.c — the split writer every packer streams into (see h5pack.h for the protocol and
 * docs/data.md for the file layout). Samples are buffered one chunk at a time and written (or,
 * in VERIFY mode, read back and compared) with one chunk-aligned hyperslab per chunk; labels are
 * collected and written at the end of the split; per-channel pixel sums are kept as exact
 * integers for the mean/std attributes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hdf5_hl.h>

#include "h5pack.h"

typedef struct absa_h5w_names {
    int n;
    char **v;
} absa_h5w_names;

struct absa_h5w {
    absa_h5w_mode mode;
    absa_h5w_opts opts;
    char format[32];
    char path[4096];
    hid_t file;
    int num_classes, num_coarse;
    absa_h5w_names classes, coarse_names, splits;
    /* sources */
    char **src;
    uint32_t *src_crc;
    uint64_t *src_size;
    int nsrc, src_cap;
    /* statistics: exact per-channel sums of v and v^2 of the chosen split */
    char stats_split[64];
    int stats_C, collecting;
    uint64_t *s1, *s2, stats_n;
    /* current split */
    int in_split, C, H, W;
    char split[64];
    hid_t group, dimg, dlab, dcoarse;
    uint64_t count, done, chunk_start;
    size_t sample_bytes, chunk_n, chunk_fill;
    uint8_t *chunk, *vbuf;
    int32_t *labels, *coarse;
    size_t lab_cap;
    double t0, tlast;
};

static double absa_h5w_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static absa_status absa_h5w_names_set(absa_h5w_names *dst, int n, const char *const *names)
{
    dst->v = absa_xcalloc((size_t)n + 1, sizeof(char *));
    dst->n = n;
    for (int i = 0; i < n; i++) {
        char tmp[32];
        const char *s = names ? names[i] : tmp;
        if (!names) snprintf(tmp, sizeof tmp, "%d", i);
        dst->v[i] = strdup(s);
        if (!dst->v[i]) ABSA_ABORT("strdup failed");
    }
    return ABSA_OK;
}

static void absa_h5w_names_free(absa_h5w_names *d)
{
    for (int i = 0; i < d->n; i++) free(d->v[i]);
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

absa_status absa_h5w_open(const char *path, absa_h5w_mode mode, const absa_h5w_opts *opts,
                          const char *format_name, absa_h5w **out)
{
    absa_status status = ABSA_OK;
    hid_t fapl = -1;
    absa_h5w *w = absa_xcalloc(1, sizeof *w);
    w->mode = mode;
    if (opts) w->opts = *opts;
    if (w->opts.chunk_bytes == 0) w->opts.chunk_bytes = ABSA_H5_DEFAULT_CHUNK_BYTES;
    snprintf(w->format, sizeof w->format, "%s", format_name);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->file = w->group = w->dimg = w->dlab = w->dcoarse = -1;
    w->t0 = w->tlast = absa_h5w_now();
    if (mode != ABSA_H5W_DISCARD) {
        absa_h5_quiet();
        fapl = absa_h5_fapl_nolock();
        if (mode == ABSA_H5W_WRITE && (fapl < 0 || absa_h5_set_checksummed_format(fapl) < 0))
            ABSA_FAIL(ABSA_EHDF5, "%s: cannot set up the file format: %s", path, absa_h5_detail());
        if (mode == ABSA_H5W_WRITE)
            w->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        else
            w->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (w->file < 0)
            ABSA_FAIL(ABSA_EIO, "%s: cannot %s HDF5 file", path,
                      mode == ABSA_H5W_WRITE ? "create" : "open");
    }
cleanup:
    if (fapl >= 0) H5Pclose(fapl);
    if (status != ABSA_OK) {
        absa_h5w_discard(w);
        w = NULL;
    }
    *out = w;
    return status;
}

absa_status absa_h5w_set_classes(absa_h5w *w, int num_classes, const char *const *names)
{
    if (num_classes < 1 || num_classes > ABSA_H5_MAX_CLASSES) {
        absa_errorf("bad number of classes %d", num_classes);
        return ABSA_EINVAL;
    }
    absa_h5w_names_free(&w->classes);
    w->num_classes = num_classes;
    return absa_h5w_names_set(&w->classes, num_classes, names);
}

absa_status absa_h5w_set_coarse_classes(absa_h5w *w, int num_classes, const char *const *names)
{
    if (num_classes < 1 || num_classes > ABSA_H5_MAX_CLASSES) {
        absa_errorf("bad number of coarse classes %d", num_classes);
        return ABSA_EINVAL;
    }
    absa_h5w_names_free(&w->coarse_names);
    w->num_coarse = num_classes;
    return absa_h5w_names_set(&w->coarse_names, num_classes, names);
}

absa_status absa_h5w_add_source_crc(absa_h5w *w, const char *name, uint64_t size, uint32_t crc)
{
    if (w->mode != ABSA_H5W_WRITE) return ABSA_OK;
    if (w->nsrc == w->src_cap) {
        w->src_cap = w->src_cap ? 2 * w->src_cap : 8;
        w->src = realloc(w->src, (size_t)w->src_cap * sizeof *w->src);
        w->src_crc = realloc(w->src_crc, (size_t)w->src_cap * sizeof *w->src_crc);
        w->src_size = realloc(w->src_size, (size_t)w->src_cap * sizeof *w->src_size);
        if (!w->src || !w->src_crc || !w->src_size) ABSA_ABORT("out of memory (sources)");
    }
    w->src[w->nsrc] = strdup(name);
    if (!w->src[w->nsrc]) ABSA_ABORT("out of memory (sources)");
    w->src_crc[w->nsrc] = crc;
    w->src_size[w->nsrc] = size;
    w->nsrc++;
    return ABSA_OK;
}

absa_status absa_h5w_add_source(absa_h5w *w, const char *path)
{
    if (w->mode != ABSA_H5W_WRITE) return ABSA_OK;
    uint32_t crc;
    uint64_t size;
    absa_status st = absa_file_crc32(path, &crc, &size);
    if (st != ABSA_OK) return st;
    return absa_h5w_add_source_crc(w, path, size, crc);
}

static absa_status absa_h5w_create_dsets(absa_h5w *w)
{
    absa_status status = ABSA_OK;
    hid_t dcpl = -1, space = -1, lcpl = -1, lspace = -1;
    hsize_t dims[4] = {w->count, (hsize_t)w->C, (hsize_t)w->H, (hsize_t)w->W};
    hsize_t chunk[4] = {w->chunk_n, (hsize_t)w->C, (hsize_t)w->H, (hsize_t)w->W};
    hsize_t ldims[1] = {w->count}, lchunk[1] = {w->count < 262144 ? w->count : 262144};
    static const char *const dimnames[4] = {"N", "C", "H", "W"};

    w->group = H5Gcreate2(w->file, w->split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (w->group < 0) ABSA_FAIL(ABSA_EHDF5, "cannot create group /%s (duplicate split?)", w->split);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    lcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_chunk(lcpl, 1, lchunk);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    if (w->opts.compress == ABSA_H5_COMPRESS_DEFLATE) {
        H5Pset_deflate(dcpl, (unsigned)w->opts.level);
        H5Pset_deflate(lcpl, (unsigned)w->opts.level);
    } else if (w->opts.compress == ABSA_H5_COMPRESS_BLOSC) {
        /* hdf5-blosc cd_values: 4 reserved slots, clevel, shuffle, compressor (0 = blosclz) */
        unsigned cd[7] = {0, 0, 0, 0, (unsigned)w->opts.level, 1, 0};
        if (H5Pset_filter(dcpl, ABSA_H5_BLOSC_FILTER, H5Z_FLAG_MANDATORY, 7, cd) < 0 ||
            H5Pset_filter(lcpl, ABSA_H5_BLOSC_FILTER, H5Z_FLAG_MANDATORY, 7, cd) < 0)
            ABSA_FAIL(ABSA_EHDF5, "blosc filter (HDF5 filter %d) cannot be set",
                      ABSA_H5_BLOSC_FILTER);
    }
    /* a Fletcher-32 checksum on every chunk, after compression (as h5py orders it): HDF5
     * verifies it on each read, so a corrupted chunk fails to read instead of training */
    if (H5Pset_fletcher32(dcpl) < 0 || H5Pset_fletcher32(lcpl) < 0)
        ABSA_FAIL(ABSA_EHDF5, "cannot set the Fletcher-32 filter: %s", absa_h5_detail());
    space = H5Screate_simple(4, dims, NULL);
    lspace = H5Screate_simple(1, ldims, NULL);
    w->dimg = H5Dcreate2(w->group, "images", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    w->dlab = H5Dcreate2(w->group, "labels", H5T_STD_I32LE, lspace, H5P_DEFAULT, lcpl, H5P_DEFAULT);
    if (w->dimg < 0 || w->dlab < 0) ABSA_FAIL(ABSA_EHDF5, "cannot create datasets in /%s", w->split);
    if (w->num_coarse > 0) {
        w->dcoarse = H5Dcreate2(w->group, "coarse_labels", H5T_STD_I32LE, lspace, H5P_DEFAULT, lcpl,
                                H5P_DEFAULT);
        if (w->dcoarse < 0) ABSA_FAIL(ABSA_EHDF5, "cannot create /%s/coarse_labels", w->split);
        H5DSset_label(w->dcoarse, 0, "N");
    }
    for (unsigned d = 0; d < 4; d++)
        if (H5DSset_label(w->dimg, d, dimnames[d]) < 0)
            ABSA_FAIL(ABSA_EHDF5, "cannot label dimension %u of /%s/images", d, w->split);
    H5DSset_label(w->dlab, 0, "N");
    {
        hid_t s = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(w->group, "count", H5T_STD_U64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        int bad = a < 0 || H5Awrite(a, H5T_NATIVE_UINT64, &w->count) < 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(s);
        if (bad) ABSA_FAIL(ABSA_EHDF5, "cannot write /%s count", w->split);
    }
cleanup:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    if (lspace >= 0) H5Sclose(lspace);
    return status;
}

static absa_status absa_h5w_open_dsets(absa_h5w *w)
{
    absa_status status = ABSA_OK;
    hid_t space = -1;
    hsize_t dims[4] = {0};
    w->group = H5Gopen2(w->file, w->split, H5P_DEFAULT);
    if (w->group < 0) ABSA_FAIL(ABSA_EMISMATCH, "verify: split /%s missing", w->split);
    w->dimg = H5Dopen2(w->group, "images", H5P_DEFAULT);
    w->dlab = H5Dopen2(w->group, "labels", H5P_DEFAULT);
    if (w->dimg < 0 || w->dlab < 0) ABSA_FAIL(ABSA_EMISMATCH, "verify: /%s datasets missing", w->split);
    if (w->num_coarse > 0) {
        w->dcoarse = H5Dopen2(w->group, "coarse_labels", H5P_DEFAULT);
        if (w->dcoarse < 0) ABSA_FAIL(ABSA_EMISMATCH, "verify: /%s/coarse_labels missing", w->split);
    }
    space = H5Dget_space(w->dimg);
    if (H5Sget_simple_extent_ndims(space) != 4) ABSA_FAIL(ABSA_EMISMATCH, "verify: bad rank");
    H5Sget_simple_extent_dims(space, dims, NULL);
    if (dims[0] != w->count || dims[1] != (hsize_t)w->C || dims[2] != (hsize_t)w->H ||
        dims[3] != (hsize_t)w->W)
        ABSA_FAIL(ABSA_EMISMATCH, "verify: /%s/images has a different shape", w->split);
cleanup:
    if (space >= 0) H5Sclose(space);
    return status;
}

absa_status absa_h5w_begin_split(absa_h5w *w, const char *split, uint64_t count, int C, int H, int W)
{
    absa_status status = ABSA_OK;
    ABSA_ASSERT(!w->in_split, "begin_split inside a split");
    ABSA_ASSERT(w->num_classes > 0, "set_classes before begin_split");
    if (count == 0) ABSA_FAIL(ABSA_EFORMAT, "split %s has no samples", split);
    if (C < 1 || H < 1 || W < 1 || C > 4 || H > ABSA_H5_MAX_DIM || W > ABSA_H5_MAX_DIM)
        ABSA_FAIL(ABSA_EFORMAT, "split %s: unsupported sample shape %dx%dx%d", split, C, H, W);
    if (w->splits.n > 0 && (C != w->C || H != w->H || W != w->W))
        ABSA_FAIL(ABSA_EMISMATCH, "split %s: shape %dx%dx%d differs from earlier splits' %dx%dx%d",
                  split, C, H, W, w->C, w->H, w->W);
    for (int i = 0; i < w->splits.n; i++)
        if (!strcmp(w->splits.v[i], split)) ABSA_FAIL(ABSA_EINVAL, "split %s given twice", split);
    snprintf(w->split, sizeof w->split, "%s", split);
    w->count = count;
    w->C = C;
    w->H = H;
    w->W = W;
    w->sample_bytes = (size_t)C * (size_t)H * (size_t)W;
    if (w->sample_bytes > ABSA_H5_MAX_SAMPLE_BYTES)
        ABSA_FAIL(ABSA_EFORMAT, "split %s: samples of %zu bytes are too large", split, w->sample_bytes);
    w->chunk_n = (w->opts.chunk_bytes + w->sample_bytes / 2) / w->sample_bytes;
    if (w->chunk_n < 1) w->chunk_n = 1;
    if (w->chunk_n > count) w->chunk_n = (size_t)count;
    w->done = w->chunk_start = 0;
    w->chunk_fill = 0;
    if (w->mode != ABSA_H5W_DISCARD) {
        w->chunk = malloc(w->chunk_n * w->sample_bytes);
        if (!w->chunk) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate a chunk buffer");
        if (w->mode == ABSA_H5W_VERIFY) {
            w->vbuf = malloc(w->chunk_n * w->sample_bytes);
            if (!w->vbuf) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate a chunk buffer");
            ABSA_TRY(absa_h5w_open_dsets(w));
        } else {
            ABSA_TRY(absa_h5w_create_dsets(w));
        }
    }
    /* statistics come from "train", else from the first split */
    w->collecting = w->splits.n == 0 || (!strcmp(split, "train") && strcmp(w->stats_split, "train"));
    if (w->collecting) {
        free(w->s1);
        free(w->s2);
        w->s1 = absa_xcalloc((size_t)C, sizeof *w->s1);
        w->s2 = absa_xcalloc((size_t)C, sizeof *w->s2);
        w->stats_n = 0;
        w->stats_C = C;
        snprintf(w->stats_split, sizeof w->stats_split, "%s", split);
    }
    w->in_split = 1;
    w->t0 = w->tlast = absa_h5w_now();
cleanup:
    return status;
}

static absa_status absa_h5w_flush_chunk(absa_h5w *w)
{
    absa_status status = ABSA_OK;
    hid_t fspace = -1, mspace = -1;
    if (w->chunk_fill == 0 || w->mode == ABSA_H5W_DISCARD) goto cleanup;
    hsize_t start[4] = {w->chunk_start, 0, 0, 0};
    hsize_t cnt[4] = {w->chunk_fill, (hsize_t)w->C, (hsize_t)w->H, (hsize_t)w->W};
    fspace = H5Dget_space(w->dimg);
    mspace = H5Screate_simple(4, cnt, NULL);
    if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0)
        ABSA_FAIL(ABSA_EHDF5, "hyperslab selection failed");
    if (w->mode == ABSA_H5W_WRITE) {
        if (H5Dwrite(w->dimg, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, w->chunk) < 0)
            ABSA_FAIL(ABSA_EIO, "%s: writing /%s/images failed: %s", w->path, w->split, absa_h5_detail());
    } else {
        if (H5Dread(w->dimg, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, w->vbuf) < 0)
            ABSA_FAIL(ABSA_EIO, "verify: reading /%s/images failed", w->split);
        if (memcmp(w->vbuf, w->chunk, w->chunk_fill * w->sample_bytes) != 0) {
            size_t i = 0;
            while (memcmp(w->vbuf + i * w->sample_bytes, w->chunk + i * w->sample_bytes,
                          w->sample_bytes) == 0)
                i++;
            ABSA_FAIL(ABSA_EMISMATCH, "verify: /%s/images sample %llu differs from the source",
                      w->split, (unsigned long long)(w->chunk_start + i));
        }
    }
cleanup:
    if (fspace >= 0) H5Sclose(fspace);
    if (mspace >= 0) H5Sclose(mspace);
    w->chunk_start += w->chunk_fill;
    w->chunk_fill = 0;
    return status;
}

static void absa_h5w_stats(absa_h5w *w, const uint8_t *img, size_t n)
{
    size_t plane = (size_t)w->H * (size_t)w->W;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < w->C; c++) {
            const uint8_t *p = img + (i * (size_t)w->C + (size_t)c) * plane;
            uint64_t a = 0, b = 0;
            for (size_t k = 0; k < plane; k++) {
                a += p[k];
                b += (uint32_t)p[k] * p[k];
            }
            w->s1[c] += a;
            w->s2[c] += b;
        }
    w->stats_n += n * plane;
}

absa_status absa_h5w_append(absa_h5w *w, const uint8_t *images, const int32_t *labels,
                            const int32_t *coarse, size_t n)
{
    absa_status status = ABSA_OK;
    ABSA_ASSERT(w->in_split, "append outside a split");
    ABSA_ASSERT((coarse != NULL) == (w->num_coarse > 0), "coarse labels iff coarse classes");
    if (n > w->count - w->done)
        ABSA_FAIL(ABSA_EFORMAT, "split %s: more samples than the %llu announced", w->split,
                  (unsigned long long)w->count);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= w->num_classes)
            ABSA_FAIL(ABSA_EFORMAT, "split %s: sample %llu has label %d outside [0, %d)", w->split,
                      (unsigned long long)(w->done + i), (int)labels[i], w->num_classes);
        if (coarse && (coarse[i] < 0 || coarse[i] >= w->num_coarse))
            ABSA_FAIL(ABSA_EFORMAT, "split %s: sample %llu has coarse label %d outside [0, %d)",
                      w->split, (unsigned long long)(w->done + i), (int)coarse[i], w->num_coarse);
    }
    if (w->collecting) absa_h5w_stats(w, images, n);
    if (w->mode != ABSA_H5W_DISCARD) {
        if (w->done + n > w->lab_cap) {
            size_t cap = w->lab_cap ? w->lab_cap : 4096;
            while (cap < w->done + n) cap *= 2;
            w->labels = realloc(w->labels, cap * sizeof *w->labels);
            if (coarse) w->coarse = realloc(w->coarse, cap * sizeof *w->coarse);
            if (!w->labels || (coarse && !w->coarse)) ABSA_FAIL(ABSA_ENOMEM, "out of memory (labels)");
            w->lab_cap = cap;
        }
        memcpy(w->labels + w->done, labels, n * sizeof *labels);
        if (coarse) memcpy(w->coarse + w->done, coarse, n * sizeof *coarse);
        size_t i = 0;
        while (i < n) {
            size_t take = w->chunk_n - w->chunk_fill;
            if (take > n - i) take = n - i;
            memcpy(w->chunk + w->chunk_fill * w->sample_bytes, images + i * w->sample_bytes,
                   take * w->sample_bytes);
            w->chunk_fill += take;
            i += take;
            if (w->chunk_fill == w->chunk_n) ABSA_TRY(absa_h5w_flush_chunk(w));
        }
    }
    w->done += n;
    double now = absa_h5w_now();
    if (!w->opts.quiet && w->mode != ABSA_H5W_DISCARD && now - w->tlast >= 1.0) {
        fprintf(stderr, "absa pack: %s %s: %llu/%llu samples (%.0f%%)\n",
                w->mode == ABSA_H5W_WRITE ? "writing" : "verifying", w->split,
                (unsigned long long)w->done, (unsigned long long)w->count,
                100.0 * (double)w->done / (double)w->count);
        w->tlast = now;
    }
cleanup:
    return status;
}

static absa_status absa_h5w_labels_io(absa_h5w *w, hid_t d, const int32_t *v, const char *what)
{
    absa_status status = ABSA_OK;
    int32_t *back = NULL;
    if (w->mode == ABSA_H5W_WRITE) {
        if (H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
            ABSA_FAIL(ABSA_EIO, "%s: writing /%s/%s failed: %s", w->path, w->split, what, absa_h5_detail());
    } else {
        back = malloc(w->count * sizeof *back);
        if (!back) ABSA_FAIL(ABSA_ENOMEM, "out of memory (labels)");
        hid_t sp = H5Dget_space(d);
        hssize_t np = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        if (np != (hssize_t)w->count) ABSA_FAIL(ABSA_EMISMATCH, "verify: /%s/%s has %lld entries", w->split, what, (long long)np);
        if (H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) < 0)
            ABSA_FAIL(ABSA_EIO, "verify: reading /%s/%s failed", w->split, what);
        if (memcmp(back, v, w->count * sizeof *back) != 0)
            ABSA_FAIL(ABSA_EMISMATCH, "verify: /%s/%s differ from the source", w->split, what);
    }
cleanup:
    free(back);
    return status;
}

static void absa_h5w_close_split(absa_h5w *w)
{
    if (w->dcoarse >= 0) H5Dclose(w->dcoarse);
    if (w->dlab >= 0) H5Dclose(w->dlab);
    if (w->dimg >= 0) H5Dclose(w->dimg);
    if (w->group >= 0) H5Gclose(w->group);
    w->dcoarse = w->dlab = w->dimg = w->group = -1;
    free(w->chunk);
    free(w->vbuf);
    w->chunk = w->vbuf = NULL;
    w->in_split = 0;
}

absa_status absa_h5w_end_split(absa_h5w *w)
{
    absa_status status = ABSA_OK;
    ABSA_ASSERT(w->in_split, "end_split outside a split");
    if (w->done != w->count)
        ABSA_FAIL(ABSA_EFORMAT, "split %s: got %llu samples, expected %llu", w->split,
                  (unsigned long long)w->done, (unsigned long long)w->count);
    if (w->mode != ABSA_H5W_DISCARD) {
        ABSA_TRY(absa_h5w_flush_chunk(w));
        ABSA_TRY(absa_h5w_labels_io(w, w->dlab, w->labels, "labels"));
        if (w->dcoarse >= 0) ABSA_TRY(absa_h5w_labels_io(w, w->dcoarse, w->coarse, "coarse_labels"));
        if (!w->opts.quiet)
            fprintf(stderr, "absa pack: %s %s: %llu samples of %dx%dx%d (%.2f s)\n",
                    w->mode == ABSA_H5W_WRITE ? "wrote" : "verified", w->split,
                    (unsigned long long)w->count, w->C, w->H, w->W, absa_h5w_now() - w->t0);
    }
    const char *nm = w->split;
    w->splits.v = realloc(w->splits.v, ((size_t)w->splits.n + 2) * sizeof(char *));
    if (!w->splits.v) ABSA_ABORT("out of memory");
    w->splits.v[w->splits.n++] = strdup(nm);
    w->splits.v[w->splits.n] = NULL;
cleanup:
    absa_h5w_close_split(w);
    return status;
}

static absa_status absa_h5w_attr_num(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                                     size_t n, const void *v)
{
    hsize_t dims[1] = {n};
    hid_t s = n ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    int bad = a < 0 || H5Awrite(a, mtype, v) < 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    if (bad) {
        absa_errorf("cannot write attribute %s", name);
        return ABSA_EHDF5;
    }
    return ABSA_OK;
}

static absa_status absa_h5w_finish(absa_h5w *w)
{
    absa_status status = ABSA_OK;
    const int32_t fv = ABSA_H5_FORMAT_VERSION;
    float mean[4] = {0}, std[4] = {0};
    if (w->splits.n == 0) ABSA_FAIL(ABSA_EFORMAT, "no split was packed");
    for (int c = 0; c < w->stats_C; c++) {
        double n = (double)w->stats_n;
        double m = (double)w->s1[c] / n;
        double var = (double)w->s2[c] / n - m * m;
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
    if (w->mode != ABSA_H5W_WRITE) goto cleanup;
    hid_t f = w->file;
    int32_t nc = w->num_classes;
    ABSA_TRY(absa_h5w_attr_num(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &fv));
    ABSA_TRY(absa_h5_attr_string(f, "layout", "NCHW"));
    ABSA_TRY(absa_h5_attr_string(f, "source_format", w->format));
    ABSA_TRY(absa_h5_attr_string(f, "packer_version", "absa " ABSA_VERSION));
    ABSA_TRY(absa_h5w_attr_num(f, "num_classes", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &nc));
    ABSA_TRY(absa_h5_attr_strings(f, "class_names", (const char *const *)w->classes.v,
                                  (size_t)w->classes.n));
    if (w->num_coarse > 0) {
        int32_t ncc = w->num_coarse;
        ABSA_TRY(absa_h5w_attr_num(f, "num_coarse_classes", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &ncc));
        ABSA_TRY(absa_h5_attr_strings(f, "coarse_class_names",
                                      (const char *const *)w->coarse_names.v,
                                      (size_t)w->coarse_names.n));
    }
    ABSA_TRY(absa_h5_attr_strings(f, "splits", (const char *const *)w->splits.v, (size_t)w->splits.n));
    ABSA_TRY(absa_h5w_attr_num(f, "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (size_t)w->stats_C, mean));
    ABSA_TRY(absa_h5w_attr_num(f, "std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (size_t)w->stats_C, std));
    ABSA_TRY(absa_h5_attr_string(f, "stats_split", w->stats_split));
    if (w->nsrc > 0) {
        ABSA_TRY(absa_h5_attr_strings(f, "source_files", (const char *const *)w->src, (size_t)w->nsrc));
        ABSA_TRY(absa_h5w_attr_num(f, "source_sizes", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                                   (size_t)w->nsrc, w->src_size));
        ABSA_TRY(absa_h5w_attr_num(f, "source_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32,
                                   (size_t)w->nsrc, w->src_crc));
    }
cleanup:
    return status;
}

absa_status absa_h5w_close(absa_h5w *w)
{
    absa_status status = ABSA_OK;
    ABSA_ASSERT(!w->in_split, "close inside a split");
    ABSA_TRY(absa_h5w_finish(w));
    if (w->file >= 0) ABSA_TRY(absa_h5_close_file(&w->file, w->path));
cleanup:
    absa_h5w_discard(w);
    return status;
}

void absa_h5w_discard(absa_h5w *w)
{
    if (!w) return;
    if (w->file >= 0 && w->mode == ABSA_H5W_WRITE) {
        /* after an error: the file is removed by the caller; drop its content first so that
         * closing it cannot fail on a full disk (see absa_h5_close_all) */
        absa_h5_close_all(w->file, 1);
        w->file = -1;
        w->dcoarse = w->dlab = w->dimg = w->group = -1; /* closed with the file */
    }
    absa_h5w_close_split(w);
    if (w->file >= 0) H5Fclose(w->file);
    absa_h5w_names_free(&w->classes);
    absa_h5w_names_free(&w->coarse_names);
    absa_h5w_names_free(&w->splits);
    for (int i = 0; i < w->nsrc; i++) free(w->src[i]);
    free(w->src);
    free(w->src_crc);
    free(w->src_size);
    free(w->s1);
    free(w->s2);
    free(w->labels);
    free(w->coarse);
    free(w);
}
