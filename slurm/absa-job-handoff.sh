# absa-job-handoff.sh — allocation policy ABSA_ALLOC=handoff of the absa job scripts: grow beyond
# the Slurm job by handing the run over to a bigger job. Sourced by absa-job-lib.sh; guide:
# docs/slurm.md ("Allocation policy"). Protocol files in $ABSA_RUN_DIR/handoff (src/train/train_handoff.c):
#   want.JOBID  the trainer of JOBID wants RANKS ranks, more than the job holds: this script renders
#               the next job from the same template (same layout, training component sized for
#               RANKS, same run directory) and submits it; training goes on meanwhile
#   ready       the next job's trainer is set up and waits; the running trainer stops after its
#               current step, checkpoints and writes go.NEXT; the next job resumes at RANKS ranks
#   go.JOBID    written by the old trainer, or by JOBID's script as "orphan:OLD" when OLD left
#               the queue without handing over (time limit, scancel): resume from the latest checkpoint
# Edges (each a "handoff" record in metrics.jsonl): next job pending when the run finishes ->
# cancelled; next job gone before taking over -> the old job trains on, retries after a back-off
# (ABSA_HANDOFF_RETRIES, ABSA_HANDOFF_BACKOFF), then gives up; a stop of the running job cancels
# the next one unless the stop comes within ABSA_HANDOFF_KEEP s of the time limit (then the next
# job is the run's continuation).
#
# Knobs: ABSA_ALLOC hold|handoff (default hold), ABSA_HANDOFF_RETRIES (2), ABSA_HANDOFF_BACKOFF (60 s,
# doubled per retry), ABSA_HANDOFF_KEEP (600 s), ABSA_HANDOFF_RANKS_PER_NODE (as this job),
# ABSA_HANDOFF_MAX_RANKS (no job of the chain bigger than this; default: no cap),
# ABSA_HANDOFF_SBATCH_ARGS (extra sbatch options of the next jobs), ABSA_HANDOFF_JOBGEN_ARGS
# (extra absa-jobgen options, e.g. --lead 600 --time 12:00:00).

absa_handoff_now() { date +%s.%N | cut -c1-14; }

# absa_handoff_event EVENT [KEY VALUE]... : one "handoff" line in metrics.jsonl (no "epoch"/"step"
# keys, so a resuming trainer keeps it; appended with O_APPEND beside the trainer's own lines). Values
# are numbers unless they contain other characters or the key ends in "job" (job ids are strings).
absa_handoff_event() {
  local line="{\"type\": \"handoff\", \"event\": \"$1\", \"job\": \"$SLURM_JOB_ID\", \"time\": $(absa_handoff_now)"
  shift
  while [ $# -ge 2 ]; do
    if [[ $2 =~ ^-?[0-9]+(\.[0-9]+)?$ ]] && [[ $1 != *job ]]; then line+=", \"$1\": $2"; else line+=", \"$1\": \"${2//\"/\'}\""; fi
    shift 2
  done
  # before a fresh trainer has created metrics.jsonl (it refuses to start on an existing one), the
  # lines wait in handoff/pending.jsonl and are appended with the next event
  local m=$ABSA_RUN_DIR/metrics.jsonl p=$ABSA_HANDOFF_DIR/pending.jsonl
  if [ -s "$m" ]; then
    { [ -f "$p" ] && cat "$p"; printf '%s}\n' "$line"; } >> "$m" && rm -f "$p"
  else
    printf '%s}\n' "$line" >> "$p"
  fi
}

# job state (squeue %T) or "GONE"
absa_handoff_state() {
  local s
  s=$(squeue -h -j "$1" -o '%T' 2>/dev/null | head -1)
  case "$s" in ""|COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|COMPLETING) echo GONE ;;
    *) echo "$s" ;;
  esac
}

