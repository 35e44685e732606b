/* bench_ucx.c — benchmark helper for validation/bench/bench_ucx.sh (not a test).
 *   bench_ucx fixture FILE N C H W       write a packed split "train" of N random CxHxW samples
 *   bench_ucx stream URL N SECONDS [PREFETCH [STEP_US]]
 *       connect to `absa serve` (secret from ABSA_SECRET), take batches of N samples for
 *       SECONDS after a warm-up of 5 batches, committing each at once (STEP_US = 0, default:
 *       the pure server-to-client rate) or after sleeping STEP_US microseconds per batch (a
 *       stand-in for a training step that leaves the CPU to the client's progress thread, as a
 *       GPU step does; wait_fraction is then the data-stall fraction), and print one line:
 *       RESULT batch_bytes=B batches=K seconds=S MiBps=R wait_fraction=F local_batches=L
 *   (L: batches whose images the client copied from the server's shared split, same node)
 * Throughput counts the payload bytes (ranges, ids, labels, images) of the batches received. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "h5pack.h"
#include "ucx_client.h"
#include "ucx_util.h"

static int bench_fixture(const char *path, long n, int C, int H, int W)
{
    absa_h5w_opts o = {.quiet = 1};
    absa_h5w *w = NULL;
    size_t sb = (size_t)C * H * W, chunk = 256;
    uint8_t *img = malloc(chunk * sb);
    int32_t *lab = malloc(chunk * sizeof *lab);
    uint64_t s = 88172645463325252ull;
    if (absa_h5w_open(path, ABSA_H5W_WRITE, &o, "bench", &w) != ABSA_OK || absa_h5w_set_classes(w, 10, NULL) != ABSA_OK ||
        absa_h5w_begin_split(w, "train", (uint64_t)n, C, H, W) != ABSA_OK)
        goto fail;
    for (long done = 0; done < n;) {
        size_t k = (size_t)(n - done) < chunk ? (size_t)(n - done) : chunk;
        for (size_t i = 0; i < k * sb; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            img[i] = (uint8_t)s;
        }
        for (size_t i = 0; i < k; i++) lab[i] = (int32_t)((done + (long)i) % 10);
        if (absa_h5w_append(w, img, lab, NULL, k) != ABSA_OK) goto fail;
        done += (long)k;
    }
    if (absa_h5w_end_split(w) != ABSA_OK || absa_h5w_close(w) != ABSA_OK) goto fail2;
    free(img);
    free(lab);
    return 0;
fail:
    absa_h5w_discard(w);
fail2:
    fprintf(stderr, "bench_ucx fixture: %s\n", absa_last_error());
    free(img);
    free(lab);
    return 1;
}

static int bench_stream(const char *url, size_t n, double seconds, int prefetch, long step_us)
{
    uint8_t secret[ABSA_UCX_MAX_SECRET + 1] = {0};
    size_t slen;
    absa_ucx_client *c = NULL;
    if (absa_ucx_load_secret(NULL, secret, &slen) != ABSA_OK ||
        absa_ucx_client_connect(url, (const char *)secret, prefetch, &c) != ABSA_OK) {
        fprintf(stderr, "bench_ucx: %s\n", absa_last_error());
        return 1;
    }
    absa_ucx_batch b;
    uint64_t batches = 0, bytes = 0, batch_bytes = 0;
    double t0 = 0, w0 = 0;
    for (int warm = 0; warm < 5;) {
        if (absa_ucx_client_next(c, n, &b) != ABSA_OK) goto err;
        if (b.count) warm++;
        if (absa_ucx_client_commit(c, &b) != ABSA_OK) goto err;
    }
    t0 = absa_now();
    w0 = absa_ucx_client_wait_seconds(c);
    uint64_t by0 = absa_ucx_client_bytes(c);
    while (absa_now() - t0 < seconds) {
        if (absa_ucx_client_next(c, n, &b) != ABSA_OK) goto err;
        if (b.done) break;
        if (b.count) {
            batches++;
            if (step_us > 0) usleep((useconds_t)step_us);
            if (b.count == n) batch_bytes = absa_ucx_batch_payload_len(b.count, (uint32_t)b.nranges, (uint64_t)b.C * b.H * b.W);
        }
        if (absa_ucx_client_commit(c, &b) != ABSA_OK) goto err;
    }
    double dt = absa_now() - t0;
    bytes = absa_ucx_client_bytes(c) - by0;
    printf("RESULT batch_bytes=%llu batches=%llu seconds=%.3f MiBps=%.1f wait_fraction=%.3f local_batches=%llu\n",
           (unsigned long long)batch_bytes, (unsigned long long)batches, dt, (double)bytes / dt / 1048576.0,
           (absa_ucx_client_wait_seconds(c) - w0) / dt, (unsigned long long)absa_ucx_client_local_batches(c));
    absa_ucx_client_close(c);
    return 0;
err:
    fprintf(stderr, "bench_ucx: %s\n", absa_last_error());
    absa_ucx_client_close(c);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "fixture"))
        return bench_fixture(argv[2], atol(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc >= 5 && argc <= 7 && !strcmp(argv[1], "stream"))
        return bench_stream(argv[2], (size_t)atol(argv[3]), atof(argv[4]), argc >= 6 ? atoi(argv[5]) : 0,
                            argc == 7 ? atol(argv[6]) : 0);
    fprintf(stderr, "usage: bench_ucx fixture FILE N C H W | bench_ucx stream URL N SECONDS [PREFETCH [STEP_US]]\n");
    return 2;
}
