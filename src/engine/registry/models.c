/* models.c — the architectures absa trains (mlp, lenet, c1, resnet20), declared with the
 * builder of model_build.h so that node names, parameter order and shapes are exactly those of
 * the PyTorch twin in validation/oracle/absa_models.py, and their initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_build.h"
#include "rng.h"

const char *const absa_model_names[] = {"mlp", "lenet", "c1", "resnet20", NULL};

static int build_mlp(absa_model *m)
{
    int x = absa_mb_flatten(m, 0);
    x = absa_mb_linear(m, x, "fc1", 256, 1);
    x = absa_mb_relu(m, x);
    return absa_mb_linear(m, x, "fc2", m->n_classes, 1);
}

static int build_lenet(absa_model *m)
{
    int x = absa_mb_conv(m, 0, "conv1", 32, 3, 1, 1, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_maxpool(m, x, 2, 2, 0);
    x = absa_mb_conv(m, x, "conv2", 64, 3, 1, 1, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_maxpool(m, x, 2, 2, 0);
    x = absa_mb_flatten(m, x);
    x = absa_mb_linear(m, x, "fc1", 128, 1);
    x = absa_mb_relu(m, x);
    return absa_mb_linear(m, x, "fc2", m->n_classes, 1);
}

/* HessianFlow's AlexNet-like c1: (conv, relu, bn, maxpool 3/2) x 2, then 384-192-classes. */
static int build_c1(absa_model *m)
{
    int x = absa_mb_conv(m, 0, "conv1", 64, 5, 1, 2, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_bn(m, x, "bn1");
    x = absa_mb_maxpool(m, x, 3, 2, 0);
    x = absa_mb_conv(m, x, "conv2", 64, 5, 1, 2, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_bn(m, x, "bn2");
    x = absa_mb_maxpool(m, x, 3, 2, 0);
    x = absa_mb_flatten(m, x);
    x = absa_mb_linear(m, x, "fc1", 384, 1);
    x = absa_mb_relu(m, x);
    x = absa_mb_linear(m, x, "fc2", 192, 1);
    x = absa_mb_relu(m, x);
    return absa_mb_linear(m, x, "fc3", m->n_classes, 1);
}

/* CIFAR BasicBlock: conv3x3(s)-bn-relu-conv3x3-bn + shortcut (1x1 conv + bn when the shape
 * changes: option B), relu. Registration order: conv1, bn1, conv2, bn2, shortcut. */
static int basic_block(absa_model *m, int x, const char *prefix, int planes, int stride)
{
    char name[ABSA_NAME_MAX];
    int in_planes = m->nodes[x].C;
    snprintf(name, sizeof name, "%s.conv1", prefix);
    int y = absa_mb_conv(m, x, name, planes, 3, stride, 1, 0);
    snprintf(name, sizeof name, "%s.bn1", prefix);
    y = absa_mb_bn(m, y, name);
    y = absa_mb_relu(m, y);
    snprintf(name, sizeof name, "%s.conv2", prefix);
    y = absa_mb_conv(m, y, name, planes, 3, 1, 1, 0);
    snprintf(name, sizeof name, "%s.bn2", prefix);
    y = absa_mb_bn(m, y, name);
    int sc = x;
    if (stride != 1 || in_planes != planes) {
        snprintf(name, sizeof name, "%s.shortcut.0", prefix);
        sc = absa_mb_conv(m, x, name, planes, 1, stride, 0, 0);
        snprintf(name, sizeof name, "%s.shortcut.1", prefix);
        sc = absa_mb_bn(m, sc, name);
    }
    y = absa_mb_add(m, y, sc);
    return absa_mb_relu(m, y);
}

static int build_resnet20(absa_model *m)
{
    int x = absa_mb_conv(m, 0, "conv1", 16, 3, 1, 1, 0);
    x = absa_mb_bn(m, x, "bn1");
    x = absa_mb_relu(m, x);
    static const int planes[3] = {16, 32, 64};
    for (int l = 0; l < 3; l++) {
        for (int b = 0; b < 3; b++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "layer%d.%d", l + 1, b);
            x = basic_block(m, x, prefix, planes[l], (l > 0 && b == 0) ? 2 : 1);
        }
    }
    x = absa_mb_avgpool(m, x);
    x = absa_mb_flatten(m, x);
    return absa_mb_linear(m, x, "linear", m->n_classes, 1);
}

absa_status absa_model_create(const char *name, int C, int H, int W, int n_classes,
                              absa_model **out)
{
    return absa_model_create_on(name, C, H, W, n_classes, NULL, out);
}

absa_status absa_model_create_on(const char *name, int C, int H, int W, int n_classes, const char *device,
                                 absa_model **out)
{
    return absa_model_create_at(name, C, H, W, n_classes, device, -1, out);
}

absa_status absa_model_create_at(const char *name, int C, int H, int W, int n_classes, const char *device,
                                 int local_index, absa_model **out)
{
    absa_status status = ABSA_OK;
    absa_backend *be = NULL;
    *out = NULL;
    int (*build)(absa_model *) = NULL;
    if (!strcmp(name, "mlp")) build = build_mlp;
    else if (!strcmp(name, "lenet")) build = build_lenet;
    else if (!strcmp(name, "c1")) build = build_c1;
    else if (!strcmp(name, "resnet20")) build = build_resnet20;
    if (!build) ABSA_FAIL(ABSA_EINVAL, "unknown model '%s' (known: mlp, lenet, c1, resnet20)", name);
    ABSA_TRY(absa_backend_open_at(device, local_index, &be));
    absa_model *m = absa_mb_begin(name, C, H, W, n_classes);
    m->be = be; /* the model owns it from here */
    if (m->batch == 0) build(m);
    return absa_mb_finish(m, out);
cleanup:
    return status;
}

/* fan_in of a weight tensor: product of all dims but the first (as torch) */
static double fan_in(const absa_tensor_info *t)
{
    double f = 1;
    for (int i = 1; i < t->ndim; i++) f *= t->shape[i];
    return f;
}

void absa_model_init(absa_model *m, uint64_t seed)
{
    /* drawn in host memory, then copied to the backend */
    float *params = absa_xcalloc(m->n_params ? m->n_params : 1, sizeof(float));
    float *bufs = absa_xcalloc(m->n_bufs ? m->n_bufs : 1, sizeof(float));
    absa_rng rng;
    absa_rng_seed(&rng, seed, 0x1417);
    int he_conv = !strcmp(m->name, "resnet20");
    double last_fan = 1;
    for (int i = 0; i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        const char *leaf = strrchr(t->name, '.') + 1;
        if (t->kind == ABSA_TENSOR_COUNT) {
            m->num_batches_tracked[t->offset] = 0;
            continue;
        }
        float *a = (t->kind == ABSA_TENSOR_PARAM ? params : bufs) + t->offset;
        if (t->kind == ABSA_TENSOR_BUF) {
            float v = strcmp(leaf, "running_var") == 0 ? 1.0f : 0.0f;
            for (size_t k = 0; k < t->numel; k++) a[k] = v;
            continue;
        }
        if (!strcmp(leaf, "weight")) {
            last_fan = fan_in(t);
            if (he_conv && t->ndim == 4) /* kaiming_normal_, fan_in, gain sqrt(2) */
                absa_rng_fill_normal(&rng, t->numel, a, (float)sqrt(2.0 / last_fan));
            else { /* kaiming_uniform_(a=sqrt(5)): bound 1/sqrt(fan_in) */
                float b = (float)(1.0 / sqrt(last_fan));
                absa_rng_fill_uniform(&rng, t->numel, a, -b, b);
            }
        } else { /* bias: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) of its weight */
            float b = (float)(1.0 / sqrt(last_fan));
            absa_rng_fill_uniform(&rng, t->numel, a, -b, b);
        }
    }
    /* batch norm: weight 1, bias 0 (overrides the generic draw above) */
    for (int i = 0; i < m->n_nodes; i++) {
        const absa_node *n = &m->nodes[i];
        if (!absa_node_is_bn(n)) continue;
        for (int c = 0; c < n->C; c++) {
            params[n->w_off + (size_t)c] = 1.0f;
            params[n->b_off + (size_t)c] = 0.0f;
        }
    }
    absa_model_set(m, m->params, params, m->n_params);
    absa_model_set(m, m->bufs, bufs, m->n_bufs);
    free(params);
    free(bufs);
    absa_be_zero(m->be, m->grad, m->n_params);
    absa_be_zero(m->be, m->mom, m->n_params);
}
