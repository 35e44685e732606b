/* dataset.h — loading a fixed set of samples into RAM as float32 for the engine's commands
 * (absa eig, absa bench, tests): from a packed HDF5 file (hdf5_io reader) or directly from
 * MNIST/Fashion-MNIST IDX files (gzipped or not). Validates labels and shapes and reports
 * bad input as one-line errors. */
#ifndef ABSA_DATASET_H
#define ABSA_DATASET_H
#include <stdint.h>

#include "absa_error.h"

typedef struct absa_samples {
    int n, C, H, W, n_classes;
    float *x;   /* n x C x H x W, (u8/255 - mean)/std when normalised, else u8/255 */
    int32_t *y; /* n labels in [0, n_classes) */
    float mean[4], std[4]; /* per channel, [0,1] units (the train split's) */
} absa_samples;

/* Default dataset path: Debian's dataset-fashion-mnist IDX directory. */
#define ABSA_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* Load n samples of `split` ("train" or "test"): path is a packed .h5 file or a directory with
 * IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]). n <= 0 means all. If shuffle,
 * the samples are the first n of a permutation drawn from seed, else the first n in file order. */
absa_status absa_samples_load(const char *path, const char *split, int n, int shuffle,
                              uint64_t seed, int normalise, absa_samples *out);
void absa_samples_free(absa_samples *s);

/* Parse an IDX file (magic 0x0000080<ndim>, big-endian dims, uint8 payload), gzipped or not.
 * On success *data (malloc'd) holds prod(dims) bytes. */
absa_status absa_idx_read(const char *path, int want_ndim, uint32_t dims[3], uint8_t **data);
#endif
