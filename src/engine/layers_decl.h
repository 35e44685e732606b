/* layers_decl.h — kernel declarations, included by layers.h once per precision with ABSA_T
 * (float/double) and ABSA_SFX (f32/f64) defined. No include guard on purpose.
 * Conventions are documented in layers.h. */

/* ---------------- conv2d: y = conv(x, W) + b ---------------- */
void ABSA_FN(absa_conv2d_forward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                  const ABSA_T *b, ABSA_T *y, ABSA_T *ws);
void ABSA_FN(absa_conv2d_backward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                   const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws);
/* Ry = conv(x, V) + Vb + conv(Rx, W) */
void ABSA_FN(absa_conv2d_rforward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *W, const ABSA_T *V, const ABSA_T *Vb, ABSA_T *Ry,
                                   ABSA_T *ws);
/* Rdx += convT(dy, V) + convT(Rdy, W); RdW += corr(Rdy, x) + corr(dy, Rx); Rdb += sum Rdy */
void ABSA_FN(absa_conv2d_rbackward)(const absa_conv_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                    const ABSA_T *W, const ABSA_T *V, const ABSA_T *dy,
                                    const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb,
                                    ABSA_T *ws);

/* ---------------- conv2d then max-pool (k, s, p) [then ReLU] as one call: the CONV_POOL op -----
 * Bitwise the conv pass followed by the max-pool pass on the conv's output (absa_maxpool_*), the
 * pool's backward overwriting (set mode) the conv's dy, [followed by the ReLU pass]: y, dy, Ry,
 * Rdy have the POOLED shape, argmax that of y; the conv's own output is never stored (each sample
 * is pooled from the thread's workspace slot while in cache). A fused ReLU: relu = 1 in the
 * forward (y is then its output), and z = that y in the other passes (its sign is the mask; NULL
 * without a ReLU). ws: absa_conv_pool_workspace(c). */
void ABSA_FN(absa_conv2d_pool_forward)(const absa_conv_cfg *c, int k, int s, int p, int relu, const ABSA_T *x,
                                       const ABSA_T *W, const ABSA_T *b, ABSA_T *y, int32_t *argmax,
                                       ABSA_T *ws);
void ABSA_FN(absa_conv2d_pool_backward)(const absa_conv_cfg *c, int k, int s, int p, const ABSA_T *z,
                                        const ABSA_T *x, const ABSA_T *W, const int32_t *argmax,
                                        const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db, ABSA_T *ws);
void ABSA_FN(absa_conv2d_pool_rforward)(const absa_conv_cfg *c, int k, int s, int p, const ABSA_T *z,
                                        const ABSA_T *x, const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                        const ABSA_T *Vb, const int32_t *argmax, ABSA_T *Ry, ABSA_T *ws);
void ABSA_FN(absa_conv2d_pool_rbackward)(const absa_conv_cfg *c, int k, int s, int p, const ABSA_T *z,
                                         const ABSA_T *x, const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                         const int32_t *argmax, const ABSA_T *dy, const ABSA_T *Rdy,
                                         ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb, ABSA_T *ws);

/* ---------------- linear: y[N,out] = x[N,in] W^T + b ---------------- */
void ABSA_FN(absa_linear_forward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                  const ABSA_T *b, ABSA_T *y);
void ABSA_FN(absa_linear_backward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *W,
                                   const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW, ABSA_T *db);
void ABSA_FN(absa_linear_rforward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                   const ABSA_T *W, const ABSA_T *V, const ABSA_T *Vb, ABSA_T *Ry);
void ABSA_FN(absa_linear_rbackward)(const absa_linear_cfg *c, const ABSA_T *x, const ABSA_T *Rx,
                                    const ABSA_T *W, const ABSA_T *V, const ABSA_T *dy,
                                    const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW, ABSA_T *Rdb);

/* ---------------- batch norm 2d ----------------
 * train != 0: batch statistics over N*HW per channel (biased variance for normalisation); saves
 *   mean/invstd; if running_mean/running_var are non-NULL updates them with the UNBIASED variance
 *   (PyTorch). train == 0: uses running statistics, and still fills save_mean/save_invstd with
 *   running_mean and 1/sqrt(running_var+eps) so the other passes need only the saved pair.
 * backward/rforward/rbackward take the same `train` flag: in train mode they differentiate
 * through the batch statistics, in eval mode BN is a per-channel affine map. */
