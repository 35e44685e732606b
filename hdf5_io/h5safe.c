/* h5safe.c — HDF5 files that fail safely: checked opens with precise one-line messages
 * ("no such file", "is a checkpoint, not a packed dataset", a wrong format_version), the
 * checksummed file format of the writers, closes that survive a full disk (HDF5 1.10 crashes in
 * its exit handler after a failed H5Fclose), the bounds-checked parse of the global heap (the
 * one unchecksummed metadata structure) and CRC-32 of buffers. See h5pack.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "h5pack.h"

uint32_t absa_crc32_buf(const void *buf, size_t bytes)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *p = buf;
    while (bytes > 0) {
        uInt k = bytes > (1u << 30) ? (1u << 30) : (uInt)bytes;
        c = crc32(c, p, k);
        p += k;
        bytes -= k;
    }
    return (uint32_t)c;
}

/* ------------------------------------------------------------------ checked open / close */

/* HDF5 registers an exit handler (H5close) at its first call that closes and flushes every file
 * still open. After a failed H5Fclose (disk full) HDF5 1.10 keeps a half-freed file under a
 * still-valid id, and that handler then segfaults at exit (exit status 139 after a correct error
 * message). absa closes every file it writes explicitly, so the handler is turned off before
 * the library starts; files still open at exit are read-only ones, dropped by the kernel. */
__attribute__((constructor)) static void absa_h5_no_atexit(void)
{
    H5dont_atexit();
}

typedef struct absa_h5_detail_buf {
    char text[256];
} absa_h5_detail_buf;

static herr_t absa_h5_detail_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    absa_h5_detail_buf *d = data;
    if (n == 0 && e->desc) snprintf(d->text, sizeof d->text, "%s", e->desc);
    return 0;
}

const char *absa_h5_detail(void)
{
    static _Thread_local absa_h5_detail_buf d;
    snprintf(d.text, sizeof d.text, "unknown HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, absa_h5_detail_cb, &d);
    H5Eclear2(H5E_DEFAULT);
    /* a failed write(2) reads "file write failed: time = ..., error message = 'No space left on
     * device', ...": keep the system's message only */
    const char *m = strstr(d.text, "error message = '");
    if (m) {
        char os[160];
        snprintf(os, sizeof os, "%s", m + 17);
        char *q = strchr(os, '\'');
        if (q) *q = '\0';
        snprintf(d.text, sizeof d.text, "%s", os);
    }
    return d.text;
}

herr_t absa_h5_set_checksummed_format(hid_t fapl)
{
    /* HDF5 1.10 file format: superblock v3, object headers v2, fixed-array / single-chunk indexes
     * and fractal heaps, all with Jenkins lookup3 checksums that HDF5 verifies on every read */
    return H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
}

absa_status absa_h5_open_existing(const char *path, hid_t fapl, const char *what, hid_t *out)
{
    absa_status status = ABSA_OK;
    struct stat st;
    *out = H5I_INVALID_HID;
    absa_h5_quiet();
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) ABSA_FAIL(ABSA_ENOTFOUND, "%s %s: no such file", what, path);
        ABSA_FAIL(ABSA_EIO, "%s %s: %s", what, path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) ABSA_FAIL(ABSA_EINVAL, "%s %s is a directory, not a file", what, path);
    if (access(path, R_OK) != 0) ABSA_FAIL(ABSA_EIO, "%s %s: %s", what, path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        ABSA_FAIL(ABSA_EFORMAT, "%s %s is not an HDF5 file (%lld bytes)", what, path, (long long)st.st_size);
    }
    *out = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (*out < 0)
        ABSA_FAIL(ABSA_EFORMAT, "%s %s: cannot open HDF5 file (truncated or corrupt?): %s", what, path,
                  absa_h5_detail());
cleanup:
    return status;
}

int absa_h5_is_checkpoint(hid_t f)
{
    return H5Aexists(f, "model") > 0 && H5Lexists(f, "model", H5P_DEFAULT) > 0;
}

int absa_h5_is_packed(hid_t f)
{
    return H5Aexists(f, "splits") > 0 && H5Aexists(f, "layout") > 0;
}

