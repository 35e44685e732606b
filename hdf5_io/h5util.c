/* h5util.c — small helpers shared by the packers, `absa info` and the reader: file checksums
 * (zlib CRC-32), path tests, class-name lists, HDF5 string attributes and a file-access property
 * list with file locking disabled (for shared/parallel file systems). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "h5pack.h"

absa_status absa_file_crc32(const char *path, uint32_t *crc, uint64_t *size)
{
    absa_status status = ABSA_OK;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) ABSA_FAIL(ABSA_EIO, "%s: cannot open", path);
    buf = malloc(1 << 20);
    if (!buf) ABSA_FAIL(ABSA_ENOMEM, "cannot allocate 1 MiB");
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, 1 << 20, f)) > 0) {
        c = crc32(c, buf, (uInt)got);
        total += got;
    }
    if (ferror(f)) ABSA_FAIL(ABSA_EIO, "%s: read error", path);
    *crc = (uint32_t)c;
    *size = total;
cleanup:
    free(buf);
    if (f) fclose(f);
    return status;
}

int absa_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int absa_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

const char *absa_path_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

void absa_free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static absa_status absa_names_push(char ***names, int *n, int *cap, const char *s, size_t len)
{
    if (*n + 1 >= *cap) {
        int nc = *cap ? 2 * *cap : 16;
        char **nn = realloc(*names, (size_t)nc * sizeof *nn);
        if (!nn) {
            absa_errorf("out of memory reading class names");
            return ABSA_ENOMEM;
        }
        *names = nn;
        *cap = nc;
    }
    char *d = malloc(len + 1);
    if (!d) {
        absa_errorf("out of memory reading class names");
        return ABSA_ENOMEM;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    (*names)[(*n)++] = d;
    (*names)[*n] = NULL;
    return ABSA_OK;
}

absa_status absa_split_names(const char *csv, char ***names, int *n)
{
    absa_status status = ABSA_OK;
    int cap = 0;
    *names = NULL;
    *n = 0;
    const char *p = csv;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) ABSA_FAIL(ABSA_EINVAL, "empty class name in '%s'", csv);
        ABSA_TRY(absa_names_push(names, n, &cap, p, len));
        if (!e) break;
        p = e + 1;
    }
cleanup:
    if (status != ABSA_OK) {
        absa_free_names(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return status;
}

absa_status absa_read_name_file(const char *path, char ***names, int *n)
{
    absa_status status = ABSA_OK;
    int cap = 0;
    char line[4096];
    *names = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) ABSA_FAIL(ABSA_EIO, "%s: cannot open", path);
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            len--;
        if (len == 0) continue;
        ABSA_TRY(absa_names_push(names, n, &cap, line, len));
    }
cleanup:
    if (f) fclose(f);
    if (status != ABSA_OK) {
        absa_free_names(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return status;
}

hid_t absa_h5_fapl_nolock(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    /* H5Pset_file_locking exists from HDF5 1.10.7; ignore_when_disabled = true */
    H5Pset_file_locking(fapl, 0, 1);
    return fapl;
}

void absa_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

absa_status absa_h5_attr_strings(hid_t loc, const char *name, const char *const *v, size_t n)
{
    absa_status status = ABSA_OK;
    hid_t type = -1, space = -1, attr = -1;
    hsize_t dims[1] = {n};
    type = H5Tcopy(H5T_C_S1);
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        ABSA_FAIL(ABSA_EHDF5, "cannot create string type for attribute %s", name);
    space = H5Screate_simple(1, dims, NULL);
    if (space < 0) ABSA_FAIL(ABSA_EHDF5, "cannot create dataspace for attribute %s", name);
    attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) ABSA_FAIL(ABSA_EHDF5, "cannot create attribute %s", name);
    if (H5Awrite(attr, type, v) < 0) ABSA_FAIL(ABSA_EHDF5, "cannot write attribute %s", name);
cleanup:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return status;
}

absa_status absa_h5_attr_string(hid_t loc, const char *name, const char *v)
{
    absa_status status = ABSA_OK;
    hid_t type = -1, space = -1, attr = -1;
    type = H5Tcopy(H5T_C_S1);
    if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        ABSA_FAIL(ABSA_EHDF5, "cannot create string type for attribute %s", name);
    space = H5Screate(H5S_SCALAR);
    attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) ABSA_FAIL(ABSA_EHDF5, "cannot create attribute %s", name);
    if (H5Awrite(attr, type, &v) < 0) ABSA_FAIL(ABSA_EHDF5, "cannot write attribute %s", name);
cleanup:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return status;
}

absa_status absa_h5_read_attr_string(hid_t loc, const char *name, char *buf, size_t cap)
{
    absa_status status = ABSA_OK;
    hid_t attr = -1, ftype = -1, mtype = -1;
    char *vs = NULL;
    buf[0] = '\0';
    attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) ABSA_FAIL(ABSA_ENOTFOUND, "attribute %s missing", name);
    ftype = H5Aget_type(attr);
    if (H5Tget_class(ftype) != H5T_STRING) ABSA_FAIL(ABSA_EFORMAT, "attribute %s is not a string", name);
    if (H5Tis_variable_str(ftype) > 0) {
        mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        if (H5Aread(attr, mtype, &vs) < 0) ABSA_FAIL(ABSA_EHDF5, "cannot read attribute %s", name);
        snprintf(buf, cap, "%s", vs ? vs : "");
        H5free_memory(vs);
    } else {
        size_t sz = H5Tget_size(ftype);
        char *tmp = calloc(sz + 1, 1);
        if (!tmp) ABSA_FAIL(ABSA_ENOMEM, "out of memory");
        mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, sz + 1);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        if (H5Aread(attr, mtype, tmp) < 0) {
            free(tmp);
            ABSA_FAIL(ABSA_EHDF5, "cannot read attribute %s", name);
        }
        snprintf(buf, cap, "%s", tmp);
        free(tmp);
    }
cleanup:
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (attr >= 0) H5Aclose(attr);
    return status;
}
