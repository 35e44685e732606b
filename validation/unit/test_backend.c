/* test_backend.c — the backend seam (backend.h):
 *  1. every op table is complete (all four passes of every line of engine_ops.def, same names and
 *     flags as the CPU specification);
 *  2. every op on every backend against the CPU backend, bitwise: the four models together use
 *     every op; forward (train with running statistics, eval), loss, backward with parameter and
 *     input gradients, the HVP in both BN modes, an SGD step, the BN running-statistics merge;
 *  3. the guarded backend's fence: host code that reads parameters or activations outside a
 *     backend call dies with SIGSEGV (in a child process);
 *  4. an unknown device is a one-line error;
 *  5. the cpu allocator's zeroing and alignment (huge-page-aligned from 4 MiB on). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absa_test.h"
#include "model.h"
#include "optim.h"

static void check_tables(void)
{
    absa_backend *g = NULL;
    CHECK(absa_backend_open("cpu-guarded", &g) == ABSA_OK, "open cpu-guarded: %s", absa_last_error());
    if (!g) return;
    for (int op = 0; op < ABSA_OP_COUNT; op++) {
        const absa_op_ops *c = &absa_cpu_ops[op], *o = &g->ops[op];
        CHECK(c->name && c->forward && c->backward && c->rforward && c->rbackward, "cpu op %d incomplete", op);
        CHECK(o->forward && o->backward && o->rforward && o->rbackward, "guarded op %s incomplete", c->name);
        CHECK(o->name == c->name && o->flags == c->flags && o->workspace == c->workspace, "guarded op %s differs",
              c->name);
    }
    CHECK(absa_cpu_ops[ABSA_OP_CONV].workspace != NULL, "conv has a workspace");
    absa_backend_close(g);
}

typedef struct result {
    float *logits, *grad, *bufs, *dinput, *hv_eval, *hv_train, *params_after;
    double loss;
} result;

static float *get(absa_model *m, const float *buf, size_t n)
{
    float *h = calloc(n ? n : 1, sizeof(float));
    absa_model_get(m, buf, h, n);
    return h;
}

static void run(const char *name, int C, int H, int W, const char *device, result *r)
{
    enum { N = 6, K = 10 };
    memset(r, 0, sizeof *r);
    absa_model *m = NULL;
    CHECK(absa_model_create_on(name, C, H, W, K, device, &m) == ABSA_OK, "%s on %s: %s", name, device,
          absa_last_error());
    if (!m) return;
    absa_model_init(m, 5);
    const size_t P = m->n_params, per = (size_t)C * H * W;
    float *x = calloc((size_t)N * per, sizeof(float)), *v = calloc(P, sizeof(float));
    int32_t y[N];
    uint64_t s = 17;
    for (size_t i = 0; i < (size_t)N * per; i++) x[i] = (float)absa_test_normal(&s);
    for (size_t i = 0; i < P; i++) v[i] = (float)absa_test_normal(&s);
    for (int i = 0; i < N; i++) y[i] = (int32_t)(absa_test_next(&s) % K);
    /* train step with BN running update, then the merge arithmetic of two ranks' halves */
    absa_model_bn_snapshot(m);
    absa_model_zero_grad(m);
    const float *z = absa_model_forward(m, x, N, 1, 1);
    CHECK(z != NULL, "forward");
    r->logits = calloc((size_t)N * K, sizeof(float));
    if (z) memcpy(r->logits, z, (size_t)N * K * sizeof(float));
    r->loss = absa_model_loss(m, y);
    absa_model_backward(m, x, y, 0.5, 0);
    double *acc = calloc(m->n_bufs + 1, sizeof(double));
    absa_model_bn_accumulate(m, 2, 1, acc);
    absa_model_bn_merge(m, 2, acc);
    r->grad = get(m, m->grad, P);
    r->bufs = get(m, m->bufs, m->n_bufs);
    absa_sgd opt;
    absa_sgd_defaults(&opt);
    opt.lr = 0.1;
    absa_sgd_step(m, &opt);
    r->params_after = get(m, m->params, P);
    const float *g = absa_model_input_grad(m, x, y, N, 0);
    r->dinput = calloc((size_t)N * per, sizeof(float));
    if (g) memcpy(r->dinput, g, (size_t)N * per * sizeof(float));
    for (int train = 0; train < 2; train++) {
        absa_model_set(m, m->v, v, P);
        absa_be_zero(m->be, m->hv, P);
        CHECK(absa_model_hvp(m, x, y, N, train, 1.0, NULL) == ABSA_OK, "hvp");
        *(train ? &r->hv_train : &r->hv_eval) = get(m, m->hv, P);
    }
    free(acc);
    free(x);
    free(v);
    absa_model_free(m);
}

