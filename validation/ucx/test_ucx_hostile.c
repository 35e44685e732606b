/* test_ucx_hostile.c — malformed and hostile clients against `absa serve`. While a well-behaved
 * client streams two epochs (checked batch by batch), a raw UCP process opens one connection
 * per case (through the front door, ucx_door.h, then UCX by worker address) and sends: a wrong
 * secret (refused at the door), a HELLO whose token is not the door's, a truncated header, a bad version, garbage, a REQUEST
 * before HELLO, a second HELLO, an oversized length (SEEK header claiming 1000 ranges with a
 * 16-byte payload), a request above the batch maximum, a commit of a lease it does not hold,
 * a server-to-client message type, a 1 MiB rendezvous payload, a positional request (REQUEST_AT)
 * for positions beyond the split, a LOCAL_OK without an offer of the shared split (or a second one
 * where the server offers it: ucx.hostile_local), and nothing at all (HELLO
 * timeout). Each connection must be closed by the server (its door session closed, or an
 * endpoint error, seen by the raw client) with one "dropped" log line, the server must not crash, and the good client's
 * stream must be complete and exact. Usage: test_ucx_hostile SERVE_BIN DIR */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ucp/api/ucp.h>

#include "absa_test.h"
#include "cli_util.h"
#include "ucx_test_util.h"
#include "ucx_door.h"
#include "ucx_util.h"

enum { N = 500, EPOCHS = 2, NCASES = 15 };

typedef struct hx {
    ucp_context_h ctx;
    ucp_worker_h w;
    ucp_ep_h ep;
    int failed, got_meta, got_local, auth_failed;
    int session; /* the door connection: the server closes it when it drops us */
    uint8_t token[ABSA_DOOR_TOKEN];
} hx;

static void hx_err(void *arg, ucp_ep_h ep, ucs_status_t st)
{
    (void)ep, (void)st;
    ((hx *)arg)->failed = 1;
}

static ucs_status_t hx_am(void *arg, const void *h, size_t hl, void *d, size_t l, const ucp_am_recv_param_t *p)
{
    absa_ucx_msg m;
    (void)d, (void)p;
    if (absa_ucx_decode(h, hl, l, &m) == ABSA_OK && m.type == ABSA_UCX_META) ((hx *)arg)->got_meta = 1;
    if (absa_ucx_decode(h, hl, l, &m) == ABSA_OK && m.type == ABSA_UCX_LOCAL) ((hx *)arg)->got_local = 1;
    return UCS_OK;
}

/* the door exchange with `secret`, then an endpoint to the server's worker address */
static int hx_connect(hx *x, const char *url, const char *secret)
{
    struct sockaddr_storage ss, local;
    socklen_t sl;
    int fd = -1, rc = -1;
    ucp_address_t *wa = NULL;
    size_t wl = 0, sal = 0;
    void *sa = NULL;
    x->failed = x->got_meta = x->auth_failed = 0;
    x->session = -1;
    double deadline = absa_now() + 10;
    if (absa_ucx_parse_addr(url, &ss, &sl) != ABSA_OK ||
        absa_door_dial((struct sockaddr *)&ss, sl, deadline, &fd, &local) != ABSA_OK ||
        ucp_worker_get_address(x->w, &wa, &wl) != UCS_OK)
        goto done;
    absa_status st = absa_door_auth(fd, (const uint8_t *)secret, strlen(secret), wa, wl, deadline, x->token, &sa, &sal);
    if (st != ABSA_OK) {
        x->auth_failed = st == ABSA_EINVAL && strstr(absa_last_error(), "authentication failed");
        goto done;
    }
    int peer = 0; /* the server's error mode (ucx_util.h): an endpoint of the other mode gets other lanes */
    if (absa_ucx_err_mode_peer(&peer) != ABSA_OK) goto done;
    ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                                        UCP_EP_PARAM_FIELD_ERR_HANDLER,
                          .address = sa,
                          .err_mode = peer ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE,
                          .err_handler = {.cb = hx_err, .arg = x}};
    rc = ucp_ep_create(x->w, &ep, &x->ep) == UCS_OK ? 0 : -1;
    x->session = fd;
    fd = -1;
done:
    if (wa) ucp_worker_release_address(x->w, wa);
    if (fd >= 0) close(fd);
    free(sa);
    return rc;
}

static void hx_send(hx *x, const void *hdr, size_t hlen, const void *data, size_t len, int rndv)
{
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                             .flags = UCP_AM_SEND_FLAG_REPLY | (rndv ? UCP_AM_SEND_FLAG_RNDV : 0)};
    void *r = ucp_am_send_nbx(x->ep, ABSA_UCX_AM_TO_SERVER, hdr, hlen, data, len, &p);
    double t0 = absa_now();
    if (r && !UCS_PTR_IS_ERR(r)) {
        while (ucp_request_check_status(r) == UCS_INPROGRESS && absa_now() - t0 < 5) ucp_worker_progress(x->w);
        ucp_request_free(r);
    }
}

