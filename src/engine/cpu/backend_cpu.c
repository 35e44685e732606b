/* backend_cpu.c — the CPU backend, the specification every other backend must match: the op
 * table (one wrapper per pass of every line of engine_ops.def, calling the _f32 kernels of
 * layers.h), host memory (64-byte aligned, zero-filled), the vector operations, SGD, the loss,
 * the batch-norm running-statistics merge and the allreduce entry (in place: the memory is host
 * memory). Filled with designated initialisers; see backend.h for the contracts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "base_sys.h"

/* ---- per-op configurations from a node ---- */

static size_t node_numel(const absa_node *n) { return (size_t)n->C * n->H * n->W; }

static void conv_cfg(const absa_node *p, const absa_node *n, int N, absa_conv_cfg *c)
{
    absa_conv_cfg_init(c, N, p->C, p->H, p->W, n->out, n->k, n->stride, n->pad, n->has_bias);
}

static void linear_cfg(const absa_node *p, const absa_node *n, int N, absa_linear_cfg *c)
{
    c->N = N;
    c->in = (int)node_numel(p);
    c->out = n->out;
    c->has_bias = n->has_bias;
}

static void bn_cfg(const absa_node *n, int N, absa_bn_cfg *c)
{
    c->N = N;
    c->C = n->C;
    c->HW = n->H * n->W;
    c->eps = 1e-5;
    c->momentum = ABSA_BN_MOMENTUM;
    c->dx_set = 0; /* the backward passes set it (and dq_set) per call */
    c->dq_set = 0;
}

static void pool_cfg(const absa_node *p, const absa_node *n, int N, absa_pool_cfg *c)
{
    absa_pool_cfg_init(c, N, p->C, p->H, p->W, n->k, n->stride, n->pad);
}

#define W_(P) ((P)->m->params + (P)->n->w_off)
#define V_(P) ((P)->m->v + (P)->n->w_off)
#define CNT(P) ((size_t)(P)->N * node_numel((P)->n))

/* ---- ops without kernels (input, flatten) ---- */
static void cpu_nothing(const absa_pass *P) { (void)P; }
#define cpu_input_forward cpu_nothing
#define cpu_input_backward cpu_nothing
#define cpu_input_rforward cpu_nothing
#define cpu_input_rbackward cpu_nothing
#define cpu_flatten_forward cpu_nothing
#define cpu_flatten_backward cpu_nothing
#define cpu_flatten_rforward cpu_nothing
#define cpu_flatten_rbackward cpu_nothing

/* ---- conv ---- */
static void cpu_conv_forward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    absa_conv2d_forward_f32(&c, P->p->y, W_(P), P->n->has_bias ? P->m->params + P->n->b_off : NULL, P->n->y,
                            P->m->ws);
}
static void cpu_conv_backward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    c.dx_set = P->setx;
    float *g = P->g;
    absa_conv2d_backward_f32(&c, P->p->y, W_(P), P->n->dy, P->dx, g ? g + P->n->w_off : NULL,
                             g && P->n->has_bias ? g + P->n->b_off : NULL, P->m->ws);
}
static void cpu_conv_rforward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    absa_conv2d_rforward_f32(&c, P->p->y, P->Rx, W_(P), V_(P), P->n->has_bias ? P->m->v + P->n->b_off : NULL,
                             P->n->Ry, P->m->ws);
}
static void cpu_conv_rbackward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    c.dx_set = P->setx;
    absa_conv2d_rbackward_f32(&c, P->p->y, P->Rx, W_(P), V_(P), P->n->dy, P->n->Rdy, P->dx, P->g + P->n->w_off,
                              P->n->has_bias ? P->g + P->n->b_off : NULL, P->m->ws);
}
static size_t cpu_conv_workspace(const absa_model *m, const absa_node *n, int N)
{
    absa_conv_cfg c;
    conv_cfg(&m->nodes[n->in0], n, N, &c);
    return absa_conv_workspace(&c);
}

