/* checkpoint.h — model checkpoints as HDF5 files (serial libhdf5), readable by h5py and loadable
 * into the PyTorch twin (validation/oracle/absa_models.py). Format: docs/checkpoints.md.
 *
 *   /                    attrs: format_version (int 1), model (string), input_shape [C,H,W],
 *                               num_classes, absa_version (string)
 *   /model/<name>        one dataset per state_dict entry, PyTorch name and shape: float32
 *                        (OIHW conv weights, [out,in] linear weights, [C] vectors);
 *                        num_batches_tracked an int64 scalar
 *   /optimizer           attrs: lr, momentum, dampening, weight_decay (double), nesterov,
 *                        has_momentum (int, = absa_sgd.has_buf), step (int64, = .steps)
 *   /optimizer/momentum_buffer/<param name>   float32 (from m->mom), only when has_momentum
 *   /train               attrs: rng (uint64 array), then every key/value pair of the extra
 *                        (doubles and int64s: epoch, global step, scheduler fields, ...)
 *
 * Saving is atomic: the file is written to "<path>.tmp.<pid>", fsync'ed and renamed over
 * <path>; on any error the temporary is removed and an existing <path> is left untouched.
 * Loading checks the model name, input shape, every name, type and shape, and reports what does
 * not match in one line (ABSA_EMISMATCH); a failed load leaves the model unchanged.
 */
#ifndef ABSA_CHECKPOINT_H
#define ABSA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "absa_error.h"
#include "model.h"
#include "optim.h"

#define ABSA_CKPT_FORMAT_VERSION 1
#define ABSA_CKPT_KEY_MAX 48 /* key length including the terminating NUL */
#define ABSA_CKPT_MAX_KV 128 /* key/value pairs in /train */
#define ABSA_CKPT_RNG_MAX 32 /* uint64 words of RNG state */

/* One named training-state value (a /train attribute): a double or an int64. */
typedef struct absa_ckpt_kv {
    char key[ABSA_CKPT_KEY_MAX];
    int is_int;
    double f64;
    int64_t i64;
} absa_ckpt_kv;

/* Everything in a checkpoint besides the model's own arenas. Zero-initialise it
 * (absa_ckpt_extra e = {0};) and fill what you use. */
typedef struct absa_ckpt_extra {
    /* SGD hyper-parameters and state (/optimizer). sgd.has_buf: m->mom holds a momentum buffer
     * (PyTorch creates it at the first step); without it no buffer is written and a load
     * zeroes m->mom. */
    absa_sgd sgd;
    /* training state (/train) */
    uint64_t rng[ABSA_CKPT_RNG_MAX];
    int n_rng;                           /* words of rng in use */
    absa_ckpt_kv kv[ABSA_CKPT_MAX_KV]; /* e.g. "epoch", "global_step", "lr_scale" (use the
                                          absa_ckpt_set/get helpers) */
    int n_kv;
} absa_ckpt_extra;

/* Write m (parameters, buffers, counters; momentum buffers when extra->sgd.has_buf) and the
 * extra state (may be NULL: no /optimizer and /train groups) to `path` atomically. */
absa_status absa_checkpoint_save(const char *path, const absa_model *m, const absa_ckpt_extra *extra);

/* Load `path` into m, which must be the same architecture (create it with the values of
 * absa_checkpoint_peek). Also loads m->mom (zeroed when the file has no momentum buffers) and,
 * when extra_or_NULL is given, the optimizer and training state (zeroed first; absent groups
 * leave it zero). Root attributes are optional here, so a bare h5py state_dict file with only
 * /model loads too. Errors: ABSA_ENOTFOUND (no file), ABSA_EFORMAT (not HDF5, truncated,
 * newer format, non-finite values), ABSA_EMISMATCH (names/shapes/model), ABSA_EHDF5. */
absa_status absa_checkpoint_load(const char *path, absa_model *m, absa_ckpt_extra *extra_or_NULL);

/* Read the root attributes: model name (into model_name[len]), input shape and class count, so
 * the caller can create the right model before loading. Any output pointer may be NULL. */
absa_status absa_checkpoint_peek(const char *path, char *model_name, size_t len, int *C, int *H,
                                 int *W, int *n_classes);

/* ---- key/value helpers for /train (small, so inline) ----
 * set: replaces an existing key (value and type) or appends; ABSA_EINVAL (message recorded) if
 * the key is empty, "rng", contains '/', is too long, or the list is full.
 * get: 1 if the key exists with that type (value stored when non-NULL), else 0. */
static inline int absa_ckpt_find(const absa_ckpt_extra *e, const char *key)
{
    for (int i = 0; i < e->n_kv; i++)
        if (!strcmp(e->kv[i].key, key)) return i;
    return -1;
}

static inline absa_ckpt_kv *absa_ckpt_slot(absa_ckpt_extra *e, const char *key)
{
    int i = absa_ckpt_find(e, key);
    if (!key[0] || strlen(key) >= ABSA_CKPT_KEY_MAX || !strcmp(key, "rng") || strchr(key, '/')) {
        absa_errorf("checkpoint key '%s' is empty, reserved, has a '/' or is longer than %d", key,
                    ABSA_CKPT_KEY_MAX - 1);
        return NULL;
    }
    if (i < 0 && e->n_kv >= ABSA_CKPT_MAX_KV) {
        absa_errorf("checkpoint: no room for key '%s' (%d keys at most)", key, ABSA_CKPT_MAX_KV);
        return NULL;
    }
    if (i < 0) snprintf(e->kv[i = e->n_kv++].key, ABSA_CKPT_KEY_MAX, "%s", key);
    return &e->kv[i];
}

static inline absa_status absa_ckpt_set_f64(absa_ckpt_extra *e, const char *key, double value)
{
    absa_ckpt_kv *kv = absa_ckpt_slot(e, key);
    if (!kv) return ABSA_EINVAL;
    kv->is_int = 0;
    kv->f64 = value;
    return ABSA_OK;
}

static inline absa_status absa_ckpt_set_i64(absa_ckpt_extra *e, const char *key, int64_t value)
{
    absa_ckpt_kv *kv = absa_ckpt_slot(e, key);
    if (!kv) return ABSA_EINVAL;
    kv->is_int = 1;
    kv->i64 = value;
    return ABSA_OK;
}

static inline int absa_ckpt_get_f64(const absa_ckpt_extra *e, const char *key, double *value)
{
    int i = absa_ckpt_find(e, key);
    if (i < 0 || e->kv[i].is_int) return 0;
    if (value) *value = e->kv[i].f64;
    return 1;
}

static inline int absa_ckpt_get_i64(const absa_ckpt_extra *e, const char *key, int64_t *value)
{
    int i = absa_ckpt_find(e, key);
    if (i < 0 || !e->kv[i].is_int) return 0;
    if (value) *value = e->kv[i].i64;
    return 1;
}

#endif
