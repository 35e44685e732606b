/* h5reader.c — read access to one split of a packed HDF5 dataset: the whole split in RAM when it
 * fits the memory budget, otherwise whole chunks (one regular hyperslab H5Dread per chunk, never
 * one per sample, never union selections) either through an LRU cache (random gathers) or
 * through a look-ahead window over a planned epoch order (absa_h5reader_plan / _next_*), both in
 * one arena of the budget's size. See h5reader.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base_sys.h"
#include "h5pack.h"
#include "h5reader.h"

struct absa_h5reader {
    hid_t file, dimg, fspace;
    int C, H, W, num_classes;
    size_t count, sample_bytes;
    float mean[4], std[4];
    int32_t *labels;
    uint8_t *all; /* whole split (RAM path) */
    absa_h5reader_ram ram; /* where `all` came from when ram.alloc gave it (else malloc) */
    int all_hooked;
    /* chunk cache; `slots` is the arena shared with the window (the path used last owns it) */
    size_t chunk_n, nchunks, nslots, chunk_bytes, arena_bytes;
    uint8_t *slots;
    int64_t *slot_chunk;  /* chunk held by each slot, -1 free */
    int64_t *chunk_slot;  /* slot holding each chunk, -1 absent */
    uint64_t *slot_used, tick, reads;
    /* gather scratch: (chunk, position) keys sorted by chunk */
    uint64_t *keys;
    size_t keys_cap;
    /* planned order and look-ahead window: staging holds plan[win0, win0+win_n) in plan order
     * (arena[0, win_cap*sample_bytes)), followed by one chunk of scratch */
    uint64_t *plan;
    size_t plan_n, win_cap, win0, win_n; /* win_n == 0: no valid window (or arena used by the cache) */
    size_t *bucket_start;                /* nchunks+1 counting-sort offsets */
    uint32_t *bucket_pos;                /* win_cap window positions grouped by chunk */
    size_t plan_cap;
    int arena_window;                    /* 1 while the arena holds the window, 0 the LRU cache */
    int serve_pending;                   /* next_f32 -> gather_f32 -> gather_u8 hand-over */
    size_t serve_cursor, serve_n;
};

static absa_status absa_h5reader_attr_floats(const char *path, hid_t f, const char *name, float *v, int n)
{
    absa_status status = ABSA_OK;
    hid_t a = -1, sp = -1;
    if (H5Aexists(f, name) <= 0) ABSA_FAIL(ABSA_EFORMAT, "%s: attribute %s missing (not packed by absa?)", path, name);
    a = H5Aopen(f, name, H5P_DEFAULT);
    sp = a < 0 ? -1 : H5Aget_space(a);
    if (sp < 0 || H5Sget_simple_extent_npoints(sp) != n)
        ABSA_FAIL(ABSA_EFORMAT, "%s: attribute %s has the wrong length (want %d)", path, name, n);
    if (H5Aread(a, H5T_NATIVE_FLOAT, v) < 0)
        ABSA_FAIL(ABSA_EHDF5, "%s: cannot read attribute %s (%s)", path, name, absa_h5_detail());
cleanup:
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return status;
}

absa_status absa_h5reader_open(const char *path, const char *split, size_t memory_budget_bytes,
                               absa_h5reader **out)
{
    return absa_h5reader_open_ram(path, split, memory_budget_bytes, NULL, out);
}

