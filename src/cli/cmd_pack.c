/* cmd_pack.c — `absa pack`: parse options, run a format packer into a temporary file next to the
 * output, optionally re-run it in verify mode against that file (byte-for-byte comparison), and
 * rename the temporary file onto the output only when everything succeeded. On any error the
 * temporary file is removed, so no partial output is ever left behind: also on SIGINT/SIGTERM/SIGHUP
 * (tmpfiles.h), and the OUT.h5.partial-<pid> files of killed packs are swept at the next start. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "h5pack.h"
#include "tmpfiles.h"

#define ABSA_DEFAULT_IDX_DIR "/usr/share/datasets/fashion-mnist"

typedef struct absa_pack_format {
    const char *name;
    absa_packer_fn fn;
} absa_pack_format;

static const absa_pack_format absa_pack_formats[] = {
    {"idx", absa_pack_idx},         {"cifar10", absa_pack_cifar10}, {"cifar100", absa_pack_cifar100},
    {"svhn", absa_pack_svhn},       {"imagefolder", absa_pack_imagefolder},
};

static void absa_pack_usage(FILE *f)
{
    fprintf(f,
            "usage: absa pack --format F [--input PATH...] --output OUT.h5 [options]\n\n"
            "Pack a dataset into one HDF5 file (layout: docs/data.md).\n\n"
            "  --format F         idx | cifar10 | cifar100 | svhn | imagefolder\n"
            "  --input PATH...    files or directories (idx default: " ABSA_DEFAULT_IDX_DIR ")\n"
            "                     idx: train-/t10k- images and labels, gzipped or raw\n"
            "                     cifar10: binary version data_batch_*.bin, test_batch.bin, batches.meta.txt,\n"
            "                       or python version cifar-10-python.tar.gz or its folder cifar-10-batches-py\n"
            "                     cifar100: binary version train.bin, test.bin, fine/coarse_label_names.txt,\n"
            "                       or python version cifar-100-python.tar.gz or its folder cifar-100-python\n"
            "                     svhn: train_32x32.mat, test_32x32.mat, extra_32x32.mat\n"
            "                     imagefolder: a root with train/ (class folders) and val/ or test/\n"
            "  --output OUT.h5    output file (its directory must exist)\n"
            "  --force            overwrite an existing output\n"
            "  --verify           re-read the packed file and compare it byte for byte with the source\n"
            "  --compress C       none (default) | deflate[:LEVEL] | blosc[:LEVEL] (blosc needs its plugin)\n"
            "  --chunk-bytes N    target chunk size in bytes (default 1048576; chunks hold whole samples)\n"
            "  --class-names A,B  class names (default: from the dataset, else 0..K-1)\n"
            "  --size HxW         imagefolder: output image size (default 64x64)\n"
            "  --quiet            no progress output\n"
            "  --help             this text\n");
}

static int absa_pack_parse_compress(const char *s, absa_h5w_opts *o)
{
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    int level = colon ? atoi(colon + 1) : 0;
    if (n == 4 && !strncmp(s, "none", 4) && !colon) {
        o->compress = ABSA_H5_COMPRESS_NONE;
    } else if (n == 7 && !strncmp(s, "deflate", 7)) {
        o->compress = ABSA_H5_COMPRESS_DEFLATE;
        o->level = colon ? level : 4;
    } else if (n == 5 && !strncmp(s, "blosc", 5)) {
        o->compress = ABSA_H5_COMPRESS_BLOSC;
        o->level = colon ? level : 5;
    } else {
        return -1;
    }
    if (o->compress != ABSA_H5_COMPRESS_NONE && (o->level < 1 || o->level > 9)) return -1;
    return 0;
}

static int absa_pack_fail(const char *what)
{
    fprintf(stderr, "absa pack: error: %s\n", what);
    return 1;
}

/* Runs the packer into `path` in the given mode. */
static absa_status absa_pack_run(absa_packer_fn fn, const char *fmt, const absa_pack_args *a,
                                 const char *path, absa_h5w_mode mode, const absa_h5w_opts *o)
{
    absa_status status = ABSA_OK;
    absa_h5w *w = NULL;
    ABSA_TRY(absa_h5w_open(path, mode, o, fmt, &w));
    status = fn(a, w);
    if (status != ABSA_OK) goto cleanup;
    status = absa_h5w_close(w);
    w = NULL;
cleanup:
    absa_h5w_discard(w);
    return status;
}

