#!/usr/bin/env bash
# test_ucx_train.sh ABSA PYTHON DIR SCENARIO — `absa train --data ucx://HOST:PORT` against the
# real `absa serve` on loopback (random port, 0600 secret, --address-file, --audit), on a packed
# Fashion-MNIST subset (1024 train / 300 test samples cut from the Debian IDX files).
#   equal  : lenet, absa schedule (eigenvalue from --test-data, FGSM), --augment crop-flip, batch
#            growth, 3 epochs over ucx:// and the same run from the file: every step loss equal
#            (the metrics' %.9g text) and the final weights and momentum bitwise equal (h5py);
#            the server's audit holds each sample exactly once in each epoch 1..3; every epoch
#            line reports wall.data_stall and wall.data_stall_frac in [0, 1); the trainer copied
#            its images from the server's shared split (same node); a second pair of runs (sgd,
#            a short last micro-batch) gets its images over UCX (ABSA_UCX_LOCAL=0), equal too
#   secret : wrong secret -> one "absa train: error:" line, non-zero exit, no training output;
#            no secret at all -> refused likewise; a server with too few epochs (serve --epochs 2,
#            train --epochs 2 needs 3) -> refused likewise within seconds, before any step; a
#            trainer SIGSTOPped past serve --lease-timeout 1 -> one error line ("revoked") at its
#            next commit, exit 1, no checkpoint, the server refused the late commit
#   resume : SIGTERM while training over ucx:// (mid-epoch checkpoint with the server's committed
#            ranges), a fresh server, --resume: final weights bitwise equal to the file run and
#            the two audits together hold each sample exactly once per epoch
#   kill   : SIGTERM mid-epoch (checkpoint), --resume on the same server, SIGKILL a few hundred
#            commits later (the last checkpoint is older than the server's commits), --resume
#            again: its seek rewinds the server to the checkpoint. Final weights bitwise equal to the file run; the audit's lineage holds
#            each sample exactly once per epoch; the rewound commits are exactly those made
#            between the checkpoint and the kill, and each is re-delivered ("redo") once
#   epochend: stopped (--stop-at-step, as on SIGTERM) right after the last step of epoch 1: every
#            sample committed, the server already in epoch 2, the end-of-epoch work not done;
#            --resume on the same server finishes (it used to fail: 'holds no server state', ba04845);
#            final weights bitwise equal to the file run, every epoch line's losses, accuracies and
#            eigenvalue equal to it, each sample once per epoch in the audit and the sample logs
#   notest : no --test-data: sgd trains, the test pass is skipped (test_skipped, null test_acc)
#   mpi    : 2 MPI ranks (each its own client, absa schedule), then 3 ranks with steps that do
#            not divide the epoch and a deep prefetch: each sample exactly once per epoch (the
#            server's audit and the trainer's sample logs), every rank trained (skipped without
#            mpirun)
#   mpieq  : 2 MPI ranks over ucx:// against the same 2 ranks reading the file (absa schedule,
#            batch 48 -> 96 -> 192 in micro-batches of 16: 3, 6, 12 micro-batches per step, so the
#            ranks take unequal shares; a short last step; FGSM; crop-flip; prefetch 4): every
#            micro-batch holds the same samples, every step loss and the test accuracies are
#            identical, the final weights and momentum bitwise equal (the multi-rank runs used to
#            differ: which rank got which samples depended on request timing)
#   groweq : the same, starting on 1 rank and growing by MPI spawn to 3 (--growth spawn): same
#            micro-batches, and although the step at which spawned ranks join depends on timing
#            (so rank 0 runs a different share of the micro-batches in each run), every step loss,
#            the test accuracies and the final weights and momentum are bitwise equal: the step's
#            gradient and loss are exact sums (src/base/exact_sum.h), independent of the grouping
#            (they used to differ by 2e-8..1e-3 relative, from run to run)
# Exit 0 pass, 1 fail, 77 skip.
set -u
ABSA=$1 PY=$2 DIR=$3 SC=$4
export UCX_NET_DEVICES=lo UCX_TLS=tcp UCX_WARN_UNUSED_ENV_VARS=n UCX_TCP_CM_REUSEADDR=y
unset ABSA_SECRET
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
MPIENV=$(cd "$(dirname "$0")/../mpi" && pwd)/mpi_env.sh
W=$DIR/ucxtrain-$SC
rm -rf "$W"; mkdir -p "$W/idx" && cd "$W" || exit 1
. "$TOOLS/testlib.sh"
SRV=
finish() {
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
  tally && exit 0 || exit 1
}
"$ABSA" serve --help >/dev/null 2>&1 || { echo "skip: absa serve not built (no UCX)"; exit 77; }
"$PY" -c 'import h5py, numpy' 2>/dev/null || { echo "skip: $PY lacks h5py/numpy"; exit 77; }
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "skip: no dataset-fashion-mnist"; exit 77; }

