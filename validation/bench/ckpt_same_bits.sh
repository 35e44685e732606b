#!/usr/bin/env bash
# ckpt_same_bits.sh — an engine refactor must not change a single bit: trains the same fixed-seed
# lenet and c1 runs (ABSA with eigenvalues, FGSM, batch growth) with an OLD and a NEW absa binary
# and compares every dataset of the final checkpoints (/model and /optimizer) bitwise (h5py).
# Usage: ckpt_same_bits.sh OLD_ABSA NEW_ABSA [PYTHON] [extra train options, e.g. --device cpu-guarded]
# Exit 0 when every checkpoint is bitwise identical. ABSA_SAME_BITS_MODELS overrides the models
# (default "lenet c1"; e.g. "resnet20" for a change that only touches its ops, such as BN_RELU).
set -u
OLD=$1; NEW=$2; PY=${3:-/usr/bin/python3}; shift $(( $# < 3 ? $# : 3 ))
EXTRA=("$@")
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
"$NEW" pack --format idx --output "$W/fm.h5" >/dev/null 2>&1 || { echo "pack failed"; exit 1; }
rc=0
for model in ${ABSA_SAME_BITS_MODELS:-lenet c1}; do
  COMMON=(--data "$W/fm.h5" --model "$model" --epochs 3 --batch 32 --micro-batch 32 --max-batch 128 --lr 0.02
          --duration 1 --limit-train 512 --limit-test 128 --eig-samples 32 --eig-iters 3 --eig-chunk 32
          --seed 11 --threads 2 --quiet)
  "$OLD" train "${COMMON[@]}" --out "$W/old-$model" 2>"$W/err" || { echo "old $model failed: $(tail -1 "$W/err")"; rc=1; continue; }
  "$NEW" train "${COMMON[@]}" "${EXTRA[@]}" --out "$W/new-$model" 2>"$W/err" || { echo "new $model failed: $(tail -1 "$W/err")"; rc=1; continue; }
  "$PY" - "$W/old-$model/checkpoint.h5" "$W/new-$model/checkpoint.h5" "$model" <<'PY' || rc=1
import sys, h5py, numpy as np
a, b, name = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), sys.argv[3]
def sets(f):
    out = {}
    f.visititems(lambda k, o: out.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
da, db = sets(a), sets(b)
diff = [k for k in da if k not in db or da[k].tobytes() != db[k].tobytes() or da[k].dtype != db[k].dtype]
diff += [k for k in db if k not in da]
attrs = [k for k in ("step", "lr") if a["optimizer"].attrs.get(k) != b["optimizer"].attrs.get(k)]
print(f"{name}: {len(da)} datasets compared, {len(diff)} differ{': ' + ', '.join(diff[:5]) if diff else ''}"
      f"; optimizer step {a['optimizer'].attrs['step']} vs {b['optimizer'].attrs['step']}")
sys.exit(1 if diff or attrs else 0)
PY
done
[ $rc = 0 ] && echo "SAME BITS" || echo "DIFFERENT"
exit $rc
