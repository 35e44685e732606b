#!/usr/bin/env bash
# test_mpi.sh — data-parallel training and growth of the worker set (docs/growth.md), each case
# against the single-process run with the same seed and schedule (--duration 1: the batch
# doubles after every eigenvalue epoch, 32 -> 64 -> 128 with micro-batch 32):
#   grow    mpirun -np 1, spawn backend: 1 -> 2 -> 4 ranks; per-step losses (rel 1e-5),
#           eigenvalues (rel 1e-4), every sample once per epoch, resize events and costs
#   pool    mpirun -np 4, pool backend: 1 active rank grows to 4 by activating parked ranks
#   fail    spawn failures never stop training: an unresolvable placement host (refused before
#           MPI_Comm_spawn), a placement host outside the allocation (MPI_Comm_spawn fails
#           inside mpirun) and a spawn that misses its deadline; the run stays at one rank and is
#           bitwise the single-process run
#   resume  a checkpoint written by 4 ranks resumes on 1, one written by 1 rank on 2; a 4-rank
#           run stopped by SIGTERM mid-epoch resumes on 1 rank
#   bn      a batch-norm model (c1, ABS) from a pool of 4: the running statistics merged over the
#           ranks equal the sequential per-micro-batch updates of one process
#   cudafb  --device cuda forced onto the fallback (TEST-ONLY ABSA_TEST_CUDA_FALLBACK: the CPU
#           kernels under the name cuda, a fake NCCL; docs/gpu.md) under mpirun -np 1 --max-ranks 4:
#           with NCCL never ready, failing its init, ready (the exact sums as int64 limbs through
#           the fake, which reduces over MPI) or all ranks on one GPU, the run grows 1 -> 2 -> 4
#           and its final checkpoint is bitwise the CPU growth run's (every dataset and attribute
#           but the wall times); the resize/nccl records and the one host-path line; and
#           --device cuda under mpirun without a GPU (no switch) is one line and a failed job
# Usage: [ABSA_TEST_DEVICE=cpu-guarded] test_mpi.sh CASE ABSA PYTHON
set -u
CASE=$1; ABSA=$2; PY=${3:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v mpirun >/dev/null || { echo "mpirun not found: skipped"; exit 77; }
. "$HERE/mpi_env.sh"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$(cd "$(dirname "$0")/../tools" && pwd)/testlib.sh"
ERR_TAIL=8
check() { local name=$1; shift; if "$PY" "$HERE/check_run.py" "$@" > "$W/chk" 2>&1; then cat "$W/chk"; ok "$name"; else cat "$W/chk" | tail -3 | sed 's/^/     /'; bad "$name"; fi; }
run_to() { local t=$1; shift; timeout -s KILL "$t" "$@"; }

$ABSA pack --format idx --output "$W/fm.h5" >/dev/null 2>&1 || { echo "FAIL pack"; exit 1; }
N=512
MODEL=mlp; SCHED=absa; EPOCHS=4
[ "$CASE" = grow ] || [ "$CASE" = resume ] && MODEL=lenet
[ "$CASE" = bn ] && { MODEL=c1; SCHED=abs; EPOCHS=3; N=256; }
[ "$CASE" = cudafb ] && unset ABSA_TEST_CUDA_FALLBACK
COMMON=(--data "$W/fm.h5" --model $MODEL --schedule $SCHED --epochs $EPOCHS --batch 32 --micro-batch 32 --max-batch 128
        --lr 0.02 --duration 1 --limit-train $N --limit-test 200 --test-batch 100 --eig-samples 64 --eig-iters 4
        --eig-chunk 16 --seed 11 --threads 1 --quiet)
# ABSA_TEST_DEVICE (e.g. cpu-guarded, the mpi.*.guarded tests): every run on that engine backend
[ -n "${ABSA_TEST_DEVICE:-}" ] && COMMON+=(--device "$ABSA_TEST_DEVICE")
# the single-process reference (no MPI at all)
run_to 120 $ABSA train "${COMMON[@]}" --out "$W/ref" --sample-log "$W/ids-ref" 2>"$W/err" && ok "single-process reference" || bad "single-process reference"

# the final checkpoint of run $1 bitwise the CPU growth run's (every dataset and attribute but the wall times)
ckpt_equal() {
  "$PY" - "$W/cpu/checkpoint.h5" "$W/$1/checkpoint.h5" <<'PY' && ok "  final checkpoint bitwise the CPU growth run's" || bad "  final checkpoint differs ($1)"
import sys, h5py, numpy as np
def walk(g, p=""):
    out = {}
    for k, v in g.items():
        out.update(walk(v, p + k + "/") if isinstance(v, h5py.Group) else {p + k: v[()]})
    for k, v in g.attrs.items():
        if k not in ("wall_total", "resize_total"):  # seconds: the only expected differences
            out[p + "@" + k] = v
    return out
a, b = walk(h5py.File(sys.argv[1], "r")), walk(h5py.File(sys.argv[2], "r"))
assert set(a) == set(b), set(a) ^ set(b)
diff = [k for k in a if not np.array_equal(np.asarray(a[k]), np.asarray(b[k]))]
assert not diff, diff
assert len(a) > 40, len(a)
print("  %d datasets and attributes bitwise equal" % len(a))
PY
}

case $CASE in
grow)
  run_to 120 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --out "$W/grow" --sample-log "$W/ids-grow" 2>"$W/err" \
    && ok "mpirun -np 1 --max-ranks 4 (spawn)" || bad "mpirun -np 1 --max-ranks 4 (spawn)"
  check "grew 1 -> 2 -> 4 ranks" ranks "$W/grow" 1,2,4,4
  check "same per-step losses and eigenvalues as one process" compare "$W/ref" "$W/grow" --loss-rtol 1e-5 --eig-rtol 1e-4
  # float reassociation of the gradient sums (each rank sums its own slice of the batch) grows
  # through 32 SGD steps to ~1.4e-5 of the largest weight (Winograd's weight gradient rounds ~2x
  # coarser than im2col's); lost or doubled samples are caught exactly by the ids check below
  check "final weights equal" close "$W/ref" "$W/grow" 1e-4
  check "every sample once per epoch across resizes" ids "$W/ids-grow" $N 4
  check "reference: every sample once per epoch" ids "$W/ids-ref" $N 4
  check "resize events (spawn, costs split)" resize "$W/grow" ok spawn
  ;;
