/* checkpoint_read.c — reading HDF5 checkpoints (checkpoint.h): peek (model name and input
 * shape without building the model) and the checked load (every tensor's name, shape, type,
 * CRC-32 and finiteness, the optimizer and training state), whose errors list what does not
 * match in one line. Writing is checkpoint.c; format and rules: docs/checkpoints.md. */
#include "checkpoint.h"

#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_impl.h"
#include "h5pack.h"

/* ------------------------------------------------------------------ reading helpers */

/* Opens an existing checkpoint read-only with a precise message for each way it can fail. The
 * file access list is the data reader's (locking off), so a file the trainer already holds open
 * as --data opens too (HDF5 refuses a second open with other properties) and is named for what
 * it is. */
static absa_status open_checkpoint(const char *path, hid_t *out)
{
    absa_status status = ABSA_OK;
    hid_t fapl = absa_h5_fapl_nolock();
    h5_quiet();
    ABSA_TRY(absa_h5_open_existing(path, fapl, "checkpoint", out));
    if (!absa_h5_is_checkpoint(*out) && absa_h5_is_packed(*out))
        ABSA_FAIL(ABSA_EINVAL, "checkpoint %s is a packed dataset (absa pack output), not a checkpoint", path);
    /* the model name is a variable-length string: its storage is checked before it is read */
    if (absa_h5_check_global_heaps(path, *out) != ABSA_OK) ABSA_FAIL_CTX(ABSA_EFORMAT, "checkpoint ");
cleanup:
    if (status != ABSA_OK) h5_close(out);
    h5_close(&fapl);
    return status;
}

/* Reads a string attribute (fixed or variable length) into buf. 1 found, 0 absent, -1 error. */
static int get_attr_str(hid_t obj, const char *name, char *buf, size_t len)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), ft = a < 0 ? -1 : H5Aget_type(a);
    hid_t mt = H5Tcopy(H5T_C_S1);
    int rc = -1;
    if (ft >= 0 && mt >= 0 && H5Tget_class(ft) == H5T_STRING) {
        int vlen = H5Tis_variable_str(ft) > 0;
        size_t n = vlen ? sizeof(char *) : H5Tget_size(ft) + 1;
        char *s = NULL, *fixed = vlen ? NULL : calloc(n, 1);
        H5Tset_size(mt, vlen ? H5T_VARIABLE : n);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 does not convert between character sets */
        if ((vlen || fixed) && H5Aread(a, mt, vlen ? (void *)&s : (void *)fixed) >= 0) {
            snprintf(buf, len, "%s", vlen ? (s ? s : "") : fixed);
            rc = 1;
        }
        if (s) H5free_memory(s);
        free(fixed);
    }
    h5_close(&mt);
    h5_close(&ft);
    h5_close(&a);
    return rc;
}

/* Reads a numeric attribute of 1..nmax elements (scalar or 1-D) into buf as memtype.
 * Returns the element count, 0 if absent, -1 if malformed. */
static int get_attr_num(hid_t obj, const char *name, hid_t memtype, int nmax, void *buf)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), sp = a < 0 ? -1 : H5Aget_space(a);
    hid_t ft = a < 0 ? -1 : H5Aget_type(a);
    H5T_class_t cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    int ok = n >= 1 && n <= nmax && (cls == H5T_INTEGER || cls == H5T_FLOAT) &&
             H5Aread(a, memtype, buf) >= 0;
    h5_close(&ft);
    h5_close(&sp);
    h5_close(&a);
    return ok ? (int)n : -1;
}

