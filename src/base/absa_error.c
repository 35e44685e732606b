/* absa_error.c — error message storage (per thread) and the fatal-abort path. See absa_error.h. */
#include "absa_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Module-owned state: the per-thread last message and the process rank for fatal messages. */
static _Thread_local char absa_errbuf[1024];
static int absa_error_rank = -1;

const char *absa_status_str(absa_status st)
{
    switch (st) {
    case ABSA_OK: return "ok";
    case ABSA_EINVAL: return "invalid input";
    case ABSA_EIO: return "I/O error";
    case ABSA_ENOMEM: return "out of memory";
    case ABSA_EFORMAT: return "malformed file";
    case ABSA_EMISMATCH: return "mismatch";
    case ABSA_ENOTFOUND: return "not found";
    case ABSA_EHDF5: return "HDF5 error";
    case ABSA_EUCX: return "UCX error";
    case ABSA_ESPAWN: return "spawn error";
    case ABSA_EEXIST: return "already exists";
    }
    return "unknown error";
}

/* Copies msg into the module's buffer as one line. msg is always a caller-local buffer, so the
 * arguments of a format (which may point into absa_errbuf, e.g. absa_last_error()) are read in
 * full before the buffer is overwritten. */
static void absa_error_store(const char *msg)
{
    snprintf(absa_errbuf, sizeof absa_errbuf, "%s", msg);
    for (char *p = absa_errbuf; *p; p++) /* keep it one line */
        if (*p == '\n' || *p == '\r') *p = ' ';
}

void absa_verrorf(const char *fmt, va_list ap)
{
    char msg[sizeof absa_errbuf];
    vsnprintf(msg, sizeof msg, fmt, ap);
    absa_error_store(msg);
}

void absa_error_prefix(const char *fmt, ...)
{
    char msg[sizeof absa_errbuf];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof msg) snprintf(msg + n, sizeof msg - (size_t)n, "%s", absa_errbuf);
    absa_error_store(msg);
}

void absa_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    absa_verrorf(fmt, ap);
    va_end(ap);
}

const char *absa_last_error(void) { return absa_errbuf; }
void absa_clear_error(void) { absa_errbuf[0] = '\0'; }
void absa_error_set_rank(int rank) { absa_error_rank = rank; }

void absa_abort_at(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (absa_error_rank >= 0)
        fprintf(stderr, "absa: FATAL [rank %d] %s:%d: %s\n", absa_error_rank, file, line, msg);
    else
        fprintf(stderr, "absa: FATAL %s:%d: %s\n", file, line, msg);
    fflush(stderr);
    abort();
}

void *absa_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ABSA_ABORT("calloc(%zu, %zu) failed", n, size);
    return p;
}

void *absa_try_alloc(size_t bytes)
{
    size_t rounded = (bytes + 63u) & ~(size_t)63u;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        absa_errorf("cannot allocate %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void absa_free(void *p) { free(p); }