void ABSA_FN(absa_bn_forward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                              const ABSA_T *beta, ABSA_T *running_mean, ABSA_T *running_var,
                              ABSA_T *save_mean, ABSA_T *save_invstd, ABSA_T *y);
void ABSA_FN(absa_bn_backward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                               const ABSA_T *save_mean, const ABSA_T *save_invstd, const ABSA_T *dy,
                               ABSA_T *dx, ABSA_T *dgamma, ABSA_T *dbeta);
void ABSA_FN(absa_bn_rforward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                               const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *Vbeta,
                               const ABSA_T *save_mean, const ABSA_T *save_invstd, ABSA_T *Ry);
void ABSA_FN(absa_bn_rbackward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                                const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *save_mean,
                                const ABSA_T *save_invstd, const ABSA_T *dy, const ABSA_T *Rdy,
                                ABSA_T *Rdx, ABSA_T *Rdgamma, ABSA_T *Rdbeta);

/* ---------------- batch norm 2d then ReLU, one kernel per pass (bn_impl.h again) ----------------
 * z = relu(BN(x)) without storing BN(x); bitwise what absa_bn_* then absa_relu_* give. The
 * backward passes read the ReLU's mask from z (their `z` is the forward's output) and take the
 * gradients of z (dz, Rdz) where absa_bn_backward/rbackward take dy, Rdy. */
void ABSA_FN(absa_bn_relu_forward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                                   const ABSA_T *beta, ABSA_T *running_mean, ABSA_T *running_var,
                                   ABSA_T *save_mean, ABSA_T *save_invstd, ABSA_T *z);
void ABSA_FN(absa_bn_relu_backward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                                    const ABSA_T *save_mean, const ABSA_T *save_invstd, const ABSA_T *z,
                                    const ABSA_T *dz, ABSA_T *dx, ABSA_T *dgamma, ABSA_T *dbeta);
void ABSA_FN(absa_bn_relu_rforward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                                    const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *Vbeta,
                                    const ABSA_T *save_mean, const ABSA_T *save_invstd, const ABSA_T *z,
                                    ABSA_T *Rz);
void ABSA_FN(absa_bn_relu_rbackward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                                     const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *save_mean,
                                     const ABSA_T *save_invstd, const ABSA_T *z, const ABSA_T *dz,
                                     const ABSA_T *Rdz, ABSA_T *Rdx, ABSA_T *Rdgamma, ABSA_T *Rdbeta);

/* ---------------- batch norm 2d, residual add, then ReLU, one kernel per pass (bn_impl.h) ----------------
 * z = relu(BN(x) + q) storing neither BN(x) nor the sum; bitwise what absa_bn_*, absa_add_* and
 * absa_relu_* give. As BN_RELU, plus the add's other operand: q (forward), its R-value Rq
 * (R-forward; NULL: zero, nothing added), and the gradients it receives, dq = mask(z) * dz and
 * Rdq = mask(z) * Rdz (overwritten when c->dq_set, else accumulated; NULL: skipped; neither may
 * alias x, z, dz, Rdz, dx or Rdx). */
void ABSA_FN(absa_bn_add_relu_forward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *q,
                                       const ABSA_T *gamma, const ABSA_T *beta, ABSA_T *running_mean,
                                       ABSA_T *running_var, ABSA_T *save_mean, ABSA_T *save_invstd, ABSA_T *z);
void ABSA_FN(absa_bn_add_relu_backward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *gamma,
                                        const ABSA_T *save_mean, const ABSA_T *save_invstd, const ABSA_T *z,
                                        const ABSA_T *dz, ABSA_T *dx, ABSA_T *dgamma, ABSA_T *dbeta, ABSA_T *dq);
void ABSA_FN(absa_bn_add_relu_rforward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                                        const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *Vbeta,
                                        const ABSA_T *save_mean, const ABSA_T *save_invstd, const ABSA_T *z,
                                        const ABSA_T *Rq, ABSA_T *Rz);
