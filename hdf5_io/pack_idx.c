/* pack_idx.c — MNIST / Fashion-MNIST IDX files (gzipped or raw; zlib's gzread reads both) into
 * splits `train` (train-*) and `test` (t10k-* / test-*). Images are IDX type 0x08 (unsigned byte)
 * with 3 dimensions N x H x W, labels type 0x08 with 1 dimension N. Images and labels are
 * streamed side by side in blocks of about 1 MiB, so no allocation depends on a header's claims. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "h5pack.h"

static const char *const absa_fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                   "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                   "Bag",         "Ankle boot"};

typedef struct absa_idx_pair {
    const char *split;
    char img[4096], lab[4096];
} absa_idx_pair;

absa_status absa_gz_read(gzFile f, const char *path, void *buf, size_t n, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        int r = gzread(f, (char *)buf + done, (unsigned)want);
        if (r < 0) {
            int e;
            const char *m = gzerror(f, &e);
            absa_errorf("%s: corrupt gzip stream (%s)", path, m ? m : "?");
            return ABSA_EFORMAT;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return ABSA_OK;
}

absa_status absa_idx_header(gzFile f, const char *path, int ndim, uint32_t *dims,
                            size_t *hdr_bytes)
{
    unsigned char h[16];
    size_t got;
    absa_status st = absa_gz_read(f, path, h, 4, &got);
    if (st != ABSA_OK) return st;
    if (got < 4) {
        absa_errorf("%s: truncated IDX header (%zu bytes)", path, got);
        return ABSA_EFORMAT;
    }
    if (h[0] != 0 || h[1] != 0) {
        absa_errorf("%s: not an IDX file (bad magic %02x %02x %02x %02x)", path, h[0], h[1], h[2], h[3]);
        return ABSA_EFORMAT;
    }
    if (h[2] != 0x08) {
        absa_errorf("%s: unsupported IDX element type 0x%02x (only 0x08, unsigned byte)", path, h[2]);
        return ABSA_EFORMAT;
    }
    if (h[3] != ndim) {
        absa_errorf("%s: IDX file has %d dimensions, expected %d (%s)", path, h[3], ndim,
                    ndim == 3 ? "images" : "labels");
        return ABSA_EFORMAT;
    }
    st = absa_gz_read(f, path, h, 4 * (size_t)ndim, &got);
    if (st != ABSA_OK) return st;
    if (got < 4 * (size_t)ndim) {
        absa_errorf("%s: truncated IDX header", path);
        return ABSA_EFORMAT;
    }
    for (int d = 0; d < ndim; d++)
        dims[d] = (uint32_t)h[4 * d] << 24 | (uint32_t)h[4 * d + 1] << 16 |
                  (uint32_t)h[4 * d + 2] << 8 | h[4 * d + 3];
    *hdr_bytes = 4 + 4 * (size_t)ndim;
    return ABSA_OK;
}

/* For a raw (not gzipped) file, the size must match the header exactly. */
static absa_status absa_idx_check_size(gzFile f, const char *path, size_t hdr, uint64_t n,
                                       size_t rec)
{
    struct stat sb;
    if (!gzdirect(f) || stat(path, &sb) != 0) return ABSA_OK;
    uint64_t want = hdr + n * rec;
    if ((uint64_t)sb.st_size < want) {
        absa_errorf("%s: truncated: header announces %llu records of %zu bytes (%llu bytes), file has %llu",
                    path, (unsigned long long)n, rec, (unsigned long long)want,
                    (unsigned long long)sb.st_size);
        return ABSA_EFORMAT;
    }
    if ((uint64_t)sb.st_size > want) {
        absa_errorf("%s: %llu trailing bytes after %llu records of %zu bytes (wrong record size?)", path,
                    (unsigned long long)((uint64_t)sb.st_size - want), (unsigned long long)n, rec);
        return ABSA_EFORMAT;
    }
    return ABSA_OK;
}

