/* test_error.c — the tier-2 error messages of src/base/absa_error.c: a message formatted from the
 * current message (absa_errorf("...%s", absa_last_error()), the pattern that used to produce
 * "bad.cfg:2: bad.cfg:2: ion 'bogus'"), absa_error_prefix / ABSA_FAIL_CTX, one-line folding and
 * truncation of long messages. */
#include <string.h>

#include "absa_error.h"
#include "absa_test.h"

static void check_msg(const char *want, const char *what)
{
    const char *got = absa_last_error();
    CHECK(!strcmp(got, want), "%s: got '%s' want '%s'", what, got, want);
}

/* a callee failing with a message, and a caller adding context the way the trainer does */
static absa_status callee(void)
{
    absa_errorf("unknown option '%s'", "bogus");
    return ABSA_EINVAL;
}

static absa_status caller(const char *path, int line)
{
    absa_status status = ABSA_OK;
    if (callee() != ABSA_OK) ABSA_FAIL_CTX(ABSA_EINVAL, "%s:%d: ", path, line);
cleanup:
    return status;
}

int main(void)
{
    /* formatting the current message into itself: the old code wrote over its own argument */
    absa_errorf("unknown option 'bogus'");
    absa_errorf("%s:%d: %s", "bad.cfg", 2, absa_last_error());
    check_msg("bad.cfg:2: unknown option 'bogus'", "errorf from last_error");

    absa_errorf("Endpoint timeout");
    absa_errorf("%s: commit: %s", "ucx://127.0.0.1:4000", absa_last_error());
    check_msg("ucx://127.0.0.1:4000: commit: Endpoint timeout", "errorf from last_error (ucx)");

    /* prefix */
    absa_errorf("Endpoint timeout");
    absa_error_prefix("%s: commit: ", "ucx://127.0.0.1:4000");
    check_msg("ucx://127.0.0.1:4000: commit: Endpoint timeout", "prefix");

    CHECK(caller("bad.cfg", 2) == ABSA_EINVAL, "ABSA_FAIL_CTX status");
    check_msg("bad.cfg:2: unknown option 'bogus'", "ABSA_FAIL_CTX");

    /* a prefix that itself quotes the current message */
    absa_errorf("abc");
    absa_error_prefix("[%s] ", absa_last_error());
    check_msg("[abc] abc", "prefix quoting the message");

    /* prefix of an empty message, and clear */
    absa_clear_error();
    check_msg("", "clear");
    absa_error_prefix("ctx: ");
    check_msg("ctx: ", "prefix of empty");

    /* one line: newlines become spaces, in the message and in the prefix */
    absa_errorf("a\nb\rc");
    check_msg("a b c", "one line");
    absa_error_prefix("x\ny: ");
    check_msg("x y: a b c", "prefix one line");

    /* long messages are truncated to the buffer (1023 chars), never overflow */
    char big[3000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    absa_errorf("%s", big);
    CHECK(strlen(absa_last_error()) == 1023, "truncated errorf: %zu", strlen(absa_last_error()));
    absa_error_prefix("%s", big);
    CHECK(strlen(absa_last_error()) == 1023, "truncated prefix: %zu", strlen(absa_last_error()));
    absa_errorf("short");
    absa_error_prefix("%.1020s: ", big);
    CHECK(strlen(absa_last_error()) == 1023 && !strncmp(absa_last_error() + 1020, ": s", 3),
          "prefix + message cut at the end: '%s'", absa_last_error() + 1018);
    return absa_test_finish("test_error");
}
