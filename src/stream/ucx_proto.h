/* ucx_proto.h — the wire protocol of `absa serve` (docs/ucx.md): message types, the versioned
 * header that starts every message, and the strict decoder/validators shared by the server, the
 * client and the fuzz target. Independent of UCX (compiled and tested without it).
 *
 * Framing: every message is one UCP active message whose AM *header* is the protocol header
 * encoded here (little-endian, fixed layout per type) and whose AM *data* is the payload (empty
 * for most types). absa_ucx_decode checks magic, version, type, the header length and every
 * count against hard limits, and computes the exact payload length the header implies; a message
 * is accepted only when the received payload length equals it. Payload arrays (ranges, ids,
 * labels, floats) are little-endian too; the code assumes a little-endian host. */
#ifndef ABSA_UCX_PROTO_H
#define ABSA_UCX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the absa UCX protocol code assumes a little-endian host"
#endif

#define ABSA_UCX_MAGIC 0x58435541u /* bytes "AUCX" */
#define ABSA_UCX_VERSION 1
#define ABSA_UCX_AM_TO_SERVER 0xA5 /* UCP AM ids */
#define ABSA_UCX_AM_TO_CLIENT 0xA6
#define ABSA_UCX_COMMON_HLEN 16 /* magic u32, version u16, type u16, hlen u32, reserved u32 */
#define ABSA_UCX_MAX_HLEN (24 + ABSA_UCX_MAX_SECRET)
#define ABSA_UCX_MAX_SECRET 256
#define ABSA_UCX_MAX_RANGES 64              /* permutation ranges in one lease */
#define ABSA_UCX_MAX_STATE_RANGES 65536     /* committed ranges in a state / seek message */
#define ABSA_UCX_MAX_BATCH ((uint32_t)1 << 22) /* samples in one lease */
#define ABSA_UCX_MAX_C 4                     /* channels (as the HDF5 reader) */
#define ABSA_UCX_MAX_SAMPLE_BYTES ((uint64_t)64 << 20)

typedef enum absa_ucx_type {
    ABSA_UCX_HELLO = 1,   /* c->s  secret; must be the first message */
    ABSA_UCX_META,        /* s->c  dataset shape, count, classes, batch max, epoch; mean/std */
    ABSA_UCX_REQUEST,     /* c->s  ask for a lease of n samples (req = client's sequence number) */
    ABSA_UCX_BATCH,       /* s->c  a lease: ranges | ids u64 | labels i32 | images u8 NCHW */
    ABSA_UCX_END,         /* s->c  nothing left of `epoch` for this request (flag DONE: finished) */
    ABSA_UCX_COMMIT,      /* c->s  the step using lease `lease` is done */
    ABSA_UCX_COMMIT_OK,   /* s->c  commit applied; epoch = the server's epoch after it */
    ABSA_UCX_RELEASE,     /* c->s  give an unused lease back (re-issued first) */
    ABSA_UCX_STATE,       /* c->s  ask for the checkpoint state */
    ABSA_UCX_STATE_REPLY, /* s->c  epoch, committed count, committed ranges (payload) */
    ABSA_UCX_SEEK,        /* c->s  resume at epoch with the committed ranges (payload) */
    ABSA_UCX_SEEK_OK,     /* s->c  seek applied */
    ABSA_UCX_ERROR,       /* s->c  a well-formed request that cannot be honoured (code) */
    ABSA_UCX_BYE,         /* c->s  the client leaves; its leases go back to the queue */
    ABSA_UCX_REQUEST_AT,  /* c->s  ask for positions [first, first+n) of `epoch` (waits until free) */
    ABSA_UCX_CANCEL,      /* c->s  withdraw request `req` if it is still waiting (answer: END CANCELLED) */
    ABSA_UCX_PING,        /* c->s  the client is alive (lease timeout); no reply */
    ABSA_UCX_LOCAL,       /* s->c  the split is shared: process pid's descriptor fd, bytes, nonce (ucx_local.h) */
    ABSA_UCX_LOCAL_OK,    /* c->s  mapped and verified: send this client batches without images */
    ABSA_UCX_TYPE_END
} absa_ucx_type;

