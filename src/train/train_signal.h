/* train_signal.h — graceful stop of `absa train` without a signal handler or global flag:
 * SIGTERM and SIGINT are blocked in the trainer's threads (and every thread started later:
 * OpenMP, MPI), stay pending, and the loop polls them with sigtimedwait at step boundaries.
 * The trainer then finishes the step, writes a checkpoint with the mid-epoch cursor and exits 0. */
#ifndef ABSA_TRAIN_SIGNAL_H
#define ABSA_TRAIN_SIGNAL_H
#include <signal.h>

typedef struct absa_stop_watch {
    sigset_t set, old;
    int active;
} absa_stop_watch;

/* Block SIGTERM and SIGINT in the calling thread; call before any thread is created. */
void absa_stop_watch_begin(absa_stop_watch *w);
/* The pending stop signal (consumed), or 0. */
int absa_stop_watch_poll(absa_stop_watch *w);
/* Consume any stop signal that came too late to matter, restore the old mask. */
void absa_stop_watch_end(absa_stop_watch *w);
#endif