/* A scalar integer attribute: 1 read, 0 absent, -1 malformed (not a 1-element integer). */
static int absa_h5_int_attr(hid_t loc, const char *name, long long *v)
{
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a), ft = a < 0 ? -1 : H5Aget_type(a);
    int ok = sp >= 0 && ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1 &&
             H5Aread(a, H5T_NATIVE_LLONG, v) >= 0;
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return ok ? 1 : -1;
}

absa_status absa_h5_open_packed(const char *path, hid_t fapl, hid_t *out)
{
    absa_status status = ABSA_OK;
    long long v = 0;
    ABSA_TRY(absa_h5_open_existing(path, fapl, "data", out));
    if (absa_h5_is_checkpoint(*out))
        ABSA_FAIL(ABSA_EINVAL, "data %s is an absa checkpoint, not a packed dataset (absa pack makes one)", path);
    int rc = absa_h5_int_attr(*out, "format_version", &v);
    if (rc < 0) ABSA_FAIL(ABSA_EFORMAT, "data %s: attribute format_version is not an integer", path);
    /* absent: a file made by other tools (h5py) with the same layout; accepted */
    if (rc > 0 && v != ABSA_H5_FORMAT_VERSION)
        ABSA_FAIL(ABSA_EFORMAT, "data %s: attribute format_version = %lld; this absa reads format %d (re-pack it "
                  "with this absa)", path, v, ABSA_H5_FORMAT_VERSION);
cleanup:
    if (status != ABSA_OK && *out >= 0) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
    }
    return status;
}

absa_status absa_h5_read_num_classes(const char *path, hid_t f, int *num_classes)
{
    absa_status status = ABSA_OK;
    long long v = 0;
    int rc = absa_h5_int_attr(f, "num_classes", &v);
    if (rc == 0) ABSA_FAIL(ABSA_EFORMAT, "data %s: attribute num_classes is missing", path);
    if (rc < 0) ABSA_FAIL(ABSA_EFORMAT, "data %s: attribute num_classes is not an integer", path);
    if (v < 2 || v > ABSA_H5_MAX_CLASSES)
        ABSA_FAIL(ABSA_EFORMAT, "data %s: attribute num_classes = %lld is outside [2, %d]", path, v,
                  ABSA_H5_MAX_CLASSES);
    *num_classes = (int)v;
cleanup:
    return status;
}

void absa_h5_close_all(hid_t f, int discard)
{
    if (f < 0 || H5Iis_valid(f) <= 0) return;
    absa_h5_quiet();
    if (discard) {
        /* the content is worthless: drop the bytes written so far, which frees the space that
         * the flushes of the closes below (or of HDF5's exit handler) need on a full disk */
        void *handle = NULL;
        if (H5Fget_vfd_handle(f, H5P_DEFAULT, &handle) >= 0 && handle && ftruncate(*(int *)handle, 0) != 0)
            H5Eclear2(H5E_DEFAULT); /* best effort */
    }
    /* objects still open on the file (datasets, groups, named types, attributes) */
    const unsigned types = H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL;
    ssize_t n = H5Fget_obj_count(f, types);
    hid_t *ids = n > 0 ? calloc((size_t)n, sizeof *ids) : NULL;
    ssize_t got = ids ? H5Fget_obj_ids(f, types, (size_t)n, ids) : 0;
    for (ssize_t i = 0; i < got; i++) {
        if (H5Iget_type(ids[i]) == H5I_ATTR) H5Aclose(ids[i]);
        else H5Oclose(ids[i]);
    }
    free(ids);
    H5Fclose(f); /* once: a file id whose close failed must never be used again (see below) */
    H5Eclear2(H5E_DEFAULT);
}

absa_status absa_h5_close_file(hid_t *f, const char *path)
{
    absa_status status = ABSA_OK;
    char detail[256];
    if (*f < 0) return ABSA_OK;
    absa_h5_quiet();
    /* flush first, while the file is still whole: a failed H5Fclose leaves HDF5 with a half-closed
     * file that its exit handler then crashes on (HDF5 1.10), a failed flush does not */
    if (H5Fflush(*f, H5F_SCOPE_LOCAL) < 0) {
        snprintf(detail, sizeof detail, "%s", absa_h5_detail());
        absa_h5_close_all(*f, 1);
        ABSA_FAIL(ABSA_EIO, "cannot finish HDF5 file %s: %s", path, detail);
    }
    if (H5Fclose(*f) < 0) {
        /* HDF5 1.10 has freed part of the file's state but kept its id: any further call on it
         * (a second H5Fclose, or the library's exit handler, which absa_h5_no_atexit turns off)
         * dereferences freed memory. Leave it alone; the caller removes the file. */
        ABSA_FAIL(ABSA_EIO, "cannot finish HDF5 file %s: %s", path, absa_h5_detail());
    }
cleanup:
    *f = H5I_INVALID_HID;
    return status;
}