pool)
  run_to 120 mpirun -np 4 $ABSA train "${COMMON[@]}" --out "$W/pool" --sample-log "$W/ids-pool" 2>"$W/err" \
    && ok "mpirun -np 4 (pool, 1 active rank)" || bad "mpirun -np 4 (pool, 1 active rank)"
  check "grew 1 -> 2 -> 4 ranks" ranks "$W/pool" 1,2,4,4
  check "same per-step losses and eigenvalues as one process" compare "$W/ref" "$W/pool" --loss-rtol 1e-5 --eig-rtol 1e-4
  check "every sample once per epoch" ids "$W/ids-pool" $N 4
  check "resize events (pool)" resize "$W/pool" ok pool
  # --max-ranks caps the pool
  run_to 120 mpirun -np 4 $ABSA train "${COMMON[@]}" --max-ranks 2 --out "$W/pool2" 2>"$W/err" && ok "pool capped by --max-ranks 2" || bad "pool capped by --max-ranks 2"
  check "grew 1 -> 2 ranks only" ranks "$W/pool2" 1,2,2,2
  ;;
fail)
  run_to 120 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --spawn-host no-such-host.invalid --out "$W/nohost" 2>"$W/err" \
    && ok "unresolvable placement host: exit 0" || bad "unresolvable placement host: exit 0"
  grep -q "does not resolve" "$W/err" && ok "  failure on the terminal" || bad "  failure on the terminal"
  check "  failure logged" resize "$W/nohost" fail spawn
  check "  still one rank" ranks "$W/nohost" 1,1,1,1
  check "  same metrics as one process" compare "$W/ref" "$W/nohost" --loss-rtol 0 --eig-rtol 0
  check "  final weights bitwise equal" weights "$W/ref" "$W/nohost"
  # 127.0.0.2 resolves but is not in mpirun's allocation: MPI_Comm_spawn itself fails, after
  # which Open MPI 4.1.4's mpirun cannot exit by itself; absa ends the finished job with MPI_Abort(0)
  run_to 120 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --spawn-host 127.0.0.2 --out "$W/outside" 2>"$W/err"; rc=$?
  [ $rc -ne 137 ] && grep -q "MPI_Comm_spawn failed" "$W/err" && grep -q "run complete; ending the job with MPI_Abort" "$W/err" \
    && ok "host outside the allocation: training finished, job ended (mpirun rc $rc)" || bad "host outside the allocation (rc $rc)"
  check "  failure logged" resize "$W/outside" fail spawn
  check "  same metrics as one process" compare "$W/ref" "$W/outside" --loss-rtol 0 --eig-rtol 0
  check "  final weights bitwise equal" weights "$W/ref" "$W/outside"
  # the spawned rank sleeps 4 s before MPI_Init: the 1 s deadline passes, training goes on, the
  # late child is dismissed when it arrives
  run_to 120 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --spawn-timeout 1 --spawn-test-delay 4 --out "$W/late" 2>"$W/err" \
    && ok "spawn past its deadline: exit 0" || bad "spawn past its deadline: exit 0"
  grep -q "not ready within 1 s (given up)" "$W/late/metrics.jsonl" && ok "  timeout logged" || bad "  timeout logged"
  check "  same metrics as one process" compare "$W/ref" "$W/late" --loss-rtol 0 --eig-rtol 0
  check "  final weights bitwise equal" weights "$W/ref" "$W/late"
  ;;
