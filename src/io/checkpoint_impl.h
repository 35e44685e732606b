/* checkpoint_impl.h — internal to checkpoint.c (writing) and checkpoint_read.c (peek, load): the
 * format constants, the /optimizer attribute names and the HDF5 error helpers both sides share. */
#ifndef ABSA_CHECKPOINT_IMPL_H
#define ABSA_CHECKPOINT_IMPL_H

#include <hdf5.h>
#include <stdio.h>

#include "h5pack.h"

#define CKPT_SHOW 3 /* mismatches of each kind spelled out in the error message */
#define CKPT_CRC_ATTR "crc32" /* per-tensor zlib CRC-32 of the stored bytes (absa >= this format) */

/* ------------------------------------------------------------------ HDF5 errors */

typedef struct ckpt_detail {
    char text[256];
} ckpt_detail;

/* The innermost message of HDF5's current error stack (then cleared), or "unknown". */
static inline const char *h5_detail(ckpt_detail *d)
{
    snprintf(d->text, sizeof d->text, "%s", absa_h5_detail());
    return d->text;
}

static inline void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Closes any HDF5 object id (file, group, dataset, attribute, space, type, plist). */
static inline void h5_close(hid_t *id)
{
    if (*id >= 0) H5Idec_ref(*id);
    *id = H5I_INVALID_HID;
}

/* /optimizer attribute names (absa_sgd fields lr, momentum, dampening, weight_decay; nesterov,
 * has_buf; plus "step" = steps) */
static const char *const ckpt_opt_f64[4] = {"lr", "momentum", "dampening", "weight_decay"};
static const char *const ckpt_opt_int[2] = {"nesterov", "has_momentum"};

#endif