# called by absa_job_init
absa_handoff_init() {
  ABSA_ALLOC=${ABSA_ALLOC:-hold}
  case "$ABSA_ALLOC" in hold|handoff) ;; *) absa_job_die "ABSA_ALLOC must be hold or handoff, not '$ABSA_ALLOC'";; esac
  ABSA_HANDOFF_NEXT= ABSA_HANDOFF_TRIES=0 ABSA_HANDOFF_RETRY_AT= ABSA_HANDOFF_WANT= ABSA_HANDOFF_GAVE_UP=
  [ "$ABSA_ALLOC" = handoff ] || return 0
  [ "$ABSA_LAUNCHER" = mpirun ] || absa_job_die "ABSA_ALLOC=handoff needs ABSA_LAUNCHER=mpirun (the next job starts at its size)"
  grep -q -- '--handoff-wait' <<<"$("$ABSA" train --help 2>&1)" || absa_job_die "ABSA_ALLOC=handoff: this absa has no 'train --handoff'"
  ABSA_HANDOFF_DIR=$ABSA_RUN_DIR/handoff
  mkdir -p "$ABSA_HANDOFF_DIR" || absa_job_die "cannot create $ABSA_HANDOFF_DIR"
  local start submit end
  start=$(date +%s)
  submit=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/.*SubmitTime=\([^ ]*\).*/\1/p' | head -1)
  end=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/.*EndTime=\([^ ]*\).*/\1/p' | head -1)
  submit=$(date -d "$submit" +%s 2>/dev/null || echo "$start")
  ABSA_HANDOFF_END=$(date -d "$end" +%s 2>/dev/null || echo 0)
  ABSA_HANDOFF_QUEUED=$(( start - submit ))
  [ "$ABSA_HANDOFF_QUEUED" -ge 0 ] || ABSA_HANDOFF_QUEUED=0
  absa_handoff_event start slots "$ABSA_MAX_RANKS" cpus_per_rank "${ABSA_CPUS_PER_RANK:-1}" queue_wait_s "$ABSA_HANDOFF_QUEUED" \
    from_job "${ABSA_HANDOFF_FROM:-}"
  # this job's script ends: its record, and no stale announcement of a trainer that is gone
  trap 'absa_handoff_exit' EXIT
}

absa_handoff_exit() {
  [ -f "$ABSA_HANDOFF_DIR/ready" ] && [ "$(head -1 "$ABSA_HANDOFF_DIR/ready" 2>/dev/null)" = "$SLURM_JOB_ID" ] && rm -f "$ABSA_HANDOFF_DIR/ready"
  absa_handoff_event end slots "$ABSA_MAX_RANKS" cpus_per_rank "${ABSA_CPUS_PER_RANK:-1}"
}

# extra trainer options (absa_job_start_training); sets ABSA_HANDOFF_NP (ranks to launch)
absa_handoff_train_args() {
  ABSA_HANDOFF_NP=1
  ABSA_HANDOFF_ARGS=()
  [ "$ABSA_ALLOC" = handoff ] || return 0
  ABSA_HANDOFF_ARGS=(--handoff "$ABSA_HANDOFF_DIR" --handoff-id "$SLURM_JOB_ID")
  if [ -n "${ABSA_HANDOFF_FROM:-}" ]; then
    ABSA_HANDOFF_ARGS+=(--handoff-wait --handoff-queued "$ABSA_HANDOFF_QUEUED")
    ABSA_HANDOFF_NP=${ABSA_HANDOFF_RANKS:-1}
    [ "$ABSA_HANDOFF_NP" -le "$ABSA_MAX_RANKS" ] 2>/dev/null || ABSA_HANDOFF_NP=$ABSA_MAX_RANKS
    absa_job_log "taking over from job $ABSA_HANDOFF_FROM at $ABSA_HANDOFF_NP ranks (queued ${ABSA_HANDOFF_QUEUED} s); the trainer sets up, then waits for its go"
  fi
}