resume)
  # 4 ranks -> 1: stop after epoch 3 (the run has grown to 4 ranks), resume on one process
  run_to 120 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --stop-after 3 --out "$W/r41" 2>"$W/err" && ok "3 epochs, growing to 4 ranks" || bad "3 epochs, growing to 4 ranks"
  run_to 120 $ABSA train "${COMMON[@]}" --out "$W/r41" --resume "$W/r41/checkpoint.h5" 2>"$W/err" && ok "resumed on 1 process" || bad "resumed on 1 process"
  check "  ranks per epoch" ranks "$W/r41" 1,2,4,1
  check "  same metrics as one process" compare "$W/ref" "$W/r41" --loss-rtol 1e-5 --eig-rtol 1e-4
  # 1 -> 2: one epoch on one process, then mpirun -np 2 with a fixed set of ranks
  run_to 120 $ABSA train "${COMMON[@]}" --stop-after 1 --out "$W/r12" 2>"$W/err" && ok "1 epoch on 1 process" || bad "1 epoch on 1 process"
  run_to 120 mpirun -np 2 $ABSA train "${COMMON[@]}" --growth none --out "$W/r12" --resume "$W/r12/checkpoint.h5" 2>"$W/err" \
    && ok "resumed on 2 ranks (--growth none)" || bad "resumed on 2 ranks (--growth none)"
  check "  ranks per epoch" ranks "$W/r12" 1,2,2,2
  check "  same metrics as one process" compare "$W/ref" "$W/r12" --loss-rtol 1e-5 --eig-rtol 1e-4
  # SIGTERM to every rank (not to mpirun, which would then exit 1) of a 4-rank pool job as soon
  # as epoch 3 is logged: the ranks stop after a step of epoch 4 (4 steps of 128) with a
  # checkpoint holding the cursor and exit 0; the rest on one process completes the same run
  mpirun -np 4 $ABSA train "${COMMON[@]}" --out "$W/rsig" --sample-log "$W/ids-rsig" 2>"$W/err" &
  MP=$!
  for _ in $(seq 3000); do grep -q '"type": "epoch", "epoch": 3,' "$W/rsig/metrics.jsonl" 2>/dev/null && break; sleep 0.01; done
  pkill -TERM -f -- "^$ABSA train .*--out $W/rsig " ; wait $MP; rc=$?
  # rank 0 names SIGTERM, or "a signal on another rank" when its own arrived after its poll of that
  # step while another rank's did not (all four get it; the step's reduction stops them all alike)
  grep -E -q "stopped by (SIGTERM|a signal on another rank) after step (29|30|31) \(epoch 4, (128|256|384) of 512" "$W/err" && [ $rc -eq 0 ] \
    && ok "SIGTERM mid-epoch on 4 ranks: checkpoint, exit 0" || bad "SIGTERM mid-epoch on 4 ranks (rc $rc)"
  run_to 120 $ABSA train "${COMMON[@]}" --out "$W/rsig" --resume "$W/rsig/checkpoint.h5" --sample-log "$W/ids-rsig" 2>"$W/err" \
    && ok "resumed mid-epoch on 1 process" || bad "resumed mid-epoch on 1 process"
  check "  same metrics as one process" compare "$W/ref" "$W/rsig" --loss-rtol 1e-5 --eig-rtol 1e-4
  check "  every sample once per epoch across the stop" ids "$W/ids-rsig" $N 4
  ;;
