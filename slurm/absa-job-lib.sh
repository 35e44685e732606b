# absa-job-lib.sh — shell functions shared by the absa Slurm job scripts (jobscripts/*.sbatch,
# rendered from slurm/templates/). Sourced, not run. Guide: docs/slurm.md.
#
# What the functions do, in the order a job script calls them:
#   absa_job_init MODE          check the Slurm environment (MODE het|plain|cpu), find the absa binary
#                               and its Slurm helper, fix the run directory (stable across
#                               resubmissions, so a resubmitted script resumes) and this job's folder
#   absa_job_banner             print where output, metrics, checkpoints and logs go
#   absa_job_pack_if_needed     pack the dataset into HDF5 once (flock'ed, atomic) — "pack then train"
#   absa_job_write_secret       fresh shared secret for the UCX stream, mode 0600, in the job folder
#   absa_job_start_server OPTS  `absa serve` as a step of het group 0 with the training OPTS' --seed;
#                               waits for its address file
#   absa_job_start_training     the trainer on the training component (mpirun growing by spawn, or srun
#                               with a pool of parked ranks); resumes from the run's checkpoint
#   absa_job_wait               waits for the trainer; on SIGUSR1 (--signal=B:USR1@LEAD before the time
#                               limit, or `scancel -b -s USR1`) or SIGTERM it sends SIGTERM to the
#                               training ranks only (they checkpoint and exit), then stops the server
#
# Knobs (environment variables; sbatch passes the submitting shell's environment by default):
#   ABSA_HOME          the absa checkout (default: found from the job's Command, or the submit dir)
#   ABSA               absa binary (default: $ABSA_HOME/build/src/absa, then `absa` on PATH)
#   ABSA_RUN_DIR       output directory (default: $SLURM_SUBMIT_DIR/absa-run-<job name>)
#   ABSA_DATA          packed dataset (default: $SLURM_SUBMIT_DIR/data/fashion-mnist.h5)
#   ABSA_PACK_ARGS     how to pack it if missing (default: --format idx, Debian's Fashion-MNIST)
#   ABSA_STREAM        ucx (absa serve on het group 0 streams batches) | file (ranks read ABSA_DATA)
#   ABSA_LAUNCHER      mpirun (spawn growth, default) | srun (pool growth: all ranks start parked)
#   ABSA_TRAIN_ARGS    extra `absa train` options (appended: they override the script's)
#   ABSA_SERVE_ARGS    extra `absa serve` options (%j becomes the job id, as in sbatch --output)
#   ABSA_SERVE_LISTEN  address the server binds (default: <server host name>:0, any free port)
#   ABSA_MPIRUN_ARGS   extra mpirun options
#   ABSA_GRACE         seconds the ranks get between SIGTERM and SIGKILL (default 60)
#   ABSA_ALLOC         hold (the job holds its slots from the start, default) | handoff (start small,
#                      hand the run over to a bigger job when the batch wants more ranks: see
#                      absa-job-handoff.sh, sourced below, for its knobs)

