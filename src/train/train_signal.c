/* train_signal.c — polled SIGTERM/SIGINT for the graceful stop of `absa train`; see
 * train_signal.h. */
#include "train_signal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

void absa_stop_watch_begin(absa_stop_watch *w)
{
    memset(w, 0, sizeof *w);
    sigemptyset(&w->set);
    sigaddset(&w->set, SIGTERM);
    sigaddset(&w->set, SIGINT);
    w->active = pthread_sigmask(SIG_BLOCK, &w->set, &w->old) == 0;
}

int absa_stop_watch_poll(absa_stop_watch *w)
{
    if (!w->active) return 0;
    struct timespec zero = {0, 0};
    int sig;
    do sig = sigtimedwait(&w->set, NULL, &zero);
    while (sig < 0 && errno == EINTR);
    return sig > 0 ? sig : 0;
}

void absa_stop_watch_end(absa_stop_watch *w)
{
    if (!w->active) return;
    while (absa_stop_watch_poll(w)) {
    }
    pthread_sigmask(SIG_SETMASK, &w->old, NULL);
    w->active = 0;
}
