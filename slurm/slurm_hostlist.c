/* slurm_hostlist.c — Slurm's compressed host lists ("n[1-3,7],gpu[01-02]") and per-node counts
 * ("2(x3),1"): strict parsers with size caps and one-line errors; see absa_slurm.h. */
#include "absa_slurm.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS_PER_ENTRY 8 /* bracket groups in one entry ("r[1-2]n[1-4]" has 2) */
#define MAX_DIGITS 9

typedef struct hl_range {
    unsigned long lo, hi;
    int width; /* zero padding: the number of digits written for lo */
} hl_range;

typedef struct hl_group {
    hl_range *r;
    size_t nr;
    size_t count;   /* values in the group */
    size_t ri;      /* odometer: current range */
    unsigned long v;/* odometer: current value */
} hl_group;

static int host_char(int c) { return isalnum(c) || c == '-' || c == '.' || c == '_'; }
static int sep_char(int c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void absa_slurm_hostlist_free(absa_slurm_hostlist *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) free(h->names[i]);
    free(h->names);
    h->names = NULL;
    h->n = 0;
}

static absa_status push_name(absa_slurm_hostlist *h, size_t *cap, const char *name)
{
    if (h->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        char **p = realloc(h->names, nc * sizeof *p);
        if (!p) {
            absa_errorf("out of memory expanding a host list");
            return ABSA_ENOMEM;
        }
        h->names = p;
        *cap = nc;
    }
    h->names[h->n] = strdup(name);
    if (!h->names[h->n]) {
        absa_errorf("out of memory expanding a host list");
        return ABSA_ENOMEM;
    }
    h->n++;
    return ABSA_OK;
}

/* digits [s, s+len) -> value; at most MAX_DIGITS digits */
static int parse_num(const char *s, size_t len, unsigned long *v)
{
    if (len == 0 || len > MAX_DIGITS) return 0;
    unsigned long x = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return 0;
        x = x * 10 + (unsigned long)(s[i] - '0');
    }
    *v = x;
    return 1;
}

/* Parse the inside of one bracket group, [s, e). */
static absa_status parse_group(const char *spec, const char *s, const char *e, hl_group *g)
{
    absa_status status = ABSA_OK;
    size_t cap = 0;
    memset(g, 0, sizeof *g);
    if (s == e) ABSA_FAIL(ABSA_EINVAL, "host list '%s': empty brackets", spec);
    for (const char *p = s; p <= e;) {
        const char *q = p;
        while (q < e && *q != ',') q++;
        const char *dash = memchr(p, '-', (size_t)(q - p));
        hl_range r;
        if (dash) {
            if (!parse_num(p, (size_t)(dash - p), &r.lo) || !parse_num(dash + 1, (size_t)(q - dash - 1), &r.hi))
                ABSA_FAIL(ABSA_EINVAL, "host list '%s': bad range '%.*s' (want N or LO-HI, up to %d digits)", spec,
                          (int)(q - p), p, MAX_DIGITS);
        } else {
            if (!parse_num(p, (size_t)(q - p), &r.lo))
                ABSA_FAIL(ABSA_EINVAL, "host list '%s': bad number '%.*s' in brackets", spec, (int)(q - p), p);
            r.hi = r.lo;
        }
        if (r.lo > r.hi) ABSA_FAIL(ABSA_EINVAL, "host list '%s': descending range '%.*s'", spec, (int)(q - p), p);
        r.width = (int)(dash ? dash - p : q - p);
        if (r.hi - r.lo + 1 > ABSA_SLURM_MAX_HOSTS || g->count + (r.hi - r.lo + 1) > ABSA_SLURM_MAX_HOSTS)
            ABSA_FAIL(ABSA_EINVAL, "host list '%s': more than %d hosts", spec, ABSA_SLURM_MAX_HOSTS);
        if (g->nr == cap) {
            size_t nc = cap ? 2 * cap : 4;
            hl_range *nr = realloc(g->r, nc * sizeof *nr);
            if (!nr) ABSA_FAIL(ABSA_ENOMEM, "out of memory expanding a host list");
            g->r = nr;
            cap = nc;
        }
        g->r[g->nr++] = r;
        g->count += r.hi - r.lo + 1;
        p = q + 1;
    }
cleanup:
    if (status != ABSA_OK) {
        free(g->r);
        g->r = NULL;
    }
    return status;
}

