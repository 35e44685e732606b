/* ucx_server_gather.c — the reader thread of `absa serve`: batch assembly (HDF5 reads and the
 * gather of samples into the send buffer) runs here, so the event loop keeps driving UCX
 * transfers (and answering other clients) while the next batch is read. The loop submits jobs
 * (a pooled buffer whose ranges and ids are already filled in) and collects finished ones,
 * woken through an eventfd it polls next to the worker's. The HDF5 reader is used by this
 * thread only once it runs. See ucx_server_impl.h. */
#ifdef ABSA_HAVE_UCX
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ucx_server_impl.h"

static void *absa_srv_gather_main(void *arg)
{
    absa_srv *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->gmu);
        while (!s->todo && !s->gstop) pthread_cond_wait(&s->gcv, &s->gmu);
        absa_srv_job *j = s->todo;
        if (!j) { /* stopping and nothing left */
            pthread_mutex_unlock(&s->gmu);
            break;
        }
        s->todo = j->next;
        if (!s->todo) s->todo_tail = NULL;
        pthread_mutex_unlock(&s->gmu);

        absa_ucx_batch_view v;
        absa_ucx_batch_layout(j->buf, j->m.count, j->m.nranges, &v);
        j->st = absa_h5reader_gather_u8(s->rd, v.ids, (size_t)j->m.count, (uint8_t *)(uintptr_t)v.images,
                                        (int32_t *)(uintptr_t)v.labels);
        if (j->st != ABSA_OK) snprintf(j->err, sizeof j->err, "%s", absa_last_error());

        pthread_mutex_lock(&s->gmu);
        j->next = NULL;
        if (s->done_tail)
            s->done_tail->next = j;
        else
            s->done = j;
        s->done_tail = j;
        pthread_mutex_unlock(&s->gmu);
        uint64_t one = 1;
        ssize_t w = write(s->gfd, &one, sizeof one);
        (void)w; /* EAGAIN: a wakeup is pending already */
    }
    return NULL;
}

absa_status absa_srv_gather_start(absa_srv *s)
{
    absa_status status = ABSA_OK;
    pthread_mutex_init(&s->gmu, NULL);
    pthread_cond_init(&s->gcv, NULL);
    s->gsync = 1;
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
        s->gstop = 1;
        absa_srv_jobs_free(s->todo); /* drop what has not started; the job in progress finishes */
        s->todo = s->todo_tail = NULL;
        pthread_cond_signal(&s->gcv);
        pthread_mutex_unlock(&s->gmu);
        pthread_join(s->gthr, NULL);
        s->gthr_started = 0;
    }
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
