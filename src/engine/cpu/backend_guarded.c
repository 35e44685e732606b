/* backend_guarded.c — `--device cpu-guarded`: the CPU backend behind a fence, for the tests.
 *
 * Every buffer is its own anonymous mmap (page-aligned, zero-filled) and is mprotect(PROT_NONE)
 * except while a backend call runs: each slot of the table unprotects all the backend's buffers on
 * entry and protects them again on exit (nested calls count). Host code above the engine that
 * touches backend memory without going through the table therefore dies with SIGSEGV, which is
 * how the tests prove the seam. Results are bitwise those of the "cpu" backend (same kernels, same
 * order). Slow (two mprotect calls per buffer per backend call): not for production runs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "model.h"

typedef struct guard_region {
    void *p;
    size_t len;
} guard_region;

typedef struct guard_ctx {
    guard_region *r;
    size_t n, cap;
    int depth; /* nesting of backend calls (the allreduce hook may call back) */
    size_t page;
    absa_backend cpu; /* the wrapped table */
} guard_ctx;

static void protect_all(guard_ctx *g, int prot)
{
    for (size_t i = 0; i < g->n; i++)
        ABSA_ASSERT(mprotect(g->r[i].p, g->r[i].len, prot) == 0, "guarded backend: mprotect failed");
}

static guard_ctx *enter(absa_backend *be)
{
    guard_ctx *g = be->ctx;
    if (g->depth++ == 0) protect_all(g, PROT_READ | PROT_WRITE);
    return g;
}

static void leave(absa_backend *be)
{
    guard_ctx *g = be->ctx;
    ABSA_ASSERT(g->depth > 0, "guarded backend: unbalanced leave");
    if (--g->depth == 0) protect_all(g, PROT_NONE);
}

/* ---- the op table: every CPU pass between enter and leave ---- */
#define GUARD_PASS(E, nm, pass)                                                                     \
    static void guard_##nm##_##pass(const absa_pass *P)                                             \
    {                                                                                               \
        enter(P->m->be);                                                                            \
        absa_cpu_ops[ABSA_OP_##E].pass(P);                                                          \
        leave(P->m->be);                                                                            \
    }
#define ABSA_ENGINE_OP(E, nm, fl)                                                                   \
    GUARD_PASS(E, nm, forward)                                                                      \
    GUARD_PASS(E, nm, backward) GUARD_PASS(E, nm, rforward) GUARD_PASS(E, nm, rbackward)
#include "engine_ops.def"
#undef ABSA_ENGINE_OP

static absa_op_ops guard_ops_init(absa_op op, absa_op_pass_fn f, absa_op_pass_fn b, absa_op_pass_fn rf,
                                  absa_op_pass_fn rb)
{
    absa_op_ops o = absa_cpu_ops[op]; /* name, flags, workspace (host arithmetic only) */
    o.forward = f;
    o.backward = b;
    o.rforward = rf;
    o.rbackward = rb;
    return o;
}

/* ---- memory ---- */
static void *guard_alloc(absa_backend *be, size_t bytes)
{
    guard_ctx *g = be->ctx;
    size_t len = ((bytes ? bytes : 1) + g->page - 1) / g->page * g->page;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        guard_region *r = realloc(g->r, cap * sizeof *r);
        if (!r) {
            absa_errorf("guarded backend: out of memory for the buffer list");
            return NULL;
        }
        g->r = r;
        g->cap = cap;
    }
    void *p = mmap(NULL, len, g->depth ? PROT_READ | PROT_WRITE : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        absa_errorf("guarded backend: cannot map %zu bytes", len);
        return NULL;
    }
    g->r[g->n++] = (guard_region){p, len};
    return p;
}

static void guard_free(absa_backend *be, void *p)
{
    guard_ctx *g = be->ctx;
    if (!p) return;
    for (size_t i = 0; i < g->n; i++)
        if (g->r[i].p == p) {
            munmap(p, g->r[i].len);
            g->r[i] = g->r[--g->n];
            return;
        }
    ABSA_ABORT("guarded backend: freeing %p, which it did not allocate", p);
}

/* Every other slot: the CPU slot between enter and leave. */
static void guard_zero(absa_backend *be, void *p, size_t bytes)
{
    guard_ctx *g = enter(be);
    g->cpu.zero(&g->cpu, p, bytes);
    leave(be);
}
static void guard_copy_to_host(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    guard_ctx *g = enter(be);
    g->cpu.copy_to_host(&g->cpu, dst, src, bytes);
    leave(be);
}
static void guard_copy_from_host(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    guard_ctx *g = enter(be);
    g->cpu.copy_from_host(&g->cpu, dst, src, bytes);
    leave(be);
}
/* The double-buffered input (backend.h copy_input): the CPU copy, then the retired buffer is
 * filled with NaN, so a pass that still read the previous batch's input after the switch would
 * spread NaN (the tests compare the guarded runs bitwise with "cpu"). */
