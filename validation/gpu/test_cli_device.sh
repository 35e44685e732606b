#!/usr/bin/env bash
# test_cli_device.sh ABSA PROBE PYTHON — `--device cuda` where no GPU can be used: absa bench,
# eig, train and init... each stop with ONE stderr line naming the cause and exit 1, and write no
# output. PROBE is test_gpu_probe (CUDA builds; the message must say "no CUDA ...") or "none"
# (builds without CUDA; the message must say "built without CUDA"). A bad `cuda:N` spelling is
# refused the same way. With a usable GPU the no-device path cannot be exercised: skip (77).
set -u
ABSA=$1 PROBE=$2 PY=${3:-/usr/bin/python3}
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
W=$(mktemp -d /tmp/gpu-cli-device.XXXXXX)
trap 'rm -rf "$W"' EXIT
# shellcheck source=../tools/testlib.sh
. "$TOOLS/testlib.sh"
if [ "$PROBE" = none ]; then
  want="built without CUDA"
else
  n=$("$PROBE" | sed -n 's/^devices: \([0-9]*\).*/\1/p')
  if [ "${n:-0}" != 0 ]; then echo "skipped: $n CUDA device(s) present: the no-device error cannot be tested here"; exit 77; fi
  want="--device cuda: no CUDA"
fi
# expect1 NAME PATTERN CMD...: exit code exactly 1, one stderr line matching PATTERN
expect1() {
  local name=$1 pat=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  local rc=$?
  if [ "$rc" -ne 1 ]; then bad "$name (exit $rc, want 1)"; cat "$W/err"; return; fi
  if [ "$(grep -c . "$W/err")" -ne 1 ]; then bad "$name (stderr is not one line)"; cat "$W/err"; return; fi
  grep -q -- "$pat" "$W/err" && ok "$name: $(cat "$W/err")" || bad "$name (no '$pat' in: $(cat "$W/err"))"
}
mkdir -p "$W/idx"
"$PY" "$TOOLS/absa_testlib.py" idx-subset "$W/idx" 64 16 || { bad "idx subset"; tally; exit 1; }
"$ABSA" pack --format idx --input "$W/idx" --output "$W/d.h5" --quiet || { bad "pack"; tally; exit 1; }
"$ABSA" train --data "$W/d.h5" --model mlp --schedule sgd --epochs 1 --batch 32 --micro-batch 32 --max-batch 32 \
  --threads 1 --step-log 0 --quiet --out "$W/run" 2>"$W/err" || { bad "cpu train run"; cat "$W/err"; tally; exit 1; }

expect1 "bench --device cuda" "$want" "$ABSA" bench --model mlp --steps 1 --warmup 0 --device cuda
expect1 "bench --device cuda:1" "${want%% CUDA*}" "$ABSA" bench --model mlp --steps 1 --warmup 0 --device cuda:1
expect1 "eig --device cuda" "$want" "$ABSA" eig --checkpoint "$W/run/checkpoint.h5" --data "$W/d.h5" --samples 16 \
  --iters 2 --device cuda
expect1 "train --device cuda" "$want" "$ABSA" train --data "$W/d.h5" --model mlp --schedule sgd --epochs 1 \
  --batch 32 --micro-batch 32 --max-batch 32 --threads 1 --quiet --device cuda --out "$W/run-cuda"
[ ! -e "$W/run-cuda/checkpoint.h5" ] && [ ! -e "$W/run-cuda/metrics.jsonl" ] && ok "train --device cuda wrote no results" \
  || bad "train --device cuda left results in $W/run-cuda"
if [ "$PROBE" != none ]; then
  expect1 "bench --device cuda:x" "expected cuda or cuda:N" "$ABSA" bench --model mlp --steps 1 --device cuda:x
fi
expect1 "bench --device cudax" "unknown device 'cudax'" "$ABSA" bench --model mlp --steps 1 --device cudax
tally