/* One entry [s, e) (no top-level separators): literals and bracket groups, expanded. */
static absa_status expand_entry(const char *spec, const char *s, const char *e, absa_slurm_hostlist *h,
                                size_t *cap)
{
    absa_status status = ABSA_OK;
    hl_group g[MAX_GROUPS_PER_ENTRY];
    const char *lit[MAX_GROUPS_PER_ENTRY + 1];
    size_t litlen[MAX_GROUPS_PER_ENTRY + 1];
    int ng = 0;
    char name[ABSA_SLURM_MAX_NAME + 1];
    const char *p = s;
    for (;;) { /* literal, then optionally [group] */
        lit[ng] = p;
        while (p < e && *p != '[') {
            if (!host_char((unsigned char)*p))
                ABSA_FAIL(ABSA_EINVAL, "host list '%s': character '%c' (0x%02x) is not allowed in a host name", spec,
                          isprint((unsigned char)*p) ? *p : '?', (unsigned char)*p);
            p++;
        }
        litlen[ng] = (size_t)(p - lit[ng]);
        if (p == e) break;
        if (ng == MAX_GROUPS_PER_ENTRY)
            ABSA_FAIL(ABSA_EINVAL, "host list '%s': more than %d bracket groups in one name", spec, MAX_GROUPS_PER_ENTRY);
        const char *close = memchr(p, ']', (size_t)(e - p));
        if (!close) ABSA_FAIL(ABSA_EINVAL, "host list '%s': '[' without ']'", spec);
        ABSA_TRY(parse_group(spec, p + 1, close, &g[ng]));
        ng++;
        p = close + 1;
    }
    size_t total = 1;
    for (int i = 0; i < ng; i++) {
        if (g[i].count > ABSA_SLURM_MAX_HOSTS / total || h->n + total * g[i].count > ABSA_SLURM_MAX_HOSTS)
            ABSA_FAIL(ABSA_EINVAL, "host list '%s': more than %d hosts", spec, ABSA_SLURM_MAX_HOSTS);
        total *= g[i].count;
    }
    if (h->n + total > ABSA_SLURM_MAX_HOSTS)
        ABSA_FAIL(ABSA_EINVAL, "host list '%s': more than %d hosts", spec, ABSA_SLURM_MAX_HOSTS);
    for (int i = 0; i < ng; i++) {
        g[i].ri = 0;
        g[i].v = g[i].r[0].lo;
    }
    for (size_t k = 0; k < total; k++) {
        size_t len = 0;
        for (int i = 0; i <= ng; i++) {
            if (len + litlen[i] > ABSA_SLURM_MAX_NAME) goto too_long;
            memcpy(name + len, lit[i], litlen[i]);
            len += litlen[i];
            if (i == ng) break;
            char num[MAX_DIGITS + 2];
            int nl = snprintf(num, sizeof num, "%0*lu", g[i].r[g[i].ri].width, g[i].v);
            if (len + (size_t)nl > ABSA_SLURM_MAX_NAME) goto too_long;
            memcpy(name + len, num, (size_t)nl);
            len += (size_t)nl;
        }
        name[len] = 0;
        if (len == 0) ABSA_FAIL(ABSA_EINVAL, "host list '%s': empty host name", spec);
        ABSA_TRY(push_name(h, cap, name));
        for (int i = ng - 1; i >= 0; i--) { /* odometer: rightmost group fastest */
            if (g[i].v < g[i].r[g[i].ri].hi) {
                g[i].v++;
                break;
            }
            if (g[i].ri + 1 < g[i].nr) {
                g[i].ri++;
                g[i].v = g[i].r[g[i].ri].lo;
                break;
            }
            g[i].ri = 0;
            g[i].v = g[i].r[0].lo;
        }
    }
    goto cleanup;
too_long:
    ABSA_FAIL(ABSA_EINVAL, "host list '%s': a host name is longer than %d characters", spec, ABSA_SLURM_MAX_NAME);
cleanup:
    for (int i = 0; i < ng; i++) free(g[i].r);
    return status;
}

