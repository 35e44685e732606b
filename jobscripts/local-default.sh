#!/usr/bin/env bash
# local-default.sh — the README's main job on one machine, on the embedded default data set
# (Fashion-MNIST from Debian's dataset-fashion-mnist package):
#   installs the dependencies, builds absa (Release) into ./build, packs Fashion-MNIST into
#   HDF5 (once), trains lenet with ABSA (batch grows from 128 as the top Hessian eigenvalue falls,
#   FGSM samples in the first half), plots the run and prints the test accuracy.
# A few minutes on 2 cores. Output: ./run-default/ (metrics.jsonl, checkpoint.h5, summary.json,
# absa.png). Usage: bash jobscripts/local-default.sh [extra absa train flags, e.g. --epochs 10]
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobscripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >build.cmake.log 2>&1 || { cat build.cmake.log; exit 1; }
cmake --build build -j"$(nproc)" --target absa
ABSA=./build/src/absa
OUT=run-default
mkdir -p "$OUT"
[ -f "$OUT/fashion-mnist.h5" ] || "$ABSA" pack --format idx --output "$OUT/fashion-mnist.h5"
"$ABSA" train --data "$OUT/fashion-mnist.h5" --model lenet --schedule absa --epochs 3 \
  --batch 128 --max-batch 1024 --lr 0.02 --duration 1 --step-log 10 --out "$OUT/absa" "$@"
"$ABSA" plot "$OUT/absa" -o "$OUT/absa.png" --title "lenet, ABSA, Fashion-MNIST"
/usr/bin/env python3 - "$OUT/absa/summary.json" <<'PY' 2>/dev/null || cat "$OUT/absa/summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
print("test accuracy %.2f%% after %d epochs, %d SGD iterations, final batch %d (%s)"
      % (100 * s["final_test_acc"], s["epochs"], s["sgd_iters"], s["final_batch"], sys.argv[1]))
PY
