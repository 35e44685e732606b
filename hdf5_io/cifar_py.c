/* cifar_py.c — the CIFAR python-version readers of cifar_py.h: a tar member iterator over zlib
 * (gzip or plain) and a strict pickle (protocol <= 2) evaluator that knows only what the CIFAR
 * files contain: dicts, lists, tuples, byte strings, small ints, None/True/False, the memo, and
 * the three numpy callables that rebuild a uint8 ndarray (_reconstruct, ndarray, dtype). Byte
 * strings point into the input buffer; every node is registered and freed together. */
#include "cifar_py.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "h5pack.h"

#define ABSA_TRY_RET(expr)                                                                         \
    do {                                                                                           \
        absa_status s_ = (expr);                                                                   \
        if (s_ != ABSA_OK) return s_;                                                              \
    } while (0)
#define ABSA_FAIL_RET(st, ...)                                                                     \
    do {                                                                                           \
        absa_errorf(__VA_ARGS__);                                                                  \
        return (st);                                                                               \
    } while (0)

/* ---------------------------------------------------------------- pickle ---- */
typedef enum { PK_NONE, PK_INT, PK_STR, PK_LIST, PK_TUPLE, PK_DICT, PK_GLOBAL, PK_NDARRAY, PK_DTYPE } pk_type;
enum { G_RECONSTRUCT = 1, G_NDARRAY, G_DTYPE };

typedef struct pk_node {
    pk_type t;
    int64_t i;              /* INT value; GLOBAL: G_*; DTYPE: 1 when uint8 */
    const uint8_t *s;       /* STR bytes; NDARRAY data */
    size_t len;             /* STR length; NDARRAY data bytes */
    struct pk_node **items; /* LIST / TUPLE items; DICT: key, value, key, value ... */
    size_t n, cap;
    size_t rows, cols; /* NDARRAY shape */
    int built;
} pk_node;

typedef struct pk {
    const uint8_t *b;
    size_t len, pos;
    const char *what;
    pk_node **all;
    size_t nall, capall;
    pk_node **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pk_node **memo;
    size_t nmemo;
} pk;

#define PK_FAIL(p, ...)                                                                            \
    do {                                                                                           \
        char m_[200];                                                                              \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        absa_errorf("%s: not a CIFAR python pickle: %s (at byte %zu)", (p)->what, m_, (p)->pos);   \
        return ABSA_EFORMAT;                                                                       \
    } while (0)

/* grow *arr (elements of size sz) to hold at least need; 0 on success */
static int pk_grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > ((size_t)1 << 40) / sz) return -1;
        c *= 2;
    }
    void *q = realloc(*arr, c * sz);
    if (!q) return -1;
    *arr = q;
    *cap = c;
    return 0;
}

static pk_node *pk_new(pk *p, pk_type t)
{
    if (p->nall > 4 * p->len + 64) return NULL; /* at most a node per opcode byte */
    if (pk_grow((void **)&p->all, &p->capall, p->nall + 1, sizeof *p->all)) return NULL;
    pk_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->t = t;
    p->all[p->nall++] = n;
    return n;
}

static absa_status pk_push(pk *p, pk_node *n)
{
    if (!n || pk_grow((void **)&p->stack, &p->scap, p->sp + 1, sizeof *p->stack)) {
        absa_errorf("%s: out of memory parsing the pickle", p->what);
        return ABSA_ENOMEM;
    }
    p->stack[p->sp++] = n;
    return ABSA_OK;
}

static absa_status pk_add_item(pk *p, pk_node *to, pk_node *item)
{
    if (pk_grow((void **)&to->items, &to->cap, to->n + 1, sizeof *to->items)) {
        absa_errorf("%s: out of memory parsing the pickle", p->what);
        return ABSA_ENOMEM;
    }
    to->items[to->n++] = item;
    return ABSA_OK;
}

/* the stack floor: the last mark, or 0 */
static size_t pk_floor(const pk *p) { return p->nmarks ? p->marks[p->nmarks - 1] : 0; }

static int pk_need(pk *p, size_t n) { return p->len - p->pos >= n; }

static uint32_t pk_le(const uint8_t *s, int n)
{
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | s[i];
    return v;
}

static int pk_streq(const pk_node *n, const char *s)
{
    return n->t == PK_STR && n->len == strlen(s) && !memcmp(n->s, s, n->len);
}

