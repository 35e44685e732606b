/* model_exec.c (gpu/) — the executor of src/model_exec.c on device buffers (model_gpu.h): the
 * same node order, the same first-writer-overwrites rule for activation gradients (a gradient
 * whose first writer cannot overwrite is zeroed with cudaMemsetAsync just before), the same
 * exact HVP (forward, R-forward, backward, R-backward). Interim, until the backend table. */
#include <stdlib.h>
#include <string.h>

#include "gpu_layers.h"
#include "model_gpu.h"

static size_t numel(const absa_node *n) { return (size_t)n->C * n->H * n->W; }

static int owner_idx(const absa_model *m, int i)
{
    while (m->nodes[i].alias) i = m->nodes[i].in0;
    return i;
}

absa_status absa_gpu_model_create(absa_gpu_model *gm, absa_gpu_ctx *g, const absa_model *m,
                                  int capacity)
{
    memset(gm, 0, sizeof *gm);
    gm->g = g;
    gm->m = m;
    gm->capacity = capacity;
    const size_t P = m->n_params * sizeof(float);
    gm->params = absa_gpu_malloc(P);
    gm->grad = absa_gpu_malloc(P);
    gm->v = absa_gpu_malloc(P);
    gm->hv = absa_gpu_malloc(P);
    gm->mom = absa_gpu_malloc(P);
    gm->bufs = absa_gpu_malloc(m->n_bufs * sizeof(float));
    absa_gpu_upload(g, gm->params, m->params, P);
    absa_gpu_memset0(g, gm->grad, P);
    absa_gpu_memset0(g, gm->mom, P);
    if (m->n_bufs) absa_gpu_upload(g, gm->bufs, m->bufs, m->n_bufs * sizeof(float));
    gm->num_batches_tracked = absa_xcalloc((size_t)m->n_counts + 1, sizeof(int64_t));
    if (m->n_counts) memcpy(gm->num_batches_tracked, m->num_batches_tracked, (size_t)m->n_counts * sizeof(int64_t));
    gm->nodes = absa_xcalloc((size_t)m->n_nodes, sizeof(absa_gpu_node));
    for (int i = 0; i < m->n_nodes; i++) {
        const absa_node *n = &m->nodes[i];
        absa_gpu_node *d = &gm->nodes[i];
        if (n->alias) {
            *d = gm->nodes[owner_idx(m, i)];
            continue;
        }
        const size_t b = (size_t)capacity * numel(n) * sizeof(float);
        d->y = absa_gpu_malloc(b);
        d->dy = absa_gpu_malloc(b);
        d->Ry = absa_gpu_malloc(b);
        d->Rdy = absa_gpu_malloc(b);
        if (n->op == ABSA_OP_BN) {
            d->save_mean = absa_gpu_malloc((size_t)n->C * sizeof(float));
            d->save_invstd = absa_gpu_malloc((size_t)n->C * sizeof(float));
        }
        if (n->op == ABSA_OP_MAXPOOL) d->argmax = absa_gpu_malloc((size_t)capacity * numel(n) * sizeof(int32_t));
    }
    gm->probs = absa_gpu_malloc((size_t)capacity * m->n_classes * sizeof(float));
    gm->labels = absa_gpu_malloc((size_t)capacity * sizeof(int32_t));
    return ABSA_OK;
}

void absa_gpu_model_free(absa_gpu_model *gm)
{
    if (!gm->m) return;
    absa_gpu_sync(gm->g);
    for (int i = 0; i < gm->m->n_nodes; i++) {
        if (gm->m->nodes[i].alias) continue;
        absa_gpu_node *d = &gm->nodes[i];
        absa_gpu_free(d->y), absa_gpu_free(d->dy), absa_gpu_free(d->Ry), absa_gpu_free(d->Rdy);
        absa_gpu_free(d->save_mean), absa_gpu_free(d->save_invstd), absa_gpu_free(d->argmax);
    }
    absa_gpu_free(gm->params), absa_gpu_free(gm->grad), absa_gpu_free(gm->v);
    absa_gpu_free(gm->hv), absa_gpu_free(gm->mom), absa_gpu_free(gm->bufs);
    absa_gpu_free(gm->probs), absa_gpu_free(gm->labels);
    free(gm->nodes);
    free(gm->num_batches_tracked);
    memset(gm, 0, sizeof *gm);
}

