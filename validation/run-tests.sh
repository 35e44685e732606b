#!/usr/bin/env bash
# run-tests.sh — the whole test suite, as CI runs it, from a fresh Debian 12 machine (root):
#   1. installs the build and oracle dependencies (idempotent);
#   2. Release build with -Werror, all CTest tests (unit, finite differences, PyTorch oracle, CLI);
#   3. AddressSanitizer + UBSan build, unit-labelled tests again.
# Both passes always run (a failing build or test in the first does not skip the second); the
# script ends with each pass's result and `tests: N passed, N failed` summed over both, and exits
# non-zero if either pass failed.
# Usage: bash validation/run-tests.sh [build-dir-prefix]   (default: ./build)
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
bash jobscripts/install-deps.sh --test || { echo "run-tests.sh: installing the dependencies failed" >&2; exit 1; }
J=$(nproc)
# 2-core CI machines: idle OpenMP workers must sleep, not spin against BLAS and other tests
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
t0=$(date +%s)
NPASS=0 NFAIL=0 SUMMARY=()

# run_pass NAME DIR "CMAKE ARGS" "CTEST ARGS": configure, build and test one tree; adds its counts
# to NPASS/NFAIL and a line to SUMMARY; returns non-zero when anything in it failed.
run_pass() {
  local name=$1 dir=$2 cargs=$3 targs=$4 rc=0 line p f
  echo "== $name ($dir) =="
  # shellcheck disable=SC2086
  if ! cmake -S . -B "$dir" $cargs >"$dir.cmake.log" 2>&1; then
    cat "$dir.cmake.log"; SUMMARY+=("$name: FAILED (cmake)"); return 1
  fi
  grep -A12 'feature summary' "$dir.cmake.log" || true
  if ! cmake --build "$dir" -j"$J"; then SUMMARY+=("$name: FAILED (build)"); return 1; fi
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure -j"$J" --timeout 900 $targs 2>&1 | tee "$dir.ctest.log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$dir.ctest.log" | tail -1)
  if [ -n "$line" ]; then
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    p=$(( $(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line") - f ))
    NPASS=$((NPASS + p)) NFAIL=$((NFAIL + f))
  elif [ "$rc" -ne 0 ]; then
    line="ctest exited $rc without a result line"
  fi
  if [ "$rc" -ne 0 ]; then SUMMARY+=("$name: FAILED ($line)"); return 1; fi
  SUMMARY+=("$name: ok ($line)")
}

rc=0
run_pass "release build" "$B" "-DCMAKE_BUILD_TYPE=Release -DABSA_WERROR=ON" "" || rc=1
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  run_pass "ASan+UBSan build" "$B-asan" "-DCMAKE_BUILD_TYPE=Debug -DABSA_SANITIZE=ON -DABSA_WERROR=ON" "-L unit" || rc=1
echo "== all test passes done in $(( $(date +%s) - t0 )) s =="
for s in "${SUMMARY[@]}"; do echo "  $s"; done
echo "tests: $NPASS passed, $NFAIL failed"
exit $rc