bn)
  run_to 120 mpirun -np 4 $ABSA train "${COMMON[@]}" --out "$W/bn" 2>"$W/err" && ok "c1 from a pool of 4 ranks" || bad "c1 from a pool of 4 ranks"
  check "grew 1 -> 2 -> 4 ranks" ranks "$W/bn" 1,2,4
  check "same per-step losses and eigenvalues as one process" compare "$W/ref" "$W/bn" --loss-rtol 1e-5 --eig-rtol 1e-4
  "$PY" - "$W/ref" "$W/bn" <<'PY' && ok "batch-norm running statistics and counters as on one process" || bad "batch-norm running statistics"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1] + "/checkpoint.h5", "r")["model"], h5py.File(sys.argv[2] + "/checkpoint.h5", "r")["model"]
n = 0
for k in a:
    if "running" in k or "num_batches" in k:
        x, y = a[k][()], b[k][()]
        if x.dtype == np.int64:
            assert x == y, (k, x, y)
        else:
            d = float(np.max(np.abs(x.astype(np.float64) - y)) / np.max(np.abs(x)))
            assert d < 1e-5, (k, d)
        n += 1
assert n == 6, n
print("  %d batch-norm buffers equal (running stats within 1e-5, num_batches_tracked exactly)" % n)
PY
  ;;
cudafb)
  run_to 120 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --out "$W/cpu" 2>"$W/err" \
    && ok "CPU growth run (mpirun -np 1 --max-ranks 4)" || bad "CPU growth run"
  for mode in ready never fail shared; do
    ABSA_TEST_CUDA_FALLBACK=$mode run_to 120 mpirun -np 1 -x ABSA_TEST_CUDA_FALLBACK $ABSA train "${COMMON[@]}" --max-ranks 4 \
      --device cuda --out "$W/$mode" 2>"$W/err-$mode" && ok "--device cuda, fallback with NCCL $mode: exit 0" || bad "--device cuda, fallback $mode"
    check "  grew 1 -> 2 -> 4 ranks" ranks "$W/$mode" 1,2,4,4
    check "  same per-step losses and eigenvalues as the CPU growth run (bitwise)" compare "$W/cpu" "$W/$mode" --loss-rtol 0 --eig-rtol 0
    ckpt_equal "$mode"
    "$PY" - "$W/$mode/metrics.jsonl" "$W/err-$mode" "$mode" <<'PY' && ok "  nccl records and lines ($mode)" || bad "  nccl records and lines ($mode)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
lines = [l for l in open(sys.argv[2]) if "nccl" in l]
mode = sys.argv[3]
rs = [r for r in recs if r["type"] == "resize" and r["ok"]]
nc = [r for r in recs if r["type"] == "nccl"]
assert [r["to"] for r in rs] == [2, 4] and all("nccl" in r for r in rs), rs
if mode == "ready":  # each growth: a new communicator, ready after the fake's 2 polls
    assert [(n["ranks"], n["ok"], n["path"], n["generation"], n["polls"]) for n in nc] == [(2, True, "nccl", 1, 2), (4, True, "nccl", 2, 2)], nc
    assert all(n["init_s"] >= 0 and n["bcast_s"] >= 0 for n in nc) and not lines, (nc, lines)
elif mode == "never":  # initialising for ever: the host path, silently
    assert not nc and not lines and all("initialising" in r["nccl"]["state"] for r in rs), (nc, lines)
