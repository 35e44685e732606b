#!/bin/bash
# test_badvalues.sh ABSA PYTHON — bad values and misleading messages on load (issue 13, parts
# 2, 4, 5, 6), each a one-line error with exit status 1 or 2 naming the file and what is wrong:
#   a test-split label out of range (used to abort in the first test pass, xent_impl.h:23);
#   format_version = 2 of a packed file, checkpoint /train epoch = -3, adv_ratio = 5,
#   eig_ref = NaN, /optimizer momentum = 7 (used to be accepted without a word);
#   a missing file ("no such file", not "cannot open as HDF5"), a packed dataset given to
#   --resume / --checkpoint and a checkpoint given as --data (named for what they are);
#   a config error quoted once ("bad.cfg:2: unknown option 'bogus'", not
#   "bad.cfg:2: bad.cfg:2: ion 'bogus'").
set -u
A=$1
PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tools/testlib.sh"
W=$(mktemp -d /tmp/absa_badvalues.XXXXXX)
trap 'rm -rf "$W"' EXIT
ERR_TAIL=2
"$PY" -c 'import h5py, numpy' 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy"; exit 77; }
# expect_exact NAME TEXT CMD...: like expect_fail, and TEXT occurs exactly once in the line
expect_once() {
  local name=$1 text=$2
  expect_fail "$name" "$text" "${@:3}"
  local n
  n=$(grep -o -F -- "$text" "$W/err" | wc -l)
  [ "$n" -le 1 ] || bad "$name ('$text' appears $n times: $(cat "$W/err"))"
}
h5edit() { "$PY" -c "import h5py, numpy as np, sys; f = h5py.File(sys.argv[1], 'r+'); $2; f.close()" "$1"; }

"$PY" "$HERE/mkidx.py" "$W/idx" 200 100 || { bad "fixture"; tally; exit 1; }
"$A" pack --format idx --input "$W/idx" --output "$W/d.h5" --quiet || { bad "pack"; tally; exit 1; }
TR=(--model mlp --epochs 1 --batch 64 --micro-batch 64 --eig-samples 64 --eig-chunk 64 --threads 1 --quiet)
"$A" train --data "$W/d.h5" "${TR[@]}" --out "$W/run" || { bad "reference train"; tally; exit 1; }
CK=$W/run/checkpoint.h5

# 2. a test label out of range: refused when the data is opened, before any training
cp "$W/d.h5" "$W/badtest.h5"
h5edit "$W/badtest.h5" "f['test/labels'][99] = 10"
expect_fail "test label out of range" "split 'test': sample 99 has label 10 outside \[0, 10)" \
  "$A" train --data "$W/badtest.h5" "${TR[@]}" --out "$W/run_badtest"
cp "$W/d.h5" "$W/badtrain.h5"
h5edit "$W/badtrain.h5" "f['train/labels'][5] = -1"
expect_fail "train label out of range" "split 'train': sample 5 has label -1 outside \[0, 10)" \
  "$A" train --data "$W/badtrain.h5" "${TR[@]}" --out "$W/run_badtrain"

# 5. values of a packed file and of a checkpoint
cp "$W/d.h5" "$W/v2.h5"
h5edit "$W/v2.h5" "f.attrs['format_version'] = np.int32(2)"
expect_fail "packed format_version 2 (train)" "v2.h5: attribute format_version = 2; this absa reads format 1" \
  "$A" train --data "$W/v2.h5" "${TR[@]}" --out "$W/run_v2"
expect_fail "packed format_version 2 (info)" "attribute format_version = 2" "$A" info "$W/v2.h5"
cp "$W/d.h5" "$W/nc.h5"
h5edit "$W/nc.h5" "f.attrs['num_classes'] = np.int32(-4)"
expect_fail "packed num_classes -4" "attribute num_classes = -4 is outside" \
  "$A" train --data "$W/nc.h5" "${TR[@]}" --out "$W/run_nc"