/* Root attributes; absent ones read as ""/0 unless `require`. */
static absa_status read_root(const char *path, hid_t f, int require, char *model, size_t len,
                             int shape[3], int *n_classes)
{
    absa_status status = ABSA_OK;
    int version = 0;
    int rv = get_attr_num(f, "format_version", H5T_NATIVE_INT, 1, &version);
    if (rv < 0) ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: bad 'format_version' attribute", path);
    if (rv > 0 && version < 1)
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute format_version = %d is out of range (>= 1)", path, version);
    if (version > ABSA_CKPT_FORMAT_VERSION)
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s has format_version %d; this absa reads up to %d",
                  path, version, ABSA_CKPT_FORMAT_VERSION);
    model[0] = '\0';
    shape[0] = shape[1] = shape[2] = *n_classes = 0;
    int rm = get_attr_str(f, "model", model, len);
    int rs = get_attr_num(f, "input_shape", H5T_NATIVE_INT, 3, shape);
    int rc = get_attr_num(f, "num_classes", H5T_NATIVE_INT, 1, n_classes);
    const char *bad = rm < 0 ? "model" : (rs != 0 && rs != 3) ? "input_shape" : rc < 0 ? "num_classes" : NULL;
    if (bad) ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: malformed root attribute '%s'", path, bad);
    for (int i = 0; rs == 3 && i < 3; i++)
        if (shape[i] < 1 || shape[i] > 65536)
            ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute input_shape[%d] = %d is out of range [1, 65536]",
                      path, i, shape[i]);
    if (rc > 0 && (*n_classes < 2 || *n_classes > 100000))
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute num_classes = %d is out of range [2, 100000]", path,
                  *n_classes);
    if (require && (!rm || !rs || !rc))
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s has no '%s' attribute (not an absa checkpoint?)",
                  path, !rm ? "model" : !rs ? "input_shape" : "num_classes");
cleanup:
    return status;
}

absa_status absa_checkpoint_peek(const char *path, char *model_name, size_t len, int *C, int *H,
                                 int *W, int *n_classes)
{
    absa_status status = ABSA_OK;
    hid_t f = H5I_INVALID_HID;
    char name[ABSA_NAME_MAX];
    int shape[3], nc;
    ABSA_ASSERT(path, "null path");
    ABSA_TRY(open_checkpoint(path, &f));
    ABSA_TRY(read_root(path, f, 1, name, sizeof name, shape, &nc));
    if (model_name && len) snprintf(model_name, len, "%s", name);
    if (C) *C = shape[0];
    if (H) *H = shape[1];
    if (W) *W = shape[2];
    if (n_classes) *n_classes = nc;
cleanup:
    h5_close(&f);
    return status;
}

/* ------------------------------------------------------------------ load */

/* What does not match, as three short lists (shape/type, missing, unexpected) for one line. */
enum { CKPT_SHAPE, CKPT_MISSING, CKPT_UNEXPECTED };
typedef struct ckpt_report {
    char list[3][400];
    int n[3];
    ckpt_detail read_err; /* HDF5 message of a failed read */
    char bad_value[160];  /* first non-finite value */
} ckpt_report;

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

static void note(ckpt_report *r, int kind, const char *prefix, const char *name, const char *rest)
{
    if (++r->n[kind] <= CKPT_SHOW)
        append(r->list[kind], sizeof r->list[kind], "%s%s%s%s", r->n[kind] > 1 ? (kind ? ", " : "; ") : "",
               prefix, name, rest);
}

static void shape_str(char *buf, size_t cap, int ndim, const hsize_t *dims, const char *type)
{
    buf[0] = '\0';
    for (int i = 0; i < ndim; i++) append(buf, cap, "%s%llu", i ? "," : "[", (unsigned long long)dims[i]);
    append(buf, cap, "%s%s", ndim ? "]" : "[]", type);
}

/* Notes every link of g that is not a tensor of m (params_only: not a parameter). */
static int note_unexpected(hid_t g, const absa_model *m, int params_only, ckpt_report *r)
{
    H5G_info_t gi;
    char name[256];
    if (H5Gget_info(g, &gi) < 0) return -1;
    /* creation (= state_dict) order when the writer tracked it, else alphabetical */
    H5_index_t idx = gi.nlinks && H5Lget_name_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, 0,
                                                      name, sizeof name, H5P_DEFAULT) >= 0
                         ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    H5Eclear2(H5E_DEFAULT);
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        if (H5Lget_name_by_idx(g, ".", idx, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) return -1;
        const absa_tensor_info *t = absa_model_find(m, name);
        if (!t || (params_only && t->kind != ABSA_TENSOR_PARAM)) note(r, CKPT_UNEXPECTED, "", name, "");
    }
    return 0;
}

/* Checks and reads one tensor of group g into dst (float or int64 by kind).
 * 0 ok, 1 mismatch or non-finite value noted, -1 HDF5 read error (r->read_err). */
