/* model_build.c — building a model graph (nodes + state_dict table), allocating its flat arenas
 * and per-batch buffers through the model's backend, tensor lookup, and the host flat-vector
 * helpers. Execution is model_exec.c;
 * the architectures are models.c. */
#include "model_build.h"
#include "exact_sum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* builder-time bookkeeping lives in the model itself: capacity of nodes/tensors arrays and an
 * error flag carried in m->batch (negative = a node had an impossible shape) until finish. */
#define ABSA_MB_MAX_NODES 256
#define ABSA_MB_MAX_TENSORS 512

absa_model *absa_mb_begin(const char *name, int C, int H, int W, int n_classes)
{
    absa_model *m = absa_xcalloc(1, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->in_c = C;
    m->in_h = H;
    m->in_w = W;
    m->n_classes = n_classes;
    m->nodes = absa_xcalloc(ABSA_MB_MAX_NODES, sizeof *m->nodes);
    m->tensors = absa_xcalloc(ABSA_MB_MAX_TENSORS, sizeof *m->tensors);
    absa_node *n = &m->nodes[m->n_nodes++];
    n->op = ABSA_OP_INPUT;
    n->in0 = n->in1 = -1;
    n->count_idx = -1;
    n->C = C;
    n->H = H;
    n->W = W;
    if (C <= 0 || H <= 0 || W <= 0 || n_classes <= 1) {
        absa_errorf("model %s: invalid input shape %dx%dx%d or class count %d", name, C, H, W, n_classes);
        m->batch = -1;
    }
    return m;
}

static absa_node *mb_node(absa_model *m, absa_op op, int in0, int in1)
{
    ABSA_ASSERT(m->n_nodes < ABSA_MB_MAX_NODES, "too many nodes");
    ABSA_ASSERT(in0 >= 0 && in0 < m->n_nodes, "bad producer %d", in0);
    absa_node *n = &m->nodes[m->n_nodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->in0 = in0;
    n->in1 = in1;
    n->count_idx = -1; /* no batch counter */
    n->C = m->nodes[in0].C;
    n->H = m->nodes[in0].H;
    n->W = m->nodes[in0].W;
    return n;
}

static size_t mb_tensor(absa_model *m, const char *prefix, const char *leaf, int kind, int ndim,
                        const int *shape)
{
    ABSA_ASSERT(m->n_tensors < ABSA_MB_MAX_TENSORS, "too many tensors");
    absa_tensor_info *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s.%s", prefix, leaf);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->kind = kind;
    if (kind == ABSA_TENSOR_PARAM) {
        t->offset = m->n_params;
        m->n_params += t->numel;
    } else if (kind == ABSA_TENSOR_BUF) {
        t->offset = m->n_bufs;
        m->n_bufs += t->numel;
    } else {
        t->offset = (size_t)m->n_counts++;
    }
    return t->offset;
}

static void mb_bad(absa_model *m, const char *what)
{
    if (m->batch >= 0) absa_errorf("model %s: input %dx%dx%d is too small (%s)", m->name, m->in_c,
                                   m->in_h, m->in_w, what);
    m->batch = -1;
}

int absa_mb_conv(absa_model *m, int in, const char *prefix, int out, int k, int stride, int pad,
                 int bias)
{
    absa_node *p = &m->nodes[in];
    int C = p->C, H = p->H, W = p->W;
    absa_node *n = mb_node(m, ABSA_OP_CONV, in, -1);
    n->out = out;
    n->k = k;
    n->stride = stride;
    n->pad = pad;
    n->has_bias = bias;
    n->C = out;
    n->H = (H + 2 * pad - k) / stride + 1;
    n->W = (W + 2 * pad - k) / stride + 1;
    if (H + 2 * pad < k || W + 2 * pad < k) {
        mb_bad(m, prefix);
        n->H = n->W = 1;
    }
    int ws[4] = {out, C, k, k};
    n->w_off = mb_tensor(m, prefix, "weight", ABSA_TENSOR_PARAM, 4, ws);
    if (bias) n->b_off = mb_tensor(m, prefix, "bias", ABSA_TENSOR_PARAM, 1, &out);
    return m->n_nodes - 1;
}

int absa_mb_linear(absa_model *m, int in, const char *prefix, int out, int bias)
{
    absa_node *p = &m->nodes[in];
    int fin = p->C * p->H * p->W;
    absa_node *n = mb_node(m, ABSA_OP_LINEAR, in, -1);
    n->out = out;
    n->has_bias = bias;
    n->C = out;
    n->H = n->W = 1;
    int ws[2] = {out, fin};
    n->w_off = mb_tensor(m, prefix, "weight", ABSA_TENSOR_PARAM, 2, ws);
    if (bias) n->b_off = mb_tensor(m, prefix, "bias", ABSA_TENSOR_PARAM, 1, &out);
    return m->n_nodes - 1;
}

int absa_mb_bn(absa_model *m, int in, const char *prefix)
{
    absa_node *n = mb_node(m, ABSA_OP_BN, in, -1);
    int C = n->C;
    n->w_off = mb_tensor(m, prefix, "weight", ABSA_TENSOR_PARAM, 1, &C);
    n->b_off = mb_tensor(m, prefix, "bias", ABSA_TENSOR_PARAM, 1, &C);
    n->rm_off = mb_tensor(m, prefix, "running_mean", ABSA_TENSOR_BUF, 1, &C);
    n->rv_off = mb_tensor(m, prefix, "running_var", ABSA_TENSOR_BUF, 1, &C);
    n->count_idx = (int)mb_tensor(m, prefix, "num_batches_tracked", ABSA_TENSOR_COUNT, 0, NULL);
    return m->n_nodes - 1;
}

int absa_mb_relu(absa_model *m, int in)
{
    mb_node(m, ABSA_OP_RELU, in, -1);
    return m->n_nodes - 1;
}

int absa_mb_maxpool(absa_model *m, int in, int k, int stride, int pad)
{
    absa_node *n = mb_node(m, ABSA_OP_MAXPOOL, in, -1);
    n->k = k;
    n->stride = stride;
    n->pad = pad;
    int H = n->H, W = n->W;
    n->H = (H + 2 * pad - k) / stride + 1;
    n->W = (W + 2 * pad - k) / stride + 1;
    if (H + 2 * pad < k || W + 2 * pad < k) {
        mb_bad(m, "max-pool");
        n->H = n->W = 1;
    }
    return m->n_nodes - 1;
}

int absa_mb_avgpool(absa_model *m, int in)
{
    absa_node *n = mb_node(m, ABSA_OP_AVGPOOL, in, -1);
    n->H = n->W = 1;
    return m->n_nodes - 1;
}

int absa_mb_flatten(absa_model *m, int in)
{
    absa_node *n = mb_node(m, ABSA_OP_FLATTEN, in, -1);
    n->C = n->C * n->H * n->W;
    n->H = n->W = 1;
    n->alias = 1;
    return m->n_nodes - 1;
}

int absa_mb_add(absa_model *m, int a, int b)
{
    absa_node *n = mb_node(m, ABSA_OP_ADD, a, b);
    const absa_node *pb = &m->nodes[b];
    ABSA_ASSERT(pb->C == n->C && pb->H == n->H && pb->W == n->W, "residual shapes differ");
    return m->n_nodes - 1;
}

/* How many nodes read node i. */
static int mb_consumers(const absa_model *m, int i)
{
    int c = 0;
    for (int j = 0; j < m->n_nodes; j++) c += (m->nodes[j].in0 == i) + (m->nodes[j].in1 == i);
    return c;
}

/* ReLU then max-pool (lenet) runs as max-pool then ReLU: the ReLU and its backward then touch a
 * quarter of the elements (2x2 windows), and the full-size ReLU output is never written. Exact,
 * bit for bit, in every pass: ReLU is monotone and returns its argument or +0, so
 *  - forward: max over a window of relu(x) = relu(max of x), with the same argmax whenever that
 *    max is > 0 (ties among positive values: the first, in both orders); a NaN wins the window in
 *    both orders and passes the ReLU;
 *  - when the window's max is <= 0 both orders output +0 and pass no gradient to any element of
 *    the window (relu-then-pool sends dy to the first element, whose ReLU mask then blocks it);
 *  - R-forward, backward and R-backward are the same masks and gathers/scatters composed the other
 *    way round (the pool's backward clears and adds exactly as before).
 * Only when the ReLU's output feeds nothing but that pool. test_commute checks the bits of every
 * pass against the declared order. */
static void mb_commute_relu_pool(absa_model *m)
{
    for (int i = 1; i + 1 < m->n_nodes; i++) {
        absa_node *r = &m->nodes[i], *p = &m->nodes[i + 1];
        if (r->op != ABSA_OP_RELU || p->op != ABSA_OP_MAXPOOL || p->in0 != i || mb_consumers(m, i) != 1) continue;
        absa_node pool = *p, relu = *r;
        pool.in0 = relu.in0; /* the pool reads what the ReLU read ... */
        relu.in0 = i;        /* ... and the ReLU the pool's output, in the pool's shape */
        relu.C = pool.C;
        relu.H = pool.H;
        relu.W = pool.W;
        m->nodes[i] = pool; /* node i + 1 (what later nodes read) is still the pair's result */
        m->nodes[i + 1] = relu;
    }
}

/* Remove node r, whose work node i (< r) now does: the readers of r read i, and later producer
 * indices shift down by one. */
static void mb_drop_node(absa_model *m, int r, int i)
{
    memmove(&m->nodes[r], &m->nodes[r + 1], (size_t)(m->n_nodes - r - 1) * sizeof *m->nodes);
    m->n_nodes--;
    for (int j = r; j < m->n_nodes; j++) {
        absa_node *n = &m->nodes[j];
        if (n->in0 == r) n->in0 = i;
        else if (n->in0 > r) n->in0--;
        if (n->in1 == r) n->in1 = i;
        else if (n->in1 > r) n->in1--;
    }
}

/* The node that reads node i (its only consumer), or -1. */
static int mb_only_reader(const absa_model *m, int i)
{
    if (mb_consumers(m, i) != 1) return -1;
    int r = i + 1;
    while (r < m->n_nodes && m->nodes[r].in0 != i && m->nodes[r].in1 != i) r++;
    return r < m->n_nodes ? r : -1;
}

/* A batch norm whose output feeds nothing but a ReLU runs as one BN_RELU node (absa_bn_relu_*):
 * the BN's output is never stored and the ReLU's sweeps over it disappear. Bitwise the same in
 * every pass (the fused kernels are the two ops' arithmetic with the mask folded in); test_bnrelu
 * checks that against keep_order. The fused node takes the BN's place (its parameters, statistics
 * and counter) with the ReLU's output; the ReLU node is removed and later producer indices shift
 * down by one (readers of the ReLU now read the fused node). */
static void mb_fuse_bn_relu(absa_model *m)
{
    for (int i = 1; i < m->n_nodes; i++) {
        if (m->nodes[i].op != ABSA_OP_BN) continue;
        const int r = mb_only_reader(m, i);
        if (r < 0 || m->nodes[r].op != ABSA_OP_RELU || m->nodes[r].in0 != i) continue;
        m->nodes[i].op = ABSA_OP_BN_RELU; /* the ReLU's shape is the BN's */
        mb_drop_node(m, r, i);
    }
}

/* A batch norm read only by a residual add (as its first operand) whose sum feeds nothing but a
 * ReLU runs as one BN_ADD_RELU node (absa_bn_add_relu_*; resnet20's bn2, add and ReLU at the end
 * of every block): neither the BN's output nor the sum is stored, and the add's and the ReLU's
 * sweeps disappear in all four passes (forward: 4 sweeps of a block's output fewer; backward: 5).
 * Bitwise the three ops (test_bnaddrelu for the kernels, test_bnrelu for graphs against
 * keep_order). The fused node takes the add's place, after the add's other operand (a shortcut is
 * declared after bn2), with the BN's parameters, statistics, counter and input, the add's second
 * operand and the ReLU's output; the BN and ReLU nodes are removed. Not fused when the add's other
 * operand is the BN itself or its input: the gradients dx and dq would then be one buffer. */
static void mb_fuse_bn_add_relu(absa_model *m)
{
    for (int a = 1; a < m->n_nodes; a++) {
        const absa_node *add = &m->nodes[a];
        if (add->op != ABSA_OP_ADD) continue;
        const int b = add->in0, q = add->in1;
        if (m->nodes[b].op != ABSA_OP_BN || mb_only_reader(m, b) != a || q == b || q == m->nodes[b].in0) continue;
        const int r = mb_only_reader(m, a);
        if (r < 0 || m->nodes[r].op != ABSA_OP_RELU || m->nodes[r].in0 != a) continue;
        absa_node f = m->nodes[b];
        f.op = ABSA_OP_BN_ADD_RELU;
        f.in1 = q;
        m->nodes[a] = f;
        mb_drop_node(m, r, a);       /* the ReLU's readers read the fused node */
        mb_drop_node(m, b, f.in0);   /* nothing reads the BN any more */
        a--;                         /* the fused node is now a - 1; the next one to look at is a */
    }
}

/* A conv whose output feeds nothing but a max-pool runs as one CONV_POOL node
 * (absa_conv2d_pool_*), with the ReLU that follows the pool when it is the pool's only reader:
 * the conv's output is never stored, and each sample is pooled (and ReLU'd), and its gradient
 * masked and scattered, inside the conv's loop over samples while it is in cache (lenet's conv1:
 * 12.8 MB of output per micro-batch of 128 written and read again, in each of the four passes).
 * Bitwise the separate ops in every pass; test_convpool checks that against keep_order. The fused
 * node keeps the conv's parameters and takes the pool's (or ReLU's) shape, argmax and output; the
 * pool and ReLU nodes are removed. Runs after the ReLU/max-pool commute, which puts lenet's pools
 * right after their convs and the ReLUs after the pools. */
static void mb_fuse_conv_pool(absa_model *m)
{
    for (int i = 1; i < m->n_nodes; i++) {
        absa_node *c = &m->nodes[i];
        if (c->op != ABSA_OP_CONV) continue;
        const int r = mb_only_reader(m, i);
        if (r < 0 || m->nodes[r].op != ABSA_OP_MAXPOOL || m->nodes[r].in0 != i) continue;
        const absa_node *p = &m->nodes[r];
        c->op = ABSA_OP_CONV_POOL;
        c->pk = p->k;
        c->ps = p->stride;
        c->pp = p->pad;
        c->H = p->H; /* the pool's output shape (C is the conv's out either way) */
        c->W = p->W;
        mb_drop_node(m, r, i);
        /* a ReLU that reads nothing but the pool (lenet: after the commute) joins too: masks taken
         * from its output, as BN_RELU does (relu(v) <= 0 exactly when v <= 0, NaN passing both) */
        const int q = mb_only_reader(m, i);
        if (q < 0 || m->nodes[q].op != ABSA_OP_RELU || m->nodes[q].in0 != i) continue;
        c->prelu = 1;
        mb_drop_node(m, q, i);
    }
}

absa_status absa_mb_finish(absa_model *m, absa_model **out)
{
    absa_status status = ABSA_OK;
    *out = NULL;
    if (m->batch < 0) { /* the message was recorded when the model went bad */
        status = ABSA_EINVAL;
        goto cleanup;
    }
    ABSA_ASSERT(m->be, "model %s has no backend", m->name);
    if (!m->keep_order) {
        mb_commute_relu_pool(m);
        mb_fuse_conv_pool(m);
        mb_fuse_bn_relu(m);
        mb_fuse_bn_add_relu(m);
    }
    absa_backend *be = m->be;
    size_t np = (m->n_params ? m->n_params : 1) * sizeof(float), nb = (m->n_bufs ? m->n_bufs : 1) * sizeof(float);
    m->params = be->alloc(be, np);
    m->grad = be->alloc(be, np);
    m->v = be->alloc(be, np);
    m->hv = be->alloc(be, np);
    m->mom = be->alloc(be, np);
    m->bufs = be->alloc(be, nb);
    m->bn0 = be->alloc(be, nb);
    m->num_batches_tracked = absa_xcalloc((size_t)(m->n_counts ? m->n_counts : 1), sizeof(int64_t));
    m->cnt0 = absa_xcalloc((size_t)(m->n_counts ? m->n_counts : 1), sizeof(int64_t));
    if (be->xl_add_f32) /* the exact gradient sum in backend memory: n_params + 1 words (the loss) */
        m->gxl = be->alloc(be, (m->n_params + 1) * ABSA_XLIMBS * sizeof(int64_t));
    if (!m->params || !m->grad || !m->v || !m->hv || !m->mom || !m->bufs || !m->bn0 || (be->xl_add_f32 && !m->gxl))
        ABSA_FAIL(ABSA_ENOMEM, "model %s: cannot allocate %zu parameters", m->name, m->n_params);
    m->batch = 0;
    *out = m;
    return ABSA_OK;
cleanup:
    absa_model_free(m);
    return status;
}

static void free_batch_buffers(absa_model *m)
{
    absa_backend *be = m->be;
    if (be && m->x_in[1]) { /* the input node's two buffers (its y is one of them) */
        be->free(be, m->x_in[0]);
        be->free(be, m->x_in[1]);
        m->nodes[0].y = NULL;
    }
    m->x_in[0] = m->x_in[1] = NULL;
    m->x_slot = 0;
    for (int i = 0; be && i < m->n_nodes; i++) {
        absa_node *n = &m->nodes[i];
        if (!n->alias) {
            be->free(be, n->y);
            be->free(be, n->dy);
            be->free(be, n->Ry);
            be->free(be, n->Rdy);
        }
        be->free(be, n->save_mean);
        be->free(be, n->save_invstd);
        be->free(be, n->argmax);
        n->y = n->dy = n->Ry = n->Rdy = n->save_mean = n->save_invstd = NULL;
        n->argmax = NULL;
    }
    if (be) {
        be->free(be, m->probs);
        be->free(be, m->ws);
    }
    absa_free(m->logits);
    absa_free(m->dinput);
    m->probs = m->ws = m->logits = m->dinput = NULL;
    m->capacity = 0;
    m->have_r = 0;
}

void absa_model_free(absa_model *m)
{
    if (!m) return;
    if (m->nodes) free_batch_buffers(m);
    absa_backend *be = m->be;
    if (be) {
        be->free(be, m->params);
        be->free(be, m->grad);
        be->free(be, m->v);
        be->free(be, m->hv);
        be->free(be, m->mom);
        be->free(be, m->bufs);
        be->free(be, m->bn0);
        be->free(be, m->gxl);
    }
    absa_backend_close(be);
    free(m->num_batches_tracked);
    free(m->cnt0);
    free(m->nodes);
    free(m->tensors);
    free(m);
}

static size_t node_numel(const absa_node *n) { return (size_t)n->C * n->H * n->W; }

/* The largest workspace of any node at batch N (in floats; the op table's optional slot). */
static size_t max_ws(const absa_model *m, int N)
{
    size_t ws = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        const absa_node *n = &m->nodes[i];
        const absa_op_ops *o = &m->be->ops[n->op];
        size_t w = o->workspace ? o->workspace(m, n, N) : 0;
        if (w > ws) ws = w;
    }
    return ws;
}

/* Allocate y/dy (and Ry/Rdy when with_r) for N samples. */
static absa_status reserve_impl(absa_model *m, int N, int with_r)
{
    absa_status status = ABSA_OK;
    if (N <= 0) ABSA_FAIL(ABSA_EINVAL, "batch size must be positive (got %d)", N);
    if (N <= m->capacity && (!with_r || m->have_r)) return ABSA_OK;
    int cap = N > m->capacity ? N : m->capacity;
    absa_backend *be = m->be;
    free_batch_buffers(m);
    for (int i = 0; i < m->n_nodes; i++) {
        absa_node *n = &m->nodes[i];
        size_t e = (size_t)cap * node_numel(n) * sizeof(float);
        if (n->alias) {
            const absa_node *p = &m->nodes[n->in0];
            n->y = p->y;
            n->dy = p->dy;
            n->Ry = p->Ry;
            n->Rdy = p->Rdy;
            continue;
        }
        n->y = be->alloc(be, e);
        n->dy = be->alloc(be, e);
        if (!n->y || !n->dy) goto oom;
        if (i == 0 && be->copy_input) { /* double-buffered input */
            m->x_in[0] = n->y;
            m->x_in[1] = be->alloc(be, e);
            m->x_slot = 0;
            if (!m->x_in[1]) goto oom;
        }
        if (with_r) {
            n->Ry = be->alloc(be, e);
            n->Rdy = be->alloc(be, e);
            if (!n->Ry || !n->Rdy) goto oom;
        }
        if (absa_node_is_bn(n)) {
            n->save_mean = be->alloc(be, (size_t)n->C * sizeof(float));
            n->save_invstd = be->alloc(be, (size_t)n->C * sizeof(float));
            if (!n->save_mean || !n->save_invstd) goto oom;
        }
        if (n->op == ABSA_OP_MAXPOOL || n->op == ABSA_OP_CONV_POOL) {
            n->argmax = be->alloc(be, (size_t)cap * node_numel(n) * sizeof(int32_t));
            if (!n->argmax) goto oom;
        }
    }
    m->ws_len = max_ws(m, cap);
    m->ws = be->alloc(be, (m->ws_len ? m->ws_len : 1) * sizeof(float));
    m->probs = be->alloc(be, (size_t)cap * m->n_classes * sizeof(float));
    m->logits = absa_try_alloc((size_t)cap * m->n_classes * sizeof(float));
    m->dinput = absa_try_alloc((size_t)cap * node_numel(&m->nodes[0]) * sizeof(float));
    if (!m->ws || !m->probs || !m->logits || !m->dinput) goto oom;
    m->capacity = cap;
    m->have_r = with_r;
    return ABSA_OK;
oom:
    free_batch_buffers(m);
    ABSA_FAIL(ABSA_ENOMEM, "model %s: cannot allocate activations for batch %d", m->name, cap);
cleanup:
    return status;
}

absa_status absa_model_reserve(absa_model *m, int N) { return reserve_impl(m, N, m->have_r); }
absa_status absa_model_reserve_r(absa_model *m, int N) { return reserve_impl(m, N, 1); }

const absa_tensor_info *absa_model_find(const absa_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* Deterministic whatever the thread count: 64 fixed blocks, each summed in order, then the
 * block sums added in order (an OpenMP float reduction would combine in arrival order). */
double absa_vec_dot(size_t n, const float *a, const float *b)
{
    enum { NB = 64 };
    double part[NB];
    size_t blk = (n + NB - 1) / NB;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int k = 0; k < NB; k++) {
        size_t lo = (size_t)k * blk, hi = lo + blk < n ? lo + blk : n;
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)a[i] * b[i];
        part[k] = s;
    }
    double s = 0;
    for (int k = 0; k < NB; k++) s += part[k];
    return s;
}

double absa_vec_norm(size_t n, const float *a) { return sqrt(absa_vec_dot(n, a, a)); }

void absa_vec_scale(size_t n, float *a, float s)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) a[i] *= s;
}

void absa_vec_axpy(size_t n, float alpha, const float *x, float *y)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void absa_vec_zero(size_t n, float *a) { memset(a, 0, n * sizeof *a); }
