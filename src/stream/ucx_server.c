/* ucx_server.c — the event loop of `absa serve`: reader and lease manager setup, the UCP
 * context/worker and the front door (ucx_door.c), admitting authenticated clients, blocking progress on the worker event fd plus
 * a signalfd, HELLO timeouts, the clients' front-door sessions (EOF: the client is gone), dropping
 * clients (leases back to the queue, endpoint force-closed)
 * and an orderly shutdown. Message handling is in ucx_server_msg.c. See ucx_server.h. */
#include "ucx_server.h"

#ifdef ABSA_HAVE_UCX
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <ucs/config/global_opts.h>

#include "base_sys.h"
#include "ucx_ep.h"
#include "ucx_server_impl.h"
#include "ucx_util.h"

void absa_srv_log(const absa_srv *s, const char *fmt, ...)
{
    if (s->o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "absa serve: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

absa_srv_client *absa_srv_find(absa_srv *s, uint64_t id)
{
    for (size_t i = 0; i < s->ncl; i++)
        if (s->cl[i]->id == id) return s->cl[i];
    return NULL;
}

void absa_srv_drop(absa_srv *s, absa_srv_client *c, int quiet, const char *fmt, ...)
{
    if (c->dropping) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->drop_reason, sizeof c->drop_reason, fmt, ap);
    va_end(ap);
    c->dropping = 1;
    c->quiet_drop = quiet;
    if (!quiet) s->drops++;
    /* one line per dropped client, also when quiet (a drop is an event worth seeing) */
    if (!quiet || !s->o->quiet)
        fprintf(stderr, "absa serve: client %llu (%s) %s%s\n", (unsigned long long)c->id, c->addr,
                quiet ? "" : "dropped: ", c->drop_reason);
}

static void absa_srv_ep_err_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    absa_srv *s = arg;
    for (size_t i = 0; i < s->ncl; i++)
        if (s->cl[i]->ep == ep) {
            absa_srv_drop(s, s->cl[i], 0, "connection lost: %s", ucs_status_string(status));
            return;
        }
}

/* the front door authenticated a client: connect to its worker address (UCX matches this
 * endpoint with the one the client creates to ours), expect its token in HELLO, and keep its
 * door connection as the session (closed when the client is dropped) */
static int absa_srv_admit(void *arg, const char *peer, const void *addr, size_t len, const uint8_t token[ABSA_DOOR_TOKEN],
                          int fd)
{
    absa_srv *s = arg;
    (void)len; /* the worker address carries its own length; the door bounded it */
    if (s->ncl >= ABSA_UCX_MAX_CLIENTS) {
        fprintf(stderr, "absa serve: connection from %s rejected: %d clients connected\n", peer, ABSA_UCX_MAX_CLIENTS);
        return -1;
    }
    absa_srv_client *c = absa_xcalloc(1, sizeof *c);
    c->id = ++s->next_client;
    c->t_connect = absa_now();
    snprintf(c->addr, sizeof c->addr, "%s", peer);
    memcpy(c->token, token, ABSA_DOOR_TOKEN);
    c->session_fd = fd;
    /* the session socket is the liveness channel: a killed client's kernel closes it (EOF here),
     * also where UCX's lanes (shared memory) would not notice; nothing is read from it */
    absa_door_keepalive(fd);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = c->id};
    if (epoll_ctl(s->sess_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr, "absa serve: connection from %s failed: epoll: %s\n", c->addr, strerror(errno));
        free(c);
        return -1;
    }
    char label[96];
    snprintf(label, sizeof label, "absa serve: client %llu endpoint:", (unsigned long long)c->id);
    ucs_status_t st = absa_ucx_ep_create(s->w, addr, s->peer_err, absa_srv_ep_err_cb, s, label, &c->ep);
    if (st != UCS_OK) {
        fprintf(stderr, "absa serve: connection from %s failed: %s\n", c->addr, ucs_status_string(st));
        epoll_ctl(s->sess_ep, EPOLL_CTL_DEL, fd, NULL);
        free(c);
        return -1;
    }
    if (s->ncl == s->clcap) {
        s->clcap = s->clcap ? 2 * s->clcap : 16;
        s->cl = realloc(s->cl, s->clcap * sizeof *s->cl);
        ABSA_ASSERT(s->cl != NULL, "out of memory for clients");
    }
    s->cl[s->ncl++] = c;
    absa_srv_log(s, "client %llu connected from %s", (unsigned long long)c->id, c->addr);
    return 0;
}

