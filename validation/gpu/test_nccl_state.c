/* test_nccl_state.c — the NCCL rebuild-on-growth state machine (src/engine/nccl_comm.c) with the NCCL
 * and MPI calls faked (nccl_comm.h's two tables): no GPU, NCCL or MPI needed. One process plays
 * one rank; the fake host reduction mixes in the "other ranks'" value the test sets. Checks:
 * only rank 0 makes the id and every rank gets it by broadcast; reductions stay on the host path
 * until every rank reports the new communicator ready; the old communicator lives until then and
 * is destroyed exactly once; a failed init (here or elsewhere) or a shared GPU means the host
 * path for good, with a one-line reason; a growth during an init aborts the obsolete init;
 * every communicator created is destroyed or aborted at the end. */
#include <string.h>

#include "absa_test.h"
#include "nccl_comm.h"

typedef struct fake {
    int ids, inits, destroys, aborts, polls_needed, init_fail, poll_fail;
    int next_handle, live[64];
    int others;     /* the other ranks' value in every min-reduction */
    int bcasts;
    double clock;
    absa_nccl_id last_id;
} fake;

static int f_id(void *s, absa_nccl_id *id)
{
    fake *f = s;
    f->ids++;
    memset(id, 0, sizeof *id);
    id->bytes[0] = (char)(0x40 + f->ids);
    return 0;
}
static int f_init(void *s, void **comm, int nranks, const absa_nccl_id *id, int rank)
{
    fake *f = s;
    (void)nranks, (void)rank;
    f->last_id = *id;
    if (f->init_fail) return 3; /* ncclSystemError */
    f->inits++;
    int h = ++f->next_handle;
    f->live[h] = f->polls_needed; /* polls left until ready */
    *comm = (void *)(intptr_t)h;
    return 0;
}
static int f_poll(void *s, void *comm, int *ready)
{
    fake *f = s;
    int h = (int)(intptr_t)comm;
    if (f->poll_fail) return 2;
    if (f->live[h] > 0) f->live[h]--;
    *ready = f->live[h] == 0;
    return 0;
}
static int f_destroy(void *s, void *comm)
{
    fake *f = s;
    f->destroys++;
    f->live[(int)(intptr_t)comm] = -100;
    return 0;
}
static int f_abort(void *s, void *comm)
{
    fake *f = s;
    f->aborts++;
    f->live[(int)(intptr_t)comm] = -100;
    return 0;
}
static const char *f_err(void *s, int code)
{
    (void)s;
    return code == 3 ? "unhandled system error" : "internal error";
}
static int f_allreduce(void *s, void *comm, const void *a, void *b, size_t n, int type, void *st)
{
    (void)s, (void)comm, (void)a, (void)b, (void)n, (void)type, (void)st;
    return 0;
}
static int f_bcast(void *s, void *buf, size_t bytes, int root)
{
    fake *f = s;
    (void)root;
    f->bcasts++;
    /* as rank 1 would see it: rank 0's id arrives */
    if (bytes == sizeof(absa_nccl_id) && ((absa_nccl_id *)buf)->bytes[0] == 0) ((absa_nccl_id *)buf)->bytes[0] = 0x7f;
    return 0;
}
static int f_min(void *s, int *v)
{
    fake *f = s;
    if (f->others < *v) *v = f->others;
    return 0;
}
static double f_now(void *s)
{
    fake *f = s;
    return f->clock += 0.5;
}

static void setup(absa_nccl *c, fake *f)
{
    memset(f, 0, sizeof *f);
    f->others = 1;
    f->polls_needed = 2;
    absa_nccl_ops ops = {f_id, f_init, f_poll, f_destroy, f_abort, f_err, f_allreduce, f};
    absa_nccl_host_ops host = {f_bcast, f_min, f_now, f};
    absa_nccl_init(c, &ops, &host);
}