static absa_status pk_reduce(pk *p)
{
    if (p->sp < pk_floor(p) + 2) PK_FAIL(p, "REDUCE on a short stack");
    pk_node *args = p->stack[--p->sp], *fn = p->stack[--p->sp], *r = NULL;
    if (fn->t != PK_GLOBAL || args->t != PK_TUPLE) PK_FAIL(p, "REDUCE of something other than a known callable");
    if (fn->i == G_RECONSTRUCT) { /* _reconstruct(ndarray, (0,), b'b') */
        if (args->n != 3 || args->items[0]->t != PK_GLOBAL || args->items[0]->i != G_NDARRAY)
            PK_FAIL(p, "numpy _reconstruct with unexpected arguments");
        r = pk_new(p, PK_NDARRAY);
    } else if (fn->i == G_DTYPE) { /* dtype('u1', 0, 1) */
        if (args->n != 3 || args->items[0]->t != PK_STR) PK_FAIL(p, "numpy dtype with unexpected arguments");
        r = pk_new(p, PK_DTYPE);
        if (r) r->i = pk_streq(args->items[0], "u1") || pk_streq(args->items[0], "|u1");
    } else {
        PK_FAIL(p, "REDUCE of numpy.ndarray");
    }
    return pk_push(p, r);
}

static absa_status pk_build(pk *p)
{
    if (p->sp < pk_floor(p) + 2) PK_FAIL(p, "BUILD on a short stack");
    pk_node *st = p->stack[--p->sp], *o = p->stack[p->sp - 1];
    if (o->built || st->t != PK_TUPLE) PK_FAIL(p, "BUILD of an unexpected object");
    if (o->t == PK_DTYPE) {
        o->built = 1;
        return ABSA_OK;
    }
    if (o->t != PK_NDARRAY) PK_FAIL(p, "BUILD of an unexpected object");
    /* (version, shape, dtype, is_fortran, raw bytes) */
    if (st->n != 5) PK_FAIL(p, "ndarray state has %zu fields, expected 5", st->n);
    pk_node *shape = st->items[1], *dt = st->items[2], *fort = st->items[3], *raw = st->items[4];
    if (shape->t != PK_TUPLE || shape->n != 2 || shape->items[0]->t != PK_INT || shape->items[1]->t != PK_INT)
        PK_FAIL(p, "ndarray is not two-dimensional");
    if (dt->t != PK_DTYPE || dt->i != 1) PK_FAIL(p, "ndarray is not uint8");
    if (fort->t != PK_INT || fort->i != 0) PK_FAIL(p, "ndarray is in Fortran order");
    if (raw->t != PK_STR) PK_FAIL(p, "ndarray data is not a byte string");
    int64_t r = shape->items[0]->i, c = shape->items[1]->i;
    if (r < 0 || c < 0 || (c > 0 && (uint64_t)r > raw->len / (uint64_t)c) || (size_t)r * (size_t)c != raw->len)
        PK_FAIL(p, "ndarray shape %lld x %lld does not match its %zu data bytes", (long long)r, (long long)c, raw->len);
    o->rows = (size_t)r;
    o->cols = (size_t)c;
    o->s = raw->s;
    o->len = raw->len;
    o->built = 1;
    return ABSA_OK;
}

static absa_status pk_global(pk *p)
{
    const uint8_t *s = p->b + p->pos, *nl1, *nl2;
    size_t room = p->len - p->pos < 256 ? p->len - p->pos : 256;
    if (!(nl1 = memchr(s, '\n', room)) || !(nl2 = memchr(nl1 + 1, '\n', room - (size_t)(nl1 + 1 - s))))
        PK_FAIL(p, "unterminated GLOBAL");
    size_t ml = (size_t)(nl1 - s), nl = (size_t)(nl2 - nl1 - 1);
    int g = 0;
    if (nl == 12 && !memcmp(nl1 + 1, "_reconstruct", 12) &&
        ((ml == 21 && !memcmp(s, "numpy.core.multiarray", 21)) || (ml == 22 && !memcmp(s, "numpy._core.multiarray", 22))))
        g = G_RECONSTRUCT;
    else if (ml == 5 && !memcmp(s, "numpy", 5) && nl == 7 && !memcmp(nl1 + 1, "ndarray", 7))
        g = G_NDARRAY;
    else if (ml == 5 && !memcmp(s, "numpy", 5) && nl == 5 && !memcmp(nl1 + 1, "dtype", 5))
        g = G_DTYPE;
    if (!g) PK_FAIL(p, "unsupported global '%.*s.%.*s'", (int)(ml < 64 ? ml : 64), s, (int)(nl < 64 ? nl : 64), nl1 + 1);
    p->pos += (size_t)(nl2 + 1 - s);
    pk_node *n = pk_new(p, PK_GLOBAL);
    if (n) n->i = g;
    return pk_push(p, n);
}

