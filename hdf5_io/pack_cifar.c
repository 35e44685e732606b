/* pack_cifar.c — CIFAR-10 and CIFAR-100 into splits `train` and `test`, from the "binary version"
 * or from the "python version" (cifar-10-python.tar.gz / cifar-100-python.tar.gz, or the folder
 * they extract to: pickles read by cifar_py.c; both versions give the same images and labels).
 * Binary version:
 * CIFAR-10 records are <1 label byte><3072 image bytes> (data_batch_*.bin -> train,
 * test_batch.bin -> test, class names from batches.meta.txt); CIFAR-100 records are
 * <coarse byte><fine byte><3072 bytes> (train.bin, test.bin; fine labels go to `labels`, coarse
 * ones to `coarse_labels`; names from fine_label_names.txt / coarse_label_names.txt). Images are
 * already channel-major 3x32x32. Every file's size must be a whole number of records.
 * Python version: data_batch_1..5, test_batch, batches.meta (CIFAR-10) or train, test, meta
 * (CIFAR-100); each batch is decoded whole in memory (the python version holds the whole set
 * in memory while packing: about 180 MB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cifar_py.h"
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
                ABSA_FAIL(ABSA_EINVAL, "%s: not a %s file name (binary version: %s; python version: %s)",
                          a->inputs[i], hundred ? "CIFAR-100" : "CIFAR-10",
                          hundred ? "train.bin, test.bin, *_label_names.txt"
                                  : "data_batch_*.bin, test_batch.bin, batches.meta.txt",
                          hundred ? "cifar-100-python.tar.gz or its folder with train, test, meta"
                                  : "cifar-10-python.tar.gz or its folder with data_batch_1..5, test_batch, batches.meta");
            if (status != ABSA_OK) goto cleanup;
        }
    }
    if (f->n[0] + f->n[1] == 0)
        ABSA_FAIL(ABSA_ENOTFOUND, "no CIFAR batch files found in the inputs (binary version: %s; python version: %s)",
                  hundred ? "train.bin, test.bin" : "data_batch_*.bin, test_batch.bin",
                  hundred ? "cifar-100-python.tar.gz or its folder" : "cifar-10-python.tar.gz or its folder");
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

/* ---- python version ---- */
typedef struct absa_cifar_pyset {
    int hundred;
    absa_cifar_py train[ABSA_CIFAR_MAX_FILES], test, meta; /* train: by batch number */
    int has_train[ABSA_CIFAR_MAX_FILES], has_test, has_meta;
    int bin_members; /* archive members named like the binary version (*.bin) */
    const char *archive; /* for messages: the archive being read, or NULL */
} absa_cifar_pyset;

/* Slot of a python-version file name: 0..63 train batch, 64 test, 65 meta, -1 not one. */
static int absa_cifar_py_slot(const char *path, int hundred)
{
    const char *b = absa_path_basename(path);
    if (hundred) return !strcmp(b, "train") ? 0 : !strcmp(b, "test") ? 64 : !strcmp(b, "meta") ? 65 : -1;
    if (!strcmp(b, "test_batch")) return 64;
    if (!strcmp(b, "batches.meta")) return 65;
    if (strncmp(b, "data_batch_", 11) || b[11] < '1' || b[11] > '9') return -1;
    char *end;
    long k = strtol(b + 11, &end, 10);
    return *end || k < 1 || k > ABSA_CIFAR_MAX_FILES ? -1 : (int)k - 1;
}

static int absa_cifar_py_archive_name(const char *path)
{
    size_t n = strlen(path);
    return (n > 7 && !strcmp(path + n - 7, ".tar.gz")) || (n > 4 && !strcmp(path + n - 4, ".tgz")) ||
           (n > 4 && !strcmp(path + n - 4, ".tar"));
}

/* Is this input (file, archive or folder) the python version? */
static int absa_cifar_py_input(const char *path, int hundred)
{
    char p[4200];
    if (!absa_path_is_dir(path)) return absa_cifar_py_archive_name(path) || absa_cifar_py_slot(path, hundred) >= 0;
    snprintf(p, sizeof p, "%s/%s", path, hundred ? "train" : "data_batch_1");
    if (absa_path_exists(p) && !absa_path_is_dir(p)) return 1;
    snprintf(p, sizeof p, "%s/%s", path, hundred ? "test" : "test_batch");
    return absa_path_exists(p) && !absa_path_is_dir(p);
}

