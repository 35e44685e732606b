/* bitflip.c — single-bit-flip fuzzer over whole checkpoint and packed-dataset files (issue 13).
 *
 *   bitflip ckpt FILE.h5 DATA.h5 N SEED [WORKDIR]   flips of a checkpoint
 *   bitflip data FILE.h5 N SEED [WORKDIR]           flips of a packed dataset
 *
 * For each of N flips (bit b of byte o; half of them uniform over the file, half uniform over
 * its metadata, i.e. every byte outside the raw data of its datasets, located with
 * H5Dget_offset / H5Dget_chunk_info), a copy with that one bit flipped is loaded in a forked
 * child through the real code paths:
 *   ckpt: absa_checkpoint_peek + absa_model_create + absa_checkpoint_load (what `absa eig
 *         --checkpoint` and `absa train --resume` do), then `absa eig --checkpoint COPY` itself
 *         (4 samples, 1 iteration) on DATA.h5;
 *   data: absa_h5reader_open + gather of every sample of every split (what training reads),
 *         then `absa info COPY`.
 * The child reports a digest (CRC-32) of everything it loaded; the parent classifies:
 *   crash     killed by a signal (or hung past 10 s: SIGALRM)
 *   refused   the load failed with a message (exit 1)
 *   unchanged loaded, digest identical to the original's (the flip hit bytes nobody uses)
 *   CHANGED   loaded, digest differs: silent corruption
 * Prints one line per crash / CHANGED flip (offset, bit, what), then the counts per region and
 * exits 0 only when crash == 0 and CHANGED == 0. Deterministic for a given SEED. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "cli.h"
#include "h5pack.h"
#include "h5reader.h"
#include "model.h"

typedef struct extent {
    uint64_t off, len;
} extent;

typedef struct extents {
    extent *v;
    size_t n, cap;
} extents;

static void ext_add(extents *e, uint64_t off, uint64_t len)
{
    if (len == 0 || off == HADDR_UNDEF) return;
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
        if (!e->v) abort();
    }
    e->v[e->n++] = (extent){off, len};
}

/* raw data extents of every dataset (contiguous storage or chunks) */
static herr_t visit_cb(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    extents *e = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t lay = H5Pget_layout(dcpl);
    if (lay == H5D_CONTIGUOUS) {
        ext_add(e, H5Dget_offset(d), H5Dget_storage_size(d));
    } else if (lay == H5D_CHUNKED) {
        hid_t sp = H5Dget_space(d);
        hsize_t nch = 0;
        H5Dget_num_chunks(d, sp, &nch);
        for (hsize_t i = 0; i < nch; i++) {
            hsize_t offs[8];
            unsigned mask;
            haddr_t addr;
            hsize_t size;
            if (H5Dget_chunk_info(d, sp, i, offs, &mask, &addr, &size) >= 0) ext_add(e, addr, size);
        }
        H5Sclose(sp);
    }
    H5Pclose(dcpl);
    H5Dclose(d);
    return 0;
}

