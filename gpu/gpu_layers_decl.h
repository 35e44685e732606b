/* gpu_layers_decl.h — CUDA launcher declarations, included by gpu_layers.h once per precision
 * with ABSA_T / ABSA_SFX defined. No include guard on purpose. All pointers are device memory. */

/* conv2d (cuDNN): the three cuDNN calls compose all four passes; the bias terms are own kernels */
void ABSA_GPU_FN(conv2d_forward)(absa_gpu_ctx *g, const absa_conv_cfg *c, const ABSA_T *x,
                                 const ABSA_T *W, const ABSA_T *b, ABSA_T *y);
void ABSA_GPU_FN(conv2d_backward)(absa_gpu_ctx *g, const absa_conv_cfg *c, const ABSA_T *x,
                                  const ABSA_T *W, const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW,
                                  ABSA_T *db);
void ABSA_GPU_FN(conv2d_rforward)(absa_gpu_ctx *g, const absa_conv_cfg *c, const ABSA_T *x,
                                  const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                  const ABSA_T *Vb, ABSA_T *Ry);
void ABSA_GPU_FN(conv2d_rbackward)(absa_gpu_ctx *g, const absa_conv_cfg *c, const ABSA_T *x,
                                   const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                   const ABSA_T *dy, const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW,
                                   ABSA_T *Rdb);

/* linear (cuBLAS, pedantic FP32/FP64 math) */
void ABSA_GPU_FN(linear_forward)(absa_gpu_ctx *g, const absa_linear_cfg *c, const ABSA_T *x,
                                 const ABSA_T *W, const ABSA_T *b, ABSA_T *y);
void ABSA_GPU_FN(linear_backward)(absa_gpu_ctx *g, const absa_linear_cfg *c, const ABSA_T *x,
                                  const ABSA_T *W, const ABSA_T *dy, ABSA_T *dx, ABSA_T *dW,
                                  ABSA_T *db);
void ABSA_GPU_FN(linear_rforward)(absa_gpu_ctx *g, const absa_linear_cfg *c, const ABSA_T *x,
                                  const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                  const ABSA_T *Vb, ABSA_T *Ry);
void ABSA_GPU_FN(linear_rbackward)(absa_gpu_ctx *g, const absa_linear_cfg *c, const ABSA_T *x,
                                   const ABSA_T *Rx, const ABSA_T *W, const ABSA_T *V,
                                   const ABSA_T *dy, const ABSA_T *Rdy, ABSA_T *Rdx, ABSA_T *RdW,
                                   ABSA_T *Rdb);

/* batch norm (own kernels: one block per channel, double reductions in a fixed tree) */
void ABSA_GPU_FN(bn_forward)(absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const ABSA_T *x,
                             const ABSA_T *gamma, const ABSA_T *beta, ABSA_T *running_mean,
                             ABSA_T *running_var, ABSA_T *save_mean, ABSA_T *save_invstd,
                             ABSA_T *y);
void ABSA_GPU_FN(bn_backward)(absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const ABSA_T *x,
                              const ABSA_T *gamma, const ABSA_T *save_mean,
                              const ABSA_T *save_invstd, const ABSA_T *dy, ABSA_T *dx,
                              ABSA_T *dgamma, ABSA_T *dbeta);
void ABSA_GPU_FN(bn_rforward)(absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const ABSA_T *x,
                              const ABSA_T *Rx, const ABSA_T *gamma, const ABSA_T *Vgamma,
                              const ABSA_T *Vbeta, const ABSA_T *save_mean,
                              const ABSA_T *save_invstd, ABSA_T *Ry);
void ABSA_GPU_FN(bn_rbackward)(absa_gpu_ctx *g, const absa_bn_cfg *c, int train, const ABSA_T *x,
                               const ABSA_T *Rx, const ABSA_T *gamma, const ABSA_T *Vgamma,
                               const ABSA_T *save_mean, const ABSA_T *save_invstd,
                               const ABSA_T *dy, const ABSA_T *Rdy, ABSA_T *Rdx,
                               ABSA_T *Rdgamma, ABSA_T *Rdbeta);

