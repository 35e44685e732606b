/* ucx_door_impl.h — wire helpers shared by the two sides of the front door (ucx_door.c: server,
 * ucx_door_client.c: client, MAC and interface selection). See ucx_door.h for the format. */
#ifndef ABSA_UCX_DOOR_IMPL_H
#define ABSA_UCX_DOOR_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "ucx_door.h"

#define ABSA_DOOR_MAGIC "ABSADOOR"

void absa_door_put_u32(uint8_t *p, uint32_t v);
uint32_t absa_door_get_u32(const uint8_t *p);
/* magic, version, status: the first 16 bytes of a greeting or reply */
void absa_door_put_head(uint8_t *p, uint32_t status);
int absa_door_head_ok(const uint8_t *p); /* magic matches (version checked separately) */
/* HMAC-SHA256(secret, label | nonce_s | nonce_c | [token] | u32 len | addr) */
void absa_door_mac(const uint8_t *secret, size_t secret_len, const char *label, const uint8_t *nonce_s,
                   const uint8_t *nonce_c, const uint8_t *token, const void *addr, size_t len,
                   uint8_t out[ABSA_DOOR_MAC]);
int absa_door_mac_equal(const uint8_t *a, const uint8_t *b); /* constant time */

#endif