/* ---- conv then max-pool [then ReLU] (CONV_POOL, made by the builder): the conv's parameters,
 * the pool's output shape and argmax; n->y is the ReLU's output when prelu (its sign is the mask
 * of the other passes); n->dy / n->Rdy are the node's output's (absa_conv2d_pool_*) ---- */
#define CP_ARGS(P) (P)->n->pk, (P)->n->ps, (P)->n->pp
#define CP_Z(P) ((P)->n->prelu ? (P)->n->y : NULL)
static void cpu_conv_pool_forward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    absa_conv2d_pool_forward_f32(&c, CP_ARGS(P), P->n->prelu, P->p->y, W_(P),
                                 P->n->has_bias ? P->m->params + P->n->b_off : NULL, P->n->y, P->n->argmax, P->m->ws);
}
static void cpu_conv_pool_backward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    c.dx_set = P->setx;
    float *g = P->g;
    absa_conv2d_pool_backward_f32(&c, CP_ARGS(P), CP_Z(P), P->p->y, W_(P), P->n->argmax, P->n->dy, P->dx,
                                  g ? g + P->n->w_off : NULL, g && P->n->has_bias ? g + P->n->b_off : NULL, P->m->ws);
}
static void cpu_conv_pool_rforward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    absa_conv2d_pool_rforward_f32(&c, CP_ARGS(P), CP_Z(P), P->p->y, P->Rx, W_(P), V_(P),
                                  P->n->has_bias ? P->m->v + P->n->b_off : NULL, P->n->argmax, P->n->Ry, P->m->ws);
}
static void cpu_conv_pool_rbackward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    c.dx_set = P->setx;
    absa_conv2d_pool_rbackward_f32(&c, CP_ARGS(P), CP_Z(P), P->p->y, P->Rx, W_(P), V_(P), P->n->argmax, P->n->dy,
                                   P->n->Rdy, P->dx, P->g + P->n->w_off, P->n->has_bias ? P->g + P->n->b_off : NULL,
                                   P->m->ws);
}
static size_t cpu_conv_pool_workspace(const absa_model *m, const absa_node *n, int N)
{
    absa_conv_cfg c;
    conv_cfg(&m->nodes[n->in0], n, N, &c);
    return absa_conv_pool_workspace(&c);
}

/* ---- linear ---- */
static void cpu_linear_forward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_linear_forward_f32(&c, P->p->y, W_(P), P->n->has_bias ? P->m->params + P->n->b_off : NULL, P->n->y);
}
static void cpu_linear_backward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    float *g = P->g;
    absa_linear_backward_f32(&c, P->p->y, W_(P), P->n->dy, P->dx, g ? g + P->n->w_off : NULL,
                             g && P->n->has_bias ? g + P->n->b_off : NULL);
}
static void cpu_linear_rforward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_linear_rforward_f32(&c, P->p->y, P->Rx, W_(P), V_(P), P->n->has_bias ? P->m->v + P->n->b_off : NULL,
                             P->n->Ry);
}
static void cpu_linear_rbackward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_linear_rbackward_f32(&c, P->p->y, P->Rx, W_(P), V_(P), P->n->dy, P->n->Rdy, P->dx, P->g + P->n->w_off,
                              P->n->has_bias ? P->g + P->n->b_off : NULL);
}

/* ---- batch norm (running statistics in bufs; the counters are the executor's), in three modes:
 * BN_PLAIN; BN_RELU (made by the builder: absa_bn_relu_*), where n->y is the ReLU's output, which
 * the backward passes read for the mask, and the BN's own output is never stored; BN_ADD (the
 * BN_ADD_RELU node, absa_bn_add_relu_*), BN_RELU with a residual add before the ReLU: its other
 * operand is in1 (no R-value when in1 is the input node), its gradients go to P->dq as the add's
 * backward sends them. One function per pass serves all three, so their arguments cannot drift
 * apart. ---- */
