#!/bin/sh
# run_fuzz.sh [SECONDS] — builds fuzz_parsers.c with clang-14 libFuzzer + ASan/UBSan against the
# hdf5_io sources and runs it for SECONDS (default 60) on validation/fuzz/corpus/ (new inputs
# that add coverage are kept there; crashes land in validation/fuzz/crashes/). Exit 0 = no crash.
set -eu
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${ABSA_FUZZ_BUILD:-/tmp/absa_fuzz_build}
mkdir -p "$out" "$here/corpus" "$here/crashes"
[ -n "$(ls -A "$here/corpus")" ] || /usr/bin/python3 "$here/make_seeds.py"
clang-14 -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DABSA_VERSION=\"fuzz\" \
  -I"$root/src" -I"$root/hdf5_io" $(pkg-config --cflags hdf5-serial) \
  "$here/fuzz_parsers.c" "$root/hdf5_io/h5writer.c" "$root/hdf5_io/h5util.c" \
  "$root/hdf5_io/pack_idx.c" "$root/hdf5_io/pack_cifar.c" "$root/src/absa_error.c" \
  -o "$out/fuzz_parsers" $(pkg-config --libs hdf5-serial zlib) \
  -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5_hl -lm
"$out/fuzz_parsers" -max_total_time="$secs" -max_len=20000 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$here/crashes/" "$here/corpus"
