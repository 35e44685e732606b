/* h5reader.c — read access to one split of a packed HDF5 dataset: the whole split in RAM when it
 * fits the memory budget, otherwise an LRU cache of whole chunks (one regular hyperslab H5Dread
 * per chunk, never one per sample, never union selections). See h5reader.h. */
#include <stdlib.h>
#include <string.h>

#include "h5pack.h"
#include "h5reader.h"

struct absa_h5reader {
    hid_t file, dimg, fspace;
    int C, H, W, num_classes;
    size_t count, sample_bytes;
    float mean[4], std[4];
    int32_t *labels;
    uint8_t *all; /* whole split (RAM path) */
    /* chunk cache */
    size_t chunk_n, nchunks, nslots, chunk_bytes;
    uint8_t *slots;
    int64_t *slot_chunk;  /* chunk held by each slot, -1 free */
    int64_t *chunk_slot;  /* slot holding each chunk, -1 absent */
    uint64_t *slot_used, tick, reads;
    /* gather scratch: (chunk, position) keys sorted by chunk */
    uint64_t *keys;
    size_t keys_cap;
};

static absa_status absa_h5reader_attr_floats(hid_t f, const char *name, float *v, int n)
{
    absa_status status = ABSA_OK;
    hid_t a = -1, sp = -1;
    if (H5Aexists(f, name) <= 0) ABSA_FAIL(ABSA_EFORMAT, "attribute %s missing (not packed by absa?)", name);
    a = H5Aopen(f, name, H5P_DEFAULT);
    sp = H5Aget_space(a);
    if (H5Sget_simple_extent_npoints(sp) != n)
        ABSA_FAIL(ABSA_EFORMAT, "attribute %s has the wrong length (want %d)", name, n);
    if (H5Aread(a, H5T_NATIVE_FLOAT, v) < 0) ABSA_FAIL(ABSA_EHDF5, "cannot read attribute %s", name);
cleanup:
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return status;
}

