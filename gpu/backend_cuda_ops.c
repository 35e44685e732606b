/* backend_cuda_ops.c — the CUDA backend's layer passes: the four passes of every op of
 * engine_ops.def (the op table absa_cuda_ops that backend_cuda.c puts in the backend), each the
 * launchers of gpu_layers.h (cuDNN conv, cuBLAS linear, own kernels) on the model's device
 * buffers, mirroring src/engine/cpu/backend_cpu.c name for name. The fused nodes the builder
 * makes (BN_RELU, BN_ADD_RELU, CONV_POOL) run as their separate ops' kernels, so their results are
 * the separate ops' bit for bit; only the CPU fuses the sweeps (docs/gpu.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.h"
#include "model.h"

/* the executor's passes carry no backend: the model's does (P->m->be) */
#define GP(P) G((P)->m->be)

static size_t node_numel(const absa_node *n) { return (size_t)n->C * n->H * n->W; }
static void conv_cfg(const absa_node *p, const absa_node *n, int N, absa_conv_cfg *c)
{
    absa_conv_cfg_init(c, N, p->C, p->H, p->W, n->out, n->k, n->stride, n->pad, n->has_bias);
}
static void linear_cfg(const absa_node *p, const absa_node *n, int N, absa_linear_cfg *c)
{
    c->N = N, c->in = (int)node_numel(p), c->out = n->out, c->has_bias = n->has_bias;
}
static void bn_cfg(const absa_node *n, int N, absa_bn_cfg *c)
{
    c->N = N, c->C = n->C, c->HW = n->H * n->W, c->eps = 1e-5, c->momentum = ABSA_BN_MOMENTUM, c->dx_set = 0;
    c->dq_set = 0;
}
static void pool_cfg(const absa_node *p, const absa_node *n, int N, absa_pool_cfg *c)
{
    absa_pool_cfg_init(c, N, p->C, p->H, p->W, n->k, n->stride, n->pad);
}

#define W_(P) ((P)->m->params + (P)->n->w_off)
#define V_(P) ((P)->m->v + (P)->n->w_off)
#define B_(P) ((P)->n->has_bias ? (P)->m->params + (P)->n->b_off : NULL)
#define VB_(P) ((P)->n->has_bias ? (P)->m->v + (P)->n->b_off : NULL)
#define CNT(P) ((size_t)(P)->N * node_numel((P)->n))
#define GW(P) ((P)->g ? (P)->g + (P)->n->w_off : NULL)
#define GB(P) ((P)->g && (P)->n->has_bias ? (P)->g + (P)->n->b_off : NULL)

static void cu_nothing(const absa_pass *P) { (void)P; }
#define cu_input_forward cu_nothing
#define cu_input_backward cu_nothing
#define cu_input_rforward cu_nothing
#define cu_input_rbackward cu_nothing
#define cu_flatten_forward cu_nothing
#define cu_flatten_backward cu_nothing
#define cu_flatten_rforward cu_nothing
#define cu_flatten_rbackward cu_nothing

static void cu_conv_forward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    absa_gpu_conv2d_forward_f32(GP(P), &c, P->p->y, W_(P), B_(P), P->n->y);
}
static void cu_conv_backward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    c.dx_set = P->setx;
    absa_gpu_conv2d_backward_f32(GP(P), &c, P->p->y, W_(P), P->n->dy, P->dx, GW(P), GB(P));
}
static void cu_conv_rforward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    absa_gpu_conv2d_rforward_f32(GP(P), &c, P->p->y, P->Rx, W_(P), V_(P), VB_(P), P->n->Ry);
}
static void cu_conv_rbackward(const absa_pass *P)
{
    absa_conv_cfg c;
    conv_cfg(P->p, P->n, P->N, &c);
    c.dx_set = P->setx;
    absa_gpu_conv2d_rbackward_f32(GP(P), &c, P->p->y, P->Rx, W_(P), V_(P), P->n->dy, P->n->Rdy, P->dx,
                                  GW(P), GB(P));
}

