/* cli_util.h — strict argument parsing and error printing shared by the absa subcommands:
 * numbers must parse completely and lie in range, otherwise a one-line usage error is printed
 * as "absa <cmd>: error: --opt: ..." and the caller returns 2. */
#ifndef ABSA_CLI_UTIL_H
#define ABSA_CLI_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base_json.h" /* absa_fmt_double, absa_json_string */
#include "base_sys.h"  /* absa_now, absa_set_threads */

int absa_arg_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
int absa_arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
int absa_arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                    double *out);
/* "C,H,W" with each in 1..65536 */
int absa_arg_shape(const char *cmd, const char *opt, const char *s, int *C, int *H, int *W);
/* Print "absa <cmd>: error: <msg>" (one line) and return 1. */
int absa_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "absa <cmd>: <msg>" and the hint to use --help, return 2. */
int absa_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The option getopt_long just rejected (default: branch of the option loop; optstring must
 * start with ':'): prints "absa <cmd>: unknown option '--foo' (see ...)" or "option '--foo'
 * needs a value", with the option as typed, and returns 2. */
int absa_cli_bad_option(const char *cmd, int c, char **argv);
/* 2 with a usage error unless name is one of absa_model_names (known: ...), else 0. */
int absa_cli_check_model(const char *cmd, const char *name);
#endif
