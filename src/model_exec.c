/* model_exec.c — running a model graph: forward, loss, backward and the exact Hessian-vector
 * product (Pearlmutter: forward, R-forward, backward, R-backward) over the flat arenas.
 * Nodes are stored in execution order; backward walks them in reverse. Activation gradients
 * accumulate (kernels use +=) except that the first writer of a dy / Rdy buffer in a pass
 * overwrites it (conv, BN, ReLU and add kernels have an overwrite mode); a buffer whose first
 * writer cannot overwrite (max-pool, average pool, linear) is zeroed just before. This saves a
 * zeroing pass over all activation memory per backward. */
#include <string.h>

#include "model.h"

static size_t node_numel(const absa_node *n) { return (size_t)n->C * n->H * n->W; }

static void conv_cfg(const absa_model *m, const absa_node *n, int N, absa_conv_cfg *c)
{
    const absa_node *p = &m->nodes[n->in0];
    absa_conv_cfg_init(c, N, p->C, p->H, p->W, n->out, n->k, n->stride, n->pad, n->has_bias);
}

static void linear_cfg(const absa_model *m, const absa_node *n, int N, absa_linear_cfg *c)
{
    const absa_node *p = &m->nodes[n->in0];
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
    c->momentum = 0.1;
    c->dx_set = 0; /* the backward passes set it per call */
}

static void pool_cfg(const absa_model *m, const absa_node *n, int N, absa_pool_cfg *c)
{
    const absa_node *p = &m->nodes[n->in0];
    absa_pool_cfg_init(c, N, p->C, p->H, p->W, n->k, n->stride, n->pad);
}

const float *absa_model_forward(absa_model *m, const float *x, int N, int train, int update_running)
{
    if (absa_model_reserve(m, N) != ABSA_OK) return NULL;
    m->batch = N;
    m->train_mode = train;
    memcpy(m->nodes[0].y, x, (size_t)N * node_numel(&m->nodes[0]) * sizeof(float));
    for (int i = 1; i < m->n_nodes; i++) {
        absa_node *n = &m->nodes[i];
        const absa_node *p = &m->nodes[n->in0];
        const float *W = m->params + n->w_off;
        const float *b = n->has_bias ? m->params + n->b_off : NULL;
        switch (n->op) {
        case ABSA_OP_CONV: {
            absa_conv_cfg c;
            conv_cfg(m, n, N, &c);
            absa_conv2d_forward_f32(&c, p->y, W, b, n->y, m->ws);
        } break;
        case ABSA_OP_LINEAR: {
            absa_linear_cfg c;
            linear_cfg(m, n, N, &c);
            absa_linear_forward_f32(&c, p->y, W, b, n->y);
        } break;
        case ABSA_OP_BN: {
            absa_bn_cfg c;
            bn_cfg(n, N, &c);
            int upd = train && update_running;
            absa_bn_forward_f32(&c, train, p->y, W, m->params + n->b_off,
                                upd || !train ? m->bufs + n->rm_off : NULL,
                                upd || !train ? m->bufs + n->rv_off : NULL, n->save_mean,
                                n->save_invstd, n->y);
            if (upd) m->num_batches_tracked[n->count_idx]++;
        } break;
        case ABSA_OP_RELU: absa_relu_forward_f32((size_t)N * node_numel(n), p->y, n->y); break;
        case ABSA_OP_MAXPOOL: {
            absa_pool_cfg c;
            pool_cfg(m, n, N, &c);
            absa_maxpool_forward_f32(&c, p->y, n->y, n->argmax);
        } break;
        case ABSA_OP_AVGPOOL: absa_avgpool_forward_f32(N, p->C, p->H * p->W, p->y, n->y); break;
        case ABSA_OP_FLATTEN: break; /* aliases the producer */
        case ABSA_OP_ADD:
            absa_add_forward_f32((size_t)N * node_numel(n), p->y, m->nodes[n->in1].y, n->y);
            break;
        case ABSA_OP_INPUT: ABSA_ABORT("input node in the middle of the graph");
        }
    }
    return m->nodes[m->n_nodes - 1].y;
}

double absa_model_loss(absa_model *m, const int32_t *labels)
{
    const absa_node *last = &m->nodes[m->n_nodes - 1];
    return absa_xent_forward_f32(m->batch, m->n_classes, last->y, labels, m->probs);
}

