/* ucx_audit.c — the `absa serve --audit` log with its lineage across resumes (ucx_audit.h).
 * Per epoch seen, one byte per sample: LIVE (committed, in the lineage) and EVER (committed at
 * least once on this server, so a later commit is a re-delivery). */
#include "ucx_audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base_hash.h"

enum { AUDIT_LIVE = 1, AUDIT_EVER = 2 };

typedef struct absa_audit_epoch {
    uint64_t epoch;
    uint8_t *st; /* n bytes, by sample id */
} absa_audit_epoch;

struct absa_ucx_audit {
    FILE *f;
    uint64_t n, seed;
    absa_audit_epoch *ep;
    size_t nep, epcap;
    int werr;      /* a write failed: the log is incomplete (said once, at once, and at close) */
    int werrno;    /* errno of the first failure */
    char *path;
};

/* The first failed write says so on stderr at once (a full disk must not go unnoticed for a
 * whole run); the server goes on serving, and the close reports the failure as an error. */
static void audit_failed(absa_ucx_audit *a)
{
    if (a->werr) return;
    a->werr = 1;
    a->werrno = errno ? errno : EIO;
    fprintf(stderr, "absa serve: warning: cannot write the audit log %s (%s); it is incomplete from here on, "
                    "serving goes on\n", a->path, strerror(a->werrno));
}

absa_status absa_ucx_audit_open(const char *path, uint64_t n, uint64_t seed, absa_ucx_audit **out)
{
    absa_status status = ABSA_OK;
    absa_ucx_audit *a = absa_xcalloc(1, sizeof *a);
    *out = NULL;
    a->n = n;
    a->seed = seed;
    a->path = strdup(path);
    ABSA_ASSERT(a->path != NULL, "out of memory for the audit path");
    if (!(a->f = fopen(path, "w"))) ABSA_FAIL(ABSA_EIO, "cannot write %s: %s", path, strerror(errno));
    *out = a;
    a = NULL;
cleanup:
    if (a) free(a->path);
    free(a);
    return status;
}

static uint8_t *absa_audit_epoch_st(absa_ucx_audit *a, uint64_t epoch, int create)
{
    for (size_t i = 0; i < a->nep; i++)
        if (a->ep[i].epoch == epoch) return a->ep[i].st;
    if (!create) return NULL;
    if (a->nep == a->epcap) {
        a->epcap = a->epcap ? 2 * a->epcap : 8;
        a->ep = realloc(a->ep, a->epcap * sizeof *a->ep);
        ABSA_ASSERT(a->ep != NULL, "out of memory for the audit");
    }
    uint8_t *st = absa_xcalloc((size_t)a->n, 1);
    a->ep[a->nep++] = (absa_audit_epoch){epoch, st};
    return st;
}

void absa_ucx_audit_commit(absa_ucx_audit *a, const absa_ucx_lease *l, const uint64_t *perm)
{
    uint8_t *st = absa_audit_epoch_st(a, l->epoch, 1);
    for (uint32_t r = 0; r < l->nranges; r++)
        for (uint64_t p = l->ranges[r].start; p < l->ranges[r].start + l->ranges[r].count; p++) {
            uint64_t id = perm[p];
            if (fprintf(a->f, "%llu %llu%s\n", (unsigned long long)l->epoch, (unsigned long long)id,
                        (st[id] & AUDIT_EVER) ? " redo" : "") < 0)
                audit_failed(a);
            st[id] |= AUDIT_LIVE | AUDIT_EVER;
        }
    if (fflush(a->f) != 0) audit_failed(a); /* a test may watch the file grow */
}

static uint64_t absa_audit_rewind(absa_ucx_audit *a, uint64_t epoch, uint8_t *st, const uint8_t *keep)
{
    uint64_t k = 0;
    for (uint64_t id = 0; id < a->n; id++)
        if ((st[id] & AUDIT_LIVE) && !(keep && keep[id])) {
            if (fprintf(a->f, "rewind %llu %llu\n", (unsigned long long)epoch, (unsigned long long)id) < 0) audit_failed(a);
            st[id] &= (uint8_t)~AUDIT_LIVE;
            k++;
        }
    return k;
}

uint64_t absa_ucx_audit_seek(absa_ucx_audit *a, uint64_t client, uint64_t epoch, const absa_ucx_range *r, size_t nr)
{
    uint64_t committed = 0, k = 0;
    for (size_t i = 0; i < nr; i++) committed += r[i].count;
    absa_ucx_audit_note(a, "seek by client %llu to epoch %llu with %llu samples committed", (unsigned long long)client,
                        (unsigned long long)epoch, (unsigned long long)committed);
    /* later epochs first, in increasing order, then the seek's own epoch */
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < a->nep; i++)
            if (a->ep[i].epoch > epoch && (best == SIZE_MAX || a->ep[i].epoch < a->ep[best].epoch)) {
                int live = 0;
                for (uint64_t id = 0; id < a->n && !live; id++) live = a->ep[i].st[id] & AUDIT_LIVE;
                if (live) best = i;
            }
        if (best == SIZE_MAX) break;
        k += absa_audit_rewind(a, a->ep[best].epoch, a->ep[best].st, NULL);
    }
    uint8_t *st = absa_audit_epoch_st(a, epoch, 0);
    if (st) {
        uint64_t *perm = malloc((size_t)a->n * sizeof *perm);
        uint8_t *keep = calloc((size_t)a->n, 1);
        ABSA_ASSERT(perm && keep, "out of memory for the audit");
        absa_permutation(a->seed, epoch, (size_t)a->n, perm);
        for (size_t i = 0; i < nr; i++)
            for (uint64_t p = r[i].start; p < r[i].start + r[i].count; p++) keep[perm[p]] = 1;
        k += absa_audit_rewind(a, epoch, st, keep);
        free(perm);
        free(keep);
    }
    /* the lineage after the seek is what a test can check at once */
    fflush(a->f);
    return k;
}

void absa_ucx_audit_note(absa_ucx_audit *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (fputs("# ", a->f) < 0 || vfprintf(a->f, fmt, ap) < 0 || fputc('\n', a->f) < 0) audit_failed(a);
    va_end(ap);
}

void absa_ucx_audit_flush(absa_ucx_audit *a)
{
    if (fflush(a->f) != 0) audit_failed(a);
}

absa_status absa_ucx_audit_close(absa_ucx_audit *a)
{
    absa_status status = ABSA_OK;
    if (!a) return ABSA_OK;
    if (fclose(a->f) != 0 && !a->werr) a->werr = 1, a->werrno = errno ? errno : EIO;
    if (a->werr) ABSA_FAIL(ABSA_EIO, "writing the audit log %s failed (%s): it is incomplete", a->path, strerror(a->werrno));
cleanup:
    for (size_t i = 0; i < a->nep; i++) free(a->ep[i].st);
    free(a->ep);
    free(a->path);
    free(a);
    return status;
}
