#!/bin/bash
# test_outlock.sh ABSA PYTHON — two trainers on one --out. The "already holds a run" check and the
# creation of the run's files were not one step, and --force or --resume from a second process
# went through while the first was writing: two runs interleaved in one metrics.jsonl and
# overwrote each other's checkpoints. Now rank 0 holds a flock on the directory for the whole
# run (src/train/train_io.c): a second trainer is refused in one line (exit 1) and the running
# one finishes whole; the lock ends with the run, also on kill -9; of two started together on a
# fresh --out exactly one runs.
set -u
A=$1
PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tools/testlib.sh"
W=$(mktemp -d /tmp/absa_outlock.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
ERR_TAIL=3
"$PY" "$HERE/mkidx.py" "$W/idx" 200 100 || { bad "fixture"; tally; exit 1; }
"$A" pack --format idx --input "$W/idx" --output "$W/d.h5" --quiet || { bad "pack fixture"; tally; exit 1; }
RUN=(--data "$W/d.h5" --model mlp --schedule sgd --batch 64 --micro-batch 64 --threads 1 --quiet)
wait_for() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }

# 1. a second trainer with --force, then with --resume, while the first runs: refused
"$A" train "${RUN[@]}" --epochs 600 --out "$W/run" 2>"$W/a.err" &
a=$!
wait_for "$W/run/metrics.jsonl" || bad "the first run did not start"
expect_fail "--force on a running run's --out" "is in use by another absa train" \
  "$A" train "${RUN[@]}" --epochs 2 --out "$W/run" --force
expect_fail "--resume of a running run" "is in use by another absa train" \
  "$A" train "${RUN[@]}" --epochs 700 --out "$W/run" --resume "$W/run/checkpoint.h5"
kill -0 $a 2>/dev/null && ok "the first run was still running when both were refused" ||
  bad "the first run ended before the second trainers started (make it longer)"
wait $a && ok "the first run ends with exit 0" || bad "the first run failed: $(tail -c 300 "$W/a.err")"
"$PY" - "$W/run" <<'EOF' && ok "its metrics, summary and checkpoint are one run of 600 epochs" || bad "the first run's files are mixed"
import h5py, json, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
steps = [r["step"] for r in rows if r.get("type") == "step"]
epochs = [r["epoch"] for r in rows if r.get("type") == "epoch"]
s = json.load(open(d + "/summary.json"))
ok = steps == sorted(set(steps)) and epochs == list(range(1, 601))
ok = ok and int(h5py.File(d + "/checkpoint.h5", "r")["train"].attrs["epoch"]) == 600
sys.exit(0 if ok else 1)
EOF

# 2. the lock ends with the run: --force now goes through
"$A" train "${RUN[@]}" --epochs 1 --out "$W/run" --force 2>"$W/err" && ok "--force after the run ended" ||
  bad "--force after the run ended: $(head -c 300 "$W/err")"

# 3. kill -9 leaves no stale lock: --resume right after goes through
rm -rf "$W/run2"
"$A" train "${RUN[@]}" --epochs 600 --out "$W/run2" 2>/dev/null &
a=$!
wait_for "$W/run2/checkpoint.h5" || bad "the run to kill did not checkpoint"
kill -9 $a
wait $a 2>/dev/null
"$A" train "${RUN[@]}" --epochs 600 --out "$W/run2" --resume "$W/run2/checkpoint.h5" --stop-at-step 1 \
  2>"$W/err" >/dev/null
rc=$?
grep -q "in use" "$W/err" && bad "a lock outlived kill -9: $(head -c 300 "$W/err")" ||
  ok "no lock after kill -9 (resume exit $rc)"

# 4. two started together on a fresh --out: exactly one runs, the other is refused in one line
for round in 1 2 3; do
  rm -rf "$W/run3"
  "$A" train "${RUN[@]}" --epochs 3 --out "$W/run3" 2>"$W/e1" &
  p1=$!
  "$A" train "${RUN[@]}" --epochs 3 --out "$W/run3" 2>"$W/e2" &
  p2=$!
  wait $p1; r1=$?
  wait $p2; r2=$?
  if [ $((r1 + r2)) -eq 1 ] && [ "$(cat "$W/e1" "$W/e2" | grep -c .)" -eq 1 ] &&
    grep -qE "in use by another absa train|already holds a run" "$W/e1" "$W/e2"; then
    ok "round $round: two started together, one ran ($r1 $r2): $(cat "$W/e1" "$W/e2" | cut -c1-100)"
  else
    bad "round $round: exits $r1 $r2: $(cat "$W/e1" "$W/e2" | head -c 300)"
  fi
done
tally