absa_status absa_h5reader_open_ram(const char *path, const char *split, size_t memory_budget_bytes,
                                   const absa_h5reader_ram *ram, absa_h5reader **out)
{
    absa_status status = ABSA_OK;
    hid_t fapl = -1, dlab = -1, dcpl = -1;
    char name[512];
    absa_h5reader *r = absa_xcalloc(1, sizeof *r);
    r->file = r->dimg = r->fspace = -1;
    *out = NULL;
    absa_h5_quiet();
    fapl = absa_h5_fapl_nolock();
    ABSA_TRY(absa_h5_open_packed(path, fapl, &r->file));
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
        ABSA_FAIL(ABSA_EIO, "%s: reading /%s/labels failed (%s)", path, split, absa_h5_detail());
    ABSA_TRY(absa_h5_read_num_classes(path, r->file, &r->num_classes));
    /* every label of the split is checked here, once: train and test alike */
    for (size_t i = 0; i < r->count; i++)
        if (r->labels[i] < 0 || r->labels[i] >= r->num_classes)
            ABSA_FAIL(ABSA_EFORMAT, "%s: split '%s': sample %zu has label %d outside [0, %d) (num_classes = %d)",
                      path, split, i, (int)r->labels[i], r->num_classes, r->num_classes);
    ABSA_TRY(absa_h5reader_attr_floats(path, r->file, "mean", r->mean, r->C));
    ABSA_TRY(absa_h5reader_attr_floats(path, r->file, "std", r->std, r->C));
    for (int c = 0; c < r->C; c++) {
        if (!isfinite(r->mean[c]) || r->mean[c] < 0 || r->mean[c] > 1)
            ABSA_FAIL(ABSA_EFORMAT, "%s: attribute mean[%d] = %g is outside [0, 1]", path, c, (double)r->mean[c]);
        if (!isfinite(r->std[c]) || r->std[c] < 0 || r->std[c] > 1)
            ABSA_FAIL(ABSA_EFORMAT, "%s: attribute std[%d] = %g is outside [0, 1]", path, c, (double)r->std[c]);
        if (!(r->std[c] > 0)) r->std[c] = 1.0f; /* constant channel: avoid division by zero */
    }

    size_t total = r->count * r->sample_bytes;
    if (total <= memory_budget_bytes) {
        if (ram && ram->alloc && (r->all = ram->alloc(ram->ctx, total)) != NULL) {
            r->ram = *ram;
            r->all_hooked = 1;
        } else {
            r->all = malloc(total);
            if (!r->all) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate %zu bytes for split %s", total, split);
            absa_advise_huge(r->all, total); /* random gathers: 20-30 % faster measured (absa serve) */
        }
        if (H5Dread(r->dimg, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->all) < 0)
            ABSA_FAIL(ABSA_EIO, "%s: reading %s images failed (%s)", path, split, absa_h5_detail());
        if (r->all_hooked && r->ram.loaded) r->all = r->ram.loaded(r->ram.ctx);
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
        /* window: staging of the budget less one chunk of scratch, at least one chunk's samples */
        r->win_cap = memory_budget_bytes > r->chunk_bytes
                         ? (memory_budget_bytes - r->chunk_bytes) / r->sample_bytes
                         : 0;
        if (r->win_cap < r->chunk_n) r->win_cap = r->chunk_n;
        if (r->win_cap > r->count) r->win_cap = r->count;
        if (r->win_cap > UINT32_MAX) r->win_cap = UINT32_MAX; /* window positions are uint32 */
        r->arena_bytes = r->nslots * r->chunk_bytes;
        if (r->arena_bytes < r->win_cap * r->sample_bytes + r->chunk_bytes)
            r->arena_bytes = r->win_cap * r->sample_bytes + r->chunk_bytes;
        r->slots = malloc(r->arena_bytes);
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
    if (r->all_hooked) {
        if (r->ram.release) r->ram.release(r->ram.ctx);
    } else {
        free(r->all);
    }
    free(r->slots);
    free(r->slot_chunk);
    free(r->slot_used);
    free(r->chunk_slot);
    free(r->keys);
    free(r->plan);
    free(r->bucket_start);
    free(r->bucket_pos);
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

/* One whole-chunk read (a regular hyperslab of the chunk's samples) of chunk c into dst. */
static absa_status absa_h5reader_read_chunk(absa_h5reader *r, size_t c, uint8_t *dst)
{
    absa_status status = ABSA_OK;
    size_t first = c * r->chunk_n;
    size_t n = r->count - first < r->chunk_n ? r->count - first : r->chunk_n;
    hsize_t start[4] = {first, 0, 0, 0}, cnt[4] = {n, (hsize_t)r->C, (hsize_t)r->H, (hsize_t)r->W};
    hid_t mspace = H5Screate_simple(4, cnt, NULL);
    if (mspace < 0 || H5Sselect_hyperslab(r->fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dread(r->dimg, H5T_NATIVE_UINT8, mspace, r->fspace, H5P_DEFAULT, dst) < 0)
        ABSA_FAIL(ABSA_EIO, "reading chunk %zu of the images failed (%s)", c, absa_h5_detail());
    r->reads++;
cleanup:
    if (mspace >= 0) H5Sclose(mspace);
    return status;
}

/* Hand the arena to the LRU cache (window = 0) or to the window (1), dropping the other's data. */
static void absa_h5reader_arena_to(absa_h5reader *r, int window)
{
    if (r->arena_window == window) return;
    r->arena_window = window;
    r->win_n = 0;
    for (size_t s = 0; s < r->nslots; s++) {
        r->slot_chunk[s] = -1;
        r->slot_used[s] = 0;
    }
    for (size_t c = 0; c < r->nchunks; c++) r->chunk_slot[c] = -1;
}

/* Make chunk c resident; returns its bytes. */
static absa_status absa_h5reader_load(absa_h5reader *r, size_t c, const uint8_t **data)
{
    absa_status status = ABSA_OK;
    absa_h5reader_arena_to(r, 0);
    int64_t s = r->chunk_slot[c];
    if (s < 0) {
        size_t victim = 0;
        for (size_t k = 1; k < r->nslots; k++)
            if (r->slot_used[k] < r->slot_used[victim]) victim = k;
        if (r->slot_chunk[victim] >= 0) r->chunk_slot[r->slot_chunk[victim]] = -1;
        r->slot_chunk[victim] = -1;
        ABSA_TRY(absa_h5reader_read_chunk(r, c, r->slots + victim * r->chunk_bytes));
        r->slot_chunk[victim] = (int64_t)c;
        r->chunk_slot[c] = (int64_t)victim;
        s = (int64_t)victim;
    }
    r->slot_used[s] = ++r->tick;
    *data = r->slots + (size_t)s * r->chunk_bytes;
cleanup:
    return status;
}

static int absa_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

absa_status absa_h5reader_gather_labels(const absa_h5reader *r, const uint64_t *idx, size_t n, int32_t *labels)
{
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= r->count) {
            absa_errorf("sample index %llu out of range (count %zu)", (unsigned long long)idx[i], r->count);
            return ABSA_EINVAL;
        }
    if (labels)
        for (size_t i = 0; i < n; i++) labels[i] = r->labels[idx[i]];
    return ABSA_OK;
}

absa_status absa_h5reader_gather_u8(absa_h5reader *r, const uint64_t *idx, size_t n,
                                    uint8_t *images, int32_t *labels)
{
    absa_status status = ABSA_OK;
    const size_t sb = r->sample_bytes;
    if (r->serve_pending) { /* absa_h5reader_next_f32's batch, passed through gather_f32 */
        r->serve_pending = 0;
        ABSA_ASSERT(idx == r->plan + r->serve_cursor && n == r->serve_n, "unexpected hand-over");
        return absa_h5reader_next_u8(r, r->serve_cursor, n, images, labels);
    }
    ABSA_TRY(absa_h5reader_gather_labels(r, idx, n, labels));
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

/* ---- planned order: look-ahead window ---- */

absa_status absa_h5reader_plan(absa_h5reader *r, const uint64_t *order, size_t n)
{
    absa_status status = ABSA_OK;
    for (size_t i = 0; i < n; i++)
        if (order[i] >= r->count)
            ABSA_FAIL(ABSA_EINVAL, "plan position %zu: sample index %llu out of range (count %zu)", i,
                      (unsigned long long)order[i], r->count);
    if (!r->all && !r->bucket_start) {
        r->bucket_start = malloc((r->nchunks + 1) * sizeof *r->bucket_start);
        r->bucket_pos = malloc(r->win_cap * sizeof *r->bucket_pos);
        if (!r->bucket_start || !r->bucket_pos) {
            free(r->bucket_start);
            free(r->bucket_pos);
            r->bucket_start = NULL;
            r->bucket_pos = NULL;
            ABSA_FAIL(ABSA_ENOMEM, "cannot allocate the window index");
        }
    }
    r->plan_n = 0;
    r->win_n = 0;
    if (n > r->plan_cap || !r->plan) {
        free(r->plan);
        r->plan_cap = 0;
        r->plan = malloc((n ? n : 1) * sizeof *r->plan);
        if (!r->plan) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate a plan of %zu samples", n);
        r->plan_cap = n;
    }
    if (n) memcpy(r->plan, order, n * sizeof *order);
    r->plan_n = n;
cleanup:
    return status;
}

size_t absa_h5reader_window_samples(const absa_h5reader *r) { return r->all ? 0 : r->win_cap; }

/* Stage plan[p, p + win_cap) (clipped to the plan): group the positions by chunk (counting
 * sort), read every chunk they touch once into the scratch slot after the staging area and copy
 * each sample to its position. */
static absa_status absa_h5reader_load_window(absa_h5reader *r, size_t p)
{
    absa_status status = ABSA_OK;
    const size_t sb = r->sample_bytes, n = r->plan_n - p < r->win_cap ? r->plan_n - p : r->win_cap;
    const uint64_t *idx = r->plan + p;
    size_t *bs = r->bucket_start;
    uint8_t *stage = r->slots, *scratch = r->slots + r->win_cap * sb;
    absa_h5reader_arena_to(r, 1);
    r->win_n = 0;
    memset(bs, 0, (r->nchunks + 1) * sizeof *bs);
    for (size_t i = 0; i < n; i++) bs[idx[i] / r->chunk_n + 1]++;
    for (size_t c = 0; c < r->nchunks; c++) bs[c + 1] += bs[c];
    for (size_t i = 0; i < n; i++) r->bucket_pos[bs[idx[i] / r->chunk_n]++] = (uint32_t)i;
    /* now bs[c] is the end of chunk c's positions (and the start of chunk c+1's) */
    for (size_t c = 0, begin = 0; c < r->nchunks; begin = bs[c], c++) {
        if (bs[c] == begin) continue;
        ABSA_TRY(absa_h5reader_read_chunk(r, c, scratch));
        const uint64_t first = (uint64_t)c * r->chunk_n;
        for (size_t k = begin; k < bs[c]; k++) {
            size_t i = r->bucket_pos[k];
            memcpy(stage + i * sb, scratch + (idx[i] - first) * sb, sb);
        }
    }
    r->win0 = p;
    r->win_n = n;
cleanup:
    return status;
}

absa_status absa_h5reader_next_u8(absa_h5reader *r, size_t cursor, size_t n, uint8_t *images,
                                  int32_t *labels)
{
    absa_status status = ABSA_OK;
    const size_t sb = r->sample_bytes;
    if (cursor > r->plan_n || n > r->plan_n - cursor)
        ABSA_FAIL(ABSA_EINVAL, "plan positions [%zu, %zu) beyond the plan of %zu samples", cursor,
                  cursor + n, r->plan_n);
    if (n == 0) goto cleanup;
    const uint64_t *idx = r->plan + cursor;
    if (labels)
        for (size_t i = 0; i < n; i++) labels[i] = r->labels[idx[i]];
    if (r->all) {
        for (size_t i = 0; i < n; i++) memcpy(images + i * sb, r->all + idx[i] * sb, sb);
        goto cleanup;
    }
    for (size_t done = 0; done < n;) {
        size_t p = cursor + done;
        if (!r->arena_window || r->win_n == 0 || p < r->win0 || p >= r->win0 + r->win_n)
            ABSA_TRY(absa_h5reader_load_window(r, p));
        size_t k = r->win0 + r->win_n - p;
        if (k > n - done) k = n - done;
        memcpy(images + done * sb, r->slots + (p - r->win0) * sb, k * sb);
        done += k;
    }
cleanup:
    return status;
}

absa_status absa_h5reader_next_f32(absa_h5reader *r, size_t cursor, size_t n, int normalise,
                                   int crop_pad, int flip, uint64_t aug_seed, float *x,
                                   int32_t *labels)
{
    absa_status status = ABSA_OK;
    if (cursor > r->plan_n || n > r->plan_n - cursor)
        ABSA_FAIL(ABSA_EINVAL, "plan positions [%zu, %zu) beyond the plan of %zu samples", cursor,
                  cursor + n, r->plan_n);
    if (n == 0) goto cleanup;
    /* gather_f32 (h5augment.c) converts and augments what gather_u8 returns for these indices;
     * the flag makes that gather_u8 call serve plan[cursor, cursor+n) from the window instead */
    r->serve_pending = 1;
    r->serve_cursor = cursor;
    r->serve_n = n;
    status = absa_h5reader_gather_f32(r, r->plan + cursor, n, normalise, crop_pad, flip, aug_seed,
                                      x, labels);
    r->serve_pending = 0;
cleanup:
    return status;
}
