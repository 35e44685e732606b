/* ucx_server_gather.c — batch assembly for `absa serve`: the gather of a batch's samples into
 * its send buffer (and, when the split does not fit the memory budget, the HDF5 chunk reads
 * behind it). The event loop submits jobs (a pooled buffer whose ranges and ids are filled in);
 * each job is cut into slices of about 256 KiB that gatherers claim under a mutex, and a job
 * whose last slice is in moves to the done list, which the loop collects and sends.
 *
 * Two gatherers share the slices when the split is in RAM: the event loop itself, which takes
 * a slice whenever UCX has nothing for it to do (typically while a send waits for socket
 * space), and a reader thread at SCHED_IDLE, which takes slices only on a core nobody else
 * wants. On the 2-core benchmark machine this lifted server throughput from 0.53-0.80 to
 * 0.73-1.06 of the better of the polling and the blocking ucx_perftest (docs/benchmarks.md): a
 * normal-priority thread competed with the send and with the client for the cores. When the
 * split is streamed from chunks, only the reader thread gathers, at normal priority, so HDF5
 * reads never block the event loop. The reader thread wakes the loop through an eventfd it
 * polls next to the worker's. See ucx_server_impl.h. */
#define _GNU_SOURCE
#ifdef ABSA_HAVE_UCX
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sched.h>

#include "ucx_server_impl.h"

/* Samples per slice: about 256 KiB of images, so a slice stays in the gathering core's cache
 * and the event loop, which gathers between UCX progress calls, answers within ~30 us. */
static uint64_t absa_srv_slice(const absa_srv *s)
{
    size_t n = ((size_t)256 << 10) / s->sample_bytes;
    return n ? n : 1;
}

/* gmu held: hand out the next slice [*k, *k+*n) of the oldest job with samples left */
static absa_srv_job *absa_srv_claim_locked(absa_srv *s, uint64_t *k, uint64_t *n)
{
    for (absa_srv_job *j = s->todo; j; j = j->next)
        if (j->claimed < j->m.count) {
            uint64_t left = j->m.count - j->claimed, sl = absa_srv_slice(s);
            *k = j->claimed;
            *n = left < sl ? left : sl;
            j->claimed += *n;
            return j;
        }
    return NULL;
}

/* gmu held: account a gathered slice; a job whose last slice is in moves from todo to done */
static int absa_srv_finish_locked(absa_srv *s, absa_srv_job *j, uint64_t n, absa_status st, const char *err)
{
    if (st != ABSA_OK && j->st == ABSA_OK) {
        j->st = st;
        snprintf(j->err, sizeof j->err, "%s", err);
    }
    j->finished += n;
    if (j->finished < j->m.count) return 0;
    absa_srv_job **pp = &s->todo, *prev = NULL;
    while (*pp != j) prev = *pp, pp = &(*pp)->next;
    *pp = j->next;
    if (s->todo_tail == j) s->todo_tail = prev;
    j->next = NULL;
    if (s->done_tail)
        s->done_tail->next = j;
    else
        s->done = j;
    s->done_tail = j;
    return 1;
}

/* Gather samples [k, k+n) of job j, claimed by the caller (no lock held: the slice is the
 * caller's alone), then account it under gmu. Returns 1 if that was the job's last slice. */
static int absa_srv_run_slice(absa_srv *s, absa_srv_job *j, uint64_t k, uint64_t n)
{
    char err[sizeof j->err] = "";
    absa_ucx_batch_view v;
    absa_ucx_batch_layout(j->buf, j->m.count, j->m.nranges, &v);
    absa_status st = absa_h5reader_gather_u8(s->rd, v.ids + k, (size_t)n,
                                             (uint8_t *)(uintptr_t)v.images + k * s->sample_bytes,
                                             (int32_t *)(uintptr_t)v.labels + k);
    if (st != ABSA_OK) snprintf(err, sizeof err, "%s", absa_last_error());
    pthread_mutex_lock(&s->gmu);
    int done = absa_srv_finish_locked(s, j, n, st, err);
    pthread_mutex_unlock(&s->gmu);
    return done;
}

