#!/usr/bin/env bash
# local-default.sh — the README's main job on one machine, on the embedded default data set
# (Fashion-MNIST from Debian's dataset-fashion-mnist package):
#   installs the dependencies, builds absa (Release) into ./build, packs Fashion-MNIST into
#   HDF5 if needed, initialises a lenet checkpoint and measures the top-2 Hessian eigenvalues and
#   the Hessian trace of its training loss on 512 samples with exact Hessian-vector products.
#   (Training with the ABSA schedule, `absa train`, is issue 4 and not built yet.)
# Output goes to ./run-default/ (checkpoint, eig.json). Usage: bash jobscripts/local-default.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobscripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >build.cmake.log 2>&1 || { cat build.cmake.log; exit 1; }
cmake --build build -j"$(nproc)" --target absa
OUT=run-default
mkdir -p "$OUT"
DATA=/usr/share/datasets/fashion-mnist
if ./build/src/absa pack --help >/dev/null 2>&1; then
  [ -f "$OUT/fashion-mnist.h5" ] || ./build/src/absa pack --format idx --output "$OUT/fashion-mnist.h5"
  DATA=$OUT/fashion-mnist.h5
fi
./build/src/absa init --model lenet --data "$DATA" --seed 1 --out "$OUT/lenet-init.h5" --force
./build/src/absa eig --checkpoint "$OUT/lenet-init.h5" --data "$DATA" --samples 512 --topk 2 \
  --iters 20 --rule relative --trace-probes 8 --output "$OUT/eig.json"
echo "result ($OUT/eig.json):"
cat "$OUT/eig.json"
