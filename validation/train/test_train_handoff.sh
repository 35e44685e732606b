#!/usr/bin/env bash
# test_train_handoff.sh — the trainer's side of the Slurm hand-off (absa train --handoff, issue 15;
# src/train/train_handoff.c) without Slurm, on tiny mlp runs of one process:
#  1. a trainer with --handoff that finds another job's `ready` stops after its next step, writes a
#     mid-epoch checkpoint, the "released" record and go.<that job>; the trainer of that job
#     (--handoff-wait) resumes from it; the final test loss and accuracy are bitwise those of a run
#     without hand-off (same rank count), every sample is used once per epoch across the two
#     processes (sample logs), the resize record of kind "handoff" names both jobs, its queue wait
#     and a pause; a doubling that wants more ranks than --max-ranks writes want.<id> and a record;
#  2. a trainer ignores a `ready` that announces its own job id (runs to the end);
#  3. a trainer waiting for its go that gets SIGTERM: one-line error, exit 1, its `ready` removed;
#  4. handoff-wait in a --config file is ignored (one job's role, not the run's).
# Usage: test_train_handoff.sh ABSA PYTHON
set -u
ABSA=$1; PY=${2:-/usr/bin/python3}
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$TOOLS/testlib.sh"
ERR_TAIL=5
grep -q -- '--handoff-wait' <<<"$("$ABSA" train --help 2>&1)" || { bad "absa train --help lists no --handoff-wait"; tally; exit 1; }
$ABSA pack --format idx --output "$W/fm.h5" >/dev/null 2>&1 && ok "pack fashion-mnist" || { bad "pack"; tally; exit 1; }
C=(--data "$W/fm.h5" --model mlp --epochs 3 --batch 32 --micro-batch 32 --max-batch 512 --lr 0.02 --duration 1
   --limit-train 512 --limit-test 200 --eig-samples 32 --eig-iters 3 --eig-chunk 32 --seed 5 --threads 1 --max-ranks 1)

# 1. hand-off after the first step
$ABSA train "${C[@]}" --out "$W/ref" --quiet 2>"$W/err" && ok "reference run" || bad "reference run"
H=$W/run/handoff; mkdir -p "$H" && echo 22 > "$H/ready"
$ABSA train "${C[@]}" --out "$W/run" --sample-log "$W/ids" --handoff "$H" --handoff-id 11 2>"$W/err1"
rc=$?; cat "$W/err1" > "$W/err"
[ "$rc" = 0 ] && grep -q "handed off to job 22 after step 1 " "$W/err1" && ok "job 11 handed off after its first step" || bad "job 11: exit $rc, no hand-off"
[ -f "$H/go.22" ] && read -r from ranks stop ck < "$H/go.22" && [ "$from" = 11 ] && [ "$ranks" = 1 ] && ok "go.22 names job 11, 1 rank" || bad "go.22: '$(cat "$H/go.22" 2>/dev/null)'"
[ ! -f "$W/run/summary.json" ] && ok "no summary after the hand-off" || bad "summary written by the job that handed off"
$ABSA train "${C[@]}" --out "$W/run" --sample-log "$W/ids" --handoff "$H" --handoff-id 22 --handoff-wait --handoff-queued 7 \
  --resume "$W/run/checkpoint.h5" 2>"$W/err2" && ok "job 22 took over and finished" || { cat "$W/err2" > "$W/err"; bad "job 22 failed"; }
[ ! -e "$H/ready" ] && ok "job 22 removed its ready" || bad "ready left behind"
"$PY" - "$W" <<'PY' && ok "bitwise equal to the run without hand-off; once per epoch; records" || bad "hand-off result or records"
import glob, json, sys
w = sys.argv[1]
ref, run = json.load(open(w + "/ref/summary.json")), json.load(open(w + "/run/summary.json"))
ok = True
for k in ("final_test_loss", "final_test_acc", "sgd_iters", "samples_seen"):
    if ref[k] != run[k]: print("  FAIL %s: %r vs %r" % (k, ref[k], run[k])); ok = False
