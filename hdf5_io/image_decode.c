/* image_decode.c — decodes a JPEG (libjpeg-turbo) or PNG (libpng simplified API) held in memory
 * to 8-bit RGB, chosen by the magic bytes, not the file extension; grey, palette, 16-bit and
 * alpha PNGs and grey/CMYK/YCCK JPEGs all end up RGB (CMYK as written by Adobe, i.e. inverted:
 * R = C*K/255). Also a bilinear resize to the packer's output size (pixel centres at +0.5, edge
 * clamped; the identity when the size already matches) and RGB -> planar CHW. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "image_decode.h"

typedef struct absa_jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} absa_jpeg_err;

static void absa_jpeg_error_exit(j_common_ptr c)
{
    absa_jpeg_err *e = (absa_jpeg_err *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

static void absa_jpeg_silent(j_common_ptr c, int level) { (void)c, (void)level; }

static absa_status absa_decode_jpeg(const char *name, const uint8_t *buf, size_t len, absa_image *img)
{
    struct jpeg_decompress_struct ci;
    absa_jpeg_err je;
    uint8_t *volatile out = NULL;
    uint8_t *volatile row = NULL;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = absa_jpeg_error_exit;
    je.pub.emit_message = absa_jpeg_silent;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        free(out);
        free(row);
        absa_errorf("%s: unreadable JPEG (%s)", name, je.msg);
        return ABSA_EFORMAT;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, nc = ci.output_components;
    if (w < 1 || h < 1 || w > 65535 || h > 65535 || (nc != 3 && nc != 4)) {
        snprintf(je.msg, sizeof je.msg, "unsupported size or %d components", nc);
        longjmp(je.jb, 1);
    }
    out = malloc((size_t)w * h * 3);
    row = malloc((size_t)w * nc);
    if (!out || !row) {
        snprintf(je.msg, sizeof je.msg, "out of memory");
        longjmp(je.jb, 1);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW rp = row;
        size_t y = ci.output_scanline;
        jpeg_read_scanlines(&ci, &rp, 1);
        uint8_t *o = out + y * (size_t)w * 3;
        for (int x = 0; x < w; x++) {
            if (cmyk) {
                unsigned k = row[4 * x + 3];
                for (int c = 0; c < 3; c++) o[3 * x + c] = (uint8_t)((row[4 * x + c] * k + 127) / 255);
            } else {
                memcpy(o + 3 * x, row + 3 * x, 3);
            }
        }
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(row);
    img->rgb = out;
    img->h = h;
    img->w = w;
    return ABSA_OK;
}

static absa_status absa_decode_png(const char *name, const uint8_t *buf, size_t len, absa_image *img)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, buf, len)) {
        absa_errorf("%s: unreadable PNG (%s)", name, pi.message);
        return ABSA_EFORMAT;
    }
    pi.format = PNG_FORMAT_RGB; /* alpha is composited onto black */
    if (pi.width < 1 || pi.height < 1 || pi.width > 65535 || pi.height > 65535) {
        png_image_free(&pi);
        absa_errorf("%s: unsupported PNG size %ux%u", name, pi.width, pi.height);
        return ABSA_EFORMAT;
    }
    uint8_t *out = malloc(PNG_IMAGE_SIZE(pi));
    if (!out) {
        png_image_free(&pi);
        absa_errorf("%s: out of memory", name);
        return ABSA_ENOMEM;
    }
    if (!png_image_finish_read(&pi, NULL, out, 0, NULL)) {
        absa_errorf("%s: unreadable PNG (%s)", name, pi.message);
        free(out);
        return ABSA_EFORMAT;
    }
    img->rgb = out;
    img->h = (int)pi.height;
    img->w = (int)pi.width;
    return ABSA_OK;
}

absa_status absa_image_decode(const char *name, const uint8_t *buf, size_t len, absa_image *img)
{
    memset(img, 0, sizeof *img);
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return absa_decode_jpeg(name, buf, len, img);
    if (len >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8)) return absa_decode_png(name, buf, len, img);
    absa_errorf("%s: unreadable image (neither JPEG nor PNG magic bytes)", name);
    return ABSA_EFORMAT;
}

void absa_image_free(absa_image *img)
{
    free(img->rgb);
    img->rgb = NULL;
}

void absa_image_resize_chw(const absa_image *img, int H, int W, uint8_t *chw)
{
    const size_t plane = (size_t)H * W;
    if (img->h == H && img->w == W) {
        for (size_t k = 0; k < plane; k++)
            for (int c = 0; c < 3; c++) chw[c * plane + k] = img->rgb[3 * k + c];
        return;
    }
    const double sy = (double)img->h / H, sx = (double)img->w / W;
    for (int y = 0; y < H; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        int y0 = (int)fy, y1 = y0 + 1 < img->h ? y0 + 1 : y0;
        double ay = fy - y0;
        for (int x = 0; x < W; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            int x0 = (int)fx, x1 = x0 + 1 < img->w ? x0 + 1 : x0;
            double ax = fx - x0;
            for (int c = 0; c < 3; c++) {
                const uint8_t *p = img->rgb + c;
                double v00 = p[3 * ((size_t)y0 * img->w + x0)], v01 = p[3 * ((size_t)y0 * img->w + x1)];
                double v10 = p[3 * ((size_t)y1 * img->w + x0)], v11 = p[3 * ((size_t)y1 * img->w + x1)];
                double v = (1 - ay) * ((1 - ax) * v00 + ax * v01) + ay * ((1 - ax) * v10 + ax * v11);
                chw[c * plane + (size_t)y * W + x] = (uint8_t)(v + 0.5);
            }
        }
    }
}
