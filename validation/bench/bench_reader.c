/* bench_reader.c — throughput of the HDF5 reader (hdf5_io/h5reader.h) in samples/s: sequential
 * and shuffled (absa_permutation) batches of gather_u8 from RAM and through the chunk cache with a
 * budget smaller than the split, and the same batches through the planned-order window
 * (absa_h5reader_plan + next_u8, and next_f32 with normalisation) with the same budget, printed
 * beside a raw read() of the same file's bytes and a memcpy gather from a RAM copy, all measured
 * in the same run.
 * Usage: bench_reader FILE.h5 [SPLIT=train] [BATCH=256] [CACHE_BUDGET_MiB=8] [EPOCHS=3] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5reader.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double run(absa_h5reader *r, const uint64_t *order, size_t count, size_t batch, int epochs,
                  uint8_t *buf, int32_t *lab)
{
    double t0 = now();
    for (int e = 0; e < epochs; e++)
        for (size_t s = 0; s < count; s += batch) {
            size_t n = count - s < batch ? count - s : batch;
            if (absa_h5reader_gather_u8(r, order + e * count + s, n, buf, lab) != ABSA_OK) {
                fprintf(stderr, "gather failed: %s\n", absa_last_error());
                exit(1);
            }
        }
    return (double)count * epochs / (now() - t0);
}

/* the trainer's walk: plan each epoch's order, then batches by global cursor */
static double run_window(absa_h5reader *r, const uint64_t *order, size_t count, size_t batch,
                         int epochs, uint8_t *buf, float *fbuf, int32_t *lab)
{
    double t0 = now();
    for (int e = 0; e < epochs; e++) {
        if (absa_h5reader_plan(r, order + e * count, count) != ABSA_OK) goto fail;
        for (size_t s = 0; s < count; s += batch) {
            size_t n = count - s < batch ? count - s : batch;
            absa_status st = fbuf ? absa_h5reader_next_f32(r, s, n, 1, 0, 0, 0, fbuf, lab)
                                  : absa_h5reader_next_u8(r, s, n, buf, lab);
            if (st != ABSA_OK) goto fail;
        }
    }
    return (double)count * epochs / (now() - t0);
fail:
    fprintf(stderr, "window read failed: %s\n", absa_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_reader FILE.h5 [SPLIT] [BATCH] [CACHE_MiB] [EPOCHS]\n");
        return 2;
    }
    const char *path = argv[1], *split = argc > 2 ? argv[2] : "train";
    size_t batch = argc > 3 ? (size_t)atol(argv[3]) : 256;
    size_t budget = (argc > 4 ? (size_t)atol(argv[4]) : 8) << 20;
    int epochs = argc > 5 ? atoi(argv[5]) : 3;
    absa_h5reader *ram = NULL, *cache = NULL;
    if (absa_h5reader_open(path, split, (size_t)1 << 34, &ram) != ABSA_OK ||
        absa_h5reader_open(path, split, budget, &cache) != ABSA_OK) {
        fprintf(stderr, "open: %s\n", absa_last_error());
        return 1;
    }
    size_t count = absa_h5reader_count(ram);
    int C, H, W;
    absa_h5reader_shape(ram, &C, &H, &W);
    size_t sb = (size_t)C * H * W;
    uint64_t *seq = malloc(count * epochs * sizeof *seq), *shuf = malloc(count * epochs * sizeof *shuf);
    for (int e = 0; e < epochs; e++) {
        for (size_t i = 0; i < count; i++) seq[e * count + i] = i;
        absa_permutation(1, (uint64_t)e, count, shuf + e * count);
    }
    uint8_t *buf = malloc(batch * sb);
    float *fbuf = malloc(batch * sb * sizeof *fbuf);
    int32_t *lab = malloc(batch * sizeof *lab);
    printf("file %s split %s: %zu samples of %zu bytes (%.1f MiB), batch %zu, cache budget %zu MiB, %d epochs\n",
           path, split, count, sb, count * sb / 1048576.0, batch, budget >> 20, epochs);

    /* raw read() of the whole file, page cache warm (read twice, time the second) */
    double raw = 0;
    {
        char *blk = malloc(1 << 20);
        for (int pass = 0; pass < 2; pass++) {
            int fd = open(path, O_RDONLY);
            double t0 = now();
            size_t tot = 0;
            ssize_t got;
            while ((got = read(fd, blk, 1 << 20)) > 0) tot += (size_t)got;
            raw = (double)tot / (now() - t0);
            close(fd);
        }
        free(blk);
    }
    /* memcpy gather from a plain RAM array (upper bound for the RAM path) */
    double mc;
    {
        uint8_t *all = malloc(count * sb);
        uint64_t *all_idx = malloc(count * sizeof *all_idx);
        for (size_t i = 0; i < count; i++) all_idx[i] = i;
        absa_h5reader_gather_u8(ram, all_idx, count, all, NULL);
        double t0 = now();
        for (int e = 0; e < epochs; e++)
            for (size_t i = 0; i < count; i++) memcpy(buf + (i % batch) * sb, all + shuf[e * count + i] * sb, sb);
        mc = (double)count * epochs / (now() - t0);
        free(all);
        free(all_idx);
    }
    printf("  raw read() of the file (warm page cache) : %12.0f samples/s (%.0f MiB/s)\n", raw / sb, raw / 1048576.0);
    printf("  memcpy gather from a RAM array, shuffled : %12.0f samples/s\n", mc);
    printf("  reader RAM,   sequential                 : %12.0f samples/s\n", run(ram, seq, count, batch, epochs, buf, lab));
    printf("  reader RAM,   shuffled                   : %12.0f samples/s\n", run(ram, shuf, count, batch, epochs, buf, lab));
    uint64_t r0 = absa_h5reader_chunk_reads(cache);
    printf("  reader cache, sequential                 : %12.0f samples/s", run(cache, seq, count, batch, epochs, buf, lab));
    printf("  (%llu chunk reads)\n", (unsigned long long)(absa_h5reader_chunk_reads(cache) - r0));
    r0 = absa_h5reader_chunk_reads(cache);
    printf("  reader cache, shuffled                   : %12.0f samples/s", run(cache, shuf, count, batch, epochs, buf, lab));
    printf("  (%llu chunk reads)\n", (unsigned long long)(absa_h5reader_chunk_reads(cache) - r0));
    printf("  window of %zu samples (%.2f MiB staging + 1 chunk scratch):\n",
           absa_h5reader_window_samples(cache), absa_h5reader_window_samples(cache) * sb / 1048576.0);
    const char *names[3] = {"sequential", "shuffled", "shuffled f32"};
    for (int k = 0; k < 3; k++) {
        r0 = absa_h5reader_chunk_reads(cache);
        printf("  reader window, %-26s: %12.0f samples/s", names[k],
               run_window(cache, k ? shuf : seq, count, batch, epochs, buf, k == 2 ? fbuf : NULL, lab));
        printf("  (%llu chunk reads)\n", (unsigned long long)(absa_h5reader_chunk_reads(cache) - r0));
    }
    printf("  reader RAM,    %-26s: %12.0f samples/s\n", "shuffled f32",
           run_window(ram, shuf, count, batch, epochs, buf, fbuf, lab));
    absa_h5reader_close(ram);
    absa_h5reader_close(cache);
    free(seq);
    free(shuf);
    free(buf);
    free(fbuf);
    free(lab);
    return 0;
}
