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
if [ -n "${3:-}" ]; then
  OLD=$3; ROUNDS=${4:-3}
  printf '%-9s %5s | %12s %12s %7s | %10s %10s %7s\n' model batch old_img/s new_img/s new/old old_hvp_ms new_hvp_ms new/old
  for model in lenet resnet20; do
    for batch in 128 512; do
      runs=()
      for r in $(seq "$ROUNDS"); do
        runs+=("$("$OLD" bench --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T" 2>/dev/null)")
        runs+=("$("$ABSA" bench --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T" 2>/dev/null)")
      done
      /usr/bin/python3 - "${runs[@]}" <<'PY'
import json, statistics, sys
r = [json.loads(x) for x in sys.argv[1:]]
old, new = r[0::2], r[1::2]
med = lambda rs, k: statistics.median(x[k] for x in rs)
oi, ni = med(old, "step_images_per_s"), med(new, "step_images_per_s")
oh, nh = med(old, "hvp_s") * 1e3, med(new, "hvp_s") * 1e3
print("%-9s %5d | %12.1f %12.1f %7.3f | %10.2f %10.2f %7.3f" % (r[0]["model"], r[0]["batch"], oi, ni, ni / oi, oh, nh, nh / oh))
PY
    done
  done
  exit 0
fi
ROUNDS=${ROUNDS:-1}
[ "$ROUNDS" -gt 1 ] && echo "absa and torch alternate $ROUNDS times per row; medians (a shared host's speed drifts from minute to minute)"
printf '%-9s %5s | %12s %12s %6s | %9s %9s\n' model batch absa_img/s torch_img/s ratio absa_hvp/g torch_hvp/g
for model in lenet resnet20; do
  for batch in 128 512; do
    runs=()
    for r in $(seq "$ROUNDS"); do
      runs+=("$("$ABSA" bench --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T" 2>/dev/null)")
      runs+=("$(/usr/bin/python3 validation/bench/bench_torch.py --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T")")
    done
    /usr/bin/python3 - "${runs[@]}" <<'PY'
import json, statistics, sys
r = [json.loads(x) for x in sys.argv[1:]]
a, t = r[0::2], r[1::2]
med = lambda rs, k: statistics.median(x[k] for x in rs)
ai, ti = med(a, "step_images_per_s"), med(t, "step_images_per_s")
print("%-9s %5d | %12.1f %12.1f %6.2f | %9.2f %9.2f" % (a[0]["model"], a[0]["batch"], ai, ti, ai / ti,
      med(a, "hvp_over_grad"), med(t, "hvp_over_grad")))
if len(a) > 1:
    print("          rounds: absa/torch %s" % " ".join("%.2f" % (x["step_images_per_s"] / y["step_images_per_s"]) for x, y in zip(a, t)))
PY
  done
done