static int absa_cifar_py_want(void *ctx, const char *name)
{
    absa_cifar_pyset *s = ctx;
    size_t n = strlen(name);
    s->bin_members += n > 4 && !strcmp(name + n - 4, ".bin");
    return absa_cifar_py_slot(name, s->hundred) >= 0;
}

static absa_status absa_cifar_py_member(void *ctx, const char *name, const uint8_t *data, size_t n)
{
    absa_status status = ABSA_OK;
    absa_cifar_pyset *s = ctx;
    int slot = absa_cifar_py_slot(name, s->hundred);
    char what[4400];
    snprintf(what, sizeof what, "%s%s%s", s->archive ? s->archive : "", s->archive ? ": " : "", name);
    int *has = slot == 64 ? &s->has_test : slot == 65 ? &s->has_meta : &s->has_train[slot];
    absa_cifar_py *dst = slot == 64 ? &s->test : slot == 65 ? &s->meta : &s->train[slot];
    if (*has) ABSA_FAIL(ABSA_EINVAL, "%s: given twice", what);
    ABSA_TRY(absa_cifar_pickle_parse(data, n, what, dst));
    *has = 1;
    if ((slot == 65) != (dst->n == 0))
        ABSA_FAIL(ABSA_EFORMAT, "%s: a %s where a %s was expected", what, dst->n ? "data batch" : "meta file",
                  slot == 65 ? "meta file" : "data batch");
    if (dst->n && (dst->coarse != NULL) != s->hundred)
        ABSA_FAIL(ABSA_EFORMAT, "%s: a %s batch, not %s", what, dst->coarse ? "CIFAR-100" : "CIFAR-10",
                  s->hundred ? "CIFAR-100" : "CIFAR-10");
cleanup:
    return status;
}

static absa_status absa_cifar_py_file(absa_cifar_pyset *s, const char *path, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    ABSA_TRY(absa_h5w_add_source(w, path));
    if (absa_cifar_py_archive_name(path)) {
        s->archive = path;
        status = absa_tar_each(path, absa_cifar_py_want, absa_cifar_py_member, s);
        s->archive = NULL;
        goto cleanup;
    }
    ABSA_TRY(absa_read_whole_file(path, &buf, &len));
    ABSA_TRY(absa_cifar_py_member(s, path, buf, len));
cleanup:
    absa_free(buf);
    return status;
}

static absa_status absa_cifar_py_collect(absa_cifar_pyset *s, const absa_pack_args *a, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    char p[4200];
    for (int i = 0; i < a->ninputs; i++) {
        if (!absa_path_is_dir(a->inputs[i])) {
            if (absa_cifar_py_slot(a->inputs[i], s->hundred) < 0 && !absa_cifar_py_archive_name(a->inputs[i]))
                ABSA_FAIL(ABSA_EINVAL, "%s: not a file of the CIFAR python version", a->inputs[i]);
            ABSA_TRY(absa_cifar_py_file(s, a->inputs[i], w));
            continue;
        }
        for (int k = 0; k < ABSA_CIFAR_MAX_FILES + 2; k++) {
            if (s->hundred && k > 0 && k < ABSA_CIFAR_MAX_FILES) continue;
            const char *n = k == ABSA_CIFAR_MAX_FILES ? (s->hundred ? "test" : "test_batch")
                          : k == ABSA_CIFAR_MAX_FILES + 1 ? (s->hundred ? "meta" : "batches.meta") : NULL;
            if (n) snprintf(p, sizeof p, "%s/%s", a->inputs[i], n);
            else if (s->hundred) snprintf(p, sizeof p, "%s/train", a->inputs[i]);
            else snprintf(p, sizeof p, "%s/data_batch_%d", a->inputs[i], k + 1);
            if (absa_path_exists(p)) ABSA_TRY(absa_cifar_py_file(s, p, w));
        }
    }
cleanup:
    return status;
}

