/* cmd_info.c — `absa info FILE.h5`: prints a packed dataset's attributes (format, layout, classes,
 * mean/std, sources with checksums) and, per split, the image shape, chunking, compression,
 * count and the label histogram. Works on any file with /<split>/images + /<split>/labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "h5pack.h"

/* Print a string or string-array attribute; returns 0 if absent. */
static int absa_info_strings(hid_t loc, const char *name, const char *label, int one_per_line)
{
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), sp = H5Aget_space(a), ft = H5Aget_type(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(ft) == H5T_STRING && n > 0 && H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **v = calloc((size_t)n, sizeof *v);
        if (v && H5Aread(a, mt, v) >= 0) {
            if (H5Sget_simple_extent_type(sp) == H5S_SCALAR) {
                printf("%s: %s\n", label, v[0] ? v[0] : "");
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
                free(v);
                H5Tclose(mt);
                goto done;
            }
            printf("%s (%lld):", label, (long long)n);
            for (hssize_t i = 0; i < n; i++) {
                if (one_per_line) printf("\n  %s", v[i]);
                else printf("%s %s", i ? "," : "", v[i]);
            }
            printf("\n");
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        }
        free(v);
        H5Tclose(mt);
    } else if (H5Tget_class(ft) == H5T_STRING) {
        char buf[1024];
        if (absa_h5_read_attr_string(loc, name, buf, sizeof buf) == ABSA_OK) printf("%s: %s\n", label, buf);
    }
done:
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return 1;
}

static void absa_info_numbers(hid_t loc, const char *name, const char *label)
{
    if (H5Aexists(loc, name) <= 0) return;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (v && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
        printf("%s:", label);
        for (hssize_t i = 0; i < n; i++) printf(" %.6g", v[i]);
        printf("\n");
    }
    free(v);
    H5Sclose(sp);
    H5Aclose(a);
}

static void absa_info_sources(hid_t f)
{
    if (H5Aexists(f, "source_files") <= 0) return;
    hid_t a = H5Aopen(f, "source_files", H5P_DEFAULT), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    hid_t mt = H5Tcopy(H5T_C_S1), ft = H5Aget_type(a);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    H5Tclose(ft);
    char **v = calloc((size_t)n, sizeof *v);
    uint64_t *sz = calloc((size_t)n, sizeof *sz);
    uint32_t *crc = calloc((size_t)n, sizeof *crc);
    if (v && sz && crc && H5Aread(a, mt, v) >= 0) {
        hid_t as = H5Aopen(f, "source_sizes", H5P_DEFAULT), ac = H5Aopen(f, "source_crc32", H5P_DEFAULT);
        if (as >= 0) H5Aread(as, H5T_NATIVE_UINT64, sz);
        if (ac >= 0) H5Aread(ac, H5T_NATIVE_UINT32, crc);
        if (as >= 0) H5Aclose(as);
        if (ac >= 0) H5Aclose(ac);
        printf("sources (%lld; zlib CRC-32 of the file bytes):\n", (long long)n);
        for (hssize_t i = 0; i < n; i++)
            printf("  %s  %llu bytes  crc32 %08x\n", v[i], (unsigned long long)sz[i], crc[i]);
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
    }
    free(v);
    free(sz);
    free(crc);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Aclose(a);
}

/* Prints the histogram; returns how many labels lie outside [0, ncls), or -1 when the dataset
 * cannot be read (a chunk failing its checksum). */
static int64_t absa_info_labels(hid_t g, const char *name, int ncls)
{
    int64_t out = -1;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int32_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (ncls < 1) ncls = 1;
    uint64_t *h = calloc((size_t)ncls + 1, sizeof *h);
    if (v && h && H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) {
        for (hssize_t i = 0; i < n; i++) h[v[i] >= 0 && v[i] < ncls ? v[i] : ncls]++;
        printf("  %s histogram:", name);
        for (int c = 0; c < ncls; c++) printf("%s%d:%llu", c % 10 ? " " : "\n    ", c, (unsigned long long)h[c]);
        if (h[ncls]) printf("\n    OUT OF RANGE: %llu", (unsigned long long)h[ncls]);
        printf("\n");
        out = (int64_t)h[ncls];
    }
    free(v);
    free(h);
    H5Sclose(sp);
    H5Dclose(d);
    return out;
}

