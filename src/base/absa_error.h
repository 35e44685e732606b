/* absa_error.h — the two error tiers of absa.
 *
 * Tier 1 (bugs, broken invariants, failed collectives): ABSA_ABORT / ABSA_ASSERT print
 * "absa: FATAL [rank R] file:line: message" and abort(). Never used for bad user input.
 *
 * Tier 2 (recoverable: files, HDF5, UCX, spawn, user input): functions return absa_status and
 * record a one-line message with absa_errorf(); callers use ABSA_FAIL(...) to set status and
 * `goto cleanup`. The message is per-thread and owned by this module (absa_error.c).
 */
#ifndef ABSA_ERROR_H
#define ABSA_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus /* the CUDA sources in gpu/ include this header */
extern "C" {
#endif

typedef enum absa_status {
    ABSA_OK = 0,
    ABSA_EINVAL,    /* bad argument / bad user input */
    ABSA_EIO,       /* open/read/write/rename failed */
    ABSA_ENOMEM,    /* allocation failed */
    ABSA_EFORMAT,   /* file content malformed */
    ABSA_EMISMATCH, /* shapes / names / models do not match */
    ABSA_ENOTFOUND, /* missing file, dataset, key */
    ABSA_EHDF5,     /* HDF5 library error */
    ABSA_EUCX,      /* UCX library error */
    ABSA_ESPAWN,    /* process spawn / growth failed */
    ABSA_EEXIST     /* output exists and --force not given */
} absa_status;

/* Human-readable name of a status code ("invalid input", ...). */
const char *absa_status_str(absa_status st);

/* Record the current thread's last error message (printf-style, one line). */
void absa_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void absa_verrorf(const char *fmt, va_list ap);
/* Prepend printf-style context to the current message: absa_error_prefix("%s:%d: ", path, line)
 * turns "unknown option 'x'" into "cfg:2: unknown option 'x'". Arguments may point into the
 * current message (absa_last_error()): both functions format into a local buffer first. */
void absa_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message of this thread ("" if none). */
const char *absa_last_error(void);
/* Clear the message. */
void absa_clear_error(void);

/* Rank shown in fatal messages (-1 = not an MPI job); set once by the MPI layer. */
void absa_error_set_rank(int rank);

/* _Noreturn is C11; nvcc (C++) reads this header too (gpu/). */
#ifdef __cplusplus
#define ABSA_NORETURN [[noreturn]]
#else
#define ABSA_NORETURN _Noreturn
#endif
ABSA_NORETURN void absa_abort_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ABSA_ABORT(...) absa_abort_at(__FILE__, __LINE__, __VA_ARGS__)
#define ABSA_ASSERT(cond, ...)                                                                 \
    do {                                                                                       \
        if (!(cond)) absa_abort_at(__FILE__, __LINE__, "assertion '" #cond "' failed: " __VA_ARGS__); \
    } while (0)

/* Set status, record message, jump to the function's `cleanup:` label. Needs `absa_status status`. */
#define ABSA_FAIL(st, ...)                                                                     \
    do {                                                                                       \
        absa_errorf(__VA_ARGS__);                                                              \
        status = (st);                                                                         \
        goto cleanup;                                                                          \
    } while (0)

/* Like ABSA_FAIL for a callee's failure: keep its message and prepend context (absa_error_prefix). */
#define ABSA_FAIL_CTX(st, ...)                                                                 \
    do {                                                                                       \
        absa_error_prefix(__VA_ARGS__);                                                        \
        status = (st);                                                                         \
        goto cleanup;                                                                          \
    } while (0)

/* Propagate a failing status from a callee (message already recorded). */
#define ABSA_TRY(expr)                                                                         \
    do {                                                                                       \
        status = (expr);                                                                       \
        if (status != ABSA_OK) goto cleanup;                                                   \
    } while (0)

/* Checked allocation helpers: abort on failure of small bookkeeping allocations is a bug-tier
 * event; large buffers should use absa_try_alloc and report ABSA_ENOMEM. */
void *absa_xcalloc(size_t n, size_t size);
void *absa_try_alloc(size_t bytes); /* aligned (64 B), zero-filled, NULL + message on failure */
void absa_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
