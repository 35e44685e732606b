/* test_h5_reader.c — the trainer's HDF5 reader (hdf5_io/h5reader.h) against a fixture it writes
 * itself through the split writer: pixels and labels are a closed-form function of (sample,
 * byte) so every gathered byte is checked against the generator, the RAM path and the chunk-cache
 * path must return identical bytes, a gather reads each needed chunk at most once, the per-epoch
 * permutation is a deterministic bijection, normalisation matches the formula, and every
 * augmented sample equals the crop/flip of its source that an independent brute-force search
 * finds. The planned-order path (absa_h5reader_plan + next_u8/_f32) must return exactly what the
 * gathers return for the same indices, in RAM and through windows (batches crossing window ends,
 * a short final batch, batch sizes not dividing the window, jumps, interleaved gathers), reading
 * each chunk once per window. Usage: test_h5_reader WORKDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "absa_test.h"
#include "h5pack.h"
#include "h5reader.h"

enum { N = 3001, C = 3, H = 8, W = 9, NCLS = 7 };
#define SB ((size_t)C * H * W)

static uint8_t pix(uint64_t i, size_t k)
{
    uint64_t s = i * 1000003u + k;
    return (uint8_t)(absa_test_next(&s) & 0xff);
}
static int32_t lab(uint64_t i) { return (int32_t)((i * 5 + 3) % NCLS); }

static int write_fixture(const char *path, size_t chunk_bytes)
{
    absa_h5w_opts o = {.chunk_bytes = chunk_bytes, .quiet = 1};
    absa_h5w *w = NULL;
    uint8_t *img = malloc(100 * SB);
    int32_t l[100];
    if (absa_h5w_open(path, ABSA_H5W_WRITE, &o, "synthetic", &w) != ABSA_OK) goto fail;
    if (absa_h5w_set_classes(w, NCLS, NULL) != ABSA_OK) goto fail;
    if (absa_h5w_begin_split(w, "train", N, C, H, W) != ABSA_OK) goto fail;
    for (uint64_t done = 0; done < N;) {
        size_t k = N - done < 100 ? N - done : 100;
        for (size_t i = 0; i < k; i++) {
            for (size_t b = 0; b < SB; b++) img[i * SB + b] = pix(done + i, b);
            l[i] = lab(done + i);
        }
        if (absa_h5w_append(w, img, l, NULL, k) != ABSA_OK) goto fail;
        done += k;
    }
    if (absa_h5w_end_split(w) != ABSA_OK) goto fail;
    free(img);
    return absa_h5w_close(w) == ABSA_OK ? 0 : -1;
fail:
    fprintf(stderr, "fixture: %s\n", absa_last_error());
    free(img);
    absa_h5w_discard(w);
    return -1;
}

/* independent stats of the generator, in double */
static void ref_stats(double *mean, double *std)
{
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (uint64_t i = 0; i < N; i++)
            for (size_t k = 0; k < (size_t)H * W; k++) {
                double v = pix(i, (size_t)c * H * W + k) / 255.0;
                s += v;
                s2 += v * v;
            }
        double n = (double)N * H * W;
        mean[c] = s / n;
        std[c] = sqrt(s2 / n - mean[c] * mean[c]);
    }
}

