#!/usr/bin/env bash
# test_slurm_e2e.sh — jobscripts/absa-het.sbatch end to end on the local Slurm cluster
# (slurm.cluster_up), sized on the sbatch command line: component 0 = 1 task, component 1 = 4 tasks.
# Data: a 2048/1000-sample Fashion-MNIST subset written as IDX files; the job packs it itself.
#   MODE ucx : component 0 runs `absa serve` (audit log on), the ranks read ucx://... with the job's
#              fresh 0600 secret — the issue's configuration;
#   MODE file: no server, the ranks read the packed file (the same script with ABSA_STREAM=file).
# Run A (fresh, 5 epochs, batch 32 -> 512 with --duration 1): asserts the job packed the data and
# finished, the ranks grew 1 -> 2 -> 4 (resize records and per-epoch ranks), every training sample
# was used exactly once per epoch (trainer sample logs; with ucx also the server's commit audit),
# the server served (ucx), the final test accuracy is sane (>= 0.6; chance is 0.1), and prints the resize costs.
# Run B: graceful stop (`scancel --batch --signal=USR1`, what --signal=B:USR1@LEAD does before the
# time limit) -> loadable checkpoint (h5py + `absa eig` loads it); resubmit, then a hard `scancel`
# mid-run -> loadable checkpoint; resubmit -> the run finishes, each epoch logged once.
# Skips (77) with the reason when the cluster is not up or absa lacks a capability (issues 5, 6).
# Usage: test_slurm_e2e.sh MODE ABSA WORK [PYTHON]
set -u
MODE=$1; ABSA=$2; W=$3; PY=${4:-/usr/bin/python3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=$REPO/validation/tools
skip() { echo "SKIPPED: $*"; exit 77; }
command -v sinfo >/dev/null && sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)' || skip "no Slurm cluster is up (slurm.cluster_up needs root)"
[ "$(sinfo -h -N -o '%N' | sort -u | wc -l)" -ge 2 ] || skip "a het job needs 2+ Slurm nodes"
command -v mpirun >/dev/null || skip "Open MPI's mpirun is not installed"
[ -x "$ABSA" ] || skip "absa binary $ABSA not built"
{ "$ABSA" slurm --help >/dev/null 2>&1 || [ -x "$(dirname "$ABSA")/absa-slurm" ]; } || skip "neither 'absa slurm' nor absa-slurm next to $ABSA"
help=$("$ABSA" train --help 2>&1)
for o in --max-ranks --growth --sample-log; do
  grep -q -- "$o" <<<"$help" || skip "'absa train --help' has no $o (issue 5: MPI growth not built into this absa)"
done
if [ "$MODE" = ucx ]; then
  "$ABSA" serve --help >/dev/null 2>&1 || skip "'absa serve --help' fails: the UCX data server (issue 6) is not wired into this absa"
  grep -q -- '--audit' <<<"$("$ABSA" serve --help 2>&1)" || skip "'absa serve' has no --audit (issue 6)"
  grep -qi 'ucx://' <<<"$help" || skip "'absa train --help' does not mention --data ucx://HOST:PORT (issue 6: trainer side of the UCX stream)"
fi
"$PY" -c 'import h5py, numpy' 2>/dev/null || skip "$PY lacks h5py/numpy"

rm -rf "$W"; mkdir -p "$W/idx" && cd "$W" || exit 1
. "$TOOLS/testlib.sh"
NTRAIN=2048 NTEST=1000 EPOCHS=5
"$PY" "$TOOLS/absa_testlib.py" idx-subset "$W/idx" $NTRAIN $NTEST || { echo "FAIL cannot write the IDX subset"; exit 1; }