static int read_tensor(hid_t g, const char *prefix, const absa_tensor_info *t, void *dst, ckpt_report *r)
{
    if (H5Lexists(g, t->name, H5P_DEFAULT) <= 0) {
        note(r, CKPT_MISSING, prefix, t->name, "");
        return 1;
    }
    hid_t ds = H5Dopen2(g, t->name, H5P_DEFAULT);
    hid_t sp = ds < 0 ? -1 : H5Dget_space(ds), ft = ds < 0 ? -1 : H5Dget_type(ds);
    hsize_t dims[32] = {0}, want[ABSA_MAX_DIMS];
    int nd = sp < 0 || ft < 0 ? -1 : H5Sget_simple_extent_ndims(sp), rc = -1;
    if (nd < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) goto done;
    int same = nd == t->ndim, want_int = t->kind == ABSA_TENSOR_COUNT;
    for (int i = 0; i < t->ndim; i++) want[i] = (hsize_t)t->shape[i];
    for (int i = 0; same && i < nd; i++) same = dims[i] == want[i];
    H5T_class_t cls = H5Tget_class(ft);
    int type_ok = want_int ? cls == H5T_INTEGER : cls == H5T_FLOAT;
    if (!same || !type_ok) {
        char got[160], exp[120];
        strcpy(got, " has shape ");
        shape_str(got + 11, sizeof got - 11, nd, dims,
                  type_ok ? "" : cls == H5T_INTEGER ? " (integer)" : cls == H5T_FLOAT ? " (float)" : " (non-numeric)");
        shape_str(exp, sizeof exp, t->ndim, want, type_ok ? "" : want_int ? " (int64)" : " (float32)");
        append(got, sizeof got, ", model expects %s", exp);
        note(r, CKPT_SHAPE, prefix, t->name, got);
        rc = 1;
        goto done;
    }
    rc = H5Dread(ds, want_int ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && !want_int && i < t->numel; i++)
        if (!isfinite(((const float *)dst)[i])) {
            if (!r->bad_value[0])
                snprintf(r->bad_value, sizeof r->bad_value, "%s%s holds a non-finite value at index %zu",
                         prefix, t->name, i);
            rc = 1;
        }
    /* files written by this absa carry a CRC-32 of each tensor (older ones and h5py files do not:
     * those load unchecked, see docs/checkpoints.md); a non-finite value is reported as such */
    uint32_t want_crc = 0;
    size_t esize = want_int ? sizeof(int64_t) : sizeof(float);
    int has_crc = rc == 0 ? get_attr_num(ds, CKPT_CRC_ATTR, H5T_NATIVE_UINT32, 1, &want_crc) : 0;
    if (has_crc < 0 || (has_crc > 0 && (H5Tget_size(ft) != esize || absa_crc32_buf(dst, t->numel * esize) != want_crc))) {
        snprintf(r->read_err.text, sizeof r->read_err.text,
                 "%s (the file is corrupt)", has_crc < 0 ? "malformed crc32 attribute" : "CRC-32 mismatch");
        rc = -2;
        goto done;
    }
done:
    if (rc == -1) h5_detail(&r->read_err);
    if (rc == -2) rc = -1;
    h5_close(&ft);
    h5_close(&sp);
    h5_close(&ds);
    return rc;
}

/* Optimizer attributes (all optional) into *o, each checked: lr, weight_decay finite >= 0,
 * momentum, dampening in [0, 1], nesterov, has_momentum 0 or 1, step >= 0. */
