/* model_exec.c — running a model graph: forward, loss, backward and the exact Hessian-vector
 * product (Pearlmutter: forward, R-forward, backward, R-backward) over the flat arenas, every
 * pass dispatched through the model's backend (backend.h: one op table entry per line of
 * engine_ops.def; no per-op code here), and the batch-norm running-statistics merge over ranks.
 * Nodes are stored in execution order; backward walks them in reverse. Activation gradients
 * accumulate (kernels use +=) except that the first writer of a dy / Rdy buffer in a pass
 * overwrites it (ops flagged ABSA_OPF_SETS_DX have an overwrite mode); a buffer whose first
 * writer cannot overwrite is zeroed just before. This saves a zeroing pass over all activation
 * memory per backward. */
#include <math.h>
#include <string.h>

#include "exact_sum.h"
#include "model.h"

static size_t node_numel(const absa_node *n) { return (size_t)n->C * n->H * n->W; }

static const absa_op_ops *ops_of(const absa_model *m, const absa_node *n) { return &m->be->ops[n->op]; }

/* The batch into the input node. A double-buffering backend gets it in the buffer the previous
 * forward did not use, and the previous one is retired: nothing reads it until the next forward
 * writes it (the guarded backend poisons it to prove that). Flatten nodes alias the input's y. */
static void load_input(absa_model *m, const float *x, size_t bytes)
{
    if (!m->x_in[1]) {
        absa_backend_copy_from_host(m->be, m->nodes[0].y, x, bytes);
        return;
    }
    const int s = m->x_slot ^ 1;
    if (bytes) m->be->copy_input(m->be, m->x_in[s], x, bytes, m->x_in[m->x_slot]);
    m->x_slot = s;
    m->nodes[0].y = m->x_in[s];
    for (int i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].alias && m->nodes[i].y == m->x_in[s ^ 1])
            m->nodes[i].y = m->x_in[s];
}

const float *absa_model_forward(absa_model *m, const float *x, int N, int train, int update_running)
{
    m->hvp_ready = 0; /* the activations change */
    if (absa_model_reserve(m, N) != ABSA_OK) return NULL;
    m->batch = N;
    m->train_mode = train;
    load_input(m, x, (size_t)N * node_numel(&m->nodes[0]) * sizeof(float));
    const int upd = train && update_running;
    for (int i = 1; i < m->n_nodes; i++) {
        absa_node *n = &m->nodes[i];
        ABSA_ASSERT(n->op != ABSA_OP_INPUT, "input node in the middle of the graph");
        absa_pass P = {.m = m, .n = n, .p = &m->nodes[n->in0], .N = N, .train = train, .update_running = update_running};
        ops_of(m, n)->forward(&P);
        if (upd && n->count_idx >= 0) m->num_batches_tracked[n->count_idx]++;
    }
    const absa_node *last = &m->nodes[m->n_nodes - 1];
    absa_backend_copy_to_host(m->be, m->logits, last->y, (size_t)N * m->n_classes * sizeof(float));
    return m->logits;
}

double absa_model_loss(absa_model *m, const int32_t *labels)
{
    const absa_node *last = &m->nodes[m->n_nodes - 1];
    return m->be->xent_forward(m->be, m->batch, m->n_classes, last->y, labels, m->probs);
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
    absa_be_zero(m->be, r ? o->Rdy : o->dy, (size_t)m->batch * node_numel(o));
    return 0;
}

/* Prepare the (R-)backward pass of node n (r = 0: dy, r = 1: Rdy): input gradients of the
 * producers (NULL for the input node unless want_dinput), claimed in order: own, in0, in1. */
