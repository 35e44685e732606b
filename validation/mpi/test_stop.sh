#!/usr/bin/env bash
# test_stop.sh — graceful stop of `absa train` on one process (no MPI): SIGTERM (and SIGINT)
# in the middle of an epoch finishes the current step, writes a checkpoint whose /train
# attributes hold the epoch in progress and its cursor, and exits 0 with a log line; --resume
# continues that epoch with the same permutation, and the run is bitwise the uninterrupted one
# (every metrics line except wall times, and the final weights); every sample is used once per
# epoch across the stop.
# Usage: test_stop.sh ABSA PYTHON
set -u
ABSA=$1; PY=${2:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$TOOLS/testlib.sh"
ERR_TAIL=5
$ABSA pack --format idx --output "$W/fm.h5" >/dev/null 2>&1 || { echo "FAIL pack"; exit 1; }
N=1024
COMMON=(--data "$W/fm.h5" --model lenet --epochs 3 --batch 32 --micro-batch 32 --max-batch 128 --lr 0.02
        --duration 1 --limit-train $N --limit-test 200 --test-batch 100 --eig-samples 64 --eig-iters 4
        --eig-chunk 32 --seed 5 --threads 1 --quiet)
timeout 300 $ABSA train "${COMMON[@]}" --out "$W/full" 2>"$W/err" && ok "uninterrupted run" || bad "uninterrupted run"

for SIG in TERM INT; do
  D=$W/cut-$SIG
  # signal as soon as epoch 1 is logged: the stop comes a few steps into epoch 2
  $ABSA train "${COMMON[@]}" --out "$D" --sample-log "$D-ids" 2>"$W/err" &
  P=$!
  for _ in $(seq 3000); do grep -q '"type": "epoch", "epoch": 1,' "$D/metrics.jsonl" 2>/dev/null && break; sleep 0.01; done
  kill -$SIG $P; wait $P; rc=$?
  [ $rc -eq 0 ] && grep -q "stopped by SIG$SIG after step .* (epoch 2, .* of $N samples)" "$W/err" \
    && ok "SIG$SIG mid-epoch: exit 0 and log line" || bad "SIG$SIG mid-epoch: exit 0 and log line (rc $rc)"
  "$PY" - "$D/checkpoint.h5" $N <<'PY' && ok "  checkpoint holds the epoch in progress and its cursor" || bad "  checkpoint holds the epoch in progress and its cursor"
import sys, h5py
a = h5py.File(sys.argv[1], "r")["train"].attrs
n = int(sys.argv[2])
print("  /train: epoch %d, ep_epoch %d, ep_cursor %d, ep_seen %d" % (a["epoch"], a["ep_epoch"], a["ep_cursor"], a["ep_seen"]))
assert a["epoch"] == 1 and a["ep_epoch"] == 2 and 0 < a["ep_cursor"] < n and a["ep_seen"] == a["ep_cursor"]
PY
  timeout 300 $ABSA train "${COMMON[@]}" --out "$D" --resume "$D/checkpoint.h5" --sample-log "$D-ids" 2>"$W/err" \
    && ok "  resumed to the end" || bad "  resumed to the end"
  "$PY" "$TOOLS/absa_testlib.py" same-run "$W/full" "$D" 11 && "$PY" - "$D-ids" $N <<'PY' && ok "  bitwise equal to the uninterrupted run, samples once per epoch" || bad "  bitwise equal to the uninterrupted run"
import glob, sys
n, per = int(sys.argv[2]), {}
for f in glob.glob(sys.argv[1] + "/ids.*.txt"):
    for l in open(f):
        p = l.split(); per.setdefault(int(p[0]), []).extend(int(v) for v in p[2:])
assert sorted(per) == [1, 2, 3] and all(sorted(v) == list(range(n)) for v in per.values())
print("  3 epochs x %d samples once each" % n)
PY
done
tally