#define ABSA_UCX_END_DONE 1u      /* END flag: the server's epoch limit is reached */
#define ABSA_UCX_END_GONE 2u      /* END flag (REQUEST_AT): the positions are committed or their epoch is over */
#define ABSA_UCX_END_CANCELLED 4u /* END flag: the request was withdrawn by CANCEL before it was served */
#define ABSA_UCX_END_FLAGS (ABSA_UCX_END_DONE | ABSA_UCX_END_GONE | ABSA_UCX_END_CANCELLED)
#define ABSA_UCX_BATCH_LOCAL 1u   /* BATCH flag: no images in the payload; the client reads them from the shared split */
#define ABSA_UCX_NONCE 32         /* LOCAL: bytes of the nonce that names the shared split */
typedef enum absa_ucx_errcode {
    ABSA_UCX_ERR_SEEK_BUSY = 1,   /* seek refused: leases are outstanding */
    ABSA_UCX_ERR_SEEK_RANGE,      /* seek refused: epoch past the limit or ranges invalid */
    ABSA_UCX_ERR_STATE_TOO_BIG,   /* state has more than ABSA_UCX_MAX_STATE_RANGES ranges */
    ABSA_UCX_ERR_REVOKED          /* COMMIT of a lease the server revoked (lease timeout): not counted */
} absa_ucx_errcode;

typedef struct absa_ucx_range {
    uint64_t start, count; /* positions [start, start+count) of the epoch permutation */
} absa_ucx_range;

/* A decoded header. Fields not used by a type are zero (REQUEST_AT: `first` = first position). */
typedef struct absa_ucx_msg {
    uint16_t type;
    uint32_t hlen;
    uint64_t epoch, lease, req, first, count, committed, epochs;
    uint32_t n, nranges, C, H, W, num_classes, batch_max, flags, code, secret_len;
    uint32_t lease_timeout_ms; /* META: the server's --lease-timeout (0 = none) */
    uint32_t pid, fd;          /* LOCAL: where the shared split is (/proc/pid/fd/fd); count = its bytes */
    uint8_t nonce[ABSA_UCX_NONCE]; /* LOCAL: must equal the nonce stored with the split */
    uint8_t secret[ABSA_UCX_MAX_SECRET];
    uint64_t payload_len; /* the payload length the header implies */
} absa_ucx_msg;

const char *absa_ucx_type_name(unsigned type);

/* Encode m (m->type and its fields) into buf; returns the header length, 0 if cap is too small
 * or m is invalid (the encoder refuses what the decoder would reject). Sets m->payload_len. */
size_t absa_ucx_encode(absa_ucx_msg *m, uint8_t *buf, size_t cap);

/* Decode and validate a header of hlen bytes that arrived with a payload of plen bytes. On
 * failure returns ABSA_EFORMAT with a one-line reason (absa_last_error) and m is unspecified. */
absa_status absa_ucx_decode(const void *hdr, size_t hlen, uint64_t plen, absa_ucx_msg *m);

/* Payload length of a BATCH with these fields, 0 on overflow or a field out of range. A BATCH
 * with flag ABSA_UCX_BATCH_LOCAL carries the same payload less its images (count * sample_bytes
 * fewer bytes at the end): the layout of its start is the same. */
uint64_t absa_ucx_batch_payload_len(uint64_t count, uint32_t nranges, uint64_t sample_bytes);

/* Pointers into a BATCH payload laid out as ranges | ids | labels | images. */
typedef struct absa_ucx_batch_view {
    const absa_ucx_range *ranges;
    const uint64_t *ids;
    const int32_t *labels;
    const uint8_t *images;
} absa_ucx_batch_view;
void absa_ucx_batch_layout(const void *payload, uint64_t count, uint32_t nranges,
                           absa_ucx_batch_view *v);
void absa_ucx_batch_layout_mut(void *payload, uint64_t count, uint32_t nranges,
                               absa_ucx_range **ranges, uint64_t **ids, int32_t **labels,
                               uint8_t **images);

/* Validate a received BATCH (header m already decoded) against the dataset: shape equals
 * C,H,W, count <= max_count, ranges inside [0,n_total) summing to count, ids < n_total,
 * labels in [0,num_classes). Payload must be 8-byte aligned. */
absa_status absa_ucx_check_batch(const absa_ucx_msg *m, const void *payload, uint64_t n_total,
                                 int C, int H, int W, int num_classes, uint64_t max_count);

/* Validate nr ranges (payload of STATE_REPLY / SEEK): each non-empty, inside [0,n_total),
 * sorted, disjoint and not touching (merged); *sum = total count. */
absa_status absa_ucx_check_ranges(const absa_ucx_range *r, size_t nr, uint64_t n_total,
                                  uint64_t *sum);

/* Constant-time comparison of two secrets: a and b each point to ABSA_UCX_MAX_SECRET bytes,
 * zero beyond alen / blen (as absa_ucx_msg.secret is). The time does not depend on the content
 * or on where they differ. Returns 1 when equal. */
int absa_ucx_secret_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
