/* model.h — a model is a small DAG of layer nodes over ONE flat parameter arena.
 *
 * The arena holds every trainable parameter in PyTorch `model.parameters()` order (so
 * torch.nn.utils.parameters_to_vector gives the same vector). The gradient, the HVP direction v,
 * Hv and the momentum buffer have exactly the same layout, so an allreduce is one call and power
 * iteration works on flat vectors. Non-trainable state (BN running mean/var, num_batches_tracked)
 * lives in a second flat arena `bufs` with its own name table.
 *
 * Passes (float32):
 *   absa_model_forward   logits for a batch (train mode = BN batch statistics + running update)
 *   absa_model_loss      softmax cross-entropy of the last forward, mean over the batch
 *   absa_model_backward  grad += scale * dL/dw (and dL/dx for FGSM if asked)
 *   absa_model_hvp       hv += scale * H v   (forward, R-forward, backward, R-backward)
 */
#ifndef ABSA_MODEL_H
#define ABSA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "backend.h"
#include "layers.h"

#define ABSA_NAME_MAX 64
#define ABSA_MAX_DIMS 4

/* One named tensor in an arena (a state_dict entry). */
typedef struct absa_tensor_info {
    char name[ABSA_NAME_MAX]; /* PyTorch state_dict name, e.g. "layer1.0.conv1.weight" */
    int ndim;
    int shape[ABSA_MAX_DIMS];
    size_t offset; /* in elements, into params (kind PARAM) or bufs (kind BUF) */
    size_t numel;
    int kind;      /* ABSA_TENSOR_PARAM, ABSA_TENSOR_BUF (float), ABSA_TENSOR_COUNT (int64 num_batches_tracked) */
} absa_tensor_info;

enum { ABSA_TENSOR_PARAM = 0, ABSA_TENSOR_BUF = 1, ABSA_TENSOR_COUNT = 2 };

typedef struct absa_node {
    absa_op op;
    int in0, in1;            /* producer node indices (-1 = none) */
    int C, H, W;             /* output shape per sample (flat features: C=features, H=W=1) */
    /* op parameters */
    int out, k, stride, pad, has_bias;
    int pk, ps, pp;          /* CONV_POOL: the fused max-pool's kernel, stride, padding */
    int prelu;               /* CONV_POOL: a ReLU after the pool, fused too (y is its output) */
    size_t w_off, b_off;     /* into params (weight/bias or gamma/beta) */
    size_t rm_off, rv_off;   /* BN running stats, into bufs */
    int count_idx;           /* BN: index into num_batches_tracked[] */
    /* per-batch buffers (capacity = model batch capacity) */
    float *y, *dy, *Ry, *Rdy;
    float *save_mean, *save_invstd; /* BN */
    int32_t *argmax;                /* max-pool, CONV_POOL */
    int alias;               /* flatten: y/dy/Ry/Rdy alias the producer's */
    /* backward bookkeeping: dy / Rdy not written yet in this pass (the first writer overwrites
     * instead of accumulating, so no zeroing pass is needed) */
    int dy_fresh, Rdy_fresh;
} absa_node;

/* Whether node n carries a batch norm (parameters gamma/beta, running statistics, a batch counter,
 * save_mean/save_invstd): BN, and the builder's fused BN_RELU and BN_ADD_RELU. */
static inline int absa_node_is_bn(const absa_node *n)
{
    return n->op == ABSA_OP_BN || n->op == ABSA_OP_BN_RELU || n->op == ABSA_OP_BN_ADD_RELU;
}