static void check_perm(void)
{
    enum { M = 1000 };
    uint64_t *a = malloc(M * 8), *b = malloc(M * 8), *c = malloc(M * 8);
    int *seen = calloc(M, sizeof *seen);
    absa_permutation(42, 3, M, a);
    absa_permutation(42, 3, M, b);
    absa_permutation(42, 4, M, c);
    CHECK(memcmp(a, b, M * 8) == 0, "same (seed, epoch) gives the same permutation");
    size_t same = 0, fixed = 0;
    for (size_t i = 0; i < M; i++) {
        if (a[i] < M) seen[a[i]]++;
        same += a[i] == c[i];
        fixed += a[i] == i;
    }
    int bij = 1;
    for (size_t i = 0; i < M; i++) bij &= seen[i] == 1;
    CHECK(bij, "permutation is a bijection of [0,%d)", M);
    CHECK(same < 20, "epochs 3 and 4 agree at %zu of %d places (expected ~1)", same, M);
    CHECK(fixed < 20, "%zu fixed points (expected ~1)", fixed);
    /* uniformity: position of element 0 over many epochs of a 4-permutation, chi-square, 3 dof */
    double cnt[4] = {0};
    uint64_t p4[4];
    for (uint64_t e = 0; e < 4000; e++) {
        absa_permutation(7, e, 4, p4);
        for (int k = 0; k < 4; k++)
            if (p4[k] == 0) cnt[k]++;
    }
    double chi = 0;
    for (int k = 0; k < 4; k++) chi += (cnt[k] - 1000) * (cnt[k] - 1000) / 1000;
    CHECK(chi < 16.3, "chi-square %.2f of the position of 0 (p = 0.001 bound 16.27)", chi);
    free(a);
    free(b);
    free(c);
    free(seen);
}

/* Walk plan `perm` through reader r with the batch sizes sizes[] (cycled) and compare every
 * batch with gather_u8 of the RAM reader and with the generator; returns the wrong batches. */
static size_t walk(absa_h5reader *r, absa_h5reader *ram, const uint64_t *perm, const size_t *sizes,
                   size_t nsizes)
{
    uint8_t *a = malloc(1000 * SB), *b = malloc(1000 * SB);
    int32_t la[1000], lb[1000];
    size_t bad = 0, k = 0;
    for (size_t s = 0; s < N; k++) {
        size_t n = sizes[k % nsizes] < N - s ? sizes[k % nsizes] : N - s;
        int ok = absa_h5reader_next_u8(r, s, n, a, la) == ABSA_OK &&
                 absa_h5reader_gather_u8(ram, perm + s, n, b, lb) == ABSA_OK &&
                 memcmp(a, b, n * SB) == 0 && memcmp(la, lb, n * sizeof *la) == 0;
        for (size_t i = 0; i < n && ok; i++)
            for (size_t q = 0; q < SB && ok; q++) ok = a[i * SB + q] == pix(perm[s + i], q);
        bad += !ok;
        s += n;
    }
    free(a);
    free(b);
    return bad;
}