absa_status absa_h5reader_open(const char *path, const char *split, size_t memory_budget_bytes,
                               absa_h5reader **out)
{
    absa_status status = ABSA_OK;
    hid_t fapl = -1, dlab = -1, dcpl = -1;
    char name[512];
    absa_h5reader *r = absa_xcalloc(1, sizeof *r);
    r->file = r->dimg = r->fspace = -1;
    *out = NULL;
    absa_h5_quiet();
    fapl = absa_h5_fapl_nolock();
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (r->file < 0) ABSA_FAIL(ABSA_EIO, "%s: cannot open as HDF5", path);
    snprintf(name, sizeof name, "/%s/images", split);
    if (H5Lexists(r->file, split, H5P_DEFAULT) <= 0 || H5Lexists(r->file, name, H5P_DEFAULT) <= 0)
        ABSA_FAIL(ABSA_ENOTFOUND, "%s: no split '%s' (no %s)", path, split, name);
    {
        /* whole-chunk reads bypass HDF5's own chunk cache (ours replaces it) */
        hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
        H5Pset_chunk_cache(dapl, 0, 0, 1.0);
        r->dimg = H5Dopen2(r->file, name, dapl);
        H5Pclose(dapl);
    }
    snprintf(name, sizeof name, "/%s/labels", split);
    dlab = H5Lexists(r->file, name, H5P_DEFAULT) > 0 ? H5Dopen2(r->file, name, H5P_DEFAULT) : -1;
    if (r->dimg < 0 || dlab < 0) ABSA_FAIL(ABSA_ENOTFOUND, "%s: split '%s' lacks images or labels", path, split);
    r->fspace = H5Dget_space(r->dimg);
    hsize_t dims[4];
    if (H5Sget_simple_extent_ndims(r->fspace) != 4) ABSA_FAIL(ABSA_EFORMAT, "%s: images are not 4-D NCHW", path);
    H5Sget_simple_extent_dims(r->fspace, dims, NULL);
    if (dims[0] == 0 || dims[1] < 1 || dims[1] > 4) ABSA_FAIL(ABSA_EFORMAT, "%s: bad image shape", path);
    r->count = (size_t)dims[0];
    r->C = (int)dims[1];
    r->H = (int)dims[2];
    r->W = (int)dims[3];
    r->sample_bytes = (size_t)r->C * (size_t)r->H * (size_t)r->W;
    {
        hid_t ls = H5Dget_space(dlab);
        hssize_t nl = H5Sget_simple_extent_npoints(ls);
        H5Sclose(ls);
        if (nl != (hssize_t)r->count) ABSA_FAIL(ABSA_EFORMAT, "%s: %lld labels for %zu images", path, (long long)nl, r->count);
    }
    r->labels = malloc(r->count * sizeof *r->labels);
    if (!r->labels) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate labels");
    if (H5Dread(dlab, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->labels) < 0)
        ABSA_FAIL(ABSA_EIO, "%s: reading labels failed", path);
    if (H5Aexists(r->file, "num_classes") > 0) {
        hid_t a = H5Aopen(r->file, "num_classes", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_INT, &r->num_classes);
        H5Aclose(a);
    }
    if (r->num_classes < 1) ABSA_FAIL(ABSA_EFORMAT, "%s: num_classes attribute missing or bad", path);
    ABSA_TRY(absa_h5reader_attr_floats(r->file, "mean", r->mean, r->C));
    ABSA_TRY(absa_h5reader_attr_floats(r->file, "std", r->std, r->C));
    for (int c = 0; c < r->C; c++)
        if (!(r->std[c] > 0)) r->std[c] = 1.0f; /* constant channel: avoid division by zero */

    size_t total = r->count * r->sample_bytes;
    if (total <= memory_budget_bytes) {
        r->all = malloc(total);
        if (!r->all) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate %zu bytes for split %s", total, split);
        if (H5Dread(r->dimg, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->all) < 0)
            ABSA_FAIL(ABSA_EIO, "%s: reading %s images failed", path, split);
        r->reads = 1;
    } else {
        dcpl = H5Dget_create_plist(r->dimg);
        hsize_t ch[4];
        if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, ch) == 4 && ch[0] > 0)
            r->chunk_n = (size_t)ch[0];
        else
            r->chunk_n = ABSA_H5_DEFAULT_CHUNK_BYTES / r->sample_bytes; /* contiguous: virtual chunks */
        if (r->chunk_n < 1) r->chunk_n = 1;
        r->chunk_bytes = r->chunk_n * r->sample_bytes;
        r->nchunks = (r->count + r->chunk_n - 1) / r->chunk_n;
        r->nslots = memory_budget_bytes / r->chunk_bytes;
        if (r->nslots < 1) r->nslots = 1;
        if (r->nslots > r->nchunks) r->nslots = r->nchunks;
        r->slots = malloc(r->nslots * r->chunk_bytes);
        r->slot_chunk = malloc(r->nslots * sizeof *r->slot_chunk);
        r->slot_used = calloc(r->nslots, sizeof *r->slot_used);
        r->chunk_slot = malloc(r->nchunks * sizeof *r->chunk_slot);
        if (!r->slots || !r->slot_chunk || !r->slot_used || !r->chunk_slot)
            ABSA_FAIL(ABSA_ENOMEM, "cannot allocate the chunk cache");
        for (size_t s = 0; s < r->nslots; s++) r->slot_chunk[s] = -1;
        for (size_t c = 0; c < r->nchunks; c++) r->chunk_slot[c] = -1;
    }
    *out = r;
    r = NULL;
cleanup:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (dlab >= 0) H5Dclose(dlab);
    if (fapl >= 0) H5Pclose(fapl);
    absa_h5reader_close(r);
    return status;
}

void absa_h5reader_close(absa_h5reader *r)
{
    if (!r) return;
    if (r->fspace >= 0) H5Sclose(r->fspace);
    if (r->dimg >= 0) H5Dclose(r->dimg);
    if (r->file >= 0) H5Fclose(r->file);
    free(r->labels);
    free(r->all);
    free(r->slots);
    free(r->slot_chunk);
    free(r->slot_used);
    free(r->chunk_slot);
    free(r->keys);
    free(r);
}