typedef struct absa_model {
    char name[32];
    absa_backend *be;        /* owns every float buffer below except logits and dinput (host) */
    int in_c, in_h, in_w, n_classes;
    absa_node *nodes;
    int n_nodes;
    /* arenas (backend memory: reach them through absa_model_get/set and the absa_be_* calls) */
    size_t n_params;
    float *params, *grad, *v, *hv, *mom;
    size_t n_bufs;
    float *bufs;
    int64_t *num_batches_tracked; /* host memory (counters are bookkeeping, not tensors) */
    int n_counts;
    float *bn0;              /* running statistics at the step start (absa_model_bn_snapshot) */
    int64_t *gxl;            /* backends with xl entries: the step's exact gradient sum as int64
                              * limbs, 3 per word, n_params + 1 words (the last: the loss) */
    int64_t *cnt0;           /* host: the counters at the step start */
    /* state_dict table in PyTorch order (params, buffers and counters interleaved) */
    absa_tensor_info *tensors;
    int n_tensors;
    /* batch buffers */
    int capacity;            /* allocated batch size */
    int batch;               /* N of the last forward */
    int train_mode;          /* mode of the last forward */
    float *probs;            /* softmax of the last forward [N, n_classes] */
    float *ws;               /* shared conv workspace */
    size_t ws_len;
    float *logits;           /* HOST copy of the logits of the last forward [N, n_classes] */
    float *dinput;           /* HOST: dL/dx of the last backward when requested [N, C*H*W] */
    int have_r;              /* R buffers (Ry, Rdy) allocated for the current capacity */
    int keep_order;          /* builder: run the nodes exactly as declared (absa_mb_finish does not
                              * commute ReLU and max-pool; the test of that commute sets it) */
    /* the input node's two buffers when the backend double-buffers its input (be->copy_input):
     * each forward copies the batch into the one the previous forward did not use (NULL: one) */
    float *x_in[2];
    int x_slot;              /* which of x_in the input node's y is */
    /* what the activations, probs and dy buffers hold after absa_model_hvp (absa_model_hvp_again
     * reuses them); hvp_ready is cleared by every forward */
    int hvp_ready, hvp_n, hvp_train;
    const float *hvp_x;
    const int32_t *hvp_y;
    double hvp_scale, hvp_loss;
} absa_model;

/* The models by name are the registry's (src/engine/registry/models.c, above the backends):
 * engine code never calls these three.
 * Names accepted by absa_model_create ("mlp", "lenet", "c1", "resnet20"), NULL-terminated. */
extern const char *const absa_model_names[];

/* Build a model for inputs C x H x W and n_classes outputs. Parameters are zero until
 * absa_model_init. Errors: unknown name, input too small for the architecture. */
absa_status absa_model_create(const char *name, int C, int H, int W, int n_classes,
                              absa_model **out);
/* The same on a device ("cpu", "cpu-guarded"; NULL = "cpu"): the model owns its backend. */
absa_status absa_model_create_on(const char *name, int C, int H, int W, int n_classes, const char *device,
                                 absa_model **out);
/* ... for a process at node-local index local_index ("cuda": that index's GPU; < 0: the
 * launcher's local rank; absa_backend_open_at). */
absa_status absa_model_create_at(const char *name, int C, int H, int W, int n_classes, const char *device,
                                 int local_index, absa_model **out);
void absa_model_free(absa_model *m);

/* PyTorch-default initialisation (kaiming-uniform(a=sqrt 5) conv/linear weights, uniform biases;
 * resnet20: He-normal conv weights; BN weight 1, bias 0, running mean 0 / var 1). */
void absa_model_init(absa_model *m, uint64_t seed);

/* Ensure buffers for batches up to N (reserve_r also allocates the R-pass buffers; the passes
 * call these themselves, so callers need them only to fail early on memory). */
absa_status absa_model_reserve(absa_model *m, int N);
absa_status absa_model_reserve_r(absa_model *m, int N);

/* x (host): N x C x H x W float32. train: BN with batch statistics (and running-stat update if
 * update_running). Returns the logits [N, n_classes] (a host copy owned by the model), or NULL if the
 * activations for N samples cannot be allocated (message recorded). */
const float *absa_model_forward(absa_model *m, const float *x, int N, int train, int update_running);
/* Mean cross-entropy of the last forward against labels (fills probs). */
double absa_model_loss(absa_model *m, const int32_t *labels);
/* After forward+loss: grad += scale * dL/dw. If want_dinput, also fills m->dinput (overwritten). */
void absa_model_backward(absa_model *m, const float *x, const int32_t *labels, double scale,
                         int want_dinput);
/* Gradient of the mean loss w.r.t. the INPUT (for FGSM) of N samples: forward (train flag as
 * given, running stats not updated), loss, backward without parameter gradients (m->grad
 * is untouched). Returns the input gradient (owned by the model, N x C x H x W) or NULL on ENOMEM. */
