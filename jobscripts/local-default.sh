#!/usr/bin/env bash
# local-default.sh — the README's main job on one machine, on the embedded default data set
# (Fashion-MNIST from Debian's dataset-fashion-mnist package):
#   installs the dependencies, builds absa (Release) into ./build, packs Fashion-MNIST into
#   HDF5 (once), trains lenet with ABSA (FGSM samples in the first half), plots the run and prints
#   the test accuracy and why the batch grew.
# Growth: the batch (from 128, cap 1024) doubles after an epoch when the top Hessian eigenvalue has
#   fallen to half its reference (ABSA's rule), or when --duration eigenvalue epochs passed without
#   that. Three epochs are too few for the reference's duration of 10, so this demo uses
#   --duration 1: the batch doubles after EVERY epoch, by the eigenvalue rule or else by the timer.
#   The console ("-> batch N (...)"), metrics.jsonl ("grow_reason": "eig" | "duration") and the
#   plot's markers say which rule fired each time. For growth by the eigenvalue alone run more
#   epochs with a larger --duration (e.g. --epochs 30 --duration 10).
# A few minutes on 2 cores. Output: ./run-default/ (metrics.jsonl, checkpoint.h5, summary.json,
# absa.png); a second run overwrites the first (--force).
# Usage: bash jobscripts/local-default.sh [extra absa train flags, e.g. --epochs 10]
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
  --batch 128 --max-batch 1024 --lr 0.02 --duration 1 --step-log 10 --out "$OUT/absa" --force "$@"
"$ABSA" plot "$OUT/absa" -o "$OUT/absa.png" --title "lenet, ABSA, Fashion-MNIST"
/usr/bin/env python3 - "$OUT/absa/summary.json" <<'PY' 2>/dev/null || cat "$OUT/absa/summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
print("test accuracy %.2f%% after %d epochs, %d SGD iterations, last batch trained %d (%s)"
      % (100 * s["final_test_acc"], s["epochs"], s["sgd_iters"], s["final_batch"], sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[1].replace("summary.json", "metrics.jsonl")) if '"type": "epoch"' in l]
why = {"eig": "eigenvalue fell to 1/2 of its reference", "duration": "--duration timer"}
for r in rows:
    if r.get("grew"):
        print("after epoch %d: batch %d -> %d (%s)" % (r["epoch"], r["batch"], r["next_batch"], why.get(r.get("grow_reason"), "?")))
PY