enum { BN_PLAIN, BN_RELU, BN_ADD };
static void cpu_bn_fwd(const absa_pass *P, int mode)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    const absa_model *m = P->m;
    const absa_node *n = P->n;
    const int upd = P->train && P->update_running, run = upd || !P->train;
    float *rm = run ? m->bufs + n->rm_off : NULL, *rv = run ? m->bufs + n->rv_off : NULL;
    const float *b = m->params + n->b_off;
    if (mode == BN_ADD)
        absa_bn_add_relu_forward_f32(&c, P->train, P->p->y, m->nodes[n->in1].y, W_(P), b, rm, rv, n->save_mean,
                                     n->save_invstd, n->y);
    else
        (mode == BN_RELU ? absa_bn_relu_forward_f32 : absa_bn_forward_f32)(&c, P->train, P->p->y, W_(P), b, rm, rv,
                                                                          n->save_mean, n->save_invstd, n->y);
}
static void cpu_bn_bwd(const absa_pass *P, int mode)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    c.dx_set = P->setx;
    c.dq_set = P->setq;
    const absa_node *n = P->n;
    float *g = P->g, *gw = g ? g + n->w_off : NULL, *gb = g ? g + n->b_off : NULL;
    if (mode == BN_ADD)
        absa_bn_add_relu_backward_f32(&c, P->train, P->p->y, W_(P), n->save_mean, n->save_invstd, n->y, n->dy,
                                      P->dx, gw, gb, P->dq);
    else if (mode == BN_RELU)
        absa_bn_relu_backward_f32(&c, P->train, P->p->y, W_(P), n->save_mean, n->save_invstd, n->y, n->dy, P->dx,
                                  gw, gb);
    else
        absa_bn_backward_f32(&c, P->train, P->p->y, W_(P), n->save_mean, n->save_invstd, n->dy, P->dx, gw, gb);
}
static void cpu_bn_rfwd(const absa_pass *P, int mode)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    const absa_node *n = P->n;
    const float *vb = P->m->v + n->b_off;
    if (mode == BN_ADD)
        absa_bn_add_relu_rforward_f32(&c, P->train, P->p->y, P->Rx, W_(P), V_(P), vb, n->save_mean, n->save_invstd,
                                      n->y, n->in1 != 0 ? P->m->nodes[n->in1].Ry : NULL, n->Ry);
    else if (mode == BN_RELU)
        absa_bn_relu_rforward_f32(&c, P->train, P->p->y, P->Rx, W_(P), V_(P), vb, n->save_mean, n->save_invstd,
                                  n->y, n->Ry);
    else
        absa_bn_rforward_f32(&c, P->train, P->p->y, P->Rx, W_(P), V_(P), vb, n->save_mean, n->save_invstd, n->Ry);
}
static void cpu_bn_rbwd(const absa_pass *P, int mode)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    c.dx_set = P->setx;
    c.dq_set = P->setq;
    const absa_node *n = P->n;
    if (mode == BN_ADD)
        absa_bn_add_relu_rbackward_f32(&c, P->train, P->p->y, P->Rx, W_(P), V_(P), n->save_mean, n->save_invstd,
                                       n->y, n->dy, n->Rdy, P->dx, P->g + n->w_off, P->g + n->b_off, P->dq);
    else if (mode == BN_RELU)
        absa_bn_relu_rbackward_f32(&c, P->train, P->p->y, P->Rx, W_(P), V_(P), n->save_mean, n->save_invstd, n->y,
                                   n->dy, n->Rdy, P->dx, P->g + n->w_off, P->g + n->b_off);
    else
        absa_bn_rbackward_f32(&c, P->train, P->p->y, P->Rx, W_(P), V_(P), n->save_mean, n->save_invstd, n->dy,
                              n->Rdy, P->dx, P->g + n->w_off, P->g + n->b_off);
}
static void cpu_bn_forward(const absa_pass *P) { cpu_bn_fwd(P, BN_PLAIN); }
static void cpu_bn_backward(const absa_pass *P) { cpu_bn_bwd(P, BN_PLAIN); }
static void cpu_bn_rforward(const absa_pass *P) { cpu_bn_rfwd(P, BN_PLAIN); }
static void cpu_bn_rbackward(const absa_pass *P) { cpu_bn_rbwd(P, BN_PLAIN); }
static void cpu_bn_relu_forward(const absa_pass *P) { cpu_bn_fwd(P, BN_RELU); }
static void cpu_bn_relu_backward(const absa_pass *P) { cpu_bn_bwd(P, BN_RELU); }
static void cpu_bn_relu_rforward(const absa_pass *P) { cpu_bn_rfwd(P, BN_RELU); }
static void cpu_bn_relu_rbackward(const absa_pass *P) { cpu_bn_rbwd(P, BN_RELU); }
static void cpu_bn_add_relu_forward(const absa_pass *P) { cpu_bn_fwd(P, BN_ADD); }
static void cpu_bn_add_relu_backward(const absa_pass *P) { cpu_bn_bwd(P, BN_ADD); }
static void cpu_bn_add_relu_rforward(const absa_pass *P) { cpu_bn_rfwd(P, BN_ADD); }
static void cpu_bn_add_relu_rbackward(const absa_pass *P) { cpu_bn_rbwd(P, BN_ADD); }