/* The node owning the buffers of node i (a flatten aliases its producer's). */
static absa_node *owner(absa_model *m, int i)
{
    while (m->nodes[i].alias) i = m->nodes[i].in0;
    return &m->nodes[i];
}

/* Start a backward pass: every dy (and Rdy when with_r) is unwritten. */
static void mark_fresh(absa_model *m, int with_r)
{
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].dy_fresh = 1;
        m->nodes[i].Rdy_fresh = with_r;
    }
}

/* Whether the (R-)backward of op has an overwrite mode for its input gradient (layers.h). */
static int overwrites(absa_op op)
{
    return op == ABSA_OP_CONV || op == ABSA_OP_BN || op == ABSA_OP_RELU || op == ABSA_OP_ADD;
}

/* Before a kernel writes into node i's dy (r = 0) or Rdy (r = 1): returns 1 when the kernel
 * should overwrite (first writer that can), else 0 after zeroing the buffer if it was unwritten.
 * The buffer counts as written afterwards. */
static int claim(absa_model *m, int i, int r, int can_set)
{
    absa_node *o = owner(m, i);
    int *fresh = r ? &o->Rdy_fresh : &o->dy_fresh;
    if (!*fresh) return 0;
    *fresh = 0;
    if (can_set) return 1;
    memset(r ? o->Rdy : o->dy, 0, (size_t)m->batch * node_numel(o) * sizeof(float));
    return 0;
}

/* One node's backward: parameter gradients into g (none when g is NULL: HVP, input gradient),
 * dx into producers. */
static void node_backward(absa_model *m, absa_node *n, float *g, int want_dinput)
{
    int N = m->batch;
    absa_node *p = &m->nodes[n->in0];
    float *dx = (n->in0 == 0 && !want_dinput) ? NULL : p->dy;
    const float *W = m->params + n->w_off;
    claim(m, (int)(n - m->nodes), 0, 0); /* n's own dy is complete: zero it if nobody wrote it */
    const int setx = dx && claim(m, n->in0, 0, overwrites(n->op));
    switch (n->op) {
    case ABSA_OP_CONV: {
        absa_conv_cfg c;
        conv_cfg(m, n, N, &c);
        c.dx_set = setx;
        absa_conv2d_backward_f32(&c, p->y, W, n->dy, dx, g ? g + n->w_off : NULL,
                                 g && n->has_bias ? g + n->b_off : NULL, m->ws);
    } break;
    case ABSA_OP_LINEAR: {
        absa_linear_cfg c;
        linear_cfg(m, n, N, &c);
        absa_linear_backward_f32(&c, p->y, W, n->dy, dx, g ? g + n->w_off : NULL,
                                 g && n->has_bias ? g + n->b_off : NULL);
    } break;
    case ABSA_OP_BN: {
        absa_bn_cfg c;
        bn_cfg(n, N, &c);
        c.dx_set = setx;
        absa_bn_backward_f32(&c, m->train_mode, p->y, W, n->save_mean, n->save_invstd, n->dy, dx,
                             g ? g + n->w_off : NULL, g ? g + n->b_off : NULL);
    } break;
    case ABSA_OP_RELU:
        if (dx) absa_relu_backward_ex_f32((size_t)N * node_numel(n), p->y, n->dy, dx, setx);
        break;
    case ABSA_OP_MAXPOOL:
        if (dx) {
            absa_pool_cfg c;
            pool_cfg(m, n, N, &c);
            absa_maxpool_backward_f32(&c, n->argmax, n->dy, dx);
        }
        break;
    case ABSA_OP_AVGPOOL:
        if (dx) absa_avgpool_backward_f32(N, p->C, p->H * p->W, n->dy, dx);
        break;
    case ABSA_OP_FLATTEN: break;
    case ABSA_OP_ADD: {
        absa_node *q = &m->nodes[n->in1];
        float *dq = (n->in1 == 0 && !want_dinput) ? NULL : q->dy;
        const int setq = dq && claim(m, n->in1, 0, 1);
        absa_add_backward_ex_f32((size_t)N * node_numel(n), n->dy, dx, setx, dq, setq);
    } break;
    case ABSA_OP_INPUT: break;
    }
}