seen = {}
for f in glob.glob(w + "/ids/*"):
    for line in open(f):
        v = line.split()
        seen.setdefault(int(v[0]), []).extend(int(x) for x in v[2:])
procs = len(glob.glob(w + "/ids/*"))
for e in (1, 2, 3):
    if sorted(seen.get(e, [])) != list(range(512)): print("  FAIL epoch %d: %d ids" % (e, len(seen.get(e, [])))); ok = False
rows = [json.loads(l) for l in open(w + "/run/metrics.jsonl")]
rel = [r for r in rows if r["type"] == "handoff" and r["event"] == "released"]
hand = [r for r in rows if r["type"] == "resize" and r.get("kind") == "handoff"]
want = [r for r in rows if r["type"] == "handoff" and r["event"] == "want"]
print("  released:", rel, "\n  resize:", hand, "\n  want:", want, "\n  sample logs of", procs, "processes")
if procs != 2: ok = False
if len(rel) != 1 or rel[0]["job"] != "11" or rel[0]["to_job"] != "22" or rel[0]["step"] != 1: ok = False
if len(hand) != 1 or hand[0]["from_job"] != "11" or hand[0]["to_job"] != "22" or hand[0]["queue_wait_s"] != 7 \
   or hand[0]["orphan"] or not 0 <= hand[0]["pause_s"] < 60 or (hand[0]["from"], hand[0]["to"]) != (1, 1): ok = False
if not want or want[0]["job"] != "22" or want[0]["want_ranks"] != 2: ok = False
if [r["epoch"] for r in rows if r["type"] == "epoch"] != [1, 2, 3]: ok = False
sys.exit(0 if ok else 1)
PY
[ "$(cut -d' ' -f1 "$H/want.22" 2>/dev/null)" = 2 ] && ok "want.22 asks for 2 ranks (--max-ranks 1)" || bad "want.22: '$(cat "$H/want.22" 2>/dev/null)'"

# 2. its own announcement is not a hand-off
H2=$W/own/handoff; mkdir -p "$H2" && echo 33 > "$H2/ready"
$ABSA train "${C[@]}" --out "$W/own" --handoff "$H2" --handoff-id 33 --quiet 2>"$W/err" && [ -f "$W/own/summary.json" ] && [ ! -e "$H2/go.33" ] \
  && ok "own ready ignored: ran to the end" || bad "own ready not ignored"

# 3. SIGTERM while waiting for the go
H3=$W/wait/handoff; mkdir -p "$W/wait"
$ABSA train "${C[@]}" --out "$W/wait" --handoff "$H3" --handoff-id 44 --handoff-wait --quiet 2>"$W/err" &
p=$!
for i in $(seq 1 100); do [ -f "$H3/ready" ] && break; sleep 0.1; done
[ "$(cat "$H3/ready" 2>/dev/null)" = 44 ] && ok "waiting trainer announced job 44" || bad "no ready from job 44"
kill -TERM $p; wait $p; rc=$?
[ "$rc" = 1 ] && [ "$(grep -c . "$W/err")" = 1 ] && grep -q "while waiting for the hand-off" "$W/err" && ok "SIGTERM while waiting: one-line error, exit 1" \
  || bad "SIGTERM while waiting: exit $rc"
[ ! -e "$H3/ready" ] && ok "its ready removed" || bad "its ready left behind"

# 4. a config file cannot make a trainer wait
printf 'handoff-wait = 1\n' > "$W/cfg.txt"
timeout 120 $ABSA train "${C[@]}" --config "$W/cfg.txt" --out "$W/cfg" --handoff "$W/cfg/handoff" --quiet 2>"$W/err" && [ -f "$W/cfg/summary.json" ] \
  && ok "handoff-wait in --config ignored" || bad "handoff-wait in --config"
tally
