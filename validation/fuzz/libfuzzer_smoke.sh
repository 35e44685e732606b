#!/usr/bin/env bash
# libfuzzer_smoke.sh SECONDS — builds both libFuzzer targets (run_fuzz.sh: the file parsers;
# ucx_run_fuzz.sh: the absa serve protocol decoder and lease bookkeeping) and runs each for
# SECONDS on a copy of its corpus, so that a target that no longer builds or links (as the UCX one
# did for a while) fails CTest instead of a later manual run. Skips (77) without clang-14.
set -u
SECS=${1:-5}
command -v clang-14 >/dev/null || { echo "SKIP: clang-14 not installed (jobscripts/install-deps.sh --test)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rc=0
for t in run_fuzz ucx_run_fuzz; do
  mkdir -p "$tmp/$t"
  if ABSA_FUZZ_BUILD=$tmp/$t ABSA_FUZZ_SCRATCH=$tmp/$t sh "$here/$t.sh" "$SECS" >"$tmp/$t.log" 2>&1; then
    echo "ok   $t.sh: built and ran ${SECS} s, $(grep -c . "$tmp/$t.log") log lines, no crash"
  else
    echo "FAIL $t.sh"; tail -n 15 "$tmp/$t.log"; rc=1
  fi
done
exit $rc
