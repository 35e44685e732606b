/* image_decode.h — JPEG/PNG decoding to RGB (by magic bytes) and resizing to planar CHW, for the
 * imagefolder packer (image_decode.c). */
#ifndef ABSA_IMAGE_DECODE_H
#define ABSA_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "absa_error.h"

typedef struct absa_image {
    uint8_t *rgb; /* h*w*3, interleaved */
    int h, w;
} absa_image;

/* name is only used in error messages. */
absa_status absa_image_decode(const char *name, const uint8_t *buf, size_t len, absa_image *img);
void absa_image_free(absa_image *img);
/* Bilinear resize to H x W, written as 3 planes (CHW). */
void absa_image_resize_chw(const absa_image *img, int H, int W, uint8_t *chw);

#endif
