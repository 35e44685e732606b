# testlib.sh — sourced by the shell tests (validation/*/test_*.sh): the pass/fail counters, the
# one-line-error check and the tally, in one place.
#   ERR_TAIL   lines of $W/err that bad() shows under a failure (default 0: none)
#   W          the test's scratch directory (expect_fail writes $W/out and $W/err)
pass=0
fail=0
ok() {
  pass=$((pass + 1))
  echo "ok   $1"
}
bad() {
  fail=$((fail + 1))
  echo "FAIL $1"
  if [ "${ERR_TAIL:-0}" -gt 0 ] && [ -f "${W:-}/err" ]; then tail -n "$ERR_TAIL" "$W/err" | sed 's/^/     /'; fi
}
# expect_fail NAME PATTERN CMD... : exit code 1 or 2, exactly one stderr line, matching PATTERN
expect_fail() {
  local name=$1 pat=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  local rc=$?
  if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then bad "$name (exit $rc)"; return; fi
  if [ "$(grep -c . "$W/err")" -ne 1 ]; then bad "$name (stderr is not one line)"; return; fi
  grep -q -- "$pat" "$W/err" && ok "$name" || bad "$name (no '$pat' in message)"
}
# tally [NOTE]: prints the counts; status 0 when nothing failed
tally() {
  echo "$pass passed, $fail failed${1:+ $1}"
  [ "$fail" = 0 ]
}
