#!/usr/bin/env bash
# run.sh — the paper's comparison on Fashion-MNIST with lenet, same epochs and seed for all runs:
#   sgd128  SGD at batch 128                         (the baseline)
#   sgdmax  SGD at the maximum batch, lr scaled linearly (max/128)
#   abs     ABS  (batch grows with the Hessian eigenvalue), cap = max
#   absa    ABSA (ABS + FGSM adversarial samples early on)
# Writes OUT/table.md (final test accuracy, SGD iterations, ratios), OUT/runs.png and each run's
# directory. Target (paper): ABSA within 0.3 pp of sgd128 (or better) with >= 3x fewer SGD
# iterations, and better than sgdmax.
# Usage: bash validation/absa_vs_baseline/run.sh [OUT] ; env: ABSA (binary; default build/src/absa,
#        else absa on PATH), EPOCHS, MAXB, LR,
#        LIMIT (train samples, 0 = all 60000), DURATION, THREADS, SEED
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-absa-vs-baseline}
ABSA=${ABSA:-build/src/absa}
if [ ! -x "$ABSA" ]; then
  command -v absa >/dev/null || { echo "run.sh: no $ABSA and no absa on PATH (build, or cmake --install build)" >&2; exit 1; }
  ABSA=$(command -v absa)
fi
EPOCHS=${EPOCHS:-8}; MAXB=${MAXB:-1024}; LR=${LR:-0.02}; LIMIT=${LIMIT:-30000}; DURATION=${DURATION:-1}
THREADS=${THREADS:-0}; SEED=${SEED:-1}
mkdir -p "$OUT"
[ -f "$OUT/fashion-mnist.h5" ] || "$ABSA" pack --format idx --output "$OUT/fashion-mnist.h5"
common=(--data "$OUT/fashion-mnist.h5" --model lenet --epochs "$EPOCHS" --seed "$SEED" --threads "$THREADS"
        --limit-train "$LIMIT" --micro-batch 128 --step-log 0 --lr-decay-epochs "$((EPOCHS * 3 / 4))" --lr-decay 0.2)
# a run whose summary.json exists is kept (re-running the script finishes what is missing); one
# without it (interrupted) starts over (--force)
run() {
  local name=$1; shift
  if [ -f "$OUT/$name/summary.json" ]; then echo "== $name: done already ($OUT/$name/summary.json)"; return; fi
  echo "== $name: absa train $*"; "$ABSA" train "${common[@]}" "$@" --out "$OUT/$name" --force
}
LRMAX=$(awk -v l="$LR" -v m="$MAXB" 'BEGIN { printf "%.6g", l * m / 128 }')
run sgd128 --schedule sgd --batch 128 --max-batch 128 --lr "$LR"
run sgdmax --schedule sgd --batch "$MAXB" --max-batch "$MAXB" --lr "$LRMAX"
run abs    --schedule abs  --batch 128 --max-batch "$MAXB" --lr "$LR" --duration "$DURATION"
run absa   --schedule absa --batch 128 --max-batch "$MAXB" --lr "$LR" --duration "$DURATION"
"$ABSA" plot "$OUT/sgd128" "$OUT/sgdmax" "$OUT/abs" "$OUT/absa" -o "$OUT/runs.png" --title "lenet on Fashion-MNIST"
/usr/bin/python3 - "$OUT" "$EPOCHS" "$MAXB" "$LR" "$LIMIT" "$DURATION" <<'PY'
import json, sys
out, epochs, maxb, lr, limit, duration = sys.argv[1:]
rows = {n: json.load(open(f"{out}/{n}/summary.json")) for n in ("sgd128", "sgdmax", "abs", "absa")}
base = rows["sgd128"]
lines = ["| run | final test acc (%) | SGD iterations | iterations vs sgd128 | final batch | wall (s) |",
         "|---|---|---|---|---|---|"]
for n, r in rows.items():
    lines.append(f"| {n} | {100*r['final_test_acc']:.2f} | {r['sgd_iters']} | {base['sgd_iters']/r['sgd_iters']:.2f}x fewer | {r['final_batch']} | {r['wall_total_s']:.0f} |")
a = rows["absa"]
d = 100 * (a["final_test_acc"] - base["final_test_acc"])
verdict = [f"ABSA vs sgd128: {d:+.2f} pp accuracy (target >= -0.30), {base['sgd_iters']/a['sgd_iters']:.2f}x fewer iterations (target >= 3)",
           f"ABSA vs sgdmax: {100*(a['final_test_acc']-rows['sgdmax']['final_test_acc']):+.2f} pp (target > 0)"]
hdr = f"lenet, Fashion-MNIST ({'all 60000' if limit == '0' else limit} train samples), {epochs} epochs, seed fixed, base lr {lr}, max batch {maxb}, duration {duration}"
text = "\n".join([hdr, ""] + lines + [""] + verdict) + "\n"
open(f"{out}/table.md", "w").write(text)
print(text)
PY
