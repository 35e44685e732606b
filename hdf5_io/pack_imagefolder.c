/* pack_imagefolder.c — class-per-folder JPEG/PNG trees (ImageNet and TinyImageNet layouts):
 *   ROOT/train/<class>/ (any depth) .jpg .jpeg .png -> split train; classes = sorted folder names
 *   ROOT/val/<class>/...  or  ROOT/val/images/ + ROOT/val/val_annotations.txt (TinyImageNet:
 *   "file<TAB>class<TAB>...") -> split val;  ROOT/test/<class>/... -> split test
 *   (a val/test folder without class folders or annotations is unlabelled and skipped);
 *   ROOT/<class>/... when ROOT has no train/ -> split train.
 * Files are taken in sorted path order, decoded by magic bytes (image_decode.c: grey/CMYK -> RGB,
 * a PNG named .jpg is fine), resized to --size HxW (default 64x64). An unreadable image fails
 * the pack. Provenance: one source entry per split directory with the total size and the zlib
 * CRC-32 of all its image files' bytes concatenated in packing order. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "h5pack.h"
#include "image_decode.h"

typedef struct absa_if_list {
    char **path;
    int32_t *label;
    size_t n, cap;
} absa_if_list;

static void absa_if_list_free(absa_if_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->path[i]);
    free(l->path);
    free(l->label);
    memset(l, 0, sizeof *l);
}

static void absa_if_add(absa_if_list *l, const char *path, int32_t label)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->path = realloc(l->path, l->cap * sizeof *l->path);
        l->label = realloc(l->label, l->cap * sizeof *l->label);
        if (!l->path || !l->label) ABSA_ABORT("out of memory (file list)");
    }
    l->path[l->n] = strdup(path);
    if (!l->path[l->n]) ABSA_ABORT("out of memory (file list)");
    l->label[l->n++] = label;
}

static int absa_if_is_image(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* out = a/b; fails on paths longer than cap */
static absa_status absa_if_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) {
        absa_errorf("path too long: %s/%s", a, b);
        return ABSA_EINVAL;
    }
    return ABSA_OK;
}

static int absa_strcmp_p(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entry names of dir; dirs_only selects subdirectories, else everything. */
static absa_status absa_if_entries(const char *dir, int dirs_only, char ***out, int *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int cap = 0;
    char p[4096];
    *out = NULL;
    *n = 0;
    if (!d) {
        absa_errorf("%s: cannot open directory", dir);
        return ABSA_EIO;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (absa_if_join(p, sizeof p, dir, e->d_name) != ABSA_OK) continue;
        if (dirs_only && !absa_path_is_dir(p)) continue;
        if (*n + 1 >= cap) {
            cap = cap ? 2 * cap : 64;
            *out = realloc(*out, (size_t)cap * sizeof **out);
            if (!*out) ABSA_ABORT("out of memory (directory listing)");
        }
        (*out)[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, absa_strcmp_p);
    return ABSA_OK;
}

/* All image files below dir (recursively, sorted), labelled `label`. */
static absa_status absa_if_walk(const char *dir, int32_t label, absa_if_list *l, int depth)
{
    absa_status status = ABSA_OK;
    char **names = NULL, p[4096];
    int n = 0;
    if (depth > 8) ABSA_FAIL(ABSA_EINVAL, "%s: directories nested too deep", dir);
    ABSA_TRY(absa_if_entries(dir, 0, &names, &n));
    for (int i = 0; i < n; i++) {
        ABSA_TRY(absa_if_join(p, sizeof p, dir, names[i]));
        if (absa_path_is_dir(p)) ABSA_TRY(absa_if_walk(p, label, l, depth + 1));
        else if (absa_if_is_image(names[i])) absa_if_add(l, p, label);
    }
cleanup:
    absa_free_names(names, n);
    return status;
}

static int32_t absa_if_class(char *const *classes, int ncls, const char *name)
{
    char *const *hit = bsearch(&name, classes, (size_t)ncls, sizeof *classes, absa_strcmp_p);
    return hit ? (int32_t)(hit - classes) : -1;
}

/* Labelled files of an evaluation split directory; *labelled = 0 when it has no labels. */
static absa_status absa_if_eval_split(const char *dir, char *const *classes, int ncls, absa_if_list *l,
                                      absa_h5w *w, int *labelled)
{
    absa_status status = ABSA_OK;
    char ann[4096], line[8192], p[8192];
    char **subs = NULL;
    int nsub = 0;
    FILE *f = NULL;
    *labelled = 0;
    ABSA_TRY(absa_if_join(ann, sizeof ann, dir, "val_annotations.txt"));
    if (absa_path_exists(ann)) {
        f = fopen(ann, "r");
        if (!f) ABSA_FAIL(ABSA_EIO, "%s: cannot open", ann);
        for (int ln = 1; fgets(line, sizeof line, f); ln++) {
            char *file = strtok(line, "\t\r\n"), *cls = strtok(NULL, "\t\r\n");
            if (!file) continue;
            if (!cls) ABSA_FAIL(ABSA_EFORMAT, "%s:%d: expected file<TAB>class", ann, ln);
            int32_t lab = absa_if_class(classes, ncls, cls);
            if (lab < 0) ABSA_FAIL(ABSA_EFORMAT, "%s:%d: class %s is not a train class", ann, ln, cls);
            int pn = snprintf(p, sizeof p, "%s/images/%s", dir, file);
            if (pn < 0 || (size_t)pn >= sizeof p) ABSA_FAIL(ABSA_EINVAL, "%s:%d: path too long", ann, ln);
            absa_if_add(l, p, lab);
        }
        ABSA_TRY(absa_h5w_add_source(w, ann));
        *labelled = 1;
        goto cleanup;
    }
    ABSA_TRY(absa_if_entries(dir, 1, &subs, &nsub));
    if (nsub == 0 || (nsub == 1 && !strcmp(subs[0], "images"))) goto cleanup; /* unlabelled */
    for (int i = 0; i < nsub; i++) {
        int32_t lab = absa_if_class(classes, ncls, subs[i]);
        if (lab < 0) ABSA_FAIL(ABSA_EFORMAT, "%s/%s: not a class of the train split", dir, subs[i]);
        ABSA_TRY(absa_if_join(p, sizeof p, dir, subs[i]));
        ABSA_TRY(absa_if_walk(p, lab, l, 0));
    }
    *labelled = 1;
cleanup:
    if (f) fclose(f);
    absa_free_names(subs, nsub);
    return status;
}

static absa_status absa_if_pack_split(const char *split, const char *dir, const absa_if_list *l,
                                      int H, int W, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    enum { BLOCK = 64 };
    const size_t sb = 3 * (size_t)H * W;
    uint8_t *buf = NULL, *chw = malloc(BLOCK * sb);
    int32_t lab[BLOCK];
    absa_image img = {0};
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    FILE *f = NULL;
    if (!chw) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
    if (l->n == 0) ABSA_FAIL(ABSA_ENOTFOUND, "%s: no .jpg/.jpeg/.png images", dir);
    ABSA_TRY(absa_h5w_begin_split(w, split, l->n, 3, H, W));
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        f = fopen(l->path[i], "rb");
        if (!f) ABSA_FAIL(ABSA_EIO, "%s: cannot open", l->path[i]);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (len <= 0) ABSA_FAIL(ABSA_EFORMAT, "%s: unreadable image (empty file)", l->path[i]);
        free(buf);
        buf = malloc((size_t)len);
        if (!buf) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) ABSA_FAIL(ABSA_EIO, "%s: read error", l->path[i]);
        fclose(f);
        f = NULL;
        crc = crc32(crc, buf, (uInt)len);
        total += (uint64_t)len;
        ABSA_TRY(absa_image_decode(l->path[i], buf, (size_t)len, &img));
        absa_image_resize_chw(&img, H, W, chw + k * sb);
        absa_image_free(&img);
        lab[k++] = l->label[i];
        if (k == BLOCK || i + 1 == l->n) {
            ABSA_TRY(absa_h5w_append(w, chw, lab, NULL, k));
            k = 0;
        }
    }
    ABSA_TRY(absa_h5w_end_split(w));
    ABSA_TRY(absa_h5w_add_source_crc(w, dir, total, (uint32_t)crc));
cleanup:
    if (f) fclose(f);
    absa_image_free(&img);
    free(buf);
    free(chw);
    return status;
}

