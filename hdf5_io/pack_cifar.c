/* pack_cifar.c — CIFAR-10 and CIFAR-100 "binary version" files into splits `train` and `test`.
 * CIFAR-10 records are <1 label byte><3072 image bytes> (data_batch_*.bin -> train,
 * test_batch.bin -> test, class names from batches.meta.txt); CIFAR-100 records are
 * <coarse byte><fine byte><3072 bytes> (train.bin, test.bin; fine labels go to `labels`, coarse
 * ones to `coarse_labels`; names from fine_label_names.txt / coarse_label_names.txt). Images are
 * already channel-major 3x32x32. Every file's size must be a whole number of records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5pack.h"

#define ABSA_CIFAR_IMG 3072
#define ABSA_CIFAR_MAX_FILES 64

static const char *const absa_cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                   "dog",      "frog",       "horse", "ship", "truck"};

typedef struct absa_cifar_files {
    char *split[2][ABSA_CIFAR_MAX_FILES]; /* 0 train, 1 test */
    int n[2];
    char *fine_names, *coarse_names; /* meta text files (cifar10: fine = batches.meta.txt) */
} absa_cifar_files;

static absa_status absa_cifar_add(absa_cifar_files *f, int s, const char *path)
{
    if (f->n[s] == ABSA_CIFAR_MAX_FILES) {
        absa_errorf("too many CIFAR batch files");
        return ABSA_EINVAL;
    }
    f->split[s][f->n[s]++] = strdup(path);
    return ABSA_OK;
}

static void absa_cifar_files_free(absa_cifar_files *f)
{
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < f->n[s]; i++) free(f->split[s][i]);
    free(f->fine_names);
    free(f->coarse_names);
}

/* Classify one file by its name; returns 0 when the name is not a CIFAR file name. */
static int absa_cifar_classify(absa_cifar_files *f, const char *path, int hundred, absa_status *st)
{
    const char *b = absa_path_basename(path);
    *st = ABSA_OK;
    if (!hundred) {
        if (!strncmp(b, "data_batch", 10)) *st = absa_cifar_add(f, 0, path);
        else if (!strncmp(b, "test_batch", 10)) *st = absa_cifar_add(f, 1, path);
        else if (!strcmp(b, "batches.meta.txt")) f->fine_names = strdup(path);
        else return 0;
    } else {
        if (!strcmp(b, "train.bin")) *st = absa_cifar_add(f, 0, path);
        else if (!strcmp(b, "test.bin")) *st = absa_cifar_add(f, 1, path);
        else if (!strcmp(b, "fine_label_names.txt")) f->fine_names = strdup(path);
        else if (!strcmp(b, "coarse_label_names.txt")) f->coarse_names = strdup(path);
        else return 0;
    }
    return 1;
}

static absa_status absa_cifar_collect(const absa_pack_args *a, int hundred, absa_cifar_files *f)
{
    absa_status status = ABSA_OK;
    char path[4096];
    for (int i = 0; i < a->ninputs; i++) {
        if (absa_path_is_dir(a->inputs[i])) {
            static const char *const n10[] = {"test_batch.bin", "batches.meta.txt"};
            static const char *const n100[] = {"train.bin", "test.bin", "fine_label_names.txt",
                                               "coarse_label_names.txt"};
            if (!hundred)
                for (int k = 1; k < ABSA_CIFAR_MAX_FILES; k++) {
                    snprintf(path, sizeof path, "%s/data_batch_%d.bin", a->inputs[i], k);
                    if (!absa_path_exists(path)) break;
                    absa_cifar_classify(f, path, 0, &status);
                    if (status != ABSA_OK) goto cleanup;
                }
            const char *const *names = hundred ? n100 : n10;
            int nn = hundred ? 4 : 2;
            for (int k = 0; k < nn; k++) {
                snprintf(path, sizeof path, "%s/%s", a->inputs[i], names[k]);
                if (!absa_path_exists(path)) continue;
                absa_cifar_classify(f, path, hundred, &status);
                if (status != ABSA_OK) goto cleanup;
            }
        } else {
            if (!absa_cifar_classify(f, a->inputs[i], hundred, &status))
                ABSA_FAIL(ABSA_EINVAL, "%s: not a %s file name (%s)", a->inputs[i],
                          hundred ? "CIFAR-100" : "CIFAR-10",
                          hundred ? "train.bin, test.bin, *_label_names.txt"
                                  : "data_batch_*.bin, test_batch.bin, batches.meta.txt");
            if (status != ABSA_OK) goto cleanup;
        }
    }
    if (f->n[0] + f->n[1] == 0) ABSA_FAIL(ABSA_ENOTFOUND, "no CIFAR batch files found in the inputs");
cleanup:
    return status;
}