/* ---- ReLU ---- */
static void cpu_relu_forward(const absa_pass *P) { absa_relu_forward_f32(CNT(P), P->p->y, P->n->y); }
static void cpu_relu_backward(const absa_pass *P)
{
    if (P->dx) absa_relu_backward_ex_f32(CNT(P), P->p->y, P->n->dy, P->dx, P->setx);
}
static void cpu_relu_rforward(const absa_pass *P)
{
    if (P->Rx) absa_relu_rforward_f32(CNT(P), P->p->y, P->Rx, P->n->Ry);
    else memset(P->n->Ry, 0, CNT(P) * sizeof(float));
}
static void cpu_relu_rbackward(const absa_pass *P) /* = the backward on Rdy */
{
    if (P->dx) absa_relu_backward_ex_f32(CNT(P), P->p->y, P->n->Rdy, P->dx, P->setx);
}

/* ---- max-pool ---- */
static void cpu_maxpool_forward(const absa_pass *P)
{
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_maxpool_forward_f32(&c, P->p->y, P->n->y, P->n->argmax);
}
static void cpu_maxpool_backward(const absa_pass *P)
{
    if (!P->dx) return;
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_maxpool_backward_ex_f32(&c, P->n->argmax, P->n->dy, P->dx, P->setx);
}
static void cpu_maxpool_rforward(const absa_pass *P)
{
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    if (P->Rx) absa_maxpool_rforward_f32(&c, P->n->argmax, P->Rx, P->n->Ry);
    else memset(P->n->Ry, 0, CNT(P) * sizeof(float));
}
static void cpu_maxpool_rbackward(const absa_pass *P)
{
    if (!P->dx) return;
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_maxpool_backward_ex_f32(&c, P->n->argmax, P->n->Rdy, P->dx, P->setx);
}

/* ---- global average pool (linear: the R-passes are the same calls) ---- */
static void cpu_avgpool_forward(const absa_pass *P)
{
    absa_avgpool_forward_f32(P->N, P->p->C, P->p->H * P->p->W, P->p->y, P->n->y);
}
static void cpu_avgpool_backward(const absa_pass *P)
{
    if (P->dx) absa_avgpool_backward_f32(P->N, P->p->C, P->p->H * P->p->W, P->n->dy, P->dx);
}
static void cpu_avgpool_rforward(const absa_pass *P)
{
    if (P->Rx) absa_avgpool_forward_f32(P->N, P->p->C, P->p->H * P->p->W, P->Rx, P->n->Ry);
    else memset(P->n->Ry, 0, CNT(P) * sizeof(float));
}
static void cpu_avgpool_rbackward(const absa_pass *P)
{
    if (P->dx) absa_avgpool_backward_f32(P->N, P->p->C, P->p->H * P->p->W, P->n->Rdy, P->dx);
}