absa_status absa_pack_imagefolder(const absa_pack_args *a, absa_h5w *w)
{
    absa_status status = ABSA_OK;
    char **classes = NULL, **names = NULL, dir[4096];
    int ncls = 0, nnames = 0;
    absa_if_list l = {0};
    const int H = a->size_h > 0 ? a->size_h : 64, W = a->size_w > 0 ? a->size_w : 64;
    if (a->ninputs != 1 || !absa_path_is_dir(a->inputs[0]))
        ABSA_FAIL(ABSA_EINVAL, "imagefolder takes one root directory as --input");
    const char *root = a->inputs[0];
    ABSA_TRY(absa_if_join(dir, sizeof dir, root, "train"));
    int nested = absa_path_is_dir(dir);
    if (!nested) snprintf(dir, sizeof dir, "%s", root);
    ABSA_TRY(absa_if_entries(dir, 1, &classes, &ncls));
    if (ncls == 0) ABSA_FAIL(ABSA_ENOTFOUND, "%s: no class folders", dir);
    if (a->class_names) {
        ABSA_TRY(absa_split_names(a->class_names, &names, &nnames));
        if (nnames != ncls) ABSA_FAIL(ABSA_EINVAL, "--class-names gives %d names for %d class folders", nnames, ncls);
    }
    ABSA_TRY(absa_h5w_set_classes(w, ncls, (const char *const *)(names ? names : classes)));
    for (int c = 0; c < ncls; c++) {
        char p[8192];
        ABSA_TRY(absa_if_join(p, sizeof p, dir, classes[c]));
        ABSA_TRY(absa_if_walk(p, c, &l, 0));
    }
    ABSA_TRY(absa_if_pack_split("train", dir, &l, H, W, w));
    absa_if_list_free(&l);
    static const char *const evals[2] = {"val", "test"};
    for (int s = 0; nested && s < 2; s++) {
        int labelled = 0;
        ABSA_TRY(absa_if_join(dir, sizeof dir, root, evals[s]));
        if (!absa_path_is_dir(dir)) continue;
        ABSA_TRY(absa_if_eval_split(dir, classes, ncls, &l, w, &labelled));
        if (labelled) ABSA_TRY(absa_if_pack_split(evals[s], dir, &l, H, W, w));
        absa_if_list_free(&l);
    }
cleanup:
    absa_if_list_free(&l);
    absa_free_names(classes, ncls);
    absa_free_names(names, nnames);
    return status;
}