static void cu_linear_forward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_gpu_linear_forward_f32(GP(P), &c, P->p->y, W_(P), B_(P), P->n->y);
}
static void cu_linear_backward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_gpu_linear_backward_f32(GP(P), &c, P->p->y, W_(P), P->n->dy, P->dx, GW(P), GB(P));
}
static void cu_linear_rforward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_gpu_linear_rforward_f32(GP(P), &c, P->p->y, P->Rx, W_(P), V_(P), VB_(P), P->n->Ry);
}
static void cu_linear_rbackward(const absa_pass *P)
{
    absa_linear_cfg c;
    linear_cfg(P->p, P->n, P->N, &c);
    absa_gpu_linear_rbackward_f32(GP(P), &c, P->p->y, P->Rx, W_(P), V_(P), P->n->dy, P->n->Rdy, P->dx,
                                  GW(P), GB(P));
}

static void cu_bn_forward(const absa_pass *P)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    const absa_model *m = P->m;
    const absa_node *n = P->n;
    const int upd = P->train && P->update_running, run = upd || !P->train;
    absa_gpu_bn_forward_f32(GP(P), &c, P->train, P->p->y, W_(P), m->params + n->b_off,
                            run ? m->bufs + n->rm_off : NULL, run ? m->bufs + n->rv_off : NULL,
                            n->save_mean, n->save_invstd, n->y);
}
static void cu_bn_backward(const absa_pass *P)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    c.dx_set = P->setx;
    const absa_node *n = P->n;
    absa_gpu_bn_backward_f32(GP(P), &c, P->train, P->p->y, W_(P), n->save_mean, n->save_invstd, n->dy,
                             P->dx, P->g ? P->g + n->w_off : NULL, P->g ? P->g + n->b_off : NULL);
}
static void cu_bn_rforward(const absa_pass *P)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    const absa_node *n = P->n;
    absa_gpu_bn_rforward_f32(GP(P), &c, P->train, P->p->y, P->Rx, W_(P), V_(P), P->m->v + n->b_off,
                             n->save_mean, n->save_invstd, n->Ry);
}
static void cu_bn_rbackward(const absa_pass *P)
{
    absa_bn_cfg c;
    bn_cfg(P->n, P->N, &c);
    c.dx_set = P->setx;
    const absa_node *n = P->n;
    absa_gpu_bn_rbackward_f32(GP(P), &c, P->train, P->p->y, P->Rx, W_(P), V_(P), n->save_mean,
                              n->save_invstd, n->dy, n->Rdy, P->dx, P->g + n->w_off, P->g + n->b_off);
}

/* BN then ReLU as one node (BN_RELU, src/engine/cpu/bn_impl.h on the CPU). This mirror runs
 * the GPU BN kernels and then the ReLU kernels on the node's own buffers, so its results are those
 * of the two separate ops bit for bit (the ReLU's mask is read from z = n->y: z <= 0 exactly when
 * the BN output is <= 0): the forward writes the BN output into n->y and applies the ReLU in
 * place; the backward passes first mask dz (n->dy) and Rdz (n->Rdy) in place (the mask is
 * idempotent, so an R-backward after the backward, or again, masks nothing twice wrongly) and
 * then run the BN kernels on them. Only the CPU fuses the sweeps. */
static void cu_bn_relu_forward(const absa_pass *P)
{
    cu_bn_forward(P);
    absa_gpu_relu_forward_f32(GP(P), CNT(P), P->n->y, P->n->y);
}
static void cu_bn_relu_backward(const absa_pass *P)
{
    absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, P->n->dy, P->n->dy, 1);
    cu_bn_backward(P);
}
static void cu_bn_relu_rforward(const absa_pass *P)
{
    cu_bn_rforward(P);
    absa_gpu_relu_rforward_f32(GP(P), CNT(P), P->n->y, P->n->Ry, P->n->Ry);
}
static void cu_bn_relu_rbackward(const absa_pass *P)
{
    absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, P->n->dy, P->n->dy, 1);
    absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, P->n->Rdy, P->n->Rdy, 1);
    cu_bn_rbackward(P);
}