absa_status absa_slurm_hostlist_expand(const char *spec, absa_slurm_hostlist *out)
{
    absa_status status = ABSA_OK;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    if (!spec) ABSA_FAIL(ABSA_EINVAL, "host list: none given");
    /* brackets must balance and not nest; inside them only digits, ',' and '-' */
    int depth = 0;
    for (const char *p = spec; *p; p++) {
        if (*p == '[') {
            if (depth) ABSA_FAIL(ABSA_EINVAL, "host list '%s': nested '['", spec);
            depth = 1;
        } else if (*p == ']') {
            if (!depth) ABSA_FAIL(ABSA_EINVAL, "host list '%s': ']' without '['", spec);
            depth = 0;
        } else if (depth && !isdigit((unsigned char)*p) && *p != ',' && *p != '-') {
            ABSA_FAIL(ABSA_EINVAL, "host list '%s': character '%c' (0x%02x) inside brackets", spec,
                      isprint((unsigned char)*p) ? *p : '?', (unsigned char)*p);
        }
    }
    if (depth) ABSA_FAIL(ABSA_EINVAL, "host list '%s': '[' without ']'", spec);
    const char *p = spec;
    while (*p) {
        while (*p && sep_char((unsigned char)*p)) p++;
        if (!*p) break;
        const char *s = p;
        int d = 0;
        while (*p && (d || !sep_char((unsigned char)*p))) {
            if (*p == '[') d = 1;
            else if (*p == ']') d = 0;
            p++;
        }
        ABSA_TRY(expand_entry(spec, s, p, out, &cap));
    }
    if (out->n == 0) ABSA_FAIL(ABSA_EINVAL, "host list '%s' names no host", spec);
cleanup:
    if (status != ABSA_OK) absa_slurm_hostlist_free(out);
    return status;
}

absa_status absa_slurm_counts_expand(const char *spec, const char *what, size_t n, int *counts)
{
    absa_status status = ABSA_OK;
    size_t k = 0;
    if (!spec || !*spec) ABSA_FAIL(ABSA_EINVAL, "%s is empty", what);
    for (const char *p = spec;;) {
        unsigned long v, rep = 1;
        const char *q = p;
        while (isdigit((unsigned char)*q)) q++;
        if (!parse_num(p, (size_t)(q - p), &v) || v > ABSA_SLURM_MAX_COUNT)
            ABSA_FAIL(ABSA_EINVAL, "%s '%s': want counts like '2(x3),1' (each 0..%d)", what, spec, ABSA_SLURM_MAX_COUNT);
        p = q;
        if (*p == '(') {
            if (p[1] != 'x') ABSA_FAIL(ABSA_EINVAL, "%s '%s': want '(xN)' after a count", what, spec);
            p += 2;
            q = p;
            while (isdigit((unsigned char)*q)) q++;
            if (!parse_num(p, (size_t)(q - p), &rep) || rep < 1 || *q != ')')
                ABSA_FAIL(ABSA_EINVAL, "%s '%s': bad repeat '(x...)'", what, spec);
            p = q + 1;
        }
        if (rep > n - k)
            ABSA_FAIL(ABSA_EINVAL, "%s '%s' describes more than the %zu nodes of the node list", what, spec, n);
        for (unsigned long i = 0; i < rep; i++) counts[k++] = (int)v;
        if (!*p) break;
        if (*p != ',') ABSA_FAIL(ABSA_EINVAL, "%s '%s': unexpected '%c'", what, spec, isprint((unsigned char)*p) ? *p : '?');
        p++;
    }
    if (k != n) ABSA_FAIL(ABSA_EINVAL, "%s '%s' describes %zu nodes, the node list has %zu", what, spec, k, n);
cleanup:
    return status;
}

absa_status absa_slurm_counts_format(const int *counts, size_t n, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap) buf[0] = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && counts[j] == counts[i]) j++;
        int w = j - i > 1 ? snprintf(buf + len, cap - len, "%s%d(x%zu)", i ? "," : "", counts[i], j - i)
                          : snprintf(buf + len, cap - len, "%s%d", i ? "," : "", counts[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            absa_errorf("counts do not fit in %zu bytes", cap);
            if (cap) buf[0] = 0;
            return ABSA_EINVAL;
        }
        len += (size_t)w;
        i = j;
    }
    return ABSA_OK;
}