absa_job_log() { printf '[absa-job %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
absa_job_die() { printf '[absa-job %s] error: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# absa_job_init MODE : het | plain | cpu
absa_job_init() {
  ABSA_JOB_MODE=$1
  [ -n "${SLURM_JOB_ID:-}" ] || absa_job_die "not running under Slurm (no SLURM_JOB_ID): submit this script with sbatch"
  if [ "$ABSA_JOB_MODE" = het ]; then
    [ "${SLURM_HET_SIZE:-0}" -ge 2 ] 2>/dev/null || \
      absa_job_die "this script needs a heterogeneous job (component 0: absa serve, component 1: trainers); SLURM_HET_SIZE='${SLURM_HET_SIZE:-}'"
  fi
  # tools: the absa binary and its Slurm helper (`absa slurm ...`, or the absa-slurm program)
  if [ -z "${ABSA:-}" ]; then
    for c in "$ABSA_HOME/build/src/absa" "$(command -v absa 2>/dev/null)"; do
      [ -n "$c" ] && [ -x "$c" ] && { ABSA=$c; break; }
    done
  fi
  [ -n "${ABSA:-}" ] && [ -x "$ABSA" ] || absa_job_die "absa binary not found: build it (cmake --build build) or set ABSA=/path/to/absa"
  if "$ABSA" slurm --help >/dev/null 2>&1; then ABSA_SLURM=("$ABSA" slurm)
  elif [ -x "$(dirname "$ABSA")/absa-slurm" ]; then ABSA_SLURM=("$(dirname "$ABSA")/absa-slurm")
  elif command -v absa-slurm >/dev/null; then ABSA_SLURM=(absa-slurm)
  else absa_job_die "neither 'absa slurm' nor absa-slurm found next to $ABSA"; fi
  ABSA_STREAM=${ABSA_STREAM:-ucx}
  [ "$ABSA_JOB_MODE" = het ] || ABSA_STREAM=file   # only a het job has a data component
  ABSA_LAUNCHER=${ABSA_LAUNCHER:-mpirun}
  case "$ABSA_STREAM" in ucx|file) ;; *) absa_job_die "ABSA_STREAM must be ucx or file, not '$ABSA_STREAM'";; esac
  case "$ABSA_LAUNCHER" in mpirun|srun) ;; *) absa_job_die "ABSA_LAUNCHER must be mpirun or srun, not '$ABSA_LAUNCHER'";; esac
  ABSA_GRACE=${ABSA_GRACE:-60}
  # where the trainer may grow: (host, slots) of het group 1, or of the whole plain job
  ABSA_TRAIN_HOSTS=$("${ABSA_SLURM[@]}" hosts) || absa_job_die "cannot read the allocation"
  ABSA_MAX_RANKS=$("${ABSA_SLURM[@]}" slots)
  ABSA_CPUS_PER_RANK=$("${ABSA_SLURM[@]}" view | sed -n 's/.*"cpus_per_task": \([0-9]*\).*/\1/p')
  # the run directory does not depend on the job id: resubmitting the script resumes the run
  ABSA_RUN_DIR=${ABSA_RUN_DIR:-$SLURM_SUBMIT_DIR/absa-run-${SLURM_JOB_NAME:-absa}}
  ABSA_JOB_DIR=$ABSA_RUN_DIR/jobs/$SLURM_JOB_ID
  mkdir -p "$ABSA_JOB_DIR" || absa_job_die "cannot create $ABSA_JOB_DIR"
  chmod 0700 "$ABSA_JOB_DIR"
  ABSA_DATA=${ABSA_DATA:-$SLURM_SUBMIT_DIR/data/fashion-mnist.h5}
  ABSA_STOP_REQUESTED=
  "${ABSA_SLURM[@]}" view > "$ABSA_JOB_DIR/allocation.json"
  absa_handoff_init        # ABSA_ALLOC: hold | handoff
}

absa_job_banner() {
  local out
  out=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *StdOut=//p' | head -1)
  absa_job_log "job $SLURM_JOB_ID ($ABSA_JOB_MODE) on $(hostname -s): training on $ABSA_TRAIN_HOSTS (at most $ABSA_MAX_RANKS ranks, ${ABSA_CPUS_PER_RANK:-1} CPUs each), launcher $ABSA_LAUNCHER, data $ABSA_STREAM, allocation policy $ABSA_ALLOC"
  cat <<EOF
  job output (this log)  : ${out:-see sbatch --output}
  run directory          : $ABSA_RUN_DIR   (the same for every resubmission: resumes)
  metrics (JSON lines)   : $ABSA_RUN_DIR/metrics.jsonl      (plot: absa plot $ABSA_RUN_DIR)
  checkpoint             : $ABSA_RUN_DIR/checkpoint.h5
  summary when done      : $ABSA_RUN_DIR/summary.json
  this job's files       : $ABSA_JOB_DIR   (allocation.json, secret, serve.log, train.log)
  dataset                : $ABSA_DATA
  graceful stop          : scancel --batch --signal=USR1 $SLURM_JOB_ID   (checkpoint, then exit)
EOF
}