/* collect stack[from..sp) into a new node of type t and pop them */
static absa_status pk_collect(pk *p, pk_type t, size_t from)
{
    pk_node *n = pk_new(p, t);
    if (!n) return pk_push(p, NULL);
    for (size_t k = from; k < p->sp; k++) ABSA_TRY_RET(pk_add_item(p, n, p->stack[k]));
    p->sp = from;
    return pk_push(p, n);
}

static absa_status pk_run(pk *p, pk_node **result)
{
    if (!pk_need(p, 2) || p->b[0] != 0x80 || p->b[1] > 2) PK_FAIL(p, "no pickle protocol 2 header");
    p->pos = 2;
    for (;;) {
        if (!pk_need(p, 1)) PK_FAIL(p, "truncated (no STOP)");
        uint8_t op = p->b[p->pos++];
        size_t fl = pk_floor(p);
        switch (op) {
        case '}': ABSA_TRY_RET(pk_push(p, pk_new(p, PK_DICT))); break;
        case ']': ABSA_TRY_RET(pk_push(p, pk_new(p, PK_LIST))); break;
        case ')': ABSA_TRY_RET(pk_push(p, pk_new(p, PK_TUPLE))); break;
        case 'N': ABSA_TRY_RET(pk_push(p, pk_new(p, PK_NONE))); break;
        case 0x88: case 0x89: {
            pk_node *n = pk_new(p, PK_INT);
            if (n) n->i = op == 0x88;
            ABSA_TRY_RET(pk_push(p, n));
        } break;
        case 'K': case 'M': case 'J': {
            int w = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if (!pk_need(p, (size_t)w)) PK_FAIL(p, "truncated integer");
            uint32_t u = pk_le(p->b + p->pos, w);
            p->pos += (size_t)w;
            pk_node *n = pk_new(p, PK_INT);
            if (n) n->i = op == 'J' ? (int64_t)(int32_t)u : (int64_t)u;
            ABSA_TRY_RET(pk_push(p, n));
        } break;
        case 'U': case 'T': case 'X': {
            int w = op == 'U' ? 1 : 4;
            if (!pk_need(p, (size_t)w)) PK_FAIL(p, "truncated string length");
            uint32_t u = pk_le(p->b + p->pos, w);
            p->pos += (size_t)w;
            if (op != 'U' && u > INT32_MAX) PK_FAIL(p, "negative string length");
            if (!pk_need(p, u)) PK_FAIL(p, "string of %u bytes runs past the end", (unsigned)u);
            pk_node *n = pk_new(p, PK_STR);
            if (n) {
                n->s = p->b + p->pos;
                n->len = u;
            }
            p->pos += u;
            ABSA_TRY_RET(pk_push(p, n));
        } break;
        case '(':
            if (pk_grow((void **)&p->marks, &p->mcap, p->nmarks + 1, sizeof *p->marks)) return pk_push(p, NULL);
            p->marks[p->nmarks++] = p->sp;
            break;
        case 'q': case 'r': case 'h': case 'j': {
            int w = op == 'q' || op == 'h' ? 1 : 4;
            if (!pk_need(p, (size_t)w)) PK_FAIL(p, "truncated memo index");
            size_t id = pk_le(p->b + p->pos, w);
            p->pos += (size_t)w;
            if (op == 'q' || op == 'r') {
                if (p->sp <= fl) PK_FAIL(p, "PUT on an empty stack");
                if (id > p->nall + 1024) PK_FAIL(p, "memo index %zu out of range", id); /* pickle numbers them in order */
                if (id >= p->nmemo) {
                    pk_node **m = realloc(p->memo, (id + 1) * sizeof *m);
                    if (!m) return pk_push(p, NULL);
                    memset(m + p->nmemo, 0, (id + 1 - p->nmemo) * sizeof *m);
                    p->memo = m;
                    p->nmemo = id + 1;
                }
                p->memo[id] = p->stack[p->sp - 1];
            } else {
                if (id >= p->nmemo || !p->memo[id]) PK_FAIL(p, "GET of unset memo entry %zu", id);
                ABSA_TRY_RET(pk_push(p, p->memo[id]));
            }
        } break;
        case 'c': ABSA_TRY_RET(pk_global(p)); break;
        case 't':
            if (!p->nmarks) PK_FAIL(p, "TUPLE without MARK");
            ABSA_TRY_RET(pk_collect(p, PK_TUPLE, fl));
            p->nmarks--;
            break;
        case 0x85: case 0x86: case 0x87: {
            size_t k = (size_t)(op - 0x84);
            if (p->sp < fl + k) PK_FAIL(p, "TUPLE%zu on a short stack", k);
            ABSA_TRY_RET(pk_collect(p, PK_TUPLE, p->sp - k));
        } break;
        case 'a': case 's': {
            size_t k = op == 'a' ? 1 : 2;
            if (p->sp < fl + k + 1) PK_FAIL(p, "%s on a short stack", op == 'a' ? "APPEND" : "SETITEM");
            pk_node *to = p->stack[p->sp - k - 1];
            if (to->t != (op == 'a' ? PK_LIST : PK_DICT)) PK_FAIL(p, "%s to a wrong type", op == 'a' ? "APPEND" : "SETITEM");
            for (size_t j = p->sp - k; j < p->sp; j++) ABSA_TRY_RET(pk_add_item(p, to, p->stack[j]));
            p->sp -= k;
        } break;
        case 'e': case 'u': {
            if (!p->nmarks || fl < 1) PK_FAIL(p, "%s without MARK", op == 'e' ? "APPENDS" : "SETITEMS");
            pk_node *to = p->stack[fl - 1];
            if (to->t != (op == 'e' ? PK_LIST : PK_DICT) || (op == 'u' && (p->sp - fl) % 2))
                PK_FAIL(p, "%s to a wrong type", op == 'e' ? "APPENDS" : "SETITEMS");
            for (size_t j = fl; j < p->sp; j++) ABSA_TRY_RET(pk_add_item(p, to, p->stack[j]));
            p->sp = fl;
            p->nmarks--;
        } break;
        case 'R': ABSA_TRY_RET(pk_reduce(p)); break;
        case 'b': ABSA_TRY_RET(pk_build(p)); break;
        case '.':
            if (p->sp != 1 || p->nmarks) PK_FAIL(p, "STOP with %zu objects on the stack", p->sp);
            if (p->pos != p->len) PK_FAIL(p, "%zu bytes after STOP", p->len - p->pos);
            *result = p->stack[0];
            return ABSA_OK;
        default: p->pos--; PK_FAIL(p, "unsupported opcode 0x%02x", op);
        }
    }
}