elif mode == "fail":  # the last rank's init fails: the host path for good, one line
    assert len(nc) == 1 and not nc[0]["ok"] and nc[0]["path"] == "host" and nc[0]["ranks"] == 2, nc
    assert len(lines) == 1 and "nccl: host path: ncclCommInitRankConfig on rank 1: fake NCCL: init failed" in lines[0], lines
    assert "host path" in rs[1]["nccl"]["state"], rs
else:  # shared: every rank on one GPU
    assert len(nc) == 1 and not nc[0]["ok"] and len(lines) == 1, (nc, lines)
    assert "2 ranks share a GPU: NCCL needs one GPU per rank, reductions go through MPI host memory" in lines[0], lines
print("  %d resize, %d nccl records, %d line(s) on stderr" % (len(rs), len(nc), len(lines)))
PY
  done
  # issue 20: every rank, launched or spawned, takes its own GPU of the node when there are enough
  # (the node-local index in the merged communicator, not the spawned job's local rank, which
  # starts at 0 again); with fewer GPUs than ranks two share one and NCCL gives way to the host
  # path with its line. The fake reports ABSA_TEST_CUDA_DEVICES GPUs (TEST ONLY).
  for ndev in 4 2; do
    ABSA_TEST_CUDA_FALLBACK=ready ABSA_TEST_CUDA_DEVICES=$ndev run_to 120 mpirun -np 1 -x ABSA_TEST_CUDA_FALLBACK \
      -x ABSA_TEST_CUDA_DEVICES $ABSA train "${COMMON[@]}" --max-ranks 4 --device cuda --out "$W/dev$ndev" 2>"$W/err-dev$ndev" \
      && ok "--device cuda, fallback ready, $ndev GPUs: exit 0" || bad "--device cuda, fallback ready, $ndev GPUs"
    check "  grew 1 -> 2 -> 4 ranks" ranks "$W/dev$ndev" 1,2,4,4
    check "  same per-step losses and eigenvalues as the CPU growth run (bitwise)" compare "$W/cpu" "$W/dev$ndev" --loss-rtol 0 --eig-rtol 0
    ckpt_equal "dev$ndev"
    "$PY" - "$W/dev$ndev/metrics.jsonl" "$W/err-dev$ndev" $ndev <<'PY' && ok "  each rank's GPU ($ndev GPUs)" || bad "  each rank's GPU ($ndev GPUs)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
lines = [l for l in open(sys.argv[2]) if "nccl" in l]
ndev = int(sys.argv[3])
rs = [r for r in recs if r["type"] == "resize" and r["ok"]]
nc = [r for r in recs if r["type"] == "nccl"]
devs = [r["nccl"].get("devices") for r in rs]
if ndev == 4:  # 1 -> 2 -> 4 ranks on 4 GPUs: distinct, NCCL on every communicator
    assert devs == [[0, 1], [0, 1, 2, 3]], devs
    assert [(n["ranks"], n["ok"], n["path"]) for n in nc] == [(2, True, "nccl"), (4, True, "nccl")] and not lines, (nc, lines)
else:  # 4 ranks on 2 GPUs: two share each, the host path with one line
    assert devs == [[0, 1], [0, 1, 0, 1]], devs
    assert [(n["ranks"], n["ok"], n["path"]) for n in nc] == [(2, True, "nccl"), (4, False, "host")], nc
    assert len(lines) == 1 and "share a GPU: NCCL needs one GPU per rank, reductions go through MPI host memory" in lines[0], lines
print("  GPUs by rank after each growth: %s; %d nccl records, %d line(s)" % (devs, len(nc), len(lines)))
PY
  done
  # without the switch and without a GPU: absa's one line, a failed job, no run directory
  run_to 60 mpirun -np 1 $ABSA train "${COMMON[@]}" --max-ranks 4 --device cuda --out "$W/nodev" >/dev/null 2>"$W/err"; rc=$?
  n=$(grep -c "^absa train: error: --device cuda" "$W/err")
  [ $rc -ne 0 ] && [ $rc -ne 137 ] && [ "$n" = 1 ] && [ ! -e "$W/nodev" ] \
    && ok "--device cuda under mpirun without a GPU: one line, job failed (rc $rc)" || { tail -3 "$W/err"; bad "--device cuda under mpirun without a GPU (rc $rc, $n lines)"; }
  ;;
*) echo "unknown case $CASE"; exit 2 ;;
esac
tally
