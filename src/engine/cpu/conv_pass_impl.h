/* conv_pass_impl.h — the four public passes of the conv2d engine and of conv + max-pool as one op
 * (absa_conv2d_pool_*, the CONV_POOL op): each pass takes the direct path (conv_direct.h) for the
 * float32 layers of its rule on an FMA CPU path, the Winograd path (conv_wino.h) for 3x3 stride-1
 * layers with enough channels, else the patch-matrix engine (conv_impl.h). Included at
 * the end of conv_impl.h, once per precision and CPU path; no include guard on purpose.
 *
 * The fused max-pool (absa_conv_fuse): on both engines each sample's conv output (or, backward,
 * the pool's scatter of its dy) lives in the thread's workspace slot and is pooled while in cache,
 * in the engine's own loop over samples; the bits are those of the conv pass then the pool pass
 * (validation/unit/test_convpool.c). */

/* ---- public entry points: the direct path, Winograd for 3x3 stride-1 layers with enough
 * channels, else the patch-matrix engine above ---- */

/* Forward / R-forward on the layer's path, with a fused max-pool when fp. */
static void ABSA_FN(absa_conv_fwd_any)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                       const ABSA_T *A, const ABSA_T *B, const ABSA_T *b, ABSA_T *y,
                                       ABSA_T *ws, const absa_conv_fuse *fp)
{
#ifdef ABSA_CONV_DIRECT
    if (sizeof(ABSA_T) == sizeof(float) && absa_dconv_eligible(c)) {
        absa_dconv_fwd(c, (const float *)x, (const float *)Rx, (const float *)A, (const float *)B,
                       (const float *)b, (float *)y, (float *)ws, fp);
        return;
    }
#endif
    if (absa_wino_ok(c))
        ABSA_FN(absa_wino_fwd)(c, x, Rx, A, B, b, y, ws, fp);
    else
        ABSA_FN(absa_conv_fwd)(c, x, Rx, A, B, b, y, ws, fp);
}

/* Backward / R-backward on the layer's path (arguments as absa_conv_bwd), with a fused max-pool
 * when fp; with neither dx nor dW only the bias gradient is summed (without workspace, except a
 * fused pool's one-sample scatter). */
static void ABSA_FN(absa_conv_bwd_any)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                       const ABSA_T *dyA, const ABSA_T *dyB, const ABSA_T *A,
                                       const ABSA_T *B, ABSA_T *dx, ABSA_T *dW, ABSA_T *db,
                                       ABSA_T *ws, const absa_conv_fuse *fp)
{
    const size_t ysz = (size_t)c->O * c->Ho * c->Wo;
    if (!dx && !dW) {
        const ABSA_T *dyW = dyB ? dyB : dyA;
        for (int n = 0; db && n < c->N; n++) {
            const ABSA_T *d = dyW + n * ysz;
            if (fp) { /* scratch: dz at ws, a fused ReLU's masked dy after it */
                ABSA_FN(absa_conv_fuse_dy)(fp, n, dyW, ws + absa_conv_rup(ysz), ws);
                d = ws;
            }
            ABSA_FN(absa_conv_bias_sum)(c->O, c->Ho * c->Wo, d, db);
        }
        return;
    }
#ifdef ABSA_CONV_DIRECT
    if (sizeof(ABSA_T) == sizeof(float) && absa_dconv_eligible(c)) {
        absa_dconv_bwd(c, (const float *)x, (const float *)Rx, (const float *)dyA, (const float *)dyB,
                       (const float *)A, (const float *)B, (float *)dx, (float *)dW, (float *)db,
                       (float *)ws, fp);
        return;
    }
#endif
    if (absa_wino_ok(c))
        ABSA_FN(absa_wino_bwd)(c, x, Rx, dyA, dyB, A, B, dx, dW, db, ws, fp);
    else
        ABSA_FN(absa_conv_bwd)(c, x, Rx, dyA, dyB, A, B, dx, dW, db, ws, fp);
}

/* The fused pool of a conv whose output (N x O x Ho x Wo) feeds the max-pool k, s, p; z: the
 * node's output when a ReLU is fused too (absa_conv_fuse), else NULL. */
static void ABSA_FN(absa_conv_fuse_init)(absa_conv_fuse *f, const absa_conv_cfg *c, int k, int s, int p,
                                         int32_t *argmax, int r, const ABSA_T *z)
{
    const int ok = absa_pool_cfg_init(&f->one, 1, c->O, c->Ho, c->Wo, k, s, p) == 0;
    ABSA_ASSERT(ok, "conv2d_pool: bad pool geometry");
    f->argmax = argmax;
    f->psz = (size_t)c->O * f->one.Ho * f->one.Wo;
    f->r = r;
    f->z = z;
}