static absa_status read_optimizer(const char *path, hid_t g, absa_sgd *o, int *has_mom)
{
    absa_status status = ABSA_OK;
    double *dv[4] = {&o->lr, &o->momentum, &o->dampening, &o->weight_decay}, v = 0, hi = 1;
    int iv[2] = {0, -1}, bad = get_attr_num(g, "step", H5T_NATIVE_INT64, 1, &o->steps) < 0 || o->steps < 0;
    const char *name = "step";
    for (int i = 0; !bad && i < 4; i++) {
        name = ckpt_opt_f64[i];
        hi = i == 1 || i == 2 ? 1.0 : INFINITY;
        bad = get_attr_num(g, name, H5T_NATIVE_DOUBLE, 1, dv[i]) < 0 || !isfinite(v = *dv[i]) || v < 0 || v > hi;
    }
    for (int i = 0; !bad && i < 2; i++) {
        name = ckpt_opt_int[i];
        hi = 1;
        bad = get_attr_num(g, name, H5T_NATIVE_INT, 1, &iv[i]) < 0 || !(iv[i] == 0 || iv[i] == 1 || (i && iv[i] == -1));
        v = iv[i];
    }
    if (bad && !strcmp(name, "step")) v = (double)o->steps, hi = INFINITY;
    if (bad) ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: attribute /optimizer/%s = %g is malformed or out of range [0, %g]",
                       path, name, v, hi);
    if (iv[1] < 0) iv[1] = H5Lexists(g, "momentum_buffer", H5P_DEFAULT) > 0; /* attribute absent */
    o->nesterov = iv[0] != 0;
    *has_mom = o->has_buf = iv[1] != 0;
cleanup:
    return status;
}

/* /train attributes: "rng" (uint64 array) and scalar doubles / integers into the lists. */
static herr_t train_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    absa_ckpt_extra *e = data;
    if (!strcmp(name, "rng")) {
        e->n_rng = get_attr_num(loc, name, H5T_NATIVE_UINT64, ABSA_CKPT_RNG_MAX, e->rng);
        return e->n_rng < 0 ? (absa_errorf("bad rng attribute"), -1) : 0;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = a < 0 ? -1 : H5Aget_type(a);
    H5T_class_t cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
    double dv;
    int64_t iv;
    herr_t rc = 0;
    if (cls == H5T_FLOAT && get_attr_num(loc, name, H5T_NATIVE_DOUBLE, 1, &dv) == 1)
        rc = absa_ckpt_set_f64(e, name, dv) == ABSA_OK ? 0 : -1;
    else if (cls == H5T_INTEGER && get_attr_num(loc, name, H5T_NATIVE_INT64, 1, &iv) == 1)
        rc = absa_ckpt_set_i64(e, name, iv) == ABSA_OK ? 0 : -1;
    h5_close(&ft);
    h5_close(&a);
    return rc;
}

/* Reads every tensor of m (params_only: the parameters, into params) from group g. */
static absa_status read_group(const char *path, hid_t g, const char *prefix, const absa_model *m,
                              int params_only, float *params, float *bufs, int64_t *counts, ckpt_report *r)
{
    absa_status status = ABSA_OK;
    ckpt_detail d;
    for (int i = 0; i < m->n_tensors; i++) {
        const absa_tensor_info *t = &m->tensors[i];
        if (params_only && t->kind != ABSA_TENSOR_PARAM) continue;
        void *dst = t->kind == ABSA_TENSOR_PARAM ? (void *)(params + t->offset)
                    : t->kind == ABSA_TENSOR_BUF ? (void *)(bufs + t->offset) : (void *)(counts + t->offset);
        if (read_tensor(g, prefix, t, dst, r) < 0)
            ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: cannot read %s%s: %s", path, prefix, t->name, r->read_err.text);
    }
    if (note_unexpected(g, m, params_only, r) < 0)
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: cannot list %s: %s", path, prefix, h5_detail(&d));
cleanup:
    return status;
}