/* session sockets that reported EOF (or bytes, which a client never sends there): stop
 * watching them; the client is dropped ABSA_SRV_SESSION_GRACE_S later unless it leaves first,
 * so that what it sent over UCX just before closing (commits, BYE) is still taken */
#define ABSA_SRV_SESSION_GRACE_S 0.5
static void absa_srv_session_events(absa_srv *s)
{
    struct epoll_event ev[32];
    int n;
    while ((n = epoll_wait(s->sess_ep, ev, 32, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            absa_srv_client *c = absa_srv_find(s, ev[i].data.u64);
            if (!c || c->session_fd < 0) continue;
            epoll_ctl(s->sess_ep, EPOLL_CTL_DEL, c->session_fd, NULL);
            if (!c->session_eof) c->session_eof = absa_now();
        }
        if (n < 32) break;
    }
}

static void absa_srv_process_drops(absa_srv *s)
{
    double timeout = s->o->hello_timeout_s > 0 ? s->o->hello_timeout_s : 10.0, now = absa_now();
    absa_srv_session_events(s);
    for (size_t i = 0; i < s->ncl; i++) {
        absa_srv_client *c = s->cl[i];
        if (!c->authed && !c->dropping && now - c->t_connect > timeout)
            absa_srv_drop(s, c, 0, "no HELLO within %.0f s", timeout);
        if (c->session_eof && !c->dropping && now - c->session_eof >= ABSA_SRV_SESSION_GRACE_S)
            absa_srv_drop(s, c, 0, "connection lost: its front-door session closed");
    }
    for (size_t i = 0; i < s->ncl;) {
        absa_srv_client *c = s->cl[i];
        int closed = 0;
        if (c->dropping && !c->closing) {
            size_t n = absa_lease_drop_owner(s->lm, c->id);
            if (n) absa_srv_log(s, "client %llu: %zu leases go back to the queue", (unsigned long long)c->id, n);
            c->leases = c->revoked = 0;
            c->closing = 1;
            epoll_ctl(s->sess_ep, EPOLL_CTL_DEL, c->session_fd, NULL); /* (fails harmlessly after EOF) */
            close(c->session_fd); /* the client's cue: UCX does not tell it that this endpoint closed */
            c->session_fd = -1;
            ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = UCP_EP_CLOSE_FLAG_FORCE};
            void *r = ucp_ep_close_nbx(c->ep, &p);
            if (r == NULL || UCS_PTR_IS_ERR(r))
                closed = 1;
            else
                c->close_req = r;
        } else if (c->closing && c->close_req && ucp_request_check_status(c->close_req) != UCS_INPROGRESS) {
            ucp_request_free(c->close_req);
            closed = 1;
        }
        if (closed) {
            free(c);
            s->cl[i] = s->cl[--s->ncl];
        } else {
            i++;
        }
    }
}

static absa_status absa_srv_write_address(absa_srv *s, const char *url)
{
    absa_status status = ABSA_OK;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", s->o->address_file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) ABSA_FAIL(ABSA_EIO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "%s\n", url);
    if (fclose(f) != 0 || rename(tmp, s->o->address_file) != 0)
        ABSA_FAIL(ABSA_EIO, "cannot write %s: %s", s->o->address_file, strerror(errno));
cleanup:
    return status;
}