static absa_status absa_idx_pack_split(const absa_idx_pair *p, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    gzFile fi = NULL, fl = NULL;
    uint8_t *img = NULL, *lab8 = NULL;
    int32_t *lab = NULL;
    uint32_t di[3], dl[1];
    size_t hi, hl, got;
    fi = gzopen(p->img, "rb");
    if (!fi) ABSA_FAIL(ABSA_EIO, "%s: cannot open", p->img);
    fl = gzopen(p->lab, "rb");
    if (!fl) ABSA_FAIL(ABSA_EIO, "%s: cannot open", p->lab);
    gzbuffer(fi, 1 << 17);
    ABSA_TRY(absa_idx_header(fi, p->img, 3, di, &hi));
    ABSA_TRY(absa_idx_header(fl, p->lab, 1, dl, &hl));
    if (di[0] == 0) ABSA_FAIL(ABSA_EFORMAT, "%s: no images", p->img);
    if (di[1] < 1 || di[2] < 1 || di[1] > ABSA_H5_MAX_DIM || di[2] > ABSA_H5_MAX_DIM)
        ABSA_FAIL(ABSA_EFORMAT, "%s: unsupported image size %ux%u", p->img, di[1], di[2]);
    if (dl[0] != di[0])
        ABSA_FAIL(ABSA_EMISMATCH, "%s has %u labels but %s has %u images", p->lab, dl[0], p->img, di[0]);
    size_t rec = (size_t)di[1] * di[2];
    ABSA_TRY(absa_idx_check_size(fi, p->img, hi, di[0], rec));
    ABSA_TRY(absa_idx_check_size(fl, p->lab, hl, dl[0], 1));
    ABSA_TRY(absa_h5w_add_source(w, p->img));
    ABSA_TRY(absa_h5w_add_source(w, p->lab));
    ABSA_TRY(absa_h5w_begin_split(w, p->split, di[0], 1, (int)di[1], (int)di[2]));
    size_t block = ((size_t)1 << 20) / rec;
    if (block < 1) block = 1;
    img = malloc(block * rec);
    lab8 = malloc(block);
    lab = malloc(block * sizeof *lab);
    if (!img || !lab8 || !lab) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    for (uint64_t done = 0; done < di[0];) {
        size_t k = di[0] - done < block ? (size_t)(di[0] - done) : block;
        ABSA_TRY(absa_gz_read(fi, p->img, img, k * rec, &got));
        if (got < k * rec)
            ABSA_FAIL(ABSA_EFORMAT, "%s: truncated: file ends inside image %llu of %u", p->img,
                      (unsigned long long)(done + got / rec), di[0]);
        ABSA_TRY(absa_gz_read(fl, p->lab, lab8, k, &got));
        if (got < k)
            ABSA_FAIL(ABSA_EFORMAT, "%s: truncated: file ends after %llu of %u labels", p->lab,
                      (unsigned long long)(done + got), dl[0]);
        for (size_t i = 0; i < k; i++) lab[i] = lab8[i];
        ABSA_TRY(absa_h5w_append(w, img, lab, NULL, k));
        done += k;
    }
    /* nothing may follow the last record */
    ABSA_TRY(absa_gz_read(fi, p->img, img, 1, &got));
    if (got) ABSA_FAIL(ABSA_EFORMAT, "%s: trailing bytes after %u records (wrong record size?)", p->img, di[0]);
    ABSA_TRY(absa_gz_read(fl, p->lab, lab8, 1, &got));
    if (got) ABSA_FAIL(ABSA_EFORMAT, "%s: trailing bytes after %u labels (wrong record size?)", p->lab, dl[0]);
    ABSA_TRY(absa_h5w_end_split(w));
cleanup:
    if (fi) gzclose(fi);
    if (fl) gzclose(fl);
    free(img);
    free(lab8);
    free(lab);
    return status;
}

