/* model_build.h — internal builder used by models.c to declare an architecture node by node.
 * Each call appends a node (in execution order) and its state_dict entries (in PyTorch
 * registration order) and returns the node index. absa_mb_finish allocates the arenas. */
#ifndef ABSA_MODEL_BUILD_H
#define ABSA_MODEL_BUILD_H
#include "model.h"

absa_model *absa_mb_begin(const char *name, int C, int H, int W, int n_classes);
int absa_mb_conv(absa_model *m, int in, const char *prefix, int out, int k, int stride, int pad,
                 int bias);
int absa_mb_linear(absa_model *m, int in, const char *prefix, int out, int bias);
int absa_mb_bn(absa_model *m, int in, const char *prefix);
int absa_mb_relu(absa_model *m, int in);
int absa_mb_maxpool(absa_model *m, int in, int k, int stride, int pad);
int absa_mb_avgpool(absa_model *m, int in);
int absa_mb_flatten(absa_model *m, int in);
int absa_mb_add(absa_model *m, int a, int b);
/* Returns ABSA_OK, or ABSA_EINVAL if any node had an impossible shape (message recorded);
 * on error the model is freed. */
absa_status absa_mb_finish(absa_model *m, absa_model **out);
#endif