static void conv_cfg(const absa_model *m, const absa_node *n, int N, absa_conv_cfg *c)
{
    const absa_node *p = &m->nodes[n->in0];
    absa_conv_cfg_init(c, N, p->C, p->H, p->W, n->out, n->k, n->stride, n->pad, n->has_bias);
}
static void linear_cfg(const absa_model *m, const absa_node *n, int N, absa_linear_cfg *c)
{
    c->N = N;
    c->in = (int)numel(&m->nodes[n->in0]);
    c->out = n->out;
    c->has_bias = n->has_bias;
}
static void bn_cfg(const absa_node *n, int N, absa_bn_cfg *c)
{
    c->N = N, c->C = n->C, c->HW = n->H * n->W, c->eps = 1e-5, c->momentum = 0.1, c->dx_set = 0;
}
static void pool_cfg(const absa_model *m, const absa_node *n, int N, absa_pool_cfg *c)
{
    const absa_node *p = &m->nodes[n->in0];
    absa_pool_cfg_init(c, N, p->C, p->H, p->W, n->k, n->stride, n->pad);
}

double absa_gpu_model_forward_loss(absa_gpu_model *gm, const float *x, const int32_t *labels,
                                   int N, int train, int update_running)
{
    const absa_model *m = gm->m;
    absa_gpu_ctx *g = gm->g;
    ABSA_ASSERT(N >= 1 && N <= gm->capacity, "gpu model: batch %d outside [1, %d]", N, gm->capacity);
    gm->batch = N;
    gm->train_mode = train;
    absa_gpu_upload(g, gm->nodes[0].y, x, (size_t)N * numel(&m->nodes[0]) * sizeof(float));
    absa_gpu_upload(g, gm->labels, labels, (size_t)N * sizeof(int32_t));
    for (int i = 1; i < m->n_nodes; i++) {
        const absa_node *n = &m->nodes[i];
        absa_gpu_node *d = &gm->nodes[i], *pd = &gm->nodes[n->in0];
        const absa_node *p = &m->nodes[n->in0];
        const float *W = gm->params + n->w_off, *b = n->has_bias ? gm->params + n->b_off : NULL;
        switch (n->op) {
        case ABSA_OP_CONV: {
            absa_conv_cfg c;
            conv_cfg(m, n, N, &c);
            absa_gpu_conv2d_forward_f32(g, &c, pd->y, W, b, d->y);
        } break;
        case ABSA_OP_LINEAR: {
            absa_linear_cfg c;
            linear_cfg(m, n, N, &c);
            absa_gpu_linear_forward_f32(g, &c, pd->y, W, b, d->y);
        } break;
        case ABSA_OP_BN: {
            absa_bn_cfg c;
            bn_cfg(n, N, &c);
            const int upd = train && update_running;
            absa_gpu_bn_forward_f32(g, &c, train, pd->y, W, gm->params + n->b_off,
                                    upd || !train ? gm->bufs + n->rm_off : NULL,
                                    upd || !train ? gm->bufs + n->rv_off : NULL, d->save_mean,
                                    d->save_invstd, d->y);
            if (upd) gm->num_batches_tracked[n->count_idx]++;
        } break;
        case ABSA_OP_RELU: absa_gpu_relu_forward_f32(g, (size_t)N * numel(n), pd->y, d->y); break;
        case ABSA_OP_MAXPOOL: {
            absa_pool_cfg c;
            pool_cfg(m, n, N, &c);
            absa_gpu_maxpool_forward_f32(g, &c, pd->y, d->y, d->argmax);
        } break;
        case ABSA_OP_AVGPOOL: absa_gpu_avgpool_forward_f32(g, N, p->C, p->H * p->W, pd->y, d->y); break;
        case ABSA_OP_FLATTEN: break;
        case ABSA_OP_ADD:
            absa_gpu_add_forward_f32(g, (size_t)N * numel(n), pd->y, gm->nodes[n->in1].y, d->y);
            break;
        case ABSA_OP_INPUT: ABSA_ABORT("input node in the middle of the graph");
        }
    }
    return absa_gpu_xent_forward_f32(g, N, m->n_classes, gm->nodes[m->n_nodes - 1].y, gm->labels,
                                     gm->probs);
}