cp "$W/d.h5" "$W/mean.h5"
h5edit "$W/mean.h5" "f.attrs['mean'] = np.array([np.nan], dtype=np.float32)"
expect_fail "packed mean NaN" "attribute mean\[0\] = nan" "$A" train --data "$W/mean.h5" "${TR[@]}" --out "$W/run_mean"
for case in "epoch:np.int64(-3):/train/epoch = -3 is out of range" \
            "adv_ratio:np.float64(5):/train/adv_ratio = 5 is out of range" \
            "eig_ref:np.float64(np.nan):/train/eig_ref = nan is not finite" \
            "batch:np.int64(0):/train/batch = 0 is out of range"; do
  key=${case%%:*} rest=${case#*:}
  val=${rest%%:*} msg=${rest#*:}
  cp "$CK" "$W/ck_$key.h5"
  h5edit "$W/ck_$key.h5" "f['train'].attrs['$key'] = $val"
  expect_fail "checkpoint $key = $val (resume)" "ck_$key.h5: attribute $msg" \
    "$A" train --data "$W/d.h5" "${TR[@]}" --epochs 2 --resume "$W/ck_$key.h5" --out "$W/run_$key"
done
cp "$CK" "$W/ck_mom.h5"
h5edit "$W/ck_mom.h5" "f['optimizer'].attrs['momentum'] = np.float64(7)"
expect_fail "checkpoint momentum = 7 (eig)" "ck_mom.h5: attribute /optimizer/momentum = 7 is malformed or out of range \[0, 1\]" \
  "$A" eig --checkpoint "$W/ck_mom.h5" --data "$W/d.h5" --samples 8
cp "$CK" "$W/ck_fv.h5"
h5edit "$W/ck_fv.h5" "f.attrs['format_version'] = np.int32(-1)"
expect_fail "checkpoint format_version = -1" "attribute format_version = -1 is out of range" \
  "$A" eig --checkpoint "$W/ck_fv.h5" --data "$W/d.h5" --samples 8

# 6. messages that name the real problem
expect_fail "train: missing data file" "$W/nope.h5: no such file" "$A" train --data "$W/nope.h5" "${TR[@]}" --out "$W/r6"
expect_fail "info: missing file" "$W/nope.h5: no such file" "$A" info "$W/nope.h5"
expect_fail "eig: missing checkpoint" "$W/nope.h5: no such file" "$A" eig --checkpoint "$W/nope.h5" --data "$W/d.h5"
expect_fail "resume from a packed dataset" "d.h5 is a packed dataset (absa pack output), not a checkpoint" \
  "$A" train --data "$W/d.h5" "${TR[@]}" --epochs 2 --resume "$W/d.h5" --out "$W/r7"
expect_fail "eig --checkpoint a packed dataset" "is a packed dataset (absa pack output), not a checkpoint" \
  "$A" eig --checkpoint "$W/d.h5" --data "$W/d.h5"
expect_fail "train --data a checkpoint" "checkpoint.h5 is an absa checkpoint, not a packed dataset" \
  "$A" train --data "$CK" "${TR[@]}" --out "$W/r8"

# 4. a callee's message quoted once by its caller
printf 'epochs = 1\nbogus = 1\n' >"$W/bad.cfg"
expect_once "config error quoted once" "bad.cfg:2: unknown option 'bogus'" \
  "$A" train --config "$W/bad.cfg" --data "$W/d.h5" --out "$W/r9"

# ... and a UCX failure quoted once: the server is killed under a training run; the trainer's
# line names the server once ("ucx://H:P: connection to the server lost: Endpoint timeout",
# not "ucx://H:P: ucx://H:P: r lost: Endpoint timeout")
if "$A" serve --help >/dev/null 2>&1; then
  export UCX_NET_DEVICES=${UCX_NET_DEVICES:-lo}
  (umask 077; printf 'correct horse battery staple\n' >"$W/secret")
  "$A" serve --data "$W/d.h5" --listen 127.0.0.1:0 --secret-file "$W/secret" --address-file "$W/addr" \
    --seed 0 --epochs 0 2>"$W/serve.log" &
  SRV=$!
  for _ in $(seq 1 100); do [ -s "$W/addr" ] && break; sleep 0.1; done
  URL=$(head -1 "$W/addr" 2>/dev/null)
  "$A" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" --model mlp --epochs 1000 --batch 16 \
    --micro-batch 16 --eig-samples 16 --eig-chunk 16 --threads 1 --out "$W/ucxrun" --quiet >"$W/out" 2>"$W/err" &
  TRN=$!
  sleep 2
  kill -9 "$SRV" 2>/dev/null
  wait "$SRV" 2>/dev/null
  for _ in $(seq 1 600); do kill -0 "$TRN" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$TRN" 2>/dev/null
  wait "$TRN"
  rc=$?
  n=$(grep -o -F -- "$URL" "$W/err" | wc -l)
  if [ "$rc" = 1 ] && [ "$(grep -c . "$W/err")" = 1 ] && [ "$n" = 1 ] && grep -q -- "^absa train: error: $URL: " "$W/err"; then
    ok "ucx failure quoted once: $(cat "$W/err")"
  else
    bad "ucx failure (exit $rc, URL $n times): $(head -c 300 "$W/err")"
  fi
else
  echo "skip ucx failure message (absa serve not built)"
fi
tally
