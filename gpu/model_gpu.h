/* model_gpu.h — an absa_model graph executed on the GPU (interim: the executor of src/model_exec.c
 * with device arenas and the CUDA launchers of gpu_layers.h). It exists so that the device check
 * (validation/gpu/device-check.sh) can compare whole models with the CPU engine before the
 * backend table (src/backend.h) drives one executor for every backend; once that lands this file
 * is replaced by the table's CUDA entries (docs/gpu.md, "wiring that remains").
 *
 * The graph, shapes and arena layout come from a host absa_model (read only); parameters, buffers,
 * gradients, v, hv, momentum and every activation live on the device, float32. */
#ifndef ABSA_MODEL_GPU_H
#define ABSA_MODEL_GPU_H

#include <stdint.h>

#include "gpu_ctx.h"
#include "model.h"

typedef struct absa_gpu_node {
    float *y, *dy, *Ry, *Rdy, *save_mean, *save_invstd;
    int32_t *argmax;
    int dy_fresh, Rdy_fresh;
} absa_gpu_node;

typedef struct absa_gpu_model {
    absa_gpu_ctx *g;
    const absa_model *m;                         /* graph and layout (host) */
    float *params, *grad, *v, *hv, *mom, *bufs;  /* device arenas, m's layout */
    int64_t *num_batches_tracked;                /* host, m->n_counts */
    absa_gpu_node *nodes;                        /* per node (flatten aliases its producer) */
    float *probs;
    int32_t *labels;
    int capacity, batch, train_mode;
} absa_gpu_model;

/* Device buffers for batches up to `capacity`; parameters and buffers copied from m. */
absa_status absa_gpu_model_create(absa_gpu_model *gm, absa_gpu_ctx *g, const absa_model *m,
                                  int capacity);
void absa_gpu_model_free(absa_gpu_model *gm);
/* Forward of N host samples (labels host, N of them) and the mean loss. */
double absa_gpu_model_forward_loss(absa_gpu_model *gm, const float *x, const int32_t *labels,
                                   int N, int train, int update_running);
/* After forward_loss: grad += scale * dL/dw. */
void absa_gpu_model_backward(absa_gpu_model *gm, double scale);
/* hv = H v (gm->v on the device) of scale * the mean loss of N host samples; *loss if non-NULL. */
void absa_gpu_model_hvp(absa_gpu_model *gm, const float *x, const int32_t *labels, int N, int train,
                        double scale, double *loss);
/* logits of the last forward (device) */
const float *absa_gpu_model_logits(const absa_gpu_model *gm);
#endif