/* The backward pass after forward + loss: parameter gradients into g (none when NULL), the input
 * gradient into m->dinput when want_dinput. */
static void backward_pass(absa_model *m, const int32_t *labels, double scale, float *g, int want_dinput)
{
    int N = m->batch;
    mark_fresh(m, 0);
    claim(m, m->n_nodes - 1, 0, 0);
    absa_node *last = &m->nodes[m->n_nodes - 1];
    absa_xent_backward_f32(N, m->n_classes, m->probs, labels, scale, last->dy);
    for (int i = m->n_nodes - 1; i >= 1; i--) node_backward(m, &m->nodes[i], g, want_dinput);
    if (want_dinput) {
        claim(m, 0, 0, 0);
        memcpy(m->dinput, m->nodes[0].dy, (size_t)N * node_numel(&m->nodes[0]) * sizeof(float));
    }
}

void absa_model_backward(absa_model *m, const float *x, const int32_t *labels, double scale,
                         int want_dinput)
{
    (void)x; /* the input was kept by forward (node 0) */
    backward_pass(m, labels, scale, m->grad, want_dinput);
}

const float *absa_model_input_grad(absa_model *m, const float *x, const int32_t *labels, int N,
                                   int train)
{
    if (!absa_model_forward(m, x, N, train, 0)) return NULL;
    absa_model_loss(m, labels);
    backward_pass(m, labels, 1.0, NULL, 1);
    return m->dinput;
}

/* R-forward of one node: Ry from the producer's y and Ry (node 0's Ry is zero: pass NULL). */
static void node_rforward(absa_model *m, absa_node *n)
{
    int N = m->batch;
    absa_node *p = &m->nodes[n->in0];
    const float *Rx = n->in0 == 0 ? NULL : p->Ry;
    const float *W = m->params + n->w_off, *V = m->v + n->w_off;
    size_t cnt = (size_t)N * node_numel(n);
    switch (n->op) {
    case ABSA_OP_CONV: {
        absa_conv_cfg c;
        conv_cfg(m, n, N, &c);
        absa_conv2d_rforward_f32(&c, p->y, Rx, W, V, n->has_bias ? m->v + n->b_off : NULL, n->Ry, m->ws);
    } break;
    case ABSA_OP_LINEAR: {
        absa_linear_cfg c;
        linear_cfg(m, n, N, &c);
        absa_linear_rforward_f32(&c, p->y, Rx, W, V, n->has_bias ? m->v + n->b_off : NULL, n->Ry);
    } break;
    case ABSA_OP_BN: {
        absa_bn_cfg c;
        bn_cfg(n, N, &c);
        absa_bn_rforward_f32(&c, m->train_mode, p->y, Rx, W, V, m->v + n->b_off, n->save_mean,
                             n->save_invstd, n->Ry);
    } break;
    case ABSA_OP_RELU:
        if (Rx) absa_relu_rforward_f32(cnt, p->y, Rx, n->Ry);
        else memset(n->Ry, 0, cnt * sizeof(float));
        break;
    case ABSA_OP_MAXPOOL: {
        absa_pool_cfg c;
        pool_cfg(m, n, N, &c);
        if (Rx) absa_maxpool_rforward_f32(&c, n->argmax, Rx, n->Ry);
        else memset(n->Ry, 0, cnt * sizeof(float));
    } break;
    case ABSA_OP_AVGPOOL:
        if (Rx) absa_avgpool_forward_f32(N, p->C, p->H * p->W, Rx, n->Ry);
        else memset(n->Ry, 0, cnt * sizeof(float));
        break;
    case ABSA_OP_FLATTEN: break;
    case ABSA_OP_ADD: {
        /* an input-node operand contributes zero */
        const absa_node *q = &m->nodes[n->in1];
        if (Rx && n->in1 != 0) absa_add_forward_f32(cnt, Rx, q->Ry, n->Ry);
        else if (Rx) memcpy(n->Ry, Rx, cnt * sizeof(float));
        else if (n->in1 != 0) memcpy(n->Ry, q->Ry, cnt * sizeof(float));
        else memset(n->Ry, 0, cnt * sizeof(float));
    } break;
    case ABSA_OP_INPUT: break;
    }
}