void ABSA_FN(absa_bn_add_relu_rbackward)(const absa_bn_cfg *c, int train, const ABSA_T *x, const ABSA_T *Rx,
                                         const ABSA_T *gamma, const ABSA_T *Vgamma, const ABSA_T *save_mean,
                                         const ABSA_T *save_invstd, const ABSA_T *z, const ABSA_T *dz,
                                         const ABSA_T *Rdz, ABSA_T *Rdx, ABSA_T *Rdgamma, ABSA_T *Rdbeta,
                                         ABSA_T *Rdq);

/* ---------------- ReLU (elementwise, n elements; derivative at 0 is 0 as PyTorch) ---------------- */
void ABSA_FN(absa_relu_forward)(size_t n, const ABSA_T *x, ABSA_T *y);
void ABSA_FN(absa_relu_backward)(size_t n, const ABSA_T *x, const ABSA_T *dy, ABSA_T *dx);
/* dx = (set) or += (!set) mask(x) * dy; R-backward is this on Rdy. */
void ABSA_FN(absa_relu_backward_ex)(size_t n, const ABSA_T *x, const ABSA_T *dy, ABSA_T *dx, int set);
void ABSA_FN(absa_relu_rforward)(size_t n, const ABSA_T *x, const ABSA_T *Rx, ABSA_T *Ry);
void ABSA_FN(absa_relu_rbackward)(size_t n, const ABSA_T *x, const ABSA_T *Rdy, ABSA_T *Rdx);

/* ---------------- max-pool 2d: argmax[N*C*Ho*Wo] holds the flat input index (within the
 * sample-channel plane) chosen by forward; ties take the first, as PyTorch. ---------------- */
void ABSA_FN(absa_maxpool_forward)(const absa_pool_cfg *c, const ABSA_T *x, ABSA_T *y,
                                   int32_t *argmax);
void ABSA_FN(absa_maxpool_backward)(const absa_pool_cfg *c, const int32_t *argmax, const ABSA_T *dy,
                                    ABSA_T *dx);
void ABSA_FN(absa_maxpool_backward_ex)(const absa_pool_cfg *c, const int32_t *argmax, const ABSA_T *dy,
                                       ABSA_T *dx, int set);
void ABSA_FN(absa_maxpool_rforward)(const absa_pool_cfg *c, const int32_t *argmax, const ABSA_T *Rx,
                                    ABSA_T *Ry);
/* R-backward of max-pool is its backward applied to Rdy. */

/* ---------------- global average pool: [N,C,HW] -> [N,C] (linear: R-passes = same calls) ---------------- */
void ABSA_FN(absa_avgpool_forward)(int N, int C, int HW, const ABSA_T *x, ABSA_T *y);
void ABSA_FN(absa_avgpool_backward)(int N, int C, int HW, const ABSA_T *dy, ABSA_T *dx);

/* ---------------- residual add: y = a + b (linear; backward is dy added to both) ---------------- */
void ABSA_FN(absa_add_forward)(size_t n, const ABSA_T *a, const ABSA_T *b, ABSA_T *y);
void ABSA_FN(absa_add_backward)(size_t n, const ABSA_T *dy, ABSA_T *da, ABSA_T *db);
/* da = or += dy (set_a), then db = or += dy (set_b); da == db is allowed (set_b is then ignored). */
void ABSA_FN(absa_add_backward_ex)(size_t n, const ABSA_T *dy, ABSA_T *da, int set_a, ABSA_T *db,
                                   int set_b);

/* ---------------- softmax cross-entropy, mean over the N samples ----------------
 * forward: p = softmax(z) row-wise (stable), returns mean_i -log p[i, label_i] (double).
 *          Labels must be in [0, K); callers validate data.
 * backward: dz += scale * (p - onehot) / N          (scale: 1/number of micro-batches)
 * rbackward: Rdz += scale * (p .* Rz - p * (p . Rz)) / N      (loss Hessian w.r.t. logits) */
double ABSA_FN(absa_xent_forward)(int N, int K, const ABSA_T *z, const int32_t *labels, ABSA_T *p);
void ABSA_FN(absa_xent_backward)(int N, int K, const ABSA_T *p, const int32_t *labels, double scale,
                                 ABSA_T *dz);
void ABSA_FN(absa_xent_rbackward)(int N, int K, const ABSA_T *p, const ABSA_T *Rz, double scale,
                                  ABSA_T *Rdz);
/* number of correct argmax predictions */
int ABSA_FN(absa_xent_correct)(int N, int K, const ABSA_T *z, const int32_t *labels);
