#!/bin/bash
# bitflip.sh ABSA BITFLIP [N] [PYTHON] — N single-bit flips (default 1000) of a fresh mlp
# checkpoint and of a fresh packed dataset, each loaded by the real code paths (bitflip.c says
# how and how they are counted). Exit 0 when no flip crashed and none was loaded with changed
# content. The files are made here: a 300-sample random IDX set packed with `absa pack`, and a
# one-epoch `absa train` checkpoint on it (with optimizer and training state).
set -eu
A=$1
B=$2
N=${3:-1000}
PY=${4:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/absa_bitflip.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PY" "$HERE/../crash/mkidx.py" "$W/idx" 200 100
"$A" pack --format idx --input "$W/idx" --output "$W/d.h5" --quiet
"$A" train --data "$W/d.h5" --model mlp --epochs 1 --batch 64 --micro-batch 64 --eig-samples 64 --eig-chunk 64 \
  --threads 1 --out "$W/run" --quiet
rc=0
"$B" data "$W/d.h5" "$N" 1 "$W" || rc=1
"$B" ckpt "$W/run/checkpoint.h5" "$W/d.h5" "$N" 2 "$W" || rc=1
exit $rc