int main(void)
{
    absa_nccl c;
    fake f;
    char line[256];

    /* 1. growth 1 -> 2 ranks on rank 0, then 2 -> 4 */
    setup(&c, &f);
    CHECK(!absa_nccl_use_device(&c) && c.state == ABSA_NCCL_HOST, "fresh: host path");
    CHECK(absa_nccl_grow(&c, 0, 2, 0) == ABSA_OK, "grow");
    CHECK(f.ids == 1 && f.bcasts == 1 && f.inits == 1, "ids %d bcasts %d inits %d", f.ids, f.bcasts, f.inits);
    CHECK(f.last_id.bytes[0] == 0x41, "rank 0 inits with its own id");
    CHECK(c.state == ABSA_NCCL_PENDING && !absa_nccl_use_device(&c), "pending: host path");
    CHECK(absa_nccl_poll(&c) == 0, "first poll: local init still running");
    f.others = 0; /* this rank is ready now, another one is not */
    CHECK(absa_nccl_poll(&c) == 0, "others not ready: still the host path");
    f.others = 1;
    CHECK(absa_nccl_poll(&c) == 1 && absa_nccl_use_device(&c), "all ready: device path");
    CHECK(c.generation == 1 && c.nranks == 2 && f.destroys == 0, "gen %d destroys %d", c.generation, f.destroys);
    CHECK(c.last.init_s > 0 && c.last.polls == 3, "init %.2f s over %d polls", c.last.init_s, c.last.polls);
    void *old = c.comm;
    CHECK(absa_nccl_grow(&c, 0, 4, 0) == ABSA_OK, "grow again");
    CHECK(!absa_nccl_use_device(&c) && c.comm == old && f.live[(int)(intptr_t)old] >= 0,
          "during the rebuild: host path, old communicator kept");
    while (!absa_nccl_poll(&c)) {
    }
    CHECK(c.comm != old && f.destroys == 1 && f.live[(int)(intptr_t)old] == -100,
          "old communicator destroyed once when the new one is ready");
    CHECK(c.generation == 2 && c.nranks == 4, "gen %d nranks %d", c.generation, c.nranks);
    absa_nccl_describe(&c, line, sizeof line);
    CHECK(strstr(line, "ready, 4 ranks, generation 2") != NULL, "describe: %s", line);
    CHECK(absa_nccl_allreduce_sum(&c, NULL, NULL, 0, 0, NULL) == ABSA_OK, "allreduce when ready");
    absa_nccl_free(&c);
    CHECK(f.destroys + f.aborts == f.inits, "created %d, destroyed %d + aborted %d", f.inits, f.destroys, f.aborts);

    /* 2. rank 1 takes the broadcast id and makes none */
    setup(&c, &f);
    CHECK(absa_nccl_grow(&c, 1, 2, 0) == ABSA_OK && f.ids == 0 && f.bcasts == 1, "rank 1: no id of its own");
    CHECK(f.last_id.bytes[0] == 0x7f, "rank 1 inits with the broadcast id");
    absa_nccl_free(&c);
    CHECK(f.aborts == 1, "a pending init is aborted at the end");

    /* 3. local init fails: host path for good, one-line reason, no more inits */
    setup(&c, &f);
    f.init_fail = 1;
    CHECK(absa_nccl_grow(&c, 0, 2, 0) == ABSA_OK, "a failed init start is not an error");
    CHECK(absa_nccl_poll(&c) == 0 && c.state == ABSA_NCCL_FAILED, "failed");
    absa_nccl_describe(&c, line, sizeof line);
    CHECK(strstr(line, "host path") && strstr(line, "unhandled system error") && !strchr(line, '\n'),
          "describe: %s", line);
    f.init_fail = 0;
    CHECK(absa_nccl_grow(&c, 0, 4, 0) == ABSA_OK && f.inits == 0 && c.state == ABSA_NCCL_FAILED,
          "no rebuild after a failure");
    absa_nccl_free(&c);

    /* 4. another rank's init fails: this one's is aborted, host path */
    setup(&c, &f);
    f.polls_needed = 0;
    CHECK(absa_nccl_grow(&c, 0, 2, 0) == ABSA_OK, "grow");
    f.others = -1;
    CHECK(absa_nccl_poll(&c) == 0 && c.state == ABSA_NCCL_FAILED && f.aborts == 1, "remote failure");
    absa_nccl_free(&c);

    /* 5. two ranks on one GPU (this one or another): host path, one line saying so */
    setup(&c, &f);
    CHECK(absa_nccl_grow(&c, 0, 2, 1) == ABSA_OK && c.state == ABSA_NCCL_SHARED_GPU && f.inits == 0,
          "shared GPU here");
    absa_nccl_describe(&c, line, sizeof line);
    CHECK(strstr(line, "share a GPU") && strstr(line, "MPI host memory"), "describe: %s", line);
    absa_nccl_free(&c);
    setup(&c, &f);
    f.others = 0; /* another rank reports a shared GPU */
    CHECK(absa_nccl_grow(&c, 0, 2, 0) == ABSA_OK && c.state == ABSA_NCCL_SHARED_GPU && f.inits == 0,
          "shared GPU elsewhere");
    absa_nccl_free(&c);

    /* 6. a growth during an init: the obsolete init is aborted, the new one completes */
    setup(&c, &f);
    CHECK(absa_nccl_grow(&c, 0, 2, 0) == ABSA_OK && absa_nccl_grow(&c, 0, 4, 0) == ABSA_OK, "two growths");
    CHECK(f.aborts == 1 && f.inits == 2 && f.ids == 2, "aborts %d inits %d", f.aborts, f.inits);
    while (!absa_nccl_poll(&c)) {
    }
    CHECK(c.nranks == 4 && c.generation == 1, "nranks %d gen %d", c.nranks, c.generation);
    absa_nccl_free(&c);
    CHECK(f.destroys + f.aborts == f.inits, "created %d, destroyed %d + aborted %d", f.inits, f.destroys, f.aborts);
    return absa_test_finish("test_nccl_state");
}