/* ------------------------------------------------------------------ global heap check */

/* Variable-length strings (class names, the checkpoint's model name, dimension labels) live in
 * HDF5 global heap collections ("GCOL"), the one metadata structure of the 1.10 format without a
 * checksum. HDF5 parses a collection without bounds checks: a flipped size or index corrupts
 * its memory (a crash when the file is closed). So before reading any such string, every
 * collection in the file's metadata (the bytes outside the datasets' raw data) is parsed here
 * with bounds checks. */

typedef struct absa_gh_ext {
    uint64_t off, len, stored; /* a raw-data extent, or a span holding `stored` bytes of chunks */
} absa_gh_ext;

typedef struct absa_gh_exts {
    absa_gh_ext *v;
    size_t n, cap;
    int failed;
} absa_gh_exts;

static void absa_gh_add(absa_gh_exts *e, haddr_t off, hsize_t len, hsize_t stored)
{
    if (off == HADDR_UNDEF || len == 0) return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        absa_gh_ext *v = realloc(e->v, cap * sizeof *v);
        if (!v) {
            e->failed = 1;
            return;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (absa_gh_ext){off, len, stored};
}

/* Chunked datasets with more chunks than this are taken as one span (first chunk to the end of
 * the last): HDF5 1.10 finds a chunk's address by walking its index from the start, so one
 * lookup per chunk is quadratic (13 s for 12000 chunks). */
#define ABSA_GH_MAX_CHUNKS 256

static herr_t absa_gh_visit(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    absa_gh_exts *e = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d < 0) return 0; /* unreadable: HDF5 reports it when it is used */
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t lay = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
    if (lay == H5D_CONTIGUOUS) {
        hsize_t n = H5Dget_storage_size(d);
        absa_gh_add(e, H5Dget_offset(d), n, n);
    } else if (lay == H5D_CHUNKED) {
        hid_t sp = H5Dget_space(d);
        hsize_t n = 0, offs[H5S_MAX_RANK], size = 0, s1 = 0;
        haddr_t addr = HADDR_UNDEF, a1 = HADDR_UNDEF;
        unsigned mask;
        if (sp >= 0 && H5Dget_num_chunks(d, sp, &n) >= 0 && n > 0) {
            if (n <= ABSA_GH_MAX_CHUNKS) {
                for (hsize_t i = 0; i < n; i++)
                    if (H5Dget_chunk_info(d, sp, i, offs, &mask, &addr, &size) >= 0) absa_gh_add(e, addr, size, size);
            } else if (H5Dget_chunk_info(d, sp, 0, offs, &mask, &addr, &size) >= 0 &&
                       H5Dget_chunk_info(d, sp, n - 1, offs, &mask, &a1, &s1) >= 0 && addr != HADDR_UNDEF &&
                       a1 != HADDR_UNDEF && a1 >= addr) {
                absa_gh_add(e, addr, a1 + s1 - addr, H5Dget_storage_size(d));
            }
        }
        if (sp >= 0) H5Sclose(sp);
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

static int absa_gh_cmp(const void *a, const void *b)
{
    const absa_gh_ext *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t absa_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Parses the collection at file offset `at` (signature already seen); 0 sound or not a
 * collection header at all ("GCOL" in other bytes: the version byte is not 1 or the reserved
 * bytes are not zero; HDF5 refuses a bad version itself), -1 a collection that is not sound. */
static int absa_gh_parse(FILE *f, uint64_t at, uint64_t fsize)
{
    unsigned char hdr[16];
    if (fseeko(f, (off_t)at, SEEK_SET) != 0 || fread(hdr, 1, 16, f) != 16) return at + 16 > fsize ? 0 : -1;
    if (hdr[4] != 1 || hdr[5] || hdr[6] || hdr[7]) return 0;
    uint64_t size = absa_le(hdr + 8, 8);
    if (size < 4096 || size > ((uint64_t)1 << 32) || at + size > fsize) return -1;
    unsigned char *c = malloc(size);
    if (!c) return -1;
    int rc = -1;
    uint8_t *seen = calloc(65536, 1);
    if (!seen || fseeko(f, (off_t)at, SEEK_SET) != 0 || fread(c, 1, size, f) != size) goto done;
    uint64_t q = 16;
    while (q < size) {
        if (size - q < 16) break; /* a tail too small for an object header is free space */
        unsigned idx = (unsigned)absa_le(c + q, 2);
        uint64_t osize = absa_le(c + q + 8, 8);
        if (idx == 0) { /* the free-space object, last, its size covering the rest */
            if (osize != size - q) goto done;
            q = size;
            break;
        }
        if (seen[idx] || osize > size) goto done;
        seen[idx] = 1;
        uint64_t need = 16 + ((osize + 7) & ~(uint64_t)7);
        if (need > size - q) goto done;
        q += need;
    }
    rc = q <= size ? 0 : -1;
done:
    free(seen);
    free(c);
    return rc;
}

absa_status absa_h5_check_global_heaps(const char *path, hid_t file)
{
    absa_status status = ABSA_OK;
    absa_gh_exts e = {0};
    FILE *f = NULL;
    unsigned char *buf = NULL;
    struct stat st;
    if (stat(path, &st) != 0) ABSA_FAIL(ABSA_EIO, "%s: %s", path, strerror(errno));
    const uint64_t fsize = (uint64_t)st.st_size;
    if (H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, absa_gh_visit, &e) < 0 || e.failed)
        ABSA_FAIL(ABSA_EFORMAT, "%s: cannot list the datasets (corrupt file?): %s", path, absa_h5_detail());
    if (e.n > 1) qsort(e.v, e.n, sizeof *e.v, absa_gh_cmp);
    /* merge overlapping extents; a merged region is skipped only when the raw data in it fills it
     * exactly (a span with metadata between its chunks is scanned whole) */
    size_t nr = 0;
    for (size_t i = 0; i < e.n; i++) {
        if (nr > 0 && e.v[i].off < e.v[nr - 1].off + e.v[nr - 1].len) {
            absa_gh_ext *r = &e.v[nr - 1];
            uint64_t end = e.v[i].off + e.v[i].len;
            if (end > r->off + r->len) r->len = end - r->off;
            r->stored += e.v[i].stored;
        } else {
            e.v[nr++] = e.v[i];
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < nr; i++)
        if (e.v[i].stored == e.v[i].len) e.v[keep++] = e.v[i];
    e.n = keep;
    f = fopen(path, "rb");
    buf = malloc(1 << 16);
    if (!f || !buf) ABSA_FAIL(ABSA_EIO, "%s: cannot read: %s", path, strerror(errno));
    /* scan every gap between raw-data extents for the "GCOL" signature (collections start on
     * any byte; a window overlaps the next by 3 bytes) */
    uint64_t pos = 0;
    size_t k = 0;
    while (pos < fsize) {
        while (k < e.n && e.v[k].off + e.v[k].len <= pos) k++;
        if (k < e.n && e.v[k].off <= pos) {
            pos = e.v[k].off + e.v[k].len;
            continue;
        }
        uint64_t end = k < e.n ? e.v[k].off : fsize;
        while (pos < end) {
            size_t want = end - pos > (1u << 16) ? (1u << 16) : (size_t)(end - pos);
            if (want < 4) {
                pos = end;
                break;
            }
            if (fseeko(f, (off_t)pos, SEEK_SET) != 0 || fread(buf, 1, want, f) != want)
                ABSA_FAIL(ABSA_EIO, "%s: read error", path);
            for (size_t i = 0; i + 4 <= want; i++)
                if (buf[i] == 'G' && !memcmp(buf + i, "GCOL", 4) && absa_gh_parse(f, pos + i, fsize) < 0)
                    ABSA_FAIL(ABSA_EFORMAT, "%s: corrupt HDF5 global heap (string storage) at byte %llu", path,
                              (unsigned long long)(pos + i));
            pos = pos + want == end ? end : pos + want - 3;
        }
    }
cleanup:
    free(buf);
    if (f) fclose(f);
    free(e.v);
    return status;
}