static int same(const float *a, const float *b, size_t n) { return a && b && !memcmp(a, b, n * sizeof(float)); }

static void free_result(result *r)
{
    free(r->logits), free(r->grad), free(r->bufs), free(r->dinput), free(r->hv_eval), free(r->hv_train);
    free(r->params_after);
}

static void against_cpu(const char *name, int C, int H, int W)
{
    result a, b;
    run(name, C, H, W, "cpu", &a);
    run(name, C, H, W, "cpu-guarded", &b);
    absa_model *m = NULL;
    if (absa_model_create(name, C, H, W, 10, &m) == ABSA_OK) {
        const size_t P = m->n_params, nb = m->n_bufs, nx = (size_t)6 * C * H * W;
        CHECK(same(a.logits, b.logits, 60) && a.loss == b.loss, "%s: logits/loss differ", name);
        CHECK(same(a.grad, b.grad, P), "%s: gradient differs", name);
        CHECK(nb == 0 || same(a.bufs, b.bufs, nb), "%s: merged BN running statistics differ", name);
        CHECK(same(a.params_after, b.params_after, P), "%s: SGD step differs", name);
        CHECK(same(a.dinput, b.dinput, nx), "%s: input gradient differs", name);
        CHECK(same(a.hv_eval, b.hv_eval, P) && same(a.hv_train, b.hv_train, P), "%s: Hv differs", name);
        double hn = 0;
        for (size_t i = 0; i < P; i++) hn += (double)a.hv_train[i] * a.hv_train[i];
        CHECK(hn > 0, "%s: Hv is zero (the comparison would prove nothing)", name);
    }
    absa_model_free(m);
    free_result(&a);
    free_result(&b);
}

/* The reduction entry: the backend hands the dist layer's hook host memory and keeps the result. */
static void twice(void *ctx, float *x, size_t n)
{
    ++*(int *)ctx;
    for (size_t i = 0; i < n; i++) x[i] *= 2.0f;
}

static void allreduce_entry(const char *device)
{
    absa_model *m = NULL;
    CHECK(absa_model_create_on("mlp", 1, 4, 4, 3, device, &m) == ABSA_OK, "create");
    if (!m) return;
    const size_t P = m->n_params;
    float *h = calloc(P, sizeof(float));
    for (size_t i = 0; i < P; i++) h[i] = (float)i;
    absa_model_set(m, m->hv, h, P);
    int calls = 0;
    absa_model_allreduce(m, m->hv, P, twice, &calls);
    absa_model_get(m, m->hv, h, P);
    int ok = calls == 1;
    for (size_t i = 0; i < P; i++) ok &= h[i] == 2.0f * (float)i;
    CHECK(ok, "%s: allreduce entry (%d hook calls)", device, calls);
    free(h);
    absa_model_free(m);
}

/* The double-buffered input (backend.h copy_input; the guarded backend has it, "cpu" not):
 * consecutive forwards alternate between two buffers, a flatten that aliases the input follows
 * it, and the retired buffer holds NaN (so a pass reading it would fail the comparisons above). */