static void hx_progress(hx *x, double seconds, int until_meta)
{
    double t0 = absa_now();
    while (absa_now() - t0 < seconds && !x->failed && !(until_meta && x->got_meta)) {
        ucp_worker_progress(x->w);
        usleep(200);
        struct pollfd p = {.fd = x->session, .events = POLLIN};
        if (poll(&p, 1, 0) > 0) x->failed = 1; /* the server closed the session: dropped */
    }
}

static void hx_close(hx *x)
{
    if (x->session >= 0) close(x->session);
    x->session = -1;
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = UCP_EP_CLOSE_FLAG_FORCE};
    void *r = ucp_ep_close_nbx(x->ep, &p);
    if (r && !UCS_PTR_IS_ERR(r)) {
        while (ucp_request_check_status(r) == UCS_INPROGRESS) ucp_worker_progress(x->w);
        ucp_request_free(r);
    }
}

static size_t hx_hello(uint8_t *buf, const uint8_t *token, size_t len)
{
    absa_ucx_msg m = {.type = ABSA_UCX_HELLO, .secret_len = (uint32_t)len};
    memcpy(m.secret, token, len);
    return absa_ucx_encode(&m, buf, ABSA_UCX_MAX_HLEN);
}

/* run case k on a fresh connection; 1 when the server dropped it */
static int hx_case(hx *x, const ucxt_env *e, int k, const char **name)
{
    uint8_t b[ABSA_UCX_MAX_HLEN], g[ABSA_UCX_MAX_HLEN];
    static uint8_t big[1 << 20];
    if (k == 0) { /* wrong secret: the door refuses it and says so, nothing reaches UCX */
        *name = "wrong secret (refused at the door)";
        return hx_connect(x, e->url, "not-the-secret") != 0 && x->auth_failed;
    }
    if (hx_connect(x, e->url, e->secret) != 0) {
        fprintf(stderr, "hostile case %d: cannot connect: %s\n", k, absa_last_error());
        return 0;
    }
    size_t hl = hx_hello(g, x->token, ABSA_DOOR_TOKEN);
    if ((k >= 5 && k <= 11) || k == 13) { /* authenticate first */
        x->got_local = 0;
        hx_send(x, g, hl, NULL, 0, 0);
        hx_progress(x, 5, 1);
        hx_progress(x, 0.1, 0); /* LOCAL follows META when the server shares its split */
        if (!x->got_meta) return *name = "valid HELLO not answered", 0;
    }
    absa_ucx_msg m;
    size_t n;
    switch (k) {
    case 12:
        *name = "HELLO with the secret, not the door's token";
        n = hx_hello(b, (const uint8_t *)e->secret, strlen(e->secret));
        hx_send(x, b, n, NULL, 0, 0);
        break;
    case 1:
        *name = "truncated header";
        hx_send(x, g, 10, NULL, 0, 0);
        break;
    case 2:
        *name = "bad version";
        memcpy(b, g, hl);
        b[4] = 2;
        hx_send(x, b, hl, NULL, 0, 0);
        break;
    case 3:
        *name = "garbage";
        for (int i = 0; i < 64; i++) b[i] = (uint8_t)(i * 37 + 11);
        hx_send(x, b, 64, NULL, 0, 0);
        break;
    case 4:
        *name = "request before HELLO";
        m = (absa_ucx_msg){.type = ABSA_UCX_REQUEST, .req = 0, .n = 4};
        hx_send(x, b, absa_ucx_encode(&m, b, sizeof b), NULL, 0, 0);
        break;
    case 5:
        *name = "second HELLO";
        hx_send(x, g, hl, NULL, 0, 0);
        break;
    case 6:
        *name = "oversized length";
        m = (absa_ucx_msg){.type = ABSA_UCX_SEEK, .epoch = 0, .nranges = 1};
        n = absa_ucx_encode(&m, b, sizeof b);
        b[24] = 0xe8, b[25] = 0x03; /* 1000 ranges claimed, 16 bytes sent */
        hx_send(x, b, n, big, 16, 0);
        break;
    case 7:
        *name = "request above batch max";
        m = (absa_ucx_msg){.type = ABSA_UCX_REQUEST, .req = 0, .n = 129};
        hx_send(x, b, absa_ucx_encode(&m, b, sizeof b), NULL, 0, 0);
        break;
    case 8:
        *name = "commit of a lease it does not hold";
        m = (absa_ucx_msg){.type = ABSA_UCX_COMMIT, .lease = 1};
        hx_send(x, b, absa_ucx_encode(&m, b, sizeof b), NULL, 0, 0);
        break;
    case 9:
        *name = "server-to-client type";
        m = (absa_ucx_msg){.type = ABSA_UCX_END, .req = 0, .epoch = 0};
        hx_send(x, b, absa_ucx_encode(&m, b, sizeof b), NULL, 0, 0);
        break;
    case 10:
        *name = "1 MiB rendezvous payload";
        m = (absa_ucx_msg){.type = ABSA_UCX_STATE};
        hx_send(x, b, absa_ucx_encode(&m, b, sizeof b), big, sizeof big, 1);
        break;
    case 11:
        *name = "positional request outside the split";
        m = (absa_ucx_msg){.type = ABSA_UCX_REQUEST_AT, .req = 0, .epoch = 0, .first = N - 4, .n = 8};
        hx_send(x, b, absa_ucx_encode(&m, b, sizeof b), NULL, 0, 0);
        break;
    case 13: /* LOCAL_OK is the answer to an offer of the shared split, once */
        m = (absa_ucx_msg){.type = ABSA_UCX_LOCAL_OK};
        n = absa_ucx_encode(&m, b, sizeof b);
        *name = x->got_local ? "LOCAL_OK twice" : "LOCAL_OK without an offer";
        hx_send(x, b, n, NULL, 0, 0);
        if (x->got_local) hx_send(x, b, n, NULL, 0, 0);
        break;
    default:
        *name = "silence (HELLO timeout)";
        break;
    }
    hx_progress(x, 8, 0);
    int dropped = x->failed;
    hx_close(x);
    return dropped;
}

