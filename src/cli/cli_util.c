/* cli_util.c — argument parsing and error printing for the CLI (the clock, thread control and
 * JSON/number formatting it used to hold are in base_sys.c and base_json.c). */
#include "cli_util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "model.h"

int absa_arg_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return absa_cli_usage(cmd, "%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi) return absa_cli_usage(cmd, "%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    *out = (int)v;
    return 0;
}

int absa_arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-') return absa_cli_usage(cmd, "%s: '%s' must be non-negative", opt, s);
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end) return absa_cli_usage(cmd, "%s: '%s' is not an unsigned integer", opt, s);
    *out = (uint64_t)v;
    return 0;
}

int absa_arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return absa_cli_usage(cmd, "%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi) return absa_cli_usage(cmd, "%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    *out = v;
    return 0;
}

int absa_arg_shape(const char *cmd, const char *opt, const char *s, int *C, int *H, int *W)
{
    int c, h, w, n = 0;
    if (sscanf(s, "%d,%d,%d%n", &c, &h, &w, &n) != 3 || s[n] || c < 1 || h < 1 || w < 1 ||
        c > 65536 || h > 65536 || w > 65536)
        return absa_cli_usage(cmd, "%s: '%s' is not a shape C,H,W", opt, s);
    *C = c;
    *H = h;
    *W = w;
    return 0;
}

int absa_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "absa %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int absa_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "absa %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'absa %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int absa_cli_bad_option(const char *cmd, int c, char **argv)
{
    const char *a = optind > 0 ? argv[optind - 1] : "?";
    if (optopt && (optind < 1 || strncmp(a, "--", 2))) { /* a short option: -x or inside -xy */
        if (c == ':') return absa_cli_usage(cmd, "option '-%c' needs a value", optopt);
        return absa_cli_usage(cmd, "unknown option '-%c'", optopt);
    }
    int n = (int)strcspn(a, "=");
    if (c == ':') return absa_cli_usage(cmd, "option '%.*s' needs a value", n, a);
    return absa_cli_usage(cmd, "unknown option '%.*s'", n, a);
}

int absa_cli_check_model(const char *cmd, const char *name)
{
    for (int i = 0; absa_model_names[i]; i++)
        if (!strcmp(absa_model_names[i], name)) return 0;
    return absa_cli_usage(cmd, "unknown model '%s' (known: mlp, lenet, c1, resnet20)", name);
}