static void double_input(void)
{
    absa_model *m = NULL, *c = NULL;
    CHECK(absa_model_create_on("mlp", 1, 4, 4, 3, "cpu-guarded", &m) == ABSA_OK, "create: %s", absa_last_error());
    CHECK(absa_model_create_on("mlp", 1, 4, 4, 3, "cpu", &c) == ABSA_OK, "create: %s", absa_last_error());
    if (!m || !c) return;
    CHECK(c->x_in[1] == NULL, "cpu: one input buffer");
    float x1[2 * 16], x2[2 * 16], h[2 * 16];
    for (int i = 0; i < 32; i++) x1[i] = (float)i, x2[i] = (float)(100 + i);
    CHECK(absa_model_forward(m, x1, 2, 0, 0) != NULL, "forward 1");
    CHECK(m->x_in[0] && m->x_in[1] && m->x_in[0] != m->x_in[1], "two input buffers");
    const float *first = m->nodes[0].y;
    CHECK(m->nodes[1].alias && m->nodes[1].y == first, "the flatten aliases the input");
    CHECK(absa_model_forward(m, x2, 2, 0, 0) != NULL, "forward 2");
    CHECK(m->nodes[0].y != first && m->nodes[1].y == m->nodes[0].y, "second forward: the other buffer, alias follows");
    absa_model_get(m, m->nodes[0].y, h, 32);
    CHECK(!memcmp(h, x2, sizeof h), "the live buffer holds the batch");
    absa_model_get(m, first, h, 32);
    int nan = 1;
    for (int i = 0; i < 32; i++) nan &= isnan(h[i]);
    CHECK(nan, "the retired buffer is poisoned");
    CHECK(absa_model_forward(m, x1, 2, 0, 0) != NULL && m->nodes[0].y == first, "third forward: back to the first");
    absa_model_free(m);
    absa_model_free(c);
}

/* A child that touches backend memory from host code must die of SIGSEGV. */
static void fence(int what)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa; /* the default action (a sanitizer's SEGV report would exit instead) */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGSEGV, &sa, NULL);
        absa_model *m = NULL;
        if (absa_model_create_on("lenet", 1, 28, 28, 10, "cpu-guarded", &m) != ABSA_OK) _exit(3);
        float x[784] = {0};
        if (!absa_model_forward(m, x, 1, 0, 0)) _exit(3);
        volatile float f = what == 0 ? m->params[0] : what == 1 ? m->nodes[1].y[0] : (m->grad[0] = 1.0f);
        (void)f;
        _exit(0); /* reached only if the fence is down */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    static const char *const names[] = {"read parameters", "read an activation", "write the gradient"};
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "host code could %s of a cpu-guarded model (status %d)",
          names[what], st);
}

/* 5. the cpu backend's allocator: zeroed; from 4 MiB on 2 MiB aligned (transparent huge pages)
 * and usable to its last byte; below that 64-byte aligned. */
static void cpu_alloc_sizes(void)
{
    const size_t sizes[] = {1, 4096, ((size_t)4 << 20) - 4, (size_t)4 << 20, ((size_t)9 << 20) + 12};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = absa_cpu_alloc_bytes(sizes[i]);
        CHECK(p != NULL, "alloc %zu: %s", sizes[i], absa_last_error());
        if (!p) continue;
        const uintptr_t align = sizes[i] >= ((size_t)4 << 20) ? (uintptr_t)2 << 20 : 64;
        size_t nz = 0;
        for (size_t j = 0; j < sizes[i]; j++) nz += p[j] != 0;
        CHECK((uintptr_t)p % align == 0 && nz == 0, "alloc %zu: address %p (want %zu-aligned), %zu nonzero bytes",
              sizes[i], (void *)p, (size_t)align, nz);
        memset(p, 0xab, sizes[i]); /* the whole size is writable (ASan checks the bounds) */
        free(p);
    }
}

int main(void)
{
    check_tables();
    cpu_alloc_sizes();
    against_cpu("mlp", 1, 8, 8);
    against_cpu("lenet", 1, 28, 28);
    against_cpu("c1", 3, 16, 16);
    against_cpu("resnet20", 3, 8, 8);
    for (int i = 0; i < 3; i++) fence(i);
    allreduce_entry("cpu");
    allreduce_entry("cpu-guarded");
    double_input();
    absa_model *m = NULL;
    CHECK(absa_model_create_on("lenet", 1, 28, 28, 10, "gpu9", &m) == ABSA_EINVAL && !m, "unknown device accepted");
    CHECK(strstr(absa_last_error(), "unknown device 'gpu9'") != NULL, "message: %s", absa_last_error());
    return absa_test_finish("test_backend");
}