/* ReLU, residual add, global average pool (pointwise.cu) */
void ABSA_GPU_FN(relu_forward)(absa_gpu_ctx *g, size_t n, const ABSA_T *x, ABSA_T *y);
void ABSA_GPU_FN(relu_backward_ex)(absa_gpu_ctx *g, size_t n, const ABSA_T *x, const ABSA_T *dy,
                                   ABSA_T *dx, int set);
void ABSA_GPU_FN(relu_rforward)(absa_gpu_ctx *g, size_t n, const ABSA_T *x, const ABSA_T *Rx,
                                ABSA_T *Ry);
void ABSA_GPU_FN(add_forward)(absa_gpu_ctx *g, size_t n, const ABSA_T *a, const ABSA_T *b,
                              ABSA_T *y);
void ABSA_GPU_FN(add_backward_ex)(absa_gpu_ctx *g, size_t n, const ABSA_T *dy, ABSA_T *da,
                                  int set_a, ABSA_T *db, int set_b);
void ABSA_GPU_FN(avgpool_forward)(absa_gpu_ctx *g, int N, int C, int HW, const ABSA_T *x,
                                  ABSA_T *y);
void ABSA_GPU_FN(avgpool_backward)(absa_gpu_ctx *g, int N, int C, int HW, const ABSA_T *dy,
                                   ABSA_T *dx);

/* max-pool (pool.cu): the backward gathers per input element in output order (deterministic) */
void ABSA_GPU_FN(maxpool_forward)(absa_gpu_ctx *g, const absa_pool_cfg *c, const ABSA_T *x,
                                  ABSA_T *y, int32_t *argmax);
void ABSA_GPU_FN(maxpool_backward)(absa_gpu_ctx *g, const absa_pool_cfg *c, const int32_t *argmax,
                                   const ABSA_T *dy, ABSA_T *dx);
void ABSA_GPU_FN(maxpool_backward_ex)(absa_gpu_ctx *g, const absa_pool_cfg *c, const int32_t *argmax,
                                     const ABSA_T *dy, ABSA_T *dx, int set);
void ABSA_GPU_FN(maxpool_rforward)(absa_gpu_ctx *g, const absa_pool_cfg *c, const int32_t *argmax,
                                   const ABSA_T *Rx, ABSA_T *Ry);

/* softmax cross-entropy (xent.cu); labels are device int32. forward waits and returns the mean
 * loss (double); a label outside [0, K) aborts as on the CPU. */
double ABSA_GPU_FN(xent_forward)(absa_gpu_ctx *g, int N, int K, const ABSA_T *z,
                                 const int32_t *labels, ABSA_T *p);
void ABSA_GPU_FN(xent_backward)(absa_gpu_ctx *g, int N, int K, const ABSA_T *p,
                                const int32_t *labels, double scale, ABSA_T *dz);
void ABSA_GPU_FN(xent_rbackward)(absa_gpu_ctx *g, int N, int K, const ABSA_T *p, const ABSA_T *Rz,
                                 double scale, ABSA_T *Rdz);
int ABSA_GPU_FN(xent_correct)(absa_gpu_ctx *g, int N, int K, const ABSA_T *z,
                              const int32_t *labels);

/* flat vectors (optim.cu): SGD with torch.optim.SGD semantics (src/method/optim.h), and the vector
 * operations of power iteration. dot waits and returns a double accumulated in a fixed order
 * (64 blocks of fixed extent, then a tree): the same bits on every run. */
/* the hyper-parameters in float, as the CPU step computes them (damp = 1 - dampening) */
void ABSA_GPU_FN(sgd_step)(absa_gpu_ctx *g, size_t n, ABSA_T *w, const ABSA_T *grad, ABSA_T *buf,
                           float lr, float momentum, float damp, float weight_decay, int nesterov,
                           int first, int use_mom);
double ABSA_GPU_FN(dot)(absa_gpu_ctx *g, size_t n, const ABSA_T *a, const ABSA_T *b);
void ABSA_GPU_FN(axpy)(absa_gpu_ctx *g, size_t n, double a, const ABSA_T *x, ABSA_T *y);
void ABSA_GPU_FN(scale)(absa_gpu_ctx *g, size_t n, double a, ABSA_T *x);
void ABSA_GPU_FN(fill)(absa_gpu_ctx *g, size_t n, double v, ABSA_T *x);