static absa_status absa_srv_setup_ucx(absa_srv *s)
{
    absa_status status = ABSA_OK;
    ucs_status_t st;
    struct sockaddr_storage ss;
    char url[128], dev[512];
    ucp_config_t *cfg = NULL;
    const char *listen = s->o->listen ? s->o->listen : ABSA_UCX_DEFAULT_LISTEN;
    ABSA_TRY(absa_door_bind(listen, &s->door));
    /* UCX warns once per failed connection at its tcp listener: a peer sending garbage could
     * flood the log. Errors only, unless the user chose a level. */
    if (!getenv("UCX_LOG_LEVEL") && ucs_global_opts.log_component.log_level > UCS_LOG_LEVEL_ERROR)
        ucs_global_opts.log_component.log_level = UCS_LOG_LEVEL_ERROR;
    absa_door_local(s->door, &ss);
    /* UCX's tcp transport listens on every interface it uses: keep it on the one of --listen */
    absa_door_net_devices((const struct sockaddr *)&ss, dev, sizeof dev);
    ABSA_TRY(absa_ucx_err_mode_peer(&s->peer_err));
    if ((s->sess_ep = epoll_create1(EPOLL_CLOEXEC)) < 0) ABSA_FAIL(ABSA_EIO, "epoll_create1: %s", strerror(errno));
    if ((st = ucp_config_read(NULL, NULL, &cfg)) != UCS_OK) ABSA_FAIL(ABSA_EUCX, "ucp_config_read: %s", ucs_status_string(st));
    if (dev[0] && (st = ucp_config_modify(cfg, "NET_DEVICES", dev)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "UCX_NET_DEVICES=%s: %s", dev, ucs_status_string(st));
    ucp_params_t p = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP};
    if ((st = ucp_init(&p, cfg, &s->ctx)) != UCS_OK) ABSA_FAIL(ABSA_EUCX, "ucp_init: %s", ucs_status_string(st));
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE, .thread_mode = UCS_THREAD_MODE_SINGLE};
    if ((st = ucp_worker_create(s->ctx, &wp, &s->w)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_create: %s", ucs_status_string(st));
    ucp_worker_attr_t wa = {.field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER};
    if (ucp_worker_query(s->w, &wa) == UCS_OK && wa.max_am_header < ABSA_UCX_MAX_HLEN)
        ABSA_FAIL(ABSA_EUCX, "UCX allows AM headers of %zu bytes, the protocol needs %d", wa.max_am_header, ABSA_UCX_MAX_HLEN);
    ucp_am_handler_param_t hp = {.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                                               UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS,
                                 .id = ABSA_UCX_AM_TO_SERVER, .cb = absa_srv_am_cb, .arg = s,
                                 .flags = UCP_AM_FLAG_WHOLE_MSG};
    if ((st = ucp_worker_set_am_recv_handler(s->w, &hp)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_set_am_recv_handler: %s", ucs_status_string(st));
    if ((st = ucp_worker_get_efd(s->w, &s->efd)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_get_efd: %s", ucs_status_string(st));
    if ((st = ucp_worker_get_address(s->w, &s->waddr, &s->waddr_len)) != UCS_OK)
        ABSA_FAIL(ABSA_EUCX, "ucp_worker_get_address: %s", ucs_status_string(st));
    absa_door_opts d = {.secret = s->o->secret, .secret_len = s->o->secret_len,
                        .timeout_s = s->o->hello_timeout_s > 0 ? s->o->hello_timeout_s : 10.0,
                        .max_pending = s->o->max_pending, .max_per_peer = s->o->max_pending_peer,
                        .quiet = s->o->quiet, .admit = absa_srv_admit, .arg = s};
    ABSA_TRY(absa_door_start(s->door, &d, s->waddr, s->waddr_len));
    absa_ucx_format_addr((const struct sockaddr *)&ss, url, sizeof url);
    if (s->o->address_file) ABSA_TRY(absa_srv_write_address(s, url));
    fprintf(stderr, "absa serve: listening on %s (%llu samples %dx%dx%d, %d classes, batch max %u, seed %llu, epochs %s, "
            "lease timeout %g s, images %s%s%s)\n",
            url, (unsigned long long)absa_lease_mgr_count(s->lm), s->C, s->H, s->W, s->K, s->batch_max,
            (unsigned long long)s->o->seed, s->o->epochs ? "limited" : "unlimited", s->o->lease_timeout_s,
            !absa_h5reader_in_ram(s->rd) ? "streamed from chunks"
            : s->shm.sealed              ? "in RAM, shared with same-node clients"
                                         : "in RAM",
            dev[0] ? ", UCX devices " : "", dev);
cleanup:
    if (cfg) ucp_config_release(cfg);
    return status;
}

static void absa_srv_teardown(absa_srv *s)
{
    absa_srv_gather_stop(s); /* before the reader closes; returns no buffers to the pool */
    for (size_t i = 0; i < s->ncl; i++)
        if (!s->cl[i]->dropping) absa_srv_drop(s, s->cl[i], 1, "disconnected (server stopping)");
    double t0 = absa_now();
    while (s->ncl && absa_now() - t0 < 5.0) {
        absa_srv_process_drops(s);
        if (s->w) ucp_worker_progress(s->w);
    }
    absa_door_close(s->door);
    s->door = NULL;
    if (s->waddr) ucp_worker_release_address(s->w, s->waddr);
    if (s->ncl) {
        /* an endpoint did not finish closing: destroying the worker under it would abort */
        fprintf(stderr, "absa serve: %zu endpoints did not close; leaving UCX in place\n", s->ncl);
    } else {
        if (s->w) {
            while (ucp_worker_progress(s->w)) {
            }
            ucp_worker_destroy(s->w);
        }
        if (s->ctx) ucp_cleanup(s->ctx);
    }
    absa_srv_pool_free(s);
    for (size_t i = 0; i < s->ncl; i++) {
        if (s->cl[i]->session_fd >= 0) close(s->cl[i]->session_fd);
        free(s->cl[i]);
    }
    free(s->cl);
    free(s->pq);
    free(s->acks);
}

static absa_status absa_srv_loop(absa_srv *s)
{
    absa_status status = ABSA_OK;
    struct pollfd pfd[5] = {{.fd = s->efd, .events = POLLIN}, {.fd = s->sfd, .events = POLLIN},
                            {.fd = s->gfd, .events = POLLIN}, {.fd = absa_door_fd(s->door), .events = POLLIN},
                            {.fd = s->sess_ep, .events = POLLIN}};
    double door_at = 0;
    while (!s->stop && !s->fatal) {
        while (ucp_worker_progress(s->w)) {
        }
        absa_srv_collect_batches(s);
        absa_srv_flush_acks(s, 0); /* COMMIT_OKs owed for ABSA_SRV_ACK_DELAY_S */
        double now = absa_now();
        if ((pfd[3].revents & POLLIN) || now - door_at >= 0.05) { /* the door: when it has work, and its timeouts */
            pfd[3].revents = 0;
            door_at = now;
            absa_door_progress(s->door, now);
        }
        absa_srv_process_drops(s);
        absa_srv_expire(s);
        absa_srv_serve_pending(s);
        /* connections still at the door are not waited for: a stream of them would keep a
         * finished server alive (they are closed at teardown) */
        if (absa_lease_mgr_done(s->lm) && s->ncl == 0) break;
        if (absa_srv_gather_step(s)) continue; /* a slice gathered here; progress UCX again */
        int busy = 0;
        for (size_t i = 0; i < s->ncl; i++) busy |= s->cl[i]->dropping && !s->cl[i]->closing;
        if (busy) continue;
        if (absa_srv_flush_acks(s, 1)) continue; /* never block while a COMMIT_OK is owed */
        ucs_status_t st = ucp_worker_arm(s->w);
        if (st == UCS_ERR_BUSY) continue;
        if (st != UCS_OK) ABSA_FAIL(ABSA_EUCX, "ucp_worker_arm: %s", ucs_status_string(st));
        if (poll(pfd, 5, 250) < 0 && errno != EINTR) ABSA_FAIL(ABSA_EIO, "poll: %s", strerror(errno));
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(s->sfd, &si, sizeof si) == (ssize_t)sizeof si)
                fprintf(stderr, "absa serve: signal %u, stopping\n", si.ssi_signo);
            s->stop = 1;
        }
    }
    if (s->fatal) status = s->fatal;
cleanup:
    return status;
}

absa_status absa_ucx_server_run(const absa_ucx_server_opts *o)
{
    absa_status status = ABSA_OK;
    absa_srv srv, *s = &srv;
    sigset_t set, old;
    memset(s, 0, sizeof *s);
    s->o = o;
    s->efd = s->sfd = s->gfd = s->sess_ep = -1;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if (o->secret_len < 1 || o->secret_len > ABSA_UCX_MAX_SECRET) ABSA_FAIL(ABSA_EINVAL, "no shared secret given");
    s->shm.fd = -1;
    {
        const absa_h5reader_ram ram = {.ctx = &s->shm, .alloc = absa_ucx_shared_alloc, .loaded = absa_ucx_shared_seal,
                                       .release = absa_ucx_shared_release};
        int share = !o->no_shared_split && absa_ucx_local_enabled();
        ABSA_TRY(absa_h5reader_open_ram(o->data, o->split ? o->split : "train", o->memory_budget, share ? &ram : NULL, &s->rd));
        if (share && absa_h5reader_in_ram(s->rd) && !s->shm.sealed)
            absa_srv_log(s, "the split is not shared with same-node clients (%s): they get images over UCX", s->shm.why);
    }
    absa_h5reader_shape(s->rd, &s->C, &s->H, &s->W);
    s->K = absa_h5reader_num_classes(s->rd);
    if (s->C > ABSA_UCX_MAX_C) ABSA_FAIL(ABSA_EFORMAT, "%d channels (the protocol carries at most %d)", s->C, ABSA_UCX_MAX_C);
    memcpy(s->mean, absa_h5reader_mean(s->rd), (size_t)s->C * sizeof(float));
    memcpy(s->std, absa_h5reader_std(s->rd), (size_t)s->C * sizeof(float));
    s->sample_bytes = (size_t)s->C * (size_t)s->H * (size_t)s->W;
    s->batch_max = o->batch_max;
    if (!s->batch_max) {
        size_t cap = ((size_t)64 << 20) / s->sample_bytes;
        s->batch_max = (uint32_t)(cap < 1 ? 1 : cap < ABSA_UCX_DEFAULT_BATCH_MAX ? cap : ABSA_UCX_DEFAULT_BATCH_MAX);
    }
    if (s->batch_max > ABSA_UCX_MAX_BATCH) ABSA_FAIL(ABSA_EINVAL, "batch max %u exceeds %u", s->batch_max, ABSA_UCX_MAX_BATCH);
    s->buf_bytes = (size_t)absa_ucx_batch_payload_len(s->batch_max, ABSA_UCX_MAX_RANGES, s->sample_bytes);
    ABSA_TRY(absa_lease_mgr_create(absa_h5reader_count(s->rd), o->seed, o->epochs, &s->lm));
    if (o->audit_file) ABSA_TRY(absa_ucx_audit_open(o->audit_file, absa_h5reader_count(s->rd), o->seed, &s->audit));
    if ((s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
        ABSA_FAIL(ABSA_EIO, "signalfd: %s", strerror(errno));
    ABSA_TRY(absa_srv_setup_ucx(s));
    ABSA_TRY(absa_srv_gather_start(s));
    ABSA_TRY(absa_srv_loop(s));
    fprintf(stderr, "absa serve: stopped after %llu batches (%.1f MiB; %llu batches read by same-node clients from the "
                    "shared split), %llu clients, %llu dropped, epoch %llu\n",
            (unsigned long long)s->batches, (double)s->bytes / 1048576.0, (unsigned long long)s->local_batches,
            (unsigned long long)s->next_client, (unsigned long long)s->drops, (unsigned long long)absa_lease_mgr_epoch(s->lm));
cleanup:
    absa_srv_teardown(s);
    if (absa_ucx_audit_close(s->audit) != ABSA_OK && status == ABSA_OK) status = ABSA_EIO;
    if (s->sfd >= 0) close(s->sfd);
    if (s->sess_ep >= 0) close(s->sess_ep);
    absa_lease_mgr_free(s->lm);
    absa_h5reader_close(s->rd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return status;
}

#else /* built without UCX */

absa_status absa_ucx_server_run(const absa_ucx_server_opts *o)
{
    (void)o;
    absa_errorf("built without UCX (configure with UCX installed and -DABSA_WITH_UCX=ON)");
    return ABSA_EUCX;
}
#endif