static void *absa_srv_gather_main(void *arg)
{
    absa_srv *s = arg;
    if (s->loop_gathers) { /* the loop gathers too: this thread only takes CPU time nobody wants */
        struct sched_param sp = {0};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp); /* best effort */
    }
    pthread_mutex_lock(&s->gmu);
    for (;;) {
        uint64_t k = 0, n = 0;
        absa_srv_job *j = NULL;
        while (!s->gstop && !(j = absa_srv_claim_locked(s, &k, &n))) pthread_cond_wait(&s->gcv, &s->gmu);
        if (!j) break; /* stopping: slices not yet handed out are dropped with their jobs */
        pthread_mutex_unlock(&s->gmu);
        if (absa_srv_run_slice(s, j, k, n)) {
            uint64_t one = 1;
            ssize_t w = write(s->gfd, &one, sizeof one);
            (void)w; /* EAGAIN: a wakeup is pending already */
        }
        pthread_mutex_lock(&s->gmu);
    }
    pthread_mutex_unlock(&s->gmu);
    return NULL;
}

int absa_srv_gather_step(absa_srv *s)
{
    if (!s->loop_gathers) return 0;
    uint64_t k = 0, n = 0;
    pthread_mutex_lock(&s->gmu);
    absa_srv_job *j = absa_srv_claim_locked(s, &k, &n);
    pthread_mutex_unlock(&s->gmu);
    if (!j) return 0;
    absa_srv_run_slice(s, j, k, n); /* a finished job is sent by the loop's next absa_srv_collect_batches */
    return 1;
}

absa_status absa_srv_gather_start(absa_srv *s)
{
    absa_status status = ABSA_OK;
    pthread_mutex_init(&s->gmu, NULL);
    pthread_cond_init(&s->gcv, NULL);
    s->gsync = 1;
    {
        const char *e = getenv("ABSA_LOOP_GATHER");
        s->loop_gathers = absa_h5reader_in_ram(s->rd) && !(e && !strcmp(e, "0"));
    }
    if ((s->gfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) ABSA_FAIL(ABSA_EIO, "eventfd: %s", strerror(errno));
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the event loop's signalfd */
    int rc = pthread_create(&s->gthr, NULL, absa_srv_gather_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) ABSA_FAIL(ABSA_EIO, "cannot start the reader thread: %s", strerror(rc));
    s->gthr_started = 1;
cleanup:
    return status;
}

void absa_srv_gather_submit(absa_srv *s, absa_srv_job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&s->gmu);
    if (s->todo_tail)
        s->todo_tail->next = j;
    else
        s->todo = j;
    s->todo_tail = j;
    pthread_cond_signal(&s->gcv);
    pthread_mutex_unlock(&s->gmu);
}

absa_srv_job *absa_srv_gather_take_done(absa_srv *s)
{
    if (!s->gsync) return NULL;
    uint64_t v;
    ssize_t r = read(s->gfd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&s->gmu);
    absa_srv_job *j = s->done;
    s->done = s->done_tail = NULL;
    pthread_mutex_unlock(&s->gmu);
    return j;
}

/* Frees a list of jobs and their buffers (not returned to the pool). */
static void absa_srv_jobs_free(absa_srv_job *j)
{
    for (absa_srv_job *nx; j; j = nx) {
        nx = j->next;
        absa_free(j->buf);
        free(j);
    }
}

void absa_srv_gather_stop(absa_srv *s)
{
    if (!s->gsync) return;
    if (s->gthr_started) {
        pthread_mutex_lock(&s->gmu);
        s->gstop = 1; /* the thread finishes the slice it has and takes no other */
        pthread_cond_signal(&s->gcv);
        pthread_mutex_unlock(&s->gmu);
        pthread_join(s->gthr, NULL);
        s->gthr_started = 0;
    }
    absa_srv_jobs_free(s->todo);
    s->todo = s->todo_tail = NULL;
    absa_srv_jobs_free(s->done);
    s->done = s->done_tail = NULL;
    if (s->gfd >= 0) close(s->gfd);
    s->gfd = -1;
    pthread_cond_destroy(&s->gcv);
    pthread_mutex_destroy(&s->gmu);
    s->gsync = 0;
}
#else
typedef int absa_ucx_server_gather_unused; /* built without UCX */
#endif
