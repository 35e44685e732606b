/* h5reader.h — the trainer's read access to one split of a packed HDF5 dataset (docs/data.md).
 *
 * absa_h5reader_open opens the file read-only with HDF5 file locking off (shared file systems).
 * If the split's images fit memory_budget_bytes the whole split is read into RAM with one H5Dread;
 * otherwise whole chunks are read on demand into an LRU cache of budget/chunk_bytes slots (at least
 * one) and batches are assembled by memcpy: a gather groups its indices by chunk, so each chunk
 * it needs is read at most once per call. Labels always live in RAM.
 *
 * A reader is not thread-safe (one per thread, or external locking). Indices must be < count.
 *
 * Determinism: absa_permutation(seed, epoch, n) is a Fisher-Yates shuffle driven by a
 * counter-based hash of (seed, epoch, step), identical on every machine and rank. Augmentation in
 * absa_h5reader_gather_f32 draws each sample's crop offset and flip from a hash of
 * (aug_seed, sample index idx[i]) only, so it does not depend on batch composition or order, or on
 * how a batch is split across ranks. Padding is zero in uint8 space (as torchvision's
 * RandomCrop(padding=p) before ToTensor/Normalize), i.e. -mean/std after normalisation.
 *
 * Planned order (the trainer's epoch walk): absa_h5reader_plan copies the epoch's sample order,
 * then absa_h5reader_next_u8/_f32(cursor, n) return exactly what gather_u8/_f32 return for
 * plan[cursor, cursor+n). When the split is not in RAM they read through a look-ahead window: for
 * the next absa_h5reader_window_samples() plan positions, every chunk those positions touch is read
 * once (whole chunk) and the samples are copied into a staging buffer in plan order; batches are
 * copied out of it, and a batch crossing the window's end loads the next window. A cursor outside
 * the window (a jump) starts a new window there. Staging plus one chunk of scratch fit the memory
 * budget (or two chunks when the budget is smaller); they share one arena with the LRU cache of
 * gather_*, so interleaving gathers with next_* is correct but reloads the window.
 */
#ifndef ABSA_H5READER_H
#define ABSA_H5READER_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "base_hash.h" /* absa_permutation, absa_hash64 (the data path's shuffle) */

typedef struct absa_h5reader absa_h5reader;

absa_status absa_h5reader_open(const char *path, const char *split, size_t memory_budget_bytes,
                               absa_h5reader **out);
/* Where a split held whole in RAM lives, when the caller wants to place it (absa serve shares it
 * with same-node clients: src/stream/ucx_local.h). alloc(ctx, bytes) returns the memory, or NULL
 * to fall back to malloc; once the images are read, loaded(ctx) (if set) returns where they are
 * now (the reader never writes them again); release(ctx) at close. */
typedef struct absa_h5reader_ram {
    void *ctx;
    void *(*alloc)(void *ctx, size_t bytes);
    void *(*loaded)(void *ctx);
    void (*release)(void *ctx);
} absa_h5reader_ram;
absa_status absa_h5reader_open_ram(const char *path, const char *split, size_t memory_budget_bytes,
                                   const absa_h5reader_ram *ram, absa_h5reader **out);
/* labels of samples idx[0..n) (labels NULL: only the check); ABSA_EINVAL, nothing written, if an index is >= count */
absa_status absa_h5reader_gather_labels(const absa_h5reader *r, const uint64_t *idx, size_t n, int32_t *labels);
void absa_h5reader_close(absa_h5reader *r);
/* shape and metadata */
size_t absa_h5reader_count(const absa_h5reader *r);
void absa_h5reader_shape(const absa_h5reader *r, int *C, int *H, int *W);
int absa_h5reader_num_classes(const absa_h5reader *r);
const float *absa_h5reader_mean(const absa_h5reader *r); /* per-channel train mean, [0,1] units, C entries */
const float *absa_h5reader_std(const absa_h5reader *r);
/* 1 when the whole split is in RAM, 0 when the chunk cache is used */
int absa_h5reader_in_ram(const absa_h5reader *r);
/* number of chunk reads (H5Dread calls on images) since open, for tests and benchmarks */
uint64_t absa_h5reader_chunk_reads(const absa_h5reader *r);
/* raw access: copy samples idx[0..n) (any order) as uint8 NCHW + int32 labels (labels may be NULL) */
absa_status absa_h5reader_gather_u8(absa_h5reader *r, const uint64_t *idx, size_t n,
                                    uint8_t *images, int32_t *labels);
/* float batch: x = (u8/255 - mean)/std if normalise, else u8/255; optional augmentation (random
 * crop with zero padding `crop_pad`, horizontal flip with probability 1/2 if flip) */
absa_status absa_h5reader_gather_f32(absa_h5reader *r, const uint64_t *idx, size_t n,
                                     int normalise, int crop_pad, int flip, uint64_t aug_seed,
                                     float *x, int32_t *labels);
/* planned order: copies order[0, n) (indices < count, any order, repeats allowed); replaces any
 * earlier plan and drops the window */
absa_status absa_h5reader_plan(absa_h5reader *r, const uint64_t *order, size_t n);
/* samples plan[cursor, cursor+n) as gather_u8 / gather_f32 would return them (byte-identical,
 * augmentation keyed by the sample index as there); ABSA_EINVAL past the plan's end */
absa_status absa_h5reader_next_u8(absa_h5reader *r, size_t cursor, size_t n, uint8_t *images,
                                  int32_t *labels);
absa_status absa_h5reader_next_f32(absa_h5reader *r, size_t cursor, size_t n, int normalise,
                                   int crop_pad, int flip, uint64_t aug_seed, float *x,
                                   int32_t *labels);
/* plan positions per window (0 when the split is in RAM: no window is needed) */
size_t absa_h5reader_window_samples(const absa_h5reader *r);
/* The float conversion of gather_f32 on samples already in memory (e.g. streamed over UCX):
 * x = (u8/255 - mean)/std (or u8/255), with the crop/flip of sample ids[i] drawn from
 * (aug_seed, ids[i]) exactly as gather_f32 draws them. C <= 4. */
void absa_u8_to_f32(const uint8_t *u8, const uint64_t *ids, size_t n, int C, int H, int W,
                    const float *mean, const float *std, int normalise, int crop_pad, int flip,
                    uint64_t aug_seed, float *x);

#endif
