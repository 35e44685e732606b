/* cli_util.h — strict argument parsing and error printing shared by the absa subcommands:
 * numbers must parse completely and lie in range, otherwise a one-line usage error is printed
 * as "absa <cmd>: error: --opt: ..." and the caller returns 2. */
#ifndef ABSA_CLI_UTIL_H
#define ABSA_CLI_UTIL_H
#include <stdint.h>
#include <stdio.h>

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
/* Wall clock in seconds (monotonic). */
double absa_now(void);
/* Set OpenMP and OpenBLAS thread counts (n <= 0: leave the defaults). */
void absa_set_threads(int n);
/* Write a JSON string literal (quoted, escaped) to f. */
void absa_json_string(FILE *f, const char *s);
#endif
