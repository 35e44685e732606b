/* test_h5_imagefolder.c — `absa pack --format imagefolder` on a TinyImageNet-style tree this test
 * writes with libpng/libjpeg: train/CLASS/images/ PNGs (exact pixels from a closed form at the
 * output size), a grey PNG (-> R=G=B), a PNG named .JPEG (magic bytes win), a PNG at twice the
 * size made of 2x2 constant blocks (bilinear halving is then exact), flat-colour RGB, grey and
 * CMYK JPEGs (checked within JPEG rounding; CMYK as Adobe-inverted C*K/255), val/images +
 * val_annotations.txt, and an unlabelled test/images that must be skipped. Everything is read
 * back through the reader. A garbage .jpg must fail the pack with no output left.
 * Usage: test_h5_imagefolder WORKDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "absa_test.h"
#include "cli.h"
#include "h5reader.h"

enum { H = 8, W = 6 };
static char root[4096];

static uint8_t f(int id, int c, int y, int x) { return (uint8_t)(id * 37 + c * 80 + y * 13 + x * 7); }

static void mkdirs(const char *rel)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", root, rel);
    if (system(cmd) != 0) abort();
}

static void write_png(const char *rel, int h, int w, int grey, int id, int block)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int nc = grey ? 1 : 3;
    uint8_t *buf = malloc((size_t)h * w * nc);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nc; c++) buf[(y * w + x) * nc + c] = f(id, c, y / block, x / block);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, p, 0, buf, 0, NULL)) abort();
    free(buf);
}

static void write_jpeg(const char *rel, int ncomp, const uint8_t *colour)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *fp = fopen(p, "wb");
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, fp);
    ci.image_width = 16;
    ci.image_height = 16;
    ci.input_components = ncomp;
    ci.in_color_space = ncomp == 1 ? JCS_GRAYSCALE : ncomp == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 98, TRUE);
    jpeg_start_compress(&ci, TRUE);
    uint8_t row[16 * 4];
    for (int x = 0; x < 16; x++) memcpy(row + x * ncomp, colour, (size_t)ncomp);
    while (ci.next_scanline < 16) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(fp);
}

static void write_text(const char *rel, const char *text)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *fp = fopen(p, "w");
    fputs(text, fp);
    fclose(fp);
}

int main(int argc, char **argv)
{
    snprintf(root, sizeof root, "%s/imagefolder_%ld", argc > 1 ? argv[1] : ".", (long)getpid());
    mkdirs("tree/train/n001/images");
    mkdirs("tree/train/n002/images");
    mkdirs("tree/train/n003/images");
    mkdirs("tree/val/images");
    mkdirs("tree/test/images");
    /* train order: n001 a0 a1, n002 b0(grey) b1(.JPEG) b2(2x), n003 c0 c1 c2 c3 (jpegs + png) */
    write_png("tree/train/n001/images/a0.png", H, W, 0, 0, 1);
    write_png("tree/train/n001/images/a1.png", H, W, 0, 1, 1);
    write_png("tree/train/n002/images/b0.png", H, W, 1, 2, 1);
    write_png("tree/train/n002/images/b1.JPEG", H, W, 0, 3, 1);
    write_png("tree/train/n002/images/b2.png", 2 * H, 2 * W, 0, 4, 2);
    const uint8_t rgb[3] = {200, 100, 50}, grey[1] = {77}, cmyk[4] = {250, 128, 40, 200};
    write_jpeg("tree/train/n003/images/c0.jpg", 3, rgb);
    write_jpeg("tree/train/n003/images/c1.jpeg", 1, grey);
    write_jpeg("tree/train/n003/images/c2.jpg", 4, cmyk);
    write_png("tree/train/n003/images/c3.png", H, W, 0, 5, 1);
    write_png("tree/val/images/v0.png", H, W, 0, 6, 1);
    write_png("tree/val/images/v1.png", H, W, 0, 7, 1);
    write_text("tree/val/val_annotations.txt", "v0.png\tn003\t0\t0\t1\t1\nv1.png\tn001\t0\t0\t1\t1\n");
    write_png("tree/test/images/t0.png", H, W, 0, 8, 1);
    write_text("tree/train/n001/notes.txt", "not an image\n");

    char in[8192], out[8192], size[32];
    snprintf(in, sizeof in, "%s/tree", root);
    snprintf(out, sizeof out, "%s/if.h5", root);
    snprintf(size, sizeof size, "%dx%d", H, W);
    char *av[] = {"pack", "--format", "imagefolder", "--input", in, "--output", out, "--size", size, "--verify", "--quiet", NULL};
    CHECK(absa_cmd_pack(11, av) == 0, "pack: %s", absa_last_error());

    absa_h5reader *r = NULL;
    CHECK(absa_h5reader_open(out, "train", 1 << 20, &r) == ABSA_OK, "open train: %s", absa_last_error());
    if (!r) return absa_test_finish("test_h5_imagefolder");
    CHECK(absa_h5reader_count(r) == 9 && absa_h5reader_num_classes(r) == 3, "train count %zu classes %d",
          absa_h5reader_count(r), absa_h5reader_num_classes(r));
    uint64_t idx[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t img[9 * 3 * H * W];
    int32_t lab[9];
    const int32_t want_lab[9] = {0, 0, 1, 1, 1, 2, 2, 2, 2};
    CHECK(absa_h5reader_gather_u8(r, idx, 9, img, lab) == ABSA_OK, "gather");
    const int exact_id[9] = {0, 1, 2, 3, 4, -1, -1, -1, 5};
    for (int i = 0; i < 9; i++) {
        CHECK(lab[i] == want_lab[i], "sample %d label %d want %d", i, lab[i], want_lab[i]);
        int maxd = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int got = img[((i * 3 + c) * H + y) * W + x], want;
                    if (exact_id[i] >= 0) want = f(exact_id[i], i == 2 ? 0 : c, y, x); /* grey: R=G=B */
                    else if (i == 5) want = rgb[c];
                    else if (i == 6) want = grey[0];
                    else want = (cmyk[c] * cmyk[3] + 127) / 255;
                    int d = abs(got - want);
                    if (d > maxd) maxd = d;
                }
        int tol = exact_id[i] >= 0 ? 0 : 3;
        CHECK(maxd <= tol, "sample %d: max pixel error %d > %d", i, maxd, tol);
    }
    absa_h5reader_close(r);
    CHECK(absa_h5reader_open(out, "val", 1 << 20, &r) == ABSA_OK, "open val: %s", absa_last_error());
    if (r) {
        CHECK(absa_h5reader_count(r) == 2, "val count %zu", absa_h5reader_count(r));
        CHECK(absa_h5reader_gather_u8(r, idx, 2, img, lab) == ABSA_OK, "gather val");
        CHECK(lab[0] == 2 && lab[1] == 0, "val labels from annotations: %d %d", lab[0], lab[1]);
        CHECK(img[0] == f(6, 0, 0, 0) && img[3 * H * W + 5] == f(7, 0, 0, 5), "val pixels");
        absa_h5reader_close(r);
    }
    r = NULL;
    CHECK(absa_h5reader_open(out, "test", 1 << 20, &r) == ABSA_ENOTFOUND, "unlabelled test split skipped");
    absa_h5reader_close(r);

    /* an unreadable image fails the whole pack and leaves nothing */
    write_text("tree/train/n003/images/c9.jpg", "garbage, not a JPEG");
    snprintf(out, sizeof out, "%s/bad.h5", root);
    CHECK(absa_cmd_pack(11, av) == 1, "garbage image must fail");
    CHECK(access(out, F_OK) != 0, "no output after failure");
    printf("  unreadable image message: %s\n", absa_last_error());
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return absa_test_finish("test_h5_imagefolder");
}
