#!/usr/bin/env bash
# test_guarded.sh — training on the guarded backend (--device cpu-guarded: every backend buffer
# is PROT_NONE outside backend calls, so any host code that reaches into model memory instead of
# going through the backend table dies with SIGSEGV):
#  1. lenet and c1 (batch norm), ABSA with eigenvalues, FGSM and batch growth: stopped after one
#     epoch, resumed from the checkpoint to the end: every metrics line and every weight bitwise
#     equal to an uninterrupted run on the default cpu backend;
#  2. absa eig on that checkpoint: the same eigenvalue on cpu-guarded as on cpu;
#  3. absa bench runs on cpu-guarded.
# Usage: test_guarded.sh ABSA PYTHON
set -u
ABSA=$1; PY=${2:-/usr/bin/python3}
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$TOOLS/testlib.sh"
ERR_TAIL=5
$ABSA pack --format idx --output "$W/fm.h5" >/dev/null 2>&1 && ok "pack fashion-mnist" || { bad "pack"; tally; exit 1; }
for model in lenet c1; do
  COMMON=(--data "$W/fm.h5" --model $model --epochs 3 --batch 32 --micro-batch 32 --max-batch 128 --lr 0.02
          --duration 1 --limit-train 256 --limit-test 64 --eig-samples 32 --eig-iters 3 --eig-chunk 32
          --seed 5 --threads 1 --quiet)
  $ABSA train "${COMMON[@]}" --out "$W/cpu-$model" 2>"$W/err" && ok "$model on cpu" || bad "$model on cpu"
  $ABSA train "${COMMON[@]}" --device cpu-guarded --stop-after 1 --out "$W/g-$model" 2>"$W/err" \
    && ok "$model on cpu-guarded, epoch 1" || bad "$model on cpu-guarded, epoch 1"
  $ABSA train "${COMMON[@]}" --device cpu-guarded --resume "$W/g-$model/checkpoint.h5" --out "$W/g-$model" 2>"$W/err" \
    && ok "$model on cpu-guarded, resumed to the end" || bad "$model on cpu-guarded, resumed"
  $PY "$TOOLS/absa_testlib.py" same-run "$W/cpu-$model" "$W/g-$model" 3 \
    && ok "$model: guarded + resume bitwise equal to cpu" || bad "$model: guarded + resume bitwise equal to cpu"
done
EIG=(eig --checkpoint "$W/g-c1/checkpoint.h5" --data "$W/fm.h5" --samples 32 --iters 3 --chunk 16 --seed 3 --threads 1 --quiet)
$ABSA "${EIG[@]}" > "$W/eig-cpu.json" 2>"$W/err" && ok "absa eig on cpu" || bad "absa eig on cpu"
$ABSA "${EIG[@]}" --device cpu-guarded > "$W/eig-g.json" 2>"$W/err" && ok "absa eig on cpu-guarded" || bad "absa eig on cpu-guarded"
$PY -c "import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); print('  eig', a['eigenvalues'], b['eigenvalues']); sys.exit(0 if a['eigenvalues']==b['eigenvalues'] and a['eigenvalues'][0] > 0 else 1)" \
  "$W/eig-cpu.json" "$W/eig-g.json" && ok "same eigenvalue on cpu-guarded" || bad "same eigenvalue on cpu-guarded"
$ABSA bench --model lenet --batch 8 --steps 1 --warmup 0 --threads 1 --device cpu-guarded >/dev/null 2>"$W/err" \
  && ok "absa bench on cpu-guarded" || bad "absa bench on cpu-guarded"
expect_fail "unknown device" "unknown device 'tpu'" $ABSA train --data "$W/fm.h5" --device tpu --out "$W/x"
tally