static void check_window(const char *path, absa_h5reader *ram, absa_h5reader *small)
{
    absa_h5reader *big = NULL, *fresh = NULL;
    CHECK(absa_h5reader_open(path, "train", 700 * SB, &big) == ABSA_OK, "open 700: %s", absa_last_error());
    CHECK(absa_h5reader_open(path, "train", 700 * SB, &fresh) == ABSA_OK, "open 700: %s", absa_last_error());
    if (!big || !fresh) return;
    /* budget 700 samples, chunks of 10: staging 690 + one chunk of scratch; tiny budget: 1 chunk */
    size_t wbig = absa_h5reader_window_samples(big), wsmall = absa_h5reader_window_samples(small);
    CHECK(wbig == 690 && wsmall == 15 && absa_h5reader_window_samples(ram) == 0,
          "window sizes %zu (want 690) %zu (want 15) ram %zu (want 0)", wbig, wsmall,
          absa_h5reader_window_samples(ram));
    uint64_t *perm = malloc(N * sizeof *perm);
    absa_permutation(99, 0, N, perm);
    const size_t b256[1] = {256}, mixed[5] = {1, 7, 1000, 256, 33};
    absa_h5reader *rs[3] = {ram, small, big};
    for (int k = 0; k < 3; k++) {
        CHECK(absa_h5reader_plan(rs[k], perm, N) == ABSA_OK, "plan: %s", absa_last_error());
        uint64_t r0 = absa_h5reader_chunk_reads(rs[k]);
        size_t bad = walk(rs[k], ram, perm, b256, 1);
        uint64_t reads = absa_h5reader_chunk_reads(rs[k]) - r0;
        CHECK(bad == 0, "reader %d, batches of 256: %zu batches differ from gather", k, bad);
        CHECK(walk(rs[k], ram, perm, mixed, 5) == 0, "reader %d, batches 1,7,1000,256,33 differ", k);
        if (k == 2) { /* windows [690j, 690(j+1)): each distinct chunk of a window read once */
            uint64_t want = 0;
            for (size_t w0 = 0; w0 < N; w0 += wbig) {
                int seen[N / 10 + 1] = {0};
                for (size_t i = w0; i < N && i < w0 + wbig; i++) want += !seen[perm[i] / 10]++;
            }
            CHECK(reads == want, "window walk: %llu chunk reads, want %llu", (unsigned long long)reads,
                  (unsigned long long)want);
        }
    }
    /* a new epoch's plan replaces the window; interleaved gathers, jumps back and to the end */
    uint8_t *a = malloc(1000 * SB), *b = malloc(1000 * SB);
    int32_t la[1000], lb[1000];
    CHECK(absa_h5reader_next_u8(big, 0, 8, a, la) == ABSA_OK, "epoch 0 first batch");
    absa_permutation(99, 1, N, perm);
    CHECK(absa_h5reader_plan(big, perm, N) == ABSA_OK, "replan");
    CHECK(absa_h5reader_next_u8(big, 0, 8, a, la) == ABSA_OK && a[7 * SB + 1] == pix(perm[7], 1) &&
              la[7] == lab(perm[7]),
          "after a new plan, position 0 serves the new order");
    const size_t ops[6][2] = {{0, 256}, {256, 500}, {100, 50}, {N - 5, 5}, {690, 1}, {689, 2}};
    for (int o = 0; o < 6; o++) {
        size_t s = ops[o][0], n = ops[o][1];
        CHECK(absa_h5reader_next_u8(big, s, n, a, la) == ABSA_OK, "next %zu+%zu", s, n);
        CHECK(absa_h5reader_gather_u8(ram, perm + s, n, b, lb) == ABSA_OK, "gather ram");
        CHECK(memcmp(a, b, n * SB) == 0 && memcmp(la, lb, n * sizeof *la) == 0, "op %d [%zu,+%zu) differs", o, s, n);
        if (o % 2 == 0) continue;
        uint64_t some[3] = {N - 1, 0, perm[s]}; /* gather between next calls takes the arena */
        CHECK(absa_h5reader_gather_u8(big, some, 3, a, la) == ABSA_OK &&
                  a[2 * SB + 5] == pix(perm[s], 5) && a[SB] == pix(0, 0) && la[0] == lab(N - 1),
              "interleaved gather after op %d", o);
    }
    CHECK(absa_h5reader_next_u8(big, N, 0, a, la) == ABSA_OK, "empty batch at the end");
    CHECK(absa_h5reader_next_u8(big, N - 5, 6, a, la) == ABSA_EINVAL, "batch past the plan rejected");
    printf("  past the plan: %s\n", absa_last_error());
    CHECK(absa_h5reader_next_u8(fresh, 0, 1, a, la) == ABSA_EINVAL, "next without a plan rejected");
    uint64_t badorder[2] = {3, N};
    CHECK(absa_h5reader_plan(big, badorder, 2) == ABSA_EINVAL, "plan with index N rejected");
    CHECK(absa_h5reader_next_u8(big, 1000, 10, a, la) == ABSA_OK &&
              absa_h5reader_gather_u8(ram, perm + 1000, 10, b, lb) == ABSA_OK && memcmp(a, b, 10 * SB) == 0,
          "a rejected plan keeps the earlier one");

    /* float path: next_f32 == gather_f32 bit for bit (normalised, cropped, flipped), all batches */
    float *x = malloc(256 * SB * sizeof *x), *y = malloc(256 * SB * sizeof *y);
    size_t fbad = 0;
    for (size_t s = 0; s < N; s += 256) {
        size_t n = N - s < 256 ? N - s : 256;
        int ok = absa_h5reader_next_f32(big, s, n, 1, 2, 1, 5, x, la) == ABSA_OK &&
                 absa_h5reader_gather_f32(ram, perm + s, n, 1, 2, 1, 5, y, lb) == ABSA_OK;
        fbad += !ok || memcmp(x, y, n * SB * sizeof *x) != 0 || memcmp(la, lb, n * sizeof *la) != 0;
    }
    CHECK(fbad == 0, "%zu float batches differ from gather_f32", fbad);
    CHECK(absa_h5reader_next_f32(big, 0, 4, 0, H + 1, 0, 0, x, la) == ABSA_EINVAL, "bad crop rejected");
    uint64_t two[2] = {7, 8}; /* and the failed call left no hand-over behind */
    CHECK(absa_h5reader_gather_u8(big, two, 2, a, la) == ABSA_OK && a[SB + 3] == pix(8, 3), "gather after failure");
    absa_h5reader_close(big);
    absa_h5reader_close(fresh);
    free(perm);
    free(a);
    free(b);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/reader_fixture_%ld.h5", argc > 1 ? argv[1] : ".", (long)getpid());
    /* chunks of ~10 samples: 301 chunks, so the cache path is exercised hard */
    if (write_fixture(path, 10 * SB) != 0) return 1;
    absa_h5reader *ram = NULL, *cache = NULL;
    CHECK(absa_h5reader_open(path, "train", (size_t)1 << 30, &ram) == ABSA_OK, "open RAM: %s", absa_last_error());
    CHECK(absa_h5reader_open(path, "train", 25 * SB, &cache) == ABSA_OK, "open cache: %s", absa_last_error());
    if (!ram || !cache) return absa_test_finish("test_h5_reader");
    CHECK(absa_h5reader_in_ram(ram) && !absa_h5reader_in_ram(cache), "paths: ram %d cache %d",
          absa_h5reader_in_ram(ram), absa_h5reader_in_ram(cache));
    int c, h, w;
    absa_h5reader_shape(cache, &c, &h, &w);
    CHECK(absa_h5reader_count(cache) == N && c == C && h == H && w == W, "shape %zu %dx%dx%d",
          absa_h5reader_count(cache), c, h, w);
    CHECK(absa_h5reader_num_classes(ram) == NCLS, "num_classes %d", absa_h5reader_num_classes(ram));
    double rm[C], rs[C];
    ref_stats(rm, rs);
    for (int k = 0; k < C; k++) {
        CHECK_REL(absa_h5reader_mean(ram)[k], rm[k], 1e-6, 1e-3, "mean");
        CHECK_REL(absa_h5reader_std(ram)[k], rs[k], 1e-6, 1e-3, "std");
    }

    /* shuffled batches, epoch 0 and 1, both paths against the generator */
    enum { B = 256 };
    uint64_t *perm = malloc(N * sizeof *perm);
    uint8_t *a = malloc(B * SB), *b = malloc(B * SB);
    int32_t la[B], lb[B];
    size_t bad_ram = 0, bad_cache = 0, bad_lab = 0, differ = 0;
    for (uint64_t e = 0; e < 2; e++) {
        absa_permutation(1234, e, N, perm);
        for (size_t s = 0; s < N; s += B) {
            size_t n = N - s < B ? N - s : B;
            uint64_t before = absa_h5reader_chunk_reads(cache);
            CHECK(absa_h5reader_gather_u8(ram, perm + s, n, a, la) == ABSA_OK, "gather ram");
            CHECK(absa_h5reader_gather_u8(cache, perm + s, n, b, lb) == ABSA_OK, "gather cache");
            uint64_t reads = absa_h5reader_chunk_reads(cache) - before;
            int distinct[N / 10 + 1] = {0}, nd = 0;
            for (size_t i = 0; i < n; i++)
                if (!distinct[perm[s + i] / 10]++) nd++;
            CHECK(reads <= (uint64_t)nd, "batch %zu: %llu chunk reads for %d distinct chunks", s,
                  (unsigned long long)reads, nd);
            differ += memcmp(a, b, n * SB) != 0;
            for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < SB; k++) {
                    bad_ram += a[i * SB + k] != pix(perm[s + i], k);
                    bad_cache += b[i * SB + k] != pix(perm[s + i], k);
                }
                bad_lab += la[i] != lab(perm[s + i]) || lb[i] != lab(perm[s + i]);
            }
        }
    }
    CHECK(differ == 0 && bad_ram == 0 && bad_cache == 0 && bad_lab == 0,
          "RAM/cache batches differ %zu, wrong bytes ram %zu cache %zu, wrong labels %zu", differ,
          bad_ram, bad_cache, bad_lab);
    uint64_t oob = N;
    CHECK(absa_h5reader_gather_u8(cache, &oob, 1, a, la) == ABSA_EINVAL, "index N rejected");

    /* float path: plain normalisation against the formula in double */
    float *x = malloc(B * SB * sizeof *x), *y = malloc(B * SB * sizeof *y);
    const float *mean = absa_h5reader_mean(ram), *std = absa_h5reader_std(ram);
    CHECK(absa_h5reader_gather_f32(cache, perm, B, 1, 0, 0, 9, x, la) == ABSA_OK, "gather_f32");
    double maxerr = 0;
    for (size_t i = 0; i < B; i++)
        for (size_t k = 0; k < SB; k++) {
            int ch = (int)(k / (H * W));
            double want = (pix(perm[i], k) / 255.0 - mean[ch]) / std[ch];
            maxerr = fmax(maxerr, fabs(x[i * SB + k] - want));
        }
    CHECK(maxerr < 1e-5, "normalised values off by %.3g", maxerr);

    /* augmentation: deterministic, independent of batch order, and each sample is one of the
     * (2p+1)^2 x 2 crops/flips of its source with zero padding */
    const int p = 2;
    CHECK(absa_h5reader_gather_f32(ram, perm, B, 0, p, 1, 77, x, la) == ABSA_OK, "aug");
    uint64_t rev[B];
    for (size_t i = 0; i < B; i++) rev[i] = perm[B - 1 - i];
    CHECK(absa_h5reader_gather_f32(cache, rev, B, 0, p, 1, 77, y, lb) == ABSA_OK, "aug reversed");
    size_t order_dep = 0, unmatched = 0, flips = 0, shifted = 0;
    for (size_t i = 0; i < B; i++) {
        order_dep += memcmp(x + i * SB, y + (B - 1 - i) * SB, SB * sizeof *x) != 0;
        int found = 0;
        for (int fl = 0; fl < 2 && !found; fl++)
            for (int oy = -p; oy <= p && !found; oy++)
                for (int ox = -p; ox <= p && !found; ox++) {
                    int ok = 1;
                    for (int ch = 0; ch < C && ok; ch++)
                        for (int yy = 0; yy < H && ok; yy++)
                            for (int xx = 0; xx < W && ok; xx++) {
                                int sy = yy + oy, sx = (fl ? W - 1 - xx : xx) + ox;
                                double want = (sy < 0 || sy >= H || sx < 0 || sx >= W)
                                                  ? 0.0
                                                  : pix(perm[i], ((size_t)ch * H + sy) * W + sx) / 255.0;
                                ok = fabs(x[i * SB + ((size_t)ch * H + yy) * W + xx] - want) < 1e-6;
                            }
                    if (ok) {
                        found = 1;
                        flips += fl;
                        shifted += oy != 0 || ox != 0;
                    }
                }
        unmatched += !found;
    }
    CHECK(order_dep == 0, "%zu samples' augmentation depends on batch order", order_dep);
    CHECK(unmatched == 0, "%zu augmented samples match no crop/flip of their source", unmatched);
    CHECK(flips > B / 4 && flips < 3 * B / 4, "%zu of %d flipped (expected ~half)", flips, B);
    CHECK(shifted > B / 2, "%zu of %d shifted (expected ~%d)", shifted, B, B * 24 / 25);

    absa_h5reader *bad = NULL;
    CHECK(absa_h5reader_open(path, "nosuch", 1 << 20, &bad) == ABSA_ENOTFOUND && !bad, "missing split");
    printf("  missing split message: %s\n", absa_last_error());
    check_perm();
    check_window(path, ram, cache);
    absa_h5reader_close(ram);
    absa_h5reader_close(cache);
    free(perm);
    free(a);
    free(b);
    free(x);
    free(y);
    unlink(path);
    return absa_test_finish("test_h5_reader");
}