int absa_cmd_pack(int argc, char **argv)
{
    const char *format = NULL, *output = NULL;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int ninputs = 0, force = 0, verify = 0, rc = 0;
    absa_h5w_opts o = {0};
    absa_pack_args a = {0};
    char tmp[PATH_MAX + 64];
    if (!inputs) return absa_pack_fail("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            absa_pack_usage(stdout);
            goto done;
        } else if (!strcmp(s, "--format") && more) {
            format = argv[++i];
        } else if (!strcmp(s, "--output") && more) {
            output = argv[++i];
        } else if (!strcmp(s, "--input") && more) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) inputs[ninputs++] = argv[++i];
        } else if (!strcmp(s, "--force")) {
            force = 1;
        } else if (!strcmp(s, "--verify")) {
            verify = 1;
        } else if (!strcmp(s, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(s, "--compress") && more) {
            if (absa_pack_parse_compress(argv[++i], &o) != 0) {
                fprintf(stderr, "absa pack: bad --compress '%s' (none, deflate[:1-9], blosc[:1-9])\n", argv[i]);
                rc = 2;
                goto done;
            }
        } else if (!strcmp(s, "--chunk-bytes") && more) {
            long long v = atoll(argv[++i]);
            if (v < 1) {
                fprintf(stderr, "absa pack: bad --chunk-bytes '%s'\n", argv[i]);
                rc = 2;
                goto done;
            }
            o.chunk_bytes = (size_t)v;
        } else if (!strcmp(s, "--class-names") && more) {
            a.class_names = argv[++i];
        } else if (!strcmp(s, "--size") && more) {
            if (sscanf(argv[++i], "%dx%d", &a.size_h, &a.size_w) != 2 || a.size_h < 1 || a.size_w < 1 ||
                a.size_h > ABSA_H5_MAX_DIM || a.size_w > ABSA_H5_MAX_DIM) {
                fprintf(stderr, "absa pack: bad --size '%s' (HxW)\n", argv[i]);
                rc = 2;
                goto done;
            }
        } else {
            static const char *const with_value[] = {"--format", "--output", "--input", "--compress",
                                                     "--chunk-bytes", "--class-names", "--size"};
            int known = 0;
            for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(s, with_value[k]);
            if (known) fprintf(stderr, "absa pack: option '%s' needs a value (see 'absa pack --help')\n", s);
            else fprintf(stderr, "absa pack: unknown option '%.*s' (see 'absa pack --help')\n", (int)strcspn(s, "="), s);
            rc = 2;
            goto done;
        }
    }
    if (!format || !output) {
        fprintf(stderr, "absa pack: --format and --output are required (see 'absa pack --help')\n");
        rc = 2;
        goto done;
    }
    const absa_pack_format *pf = NULL;
    for (size_t k = 0; k < sizeof absa_pack_formats / sizeof absa_pack_formats[0]; k++)
        if (!strcmp(format, absa_pack_formats[k].name)) pf = &absa_pack_formats[k];
    if (!pf) {
        fprintf(stderr, "absa pack: unknown format '%s' (idx, cifar10, cifar100, svhn, imagefolder)\n", format);
        rc = 2;
        goto done;
    }
    if (ninputs == 0) {
        if (strcmp(format, "idx") != 0) {
            fprintf(stderr, "absa pack: --input is required for format %s\n", format);
            rc = 2;
            goto done;
        }
        inputs[ninputs++] = ABSA_DEFAULT_IDX_DIR;
    }
    a.inputs = inputs;
    a.ninputs = ninputs;
    char msg[PATH_MAX + 200];
    if (o.compress == ABSA_H5_COMPRESS_BLOSC && H5Zfilter_avail(ABSA_H5_BLOSC_FILTER) <= 0) {
        rc = absa_pack_fail("blosc compression requested but the HDF5 blosc filter (id 32001) is not "
                            "available (install the hdf5-blosc plugin and set HDF5_PLUGIN_PATH, or use "
                            "--compress deflate)");
        goto done;
    }
    for (int k = 0; k < ninputs; k++)
        if (!absa_path_exists(inputs[k])) {
            snprintf(msg, sizeof msg, "%s: no such file or directory", inputs[k]);
            rc = absa_pack_fail(msg);
            goto done;
        }
    {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", output);
        char *slash = strrchr(dir, '/');
        if (slash) {
            if (slash == dir) slash[1] = '\0';
            else *slash = '\0';
        } else {
            snprintf(dir, sizeof dir, ".");
        }
        if (!absa_path_is_dir(dir)) {
            snprintf(msg, sizeof msg, "output directory %s does not exist", dir);
            rc = absa_pack_fail(msg);
            goto done;
        }
    }
    if (absa_path_exists(output) && !force) {
        snprintf(msg, sizeof msg, "%s exists (use --force to overwrite)", output);
        rc = absa_pack_fail(msg);
        goto done;
    }
    {
        /* partial files of packs to the same output that were killed (their pid is gone) */
        char dir[PATH_MAX], prefix[PATH_MAX];
        const char *slash = strrchr(output, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - output) + (slash == output) : 1, slash ? output : ".");
        snprintf(prefix, sizeof prefix, "%s.partial-", slash ? slash + 1 : output);
        absa_tmp_sweep(dir, prefix);
    }
    snprintf(tmp, sizeof tmp, "%s.partial-%ld", output, (long)getpid());
    absa_clear_error();
    absa_tmp_guard(tmp); /* Ctrl-C or a kill while writing removes it */
    absa_status st = absa_pack_run(pf->fn, pf->name, &a, tmp, ABSA_H5W_WRITE, &o);
    if (st == ABSA_OK && verify) st = absa_pack_run(pf->fn, pf->name, &a, tmp, ABSA_H5W_VERIFY, &o);
    if (st == ABSA_OK && rename(tmp, output) != 0) {
        absa_errorf("cannot rename %s to %s", tmp, output);
        st = ABSA_EIO;
    }
    if (st == ABSA_OK) absa_tmp_guard(NULL);
    if (st != ABSA_OK) {
        unlink(tmp);
        absa_tmp_guard(NULL);
        rc = absa_pack_fail(absa_last_error());
        goto done;
    }
    if (!o.quiet) fprintf(stderr, "absa pack: wrote %s%s\n", output, verify ? " (verified)" : "");
done:
    free(inputs);
    return rc;
}