/* BN, residual add and ReLU as one node (BN_ADD_RELU, bn_impl.h on the CPU). As BN_RELU's mirror,
 * with the add kernels between, so again the separate ops' bits: the forward adds the other
 * operand (in1) to the BN output in place before the ReLU, the R-forward its R-value (none when
 * in1 is the input node, as the add's R-forward copies); the backward passes mask dz and Rdz in
 * place first and send them to in1's gradient (P->dq) with the add's backward kernel. */
static void cu_bn_add_relu_forward(const absa_pass *P)
{
    cu_bn_forward(P);
    absa_gpu_add_forward_f32(GP(P), CNT(P), P->n->y, P->m->nodes[P->n->in1].y, P->n->y);
    absa_gpu_relu_forward_f32(GP(P), CNT(P), P->n->y, P->n->y);
}
static void cu_bn_add_relu_backward(const absa_pass *P)
{
    absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, P->n->dy, P->n->dy, 1);
    absa_gpu_add_backward_ex_f32(GP(P), CNT(P), P->n->dy, NULL, 0, P->dq, P->setq);
    cu_bn_backward(P);
}
static void cu_bn_add_relu_rforward(const absa_pass *P)
{
    cu_bn_rforward(P);
    if (P->n->in1 != 0) absa_gpu_add_forward_f32(GP(P), CNT(P), P->n->Ry, P->m->nodes[P->n->in1].Ry, P->n->Ry);
    absa_gpu_relu_rforward_f32(GP(P), CNT(P), P->n->y, P->n->Ry, P->n->Ry);
}
static void cu_bn_add_relu_rbackward(const absa_pass *P)
{
    absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, P->n->dy, P->n->dy, 1);
    absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, P->n->Rdy, P->n->Rdy, 1);
    absa_gpu_add_backward_ex_f32(GP(P), CNT(P), P->n->Rdy, NULL, 0, P->dq, P->setq);
    cu_bn_rbackward(P);
}

static void cu_relu_forward(const absa_pass *P) { absa_gpu_relu_forward_f32(GP(P), CNT(P), P->p->y, P->n->y); }
static void cu_relu_backward(const absa_pass *P)
{
    if (P->dx) absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->p->y, P->n->dy, P->dx, P->setx);
}
static void cu_relu_rforward(const absa_pass *P) /* Rx NULL: the kernel writes zeros */
{
    absa_gpu_relu_rforward_f32(GP(P), CNT(P), P->p->y, P->Rx, P->n->Ry);
}
static void cu_relu_rbackward(const absa_pass *P)
{
    if (P->dx) absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->p->y, P->n->Rdy, P->dx, P->setx);
}

static void cu_maxpool_forward(const absa_pass *P)
{
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_gpu_maxpool_forward_f32(GP(P), &c, P->p->y, P->n->y, P->n->argmax);
}
static void cu_maxpool_backward(const absa_pass *P)
{
    if (!P->dx) return;
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_gpu_maxpool_backward_ex_f32(GP(P), &c, P->n->argmax, P->n->dy, P->dx, P->setx);
}
static void cu_maxpool_rforward(const absa_pass *P) /* Rx NULL: zeros */
{
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_gpu_maxpool_rforward_f32(GP(P), &c, P->n->argmax, P->Rx, P->n->Ry);
}
static void cu_maxpool_rbackward(const absa_pass *P)
{
    if (!P->dx) return;
    absa_pool_cfg c;
    pool_cfg(P->p, P->n, P->N, &c);
    absa_gpu_maxpool_backward_ex_f32(GP(P), &c, P->n->argmax, P->n->Rdy, P->dx, P->setx);
}