const float *absa_gpu_model_logits(const absa_gpu_model *gm) { return gm->nodes[gm->m->n_nodes - 1].y; }

static void mark_fresh(absa_gpu_model *gm, int with_r)
{
    for (int i = 0; i < gm->m->n_nodes; i++) gm->nodes[i].dy_fresh = 1, gm->nodes[i].Rdy_fresh = with_r;
}
static int overwrites(absa_op op)
{
    return op == ABSA_OP_CONV || op == ABSA_OP_BN || op == ABSA_OP_RELU || op == ABSA_OP_ADD;
}
/* as src/model_exec.c's claim(); the fresh flags live on the owner node */
static int claim(absa_gpu_model *gm, int i, int r, int can_set)
{
    const int o = owner_idx(gm->m, i);
    absa_gpu_node *d = &gm->nodes[o];
    int *fresh = r ? &d->Rdy_fresh : &d->dy_fresh;
    if (!*fresh) return 0;
    *fresh = 0;
    if (can_set) return 1;
    absa_gpu_memset0(gm->g, r ? d->Rdy : d->dy, (size_t)gm->batch * numel(&gm->m->nodes[o]) * sizeof(float));
    return 0;
}

static void node_backward(absa_gpu_model *gm, int i, float *gr)
{
    const absa_model *m = gm->m;
    absa_gpu_ctx *g = gm->g;
    const absa_node *n = &m->nodes[i];
    const absa_node *p = &m->nodes[n->in0];
    absa_gpu_node *d = &gm->nodes[i], *pd = &gm->nodes[n->in0];
    const int N = gm->batch;
    float *dx = n->in0 == 0 ? NULL : pd->dy;
    const float *W = gm->params + n->w_off;
    claim(gm, i, 0, 0);
    const int setx = dx && claim(gm, n->in0, 0, overwrites(n->op));
    switch (n->op) {
    case ABSA_OP_CONV: {
        absa_conv_cfg c;
        conv_cfg(m, n, N, &c);
        c.dx_set = setx;
        absa_gpu_conv2d_backward_f32(g, &c, pd->y, W, d->dy, dx, gr ? gr + n->w_off : NULL,
                                     gr && n->has_bias ? gr + n->b_off : NULL);
    } break;
    case ABSA_OP_LINEAR: {
        absa_linear_cfg c;
        linear_cfg(m, n, N, &c);
        absa_gpu_linear_backward_f32(g, &c, pd->y, W, d->dy, dx, gr ? gr + n->w_off : NULL,
                                     gr && n->has_bias ? gr + n->b_off : NULL);
    } break;
    case ABSA_OP_BN: {
        absa_bn_cfg c;
        bn_cfg(n, N, &c);
        c.dx_set = setx;
        absa_gpu_bn_backward_f32(g, &c, gm->train_mode, pd->y, W, d->save_mean, d->save_invstd, d->dy,
                                 dx, gr ? gr + n->w_off : NULL, gr ? gr + n->b_off : NULL);
    } break;
    case ABSA_OP_RELU:
        if (dx) absa_gpu_relu_backward_ex_f32(g, (size_t)N * numel(n), pd->y, d->dy, dx, setx);
        break;
    case ABSA_OP_MAXPOOL:
        if (dx) {
            absa_pool_cfg c;
            pool_cfg(m, n, N, &c);
            absa_gpu_maxpool_backward_f32(g, &c, d->argmax, d->dy, dx);
        }
        break;
    case ABSA_OP_AVGPOOL:
        if (dx) absa_gpu_avgpool_backward_f32(g, N, p->C, p->H * p->W, d->dy, dx);
        break;
    case ABSA_OP_FLATTEN: break;
    case ABSA_OP_ADD: {
        float *dq = n->in1 == 0 ? NULL : gm->nodes[n->in1].dy;
        const int setq = dq && claim(gm, n->in1, 0, 1);
        absa_gpu_add_backward_ex_f32(g, (size_t)N * numel(n), d->dy, dx, setx, dq, setq);
    } break;
    case ABSA_OP_INPUT: break;
    }
}

