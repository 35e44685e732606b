#!/usr/bin/env bash
# test_cli_engine.sh — end-to-end checks of `absa init`, `absa eig`, `absa bench`:
# --help everywhere, one-line errors with non-zero exit for bad input (never a crash, never an
# output file left behind), deterministic JSON results. Usage: test_cli_engine.sh ABSA PYTHON
set -u
ABSA=$1; PY=${2:-/usr/bin/python3}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$(cd "$(dirname "$0")/../tools" && pwd)/testlib.sh"
ERR_TAIL=5
DATA=/usr/share/datasets/fashion-mnist

for c in "" init eig bench; do
  $ABSA $c --help >"$W/out" 2>"$W/err" && grep -q usage "$W/out" && ok "help $c" || bad "help $c"
done
expect_fail "unknown command" "unknown command" $ABSA frobnicate
expect_fail "init unknown model" "unknown model 'vgg'" $ABSA init --model vgg --out "$W/x.h5"
[ ! -e "$W/x.h5" ] && ok "no file after failed init" || bad "no file after failed init"
expect_fail "init needs --out" "\-\-out is required" $ABSA init
expect_fail "init bad shape" "not a shape" $ABSA init --input 3,32 --out "$W/x.h5"
expect_fail "eig missing checkpoint" "$W/missing.h5" $ABSA eig --checkpoint "$W/missing.h5"
echo "not hdf5" > "$W/junk.h5"
expect_fail "eig non-hdf5 checkpoint" "junk.h5" $ABSA eig --checkpoint "$W/junk.h5"
expect_fail "eig bad number" "not an integer" $ABSA eig --checkpoint x --samples 12x

$ABSA init --model lenet --data $DATA --seed 3 --out "$W/lenet.h5" 2>/dev/null && ok "init lenet" || bad "init lenet"
expect_fail "init refuses to overwrite" "exists" $ABSA init --model lenet --out "$W/lenet.h5"
$ABSA init --model c1 --input 3,32,32 --out "$W/c1.h5" 2>/dev/null && ok "init c1 cifar shape" || bad "init c1"
expect_fail "eig shape mismatch" "expects 3x32x32" $ABSA eig --checkpoint "$W/c1.h5" --data $DATA --samples 8 --quiet
expect_fail "eig missing data" "does not exist" $ABSA eig --checkpoint "$W/lenet.h5" --data "$W/nodata" --quiet
mkdir -p "$W/trunc"; head -c 1000 $DATA/train-images-idx3-ubyte.gz > "$W/trunc/train-images-idx3-ubyte.gz"
cp $DATA/train-labels-idx1-ubyte.gz "$W/trunc/"
expect_fail "eig truncated idx" "trunc" $ABSA eig --checkpoint "$W/lenet.h5" --data "$W/trunc" --quiet

# a checkpoint that claims to be another model: names and shapes must be reported
cp "$W/lenet.h5" "$W/liar.h5"
if $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f.attrs['model']='mlp'; f.close()" "$W/liar.h5" 2>/dev/null; then
  expect_fail "checkpoint for another model" "fc1.weight" $ABSA eig --checkpoint "$W/liar.h5" --data $DATA --samples 8 --quiet
  cp "$W/lenet.h5" "$W/nan.h5"
  $PY -c "import h5py,sys,numpy as np; f=h5py.File(sys.argv[1],'r+'); d=f['model/conv1.weight']; a=d[...]; a[0,0,0,0]=np.nan; d[...]=a; f.close()" "$W/nan.h5"
  expect_fail "NaN in checkpoint" "finite" $ABSA eig --checkpoint "$W/nan.h5" --data $DATA --samples 8 --quiet
else
  echo "skip h5py edits (no h5py)"
fi

# deterministic JSON; eigenvalue positive at init; two runs identical
$ABSA eig --checkpoint "$W/lenet.h5" --data $DATA --samples 64 --seed 5 --quiet --output "$W/e1.json" && \
$ABSA eig --checkpoint "$W/lenet.h5" --data $DATA --samples 64 --seed 5 --quiet > "$W/e2.json" && ok "eig runs" || bad "eig runs"
$PY - "$W/e1.json" "$W/e2.json" <<'PY' && ok "eig JSON deterministic and sane" || bad "eig JSON deterministic and sane"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["eigenvalues"] == b["eigenvalues"], (a, b)
assert a["samples"] == 64 and a["model"] == "lenet" and a["bn"] == "eval"
assert a["eigenvalues"][0] > 0 and a["hvp_passes"] >= 2, a
PY
$ABSA bench --model mlp --batch 16 --steps 2 --warmup 0 > "$W/b.json" 2>/dev/null && \
  $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['step_images_per_s']>0 and d['hvp_over_grad']>0" "$W/b.json" \
  && ok "bench JSON" || bad "bench JSON"
tally