# Pack ABSA_DATA if it does not exist: one job packs (flock), into a temporary file renamed at the end.
absa_job_pack_if_needed() {
  [ -f "$ABSA_DATA" ] && { absa_job_log "dataset $ABSA_DATA present"; return 0; }
  mkdir -p "$(dirname "$ABSA_DATA")" || absa_job_die "cannot create $(dirname "$ABSA_DATA")"
  (
    flock -w 3600 9 || absa_job_die "timed out waiting for another job packing $ABSA_DATA"
    [ -f "$ABSA_DATA" ] && exit 0
    local tmp=$ABSA_DATA.tmp.$SLURM_JOB_ID
    absa_job_log "packing the dataset into $ABSA_DATA (${ABSA_PACK_ARGS:---format idx})"
    # shellcheck disable=SC2086
    "$ABSA" pack ${ABSA_PACK_ARGS:---format idx} --output "$tmp" --force --quiet || { rm -f "$tmp"; absa_job_die "absa pack failed"; }
    mv -f "$tmp" "$ABSA_DATA"
  ) 9>"$ABSA_DATA.lock" || exit 1
}

# A fresh secret for this job's stream: hex of 32 bytes from /dev/urandom, mode 0600.
absa_job_write_secret() {
  ABSA_SECRET_FILE=$ABSA_JOB_DIR/secret
  "${ABSA_SLURM[@]}" secret "$ABSA_SECRET_FILE" || absa_job_die "cannot write the secret"
}

# The last --seed value among the given options and ABSA_TRAIN_ARGS (0, absa train's default).
absa_job_train_seed() {
  local seed=0 prev=
  # shellcheck disable=SC2086
  for a in "$@" ${ABSA_TRAIN_ARGS:-}; do
    case $a in --seed=*) seed=${a#--seed=} ;; esac
    [ "$prev" = --seed ] && seed=$a
    prev=$a
  done
  echo "$seed"
}

