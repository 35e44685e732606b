/* base_json.h — text forms for JSON lines, config.txt and user messages, usable from every layer. */
#ifndef ABSA_BASE_JSON_H
#define ABSA_BASE_JSON_H
#include <stddef.h>
#include <stdio.h>

/* The shortest decimal (%.1g .. %.17g) that strtod reads back as exactly v, e.g. 0.2 and not
 * 0.20000000000000001: every float printed for users (help, config.txt, JSON) goes through it.
 * Non-finite values print as nan / inf / -inf. Returns buf. */
#define ABSA_DBL_LEN 32
char *absa_fmt_double(char *buf, size_t cap, double v);
/* Write a JSON string literal (quoted, escaped) to f. */
void absa_json_string(FILE *f, const char *s);
#endif
