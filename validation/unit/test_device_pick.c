/* test_device_pick.c — the GPU a process takes for --device cuda[:N] (src/engine/device_pick.h),
 * against closed-form expectations:
 *  - explicit cuda:N is taken as given, whatever the index and the count (even N >= count:
 *    opening it then says "only k CUDA device(s)");
 *  - "cuda": node-local index i takes GPU i when there are enough, so the 4 ranks of one node
 *    (indices 0..3 in the merged communicator, spawned ones included) take 4 distinct GPUs;
 *    more ranks than GPUs wrap (i mod count: two ranks share, the NCCL layer takes the host path);
 *  - no GPU (count 0) or an unknown index: 0 (opening it then reports the missing device);
 *  - the spawned-rank case of issue 20: the launcher's local rank (0 in each spawned job) would
 *    collide; the merged index does not;
 *  - parsing: cuda, cuda:0, cuda:17, cuda:1024 accepted; cuda:, cuda:x, cuda:-1, cuda:1025,
 *    cuda:1x, cudax, cpu refused with one line. */
#include <string.h>

#include "absa_test.h"
#include "device_pick.h"

int main(void)
{
    /* explicit */
    for (int n = 0; n < 6; n++)
        for (int idx = -1; idx < 5; idx++)
            for (int count = 0; count < 5; count++)
                CHECK(absa_cuda_pick(idx, count, n) == n, "explicit %d (idx %d, count %d)", n, idx, count);
    /* one GPU per node-local index, wrapping */
    for (int count = 1; count <= 8; count++)
        for (int idx = 0; idx < 20; idx++)
            CHECK(absa_cuda_pick(idx, count, -1) == idx % count, "idx %d count %d: got %d", idx, count,
                  absa_cuda_pick(idx, count, -1));
    /* 4 ranks, 4 GPUs: distinct 0..3; 4 ranks, 2 GPUs: 0 1 0 1 */
    int seen = 0;
    for (int idx = 0; idx < 4; idx++) seen |= 1 << absa_cuda_pick(idx, 4, -1);
    CHECK(seen == 0xf, "4 ranks on 4 GPUs: mask %#x", seen);
    const int two[4] = {0, 1, 0, 1};
    for (int idx = 0; idx < 4; idx++) CHECK(absa_cuda_pick(idx, 2, -1) == two[idx], "4 ranks on 2 GPUs, idx %d", idx);
    /* issue 20: rank 0 launched (local rank 0), 1 spawned (its job's local rank 0), then 2 and 3
     * spawned (local ranks 0, 1): by the launcher's local rank they would take 0 0 0 1; by the
     * merged communicator's node-local index (0, 1, 2, 3) they take 0 1 2 3 */
    const int launcher_local[4] = {0, 0, 0, 1}, merged_local[4] = {0, 1, 2, 3};
    int by_launcher = 0, by_merged = 0;
    for (int r = 0; r < 4; r++) {
        by_launcher |= 1 << absa_cuda_pick(launcher_local[r], 4, -1);
        by_merged |= 1 << absa_cuda_pick(merged_local[r], 4, -1);
    }
    CHECK(by_launcher != 0xf && by_merged == 0xf, "launcher mask %#x, merged mask %#x", by_launcher, by_merged);
    /* no GPU, unknown index */
    CHECK(absa_cuda_pick(3, 0, -1) == 0, "no GPU");
    CHECK(absa_cuda_pick(3, -1, -1) == 0, "negative count");
    CHECK(absa_cuda_pick(-1, 4, -1) == 0, "unknown index");
    /* parsing */
    const struct { const char *s; int n; } good[] = {{"cuda", -1}, {"cuda:0", 0}, {"cuda:17", 17}, {"cuda:1024", 1024}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int n = -7;
        CHECK(absa_cuda_parse(good[i].s, &n) == ABSA_OK && n == good[i].n, "%s: n %d", good[i].s, n);
    }
    const char *bad[] = {"cuda:", "cuda:x", "cuda:-1", "cuda:1025", "cuda:1x", "cudax", "cpu", "cuda:+1", "cuda: 1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n = 0;
        CHECK(absa_cuda_parse(bad[i], &n) == ABSA_EINVAL, "%s accepted", bad[i]);
        const char *e = absa_last_error();
        CHECK(e && *e && !strchr(e, '\n') && strstr(e, bad[i]), "%s: message '%s'", bad[i], e ? e : "(null)");
    }
    return absa_test_finish("test_device_pick");
}