static int hostile_main(const ucxt_env *e, ucxt_shared *sh)
{
    hx x = {0};
    ucp_params_t p = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_AM};
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE, .thread_mode = UCS_THREAD_MODE_SINGLE};
    if (ucp_init(&p, NULL, &x.ctx) != UCS_OK || ucp_worker_create(x.ctx, &wp, &x.w) != UCS_OK) return 1;
    ucp_am_handler_param_t hp = {.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                                               UCP_AM_HANDLER_PARAM_FIELD_ARG,
                                 .id = ABSA_UCX_AM_TO_CLIENT, .cb = hx_am, .arg = &x};
    ucp_worker_set_am_recv_handler(x.w, &hp);
    int fails = 0;
    for (int k = 0; k < NCASES; k++) {
        const char *name = "?";
        double t0 = absa_now();
        int ok = hx_case(&x, e, k, &name);
        fprintf(stderr, "hostile case %2d %-44s %s (%.2f s)\n", k, name, ok ? "dropped" : "NOT DROPPED", absa_now() - t0);
        fails += !ok;
        sh->batches++;
    }
    ucp_worker_destroy(x.w);
    ucp_cleanup(x.ctx);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    ucxt_env e;
    pid_t pids[2] = {0};
    alarm(120);
    if (ucxt_setup(&e, argv[2], "hostile", N, 3, EPOCHS, argv[1]) != 0) return 1;
    ucxt_shared *sh = ucxt_shared_new(2);
    const char *extra[] = {"--hello-timeout", "1", NULL};
    if (ucxt_start_server(&e, "h", extra) != 0) return 1;
    ucxt_client_cfg good = {.id = 0, .n = 16, .prefetch = 3, .step_us = 300, .slow_us = 100000};
    pids[0] = ucxt_spawn_client(&e, &good, &sh[0]);
    while (sh[0].batches < 2 && !sh[0].failures) usleep(2000);
    fflush(NULL);
    pids[1] = fork();
    if (pids[1] == 0) _exit(hostile_main(&e, &sh[1]));
    int hrc = ucxt_wait_pid(pids[1], 100);
    pids[1] = 0;
    CHECK(hrc == 0, "every hostile connection was dropped (exit %d)", hrc);
    CHECK(!sh[0].finished && sh[0].samples < (uint64_t)N * EPOCHS, "the good client streamed throughout the attacks (%llu)",
          (unsigned long long)sh[0].samples);
    sh[0].go_fast = 1;
    int grc = ucxt_wait_pid(pids[0], 40);
    pids[0] = 0;
    CHECK(grc == 0, "good client finished correctly (exit %d): %s", grc, sh[0].msg);
    int src = ucxt_wait_server(&e, 0, 20);
    CHECK(src == 0, "server finished normally (exit %d)", src);
    ucxt_kill_all(&e, pids, 2);
    uint64_t lines, dups;
    int complete = ucxt_check_audit(e.audit, N, EPOCHS, &lines, &dups, NULL);
    CHECK(complete == EPOCHS && lines == (uint64_t)N * EPOCHS, "audit: %d complete epochs, %llu lines", complete,
          (unsigned long long)lines);
    int drops = ucxt_log_count(e.log, "dropped:");
    CHECK(drops == NCASES - 1, "%d 'dropped' log lines (want one per hostile case past the door, %d)", drops, NCASES - 1);
    const char *reasons[] = {"refused: authentication failed", "truncated header", "unsupported protocol version", "bad magic",
                             "not HELLO", "second HELLO", "header implies", "exceeds the batch maximum",
                             "which it does not hold", "unexpected message type", "rendezvous", "outside the split",
                             "wrong token in HELLO", "LOCAL_OK", "no HELLO within"};
    for (int i = 0; i < NCASES; i++) CHECK(ucxt_log_count(e.log, reasons[i]) == 1, "log names '%s' once", reasons[i]);
    ucxt_finish_files(&e, absa_test_st.failures, "grep -E 'dropped|left' %s >&2");
    return absa_test_finish("test_ucx_hostile");
}
