/* fuzz_parsers.c — libFuzzer target for the IDX and CIFAR parsers (hdf5_io/pack_idx.c,
 * pack_cifar.c, and the python version's pickle and tar readers in cifar_py.c) driven through
 * their real entry points with a DISCARD writer (no HDF5 I/O).
 * Input layout: byte 0 selects the format (by value mod 6: 0 idx, 1 cifar10, 2 cifar100 binary;
 * 3 a CIFAR-10 python pickle data_batch_1, 4 a CIFAR-100 pickle `train`, 5 a CIFAR-10 python
 * tar archive, gzipped or plain);
 * for idx, byte 1 splits the rest into the images file and the labels file (split at
 * byte1 * len / 256). The files are written to a per-process temporary directory (IDX content
 * may be gzip: zlib sniffs it). A parser may reject input with any status, but must not crash,
 * leak, overflow or hang. Built and run by run_fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5pack.h"

static char absa_fz_dir[256];

static void absa_fz_write(const char *name, const uint8_t *d, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", absa_fz_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!absa_fz_dir[0]) {
        snprintf(absa_fz_dir, sizeof absa_fz_dir, "/tmp/absa_fuzz_%ld", (long)getpid());
        char cmd[300];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", absa_fz_dir);
        if (system(cmd) != 0) abort();
    }
    if (size < 2) return 0;
    int sel = data[0] % 6;
    char p1[512], p2[512];
    const char *inputs[2] = {p1, p2};
    absa_pack_args a = {.inputs = inputs, .ninputs = 1};
    absa_packer_fn fn;
    if (sel == 0) {
        size_t rest = size - 2, cut = (size_t)data[1] * rest / 256;
        absa_fz_write("train-images-idx3-ubyte", data + 2, cut, p1, sizeof p1);
        absa_fz_write("train-labels-idx1-ubyte", data + 2 + cut, rest - cut, p2, sizeof p2);
        a.ninputs = 2;
        fn = absa_pack_idx;
    } else {
        static const char *const names[6] = {"", "data_batch_1.bin", "train.bin", "data_batch_1", "train",
                                              "cifar-10-python.tar.gz"};
        absa_fz_write(names[sel], data + 1, size - 1, p1, sizeof p1);
        fn = sel == 2 || sel == 4 ? absa_pack_cifar100 : absa_pack_cifar10;
    }
    absa_h5w *w = NULL;
    absa_h5w_opts o = {.quiet = 1};
    if (absa_h5w_open("unused", ABSA_H5W_DISCARD, &o, "fuzz", &w) != ABSA_OK) abort();
    if (fn(&a, w) == ABSA_OK)
        absa_h5w_close(w);
    else
        absa_h5w_discard(w);
    return 0;
}