absa_status absa_checkpoint_load(const char *path, absa_model *m, absa_ckpt_extra *extra_or_NULL)
{
    absa_status status = ABSA_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, go = H5I_INVALID_HID, gm = H5I_INVALID_HID;
    ckpt_report *r = absa_xcalloc(1, sizeof *r);
    absa_ckpt_extra *ex = absa_xcalloc(1, sizeof *ex);
    /* everything is read into scratch copies first, so a failed load leaves m unchanged */
    float *params = absa_try_alloc((2 * m->n_params + m->n_bufs + 1) * sizeof(float));
    float *mom = params ? params + m->n_params : NULL, *bufs = params ? mom + m->n_params : NULL;
    int64_t *counts = absa_xcalloc((size_t)(m->n_counts ? m->n_counts : 1), sizeof *counts);
    char name[ABSA_NAME_MAX], msg[1024];
    int shape[3], nc, has_mom = 0;
    ABSA_ASSERT(path && m, "null argument");
    if (!params)
        ABSA_FAIL(ABSA_ENOMEM, "checkpoint %s: cannot allocate %zu parameters", path, m->n_params);
    ABSA_TRY(open_checkpoint(path, &f));
    ABSA_TRY(read_root(path, f, 0, name, sizeof name, shape, &nc));

    /* a model/input mismatch heads the report; tensors are compared either way */
    snprintf(msg, sizeof msg, "checkpoint %s", path);
    int other = (name[0] && strcmp(name, m->name)) || (nc && nc != m->n_classes) ||
                (shape[0] && (shape[0] != m->in_c || shape[1] != m->in_h || shape[2] != m->in_w));
    if (other)
        append(msg, sizeof msg, " holds %s (input %dx%dx%d, %d classes), not %s (input %dx%dx%d, "
               "%d classes)", name[0] ? name : "an unnamed model", shape[0], shape[1], shape[2], nc,
               m->name, m->in_c, m->in_h, m->in_w, m->n_classes);
    if (H5Lexists(f, "model", H5P_DEFAULT) <= 0 || (g = H5Gopen2(f, "model", H5P_DEFAULT)) < 0)
        ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s has no /model group (not a checkpoint?)", path);
    ABSA_TRY(read_group(path, g, "", m, 0, params, bufs, counts, r));
    if (H5Lexists(f, "optimizer", H5P_DEFAULT) > 0) {
        if ((go = H5Gopen2(f, "optimizer", H5P_DEFAULT)) < 0)
            ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: malformed /optimizer group: %s", path, h5_detail(&r->read_err));
        ABSA_TRY(read_optimizer(path, go, &ex->sgd, &has_mom));
        if (has_mom && (gm = H5Gopen2(go, "momentum_buffer", H5P_DEFAULT)) < 0)
            ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: /optimizer has_momentum is set but there is no "
                      "momentum_buffer group", path);
        if (has_mom) ABSA_TRY(read_group(path, gm, "momentum_buffer/", m, 1, mom, NULL, NULL, r));
    }
    if (other || r->n[CKPT_SHAPE] || r->n[CKPT_MISSING] || r->n[CKPT_UNEXPECTED]) {
        static const char *const label[3] = {"", "missing: ", "unexpected: "};
        const char *sep = ": ";
        for (int k = 0; k < 3; k++) {
            if (!r->n[k]) continue;
            append(msg, sizeof msg, "%s%s%s", sep, label[k], r->list[k]);
            if (r->n[k] > CKPT_SHOW) append(msg, sizeof msg, " (+%d more)", r->n[k] - CKPT_SHOW);
            sep = "; ";
        }
        ABSA_FAIL(ABSA_EMISMATCH, "%s", msg);
    }
    if (r->bad_value[0]) ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: %s", path, r->bad_value);
    if (extra_or_NULL && H5Lexists(f, "train", H5P_DEFAULT) > 0) {
        hid_t gt = H5Gopen2(f, "train", H5P_DEFAULT);
        herr_t rc = gt < 0 ? -1 : H5Aiterate2(gt, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, train_attr_cb, ex);
        h5_close(&gt);
        if (rc < 0) {
            snprintf(msg, sizeof msg, "%s", absa_last_error()); /* the message buffer is reused */
            ABSA_FAIL(ABSA_EFORMAT, "checkpoint %s: bad /train attributes (%s)", path, msg);
        }
    }

    /* everything checked: commit */
    absa_model_set(m, m->params, params, m->n_params);
    absa_model_set(m, m->bufs, bufs, m->n_bufs);
    memcpy(m->num_batches_tracked, counts, (size_t)m->n_counts * sizeof(int64_t));
    if (has_mom) absa_model_set(m, m->mom, mom, m->n_params);
    else absa_be_zero(m->be, m->mom, m->n_params);
    if (extra_or_NULL) *extra_or_NULL = *ex;
cleanup:
    h5_close(&gm);
    h5_close(&go);
    h5_close(&g);
    h5_close(&f);
    absa_free(params);
    free(counts);
    free(ex);
    free(r);
    return status;
}
