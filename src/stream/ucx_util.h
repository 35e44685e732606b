/* ucx_util.h — helpers of `absa serve` and its client that do not need UCX: socket addresses
 * ("HOST:PORT", "[v6]:PORT", "ucx://HOST:PORT") and the shared secret (file with mode 0600 or
 * the ABSA_SECRET environment variable). */
#ifndef ABSA_UCX_UTIL_H
#define ABSA_UCX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "absa_error.h"
#include "ucx_proto.h"

/* Parse [ucx://]HOST:PORT (HOST: IPv4, [IPv6] or a name resolved with getaddrinfo; PORT 0..65535,
 * 0 = any free port for a listener). */
absa_status absa_ucx_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* "ucx://IP:PORT" (IPv6 in brackets). */
void absa_ucx_format_addr(const struct sockaddr *sa, char *buf, size_t cap);

/* Load the shared secret: from `file` if non-NULL (it must be a regular file not readable or
 * writable by group or others, i.e. mode 0600 or 0400; one trailing newline is stripped),
 * else from the environment variable ABSA_SECRET. out receives ABSA_UCX_MAX_SECRET bytes
 * (zero-padded); the secret must be 1..ABSA_UCX_MAX_SECRET bytes long. */
absa_status absa_ucx_load_secret(const char *file, uint8_t out[ABSA_UCX_MAX_SECRET], size_t *len);

/* Which UCP error-handling mode the data endpoints of `absa serve` and its client use
 * (docs/ucx.md, "Error handling and lanes"): 0 = UCP_ERR_HANDLING_MODE_NONE (the default: UCX 1.13
 * then gives tcp its rendezvous put lane and allows shared memory; a dead peer is still seen
 * through the error callback on tcp and through the front door's session socket), 1 =
 * UCP_ERR_HANDLING_MODE_PEER (ABSA_UCX_ERR_MODE=peer: the earlier setting, tcp only, no
 * rendezvous lane). ABSA_UCX_ERR_MODE other than "", "none" or "peer" is an error. */
absa_status absa_ucx_err_mode_peer(int *peer);

/* A zeroed batch buffer of `bytes` (free with absa_free), NULL with the error set if out of
 * memory. From 1 MiB up it is 2 MiB aligned, rounded up to 2 MiB and advised for transparent
 * huge pages (MADV_HUGEPAGE, best effort): fewer TLB misses for the gather that fills it and
 * fewer pages for the kernel to pin when a peer reads it by cma (docs/ucx.md, "Where the time
 * goes"). */
void *absa_ucx_buf_alloc(size_t bytes);

#endif