"$PY" "$TOOLS/absa_testlib.py" idx-subset "$W/idx" 1024 300 || { echo "FAIL cannot write the IDX subset"; exit 1; }
"$ABSA" pack --format idx --input "$W/idx" --output "$W/d.h5" --quiet || { echo "FAIL pack"; exit 1; }
(umask 077; printf 'correct horse battery staple\n' >"$W/secret"; printf 'wrong\n' >"$W/badsecret")
SEED=11 N=1024 EPOCHS=3

serve() {  # $1 = audit file; starts the server, sets SRV and URL
  rm -f "$W/addr"
  "$ABSA" serve --data "$W/d.h5" --listen 127.0.0.1:0 --secret-file "$W/secret" --address-file "$W/addr" \
    --seed $SEED --epochs ${SERVE_EPOCHS:-$((EPOCHS + 1))} --audit "$1" ${SERVE_EXTRA:-} 2>>"$W/serve.log" &
  SRV=$!
  for _ in $(seq 1 100); do [ -s "$W/addr" ] && break; sleep 0.1; done
  URL=$(head -1 "$W/addr" 2>/dev/null)
  case "$URL" in ucx://127.0.0.1:[0-9]*) ;; *) echo "FAIL server did not start"; cat "$W/serve.log"; SRV=; finish;; esac
}
stop_server() {  # the server exits by itself after its epochs; give it 10 s
  [ -n "$SRV" ] || return 0
  for _ in $(seq 1 100); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.1; done
  kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; SRV=
}
ARGS=(--model lenet --schedule absa --epochs $EPOCHS --batch 32 --micro-batch 16 --max-batch 128 --duration 1
      --lr 0.02 --adv-ratio 0.25 --adv-eps 0.01 --augment crop-flip --eig-samples 48 --eig-iters 4 --eig-chunk 16
      --test-batch 150 --seed $SEED --threads 1 --quiet)
file_run() { "$ABSA" train --data "$W/d.h5" "${ARGS[@]}" --out "$W/file" 2>"$W/file.err" || { bad "file run"; cat "$W/file.err"; }; }
same_weights() {  # $1 $2 = run dirs: model parameters, BN buffers and momentum bitwise equal
  "$PY" - "$1/checkpoint.h5" "$2/checkpoint.h5" <<'PY'
import h5py, numpy as np, sys
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
diff = [n for n in names if n.split("/")[0] in ("model", "optimizer") and
        not np.array_equal(np.asarray(a[n]), np.asarray(b[n]))]
print("  compared %d datasets; differing: %s" % (len(names), diff or "none"))
sys.exit(1 if diff or not names else 0)
PY
}
same_steps() {  # $1 $2 = run dirs: the step lines (loss %.9g, lr, batch) are identical
  diff <(grep '"type": "step"' "$1/metrics.jsonl") <(grep '"type": "step"' "$2/metrics.jsonl") >/dev/null &&
    [ "$(grep -c '"type": "step"' "$1/metrics.jsonl")" -gt 0 ]
}
audit_once() {  # audit files...: in the lineage (commits minus rewinds), each of 0..N-1 exactly once in each epoch 1..EPOCHS
  "$PY" - $N $EPOCHS "$@" <<'PY'
import sys
from collections import Counter
n, epochs, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
ep = {}
for f in files:
    for line in open(f):
        v = line.split()
        if not v or v[0] == "#": continue
        if v[0] == "rewind": ep.setdefault(int(v[1]), Counter())[int(v[2])] -= 1
        else: ep.setdefault(int(v[0]), Counter())[int(v[1])] += 1
print("  audit: " + ", ".join("epoch %d: %d in the lineage" % (e, sum(ep[e].values())) for e in sorted(ep)))
sys.exit(0 if all(ep.get(e) == Counter(range(n)) for e in range(1, epochs + 1)) else 1)
PY
}