static absa_pass backward_args(absa_model *m, absa_node *n, int r, float *g, int want_dinput)
{
    const int can_set = (ops_of(m, n)->flags & ABSA_OPF_SETS_DX) != 0;
    absa_node *p = &m->nodes[n->in0];
    absa_pass P = {.m = m, .n = n, .p = p, .N = m->batch, .train = m->train_mode, .g = g};
    P.Rx = r && n->in0 != 0 ? p->Ry : NULL;
    claim(m, (int)(n - m->nodes), r, 0); /* n's own gradient is complete: zero it if nobody wrote it */
    P.dx = (n->in0 == 0 && !want_dinput) ? NULL : r ? p->Rdy : p->dy;
    P.setx = P.dx && claim(m, n->in0, r, can_set);
    if (n->in1 >= 0) {
        absa_node *q = &m->nodes[n->in1];
        P.dq = (n->in1 == 0 && !want_dinput) ? NULL : r ? q->Rdy : q->dy;
        P.setq = P.dq && claim(m, n->in1, r, can_set);
    }
    return P;
}

/* The backward pass after forward + loss: parameter gradients into g (none when NULL), the input
 * gradient into m->dinput (host) when want_dinput. */
static void backward_pass(absa_model *m, const int32_t *labels, double scale, float *g, int want_dinput)
{
    int N = m->batch;
    mark_fresh(m, 0);
    claim(m, m->n_nodes - 1, 0, 0);
    absa_node *last = &m->nodes[m->n_nodes - 1];
    m->be->xent_backward(m->be, N, m->n_classes, m->probs, labels, scale, last->dy);
    for (int i = m->n_nodes - 1; i >= 1; i--) {
        absa_node *n = &m->nodes[i];
        absa_pass P = backward_args(m, n, 0, g, want_dinput);
        ops_of(m, n)->backward(&P);
    }
    if (want_dinput) {
        claim(m, 0, 0, 0);
        absa_backend_copy_to_host(m->be, m->dinput, m->nodes[0].dy, (size_t)N * node_numel(&m->nodes[0]) * sizeof(float));
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

/* The HVP; again: the forward, loss and backward of the previous call are still in the buffers
 * (absa_model_hvp_again checked it), so only the R passes run. */
static absa_status hvp(absa_model *m, const float *x, const int32_t *labels, int N, int train, double scale,
                       double *loss, int again)
{
    if (!again) {
        absa_status status = absa_model_reserve_r(m, N);
        if (status != ABSA_OK) return status;
        if (!absa_model_forward(m, x, N, train, 0)) return ABSA_ENOMEM;
        m->hvp_loss = absa_model_loss(m, labels);
    }
    if (loss) *loss = m->hvp_loss;
    for (int i = 1; i < m->n_nodes; i++) { /* R-forward: node 0's Ry is zero (Rx = NULL) */
        absa_node *n = &m->nodes[i];
        const absa_node *p = &m->nodes[n->in0];
        absa_pass P = {.m = m, .n = n, .p = p, .N = N, .train = m->train_mode, .Rx = n->in0 == 0 ? NULL : p->Ry};
        ops_of(m, n)->rforward(&P);
    }
    mark_fresh(m, 1);
    absa_node *last = &m->nodes[m->n_nodes - 1];
    if (!again) {
        claim(m, m->n_nodes - 1, 0, 0);
        m->be->xent_backward(m->be, N, m->n_classes, m->probs, labels, scale, last->dy);
    }
    claim(m, m->n_nodes - 1, 1, 0);
    m->be->xent_rbackward(m->be, N, m->n_classes, m->probs, last->Ry, scale, last->Rdy);
    /* The backward pass only provides dy for the R-backward: no parameter gradients (g = NULL).
     * Each node's R-backward reads only its own dy, complete once its consumers' backward ran. */
    for (int i = m->n_nodes - 1; i >= 1; i--) {
        absa_node *n = &m->nodes[i];
        absa_pass P;
        if (!again) {
            P = backward_args(m, n, 0, NULL, 0);
            ops_of(m, n)->backward(&P);
        }
        P = backward_args(m, n, 1, m->hv, 0);
        ops_of(m, n)->rbackward(&P);
    }
    m->hvp_ready = 1;
    m->hvp_x = x;
    m->hvp_y = labels;
    m->hvp_n = N;
    m->hvp_train = train;
    m->hvp_scale = scale;
    return ABSA_OK;
}

absa_status absa_model_hvp(absa_model *m, const float *x, const int32_t *labels, int N, int train,
                           double scale, double *loss)
{
    return hvp(m, x, labels, N, train, scale, loss, 0);
}

absa_status absa_model_hvp_again(absa_model *m, const float *x, const int32_t *labels, int N, int train,
                                 double scale, double *loss)
{
    const int again = m->hvp_ready && m->hvp_x == x && m->hvp_y == labels && m->hvp_n == N &&
                      m->hvp_train == train && m->hvp_scale == scale;
    return hvp(m, x, labels, N, train, scale, loss, again);
}

void absa_model_hvp_forget(absa_model *m) { m->hvp_ready = 0; }

/* ---- host access and reductions ---- */

void absa_model_get(const absa_model *m, const float *buf, float *host, size_t n)
{
    absa_backend_copy_to_host(m->be, host, buf, n * sizeof(float));
}

void absa_model_set(absa_model *m, float *buf, const float *host, size_t n)
{
    absa_backend_copy_from_host(m->be, buf, host, n * sizeof(float));
}

void absa_model_xl_zero(absa_model *m)
{
    m->be->zero(m->be, m->gxl, (m->n_params + 1) * ABSA_XLIMBS * sizeof(int64_t));
}
void absa_model_xl_add_grad(absa_model *m, double limit) { m->be->xl_add_f32(m->be, m->gxl, m->grad, m->n_params, limit); }
int absa_model_xl_bad(absa_model *m) { return m->be->xl_bad(m->be); }
void absa_model_xl_to_grad(absa_model *m) { m->be->xl_get_f32(m->be, m->gxl, m->grad, m->n_params); }
void absa_model_xl_loss(absa_model *m, void *word, int put)
{
    int64_t l[ABSA_XLIMBS];
    int64_t *dl = m->gxl + ABSA_XLIMBS * m->n_params;
    if (put) {
        absa_xsum_to_limbs(word, 1, l);
        absa_backend_copy_from_host(m->be, dl, l, sizeof l);
    } else {
        absa_backend_copy_to_host(m->be, l, dl, sizeof l);
        absa_xsum_from_limbs(l, 1, word);
    }
}

void absa_model_allreduce(absa_model *m, float *buf, size_t n, absa_reduce_fn fn, void *fn_ctx)
{
    absa_be_allreduce(m->be, buf, n, fn, fn_ctx);
}

/* ---- batch-norm running statistics of a step spread over ranks ---- */

void absa_model_bn_snapshot(absa_model *m)
{
    absa_be_copy(m->be, m->bn0, m->bufs, m->n_bufs);
    if (m->n_counts) memcpy(m->cnt0, m->num_batches_tracked, (size_t)m->n_counts * sizeof(int64_t));
}

void absa_model_bn_restore(absa_model *m) { absa_be_copy(m->be, m->bufs, m->bn0, m->n_bufs); }

void absa_model_bn_zero(absa_model *m) { absa_be_zero(m->be, m->bufs, m->n_bufs); }

void absa_model_bn_accumulate(absa_model *m, int k, int j, double *acc)
{
    if (!m->n_bufs) return;
    m->be->bn_accumulate(m->be, m->n_bufs, pow(1.0 - ABSA_BN_MOMENTUM, k - 1 - j), m->bufs, acc);
}

void absa_model_bn_merge(absa_model *m, int k, const double *acc)
{
    if (m->n_bufs) m->be->bn_merge(m->be, m->n_bufs, pow(1.0 - ABSA_BN_MOMENTUM, k), m->bn0, acc, m->bufs);
    for (int i = 0; i < m->n_counts; i++) m->num_batches_tracked[i] = m->cnt0[i] + k;
}