# `absa serve` on het group 0 (one task); sets ABSA_SERVE_PID and ABSA_DATA_URL. Arguments: the
# training options, whose --seed (after ABSA_TRAIN_ARGS) the server shuffles with.
absa_job_start_server() {
  local listen=${ABSA_SERVE_LISTEN:-} seed
  seed=$(absa_job_train_seed "$@")
  local addr=$ABSA_JOB_DIR/address
  rm -f "$addr"
  # default: the server node's own name (resolved by absa serve), any free port
  [ -n "$listen" ] || listen="$(hostname):0"   # the batch shell runs on group 0's first node
  absa_job_log "starting absa serve on het group 0 ($SLURM_JOB_NODELIST_HET_GROUP_0), listening on $listen"
  # shellcheck disable=SC2086
  srun --het-group=0 --job-name=absa-serve -N1 -n1 --kill-on-bad-exit=0 \
    "$ABSA" serve --data "$ABSA_DATA" --listen "$listen" --address-file "$addr" \
    --secret-file "$ABSA_SECRET_FILE" --seed "$seed" ${ABSA_SERVE_ARGS//%j/$SLURM_JOB_ID} >"$ABSA_JOB_DIR/serve.log" 2>&1 &
  ABSA_SERVE_PID=$!
  local i
  for i in $(seq 1 600); do
    [ -s "$addr" ] && break
    kill -0 "$ABSA_SERVE_PID" 2>/dev/null || { tail -5 "$ABSA_JOB_DIR/serve.log" >&2; absa_job_die "absa serve exited before listening (log: $ABSA_JOB_DIR/serve.log)"; }
    sleep 0.1
  done
  [ -s "$addr" ] || absa_job_die "absa serve did not write $addr within 60 s"
  ABSA_DATA_URL=$(head -1 "$addr")
  absa_job_log "data server at $ABSA_DATA_URL (log: $ABSA_JOB_DIR/serve.log)"
}

# the trainer; sets ABSA_TRAIN_PID. Arguments: absa train options (the script's defaults).
absa_job_start_training() {
  local data=$ABSA_DATA resume=() secret=()
  if [ "$ABSA_STREAM" = ucx ]; then
    data=$ABSA_DATA_URL
    # capture the help first: `absa train --help | grep -q` under pipefail fails at random when
    # grep exits early and absa gets SIGPIPE
    local help
    help=$("$ABSA" train --help 2>&1 || true)
    if grep -q -- '--secret-file' <<<"$help"; then secret=(--secret-file "$ABSA_SECRET_FILE")
    else export ABSA_SECRET; ABSA_SECRET=$(head -1 "$ABSA_SECRET_FILE"); fi
    # the stream carries the train split only: the test pass and the eigenvalue samples read the
    # packed file the server serves (same samples as a file-fed run)
    if grep -q -- '--test-data' <<<"$help"; then secret+=(--test-data "$ABSA_DATA"); fi
  fi
  if [ -f "$ABSA_RUN_DIR/checkpoint.h5" ]; then
    resume=(--resume "$ABSA_RUN_DIR/checkpoint.h5")
    absa_job_log "resuming from $ABSA_RUN_DIR/checkpoint.h5"
  fi
  local threads=${ABSA_CPUS_PER_RANK:-1}
  absa_handoff_train_args   # ABSA_ALLOC=handoff: ABSA_HANDOFF_ARGS, ABSA_HANDOFF_NP (ranks to start)
  local cmd=("$ABSA" train "$@" --data "$data" --out "$ABSA_RUN_DIR" --max-ranks "$ABSA_MAX_RANKS"
             --threads "$threads" "${secret[@]}" "${resume[@]}" "${ABSA_HANDOFF_ARGS[@]}")
  # shellcheck disable=SC2206
  cmd+=(${ABSA_TRAIN_ARGS:-})
  export OMPI_MCA_odls_base_sigkill_timeout=$ABSA_GRACE   # time between Open MPI's SIGTERM and SIGKILL
  if [ "$ABSA_LAUNCHER" = mpirun ]; then
    absa_job_log "mpirun -np $ABSA_HANDOFF_NP (growing by spawn up to $ABSA_MAX_RANKS ranks on $ABSA_TRAIN_HOSTS)"
    (
      # het job: point Open MPI at group 1's allocation and launch its daemons with srun --het-group=1
      eval "$("${ABSA_SLURM[@]}" mpirun-env)"
      export OMPI_MCA_plm_slurm_args="${OMPI_MCA_plm_slurm_args:-} --job-name=absa-train"
      # shellcheck disable=SC2086
      exec mpirun -np "$ABSA_HANDOFF_NP" ${ABSA_MPIRUN_ARGS:-} "${cmd[@]}" --growth spawn
    ) >"$ABSA_JOB_DIR/train.log" 2>&1 &
  else
    local het=()
    [ "$ABSA_JOB_MODE" = het ] && het=(--het-group=1)
    absa_job_log "srun --mpi=pmix -n $ABSA_MAX_RANKS (pool: ranks start parked, activated on growth)"
    srun "${het[@]}" --job-name=absa-train --mpi=pmix -n "$ABSA_MAX_RANKS" --kill-on-bad-exit=0 \
      "${cmd[@]}" --growth pool >"$ABSA_JOB_DIR/train.log" 2>&1 &
  fi
  ABSA_TRAIN_PID=$!
  absa_job_log "trainer started (log: $ABSA_JOB_DIR/train.log)"
}

# SIGTERM to the training ranks only, by job step and by PID (never by name): the step(s) named
# absa-train (mpirun's daemons on other nodes and their ranks, or the srun step) and, for mpirun,
# its own children on this node (ranks it started locally; not its srun).
absa_job_signal_training() {
  local ids=$SLURM_JOB_ID step pid
  [ -n "${SLURM_JOB_ID_HET_GROUP_1:-}" ] && ids=$ids,$SLURM_JOB_ID_HET_GROUP_1
  for step in $(squeue -s -j "$ids" -h -o '%i %j' 2>/dev/null | awk '$2 == "absa-train" {print $1}'); do
    absa_job_log "SIGTERM to step $step (training ranks)"
    scancel --signal=TERM "$step" 2>/dev/null || true
  done
  if [ "$ABSA_LAUNCHER" = mpirun ] && [ -n "${ABSA_TRAIN_PID:-}" ]; then
    # ABSA_TRAIN_PID is mpirun itself (the subshell exec'd it); its children other than srun are
    # the ranks it started on this node (plain jobs)
    for pid in $(ps -o pid=,comm= --ppid "$ABSA_TRAIN_PID" 2>/dev/null | awk '$2 != "srun" {print $1}'); do
      absa_job_log "SIGTERM to local rank pid $pid"
      kill -TERM "$pid" 2>/dev/null || true
    done
  fi
}

absa_job_on_signal() {
  [ -n "$ABSA_STOP_REQUESTED" ] && return
  ABSA_STOP_REQUESTED=$(date +%s)
  absa_job_log "got SIG$1: asking the trainer to checkpoint and stop (grace ${ABSA_GRACE}s)"
  absa_job_signal_training
}

# Wait for the trainer (and handle signals meanwhile), then stop the server. Exit status of the
# script: 0 when training finished or stopped with a checkpoint, 1 otherwise.
absa_job_wait() {
  trap 'absa_job_on_signal USR1' USR1
  trap 'absa_job_on_signal TERM' TERM
  local rc=0 t0
  while kill -0 "$ABSA_TRAIN_PID" 2>/dev/null; do
    # a stop was requested: the ranks get ABSA_GRACE s; do not wait for a hung launcher forever
    if [ -n "$ABSA_STOP_REQUESTED" ] && [ $(( $(date +%s) - ABSA_STOP_REQUESTED )) -gt $(( ABSA_GRACE + 30 )) ]; then
      absa_job_log "launcher still running $((ABSA_GRACE + 30)) s after the stop request: leaving it to Slurm"
      break
    fi
    absa_handoff_tick   # ABSA_ALLOC=handoff: submit the next job, watch it, take over
    sleep 1 & wait $!   # a trapped signal interrupts this wait at once
  done
  if kill -0 "$ABSA_TRAIN_PID" 2>/dev/null; then rc=124; else wait "$ABSA_TRAIN_PID"; rc=$?; fi
  absa_job_log "trainer finished (exit $rc)"
  local handed=1
  [ "$rc" = 0 ] && absa_handoff_after && handed=0   # handed over / cancels a next job the run no longer needs
  [ "$rc" = 0 ] || absa_handoff_after || true
  if [ -n "${ABSA_SERVE_PID:-}" ] && kill -0 "$ABSA_SERVE_PID" 2>/dev/null; then
    # SIGTERM to the server's step: absa serve stops cleanly (a SIGTERM to srun itself would
    # cancel the step, and SIGKILL the server after KillWait)
    local step
    for step in $(squeue -s -j "$SLURM_JOB_ID" -h -o '%i %j' 2>/dev/null | awk '$2 == "absa-serve" {print $1}'); do
      scancel --signal=TERM "$step" 2>/dev/null || true
    done
    t0=$(date +%s)
    while kill -0 "$ABSA_SERVE_PID" 2>/dev/null && [ $(( $(date +%s) - t0 )) -lt 30 ]; do sleep 0.2; done
    kill -0 "$ABSA_SERVE_PID" 2>/dev/null && kill -TERM "$ABSA_SERVE_PID" 2>/dev/null
    absa_job_log "data server stopped ($(tail -1 "$ABSA_JOB_DIR/serve.log" 2>/dev/null))"
  fi
  if [ "$handed" = 0 ]; then
    absa_job_log "this job's part is done: the run goes on in job $ABSA_HANDOFF_NEXT"
    return 0
  fi
  if [ -f "$ABSA_RUN_DIR/summary.json" ] && [ "$rc" = 0 ] && [ -z "$ABSA_STOP_REQUESTED" ]; then
    absa_job_log "training done: $(cat "$ABSA_RUN_DIR/summary.json")"
    return 0
  fi
  if [ -n "$ABSA_STOP_REQUESTED" ] && [ -f "$ABSA_RUN_DIR/checkpoint.h5" ]; then
    absa_job_log "stopped; checkpoint $ABSA_RUN_DIR/checkpoint.h5 ($(date -r "$ABSA_RUN_DIR/checkpoint.h5" +%H:%M:%S)). Resubmit the same script to resume."
    return 0
  fi
  absa_job_log "trainer failed (exit $rc): see $ABSA_JOB_DIR/train.log"; tail -20 "$ABSA_JOB_DIR/train.log" >&2
  return 1
}

# ABSA_ALLOC=handoff (growth beyond the job by hand-off to a bigger one)
# shellcheck source=absa-job-handoff.sh
. "$(dirname "${BASH_SOURCE[0]}")/absa-job-handoff.sh"
