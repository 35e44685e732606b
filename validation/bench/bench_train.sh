#!/usr/bin/env bash
# bench_train.sh — a whole `absa train` of the main job's configuration (jobscripts/local-default.sh:
# lenet, ABSA, 3 epochs, batch 128 -> cap 1024, lr 0.02, --duration 1, Fashion-MNIST) against
# the same loop in PyTorch (bench_train_torch.py: same data, schedule, micro-batches, FGSM,
# eigenvalue epochs, test batch, a checkpoint per epoch, same threads), in the same run
# (issue 17's target: absa at least 2x faster).
# Usage: bash validation/bench/bench_train.sh [build-dir] [rounds=1] [extra absa train flags]
# absa and torch alternate `rounds` times; the table gives median seconds of the whole process
# (absa: the command; torch: interpreter start to exit, the torch import included) and of the
# loop alone (absa: summary.json's wall; torch: from loading the data to the end), once per
# OpenBLAS mode (benchlib.sh). Extra flags go to both sides (only those bench_train_torch.py
# knows, e.g. --epochs 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
. validation/bench/benchlib.sh
B=${1:-build}; ROUNDS=${2:-1}; shift $(( $# < 2 ? $# : 2 ))
ABSA=$B/src/absa; T=$(nproc); PY=/usr/bin/python3
[ -x "$ABSA" ] || { echo "build absa first ($ABSA missing)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/bench_train.XXXXXX); trap 'rm -rf "$tmp"' EXIT
"$ABSA" pack --format idx --output "$tmp/fm.h5" >/dev/null 2>&1
JOB=(--model lenet --schedule absa --epochs 3 --batch 128 --max-batch 1024 --lr 0.02 --duration 1 "$@")
now() { date +%s.%N; }
bench_machine
for mode in $(bench_modes); do
  echo "== $(bench_label "$mode"); absa's OpenBLAS kernel: $(bench_kernel "$mode" "$ABSA")"
  runs=()
  for r in $(seq "$ROUNDS"); do
    s=$(now)
    bench_run "$mode" "$ABSA" train --data "$tmp/fm.h5" "${JOB[@]}" --step-log 10 --threads "$T" \
      --out "$tmp/run" --force --quiet
    e=$(now)
    runs+=("$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); s["process_s"]=float(sys.argv[3])-float(sys.argv[2]); print(json.dumps(s))' \
               "$tmp/run/summary.json" "$s" "$e")")
    runs+=("$(bench_run "$mode" "$PY" validation/bench/bench_train_torch.py --data "$tmp/fm.h5" "${JOB[@]}" --threads "$T")")
  done
  "$PY" - "$tmp/run/metrics.jsonl" "${runs[@]}" <<'PY'
import json, sys
sys.path.insert(0, "validation/bench")
from benchlib import median
r = [json.loads(x) for x in sys.argv[2:]]
a, t = r[0::2], r[1::2]
ep = [json.loads(l) for l in open(sys.argv[1]) if '"type": "epoch"' in l]
print("absa  epochs (last round): " + "; ".join("%d: batch %d, eig iters %s, test acc %.4f" % (e["epoch"], e["batch"], e["eig_iters"], e["test_acc"]) for e in ep))
print("torch epochs (last round): " + "; ".join("%d: eig iters %s, next batch %d, test acc %.4f" % (e["epoch"], e["eig_iters"], e["next_batch"], e["test_acc"]) for e in t[-1]["epochs"]))
print("torch's BLAS: %s" % t[0]["blas"])
pa, pt = median(x["process_s"] for x in a), median(x["seconds_with_import"] for x in t)
la, lt = median(x["wall_total_s"] for x in a), median(x["seconds"] for x in t)
print("rounds (process s): absa %s; torch %s" % (" ".join("%.1f" % x["process_s"] for x in a), " ".join("%.1f" % x["seconds_with_import"] for x in t)))
print("whole process: absa %.1f s  torch %.1f s  torch/absa %.2f (target >= 2: %s) | loop alone: absa %.1f s  torch %.1f s  torch/absa %.2f"
      % (pa, pt, pt / pa, "met" if pt / pa >= 2 else "NOT met", la, lt, lt / la))
PY
done
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
