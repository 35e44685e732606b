#!/usr/bin/env bash
# run-tests.sh — the whole test suite, as CI runs it, from a fresh Debian 12 machine (root):
#   1. installs the build and oracle dependencies (idempotent);
#   2. Release build with -Werror, all CTest tests (unit, finite differences, PyTorch oracle, CLI);
#   3. AddressSanitizer + UBSan build, unit-labelled tests again.
# Usage: bash validation/run-tests.sh [build-dir-prefix]   (default: ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
bash jobscripts/install-deps.sh --test
J=$(nproc)
# 2-core CI machines: idle OpenMP workers must sleep, not spin against BLAS and other tests
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
t0=$(date +%s)
echo "== release build ($B) =="
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DABSA_WERROR=ON >"$B.cmake.log" 2>&1 || { cat "$B.cmake.log"; exit 1; }
grep -A12 'feature summary' "$B.cmake.log" || true
cmake --build "$B" -j"$J"
ctest --test-dir "$B" --output-on-failure -j"$J" --timeout 900
echo "== ASan+UBSan build ($B-asan) =="
cmake -S . -B "$B-asan" -DCMAKE_BUILD_TYPE=Debug -DABSA_SANITIZE=ON -DABSA_WERROR=ON >"$B-asan.cmake.log" 2>&1 || { cat "$B-asan.cmake.log"; exit 1; }
cmake --build "$B-asan" -j"$J"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  ctest --test-dir "$B-asan" -L unit --output-on-failure -j"$J" --timeout 900
echo "== all test passes done in $(( $(date +%s) - t0 )) s =="