/* conv then max-pool [then ReLU] as one node (CONV_POOL, absa_conv2d_pool_* on the CPU). This
 * mirror runs the cuDNN conv into the engine's workspace slot (z, the conv's whole output; z2 for
 * Rdy) and the pool kernels on it, and the ReLU kernels on the node's buffers (prelu: forward in
 * place; the backward passes mask dy and Rdy in place first, idempotent as in BN_RELU, with the
 * mask read from the ReLU's output n->y), so its results are those of the separate ops bit for bit;
 * only the CPU pools each sample in cache. */
static void cp_cfgs(const absa_pass *P, absa_conv_cfg *c, absa_pool_cfg *pc)
{
    conv_cfg(P->p, P->n, P->N, c);
    absa_pool_cfg_init(pc, P->N, c->O, c->Ho, c->Wo, P->n->pk, P->n->ps, P->n->pp);
}
static size_t cp_zlen(const absa_conv_cfg *c) { return (size_t)c->N * c->O * c->Ho * c->Wo; }
static void cp_mask(const absa_pass *P, float *d) /* a fused ReLU's mask on the node's dy or Rdy */
{
    if (P->n->prelu) absa_gpu_relu_backward_ex_f32(GP(P), CNT(P), P->n->y, d, d, 1);
}
static void cu_conv_pool_forward(const absa_pass *P)
{
    absa_conv_cfg c;
    absa_pool_cfg pc;
    cp_cfgs(P, &c, &pc);
    float *z = P->m->ws;
    absa_gpu_conv2d_forward_f32(GP(P), &c, P->p->y, W_(P), B_(P), z);
    absa_gpu_maxpool_forward_f32(GP(P), &pc, z, P->n->y, P->n->argmax);
    if (P->n->prelu) absa_gpu_relu_forward_f32(GP(P), CNT(P), P->n->y, P->n->y);
}
static void cu_conv_pool_backward(const absa_pass *P)
{
    absa_conv_cfg c;
    absa_pool_cfg pc;
    cp_cfgs(P, &c, &pc);
    c.dx_set = P->setx;
    float *z = P->m->ws;
    cp_mask(P, P->n->dy);
    absa_gpu_maxpool_backward_ex_f32(GP(P), &pc, P->n->argmax, P->n->dy, z, 1);
    absa_gpu_conv2d_backward_f32(GP(P), &c, P->p->y, W_(P), z, P->dx, GW(P), GB(P));
}
static void cu_conv_pool_rforward(const absa_pass *P)
{
    absa_conv_cfg c;
    absa_pool_cfg pc;
    cp_cfgs(P, &c, &pc);
    float *z = P->m->ws;
    absa_gpu_conv2d_rforward_f32(GP(P), &c, P->p->y, P->Rx, W_(P), V_(P), VB_(P), z);
    absa_gpu_maxpool_rforward_f32(GP(P), &pc, P->n->argmax, z, P->n->Ry);
    if (P->n->prelu) absa_gpu_relu_rforward_f32(GP(P), CNT(P), P->n->y, P->n->Ry, P->n->Ry);
}
static void cu_conv_pool_rbackward(const absa_pass *P)
{
    absa_conv_cfg c;
    absa_pool_cfg pc;
    cp_cfgs(P, &c, &pc);
    c.dx_set = P->setx;
    float *z = P->m->ws, *z2 = z + cp_zlen(&c);
    cp_mask(P, P->n->dy);
    cp_mask(P, P->n->Rdy);
    absa_gpu_maxpool_backward_ex_f32(GP(P), &pc, P->n->argmax, P->n->dy, z, 1);
    absa_gpu_maxpool_backward_ex_f32(GP(P), &pc, P->n->argmax, P->n->Rdy, z2, 1);
    absa_gpu_conv2d_rbackward_f32(GP(P), &c, P->p->y, P->Rx, W_(P), V_(P), z, z2, P->dx, GW(P), GB(P));
}
static size_t cu_conv_pool_workspace(const absa_model *m, const absa_node *n, int N)
{
    absa_conv_cfg c;
    conv_cfg(&m->nodes[n->in0], n, N, &c);
    return 2 * cp_zlen(&c);
}