const float *absa_model_input_grad(absa_model *m, const float *x, const int32_t *labels, int N,
                                   int train);
/* Full HVP on a batch: hv += scale * H(w) v, with v = m->v (caller fills it). Runs its own
 * forward (train flag as given, running stats NOT updated; the reference uses eval) and stores
 * the batch loss in *loss (may be NULL). Fails only on allocation (ABSA_ENOMEM). */
absa_status absa_model_hvp(absa_model *m, const float *x, const int32_t *labels, int N, int train,
                           double scale, double *loss);
/* The same for a new v (m->v) on the same batch: when the last forward on m was the
 * absa_model_hvp of the same x, labels (pointers), N, train and scale, only the R-forward and
 * R-backward run, on that call's activations, loss and backward gradients (which do not depend
 * on v: about 40 % less work per power iteration); otherwise a full absa_model_hvp. The same
 * bits either way. The caller guarantees that the parameters and the contents of x and labels
 * did not change since that call. */
absa_status absa_model_hvp_again(absa_model *m, const float *x, const int32_t *labels, int N, int train,
                                 double scale, double *loss);
/* Void what absa_model_hvp_again could reuse (a new sample set or new parameters: the start of
 * every power iteration and trace). */
void absa_model_hvp_forget(absa_model *m);

/* Look up a tensor by state_dict name (NULL if absent). */
const absa_tensor_info *absa_model_find(const absa_model *m, const char *name);

/* Host <-> backend copies of n floats of a model buffer (params, grad, v, hv, mom, bufs, or an
 * offset into one). */
/* The exact gradient sum in backend memory (backends with xl entries, m->gxl != NULL; see
 * backend.h and exact_limbs.h): zero it, add the current gradient (limit: exact_sum.h's range for
 * the step's addends), read and clear the "bad addend" flag, set grad to its floats, and move the
 * loss word (index n_params) between a host absa_xword and the limbs. */
void absa_model_xl_zero(absa_model *m);
void absa_model_xl_add_grad(absa_model *m, double limit);
int absa_model_xl_bad(absa_model *m);
void absa_model_xl_to_grad(absa_model *m);
void absa_model_xl_loss(absa_model *m, void *word, int put);
void absa_model_get(const absa_model *m, const float *buf, float *host, size_t n);
void absa_model_set(absa_model *m, float *buf, const float *host, size_t n);
/* Sum a model buffer over the ranks with the distributed layer's allreduce. */
void absa_model_allreduce(absa_model *m, float *buf, size_t n, absa_reduce_fn fn, void *fn_ctx);

/* Batch-norm running statistics of a step spread over ranks (model_exec.c; one momentum,
 * ABSA_BN_MOMENTUM). The k sequential updates r <- (1-m) r + m s_j are linear:
 * r_k = (1-m)^k r_0 + sum_j (1-m)^(k-1-j) m s_j. snapshot: remember r_0 and the counters;
 * restore: bufs = r_0; zero: bufs = 0 (a train forward then leaves m s_j);
 * accumulate: acc[i] += (1-m)^(k-1-j) * bufs[i] (acc: host doubles, n_bufs of them);
 * merge (after the reduction of acc): bufs = (1-m)^k r_0 + acc, counters = start + k. */
void absa_model_bn_snapshot(absa_model *m);
void absa_model_bn_restore(absa_model *m);
void absa_model_bn_zero(absa_model *m);
void absa_model_bn_accumulate(absa_model *m, int k, int j, double *acc);
void absa_model_bn_merge(absa_model *m, int k, const double *acc);

/* Small flat-vector helpers on HOST arrays (double accumulation); the backend's dot/axpy/scale
 * are the same arithmetic on backend buffers (absa_be_*). */
double absa_vec_dot(size_t n, const float *a, const float *b);
double absa_vec_norm(size_t n, const float *a);
void absa_vec_scale(size_t n, float *a, float s);
void absa_vec_axpy(size_t n, float alpha, const float *x, float *y);
void absa_vec_zero(size_t n, float *a);

#endif