static void guard_copy_input(absa_backend *be, void *dst, const void *src, size_t bytes, const void *retired)
{
    guard_ctx *g = enter(be);
    g->cpu.copy_from_host(&g->cpu, dst, src, bytes);
    for (size_t i = 0; retired && i < g->n; i++)
        if (g->r[i].p == retired) memset(g->r[i].p, 0xff, g->r[i].len); /* all-ones floats are NaN */
    leave(be);
}
/* The exact sums as limbs (backend.h xl_*): the host arithmetic of xl.c, inside the fence */
static void guard_xl_add(absa_backend *be, int64_t *l, const float *x, size_t n, double limit)
{
    guard_ctx *g = enter(be);
    g->cpu.xl_add_f32(&g->cpu, l, x, n, limit);
    leave(be);
}
static int guard_xl_bad(absa_backend *be)
{
    guard_ctx *g = be->ctx;
    return g->cpu.xl_bad(&g->cpu);
}
static void guard_xl_get(absa_backend *be, const int64_t *l, float *out, size_t n)
{
    guard_ctx *g = enter(be);
    g->cpu.xl_get_f32(&g->cpu, l, out, n);
    leave(be);
}
static void guard_copy(absa_backend *be, void *dst, const void *src, size_t bytes)
{
    guard_ctx *g = enter(be);
    g->cpu.copy(&g->cpu, dst, src, bytes);
    leave(be);
}
static double guard_dot(absa_backend *be, size_t n, const float *a, const float *b)
{
    guard_ctx *g = enter(be);
    double d = g->cpu.dot(&g->cpu, n, a, b);
    leave(be);
    return d;
}
static void guard_axpy(absa_backend *be, size_t n, float alpha, const float *x, float *y)
{
    guard_ctx *g = enter(be);
    g->cpu.axpy(&g->cpu, n, alpha, x, y);
    leave(be);
}
static void guard_scale(absa_backend *be, size_t n, float *a, float s)
{
    guard_ctx *g = enter(be);
    g->cpu.scale(&g->cpu, n, a, s);
    leave(be);
}
static void guard_sgd(absa_backend *be, size_t n, float *w, const float *gr, float *mom, const absa_sgd_args *a)
{
    guard_ctx *g = enter(be);
    g->cpu.sgd(&g->cpu, n, w, gr, mom, a);
    leave(be);
}
static double guard_xent_forward(absa_backend *be, int N, int K, const float *z, const int32_t *labels, float *p)
{
    guard_ctx *g = enter(be);
    double l = g->cpu.xent_forward(&g->cpu, N, K, z, labels, p);
    leave(be);
    return l;
}
static void guard_xent_backward(absa_backend *be, int N, int K, const float *p, const int32_t *labels,
                                double scale, float *dz)
{
    guard_ctx *g = enter(be);
    g->cpu.xent_backward(&g->cpu, N, K, p, labels, scale, dz);
    leave(be);
}
static void guard_xent_rbackward(absa_backend *be, int N, int K, const float *p, const float *Rz, double scale,
                                 float *Rdz)
{
    guard_ctx *g = enter(be);
    g->cpu.xent_rbackward(&g->cpu, N, K, p, Rz, scale, Rdz);
    leave(be);
}
static void guard_bn_accumulate(absa_backend *be, size_t n, double w, const float *bufs, double *acc)
{
    guard_ctx *g = enter(be);
    g->cpu.bn_accumulate(&g->cpu, n, w, bufs, acc);
    leave(be);
}
static void guard_bn_merge(absa_backend *be, size_t n, double decay, const float *bn0, const double *acc,
                           float *bufs)
{
    guard_ctx *g = enter(be);
    g->cpu.bn_merge(&g->cpu, n, decay, bn0, acc, bufs);
    leave(be);
}
/* the reduction goes through a host staging copy, as a device backend's would */
static void guard_allreduce(absa_backend *be, float *buf, size_t n, absa_reduce_fn fn, void *ctx)
{
    float *host = malloc(n * sizeof(float));
    ABSA_ASSERT(host, "guarded backend: out of memory for a %zu-float reduction", n);
    guard_copy_to_host(be, host, buf, n * sizeof(float));
    fn(ctx, host, n);
    guard_copy_from_host(be, buf, host, n * sizeof(float));
    free(host);
}

static void guard_destroy(absa_backend *be)
{
    guard_ctx *g = be->ctx;
    for (size_t i = 0; i < g->n; i++) munmap(g->r[i].p, g->r[i].len);
    free(g->r);
    free((void *)be->ops);
    free(g);
}

absa_status absa_backend_guarded_fill(absa_backend *be)
{
    guard_ctx *g = calloc(1, sizeof *g);
    absa_op_ops *ops = calloc(ABSA_OP_COUNT, sizeof *ops);
    if (!g || !ops) {
        free(g);
        free(ops);
        absa_errorf("guarded backend: out of memory");
        return ABSA_ENOMEM;
    }
    long page = sysconf(_SC_PAGESIZE);
    g->page = page > 0 ? (size_t)page : 4096;
    absa_backend_cpu_fill(&g->cpu);
    absa_backend_xl_host_fill(&g->cpu);
#define ABSA_ENGINE_OP(E, nm, fl)                                                                   \
    ops[ABSA_OP_##E] = guard_ops_init(ABSA_OP_##E, guard_##nm##_forward, guard_##nm##_backward,       \
                                      guard_##nm##_rforward, guard_##nm##_rbackward);
#include "engine_ops.def"
#undef ABSA_ENGINE_OP
    *be = (absa_backend){
        .name = "cpu-guarded",
        .ctx = g,
        .ops = ops,
        .alloc = guard_alloc,
        .free = guard_free,
        .zero = guard_zero,
        .copy_to_host = guard_copy_to_host,
        .copy_from_host = guard_copy_from_host,
        .copy_input = guard_copy_input,
        .xl_add_f32 = guard_xl_add,
        .xl_bad = guard_xl_bad,
        .xl_get_f32 = guard_xl_get,
        .copy = guard_copy,
        .dot = guard_dot,
        .axpy = guard_axpy,
        .scale = guard_scale,
        .sgd = guard_sgd,
        .xent_forward = guard_xent_forward,
        .xent_backward = guard_xent_backward,
        .xent_rbackward = guard_xent_rbackward,
        .bn_accumulate = guard_bn_accumulate,
        .bn_merge = guard_bn_merge,
        .allreduce = guard_allreduce,
        .sync = NULL,
        .destroy = guard_destroy,
    };
    return ABSA_OK;
}
