#!/usr/bin/env bash
# bench_eig.sh — the top-eigenvalue epoch of absa against PyTorch's double-backward power
# iteration on the same samples, in the same run (issue 17's target: absa <= 0.7x torch's time).
# Usage: bash validation/bench/bench_eig.sh [build-dir] [rounds=3] [CHECKPOINT DATA.h5]
# Without CHECKPOINT/DATA: Fashion-MNIST packed into a temp dir and a fresh `absa init` lenet
# (the main job's model). Both sides: the first --samples 128 training samples, 10 iterations
# (absa with --tol 1e-300 so it never stops early), eval-mode batch norm, $(nproc) threads,
# timed from loading the checkpoint and the samples to the last iteration (absa eig's
# "seconds"; torch: bench_eig_torch.py). absa and torch alternate `rounds` times; the table
# gives the medians and absa/torch, once per OpenBLAS mode (benchlib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. validation/bench/benchlib.sh
B=${1:-build}; ROUNDS=${2:-3}
ABSA=$B/src/absa; T=$(nproc); PY=/usr/bin/python3
[ -x "$ABSA" ] || { echo "build absa first ($ABSA missing)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/bench_eig.XXXXXX); trap 'rm -rf "$tmp"' EXIT
if [ -n "${3:-}" ]; then CK=$3; DATA=${4:?DATA.h5 is needed with CHECKPOINT}
else
  DATA=$tmp/fm.h5; CK=$tmp/lenet.h5
  "$ABSA" pack --format idx --output "$DATA" >/dev/null 2>&1
  "$ABSA" init --model lenet --data "$DATA" --out "$CK" >/dev/null 2>&1
fi
bench_machine
for mode in $(bench_modes); do
  echo "== $(bench_label "$mode"); absa's OpenBLAS kernel: $(bench_kernel "$mode" "$ABSA")"
  runs=()
  for r in $(seq "$ROUNDS"); do
    runs+=("$(bench_run "$mode" "$ABSA" eig --checkpoint "$CK" --data "$DATA" --samples 128 --iters 10 \
             --tol 1e-300 --first --quiet --threads "$T")")
    runs+=("$(bench_run "$mode" "$PY" validation/bench/bench_eig_torch.py --checkpoint "$CK" --data "$DATA" \
             --samples 128 --iters 10 --threads "$T")")
  done
  "$PY" - "${runs[@]}" <<'PY'
import json, os, sys
sys.path.insert(0, "validation/bench")
from benchlib import median
r = [json.loads(x) for x in sys.argv[1:]]
a, t = r[0::2], r[1::2]
assert all(x["iterations"] == [10] for x in a), "absa stopped before 10 iterations"
ma, mt = median(x["seconds"] for x in a), median(x["seconds"] for x in t)
print("torch's BLAS: %s" % t[0]["blas"])
print("rounds: absa %s s; torch %s s" % (" ".join("%.2f" % x["seconds"] for x in a), " ".join("%.2f" % x["seconds"] for x in t)))
print("%-8s samples %d, 10 iterations | absa %.2f s  torch %.2f s (power iteration alone %.2f s) | absa/torch %.2f (target <= 0.7: %s)"
      % (a[0]["model"], a[0]["samples"], ma, mt, median(x["power_iteration_s"] for x in t), ma / mt,
         "met" if ma / mt <= 0.7 else "NOT met"))
print("10-iteration estimates (different start vectors): absa %.4g, torch %.4g" % (a[0]["eigenvalues"][0], t[0]["eigenvalue"]))
PY
done
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