# render the next job from this job's template, sized for $1 ranks, and submit it
absa_handoff_submit() {
  local ranks=$1 rpn nodes time kind=$ABSA_JOB_MODE script=$ABSA_JOB_DIR/next.sbatch out id
  local tnodes
  tnodes=$(wc -w <<<"${ABSA_TRAIN_HOSTS//,/ }")
  [ "$tnodes" -ge 1 ] || tnodes=1
  rpn=${ABSA_HANDOFF_RANKS_PER_NODE:-$(( (ABSA_MAX_RANKS + tnodes - 1) / tnodes ))}
  nodes=$(( (ranks + rpn - 1) / rpn ))
  time=$(squeue -h -j "$SLURM_JOB_ID" -o '%l' 2>/dev/null | head -1)
  [[ $time =~ ^([0-9]+-)?[0-9]{1,2}:[0-9]{2}:[0-9]{2}$ ]] || time=01:00:00
  local gen=("$ABSA_HOME/slurm/absa-jobgen" "$kind" --name "${SLURM_JOB_NAME:-absa-$kind}" --ranks "$ranks" --nodes "$nodes"
             --cpus-per-rank "${ABSA_CPUS_PER_RANK:-1}" --time "$time")
  [ "$kind" = het ] && gen+=(--serve-cpus "${SLURM_CPUS_PER_TASK_HET_GROUP_0:-1}")
  [ -n "${SLURM_JOB_PARTITION:-}" ] && gen+=(--partition "${SLURM_JOB_PARTITION%%,*}")
  [ -n "${SLURM_JOB_ACCOUNT:-}" ] && gen+=(--account "$SLURM_JOB_ACCOUNT")
  # shellcheck disable=SC2206
  gen+=(${ABSA_HANDOFF_JOBGEN_ARGS:-})
  if ! bash "${gen[@]}" > "$script.tmp" 2>"$ABSA_JOB_DIR/next.err"; then
    absa_job_log "hand-off: cannot render the next job: $(head -1 "$ABSA_JOB_DIR/next.err")"; rm -f "$script.tmp"; return 1
  fi
  mv -f "$script.tmp" "$script"
  # a clean environment for sbatch: none of this job's SLURM_* variables
  # shellcheck disable=SC2046,SC2086
  out=$(env $(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/-u \1/p' | grep -v '^-u SLURM_CONF$') \
        ABSA_HANDOFF_FROM="$SLURM_JOB_ID" ABSA_HANDOFF_RANKS="$ranks" ABSA_RUN_DIR="$ABSA_RUN_DIR" ABSA_HOME="$ABSA_HOME" \
        ABSA="$ABSA" ABSA_ALLOC=handoff ABSA_STREAM="$ABSA_STREAM" ABSA_DATA="$ABSA_DATA" \
        sbatch --parsable --chdir="$SLURM_SUBMIT_DIR" ${ABSA_HANDOFF_SBATCH_ARGS:-} "$script" 2>&1)
  id=${out%%;*}
  if ! [[ $id =~ ^[0-9]+$ ]]; then
    absa_job_log "hand-off: sbatch failed: $out"; absa_handoff_event submit_failed ranks "$ranks" error "$out"; return 1
  fi
  ABSA_HANDOFF_NEXT=$id
  absa_job_log "hand-off: the batch wants $ranks ranks, this job holds $ABSA_MAX_RANKS: submitted job $id ($kind, $ranks ranks on $nodes node(s), $script); training goes on meanwhile"
  absa_handoff_event submit to_job "$id" ranks "$ranks" nodes "$nodes" try "$((ABSA_HANDOFF_TRIES + 1))"
}

# once a second from absa_job_wait, while the trainer runs
absa_handoff_tick() {
  [ "$ABSA_ALLOC" = handoff ] || return 0
  local d=$ABSA_HANDOFF_DIR now
  now=$(date +%s)
  # a job taking over: if the old job left without handing over, resume from the latest checkpoint
  if [ -n "${ABSA_HANDOFF_FROM:-}" ] && [ ! -e "$d/go.$SLURM_JOB_ID" ] && [ "$(absa_handoff_state "$ABSA_HANDOFF_FROM")" = GONE ]; then
    sleep 1   # its trainer's go may be on its way
    if [ ! -e "$d/go.$SLURM_JOB_ID" ]; then
      absa_job_log "hand-off: job $ABSA_HANDOFF_FROM left without handing over: resuming from the latest checkpoint"
      absa_handoff_event orphan from_job "$ABSA_HANDOFF_FROM"
      printf 'orphan:%s\n' "$ABSA_HANDOFF_FROM" > "$d/go.$SLURM_JOB_ID.tmp" && mv -f "$d/go.$SLURM_JOB_ID.tmp" "$d/go.$SLURM_JOB_ID"
    fi
  fi
  # the next job: still there?
  if [ -n "$ABSA_HANDOFF_NEXT" ] && [ ! -e "$d/go.$ABSA_HANDOFF_NEXT" ] && [ "$(absa_handoff_state "$ABSA_HANDOFF_NEXT")" = GONE ]; then
    [ "$(head -1 "$d/ready" 2>/dev/null)" = "$ABSA_HANDOFF_NEXT" ] && rm -f "$d/ready"
    ABSA_HANDOFF_TRIES=$((ABSA_HANDOFF_TRIES + 1))
    if [ "$ABSA_HANDOFF_TRIES" -gt "${ABSA_HANDOFF_RETRIES:-2}" ]; then
      absa_job_log "hand-off: job $ABSA_HANDOFF_NEXT ended before taking over; giving up after $ABSA_HANDOFF_TRIES tries: training goes on here at $ABSA_MAX_RANKS ranks"
      absa_handoff_event failed to_job "$ABSA_HANDOFF_NEXT" action give_up
      ABSA_HANDOFF_GAVE_UP=1
    else
      local wait=$(( ${ABSA_HANDOFF_BACKOFF:-60} << (ABSA_HANDOFF_TRIES - 1) ))
      absa_job_log "hand-off: job $ABSA_HANDOFF_NEXT ended before taking over; training goes on here; retrying in $wait s"
      absa_handoff_event failed to_job "$ABSA_HANDOFF_NEXT" action retry retry_in_s "$wait"
      ABSA_HANDOFF_RETRY_AT=$(( now + wait ))
    fi
    ABSA_HANDOFF_NEXT=
  fi
  # the trainer's request
  local want=
  [ -f "$d/want.$SLURM_JOB_ID" ] && want=$(cut -d' ' -f1 "$d/want.$SLURM_JOB_ID" 2>/dev/null)
  [[ $want =~ ^[0-9]+$ ]] && [ -n "${ABSA_HANDOFF_MAX_RANKS:-}" ] && [ "$want" -gt "$ABSA_HANDOFF_MAX_RANKS" ] && want=$ABSA_HANDOFF_MAX_RANKS
  if [[ $want =~ ^[0-9]+$ ]] && [ "$want" -gt "$ABSA_MAX_RANKS" ] && [ -z "$ABSA_HANDOFF_NEXT" ] && [ -z "$ABSA_HANDOFF_GAVE_UP" ] &&
     [ -z "$ABSA_STOP_REQUESTED" ] && { [ -z "$ABSA_HANDOFF_RETRY_AT" ] || [ "$now" -ge "$ABSA_HANDOFF_RETRY_AT" ]; }; then
    ABSA_HANDOFF_RETRY_AT=
    absa_handoff_submit "$want" || { ABSA_HANDOFF_TRIES=$((ABSA_HANDOFF_TRIES + 1)); ABSA_HANDOFF_RETRY_AT=$(( now + ${ABSA_HANDOFF_BACKOFF:-60} )); }
  fi
}

# after the trainer exited (absa_job_wait): 0 when it handed over to the next job
absa_handoff_after() {
  [ "$ABSA_ALLOC" = handoff ] || return 1
  local d=$ABSA_HANDOFF_DIR
  if [ -n "$ABSA_HANDOFF_NEXT" ] && [ -e "$d/go.$ABSA_HANDOFF_NEXT" ]; then
    absa_job_log "handed over to job $ABSA_HANDOFF_NEXT (it resumes at its size; log: $(dirname "$ABSA_JOB_DIR")/$ABSA_HANDOFF_NEXT)"
    return 0
  fi
  [ -n "$ABSA_HANDOFF_NEXT" ] || return 1
  local state left
  state=$(absa_handoff_state "$ABSA_HANDOFF_NEXT")
  [ "$state" = GONE ] && return 1
  left=$(( ABSA_HANDOFF_END - $(date +%s) ))
  if [ -n "$ABSA_STOP_REQUESTED" ] && [ "$ABSA_HANDOFF_END" -gt 0 ] && [ "$left" -le "${ABSA_HANDOFF_KEEP:-600}" ]; then
    absa_job_log "hand-off: stopped near the time limit (${left} s left): job $ABSA_HANDOFF_NEXT ($state) continues the run from the checkpoint"
    absa_handoff_event kept to_job "$ABSA_HANDOFF_NEXT" state "$state" reason time_limit
    return 1
  fi
  local why=finished
  [ -n "$ABSA_STOP_REQUESTED" ] && why=stopped
  [ -f "$ABSA_RUN_DIR/summary.json" ] || [ -n "$ABSA_STOP_REQUESTED" ] || why=failed
  absa_job_log "hand-off: the run $why before job $ABSA_HANDOFF_NEXT ($state) took over: cancelling it"
  scancel "$ABSA_HANDOFF_NEXT" 2>/dev/null || true
  absa_handoff_event cancelled to_job "$ABSA_HANDOFF_NEXT" state "$state" reason "$why"
  return 1
}
