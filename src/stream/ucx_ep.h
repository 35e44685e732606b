/* ucx_ep.h — the data endpoint, made the same way on both sides (the server for each admitted
 * client, src/stream/ucx_server.c; the client to the server, ucx_client.c): by worker address,
 * with the error callback in both error modes (UCX 1.13 calls it for a failed lane whatever the
 * mode) and the mode of ucx_util.h's absa_ucx_err_mode_peer (NONE by default: tcp keeps its
 * rendezvous put lane and shared memory is allowed; docs/ucx.md, "Error handling and lanes").
 * Both sides must use the same mode, which one function for both guarantees by construction.
 * With ABSA_UCX_EP_INFO set in the environment, the endpoint's lanes go to stderr after `label`
 * (the tests and docs/ucx.md read them). */
#ifndef ABSA_UCX_EP_H
#define ABSA_UCX_EP_H
#include <ucp/api/ucp.h>

ucs_status_t absa_ucx_ep_create(ucp_worker_h w, const ucp_address_t *addr, int peer_err,
                                ucp_err_handler_cb_t on_error, void *arg, const char *label, ucp_ep_h *ep);
#endif
