/* h5pack.h — internal interface of the dataset packers (hdf5_io/): the HDF5 split writer that
 * every format packer streams samples into, the packer entry points, and small shared helpers.
 *
 * A packer (absa_pack_idx, absa_pack_cifar, ...) parses its source files and calls, in order,
 *   absa_h5w_set_classes (and optionally absa_h5w_set_coarse_classes), absa_h5w_add_source for every
 *   file it reads, then per split absa_h5w_begin_split / absa_h5w_append... / absa_h5w_end_split.
 * The same packer runs against a writer in one of three modes:
 *   WRITE   creates the HDF5 file (layout in docs/data.md),
 *   VERIFY  re-reads an existing file and compares every byte with what the packer emits (--verify),
 *   DISCARD validates and drops everything (used by the fuzz targets; touches no HDF5).
 * Not thread-safe; one writer per thread.
 */
#ifndef ABSA_H5PACK_H
#define ABSA_H5PACK_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "absa_error.h"

#define ABSA_H5_FORMAT_VERSION 1
#define ABSA_H5_DEFAULT_CHUNK_BYTES ((size_t)1 << 20)
#define ABSA_H5_BLOSC_FILTER 32001
/* sanity limits on what a header may claim, checked before any allocation */
#define ABSA_H5_MAX_DIM 16384
#define ABSA_H5_MAX_SAMPLE_BYTES ((size_t)64 << 20)
#define ABSA_H5_MAX_CLASSES 100000

typedef enum absa_h5w_mode { ABSA_H5W_WRITE, ABSA_H5W_VERIFY, ABSA_H5W_DISCARD } absa_h5w_mode;
typedef enum absa_h5_compress {
    ABSA_H5_COMPRESS_NONE = 0,
    ABSA_H5_COMPRESS_DEFLATE,
    ABSA_H5_COMPRESS_BLOSC
} absa_h5_compress;

typedef struct absa_h5w_opts {
    absa_h5_compress compress;
    int level;          /* deflate 1..9 / blosc 1..9 */
    size_t chunk_bytes; /* target chunk size; 0 = 1 MiB */
    int quiet;          /* no progress on stderr */
} absa_h5w_opts;

typedef struct absa_h5w absa_h5w;

absa_status absa_h5w_open(const char *path, absa_h5w_mode mode, const absa_h5w_opts *opts,
                          const char *format_name, absa_h5w **out);
/* names may be NULL: "0", "1", ... are used. */
absa_status absa_h5w_set_classes(absa_h5w *w, int num_classes, const char *const *names);
absa_status absa_h5w_set_coarse_classes(absa_h5w *w, int num_classes, const char *const *names);
/* Records name, size and zlib CRC-32 of a source file's on-disk bytes (WRITE mode only). */
absa_status absa_h5w_add_source(absa_h5w *w, const char *path);
/* Same with a checksum computed by the caller (e.g. over many files, see pack_imagefolder.c). */
absa_status absa_h5w_add_source_crc(absa_h5w *w, const char *name, uint64_t size, uint32_t crc);
absa_status absa_h5w_begin_split(absa_h5w *w, const char *split, uint64_t count, int C, int H,
                                 int W);
/* n samples, NCHW uint8; labels must lie in [0, num_classes); coarse only after
 * set_coarse_classes (else must be NULL). Appending past `count` is an error. */
absa_status absa_h5w_append(absa_h5w *w, const uint8_t *images, const int32_t *labels,
                            const int32_t *coarse, size_t n);
absa_status absa_h5w_end_split(absa_h5w *w);
/* WRITE: writes mean/std (from split "train", else the first split) and closes. Frees w. */
absa_status absa_h5w_close(absa_h5w *w);
/* Close without finishing (after an error). Frees w; NULL is fine. */
void absa_h5w_discard(absa_h5w *w);

/* ---- packers ---- */
typedef struct absa_pack_args {
    const char *const *inputs; /* files or directories */
    int ninputs;
    const char *class_names; /* comma-separated override, or NULL */
    int size_h, size_w;      /* imagefolder output size (0 = default) */
} absa_pack_args;

typedef absa_status (*absa_packer_fn)(const absa_pack_args *a, absa_h5w *w);
absa_status absa_pack_idx(const absa_pack_args *a, absa_h5w *w);
absa_status absa_pack_cifar10(const absa_pack_args *a, absa_h5w *w);
absa_status absa_pack_cifar100(const absa_pack_args *a, absa_h5w *w);
absa_status absa_pack_svhn(const absa_pack_args *a, absa_h5w *w);
absa_status absa_pack_imagefolder(const absa_pack_args *a, absa_h5w *w);

