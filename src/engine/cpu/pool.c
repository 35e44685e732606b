/* pool.c — 2-D max-pooling (PyTorch MaxPool2d, floor mode, -inf padding) in float32 and float64,
 * and the precision-independent geometry check absa_pool_cfg_init.
 * The kernels live in pool_impl.h, compiled twice (see absa_generic.h). */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "absa_error.h"
#include "conv_path.h"
#include "layers.h"

int absa_pool_cfg_init(absa_pool_cfg *c, int N, int C, int H, int W, int k, int s, int p)
{
    ABSA_ASSERT(c != NULL, "NULL pool config");
    if (N < 1 || C < 1 || H < 1 || W < 1 || k < 1 || s < 1 || p < 0) return -1;
    /* PyTorch: "pad should be at most half of effective kernel size" */
    if (p > k / 2) return -1;
    /* flat indices within one H*W plane are stored as int32 */
    if ((long long)H * W > INT32_MAX) return -1;
    long long hp = (long long)H + 2LL * p, wp = (long long)W + 2LL * p;
    if (hp < k || wp < k) return -1;
    long long Ho = (hp - k) / s + 1, Wo = (wp - k) / s + 1;
    if (Ho < 1 || Wo < 1 || Ho > INT_MAX || Wo > INT_MAX) return -1;
    c->N = N;
    c->C = C;
    c->H = H;
    c->W = W;
    c->k = k;
    c->s = s;
    c->p = p;
    c->Ho = (int)Ho;
    c->Wo = (int)Wo;
    return 0;
}

#define ABSA_T float
#define ABSA_SFX f32
#include "pool_impl.h"
#undef ABSA_T
#undef ABSA_SFX

#define ABSA_T double
#define ABSA_SFX f64
#include "pool_impl.h"
#undef ABSA_T
#undef ABSA_SFX
