/* ucx_local.h — the shared split of `absa serve` for clients on the server's own node
 * (docs/ucx.md, "Same-node clients: the shared split").
 *
 * Server: when the split is held in RAM, the reader's copy lives in a memfd (absa_ucx_shared_*
 * are the h5reader's RAM hooks). Once the split is read the mapping is replaced by a read-only
 * one and the memfd is sealed against writing, growing and shrinking (F_SEAL_WRITE |
 * F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL): nobody, the server included, can change it, and a
 * mapping of it can never fault past its end. A trailer page after the images names it: magic,
 * the image bytes and a random nonce.
 *
 * Client: an authenticated client is told (message LOCAL) the server's pid, the descriptor and
 * the nonce. absa_ucx_shared_attach opens /proc/PID/fd/FD read-only, checks the size, the seals,
 * the trailer and the nonce, and maps it read-only. It works only on the server's node, in the
 * same PID namespace, for a process the kernel lets read the server's descriptors (the same user,
 * or root); anywhere else it fails and the client keeps receiving images over UCX. The nonce
 * makes sure a process with the same pid and descriptor on another node (or a recycled pid) is
 * never mistaken for the server.
 *
 * A killed server leaves nothing behind (the memfd goes with its last mapping); a killed client
 * only drops its read-only mapping. Linux only (memfd_create, file seals). */
#ifndef ABSA_UCX_LOCAL_H
#define ABSA_UCX_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"
#include "ucx_proto.h"

typedef struct absa_ucx_shared {
    int fd;                         /* the memfd, -1 when not created */
    uint8_t *p;                     /* images at offset 0 */
    size_t bytes;                   /* image bytes */
    size_t map_bytes;               /* bytes rounded up to pages, plus the trailer page */
    int sealed;                     /* read-only and sealed: may be offered to clients */
    uint8_t nonce[ABSA_UCX_NONCE];
    char why[160];                  /* why it is not shared, when not */
} absa_ucx_shared;

/* The h5reader's RAM hooks (absa_h5reader_ram; ctx = an absa_ucx_shared with fd = -1). alloc
 * returns NULL, with the reason in absa_last_error(), when no memfd can be made: the reader then
 * uses plain memory and the split is not shared. seal, once the split is read: returns where the
 * images are now (a read-only mapping); `sealed` says whether it may be offered. release: at
 * close. */
void *absa_ucx_shared_alloc(void *ctx, size_t bytes);
void *absa_ucx_shared_seal(void *ctx);
void absa_ucx_shared_release(void *ctx);

/* Client: map the split that process pid holds as descriptor fd, after checking that it is
 * sealed, that its trailer says `bytes` image bytes and that its nonce equals `nonce`. On
 * success *data points at the images (read-only) and *map_bytes is what to unmap. Failure is a
 * status with a one-line reason (not fatal: the client stays on UCX). */
absa_status absa_ucx_shared_attach(uint32_t pid, uint32_t fd, uint64_t bytes, const uint8_t *nonce,
                                   const uint8_t **data, size_t *map_bytes);
void absa_ucx_shared_detach(const uint8_t *data, size_t map_bytes);

/* ABSA_UCX_LOCAL=0 (or no, off, false, any case; either side) turns the shared split off: every client gets images over
 * UCX, as a client on another node does (A/B measurements, tests of that path). */
int absa_ucx_local_enabled(void);

#endif