/* ---- residual add (second operand: node in1; the input node contributes zero to R) ---- */
static void cpu_add_forward(const absa_pass *P)
{
    absa_add_forward_f32(CNT(P), P->p->y, P->m->nodes[P->n->in1].y, P->n->y);
}
static void cpu_add_backward(const absa_pass *P)
{
    absa_add_backward_ex_f32(CNT(P), P->n->dy, P->dx, P->setx, P->dq, P->setq);
}
static void cpu_add_rforward(const absa_pass *P)
{
    const absa_node *q = &P->m->nodes[P->n->in1];
    const size_t cnt = CNT(P);
    const int q_in = P->n->in1 != 0;
    if (P->Rx && q_in) absa_add_forward_f32(cnt, P->Rx, q->Ry, P->n->Ry);
    else if (P->Rx) memcpy(P->n->Ry, P->Rx, cnt * sizeof(float));
    else if (q_in) memcpy(P->n->Ry, q->Ry, cnt * sizeof(float));
    else memset(P->n->Ry, 0, cnt * sizeof(float));
}
static void cpu_add_rbackward(const absa_pass *P)
{
    absa_add_backward_ex_f32(CNT(P), P->n->Rdy, P->dx, P->setx, P->dq, P->setq);
}

#define cpu_input_workspace NULL
#define cpu_linear_workspace NULL
#define cpu_bn_workspace NULL
#define cpu_relu_workspace NULL
#define cpu_maxpool_workspace NULL
#define cpu_avgpool_workspace NULL
#define cpu_flatten_workspace NULL
#define cpu_add_workspace NULL
#define cpu_bn_relu_workspace NULL
#define cpu_bn_add_relu_workspace NULL

const absa_op_ops absa_cpu_ops[ABSA_OP_COUNT] = {
#define ABSA_ENGINE_OP(E, nm, fl)                                                                   \
    [ABSA_OP_##E] = {.name = #nm,                                                                   \
                     .flags = (fl),                                                                 \
                     .forward = cpu_##nm##_forward,                                                 \
                     .backward = cpu_##nm##_backward,                                               \
                     .rforward = cpu_##nm##_rforward,                                               \
                     .rbackward = cpu_##nm##_rbackward,                                             \
                     .workspace = cpu_##nm##_workspace},
#include "engine_ops.def"
#undef ABSA_ENGINE_OP
};

/* ---- memory ---- */
/* Buffers of ABSA_CPU_HUGE_MIN bytes or more (a batch's activations and their gradients) are 2 MiB
 * aligned, rounded up to 2 MiB and advised for transparent huge pages before their first touch
 * (the zeroing): the memory-bound passes (max-pool, transposes, bias sums, BN) stream tens of MB
 * per step, and with 4 KiB pages every 4 KiB costs a TLB walk. Measured (quiet, `absa bench`,
 * three alternating rounds): lenet batch 128 6412-6516 -> 6790-6952 img/s, its HVP 43.5 -> 40.8
 * ms. It costs at most 2 MiB of rounding per such buffer. Where THP is off the advice is a no-op;
 * with THP "always" the kernel would do the same without it. Smaller buffers as absa_try_alloc. */
#define ABSA_CPU_HUGE_MIN ((size_t)4 << 20)
void *absa_cpu_alloc_bytes(size_t bytes) { return absa_try_alloc_huge(bytes, ABSA_CPU_HUGE_MIN); }

static void *cpu_alloc(absa_backend *be, size_t bytes)
{
    (void)be;
    return absa_cpu_alloc_bytes(bytes);
}
static void cpu_free(absa_backend *be, void *p)
{
    (void)be;
    absa_free(p);
}
static void cpu_zero(absa_backend *be, void *p, size_t bytes)
{
    (void)be;
    memset(p, 0, bytes);
}
static void cpu_copy(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (dst != src) memcpy(dst, src, bytes);
}

/* ---- vector operations ---- */
static double cpu_dot(absa_backend *be, size_t n, const float *a, const float *b)
{
    (void)be;
    return absa_vec_dot(n, a, b);
}
static void cpu_axpy(absa_backend *be, size_t n, float alpha, const float *x, float *y)
{
    (void)be;
    absa_vec_axpy(n, alpha, x, y);
}
static void cpu_scale(absa_backend *be, size_t n, float *a, float s)
{
    (void)be;
    absa_vec_scale(n, a, s);
}

static void cpu_sgd(absa_backend *be, size_t n, float *w, const float *g, float *buf, const absa_sgd_args *a)
{
    (void)be;
    const float lr = a->lr, mu = a->momentum, wd = a->weight_decay, damp = a->damp;
    const int first = a->first, nesterov = a->nesterov, use_mom = a->use_mom;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * w[i];
        if (use_mom) {
            float b = first ? d : mu * buf[i] + damp * d;
            buf[i] = b;
            d = nesterov ? d + mu * b : b;
        }
        w[i] -= lr * d;
    }
}