static const pk_node *pk_get(const pk_node *d, const char *key)
{
    for (size_t k = 0; k + 1 < d->n; k += 2)
        if (pk_streq(d->items[k], key)) return d->items[k + 1];
    return NULL;
}

static absa_status pk_int_list(const char *what, const pk_node *l, const char *key, size_t n, int32_t **out)
{
    if (!l) ABSA_FAIL_RET(ABSA_EFORMAT, "%s: no b'%s' in the batch", what, key);
    if (l->t != PK_LIST || l->n != n)
        ABSA_FAIL_RET(ABSA_EFORMAT, "%s: b'%s' is not a list of %zu labels", what, key, n);
    int32_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) ABSA_FAIL_RET(ABSA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (l->items[i]->t != PK_INT || l->items[i]->i < 0 || l->items[i]->i > INT32_MAX) {
            free(v);
            ABSA_FAIL_RET(ABSA_EFORMAT, "%s: b'%s'[%zu] is not a label", what, key, i);
        }
        v[i] = (int32_t)l->items[i]->i;
    }
    *out = v;
    return ABSA_OK;
}

static absa_status pk_names(const char *what, const pk_node *l, const char *key, char ***out, int *n)
{
    if (!l) ABSA_FAIL_RET(ABSA_EFORMAT, "%s: no b'%s' in the meta file", what, key);
    if (l->t != PK_LIST || l->n > ABSA_H5_MAX_CLASSES) ABSA_FAIL_RET(ABSA_EFORMAT, "%s: b'%s' is not a list of names", what, key);
    char **v = calloc(l->n + 1, sizeof *v);
    if (!v) ABSA_FAIL_RET(ABSA_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        const pk_node *s = l->items[i];
        if (s->t != PK_STR || s->len > 4096 || memchr(s->s, 0, s->len) || !(v[i] = malloc(s->len + 1))) {
            absa_free_names(v, (int)i);
            ABSA_FAIL_RET(ABSA_EFORMAT, "%s: b'%s'[%zu] is not a name", what, key, i);
        }
        memcpy(v[i], s->s, s->len);
        v[i][s->len] = 0;
    }
    *out = v;
    *n = (int)l->n;
    return ABSA_OK;
}