. "$REPO/slurm/local-mpi-env.sh"
export ABSA ABSA_HOME=$REPO ABSA_STREAM=$MODE ABSA_GRACE=8 ABSA_DATA=$W/data/fm-small.h5
export ABSA_PACK_ARGS="--format idx --input $W/idx"
SBATCH_SIZES=(-N1 -n1 -c1 : -N1 -n4 -c1)
train_args() {  # $1 = run dir
  echo "--model lenet --epochs $EPOCHS --batch 32 --micro-batch 32 --max-batch 512 --duration 1 --lr 0.02
        --eig-samples 64 --eig-iters 4 --eig-chunk 32 --test-batch 500 --sample-log $1/ids --spawn-timeout 60"
}
submit() {  # $1 = run dir -> prints the job id
  ABSA_RUN_DIR=$1 ABSA_TRAIN_ARGS=$(train_args "$1") ABSA_SERVE_ARGS="--audit $1/audit-$(date +%s%N).txt" \
    sbatch --parsable --chdir="$W" "${SBATCH_SIZES[@]}" "$REPO/jobscripts/absa-het.sbatch"
}
wait_gone() {  # $1 = job id, $2 = bound (s); 0 if the job left the queue in time
  local i
  for i in $(seq 1 $(( $2 * 2 ))); do squeue -h -j "$1" 2>/dev/null | grep -q . || return 0; sleep 0.5; done
  return 1
}
wait_for() {  # $1 = bound (s), rest = command; polls until it succeeds
  local b=$1 i; shift
  for i in $(seq 1 $(( b * 2 ))); do "$@" && return 0; sleep 0.5; done
  return 1
}
epochs_logged() { [ -f "$1/metrics.jsonl" ] && [ "$(grep -c '"type": "epoch"' "$1/metrics.jsonl")" -ge "$2" ]; }
ckpt_loadable() {  # $1 = checkpoint: h5py sees model/optimizer/train, and absa itself loads it
  "$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert {'model','optimizer','train'} <= set(f), list(f); a=f['train'].attrs; print('  checkpoint: epoch', a['epoch'], 'step', a['global_step'])" "$1" &&
  "$ABSA" eig --checkpoint "$1" --data "$ABSA_DATA" --samples 32 --iters 2 --threads 1 --quiet >/dev/null
}
show() { echo "--- $1"; sed 's/^/    /' "$1" | tail -"${2:-25}"; }

# ---------------- run A: fresh run, growth, exactly once, accuracy ----------------
A=$W/runA; t0=$(date +%s)
JA=$(submit "$A") || { echo "FAIL sbatch"; exit 1; }
echo "run A: job $JA"
wait_gone "$JA" 300 || { bad "run A: job $JA still running after 300 s"; scancel "$JA"; }
echo "run A took $(( $(date +%s) - t0 )) s"
OUT=$W/absa-het-$JA.out
show "$OUT" 40; [ -f "$A/jobs/$JA/train.log" ] && show "$A/jobs/$JA/train.log" 20
[ "$MODE" = ucx ] && [ -f "$A/jobs/$JA/serve.log" ] && show "$A/jobs/$JA/serve.log" 10
grep -q "packing the dataset" "$OUT" && [ -f "$ABSA_DATA" ] && ok "the job packed the dataset" || bad "the job did not pack $ABSA_DATA"
grep -q "training done" "$OUT" && ok "run A finished" || bad "run A did not finish"
if [ "$MODE" = ucx ]; then
  grep -q "data server at ucx://" "$OUT" && ok "absa serve listened on component 0" || bad "no data server address"
  s=$(stat -c %a "$A/jobs/$JA/secret" 2>/dev/null); [ "$s" = 600 ] && ok "secret is mode 0600" || bad "secret mode '$s'"
fi
"$PY" - "$A" "$MODE" "$NTRAIN" "$EPOCHS" <<'PY' && ok "run A: grew 1 -> 2 -> 4, exactly once per epoch, accuracy sane" || bad "run A: metrics checks"
import glob, json, sys
run, mode, n, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
ep = [r for r in rows if r["type"] == "epoch"]
rs = [r for r in rows if r["type"] == "resize"]
ranks = [r.get("ranks") for r in ep]
print("  epochs:", [r["epoch"] for r in ep], "batch:", [r["batch"] for r in ep], "ranks:", ranks)
for r in rs:
    print("  resize %d -> %d ok=%s total %.3f s (spawn %.3f, merge %.3f, state %.3f)%s" % (
        r["from"], r["to"], r["ok"], r["total_s"], r["spawn_s"], r["merge_s"], r["bcast_s"],
        "" if r["ok"] else " error: %s" % r["error"]))
ok = True
if [r["epoch"] for r in ep] != list(range(1, epochs + 1)): print("  FAIL epochs"); ok = False
if [(r["from"], r["to"]) for r in rs if r["ok"]] != [(1, 2), (2, 4)]: print("  FAIL resizes"); ok = False
if ranks[:3] != [1, 2, 4] or any(x != 4 for x in ranks[2:]): print("  FAIL ranks per epoch"); ok = False
# exactly once per epoch, from the trainer's per-process sample logs ("EPOCH RANK id id ...")
seen = {}
for f in glob.glob(run + "/ids/*"):
    for line in open(f):
        v = line.split()
        seen.setdefault(int(v[0]), []).extend(int(x) for x in v[2:])
for e in range(1, epochs + 1):
    ids = sorted(seen.get(e, []))
    if ids != list(range(n)):
        print("  FAIL epoch %d: %d ids, %d distinct (want each of 0..%d once)" % (e, len(ids), len(set(ids)), n - 1)); ok = False