typedef struct absa_info_ctx {
    int ncls, ncoarse, nsplits, has_ncls;
    uint64_t bad;       /* labels out of range, all splits */
    char bad_where[96]; /* the first split/dataset that has some */
    char unreadable[256]; /* the first label dataset that cannot be read, and why */
} absa_info_ctx;

static void absa_info_count_bad(absa_info_ctx *ctx, uint64_t n, const char *split, const char *dset)
{
    if (n && !ctx->bad) snprintf(ctx->bad_where, sizeof ctx->bad_where, "%s/%s", split, dset);
    ctx->bad += n;
}

static herr_t absa_info_split(hid_t root, const char *name, const H5L_info_t *li, void *data)
{
    (void)li;
    absa_info_ctx *ctx = data;
    if (H5Lexists(root, name, H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
    if (g < 0) return 0;
    hid_t d = H5Dopen2(g, "images", H5P_DEFAULT);
    if (d < 0) {
        H5Gclose(g);
        return 0;
    }
    ctx->nsplits++;
    hid_t sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    hsize_t dims[8] = {0}, chunk[8] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    printf("split %s: images", name);
    for (int i = 0; i < nd && i < 8; i++) printf("%s%llu", i ? "x" : " ", (unsigned long long)dims[i]);
    printf(" uint8");
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && nd <= 8) {
        H5Pget_chunk(dcpl, nd, chunk);
        size_t bytes = 1;
        for (int i = 0; i < nd; i++) bytes *= (size_t)chunk[i];
        printf(", chunks of %llu samples (%.3f MiB)", (unsigned long long)chunk[0], (double)bytes / 1048576.0);
    } else {
        printf(", contiguous");
    }
    int nf = H5Pget_nfilters(dcpl), shown = 0, fletcher = 0;
    printf(", compression ");
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char fname[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL);
        if (id == H5Z_FILTER_FLETCHER32) {
            fletcher = 1;
            continue;
        }
        printf("%s%s(%d)", shown++ ? "+" : "", fname[0] ? fname : "filter", (int)id);
    }
    if (!shown) printf("none");
    printf(", checksums %s\n", fletcher ? "fletcher32" : "none (re-pack to add them)");
    if (H5Aexists(g, "count") > 0) {
        uint64_t c = 0;
        hid_t a = H5Aopen(g, "count", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_UINT64, &c);
        H5Aclose(a);
        printf("  count: %llu\n", (unsigned long long)c);
    }
    /* out-of-range labels are an error only where the file states its class count */
    int64_t nb = absa_info_labels(g, "labels", ctx->ncls);
    if (nb < 0 && !ctx->unreadable[0])
        snprintf(ctx->unreadable, sizeof ctx->unreadable, "/%s/labels (%s)", name, absa_h5_detail());
    if (nb > 0 && ctx->has_ncls) absa_info_count_bad(ctx, (uint64_t)nb, name, "labels");
    if (H5Lexists(g, "coarse_labels", H5P_DEFAULT) > 0) {
        nb = absa_info_labels(g, "coarse_labels", ctx->ncoarse);
        if (nb < 0 && !ctx->unreadable[0])
            snprintf(ctx->unreadable, sizeof ctx->unreadable, "/%s/coarse_labels (%s)", name, absa_h5_detail());
        if (nb > 0 && ctx->ncoarse > 0) absa_info_count_bad(ctx, (uint64_t)nb, name, "coarse_labels");
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Dclose(d);
    H5Gclose(g);
    return 0;
}

static int absa_info_int_attr(hid_t loc, const char *name)
{
    int v = 0;
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    return v;
}

int absa_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: absa info FILE.h5\n\nDescribe a packed dataset: attributes, classes, mean/std,\n"
                   "sources and checksums, and per split the shape, chunking, compression, chunk\n"
                   "checksums (fletcher32, or none: packed by an older absa), count and label\n"
                   "histogram (a label chunk failing its checksum is an error).\n");
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "absa info: unknown option '%.*s' (see 'absa info --help')\n",
                    (int)strcspn(argv[i], "="), argv[i]);
            return 2;
        }
        if (path) {
            fprintf(stderr, "absa info: unexpected argument '%s' (usage: absa info FILE.h5)\n", argv[i]);
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: absa info FILE.h5\n");
        return 2;
    }
    absa_h5_quiet();
    hid_t fapl = absa_h5_fapl_nolock(), f = H5I_INVALID_HID;
    absa_status st = absa_h5_open_packed(path, fapl, &f);
    H5Pclose(fapl);
    /* class names, sources, splits are variable-length strings: their storage is checked first */
    if (st == ABSA_OK && (st = absa_h5_check_global_heaps(path, f)) != ABSA_OK) H5Fclose(f);
    if (st != ABSA_OK) {
        fprintf(stderr, "absa info: error: %s\n", absa_last_error());
        return 1;
    }
    absa_info_ctx ctx = {absa_info_int_attr(f, "num_classes"), absa_info_int_attr(f, "num_coarse_classes"), 0, 0, 0, "", ""};
    ctx.has_ncls = ctx.ncls > 0;
    printf("file: %s\n", path);
    if (H5Aexists(f, "format_version") > 0) printf("format_version: %d\n", absa_info_int_attr(f, "format_version"));
    absa_info_strings(f, "layout", "layout", 0);
    absa_info_strings(f, "source_format", "source_format", 0);
    absa_info_strings(f, "packer_version", "packer_version", 0);
    absa_info_strings(f, "class_names", "class_names", 0);
    absa_info_strings(f, "coarse_class_names", "coarse_class_names", 0);
    absa_info_numbers(f, "mean", "mean ([0,1] units, per channel)");
    absa_info_numbers(f, "std", "std");
    absa_info_strings(f, "stats_split", "stats from split", 0);
    absa_info_sources(f);
    if (ctx.ncls < 1) ctx.ncls = 1;
    /* splits in packing order (the `splits` attribute), else in name order */
    if (H5Aexists(f, "splits") > 0) {
        hid_t a = H5Aopen(f, "splits", H5P_DEFAULT), sp = H5Aget_space(a), ft = H5Aget_type(a);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        char **v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
        if (v && H5Tis_variable_str(ft) > 0 && H5Aread(a, mt, v) >= 0) {
            for (hssize_t i = 0; i < n; i++) absa_info_split(f, v[i], NULL, &ctx);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        }
        free(v);
        H5Tclose(mt);
        H5Tclose(ft);
        H5Sclose(sp);
        H5Aclose(a);
    }
    if (ctx.nsplits == 0) H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, absa_info_split, &ctx);
    H5Fclose(f);
    if (ctx.nsplits == 0) {
        fprintf(stderr, "absa info: error: %s: no /<split>/images dataset found\n", path);
        return 1;
    }
    if (ctx.unreadable[0]) {
        fflush(stdout);
        fprintf(stderr, "absa info: error: %s: cannot read %s (corrupt file?)\n", path, ctx.unreadable);
        return 1;
    }
    if (ctx.bad) { /* the description is printed above; the file is still not usable for training */
        fflush(stdout);
        fprintf(stderr, "absa info: error: %s: %llu labels out of range (first in /%s); the file is corrupt\n",
                path, (unsigned long long)ctx.bad, ctx.bad_where);
        return 1;
    }
    return 0;
}