/* ---- loss ---- */
static double cpu_xent_forward(absa_backend *be, int N, int K, const float *z, const int32_t *labels, float *p)
{
    (void)be;
    return absa_xent_forward_f32(N, K, z, labels, p);
}
static void cpu_xent_backward(absa_backend *be, int N, int K, const float *p, const int32_t *labels,
                              double scale, float *dz)
{
    (void)be;
    absa_xent_backward_f32(N, K, p, labels, scale, dz);
}
static void cpu_xent_rbackward(absa_backend *be, int N, int K, const float *p, const float *Rz, double scale,
                               float *Rdz)
{
    (void)be;
    absa_xent_rbackward_f32(N, K, p, Rz, scale, Rdz);
}

/* ---- batch-norm running statistics over ranks ---- */
static void cpu_bn_accumulate(absa_backend *be, size_t n, double w, const float *bufs, double *acc)
{
    (void)be;
    for (size_t i = 0; i < n; i++) acc[i] += w * bufs[i];
}
static void cpu_bn_merge(absa_backend *be, size_t n, double decay, const float *bn0, const double *acc,
                         float *bufs)
{
    (void)be;
    for (size_t i = 0; i < n; i++) bufs[i] = (float)(decay * bn0[i] + acc[i]);
}

static void cpu_allreduce(absa_backend *be, float *buf, size_t n, absa_reduce_fn fn, void *ctx)
{
    (void)be;
    fn(ctx, buf, n); /* host memory: in place */
}

void absa_backend_cpu_fill(absa_backend *be)
{
    *be = (absa_backend){
        .name = "cpu",
        .ctx = NULL,
        .ops = absa_cpu_ops,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .zero = cpu_zero,
        .copy_to_host = cpu_copy,
        .copy_from_host = cpu_copy,
        .copy = cpu_copy,
        .dot = cpu_dot,
        .axpy = cpu_axpy,
        .scale = cpu_scale,
        .sgd = cpu_sgd,
        .xent_forward = cpu_xent_forward,
        .xent_backward = cpu_xent_backward,
        .xent_rbackward = cpu_xent_rbackward,
        .bn_accumulate = cpu_bn_accumulate,
        .bn_merge = cpu_bn_merge,
        .allreduce = cpu_allreduce,
        .sync = NULL,    /* (optional) synchronous */
        .destroy = NULL, /* (optional) no state */
    };
}

double absa_be_norm(absa_backend *be, size_t n, const float *a) { return sqrt(be->dot(be, n, a, a)); }