print("  trainer sample logs: %s" % ", ".join("epoch %d: %d ids" % (e, len(seen.get(e, []))) for e in sorted(seen)))
if mode == "ucx":  # the server's commit audit: "EPOCH ID [redo]" per committed sample, "rewind EPOCH ID", "# ..." (docs/ucx.md)
    audit = {}
    for f in glob.glob(run + "/audit-*.txt"):
        for line in open(f):
            v = line.split()
            if not v or v[0] == "#": continue
            if v[0] == "rewind": audit[int(v[1])].remove(int(v[2]))
            else: audit.setdefault(int(v[0]), []).append(int(v[1]))
    print("  server audit: %s" % ", ".join("epoch %d: %d commits" % (e, len(audit[e])) for e in sorted(audit)))
    served = sorted(audit)
    if len(served) < epochs: print("  FAIL the server committed %d epochs, want %d" % (len(served), epochs)); ok = False
    for e in served[:epochs]:
        if sorted(audit[e]) != list(range(n)): print("  FAIL audit epoch %d" % e); ok = False
s = json.load(open(run + "/summary.json"))
print("  summary: acc %.4f, ranks %s, resize fraction %s" % (s["final_test_acc"], s.get("ranks"), s.get("resize_fraction")))
# sane = far above chance (0.1). UCX-fed ranks now request exact permutation positions, so they
# train on the file path's batches (bitwise equal at fixed rank counts: ucx.train.mpieq); but this
# short growing config is noisy by itself: file-fed runs ended at 0.64-0.79 for seeds 0-5. Hence a
# sanity bound of 0.6, not a tuned number.
if not s["final_test_acc"] >= 0.6: print("  FAIL accuracy"); ok = False
sys.exit(0 if ok else 1)
PY

# ---------------- run B: graceful stop, hard scancel, resubmissions ----------------
B=$W/runB
JB1=$(submit "$B") || { echo "FAIL sbatch"; exit 1; }
echo "run B1: job $JB1 (graceful stop after epoch 1)"
wait_for 240 epochs_logged "$B" 1 || bad "B1: no epoch finished in 240 s"
scancel --batch --signal=USR1 "$JB1"
wait_gone "$JB1" 90 || { bad "B1: job still running 90 s after the stop request"; scancel "$JB1"; wait_gone "$JB1" 30; }
show "$W/absa-het-$JB1.out" 8
grep -q "stopped; checkpoint" "$W/absa-het-$JB1.out" && ok "B1: graceful stop reported" || bad "B1: no graceful stop in the job output"
ckpt_loadable "$B/checkpoint.h5" && ok "B1: checkpoint loadable" || bad "B1: checkpoint not loadable"

JB2=$(submit "$B") || { echo "FAIL sbatch"; exit 1; }
echo "run B2: job $JB2 (resubmitted; hard scancel once it trains)"
n0=$(wc -l < "$B/metrics.jsonl")
wait_for 240 bash -c "[ \$(wc -l < '$B/metrics.jsonl') -gt $n0 ]" || bad "B2: no progress in 240 s"
scancel "$JB2"
wait_gone "$JB2" 90 || bad "B2: job still there 90 s after scancel"
show "$W/absa-het-$JB2.out" 8
grep -q "resuming from" "$W/absa-het-$JB2.out" && ok "B2: resumed from the checkpoint" || bad "B2: did not resume"
ckpt_loadable "$B/checkpoint.h5" && ok "B2: checkpoint loadable after scancel" || bad "B2: checkpoint not loadable after scancel"

JB3=$(submit "$B") || { echo "FAIL sbatch"; exit 1; }
echo "run B3: job $JB3 (resubmitted; runs to the end)"
wait_gone "$JB3" 300 || { bad "B3: still running after 300 s"; scancel "$JB3"; }
show "$W/absa-het-$JB3.out" 6
grep -q "resuming from" "$W/absa-het-$JB3.out" && grep -q "training done" "$W/absa-het-$JB3.out" && \
  ok "B3: resumed and finished" || bad "B3: did not resume and finish"
"$PY" - "$B" "$EPOCHS" <<'PY' && ok "B: every epoch logged once, summary complete, accuracy sane" || bad "B: final checks"
import json, sys
run, epochs = sys.argv[1], int(sys.argv[2])
ep = [json.loads(l)["epoch"] for l in open(run + "/metrics.jsonl") if '"type": "epoch"' in l]
s = json.load(open(run + "/summary.json"))
print("  epochs logged:", ep, " summary epochs", s["epochs"], "acc %.4f" % s["final_test_acc"])
sys.exit(0 if ep == list(range(1, epochs + 1)) and s["epochs"] == epochs and s["final_test_acc"] >= 0.7 else 1)
PY
tally "($(( $(date +%s) - t0 )) s)"