void absa_gpu_model_backward(absa_gpu_model *gm, double scale)
{
    const absa_model *m = gm->m;
    mark_fresh(gm, 0);
    claim(gm, m->n_nodes - 1, 0, 0);
    absa_gpu_xent_backward_f32(gm->g, gm->batch, m->n_classes, gm->probs, gm->labels, scale,
                               gm->nodes[m->n_nodes - 1].dy);
    for (int i = m->n_nodes - 1; i >= 1; i--) node_backward(gm, i, gm->grad);
}

static void node_rforward(absa_gpu_model *gm, int i)
{
    const absa_model *m = gm->m;
    absa_gpu_ctx *g = gm->g;
    const absa_node *n = &m->nodes[i];
    const absa_node *p = &m->nodes[n->in0];
    absa_gpu_node *d = &gm->nodes[i], *pd = &gm->nodes[n->in0];
    const int N = gm->batch;
    const float *Rx = n->in0 == 0 ? NULL : pd->Ry;
    const float *W = gm->params + n->w_off, *V = gm->v + n->w_off;
    const size_t cnt = (size_t)N * numel(n);
    switch (n->op) {
    case ABSA_OP_CONV: {
        absa_conv_cfg c;
        conv_cfg(m, n, N, &c);
        absa_gpu_conv2d_rforward_f32(g, &c, pd->y, Rx, W, V, n->has_bias ? gm->v + n->b_off : NULL, d->Ry);
    } break;
    case ABSA_OP_LINEAR: {
        absa_linear_cfg c;
        linear_cfg(m, n, N, &c);
        absa_gpu_linear_rforward_f32(g, &c, pd->y, Rx, W, V, n->has_bias ? gm->v + n->b_off : NULL, d->Ry);
    } break;
    case ABSA_OP_BN: {
        absa_bn_cfg c;
        bn_cfg(n, N, &c);
        absa_gpu_bn_rforward_f32(g, &c, gm->train_mode, pd->y, Rx, W, V, gm->v + n->b_off, d->save_mean,
                                 d->save_invstd, d->Ry);
    } break;
    case ABSA_OP_RELU: absa_gpu_relu_rforward_f32(g, cnt, pd->y, Rx, d->Ry); break;
    case ABSA_OP_MAXPOOL: {
        absa_pool_cfg c;
        pool_cfg(m, n, N, &c);
        absa_gpu_maxpool_rforward_f32(g, &c, d->argmax, Rx, d->Ry);
    } break;
    case ABSA_OP_AVGPOOL:
        if (Rx) absa_gpu_avgpool_forward_f32(g, N, p->C, p->H * p->W, Rx, d->Ry);
        else absa_gpu_memset0(g, d->Ry, cnt * sizeof(float));
        break;
    case ABSA_OP_FLATTEN: break;
    case ABSA_OP_ADD: {
        const float *Rq = n->in1 == 0 ? NULL : gm->nodes[n->in1].Ry;
        if (Rx && Rq) absa_gpu_add_forward_f32(g, cnt, Rx, Rq, d->Ry);
        else if (Rx || Rq) {
            absa_gpu_memset0(g, d->Ry, cnt * sizeof(float));
            absa_gpu_axpy_f32(g, cnt, 1.0, Rx ? Rx : Rq, d->Ry);
        } else absa_gpu_memset0(g, d->Ry, cnt * sizeof(float));
    } break;
    case ABSA_OP_INPUT: break;
    }
}