static int ext_cmp(const void *a, const void *b)
{
    const extent *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ loads (in the child) */

static uLong crc_add(uLong c, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return c;
}

static int load_ckpt(const char *path, uint32_t *digest)
{
    char name[ABSA_NAME_MAX];
    int C, H, W, K;
    absa_model *m = NULL;
    absa_ckpt_extra *ex = calloc(1, sizeof *ex);
    if (absa_checkpoint_peek(path, name, sizeof name, &C, &H, &W, &K) != ABSA_OK ||
        absa_model_create(name, C, H, W, K, &m) != ABSA_OK || absa_checkpoint_load(path, m, ex) != ABSA_OK) {
        free(ex);
        return 1;
    }
    uLong c = crc32(0L, Z_NULL, 0);
    int shape[4] = {C, H, W, K};
    c = crc_add(c, name, strlen(name));
    c = crc_add(c, shape, sizeof shape);
    c = crc_add(c, m->params, m->n_params * sizeof(float));
    c = crc_add(c, m->mom, m->n_params * sizeof(float));
    c = crc_add(c, m->bufs, m->n_bufs * sizeof(float));
    c = crc_add(c, m->num_batches_tracked, (size_t)m->n_counts * sizeof(int64_t));
    const absa_sgd *o = &ex->sgd;
    double dv[4] = {o->lr, o->momentum, o->dampening, o->weight_decay};
    int64_t iv[3] = {o->nesterov, o->has_buf, o->steps};
    c = crc_add(c, dv, sizeof dv);
    c = crc_add(c, iv, sizeof iv);
    c = crc_add(c, &ex->n_rng, sizeof ex->n_rng);
    c = crc_add(c, ex->rng, (size_t)ex->n_rng * sizeof ex->rng[0]);
    for (int i = 0; i < ex->n_kv; i++) {
        const absa_ckpt_kv *kv = &ex->kv[i];
        c = crc_add(c, kv->key, strlen(kv->key));
        c = crc_add(c, &kv->is_int, sizeof kv->is_int);
        c = kv->is_int ? crc_add(c, &kv->i64, sizeof kv->i64) : crc_add(c, &kv->f64, sizeof kv->f64);
    }
    *digest = (uint32_t)c;
    absa_model_free(m);
    free(ex);
    return 0;
}

static int load_data(const char *path, uint32_t *digest)
{
    static const char *const splits[2] = {"train", "test"};
    uLong c = crc32(0L, Z_NULL, 0);
    for (int s = 0; s < 2; s++) {
        absa_h5reader *r = NULL;
        if (absa_h5reader_open(path, splits[s], (size_t)1 << 30, &r) != ABSA_OK) return 1;
        size_t n = absa_h5reader_count(r);
        int C, H, W, K = absa_h5reader_num_classes(r);
        absa_h5reader_shape(r, &C, &H, &W);
        size_t sb = (size_t)C * H * W;
        uint64_t *idx = malloc(n * sizeof *idx);
        uint8_t *img = malloc(n * sb);
        int32_t *lab = malloc(n * sizeof *lab);
        if (!idx || !img || !lab) abort();
        for (size_t i = 0; i < n; i++) idx[i] = i;
        absa_status st = absa_h5reader_gather_u8(r, idx, n, img, lab);
        int dims[5] = {(int)n, C, H, W, K};
        c = crc_add(c, dims, sizeof dims);
        c = crc_add(c, absa_h5reader_mean(r), (size_t)C * sizeof(float));
        c = crc_add(c, absa_h5reader_std(r), (size_t)C * sizeof(float));
        c = crc_add(c, img, n * sb);
        c = crc_add(c, lab, n * sizeof *lab);
        free(idx);
        free(img);
        free(lab);
        absa_h5reader_close(r);
        if (st != ABSA_OK) return 1;
    }
    *digest = (uint32_t)c;
    return 0;
}

/* Child: digest load, then the CLI path; writes "<load rc> <digest> <cli rc>" to fd. */
static void child(int ckpt, const char *copy, const char *data, int fd)
{
    uint32_t digest = 0;
    alarm(10);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    int lrc = ckpt ? load_ckpt(copy, &digest) : load_data(copy, &digest);
    int crc;
    if (ckpt) {
        char *argv[] = {"eig", "--checkpoint", (char *)copy, "--data", (char *)data, "--samples", "4",
                        "--iters", "1", "--chunk", "4", "--threads", "1", "--first", NULL};
        crc = absa_cmd_eig((int)(sizeof argv / sizeof argv[0]) - 1, argv);
    } else {
        char *argv[] = {"info", (char *)copy, NULL};
        crc = absa_cmd_info(2, argv);
    }
    char line[64];
    int len = snprintf(line, sizeof line, "%d %u %d\n", lrc, digest, crc);
    if (write(fd, line, (size_t)len) != len) _exit(3);
    _exit(0);
}

typedef struct result {
    int crashed, sig, loaded, cli_rc;
    uint32_t digest;
} result;

static result run_one(int ckpt, const char *copy, const char *data)
{
    result res = {0, 0, 0, 0, 0};
    int p[2];
    if (pipe(p) != 0) abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(ckpt, copy, data, p[1]);
    }
    close(p[1]);
    char buf[64] = "";
    ssize_t got = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (WIFSIGNALED(ws) || got <= 0) {
        res.crashed = 1;
        res.sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : -1;
        return res;
    }
    int lrc = 1;
    sscanf(buf, "%d %u %d", &lrc, &res.digest, &res.cli_rc);
    res.loaded = lrc == 0;
    return res;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "ckpt") && strcmp(argv[1], "data")) || (!strcmp(argv[1], "ckpt") && argc < 6)) {
        fprintf(stderr, "usage: bitflip ckpt FILE.h5 DATA.h5 N SEED [WORKDIR] | bitflip data FILE.h5 N SEED [WORKDIR]\n");
        return 2;
    }
    int ckpt = !strcmp(argv[1], "ckpt"), a = ckpt ? 4 : 3;
    const char *path = argv[2], *data = ckpt ? argv[3] : NULL;
    long nflips = atol(argv[a]);
    uint64_t seed = strtoull(argv[a + 1], NULL, 10);
    const char *dir = argc > a + 2 ? argv[a + 2] : "/tmp";
    size_t size;
    unsigned char *orig = read_all(path, &size);
    if (!orig || size == 0) {
        fprintf(stderr, "bitflip: cannot read %s\n", path);
        return 2;
    }
    /* metadata = everything outside the datasets' raw data */
    extents raw = {0};
    absa_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "bitflip: %s is not a readable HDF5 file\n", path);
        return 2;
    }
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &raw);
    H5Fclose(f);
    if (raw.n > 1) qsort(raw.v, raw.n, sizeof *raw.v, ext_cmp);
    unsigned char *is_raw = calloc(size, 1);
    uint64_t nraw = 0;
    for (size_t i = 0; i < raw.n; i++)
        for (uint64_t k = raw.v[i].off; k < raw.v[i].off + raw.v[i].len && k < size; k++)
            if (!is_raw[k]) {
                is_raw[k] = 1;
                nraw++;
            }
    uint64_t *meta = malloc((size - nraw + 1) * sizeof *meta), nmeta = 0;
    for (uint64_t k = 0; k < size; k++)
        if (!is_raw[k]) meta[nmeta++] = k;

    char copy[4096];
    snprintf(copy, sizeof copy, "%s/bitflip.%ld.h5", dir, (long)getpid());
    unsigned char *buf = malloc(size);
    /* the original: must load */
    FILE *o = fopen(copy, "wb");
    if (!o || fwrite(orig, 1, size, o) != size || fclose(o) != 0) {
        fprintf(stderr, "bitflip: cannot write %s\n", copy);
        return 2;
    }
    result ref = run_one(ckpt, copy, data);
    if (ref.crashed || !ref.loaded || ref.cli_rc != 0) {
        fprintf(stderr, "bitflip: the unmodified %s does not load (crashed %d, cli exit %d)\n", path, ref.crashed,
                ref.cli_rc);
        unlink(copy);
        return 2;
    }
    printf("bitflip %s %s: %zu bytes (%llu raw data, %llu metadata), %ld flips, seed %llu\n", argv[1], path, size,
           (unsigned long long)nraw, (unsigned long long)nmeta, nflips, (unsigned long long)seed);
    /* counts[region][class]: region 0 metadata, 1 raw data; class crash, refused, unchanged, CHANGED */
    long counts[2][4] = {{0}};
    uint64_t s = seed;
    for (long i = 0; i < nflips; i++) {
        uint64_t off = (i % 2 && nmeta) ? meta[rng_next(&s) % nmeta] : rng_next(&s) % size;
        int bit = (int)(rng_next(&s) % 8);
        memcpy(buf, orig, size);
        buf[off] ^= (unsigned char)(1u << bit);
        o = fopen(copy, "wb");
        if (!o || fwrite(buf, 1, size, o) != size || fclose(o) != 0) {
            fprintf(stderr, "bitflip: cannot write %s\n", copy);
            return 2;
        }
        result r = run_one(ckpt, copy, data);
        int region = is_raw[off] ? 1 : 0, cls;
        if (r.crashed) cls = 0;
        else if (!r.loaded) cls = 1;
        else cls = r.digest == ref.digest ? 2 : 3;
        counts[region][cls]++;
        if (cls == 0)
            printf("CRASH  offset %llu bit %d (%s): signal %d%s\n", (unsigned long long)off, bit,
                   region ? "raw data" : "metadata", r.sig, r.sig == SIGALRM ? " (hung)" : "");
        if (cls == 3)
            printf("CHANGED offset %llu bit %d (%s): loaded with different content\n", (unsigned long long)off, bit,
                   region ? "raw data" : "metadata");
    }
    unlink(copy);
    static const char *const rn[2] = {"metadata", "raw data"};
    long tot[4] = {0};
    for (int g = 0; g < 2; g++) {
        printf("  %-8s flips %5ld: crash %ld, refused %ld, unchanged %ld, CHANGED %ld\n", rn[g],
               counts[g][0] + counts[g][1] + counts[g][2] + counts[g][3], counts[g][0], counts[g][1], counts[g][2],
               counts[g][3]);
        for (int k = 0; k < 4; k++) tot[k] += counts[g][k];
    }
    printf("  total    flips %5ld: crash %ld, refused %ld, unchanged %ld, CHANGED %ld\n", nflips, tot[0], tot[1],
           tot[2], tot[3]);
    free(buf);
    free(orig);
    free(meta);
    free(is_raw);
    free(raw.v);
    return tot[0] == 0 && tot[3] == 0 ? 0 : 1;
}