static int absa_ci_contains(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == needle[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

static int absa_idx_find(const char *dir, const char *stem, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.gz", dir, stem);
    if (absa_path_exists(out)) return 1;
    snprintf(out, cap, "%s/%s", dir, stem);
    return absa_path_exists(out);
}

/* Map inputs to (split, images, labels) pairs: one directory holding the standard names, or a list
 * of files named train-* / t10k-* / test-* containing "images"/"idx3" or "labels"/"idx1". */
static absa_status absa_idx_pairs(const absa_pack_args *a, absa_idx_pair p[2], int *np)
{
    absa_status status = ABSA_OK;
    memset(p, 0, 2 * sizeof *p);
    p[0].split = "train";
    p[1].split = "test";
    if (a->ninputs == 1 && absa_path_is_dir(a->inputs[0])) {
        static const char *const pre[2] = {"train", "t10k"};
        for (int s = 0; s < 2; s++) {
            char stem[64];
            snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", pre[s]);
            if (!absa_idx_find(a->inputs[0], stem, p[s].img, sizeof p[s].img)) p[s].img[0] = 0;
            snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", pre[s]);
            if (!absa_idx_find(a->inputs[0], stem, p[s].lab, sizeof p[s].lab)) p[s].lab[0] = 0;
        }
    } else {
        for (int i = 0; i < a->ninputs; i++) {
            const char *b = absa_path_basename(a->inputs[i]);
            int s = !strncmp(b, "train", 5) ? 0 : (!strncmp(b, "t10k", 4) || !strncmp(b, "test", 4)) ? 1 : -1;
            if (s < 0)
                ABSA_FAIL(ABSA_EINVAL, "%s: cannot tell the split (name should start with train, t10k or test)", a->inputs[i]);
            char *dst = absa_ci_contains(b, "labels") || absa_ci_contains(b, "idx1") ? p[s].lab
                        : absa_ci_contains(b, "images") || absa_ci_contains(b, "idx3") ? p[s].img : NULL;
            if (!dst) ABSA_FAIL(ABSA_EINVAL, "%s: cannot tell images from labels (name should contain images or labels)", a->inputs[i]);
            if (dst[0]) ABSA_FAIL(ABSA_EINVAL, "%s: a second %s file for split %s", a->inputs[i], dst == p[s].lab ? "labels" : "images", p[s].split);
            snprintf(dst, sizeof p[s].img, "%s", a->inputs[i]);
        }
    }
    *np = 0;
    for (int s = 0; s < 2; s++) {
        if (!p[s].img[0] && !p[s].lab[0]) continue;
        if (!p[s].img[0] || !p[s].lab[0])
            ABSA_FAIL(ABSA_ENOTFOUND, "split %s: %s file missing (have %s)", p[s].split,
                      p[s].img[0] ? "labels" : "images", p[s].img[0] ? p[s].img : p[s].lab);
        if (*np != s) p[*np] = p[s];
        (*np)++;
    }
    if (*np == 0) ABSA_FAIL(ABSA_ENOTFOUND, "no IDX files found in %s", a->inputs[0]);
cleanup:
    return status;
}

absa_status absa_pack_idx(const absa_pack_args *a, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    absa_idx_pair p[2];
    int np = 0, nnames = 0;
    char **names = NULL;
    ABSA_TRY(absa_idx_pairs(a, p, &np));
    if (a->class_names) {
        ABSA_TRY(absa_split_names(a->class_names, &names, &nnames));
        ABSA_TRY(absa_h5w_set_classes(w, nnames, (const char *const *)names));
    } else {
        int fashion = 0;
        for (int i = 0; i < a->ninputs; i++) fashion |= absa_ci_contains(a->inputs[i], "fashion");
        ABSA_TRY(absa_h5w_set_classes(w, 10, fashion ? absa_fashion_names : NULL));
    }
    for (int s = 0; s < np; s++) ABSA_TRY(absa_idx_pack_split(&p[s], w));
cleanup:
    absa_free_names(names, nnames);
    return status;
}