case "$SC" in
equal)
  serve "$W/audit.txt"
  NQ=() # ARGS without --quiet: the closing line says which way the images came
  for a in "${ARGS[@]}"; do [ "$a" = --quiet ] || NQ+=("$a"); done
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${NQ[@]}" --out "$W/ucx" 2>"$W/ucx.err" &&
    ok "absa train --data ucx:// ran $EPOCHS epochs" || { bad "ucx run"; cat "$W/ucx.err"; }
  stop_server
  file_run
  same_steps "$W/ucx" "$W/file" && ok "every step loss equal to the file run ($(grep -c '"type": "step"' "$W/file/metrics.jsonl") steps)" ||
    bad "step losses differ: $(diff <(grep '"type": "step"' "$W/ucx/metrics.jsonl") <(grep '"type": "step"' "$W/file/metrics.jsonl") | head -4)"
  same_weights "$W/ucx" "$W/file" && ok "final weights and momentum bitwise equal" || bad "final weights differ"
  grep -q '"grew": true' "$W/file/metrics.jsonl" && ok "the batch grew (eigenvalue from --test-data)" || bad "no growth: the test does not cover batch changes"
  audit_once "$W/audit.txt" && ok "server audit: each sample once per epoch" || bad "server audit"
  grep -q "copied the images of [1-9][0-9]* batches from the server's shared split" "$W/ucx.err" &&
    ok "same node: the trainer copied its images from the server's shared split" || bad "the shared split was not used: $(tail -2 "$W/ucx.err")"
  "$PY" - "$W/ucx/metrics.jsonl" <<'PY' && ok "data stall reported per epoch" || bad "data stall metrics"
import json, sys
ep = [json.loads(l) for l in open(sys.argv[1]) if '"type": "epoch"' in l]
for r in ep:
    print("  epoch %d: data stall %.4f s, fraction %.4f, test_acc %.3f" % (r["epoch"], r["wall"]["data_stall"], r["wall"]["data_stall_frac"], r["test_acc"]))
sys.exit(0 if len(ep) == 3 and all(r["data_source"] == "ucx" and 0 <= r["wall"]["data_stall_frac"] < 1 and r["test_acc"] > 0.3 for r in ep) and ep[-1]["test_acc"] > 0.5 else 1)
PY
  # steps that do not divide the epoch and a short last micro-batch (1024 = 10 x 96 + 48 + 16)
  SGD=(--schedule sgd --batch 96 --micro-batch 48)
  : >"$W/serve.log"
  serve "$W/audit2.txt"
  # (this run's images over UCX, as on another node: ABSA_UCX_LOCAL=0)
  ABSA_UCX_LOCAL=0 "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${NQ[@]}" "${SGD[@]}" --out "$W/ucx2" 2>"$W/ucx2.err" || { bad "ucx run 2"; cat "$W/ucx2.err"; }
  grep -q "received images over UCX.*ABSA_UCX_LOCAL=0" "$W/ucx2.err" && ok "ABSA_UCX_LOCAL=0: images over UCX" || bad "ABSA_UCX_LOCAL=0 run: $(tail -2 "$W/ucx2.err")"
  stop_server
  "$ABSA" train --data "$W/d.h5" "${ARGS[@]}" "${SGD[@]}" --out "$W/file2" 2>"$W/file2.err" || bad "file run 2"
  same_steps "$W/ucx2" "$W/file2" && same_weights "$W/ucx2" "$W/file2" && ok "short last micro-batch: steps and weights equal to the file run" || bad "short last micro-batch: differs from the file run"
  audit_once "$W/audit2.txt" && ok "short last micro-batch: audit once per epoch" || bad "short last micro-batch: audit"
  [ "$(grep -c 'epoch 4' "$W/serve.log")" -ge 1 ] && ok "the server reached its epoch limit and left by itself" || bad "server did not finish its epochs: $(tail -1 "$W/serve.log")"
  ;;
