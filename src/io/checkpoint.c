/* checkpoint.c — HDF5 checkpoints of a model (PyTorch state_dict names and layouts), optimizer
 * and training state: the atomic save (temp file, fsync, rename). Reading (peek, checked load)
 * is checkpoint_read.c. Format and rules: checkpoint.h and docs/checkpoints.md. HDF5's own error
 * printing is silenced; its errors become absa_errorf messages naming the file. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_impl.h"
#include "h5pack.h"

#ifndef ABSA_VERSION
#define ABSA_VERSION "unknown"
#endif

/* ------------------------------------------------------------------ writing helpers */

/* Writer state: what is being written and the HDF5 message of the first failure (captured
 * before any cleanup call, since every HDF5 call clears the error stack). */
typedef struct ckpt_w {
    const char *what;
    int failed;
    ckpt_detail d;
} ckpt_w;

static int w_fail(ckpt_w *w)
{
    if (!w->failed) h5_detail(&w->d);
    w->failed = 1;
    return -1;
}

/* Attribute with `n` elements of memtype (n == 0: scalar). */
static int put_attr(ckpt_w *w, hid_t obj, const char *name, hid_t memtype, hsize_t n, const void *buf)
{
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(obj, name, memtype, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, memtype, buf) >= 0 ? 0 : w_fail(w);
    h5_close(&a);
    h5_close(&sp);
    return rc;
}

static int put_attr_str(ckpt_w *w, hid_t obj, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = t >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0
                 ? put_attr(w, obj, name, t, 0, &s) : w_fail(w);
    h5_close(&t);
    return rc;
}

static int put_dataset(ckpt_w *w, hid_t g, const char *name, hid_t type, int ndim,
                       const int *shape, const void *buf)
{
    hsize_t dims[ABSA_MAX_DIMS] = {0};
    for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
    w->what = name;
    hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = sp < 0 ? -1 : H5Dcreate2(g, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    /* the tensor's own checksum: HDF5 keeps none for contiguous raw data */
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    uint32_t crc = absa_crc32_buf(buf, n * H5Tget_size(type));
    int rc = d >= 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0 &&
                     put_attr(w, d, CKPT_CRC_ATTR, H5T_NATIVE_UINT32, 0, &crc) == 0
                 ? 0 : w_fail(w);
    h5_close(&d);
    h5_close(&sp);
    return rc;
}

/* Group whose links iterate in creation order (h5py then lists state_dict order). */
static hid_t make_group(ckpt_w *w, hid_t parent, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    w->what = name;
    hid_t g = gcpl < 0 || H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0
                  ? -1 : H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0) w_fail(w);
    h5_close(&gcpl);
    return g;
}

/* Host copies of the model's backend arenas, for writing. */
typedef struct ckpt_host {
    float *params, *bufs, *mom;
} ckpt_host;

static int host_copy(const absa_model *m, ckpt_host *h)
{
    h->params = malloc((m->n_params ? m->n_params : 1) * sizeof(float));
    h->mom = malloc((m->n_params ? m->n_params : 1) * sizeof(float));
    h->bufs = malloc((m->n_bufs ? m->n_bufs : 1) * sizeof(float));
    if (!h->params || !h->mom || !h->bufs) return -1;
    absa_model_get(m, m->params, h->params, m->n_params);
    absa_model_get(m, m->mom, h->mom, m->n_params);
    absa_model_get(m, m->bufs, h->bufs, m->n_bufs);
    return 0;
}

static void host_free(ckpt_host *h)
{
    free(h->params);
    free(h->bufs);
    free(h->mom);
}

static const void *tensor_data(const absa_model *m, const ckpt_host *h, const absa_tensor_info *t)
{
    if (t->kind == ABSA_TENSOR_PARAM) return h->params + t->offset;
    if (t->kind == ABSA_TENSOR_BUF) return h->bufs + t->offset;
    ABSA_ASSERT((int)t->offset < m->n_counts, "counter index %zu out of range", t->offset);
    return m->num_batches_tracked + t->offset;
}