absa_status absa_cifar_pickle_parse(const uint8_t *buf, size_t len, const char *what, absa_cifar_py *out)
{
    absa_status status = ABSA_OK;
    pk p = {.b = buf, .len = len, .what = what};
    pk_node *root = NULL;
    memset(out, 0, sizeof *out);
    ABSA_TRY(pk_run(&p, &root));
    if (root->t != PK_DICT) ABSA_FAIL(ABSA_EFORMAT, "%s: the pickle is not a dict", what);
    const pk_node *data = pk_get(root, "data");
    if (data) {
        if (data->t != PK_NDARRAY || !data->built || data->cols != ABSA_CIFAR_PY_IMG || data->rows == 0)
            ABSA_FAIL(ABSA_EFORMAT, "%s: b'data' is not a uint8 array of N x 3072 images", what);
        out->n = data->rows;
        const pk_node *fine = pk_get(root, "labels");
        ABSA_TRY(pk_int_list(what, fine ? fine : pk_get(root, "fine_labels"), fine ? "labels" : "fine_labels",
                             out->n, &out->fine));
        if (!fine) ABSA_TRY(pk_int_list(what, pk_get(root, "coarse_labels"), "coarse_labels", out->n, &out->coarse));
        if (!(out->data = absa_try_alloc(data->len))) ABSA_FAIL(ABSA_ENOMEM, "%s: out of memory", what);
        memcpy(out->data, data->s, data->len);
    } else {
        const pk_node *names = pk_get(root, "label_names"), *coarse = pk_get(root, "coarse_label_names");
        if (!names) names = pk_get(root, "fine_label_names");
        if (!names) ABSA_FAIL(ABSA_EFORMAT, "%s: neither b'data' nor label names: not a CIFAR batch or meta file", what);
        ABSA_TRY(pk_names(what, names, "label_names", &out->names, &out->n_names));
        if (coarse) ABSA_TRY(pk_names(what, coarse, "coarse_label_names", &out->coarse_names, &out->n_coarse_names));
    }
cleanup:
    if (status != ABSA_OK) absa_cifar_py_free(out);
    for (size_t i = 0; i < p.nall; i++) {
        free(p.all[i]->items);
        free(p.all[i]);
    }
    free(p.all);
    free(p.stack);
    free(p.marks);
    free(p.memo);
    return status;
}

void absa_cifar_py_free(absa_cifar_py *p)
{
    absa_free(p->data);
    free(p->fine);
    free(p->coarse);
    absa_free_names(p->names, p->n_names);
    absa_free_names(p->coarse_names, p->n_coarse_names);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------- tar ---- */
/* octal field (digits, then NUL/space padding); -1 if malformed or base-256 */
static int64_t tar_octal(const uint8_t *f, size_t n)
{
    size_t i = 0;
    int64_t v = 0;
    while (i < n && f[i] == ' ') i++;
    if (i == n || f[i] < '0' || f[i] > '7') return -1;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v > ((int64_t)1 << 50)) return -1;
        v = v * 8 + (f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != 0 && f[i] != ' ') return -1;
    return v;
}

static absa_status tar_skip(gzFile g, const char *path, uint64_t n, uint8_t *scratch, size_t cap)
{
    while (n > 0) {
        size_t k = n < cap ? (size_t)n : cap, got;
        ABSA_TRY_RET(absa_gz_read(g, path, scratch, k, &got));
        if (got != k) ABSA_FAIL_RET(ABSA_EFORMAT, "%s: truncated tar archive", path);
        n -= k;
    }
    return ABSA_OK;
}

