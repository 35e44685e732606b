#!/bin/sh
# ucx_run_fuzz.sh [SECONDS] — builds ucx_fuzz.c (the `absa serve` protocol decoder, payload
# validators and lease bookkeeping) with clang-14 libFuzzer + ASan/UBSan and runs it for SECONDS
# (default 60) on validation/fuzz/ucx_corpus/ (inputs that add coverage are kept there; crashes
# land in validation/fuzz/ucx_crashes/). Exit 0 = no crash within the time limit.
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${ABSA_FUZZ_BUILD:-/tmp/absa_ucx_fuzz_build}
mkdir -p "$out" "$here/ucx_corpus" "$here/ucx_crashes"
[ -n "$(ls -A "$here/ucx_corpus")" ] || /usr/bin/python3 "$here/ucx_make_seeds.py"
clang-14 -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DABSA_VERSION=\"fuzz\" \
  -I"$root/src" -I"$root/hdf5_io" $(pkg-config --cflags hdf5-serial) \
  "$here/ucx_fuzz.c" "$root/src/ucx_proto.c" "$root/src/ucx_lease.c" "$root/src/absa_error.c" \
  "$root/hdf5_io/h5augment.c" "$root/hdf5_io/h5reader.c" "$root/hdf5_io/h5util.c" \
  -o "$out/ucx_fuzz" $(pkg-config --libs hdf5-serial zlib) -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5_hl -lm
"$out/ucx_fuzz" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$here/ucx_crashes/" "$here/ucx_corpus"
