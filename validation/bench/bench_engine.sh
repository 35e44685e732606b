#!/usr/bin/env bash
# bench_engine.sh — training-step throughput and HVP cost of absa against Debian's PyTorch CPU,
# measured in the same run on the same machine (alternating, same threads, same batch).
# Usage: bash validation/bench/bench_engine.sh [build-dir] [steps]
# Prints a table: images/s of absa and torch, their ratio (target >= 1.0), and the time of one
# HVP relative to one gradient for each (target for absa <= 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}; STEPS=${2:-8}
ABSA=$B/src/absa
T=$(nproc)
[ -x "$ABSA" ] || { echo "build absa first ($ABSA missing)" >&2; exit 1; }
printf '%-9s %5s | %12s %12s %6s | %9s %9s\n' model batch absa_img/s torch_img/s ratio absa_hvp/g torch_hvp/g
for model in lenet resnet20; do
  for batch in 128 512; do
    a=$("$ABSA" bench --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T" 2>/dev/null)
    t=$(/usr/bin/python3 validation/bench/bench_torch.py --model "$model" --batch "$batch" --steps "$STEPS" --threads "$T")
    /usr/bin/python3 - "$a" "$t" <<'PY'
import json, sys
a, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%-9s %5d | %12.1f %12.1f %6.2f | %9.2f %9.2f" % (a["model"], a["batch"], a["step_images_per_s"],
      t["step_images_per_s"], a["step_images_per_s"] / t["step_images_per_s"], a["hvp_over_grad"], t["hvp_over_grad"]))
PY
  done
done