static void cu_avgpool_forward(const absa_pass *P)
{
    absa_gpu_avgpool_forward_f32(GP(P), P->N, P->p->C, P->p->H * P->p->W, P->p->y, P->n->y);
}
static void cu_avgpool_backward(const absa_pass *P)
{
    if (P->dx) absa_gpu_avgpool_backward_f32(GP(P), P->N, P->p->C, P->p->H * P->p->W, P->n->dy, P->dx);
}
static void cu_avgpool_rforward(const absa_pass *P)
{
    if (P->Rx) absa_gpu_avgpool_forward_f32(GP(P), P->N, P->p->C, P->p->H * P->p->W, P->Rx, P->n->Ry);
    else absa_gpu_memset0(GP(P), P->n->Ry, CNT(P) * sizeof(float));
}
static void cu_avgpool_rbackward(const absa_pass *P)
{
    if (P->dx) absa_gpu_avgpool_backward_f32(GP(P), P->N, P->p->C, P->p->H * P->p->W, P->n->Rdy, P->dx);
}

static void cu_add_forward(const absa_pass *P)
{
    absa_gpu_add_forward_f32(GP(P), CNT(P), P->p->y, P->m->nodes[P->n->in1].y, P->n->y);
}
static void cu_add_backward(const absa_pass *P)
{
    absa_gpu_add_backward_ex_f32(GP(P), CNT(P), P->n->dy, P->dx, P->setx, P->dq, P->setq);
}
static void cu_add_rforward(const absa_pass *P)
{
    absa_gpu_ctx *g = GP(P);
    const absa_node *q = &P->m->nodes[P->n->in1];
    const size_t cnt = CNT(P);
    const int q_in = P->n->in1 != 0;
    if (P->Rx && q_in) absa_gpu_add_forward_f32(g, cnt, P->Rx, q->Ry, P->n->Ry);
    else if (P->Rx) absa_gpu_copy(g, P->n->Ry, P->Rx, cnt * sizeof(float));
    else if (q_in) absa_gpu_copy(g, P->n->Ry, q->Ry, cnt * sizeof(float));
    else absa_gpu_memset0(g, P->n->Ry, cnt * sizeof(float));
}
static void cu_add_rbackward(const absa_pass *P)
{
    absa_gpu_add_backward_ex_f32(GP(P), CNT(P), P->n->Rdy, P->dx, P->setx, P->dq, P->setq);
}

/* cuDNN takes its workspace from the context: the engine's slot stays unused */
#define cu_input_workspace NULL
#define cu_conv_workspace NULL
#define cu_linear_workspace NULL
#define cu_bn_workspace NULL
#define cu_relu_workspace NULL
#define cu_maxpool_workspace NULL
#define cu_avgpool_workspace NULL
#define cu_flatten_workspace NULL
#define cu_add_workspace NULL
#define cu_bn_relu_workspace NULL
#define cu_bn_add_relu_workspace NULL

const absa_op_ops absa_cuda_ops[ABSA_OP_COUNT] = {
#define ABSA_ENGINE_OP(E, nm, fl)                                                                   \
    [ABSA_OP_##E] = {.name = #nm,                                                                   \
                     .flags = (fl),                                                                 \
                     .forward = cu_##nm##_forward,                                                  \
                     .backward = cu_##nm##_backward,                                                \
                     .rforward = cu_##nm##_rforward,                                                \
                     .rbackward = cu_##nm##_rbackward,                                              \
                     .workspace = cu_##nm##_workspace},
#include "engine_ops.def"
#undef ABSA_ENGINE_OP
};