absa_status absa_tar_each(const char *path, absa_tar_want_fn want, absa_tar_member_fn fn, void *ctx)
{
    absa_status status = ABSA_OK;
    uint8_t h[512], *buf = NULL, *scratch = malloc(1 << 16);
    char name[4096 + 160], longname[4096];
    int have_long = 0;
    gzFile g = gzopen(path, "rb");
    if (!scratch) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    if (!g) ABSA_FAIL(ABSA_EIO, "%s: cannot open", path);
    for (uint64_t off = 0;; off += 512) {
        size_t got;
        ABSA_TRY(absa_gz_read(g, path, h, 512, &got));
        if (got != 512) ABSA_FAIL(ABSA_EFORMAT, "%s: truncated tar archive (no end-of-archive block)", path);
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = !h[i];
        if (zero) break;
        int64_t sum = 0, stored = tar_octal(h + 148, 8), size = tar_octal(h + 124, 12);
        for (int i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? ' ' : h[i];
        if (stored != sum) ABSA_FAIL(ABSA_EFORMAT, "%s: not a tar archive (header checksum mismatch at byte %llu)", path, (unsigned long long)off);
        if (size < 0) ABSA_FAIL(ABSA_EFORMAT, "%s: bad member size in the tar header at byte %llu", path, (unsigned long long)off);
        uint64_t pad = (512 - (uint64_t)size % 512) % 512;
        char type = (char)h[156];
        if (type == 'L') { /* GNU long name of the next member */
            if ((size_t)size >= sizeof longname) ABSA_FAIL(ABSA_EFORMAT, "%s: tar member name too long", path);
            ABSA_TRY(absa_gz_read(g, path, longname, (size_t)size, &got));
            if (got != (size_t)size) ABSA_FAIL(ABSA_EFORMAT, "%s: truncated tar archive", path);
            longname[size] = 0;
            ABSA_TRY(tar_skip(g, path, pad, scratch, 1 << 16));
            have_long = 1;
            off += (uint64_t)size + pad;
            continue;
        }
        if (have_long) {
            snprintf(name, sizeof name, "%s", longname);
        } else if (!memcmp(h + 257, "ustar", 6) && h[345]) { /* POSIX ustar: prefix/name (GNU: no prefix) */
            snprintf(name, sizeof name, "%.*s/%.*s", (int)strnlen((char *)h + 345, 155), (char *)h + 345,
                     (int)strnlen((char *)h, 100), (char *)h);
        } else {
            snprintf(name, sizeof name, "%.*s", (int)strnlen((char *)h, 100), (char *)h);
        }
        have_long = 0;
        if ((type == '0' || type == 0 || type == '7') && want(ctx, name)) {
            if ((uint64_t)size > ABSA_TAR_MAX_MEMBER)
                ABSA_FAIL(ABSA_EFORMAT, "%s: member %s is %lld bytes, more than any CIFAR file", path, name, (long long)size);
            if (!(buf = absa_try_alloc(size ? (size_t)size : 1))) ABSA_FAIL(ABSA_ENOMEM, "%s: out of memory", path);
            ABSA_TRY(absa_gz_read(g, path, buf, (size_t)size, &got));
            if (got != (size_t)size) ABSA_FAIL(ABSA_EFORMAT, "%s: truncated tar archive (in %s)", path, name);
            ABSA_TRY(fn(ctx, name, buf, (size_t)size));
            absa_free(buf);
            buf = NULL;
            ABSA_TRY(tar_skip(g, path, pad, scratch, 1 << 16));
        } else {
            ABSA_TRY(tar_skip(g, path, (uint64_t)size + pad, scratch, 1 << 16));
        }
        off += (uint64_t)size + pad;
    }
cleanup:
    absa_free(buf);
    free(scratch);
    if (g) gzclose(g);
    return status;
}

absa_status absa_read_whole_file(const char *path, uint8_t **buf, size_t *len)
{
    absa_status status = ABSA_OK;
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) ABSA_FAIL(ABSA_EIO, "%s: cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0) ABSA_FAIL(ABSA_EIO, "%s: cannot seek", path);
    long n = ftell(f);
    if (n < 0 || (unsigned long)n > ABSA_TAR_MAX_MEMBER) ABSA_FAIL(ABSA_EFORMAT, "%s: not a CIFAR file (size %ld)", path, n);
    rewind(f);
    if (!(*buf = absa_try_alloc(n ? (size_t)n : 1))) ABSA_FAIL(ABSA_ENOMEM, "%s: out of memory", path);
    if (fread(*buf, 1, (size_t)n, f) != (size_t)n) ABSA_FAIL(ABSA_EIO, "%s: read error", path);
    *len = (size_t)n;
cleanup:
    if (f) fclose(f);
    if (status != ABSA_OK) {
        absa_free(*buf);
        *buf = NULL;
    }
    return status;
}