/* ---- helpers (h5util.c) ---- */
/* zlib CRC-32 and size of a file's bytes. */
absa_status absa_file_crc32(const char *path, uint32_t *crc, uint64_t *size);
int absa_path_is_dir(const char *path);
int absa_path_exists(const char *path);
const char *absa_path_basename(const char *path);
/* Split "a,b,c" into a NULL-terminated array of strdup'd names (free with absa_free_names). */
absa_status absa_split_names(const char *csv, char ***names, int *n);
/* One name per non-empty line of a text file (trailing blanks / CR removed). */
absa_status absa_read_name_file(const char *path, char ***names, int *n);
void absa_free_names(char **names, int n);
/* File access property list with file locking off (shared file systems). */
hid_t absa_h5_fapl_nolock(void);
/* Write a variable-length UTF-8 string (array) attribute. */
absa_status absa_h5_attr_strings(hid_t loc, const char *name, const char *const *v, size_t n);
absa_status absa_h5_attr_string(hid_t loc, const char *name, const char *v);
/* Read a string attribute into buf (truncated to cap). */
absa_status absa_h5_read_attr_string(hid_t loc, const char *name, char *buf, size_t cap);
/* ---- h5safe.c ---- */
/* zlib CRC-32 of a buffer of any size. */
uint32_t absa_crc32_buf(const void *buf, size_t bytes);
/* The innermost message of HDF5's current error stack (then cleared; a failed write(2) gives
 * the system's message, e.g. "No space left on device"); thread-local buffer. */
const char *absa_h5_detail(void);
/* Writers of checkpoints and packed files: the HDF5 1.10 format, whose metadata (superblock,
 * object headers, chunk indexes, heaps) carries checksums that HDF5 verifies when reading. */
herr_t absa_h5_set_checksummed_format(hid_t fapl);
/* Open an existing HDF5 file read-only with a precise one-line message per failure ("<what> PATH:
 * no such file", "is a directory", "is not an HDF5 file", "cannot open HDF5 file (truncated or
 * corrupt?)"). */
absa_status absa_h5_open_existing(const char *path, hid_t fapl, const char *what, hid_t *out);
/* absa_h5_open_existing for a packed dataset: refuses checkpoints and a format_version other
 * than ABSA_H5_FORMAT_VERSION (absent is accepted: files written by other tools). */
absa_status absa_h5_open_packed(const char *path, hid_t fapl, hid_t *out);
/* 1 if the open file looks like an absa checkpoint (root attribute + group "model") / a packed
 * dataset (root attributes "splits" and "layout"). */
int absa_h5_is_checkpoint(hid_t f);
int absa_h5_is_packed(hid_t f);
/* Check every HDF5 global heap collection (where variable-length strings live; the one metadata
 * structure without a checksum, parsed by HDF5 without bounds checks) of an open file: call
 * before reading string attributes of a file that may be corrupt. Reads the file's metadata
 * bytes (not its raw data). ABSA_EFORMAT "PATH: corrupt HDF5 global heap ..." when one is not
 * sound. */
absa_status absa_h5_check_global_heaps(const char *path, hid_t file);
/* The root num_classes attribute, checked to be an integer in [2, ABSA_H5_MAX_CLASSES]. */
absa_status absa_h5_read_num_classes(const char *path, hid_t f, int *num_classes);
/* Close a file being written; on failure (disk full) close every object still open on it and
 * release it so that neither this call nor HDF5's exit handler touches it again, and report
 * "PATH: cannot finish the HDF5 file". *f becomes invalid either way. The caller removes PATH. */
absa_status absa_h5_close_file(hid_t *f, const char *path);
/* The failure half of absa_h5_close_file: close every object of f and f itself, whatever it
 * takes; discard (files being written only): truncate the file first, its content is dropped. */
void absa_h5_close_all(hid_t f, int discard);
/* Silence / restore HDF5's automatic error stack printing. */
void absa_h5_quiet(void);

/* IDX parsing shared by the packer and src/io/dataset.c (gzipped or plain files through zlib):
 * absa_gz_read reads up to n bytes (*got = how many arrived before EOF; a corrupt stream is
 * ABSA_EFORMAT); absa_idx_header checks the magic (unsigned bytes, ndim dimensions) and reads the
 * big-endian dimensions, *hdr_bytes = 4 + 4*ndim. Messages name the file. */
#include <zlib.h>
absa_status absa_gz_read(gzFile f, const char *path, void *buf, size_t n, size_t *got);
absa_status absa_idx_header(gzFile f, const char *path, int ndim, uint32_t *dims, size_t *hdr_bytes);

#endif
