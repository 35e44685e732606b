#!/bin/sh
# bench_pack.sh BUILD_DIR [WORKDIR] — packs Debian's Fashion-MNIST (train + test) with
# `absa pack` (target: under 5 s), then runs bench_reader on the packed train split with batches
# of 256 and 4096 and a cache budget of 8 MiB (the split is 45 MiB), printing samples/s beside a
# raw read() of the same file. Build first: cmake --build BUILD_DIR --target absa bench_reader
set -eu
build=${1:?usage: bench_pack.sh BUILD_DIR [WORKDIR]}
work=${2:-/tmp}
out="$work/absa_bench_fashion.h5"
absa="$build/src/absa"
t0=$(date +%s.%N)
"$absa" pack --format idx --output "$out" --force --quiet
t1=$(date +%s.%N)
echo "pack Fashion-MNIST train+test: $(echo "$t1 - $t0" | bc) s (target < 5 s), $(stat -c %s "$out") bytes"
t0=$(date +%s.%N)
"$absa" pack --format idx --output "$out" --force --quiet --verify
t1=$(date +%s.%N)
echo "pack with --verify: $(echo "$t1 - $t0" | bc) s"
for b in 256 4096; do
  "$build/validation/hdf5/bench_reader" "$out" train "$b" 8 3
done
rm -f "$out"
