/* ucx_audit.h — the `absa serve --audit FILE` log (a test hook, docs/ucx.md): every committed
 * sample, and what a resume undid. A trainer that resumes from a checkpoint seeks the server
 * back to the checkpoint's state; samples the server committed after that checkpoint are served
 * and committed again. The log tells the two apart, so a test can check both promises: exactly
 * once in the surviving lineage, at least once on the wire. Lines, in the order of events:
 *
 *   EPOCH ID            first commit of sample ID in EPOCH on this server
 *   EPOCH ID redo       a commit of a sample whose earlier commit in EPOCH was rewound
 *   rewind EPOCH ID     a commit undone by a SEEK: the seeking client's checkpoint predates it
 *   # ...               a comment (seek, revoked lease): ignore
 *
 * Lineage = commit lines minus rewind lines; in every complete epoch it holds each sample once.
 * The log keeps one byte per sample and epoch seen in memory. Pure file I/O, no UCX. */
#ifndef ABSA_UCX_AUDIT_H
#define ABSA_UCX_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "ucx_lease.h"

typedef struct absa_ucx_audit absa_ucx_audit;

/* n samples, permutation seed (epoch e's positions -> ids: absa_permutation(seed, e, n)) */
absa_status absa_ucx_audit_open(const char *path, uint64_t n, uint64_t seed, absa_ucx_audit **out);
/* lease l is being committed; perm = its epoch's permutation */
void absa_ucx_audit_commit(absa_ucx_audit *a, const absa_ucx_lease *l, const uint64_t *perm);
/* client seeks to `epoch` with these committed positions (validated, sorted, disjoint): every
 * commit in the lineage of a later epoch, or of `epoch` outside the ranges, is rewound.
 * Returns the number of rewound commits. */
uint64_t absa_ucx_audit_seek(absa_ucx_audit *a, uint64_t client, uint64_t epoch, const absa_ucx_range *r, size_t nr);
void absa_ucx_audit_note(absa_ucx_audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void absa_ucx_audit_flush(absa_ucx_audit *a);
/* flush and close; ABSA_EIO if a write failed. NULL is fine. */
absa_status absa_ucx_audit_close(absa_ucx_audit *a);

#endif