secret)
  serve "$W/audit.txt"
  "$ABSA" train --data "$URL" --secret-file "$W/badsecret" "${ARGS[@]}" --schedule sgd --out "$W/bad" >"$W/bad.out" 2>"$W/bad.err"
  rc=$?
  cat "$W/bad.err"
  [ $rc != 0 ] && ok "wrong secret: exit $rc" || bad "wrong secret: exit 0"
  [ "$(wc -l <"$W/bad.err")" = 1 ] && grep -q "^absa train: error:" "$W/bad.err" && ok "wrong secret: one error line" || bad "wrong secret: not one error line"
  grep -q "authentication failed" "$W/bad.err" && ok "wrong secret: the client says authentication failed" || bad "wrong secret: '$(cat "$W/bad.err")'"
  [ "$(grep -c 'authentication failed' "$W/serve.log")" = 1 ] && ok "wrong secret: one attempt, not retried" || bad "wrong secret: $(grep -c 'authentication failed' "$W/serve.log") attempts in the server log"
  [ ! -s "$W/bad/metrics.jsonl" ] && ok "wrong secret: nothing trained" || bad "wrong secret: metrics written"
  "$ABSA" train --data "$URL" "${ARGS[@]}" --schedule sgd --out "$W/none" 2>"$W/none.err"; rc=$?
  [ $rc != 0 ] && [ "$(wc -l <"$W/none.err")" = 1 ] && grep -q "ABSA_SECRET" "$W/none.err" && ok "no secret: refused ($(cat "$W/none.err"))" || bad "no secret: rc $rc $(cat "$W/none.err")"
  ABSA_SECRET=$(head -1 "$W/secret") "$ABSA" train --data "$URL" "${ARGS[@]}" --schedule sgd --epochs 1 --out "$W/env" 2>"$W/env.err" &&
    ok "ABSA_SECRET from the environment accepted" || { bad "env secret"; cat "$W/env.err"; }
  # issue 13: a server with too few epochs is refused at connect time, not after epoch 1
  kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null
  SERVE_EPOCHS=2 serve "$W/audit_few.txt"
  t0=$(date +%s%N)
  "$ABSA" train --data "$URL" --secret-file "$W/secret" "${ARGS[@]}" --schedule sgd --epochs 2 --out "$W/few" 2>"$W/few.err"; rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  cat "$W/few.err"
  [ $rc != 0 ] && [ "$(wc -l <"$W/few.err")" = 1 ] && grep -q "^absa train: error: .*the server serves 2 epochs, this run needs 3 (--epochs 2 + 1" "$W/few.err" &&
    ok "serve --epochs 2, train --epochs 2: refused with one line (exit $rc)" || bad "too few server epochs: rc $rc, $(cat "$W/few.err")"
  [ "$(grep -c '"type": "step"' "$W/few/metrics.jsonl" 2>/dev/null || echo 0)" = 0 ] && [ ! -s "$W/audit_few.txt" ] &&
    ok "too few server epochs: refused before any step, in $ms ms" || bad "too few server epochs: trained before refusing ($ms ms)"
  [ $ms -lt 10000 ] || bad "too few server epochs: refused only after $ms ms"
  # issue 14: a trainer stopped (SIGSTOP) for longer than the server's --lease-timeout loses its
  # leases; continued, it fails with one line at its next commit and writes no checkpoint
  kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null
  SERVE_EXTRA="--lease-timeout 1" serve "$W/audit_stop.txt"
  "$ABSA" train --data "$URL" --secret-file "$W/secret" "${ARGS[@]}" --schedule sgd --epochs 2 --out "$W/stop" 2>"$W/stop.err" &
  TR=$!
  for _ in $(seq 1 500); do [ "$(grep -vc '^#' "$W/audit_stop.txt" 2>/dev/null)" -gt 100 ] 2>/dev/null && break; sleep 0.01; done
  kill -STOP $TR; sleep 2.5; kill -CONT $TR; wait $TR; rc=$?
  cat "$W/stop.err"
  [ $rc = 1 ] && [ "$(wc -l <"$W/stop.err")" = 1 ] && grep -q "^absa train: error: .*: the server revoked leases of this client after 1 s of silence" "$W/stop.err" &&
    ok "stopped past --lease-timeout: one error line, exit 1" || bad "stopped trainer: rc $rc, $(cat "$W/stop.err")"
  [ ! -e "$W/stop/checkpoint.h5" ] && grep -q "commit of revoked lease .* refused" "$W/serve.log" &&
    ok "stopped trainer: its late commit refused by the server, no checkpoint written" || bad "stopped trainer: checkpoint written or commit not refused"
  ;;
