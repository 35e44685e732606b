/* ucx_ep.c — the data endpoint of both sides (ucx_ep.h). */
#include "ucx_ep.h"

#include <stdio.h>
#include <stdlib.h>

ucs_status_t absa_ucx_ep_create(ucp_worker_h w, const ucp_address_t *addr, int peer_err,
                                ucp_err_handler_cb_t on_error, void *arg, const char *label, ucp_ep_h *ep)
{
    /* the mode only decides the lanes: PEER excludes shared memory and tcp's put lane */
    const ucp_ep_params_t p = {.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                                             UCP_EP_PARAM_FIELD_ERR_HANDLER,
                               .address = addr,
                               .err_mode = peer_err ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE,
                               .err_handler = {.cb = on_error, .arg = arg}};
    const ucs_status_t st = ucp_ep_create(w, &p, ep);
    if (st == UCS_OK && getenv("ABSA_UCX_EP_INFO")) { /* the endpoint's lanes, for tests and docs/ucx.md */
        fprintf(stderr, "%s\n", label);
        ucp_ep_print_info(*ep, stderr);
    }
    return st;
}