static absa_status absa_cifar_py_split(absa_cifar_pyset *s, int test, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    uint64_t total = 0;
    for (int k = 0; k <= ABSA_CIFAR_MAX_FILES; k++) {
        int has = k == ABSA_CIFAR_MAX_FILES ? test && s->has_test : !test && s->has_train[k];
        if (has) total += (k == ABSA_CIFAR_MAX_FILES ? s->test : s->train[k]).n;
    }
    if (!total) return ABSA_OK;
    ABSA_TRY(absa_h5w_begin_split(w, test ? "test" : "train", total, 3, 32, 32));
    for (int k = 0; k <= ABSA_CIFAR_MAX_FILES; k++) {
        int has = k == ABSA_CIFAR_MAX_FILES ? test && s->has_test : !test && s->has_train[k];
        const absa_cifar_py *b = k == ABSA_CIFAR_MAX_FILES ? &s->test : &s->train[k];
        if (has) ABSA_TRY(absa_h5w_append(w, b->data, b->fine, s->hundred ? b->coarse : NULL, b->n));
    }
    ABSA_TRY(absa_h5w_end_split(w));
cleanup:
    return status;
}

static absa_status absa_pack_cifar_py(const absa_pack_args *a, absa_h5w *w, int hundred, char **names, int nnames)
{
    absa_status status = ABSA_OK;
    absa_cifar_pyset *s = calloc(1, sizeof *s);
    if (!s) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    s->hundred = hundred;
    ABSA_TRY(absa_cifar_py_collect(s, a, w));
    int any = s->has_test;
    for (int k = 0; k < ABSA_CIFAR_MAX_FILES; k++) any |= s->has_train[k];
    if (!any && s->bin_members)
        ABSA_FAIL(ABSA_EINVAL, "the archive holds the binary version (*.bin): extract it (tar xzf) and give its folder");
    if (!any) ABSA_FAIL(ABSA_ENOTFOUND, "no CIFAR-%s batches found in the inputs (python version: %s)",
                        hundred ? "100" : "10", hundred ? "train, test" : "data_batch_1..5, test_batch");
    const int K = hundred ? 100 : 10;
    if (names) {
        ABSA_TRY(absa_h5w_set_classes(w, nnames, (const char *const *)names));
    } else if (s->has_meta) {
        if (s->meta.n_names != K) ABSA_FAIL(ABSA_EFORMAT, "meta file: %d class names, expected %d", s->meta.n_names, K);
        ABSA_TRY(absa_h5w_set_classes(w, K, (const char *const *)s->meta.names));
    } else {
        ABSA_TRY(absa_h5w_set_classes(w, K, hundred ? NULL : absa_cifar10_names));
    }
    if (hundred) {
        if (s->has_meta && s->meta.n_coarse_names != 20)
            ABSA_FAIL(ABSA_EFORMAT, "meta file: %d coarse class names, expected 20", s->meta.n_coarse_names);
        ABSA_TRY(absa_h5w_set_coarse_classes(w, 20, s->has_meta ? (const char *const *)s->meta.coarse_names : NULL));
    }
    ABSA_TRY(absa_cifar_py_split(s, 0, w));
    ABSA_TRY(absa_cifar_py_split(s, 1, w));
cleanup:
    if (s) {
        for (int k = 0; k < ABSA_CIFAR_MAX_FILES; k++) absa_cifar_py_free(&s->train[k]);
        absa_cifar_py_free(&s->test);
        absa_cifar_py_free(&s->meta);
        free(s);
    }
    return status;
}

static absa_status absa_pack_cifar(const absa_pack_args *a, absa_h5w *w, int hundred)
{
    absa_status status = ABSA_OK;
    absa_cifar_files f;
    memset(&f, 0, sizeof f);
    char **names = NULL;
    int nnames = 0;
    int npy = 0;
    for (int i = 0; i < a->ninputs; i++) npy += absa_cifar_py_input(a->inputs[i], hundred);
    if (npy && npy != a->ninputs)
        ABSA_FAIL(ABSA_EINVAL, "the inputs mix the binary and the python version of CIFAR; give one of them");
    if (a->class_names) {
        ABSA_TRY(absa_split_names(a->class_names, &names, &nnames));
        if (nnames != (hundred ? 100 : 10))
            ABSA_FAIL(ABSA_EINVAL, "--class-names gives %d names, expected %d", nnames, hundred ? 100 : 10);
    }
    if (npy) {
        status = absa_pack_cifar_py(a, w, hundred, names, nnames);
        goto cleanup;
    }
    ABSA_TRY(absa_cifar_collect(a, hundred, &f));
    if (a->class_names) {
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