resume)
  serve "$W/audit1.txt"
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --out "$W/ucx" 2>"$W/ucx1.err" &
  TR=$!
  # stop it part-way: once the server has committed some samples of epoch 1 or 2
  for _ in $(seq 1 400); do [ "$(wc -l <"$W/audit1.txt" 2>/dev/null || echo 0)" -gt 200 ] && break; sleep 0.02; done
  kill -TERM $TR; wait $TR; rc=$?
  [ $rc = 0 ] && ok "SIGTERM: exit 0 ($(grep -o 'stopped by.*samples' "$W/ucx1.err"))" || { bad "SIGTERM: exit $rc"; cat "$W/ucx1.err"; }
  kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; SRV=
  "$PY" -c "import h5py,sys; a=h5py.File(sys.argv[1],'r')['train'].attrs; print('  checkpoint: epoch', a['epoch'], 'ep_cursor', a['ep_cursor'], 'server epoch', a.get('ucx_epoch'), 'committed', a.get('ucx_committed'), 'ranges', a.get('ucx_nranges'))" "$W/ucx/checkpoint.h5"
  serve "$W/audit2.txt"
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --out "$W/ucx" --resume "$W/ucx/checkpoint.h5" 2>"$W/ucx2.err" &&
    ok "resumed over ucx:// on a fresh server" || { bad "resume"; cat "$W/ucx2.err"; }
  stop_server
  file_run
  same_weights "$W/ucx" "$W/file" && ok "resumed run bitwise equal to the uninterrupted file run" || bad "resumed weights differ"
  audit_once "$W/audit1.txt" "$W/audit2.txt" && ok "the two audits: each sample once per epoch" || bad "audits"
  ;;
kill)
  EPOCHS=2 ARGS+=(--epochs 2)  # three runs and the file run: keep it short
  serve "$W/audit.txt"
  commits() { local k; k=$(grep -vc '^#' "$W/audit.txt" 2>/dev/null); echo "${k:-0}"; }
  # run 1: SIGTERM mid-epoch 1 (checkpoint with the server's committed positions [0, K))
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --out "$W/ucx" 2>"$W/ucx1.err" &
  TR=$!
  for _ in $(seq 1 1000); do [ "$(commits)" -gt 300 ] && break; sleep 0.01; done
  kill -TERM $TR; wait $TR || bad "SIGTERM: exit $?"
  # run 2: resumed on the same server, SIGKILLed some hundred commits later (its checkpoint is still run 1's)
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --out "$W/ucx" --resume "$W/ucx/checkpoint.h5" 2>"$W/ucx2.err" &
  TR=$!
  c0=$(commits)
  for _ in $(seq 1 1000); do [ "$(commits)" -gt $((c0 + 300)) ] && break; sleep 0.01; done
  kill -KILL $TR; wait $TR 2>/dev/null
  for _ in $(seq 1 100); do grep -q "dropped: connection lost" "$W/serve.log" && break; sleep 0.05; done
  "$PY" -c "import h5py,sys; a=h5py.File(sys.argv[1],'r')['train'].attrs; print('  checkpoint at the kill: epoch', a['epoch'], 'ep_epoch', a['ep_epoch'], 'ucx_epoch', a.get('ucx_epoch'), 'ucx_committed', a.get('ucx_committed'))" "$W/ucx/checkpoint.h5"
  "$PY" - "$W/ucx/checkpoint.h5" > "$W/ck.txt" <<'PY'