void ABSA_CONV_PUB(absa_conv2d_forward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                  const ABSA_T *b, ABSA_T *y, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && y && ws, "conv2d_forward: NULL argument");
    ABSA_FN(absa_conv_fwd_any)(c, x, NULL, W, NULL, c->has_bias ? b : NULL, y, ws, NULL);
}

void ABSA_CONV_PUB(absa_conv2d_backward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                   const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && dy, "conv2d_backward: NULL argument");
    ABSA_ASSERT(ws || (!dx && !dW), "conv2d_backward: NULL workspace");
    ABSA_FN(absa_conv_bwd_any)(c, x, NULL, dy, NULL, W, NULL, dx, dW, c->has_bias ? db : NULL, ws, NULL);
}

void ABSA_CONV_PUB(absa_conv2d_rforward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *W, const ABSA_T *V, const ABSA_T *Vb, ABSA_T *Ry,
                                   ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && V && Ry && ws, "conv2d_rforward: NULL argument");
    ABSA_FN(absa_conv_fwd_any)(c, x, Rx, V, W, c->has_bias ? Vb : NULL, Ry, ws, NULL);
}

void ABSA_CONV_PUB(absa_conv2d_rbackward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                    const ABSA_T *W, const ABSA_T *V, const ABSA_T *dy,
                                    const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb,
                                    ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && V && dy && Rdy, "conv2d_rbackward: NULL argument");
    ABSA_ASSERT(ws || (!Rdx && !RdW), "conv2d_rbackward: NULL workspace");
    ABSA_FN(absa_conv_bwd_any)(c, x, Rx, dy, Rdy, V, W, Rdx, RdW, c->has_bias ? Rdb : NULL, ws, NULL);
}

/* ---- conv then max-pool as one call (absa_conv2d_pool_*, the CONV_POOL op): bitwise the conv
 * passes followed by the pool's (layers_decl.h); the workspace is absa_conv_pool_workspace's ---- */

void ABSA_CONV_PUB(absa_conv2d_pool_forward)(const absa_conv_cfg *c, int k, int s, int p, int relu,
                                       const ABSA_T *x, const ABSA_T *W, const ABSA_T *b, ABSA_T *y,
                                       int32_t *argmax, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && y && argmax && ws, "conv2d_pool_forward: NULL argument");
    absa_conv_fuse f;
    ABSA_FN(absa_conv_fuse_init)(&f, c, k, s, p, argmax, 0, relu ? y : NULL);
    ABSA_FN(absa_conv_fwd_any)(c, x, NULL, W, NULL, c->has_bias ? b : NULL, y, ws, &f);
}

void ABSA_CONV_PUB(absa_conv2d_pool_backward)(const absa_conv_cfg *c, int k, int s, int p, const ABSA_T *z,
                                        const ABSA_T *x, const ABSA_T *W, const int32_t *argmax,
                                        const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && argmax && dy && ws, "conv2d_pool_backward: NULL argument");
    absa_conv_fuse f;
    ABSA_FN(absa_conv_fuse_init)(&f, c, k, s, p, (int32_t *)argmax, 0, z);
    ABSA_FN(absa_conv_bwd_any)(c, x, NULL, dy, NULL, W, NULL, dx, dW, c->has_bias ? db : NULL, ws, &f);
}

void ABSA_CONV_PUB(absa_conv2d_pool_rforward)(const absa_conv_cfg *c, int k, int s, int p, const ABSA_T *z,
                                        const ABSA_T *x, const ABSA_T *Rx, const ABSA_T *W,
                                        const ABSA_T *V, const ABSA_T *Vb, const int32_t *argmax, ABSA_T *Ry,
                                        ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && V && argmax && Ry && ws, "conv2d_pool_rforward: NULL argument");
    absa_conv_fuse f;
    ABSA_FN(absa_conv_fuse_init)(&f, c, k, s, p, (int32_t *)argmax, 1, z);
    ABSA_FN(absa_conv_fwd_any)(c, x, Rx, V, W, c->has_bias ? Vb : NULL, Ry, ws, &f);
}

void ABSA_CONV_PUB(absa_conv2d_pool_rbackward)(const absa_conv_cfg *c, int k, int s, int p, const ABSA_T *z,
                                         const ABSA_T *x, const ABSA_T *Rx, const ABSA_T *W,
                                         const ABSA_T *V, const int32_t *argmax, const ABSA_T *dy,
                                         const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb, ABSA_T *ws)
{
    ABSA_ASSERT(c && x && W && V && argmax && dy && Rdy && ws, "conv2d_pool_rbackward: NULL argument");
    absa_conv_fuse f;
    ABSA_FN(absa_conv_fuse_init)(&f, c, k, s, p, (int32_t *)argmax, 0, z);
    ABSA_FN(absa_conv_bwd_any)(c, x, Rx, dy, Rdy, V, W, Rdx, RdW, c->has_bias ? Rdb : NULL, ws, &f);
}