static int write_model_host(ckpt_w *w, hid_t f, const absa_model *m, const ckpt_host *hm,
                            const absa_ckpt_extra *extra)
{
    int input_shape[3] = {m->in_c, m->in_h, m->in_w}, version = ABSA_CKPT_FORMAT_VERSION;
    w->what = "root attributes";
    if (put_attr(w, f, "format_version", H5T_NATIVE_INT, 0, &version) < 0 ||
        put_attr_str(w, f, "model", m->name) < 0 ||
        put_attr(w, f, "input_shape", H5T_NATIVE_INT, 3, input_shape) < 0 ||
        put_attr(w, f, "num_classes", H5T_NATIVE_INT, 0, &m->n_classes) < 0 ||
        put_attr_str(w, f, "absa_version", ABSA_VERSION) < 0)
        return -1;
    hid_t g = make_group(w, f, "model");
    for (int i = 0; g >= 0 && !w->failed && i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        hid_t type = t->kind == ABSA_TENSOR_COUNT ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
        put_dataset(w, g, t->name, type, t->ndim, t->shape, tensor_data(m, hm, t));
    }
    h5_close(&g);
    if (!extra || w->failed) return w->failed ? -1 : 0;

    const absa_sgd *o = &extra->sgd;
    const double dv[4] = {o->lr, o->momentum, o->dampening, o->weight_decay};
    int iv[2] = {o->nesterov != 0, o->has_buf != 0};
    g = make_group(w, f, "optimizer");
    w->what = "/optimizer attributes";
    for (int i = 0; g >= 0 && i < 4; i++) put_attr(w, g, ckpt_opt_f64[i], H5T_NATIVE_DOUBLE, 0, &dv[i]);
    for (int i = 0; g >= 0 && i < 2; i++) put_attr(w, g, ckpt_opt_int[i], H5T_NATIVE_INT, 0, &iv[i]);
    if (g >= 0) put_attr(w, g, "step", H5T_NATIVE_INT64, 0, &o->steps);
    hid_t mb = g >= 0 && !w->failed && iv[1] ? make_group(w, g, "momentum_buffer") : H5I_INVALID_HID;
    for (int i = 0; mb >= 0 && !w->failed && i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        if (t->kind == ABSA_TENSOR_PARAM)
            put_dataset(w, mb, t->name, H5T_NATIVE_FLOAT, t->ndim, t->shape, hm->mom + t->offset);
    }
    h5_close(&mb);
    h5_close(&g);
    if (w->failed) return -1;

    g = make_group(w, f, "train");
    w->what = "/train attributes";
    if (g >= 0 && extra->n_rng > 0)
        put_attr(w, g, "rng", H5T_NATIVE_UINT64, (hsize_t)extra->n_rng, extra->rng);
    for (int i = 0; g >= 0 && !w->failed && i < extra->n_kv; i++) {
        const absa_ckpt_kv *kv = &extra->kv[i];
        put_attr(w, g, kv->key, kv->is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, 0,
                 kv->is_int ? (const void *)&kv->i64 : (const void *)&kv->f64);
    }
    h5_close(&g);
    return w->failed ? -1 : 0;
}

static int write_model(ckpt_w *w, hid_t f, const absa_model *m, const absa_ckpt_extra *extra)
{
    ckpt_host h;
    int rc = -1;
    if (host_copy(m, &h) == 0) rc = write_model_host(w, f, m, &h, extra);
    else {
        w->what = "parameters";
        w->failed = 1;
        snprintf(w->d.text, sizeof w->d.text, "out of memory for a host copy");
    }
    host_free(&h);
    return rc;
}

/* fsync a file or directory by name (0 ok, -1 with errno). */
static int fsync_path(const char *p, int dir)
{
    int fd = open(p, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

absa_status absa_checkpoint_save(const char *path, const absa_model *m, const absa_ckpt_extra *extra)
{
    absa_status status = ABSA_OK;
    ckpt_detail d;
    ckpt_w w = {"", 0, {""}};
    char tmp[4096], dir[4096];
    hid_t f = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
    int created = 0;
    ABSA_ASSERT(path && m, "null argument");
    ABSA_ASSERT(!extra || (extra->n_rng >= 0 && extra->n_rng <= ABSA_CKPT_RNG_MAX &&
                           extra->n_kv >= 0 && extra->n_kv <= ABSA_CKPT_MAX_KV), "corrupt extra");
    h5_quiet();
    if (!path[0]) ABSA_FAIL(ABSA_EINVAL, "checkpoint: empty output path");
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        ABSA_FAIL(ABSA_EINVAL, "checkpoint %s: path too long", path);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || absa_h5_set_checksummed_format(fapl) < 0)
        ABSA_FAIL(ABSA_EHDF5, "checkpoint %s: cannot set up the file format: %s", path, h5_detail(&d));
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) {
        int e = errno;
        ABSA_FAIL(ABSA_EIO, "checkpoint %s: cannot create %s: %s (%s)", path, tmp, strerror(e),
                  h5_detail(&d));
    }
    created = 1;
    if (write_model(&w, f, m, extra) < 0)
        ABSA_FAIL(ABSA_EHDF5, "checkpoint %s: cannot write %s: %s", path, w.what, w.d.text);
    if (absa_h5_close_file(&f, tmp) != ABSA_OK) ABSA_FAIL_CTX(ABSA_EIO, "checkpoint %s: ", path);
    if (fsync_path(tmp, 0) < 0)
        ABSA_FAIL(ABSA_EIO, "checkpoint %s: fsync of %s failed: %s", path, tmp, strerror(errno));
    if (rename(tmp, path) < 0)
        ABSA_FAIL(ABSA_EIO, "checkpoint %s: cannot rename %s to it: %s", path, tmp, strerror(errno));
    created = 0;
    /* make the rename durable (best effort: some file systems refuse fsync on directories) */
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
    (void)fsync_path(dir, 1);
cleanup:
    /* after a failure (disk full): drop the content first so that closing cannot fail again and
     * leave HDF5 a half-closed file for its exit handler */
    if (f >= 0) absa_h5_close_all(f, 1);
    h5_close(&fapl);
    if (created) unlink(tmp);
    return status;
}

