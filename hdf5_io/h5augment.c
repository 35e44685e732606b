/* h5augment.c — float batches with normalisation and the reference's augmentation (random crop
 * with zero padding, horizontal flip) drawn from the counter-based hash (base_hash.c). See
 * h5reader.h. */
#include <stdlib.h>
#include <string.h>

#include "h5reader.h"

void absa_u8_to_f32(const uint8_t *u8, const uint64_t *ids, size_t n, int C, int H, int W,
                    const float *mean, const float *std, int normalise, int crop_pad, int flip,
                    uint64_t aug_seed, float *x)
{
    const size_t plane = (size_t)H * (size_t)W, sb = (size_t)C * plane;
    float lut[4][256];
    for (int c = 0; c < C; c++)
        for (int v = 0; v < 256; v++) {
            float u = (float)v / 255.0f;
            lut[c][v] = normalise ? (u - mean[c]) / std[c] : u;
        }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *in = u8 + i * sb;
        float *out = x + i * sb;
        int oy = 0, ox = 0, fl = 0;
        if (crop_pad > 0 || flip) {
            uint64_t h = absa_hash64(aug_seed, ids[i]);
            if (crop_pad > 0) {
                uint64_t span = 2 * (uint64_t)crop_pad + 1;
                oy = (int)(absa_hash64(h, 0) % span) - crop_pad;
                ox = (int)(absa_hash64(h, 1) % span) - crop_pad;
            }
            if (flip) fl = (int)(absa_hash64(h, 2) & 1);
        }
        if (oy == 0 && ox == 0 && !fl) {
            for (int c = 0; c < C; c++)
                for (size_t k = 0; k < plane; k++) out[c * plane + k] = lut[c][in[c * plane + k]];
            continue;
        }
        /* out[y][x] = in[y + oy][(fl ? W-1-x : x) + ox], zero (uint8) outside the image */
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++) {
                int sy = y + oy;
                float *o = out + c * plane + (size_t)y * W;
                if (sy < 0 || sy >= H) {
                    for (int xx = 0; xx < W; xx++) o[xx] = lut[c][0];
                    continue;
                }
                const uint8_t *row = in + c * plane + (size_t)sy * W;
                for (int xx = 0; xx < W; xx++) {
                    int sx = (fl ? W - 1 - xx : xx) + ox;
                    o[xx] = (sx < 0 || sx >= W) ? lut[c][0] : lut[c][row[sx]];
                }
            }
    }
}

absa_status absa_h5reader_gather_f32(absa_h5reader *r, const uint64_t *idx, size_t n,
                                     int normalise, int crop_pad, int flip, uint64_t aug_seed,
                                     float *x, int32_t *labels)
{
    absa_status status = ABSA_OK;
    int C, H, W;
    absa_h5reader_shape(r, &C, &H, &W);
    const size_t sb = (size_t)C * (size_t)H * (size_t)W;
    uint8_t *u8 = NULL;
    if (crop_pad < 0 || crop_pad > H || crop_pad > W)
        ABSA_FAIL(ABSA_EINVAL, "crop padding %d out of range for %dx%d images", crop_pad, H, W);
    u8 = malloc(n * sb + 1);
    if (!u8) ABSA_FAIL(ABSA_ENOMEM, "out of memory (batch of %zu samples)", n);
    ABSA_TRY(absa_h5reader_gather_u8(r, idx, n, u8, labels));
    absa_u8_to_f32(u8, idx, n, C, H, W, absa_h5reader_mean(r), absa_h5reader_std(r), normalise,
                   crop_pad, flip, aug_seed, x);
cleanup:
    free(u8);
    return status;
}