/* R-backward of one node: Hv slices into hv, Rdx into the producer's Rdy. */
static void node_rbackward(absa_model *m, absa_node *n, float *hv)
{
    int N = m->batch;
    absa_node *p = &m->nodes[n->in0];
    int first = n->in0 == 0;
    const float *Rx = first ? NULL : p->Ry;
    float *Rdx = first ? NULL : p->Rdy;
    const float *W = m->params + n->w_off, *V = m->v + n->w_off;
    size_t cnt = (size_t)N * node_numel(n);
    claim(m, (int)(n - m->nodes), 1, 0);
    const int setx = Rdx && claim(m, n->in0, 1, overwrites(n->op));
    switch (n->op) {
    case ABSA_OP_CONV: {
        absa_conv_cfg c;
        conv_cfg(m, n, N, &c);
        c.dx_set = setx;
        absa_conv2d_rbackward_f32(&c, p->y, Rx, W, V, n->dy, n->Rdy, Rdx, hv + n->w_off,
                                  n->has_bias ? hv + n->b_off : NULL, m->ws);
    } break;
    case ABSA_OP_LINEAR: {
        absa_linear_cfg c;
        linear_cfg(m, n, N, &c);
        absa_linear_rbackward_f32(&c, p->y, Rx, W, V, n->dy, n->Rdy, Rdx, hv + n->w_off,
                                  n->has_bias ? hv + n->b_off : NULL);
    } break;
    case ABSA_OP_BN: {
        absa_bn_cfg c;
        bn_cfg(n, N, &c);
        c.dx_set = setx;
        absa_bn_rbackward_f32(&c, m->train_mode, p->y, Rx, W, V, n->save_mean, n->save_invstd,
                              n->dy, n->Rdy, Rdx, hv + n->w_off, hv + n->b_off);
    } break;
    case ABSA_OP_RELU:
        if (Rdx) absa_relu_backward_ex_f32(cnt, p->y, n->Rdy, Rdx, setx); /* = the R-backward */
        break;
    case ABSA_OP_MAXPOOL:
        if (Rdx) {
            absa_pool_cfg c;
            pool_cfg(m, n, N, &c);
            absa_maxpool_backward_f32(&c, n->argmax, n->Rdy, Rdx);
        }
        break;
    case ABSA_OP_AVGPOOL:
        if (Rdx) absa_avgpool_backward_f32(N, p->C, p->H * p->W, n->Rdy, Rdx);
        break;
    case ABSA_OP_FLATTEN: break;
    case ABSA_OP_ADD: {
        float *Rdq = n->in1 == 0 ? NULL : m->nodes[n->in1].Rdy;
        const int setq = Rdq && claim(m, n->in1, 1, 1);
        absa_add_backward_ex_f32(cnt, n->Rdy, Rdx, setx, Rdq, setq);
    } break;
    case ABSA_OP_INPUT: break;
    }
}

absa_status absa_model_hvp(absa_model *m, const float *x, const int32_t *labels, int N, int train,
                           double scale, double *loss)
{
    absa_status status = absa_model_reserve_r(m, N);
    if (status != ABSA_OK) return status;
    if (!absa_model_forward(m, x, N, train, 0)) return ABSA_ENOMEM;
    double l = absa_model_loss(m, labels);
    if (loss) *loss = l;
    for (int i = 1; i < m->n_nodes; i++) node_rforward(m, &m->nodes[i]);
    mark_fresh(m, 1);
    claim(m, m->n_nodes - 1, 0, 0);
    claim(m, m->n_nodes - 1, 1, 0);
    absa_node *last = &m->nodes[m->n_nodes - 1];
    absa_xent_backward_f32(N, m->n_classes, m->probs, labels, scale, last->dy);
    absa_xent_rbackward_f32(N, m->n_classes, m->probs, last->Ry, scale, last->Rdy);
    /* This backward pass only provides dy for the R-backward: no parameter gradients (g = NULL). */
    for (int i = m->n_nodes - 1; i >= 1; i--) {
        absa_node *n = &m->nodes[i];
        node_backward(m, n, NULL, 0);
        node_rbackward(m, n, m->hv);
    }
    return ABSA_OK;
}
