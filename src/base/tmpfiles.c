/* tmpfiles.c — stale temporary files of killed writers and removal of a temporary file on a
 * terminating signal; see tmpfiles.h. */
#include "tmpfiles.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int absa_tmp_sweep(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir && *dir ? dir : ".");
    if (!d) return 0;
    const size_t np = strlen(prefix);
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strncmp(name, prefix, np)) continue;
        const char *digits = name + np;
        if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9) continue;
        long pid = strtol(digits, NULL, 10);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        char path[4352];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ".", name) >= sizeof path) continue;
        if (unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

/* the one guarded path (this module's state): written before the handlers are armed, read by
 * the handler only */
static char guard_path[4352];
static volatile sig_atomic_t guard_armed;
static struct sigaction guard_old[3];
static const int guard_sigs[3] = {SIGINT, SIGTERM, SIGHUP};

static void guard_handler(int sig)
{
    if (guard_armed) unlink(guard_path); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

void absa_tmp_guard(const char *path)
{
    if (!path) {
        if (!guard_armed) return;
        guard_armed = 0;
        for (int i = 0; i < 3; i++) sigaction(guard_sigs[i], &guard_old[i], NULL);
        return;
    }
    if (guard_armed) absa_tmp_guard(NULL);
    snprintf(guard_path, sizeof guard_path, "%s", path);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = guard_handler;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++) {
        sigaction(guard_sigs[i], NULL, &guard_old[i]);
        if (guard_old[i].sa_handler == SIG_IGN) continue; /* nohup & co: keep ignoring */
        sigaction(guard_sigs[i], &sa, NULL);
    }
    guard_armed = 1;
}
