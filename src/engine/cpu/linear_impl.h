/* linear_impl.h — generic body of the linear-layer kernels, included by linear.c once per
 * precision with ABSA_T / ABSA_SFX defined (see absa_generic.h). No include guard on purpose.
 * Conventions (overwrite vs +=, NULL = skip / zero) are those of layers.h.
 */

/* y[n, :] = b for every row (then a GEMM with beta = 1 adds x W^T). */
static void ABSA_FN(absa_linear_fill_bias)(int N, int out, const ABSA_T *b, ABSA_T *y)
{
#pragma omp parallel for schedule(static) if (absa_linear_par((size_t)N * out))
    for (int n = 0; n < N; n++) memcpy(y + (size_t)n * out, b, (size_t)out * sizeof(ABSA_T));
}

/* db[o] += sum_n dy[n, o], accumulated in double. */
static void ABSA_FN(absa_linear_bias_grad)(int N, int out, const ABSA_T *dy, ABSA_T *db)
{
#pragma omp parallel for schedule(static) if (absa_linear_par((size_t)N * out))
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += (double)dy[(size_t)n * out + o];
        db[o] += (ABSA_T)s;
    }
}

void ABSA_FN(absa_linear_forward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                  const ABSA_T *b, ABSA_T *y)
{
    ABSA_ASSERT(c && x && W && y, "linear_forward: NULL argument");
    const int N = c->N, in = c->in, out = c->out;
    const int bias = c->has_bias && b;
    if (bias) ABSA_FN(absa_linear_fill_bias)(N, out, b, y);
    ABSA_FN(absa_gemm)(0, 1, N, out, in, 1, x, in, W, in, bias ? 1 : 0, y, out);
}

void ABSA_FN(absa_linear_backward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                   const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db)
{
    ABSA_ASSERT(c && x && W && dy, "linear_backward: NULL argument");
    const int N = c->N, in = c->in, out = c->out;
    if (dx) ABSA_FN(absa_gemm)(0, 0, N, in, out, 1, dy, out, W, in, 1, dx, in);
    if (dW) ABSA_FN(absa_gemm)(1, 0, out, in, N, 1, dy, out, x, in, 1, dW, in);
    if (db && c->has_bias) ABSA_FN(absa_linear_bias_grad)(N, out, dy, db);
}

void ABSA_FN(absa_linear_rforward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *W, const ABSA_T *V, const ABSA_T *Vb, ABSA_T *Ry)
{
    ABSA_ASSERT(c && x && W && V && Ry, "linear_rforward: NULL argument");
    const int N = c->N, in = c->in, out = c->out;
    const int bias = c->has_bias && Vb;
    if (bias) ABSA_FN(absa_linear_fill_bias)(N, out, Vb, Ry);
    ABSA_FN(absa_gemm)(0, 1, N, out, in, 1, x, in, V, in, bias ? 1 : 0, Ry, out);
    if (Rx) ABSA_FN(absa_gemm)(0, 1, N, out, in, 1, Rx, in, W, in, 1, Ry, out);
}

void ABSA_FN(absa_linear_rbackward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                    const ABSA_T *W, const ABSA_T *V, const ABSA_T *dy,
                                    const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb)
{
    ABSA_ASSERT(c && x && W && V && dy && Rdy, "linear_rbackward: NULL argument");
    const int N = c->N, in = c->in, out = c->out;
    if (Rdx) { /* Rdx += dy V + Rdy W */
        ABSA_FN(absa_gemm)(0, 0, N, in, out, 1, dy, out, V, in, 1, Rdx, in);
        ABSA_FN(absa_gemm)(0, 0, N, in, out, 1, Rdy, out, W, in, 1, Rdx, in);
    }
    if (RdW) { /* RdW += Rdy^T x + dy^T Rx */
        ABSA_FN(absa_gemm)(1, 0, out, in, N, 1, Rdy, out, x, in, 1, RdW, in);
        if (Rx) ABSA_FN(absa_gemm)(1, 0, out, in, N, 1, dy, out, Rx, in, 1, RdW, in);
    }
    if (Rdb && c->has_bias) ABSA_FN(absa_linear_bias_grad)(N, out, Rdy, Rdb);
}