static void node_rbackward(absa_gpu_model *gm, int i)
{
    const absa_model *m = gm->m;
    absa_gpu_ctx *g = gm->g;
    const absa_node *n = &m->nodes[i];
    const absa_node *p = &m->nodes[n->in0];
    absa_gpu_node *d = &gm->nodes[i], *pd = &gm->nodes[n->in0];
    const int N = gm->batch, first = n->in0 == 0;
    const float *Rx = first ? NULL : pd->Ry;
    float *Rdx = first ? NULL : pd->Rdy, *hv = gm->hv;
    const float *W = gm->params + n->w_off, *V = gm->v + n->w_off;
    const size_t cnt = (size_t)N * numel(n);
    claim(gm, i, 1, 0);
    const int setx = Rdx && claim(gm, n->in0, 1, overwrites(n->op));
    switch (n->op) {
    case ABSA_OP_CONV: {
        absa_conv_cfg c;
        conv_cfg(m, n, N, &c);
        c.dx_set = setx;
        absa_gpu_conv2d_rbackward_f32(g, &c, pd->y, Rx, W, V, d->dy, d->Rdy, Rdx, hv + n->w_off,
                                      n->has_bias ? hv + n->b_off : NULL);
    } break;
    case ABSA_OP_LINEAR: {
        absa_linear_cfg c;
        linear_cfg(m, n, N, &c);
        absa_gpu_linear_rbackward_f32(g, &c, pd->y, Rx, W, V, d->dy, d->Rdy, Rdx, hv + n->w_off,
                                      n->has_bias ? hv + n->b_off : NULL);
    } break;
    case ABSA_OP_BN: {
        absa_bn_cfg c;
        bn_cfg(n, N, &c);
        c.dx_set = setx;
        absa_gpu_bn_rbackward_f32(g, &c, gm->train_mode, pd->y, Rx, W, V, d->save_mean, d->save_invstd,
                                  d->dy, d->Rdy, Rdx, hv + n->w_off, hv + n->b_off);
    } break;
    case ABSA_OP_RELU:
        if (Rdx) absa_gpu_relu_backward_ex_f32(g, cnt, pd->y, d->Rdy, Rdx, setx);
        break;
    case ABSA_OP_MAXPOOL:
        if (Rdx) {
            absa_pool_cfg c;
            pool_cfg(m, n, N, &c);
            absa_gpu_maxpool_backward_f32(g, &c, d->argmax, d->Rdy, Rdx);
        }
        break;
    case ABSA_OP_AVGPOOL:
        if (Rdx) absa_gpu_avgpool_backward_f32(g, N, p->C, p->H * p->W, d->Rdy, Rdx);
        break;
    case ABSA_OP_FLATTEN: break;
    case ABSA_OP_ADD: {
        float *Rdq = n->in1 == 0 ? NULL : gm->nodes[n->in1].Rdy;
        const int setq = Rdq && claim(gm, n->in1, 1, 1);
        absa_gpu_add_backward_ex_f32(g, cnt, d->Rdy, Rdx, setx, Rdq, setq);
    } break;
    case ABSA_OP_INPUT: break;
    }
}

void absa_gpu_model_hvp(absa_gpu_model *gm, const float *x, const int32_t *labels, int N, int train,
                        double scale, double *loss)
{
    const absa_model *m = gm->m;
    const double l = absa_gpu_model_forward_loss(gm, x, labels, N, train, 0);
    if (loss) *loss = l;
    absa_gpu_memset0(gm->g, gm->hv, m->n_params * sizeof(float));
    for (int i = 1; i < m->n_nodes; i++) node_rforward(gm, i);
    mark_fresh(gm, 1);
    claim(gm, m->n_nodes - 1, 0, 0);
    claim(gm, m->n_nodes - 1, 1, 0);
    absa_gpu_node *last = &gm->nodes[m->n_nodes - 1];
    absa_gpu_xent_backward_f32(gm->g, N, m->n_classes, gm->probs, gm->labels, scale, last->dy);
    absa_gpu_xent_rbackward_f32(gm->g, N, m->n_classes, gm->probs, last->Ry, scale, last->Rdy);
    for (int i = m->n_nodes - 1; i >= 1; i--) {
        node_backward(gm, i, NULL);
        node_rbackward(gm, i);
    }
}