import h5py, sys
a = h5py.File(sys.argv[1], "r")["train"].attrs
e = int(a["ep_epoch"])
print(e if e else int(a["epoch"]) + 1, int(a["ucx_committed"]) if e else 0)
PY
  # run 3: resumed from that checkpoint: the seek rewinds what run 2 committed
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --out "$W/ucx" --resume "$W/ucx/checkpoint.h5" 2>"$W/ucx3.err" &&
    ok "resumed over ucx:// on the same server after SIGKILL" || { bad "resume"; cat "$W/ucx3.err"; }
  stop_server
  file_run
  same_weights "$W/ucx" "$W/file" && ok "stopped, killed and resumed run bitwise equal to the uninterrupted file run" || bad "resumed weights differ"
  audit_once "$W/audit.txt" && ok "audit lineage: each sample exactly once per epoch" || bad "audit lineage"
  "$PY" - "$W/audit.txt" $(cat "$W/ck.txt") <<'PY' && ok "rewinds = the commits between the checkpoint and the kill, each re-delivered once" || bad "rewinds/re-deliveries"
import sys
from collections import Counter
audit, ck_epoch, ck_committed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [l.split() for l in open(audit) if l.strip()]
seeks = [k for k, v in enumerate(lines) if v[:2] == ["#", "seek"]]
# the commits the server made before the resumed run's seek (the last one), in order; of the
# checkpoint's epoch the first ck_committed are in the checkpoint (one rank commits in step order)
before, seen = Counter(), Counter()
for v in lines[:seeks[-1]] if len(seeks) == 3 else []:
    if v[0] in ("#", "rewind"): continue
    e, i = int(v[0]), int(v[1])
    if e < ck_epoch: continue
    seen[e] += 1
    if e > ck_epoch or seen[e] > ck_committed: before[(e, i)] += 1
rew, redo = Counter(), Counter()
for v in lines:
    if v[0] == "#": continue
    if v[0] == "rewind": rew[(int(v[1]), int(v[2]))] += 1
    elif len(v) == 3 and v[2] == "redo": redo[(int(v[0]), int(v[1]))] += 1
print("  checkpoint: epoch %d with %d committed; commits after it before the kill %d, rewound %d, re-delivered %d (epochs %s)" % (
    ck_epoch, ck_committed, sum(before.values()), sum(rew.values()), sum(redo.values()), sorted(set(e for e, _ in rew))))
sys.exit(0 if before and rew == before and redo == before else 1)
PY
  ;;
epochend)
  EPOCHS=2 ARGS+=(--epochs 2)
  STEPS=$((N / 32))  # epoch 1 runs at --batch 32
  serve "$W/audit.txt"
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --stop-at-step $STEPS \
    --sample-log "$W/ids" --out "$W/ucx" 2>"$W/ucx1.err"; rc=$?
  cat "$W/ucx1.err"
  [ $rc = 0 ] && grep -q "stopped by --stop-at-step after step $STEPS (epoch 1, $N of $N samples)" "$W/ucx1.err" &&
    ok "stopped after the last step of epoch 1 (exit 0)" || bad "stop: rc $rc"
  "$PY" - "$W/ucx/checkpoint.h5" $N <<'PY' && ok "checkpoint: epoch 1 in progress with every sample done" || bad "checkpoint is not at the end of epoch 1"
import h5py, sys
a = h5py.File(sys.argv[1], "r")["train"].attrs
v = [int(a[k]) for k in ("epoch", "ep_epoch", "ep_cursor")]
print("  checkpoint: epoch %d, ep_epoch %d, ep_cursor %d, ucx_epoch %s" % (*v, a.get("ucx_epoch")))
sys.exit(0 if v == [0, 1, int(sys.argv[2])] else 1)
PY
  "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "${ARGS[@]}" --sample-log "$W/ids" \
    --out "$W/ucx" --resume "$W/ucx/checkpoint.h5" 2>"$W/ucx2.err" &&
    ok "resumed over ucx:// on the same server" || { bad "resume"; cat "$W/ucx2.err"; }
  stop_server
  file_run
  same_weights "$W/ucx" "$W/file" && ok "final weights and momentum bitwise equal to the uninterrupted file run" || bad "final weights differ"
  "$PY" - "$W/ucx/metrics.jsonl" "$W/file/metrics.jsonl" <<'PY' && ok "every epoch's losses, accuracies, eigenvalue and batch equal to the file run" || bad "epoch lines differ from the file run"