size_t absa_h5reader_count(const absa_h5reader *r) { return r->count; }
void absa_h5reader_shape(const absa_h5reader *r, int *C, int *H, int *W)
{
    *C = r->C;
    *H = r->H;
    *W = r->W;
}
int absa_h5reader_num_classes(const absa_h5reader *r) { return r->num_classes; }
const float *absa_h5reader_mean(const absa_h5reader *r) { return r->mean; }
const float *absa_h5reader_std(const absa_h5reader *r) { return r->std; }
int absa_h5reader_in_ram(const absa_h5reader *r) { return r->all != NULL; }
uint64_t absa_h5reader_chunk_reads(const absa_h5reader *r) { return r->reads; }

/* Make chunk c resident; returns its bytes. */
static absa_status absa_h5reader_load(absa_h5reader *r, size_t c, const uint8_t **data)
{
    absa_status status = ABSA_OK;
    hid_t mspace = -1;
    int64_t s = r->chunk_slot[c];
    if (s < 0) {
        size_t victim = 0;
        for (size_t k = 1; k < r->nslots; k++)
            if (r->slot_used[k] < r->slot_used[victim]) victim = k;
        if (r->slot_chunk[victim] >= 0) r->chunk_slot[r->slot_chunk[victim]] = -1;
        r->slot_chunk[victim] = -1;
        size_t first = c * r->chunk_n;
        size_t n = r->count - first < r->chunk_n ? r->count - first : r->chunk_n;
        hsize_t start[4] = {first, 0, 0, 0}, cnt[4] = {n, (hsize_t)r->C, (hsize_t)r->H, (hsize_t)r->W};
        mspace = H5Screate_simple(4, cnt, NULL);
        if (H5Sselect_hyperslab(r->fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
            H5Dread(r->dimg, H5T_NATIVE_UINT8, mspace, r->fspace, H5P_DEFAULT,
                    r->slots + victim * r->chunk_bytes) < 0)
            ABSA_FAIL(ABSA_EIO, "reading chunk %zu of the images failed", c);
        r->reads++;
        r->slot_chunk[victim] = (int64_t)c;
        r->chunk_slot[c] = (int64_t)victim;
        s = (int64_t)victim;
    }
    r->slot_used[s] = ++r->tick;
    *data = r->slots + (size_t)s * r->chunk_bytes;
cleanup:
    if (mspace >= 0) H5Sclose(mspace);
    return status;
}

static int absa_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

absa_status absa_h5reader_gather_u8(absa_h5reader *r, const uint64_t *idx, size_t n,
                                    uint8_t *images, int32_t *labels)
{
    absa_status status = ABSA_OK;
    const size_t sb = r->sample_bytes;
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= r->count)
            ABSA_FAIL(ABSA_EINVAL, "sample index %llu out of range (count %zu)", (unsigned long long)idx[i], r->count);
    if (labels)
        for (size_t i = 0; i < n; i++) labels[i] = r->labels[idx[i]];
    if (r->all) {
        for (size_t i = 0; i < n; i++) memcpy(images + i * sb, r->all + idx[i] * sb, sb);
        goto cleanup;
    }
    /* group by chunk: key = chunk << 32 | position (batches are < 2^32 samples) */
    ABSA_ASSERT(n < ((size_t)1 << 32), "batch too large");
    if (n > r->keys_cap) {
        free(r->keys);
        r->keys = malloc(n * sizeof *r->keys);
        if (!r->keys) {
            r->keys_cap = 0;
            ABSA_FAIL(ABSA_ENOMEM, "out of memory (gather)");
        }
        r->keys_cap = n;
    }
    for (size_t i = 0; i < n; i++) r->keys[i] = (uint64_t)(idx[i] / r->chunk_n) << 32 | i;
    qsort(r->keys, n, sizeof *r->keys, absa_u64_cmp);
    const uint8_t *data = NULL;
    int64_t cur = -1;
    for (size_t k = 0; k < n; k++) {
        size_t c = (size_t)(r->keys[k] >> 32), i = (size_t)(r->keys[k] & 0xffffffffu);
        if ((int64_t)c != cur) {
            ABSA_TRY(absa_h5reader_load(r, c, &data));
            cur = (int64_t)c;
        }
        memcpy(images + i * sb, data + (idx[i] - c * r->chunk_n) * sb, sb);
    }
cleanup:
    return status;
}
