/* xl.c — the backend table's exact-sum entries (backend.h xl_add_f32 / xl_bad / xl_get_f32)
 * on host memory, with the inline arithmetic of src/base/exact_limbs.h that gpu/xsum.cu runs on the
 * device. The CPU backend itself does not use them (it sums words directly, exact_sum.h); the
 * guarded backend and the TEST-ONLY cuda fallback do, so that the trainer's device-sum path (limbs
 * zeroed, accumulated, reduced as int64 by MPI or the fake NCCL, converted back) runs in the CPU
 * tests and must give the bits of the host path (validation/train/test_guarded.sh, mpi.*). */
#include "backend.h"
#include "exact_limbs.h"

static void xl_add(absa_backend *be, int64_t *l, const float *x, size_t n, double limit)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= absa_xl_add_f32(l + 3 * i, x[i], limit);
    if (bad) be->xl_flag = 1;
}

static int xl_bad(absa_backend *be)
{
    const int b = be->xl_flag;
    be->xl_flag = 0;
    return b;
}

static void xl_get(absa_backend *be, const int64_t *l, float *out, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) out[i] = absa_xl_get_f32(l + 3 * i);
}

void absa_backend_xl_host_fill(absa_backend *be)
{
    be->xl_add_f32 = xl_add;
    be->xl_bad = xl_bad;
    be->xl_get_f32 = xl_get;
    be->xl_flag = 0;
}