import json, sys
keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "eig", "batch", "next_batch", "sgd_iters")
u, f = ([tuple(r.get(k) for k in keys) for r in map(json.loads, open(p)) if r["type"] == "epoch"] for p in sys.argv[1:3])
for r in u: print("  " + ", ".join("%s %s" % kv for kv in zip(keys, r)))
sys.exit(0 if u == f and len(u) == 2 else 1)
PY
  audit_once "$W/audit.txt" && ok "server audit: each sample once per epoch" || bad "server audit"
  "$PY" - "$W/ids" $N $EPOCHS <<'PY' && ok "trainer sample logs (both runs): each sample once per epoch" || bad "sample logs"
import glob, sys
seen = {}
for f in glob.glob(sys.argv[1] + "/*"):
    for line in open(f):
        v = line.split(); seen.setdefault(int(v[0]), []).extend(int(x) for x in v[2:])
print("  %d logs; " % len(glob.glob(sys.argv[1] + "/*")) + ", ".join("epoch %d: %d ids" % (e, len(seen[e])) for e in sorted(seen)))
sys.exit(0 if sorted(seen) == list(range(1, int(sys.argv[3]) + 1)) and all(sorted(seen[e]) == list(range(int(sys.argv[2]))) for e in seen) else 1)
PY
  ;;
notest)
  serve "$W/audit.txt"
  "$ABSA" train --data "$URL" --secret-file "$W/secret" "${ARGS[@]}" --schedule sgd --out "$W/ucx" 2>"$W/ucx.err" &&
    ok "sgd without --test-data ran" || { bad "run"; cat "$W/ucx.err"; }
  "$PY" - "$W/ucx/metrics.jsonl" <<'PY' && ok "test pass skipped and said so" || bad "test skipped metrics"
import json, sys
ep = [json.loads(l) for l in open(sys.argv[1]) if '"type": "epoch"' in l]
sys.exit(0 if len(ep) == 3 and all(r.get("test_skipped") is True and r["test_acc"] is None for r in ep) else 1)
PY
  "$ABSA" train --data "$URL" --secret-file "$W/secret" "${ARGS[@]}" --out "$W/absa" 2>"$W/absa.err"; rc=$?
  [ $rc != 0 ] && grep -q -- "--test-data" "$W/absa.err" && ok "absa schedule without --test-data refused" || bad "absa without --test-data: rc $rc"
  ;;
mpi)
  command -v mpirun >/dev/null || { echo "skip: no mpirun"; exit 77; }
  mpi_run() {  # $1 = ranks, rest = train options
  local np=$1; shift
  rm -rf "$W/ids" "$W/audit.txt" "$W/ucx"
  serve "$W/audit.txt"
  # under ASan: Open MPI's own allocations at exit are reported as leaks (the one-rank scenarios
  # check this code for leaks)
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
  timeout 50 mpirun --oversubscribe --allow-run-as-root -np $np -x UCX_NET_DEVICES -x UCX_TLS -x UCX_WARN_UNUSED_ENV_VARS -x ASAN_OPTIONS \
    "$ABSA" train --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" "$@" --max-ranks $np --growth none \
    --sample-log "$W/ids" --out "$W/ucx" >"$W/mpi.out" 2>&1 && ok "$np ranks over ucx://" || { bad "mpirun $np ranks"; tail -20 "$W/mpi.out"; }
  stop_server
  audit_once "$W/audit.txt" && ok "$np ranks: server audit: each sample once per epoch" || bad "$np ranks: server audit"
  "$PY" - "$W/ids" $N $np <<'PY' && ok "$np ranks: trainer sample logs: each sample once per epoch, every rank trained" || bad "$np ranks: sample logs"
import glob, sys
seen, ranks = {}, set()
for f in glob.glob(sys.argv[1] + "/*"):
    for line in open(f):
        v = line.split(); seen.setdefault(int(v[0]), []).extend(int(x) for x in v[2:]); ranks.add(int(v[1]))
print("  ranks %s; " % sorted(ranks) + ", ".join("epoch %d: %d ids" % (e, len(seen[e])) for e in sorted(seen)))
sys.exit(0 if ranks == set(range(int(sys.argv[3]))) and all(sorted(seen.get(e, [])) == list(range(int(sys.argv[2]))) for e in (1, 2, 3)) else 1)
PY
}
  mpi_run 2 "${ARGS[@]}"
  # 3 ranks, steps of 3 x 16 that do not divide the epoch, deep prefetch: the end of each epoch
  # is leased ahead to some ranks' prefetch while others are asked for samples (drain steps)
  mpi_run 3 "${ARGS[@]}" --schedule sgd --batch 48 --prefetch 6
  ;;
