/* cifar_py.h — readers for the CIFAR "python version" (what most users have on disk):
 * cifar-10-python.tar.gz / cifar-100-python.tar.gz, or their extracted folders, whose members
 * are Python 2 pickles (protocol 2) of one dict each. Two small, strict parsers:
 *   - absa_tar_each: the regular-file members of a tar archive, gzipped or not (zlib);
 *   - absa_cifar_pickle_parse: only the pickle opcodes and the dict structure CIFAR uses —
 *     b'data' (numpy uint8 ndarray N x 3072, C order), b'labels' or b'fine_labels' +
 *     b'coarse_labels' (lists of ints), b'filenames', b'batch_label', and in the meta files
 *     b'label_names' or b'fine_label_names' + b'coarse_label_names' (lists of strings).
 * Every length is checked against the bytes that are there; anything else is a one-line error
 * naming the source, never a crash. Used by pack_cifar.c. */
#ifndef ABSA_CIFAR_PY_H
#define ABSA_CIFAR_PY_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"

#define ABSA_CIFAR_PY_IMG 3072
/* the biggest member read into memory (CIFAR-100 train is 158 MB) */
#define ABSA_TAR_MAX_MEMBER ((size_t)1 << 30)

/* One decoded pickle. A data batch has n > 0 and data/fine (and coarse for CIFAR-100); a meta
 * file has names (label_names or fine_label_names) and for CIFAR-100 coarse_names. */
typedef struct absa_cifar_py {
    size_t n;
    uint8_t *data;        /* n x 3072, channel-major 3x32x32 per image */
    int32_t *fine;        /* b'labels' (CIFAR-10) or b'fine_labels' */
    int32_t *coarse;      /* b'coarse_labels' or NULL */
    char **names;         /* b'label_names' / b'fine_label_names', or NULL */
    int n_names;
    char **coarse_names;  /* b'coarse_label_names', or NULL */
    int n_coarse_names;
} absa_cifar_py;

/* Parse a pickle held in buf (what = its name for messages); out is owned by the caller. */
absa_status absa_cifar_pickle_parse(const uint8_t *buf, size_t len, const char *what, absa_cifar_py *out);
void absa_cifar_py_free(absa_cifar_py *p);

/* Calls fn for every regular file in the tar at path (gzip or plain) whose want() is non-zero,
 * with the member's bytes (valid during the call). Member names are given as in the archive. */
typedef int (*absa_tar_want_fn)(void *ctx, const char *name);
typedef absa_status (*absa_tar_member_fn)(void *ctx, const char *name, const uint8_t *data, size_t n);
absa_status absa_tar_each(const char *path, absa_tar_want_fn want, absa_tar_member_fn fn, void *ctx);

/* Reads a whole (small or large) file into memory, at most ABSA_TAR_MAX_MEMBER bytes. */
absa_status absa_read_whole_file(const char *path, uint8_t **buf, size_t *len);
#endif
