#!/bin/sh
# run_fuzz.sh [SECONDS] — builds fuzz_parsers.c with clang-14 libFuzzer + ASan/UBSan against the
# hdf5_io sources and runs it for SECONDS (default 60) on validation/fuzz/corpus/ (new inputs
# that add coverage are kept there; crashes land in validation/fuzz/crashes/). Exit 0 = no crash.
set -eu
. "$(cd "$(dirname "$0")" && pwd)/fuzz_common.sh"
ABSA_FUZZ_BUILD=${ABSA_FUZZ_BUILD:-/tmp/absa_fuzz_build}
absa_fuzz fuzz_parsers corpus crashes make_seeds.py 20000 "${1:-60}" \
  validation/fuzz/fuzz_parsers.c hdf5_io/h5writer.c hdf5_io/h5util.c hdf5_io/pack_idx.c \
  hdf5_io/pack_cifar.c hdf5_io/cifar_py.c hdf5_io/h5safe.c src/base/absa_error.c