mpieq|groweq)
  command -v mpirun >/dev/null || { echo "skip: no mpirun"; exit 77; }
  . "$MPIENV"  # run as root, ob1 over shared memory/tcp, loopback, oversubscription
  if [ "$SC" = mpieq ]; then NP=2 GROW=(--max-ranks 2 --growth none); else NP=1 GROW=(--max-ranks 3 --growth spawn); fi
  EQ=(--batch 48 --micro-batch 16 --max-batch 192 --prefetch 4 --step-log 1)
  eq_run() {  # $1 = output dir, rest = data options
    local out=$1; shift
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    timeout 50 mpirun --oversubscribe -np $NP -x UCX_NET_DEVICES -x UCX_TLS -x UCX_WARN_UNUSED_ENV_VARS -x ASAN_OPTIONS \
      "$ABSA" train "$@" "${ARGS[@]}" "${EQ[@]}" "${GROW[@]}" --sample-log "$out.ids" --out "$out" >"$out.log" 2>&1
  }
  serve "$W/audit.txt"
  eq_run "$W/ucx" --data "$URL" --secret-file "$W/secret" --test-data "$W/d.h5" && ok "$SC: ranks over ucx://" || { bad "$SC: ucx run"; tail -20 "$W/ucx.log"; }
  stop_server
  eq_run "$W/file" --data "$W/d.h5" && ok "$SC: ranks from the file" || { bad "$SC: file run"; tail -20 "$W/file.log"; }
  audit_once "$W/audit.txt" && ok "$SC: server audit: each sample once per epoch" || bad "$SC: server audit"
  ! grep -q "warning" "$W/ucx.log" && ok "$SC: no warning (same permutation as the file)" || bad "$SC: $(grep warning "$W/ucx.log")"
  "$PY" - "$W/ucx" "$W/file" "$SC" <<'PY' && ok "$SC: same micro-batches, steps and accuracy as the file run" || bad "$SC: differs from the file run"
import glob, json, sys
u, f, sc = sys.argv[1:4]
def mbs(d):  # every micro-batch's sample ids (one sample-log line each), per epoch, ranks ignored
    out = {}
    for p in glob.glob(d + ".ids/*"):
        for line in open(p):
            v = line.split(); out.setdefault(int(v[0]), []).append(tuple(int(x) for x in v[2:]))
    return {e: sorted(x) for e, x in out.items()}
def rows(d, kind):
    return [json.loads(l) for l in open(d + "/metrics.jsonl") if '"type": "%s"' % kind in l]
mu, mf = mbs(u), mbs(f)
su, sf, eu, ef = rows(u, "step"), rows(f, "step"), rows(u, "epoch"), rows(f, "epoch")
ok = mu == mf and len(mu) == 3 and len(su) == len(sf) > 0 and len(eu) == len(ef) == 3
print("  micro-batches per epoch: %s; steps %d / %d; ranks per epoch %s / %s" % (
    [len(mu.get(e, [])) for e in (1, 2, 3)], len(su), len(sf), [r["ranks"] for r in eu], [r["ranks"] for r in ef]))
rel = max((abs(a["loss"] - b["loss"]) / abs(b["loss"]) for a, b in zip(su, sf)), default=1)
same_meta = all((a["epoch"], a["step"], a["lr"], a["batch"]) == (b["epoch"], b["step"], b["lr"], b["batch"]) for a, b in zip(su, sf))
dacc = max(abs(a["test_acc"] - b["test_acc"]) for a, b in zip(eu, ef)) if eu and ef else 1
print("  max relative step-loss difference %.3g, test accuracy %s / %s" % (rel, [r["test_acc"] for r in eu], [r["test_acc"] for r in ef]))
ok = ok and rel == 0 and same_meta and dacc == 0
if sc == "groweq":
    ok = ok and max(r["ranks"] for r in eu) > 1
sys.exit(0 if ok else 1)
PY
  same_weights "$W/ucx" "$W/file" && ok "$SC: final weights and momentum bitwise equal" || bad "$SC: final weights differ"
  ;;
*) echo "unknown scenario $SC"; exit 2;;
esac
finish
