#!/usr/bin/env bash
# bench_engine.sh — training-step throughput and HVP cost of absa against Debian's PyTorch CPU,
# measured in the same run on the same machine (alternating, same threads, same batch).
# Usage: bash validation/bench/bench_engine.sh [build-dir] [steps] [OLD_ABSA [rounds]]
# ROUNDS=N (default 1): absa and torch alternate N times per model and batch; the table gives the
# medians and each round's ratio (on a shared host the speed of both drifts by 10-30 % within minutes).
# Prints a table: images/s of absa and torch, their ratio (target >= 1.0), and the time of one
# HVP relative to one gradient for each (target for absa <= 3).
# With OLD_ABSA (another absa binary, e.g. main before an engine change): old and new alternate
# `rounds` times (default 3) per model and batch instead of torch; the table gives the median
# images/s of each, new/old, and the median HVP time of each (a refactor should stay within 5 %).
# Prints the machine, the load and the OpenBLAS kernel absa runs first; both sides run with
# OMP_WAIT_POLICY=passive unless it is set (benchlib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. validation/bench/benchlib.sh
B=${1:-build}; STEPS=${2:-8}
ABSA=$B/src/absa
T=$(nproc)
[ -x "$ABSA" ] || { echo "build absa first ($ABSA missing)" >&2; exit 1; }
bench_machine
echo "$(bench_label env); absa's OpenBLAS kernel: $(bench_kernel env "$ABSA")"
# one run of absa (binary $1) or of torch for the current $model and $batch, as JSON
run_absa() { "$1" bench --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T" 2>/dev/null; }
run_torch() { /usr/bin/python3 validation/bench/bench_torch.py --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T"; }
if [ -n "${3:-}" ]; then
  OLD=$3; ROUNDS=${4:-3}; MODE=old
  first() { run_absa "$OLD"; }
  second() { run_absa "$ABSA"; }
  printf '%-9s %5s | %12s %12s %7s | %10s %10s %7s\n' model batch old_img/s new_img/s new/old old_hvp_ms new_hvp_ms new/old
else
  ROUNDS=${ROUNDS:-1}; MODE=torch
  first() { run_absa "$ABSA"; }
  second() { run_torch; }
  [ "$ROUNDS" -gt 1 ] && echo "absa and torch alternate $ROUNDS times per row; medians (a shared host's speed drifts from minute to minute)"
  printf '%-9s %5s | %12s %12s %6s | %9s %9s\n' model batch absa_img/s torch_img/s ratio absa_hvp/g torch_hvp/g
fi
for model in lenet resnet20; do
  for batch in 128 512; do
    runs=()
    for r in $(seq "$ROUNDS"); do
      runs+=("$(first)")
      runs+=("$(second)")
    done
    /usr/bin/python3 - "$MODE" "${runs[@]}" <<'PY'
import json, statistics, sys
mode, r = sys.argv[1], [json.loads(x) for x in sys.argv[2:]]
a, b = r[0::2], r[1::2]  # old and new, or absa and torch
med = lambda rs, k: statistics.median(x[k] for x in rs)
ai, bi = med(a, "step_images_per_s"), med(b, "step_images_per_s")
if mode == "old":
    ah, bh = med(a, "hvp_s") * 1e3, med(b, "hvp_s") * 1e3
    print("%-9s %5d | %12.1f %12.1f %7.3f | %10.2f %10.2f %7.3f" % (r[0]["model"], r[0]["batch"], ai, bi, bi / ai, ah, bh, bh / ah))
else:
    print("%-9s %5d | %12.1f %12.1f %6.2f | %9.2f %9.2f" % (a[0]["model"], a[0]["batch"], ai, bi, ai / bi,
          med(a, "hvp_over_grad"), med(b, "hvp_over_grad")))
    if len(a) > 1:
        print("          rounds: absa/torch %s" % " ".join("%.2f" % (x["step_images_per_s"] / y["step_images_per_s"]) for x, y in zip(a, b)))
PY
  done
done