static absa_status absa_cifar_names(const char *file, int want, const char *what,
                                    const char *const *fallback, absa_h5w *w, int coarse)
{
    absa_status status = ABSA_OK;
    char **names = NULL;
    int n = 0;
    if (file) {
        ABSA_TRY(absa_read_name_file(file, &names, &n));
        if (n != want) ABSA_FAIL(ABSA_EFORMAT, "%s: %d %s names, expected %d", file, n, what, want);
    }
    const char *const *use = names ? (const char *const *)names : fallback;
    ABSA_TRY(coarse ? absa_h5w_set_coarse_classes(w, want, use) : absa_h5w_set_classes(w, want, use));
cleanup:
    absa_free_names(names, n);
    return status;
}

static absa_status absa_cifar_split(const absa_cifar_files *f, int s, int hundred, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    const size_t lab_bytes = hundred ? 2 : 1, rec = lab_bytes + ABSA_CIFAR_IMG, block = 256;
    uint64_t total = 0;
    uint8_t *buf = NULL, *img = NULL;
    int32_t *fine = NULL, *coarse = NULL;
    FILE *fp = NULL;
    for (int i = 0; i < f->n[s]; i++) {
        struct stat sb;
        if (stat(f->split[s][i], &sb) != 0) ABSA_FAIL(ABSA_EIO, "%s: cannot stat", f->split[s][i]);
        if (sb.st_size == 0) ABSA_FAIL(ABSA_EFORMAT, "%s: empty file", f->split[s][i]);
        if ((uint64_t)sb.st_size % rec != 0)
            ABSA_FAIL(ABSA_EFORMAT, "%s: size %lld is not a multiple of the %zu-byte record (wrong record size or truncated file)",
                      f->split[s][i], (long long)sb.st_size, rec);
        total += (uint64_t)sb.st_size / rec;
        ABSA_TRY(absa_h5w_add_source(w, f->split[s][i]));
    }
    ABSA_TRY(absa_h5w_begin_split(w, s == 0 ? "train" : "test", total, 3, 32, 32));
    buf = malloc(block * rec);
    img = malloc(block * ABSA_CIFAR_IMG);
    fine = malloc(block * sizeof *fine);
    coarse = malloc(block * sizeof *coarse);
    if (!buf || !img || !fine || !coarse) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    for (int i = 0; i < f->n[s]; i++) {
        fp = fopen(f->split[s][i], "rb");
        if (!fp) ABSA_FAIL(ABSA_EIO, "%s: cannot open", f->split[s][i]);
        size_t k;
        while ((k = fread(buf, rec, block, fp)) > 0) {
            for (size_t j = 0; j < k; j++) {
                const uint8_t *r = buf + j * rec;
                fine[j] = r[lab_bytes - 1];
                coarse[j] = r[0];
                memcpy(img + j * ABSA_CIFAR_IMG, r + lab_bytes, ABSA_CIFAR_IMG);
            }
            ABSA_TRY(absa_h5w_append(w, img, fine, hundred ? coarse : NULL, k));
        }
        if (ferror(fp)) ABSA_FAIL(ABSA_EIO, "%s: read error", f->split[s][i]);
        fclose(fp);
        fp = NULL;
    }
    ABSA_TRY(absa_h5w_end_split(w));
cleanup:
    if (fp) fclose(fp);
    free(buf);
    free(img);
    free(fine);
    free(coarse);
    return status;
}

static absa_status absa_pack_cifar(const absa_pack_args *a, absa_h5w *w, int hundred)
{
    absa_status status = ABSA_OK;
    absa_cifar_files f;
    memset(&f, 0, sizeof f);
    char **names = NULL;
    int nnames = 0;
    ABSA_TRY(absa_cifar_collect(a, hundred, &f));
    if (a->class_names) {
        ABSA_TRY(absa_split_names(a->class_names, &names, &nnames));
        if (nnames != (hundred ? 100 : 10))
            ABSA_FAIL(ABSA_EINVAL, "--class-names gives %d names, expected %d", nnames, hundred ? 100 : 10);
        ABSA_TRY(absa_h5w_set_classes(w, nnames, (const char *const *)names));
    } else {
        ABSA_TRY(absa_cifar_names(f.fine_names, hundred ? 100 : 10, "class",
                                  hundred ? NULL : absa_cifar10_names, w, 0));
    }
    if (hundred) ABSA_TRY(absa_cifar_names(f.coarse_names, 20, "coarse class", NULL, w, 1));
    for (int s = 0; s < 2; s++)
        if (f.n[s] > 0) ABSA_TRY(absa_cifar_split(&f, s, hundred, w));
cleanup:
    absa_free_names(names, nnames);
    absa_cifar_files_free(&f);
    return status;
}

absa_status absa_pack_cifar10(const absa_pack_args *a, absa_h5w *w) { return absa_pack_cifar(a, w, 0); }
absa_status absa_pack_cifar100(const absa_pack_args *a, absa_h5w *w) { return absa_pack_cifar(a, w, 1); }
