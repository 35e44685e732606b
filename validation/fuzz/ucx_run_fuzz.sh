#!/bin/sh
# ucx_run_fuzz.sh [SECONDS] — builds ucx_fuzz.c (the `absa serve` protocol decoder, payload
# validators and lease bookkeeping) with clang-14 libFuzzer + ASan/UBSan and runs it for SECONDS
# (default 60) on validation/fuzz/ucx_corpus/ (inputs that add coverage are kept there; crashes
# land in validation/fuzz/ucx_crashes/). Exit 0 = no crash within the time limit.
set -eu
. "$(cd "$(dirname "$0")" && pwd)/fuzz_common.sh"
ABSA_FUZZ_BUILD=${ABSA_FUZZ_BUILD:-/tmp/absa_ucx_fuzz_build}
absa_fuzz ucx_fuzz ucx_corpus ucx_crashes ucx_make_seeds.py 4096 "${1:-60}" \
  validation/fuzz/ucx_fuzz.c src/stream/ucx_proto.c src/stream/ucx_lease.c src/base/absa_error.c hdf5_io/h5augment.c \
  hdf5_io/h5reader.c hdf5_io/h5util.c hdf5_io/h5safe.c src/base/base_hash.c
