#!/usr/bin/env bash
# study.sh — issue 16: does the Hessian drive the batch? A resumable ABS/ABSA study on
# Fashion-MNIST with the paper's growth rule as published, and a measurement of the rule's signal.
#
# For each model (lenet, c1) and seed (1 2 3) it trains five arms with the same epochs and data:
#   sgd128    SGD, batch 128                                    (the baseline)
#   sgdmax    SGD, batch MAXB, lr x MAXB/128                    (fixed large batch)
#   abs       ABS: batch x2 when the top eigenvalue halves (--growth-ratio 2) or after --duration 10
#             eigenvalue epochs without growth; lr scaled with the batch; cap MAXB
#   absa      ABSA: ABS + FGSM samples (ratio 0.2, halved at each growth, 0 from epochs/2)
#   absa-eig+ ABSA with a better estimator (more samples, relative tolerance 1e-3, <= 50 iterations)
# eigenvalue every epoch on 128 samples (10 power iterations, absolute tolerance 1e-2: the
# reference's estimator), lr x0.2 after 1/3 and 2/3 of the epochs (HessianFlow's c1 recipe:
# 90 epochs, decay at 30 and 60).
# Then, on checkpoints of the absa seed-EST_SEED run (trained in segments that end at the chosen
# epochs: --stop-after + --resume, which the trainer's tests show gives the uninterrupted run's bits),
# it repeats the trainer's estimate on EST_REPS different 128-sample sets (absa eig --seed 1..N), the
# better estimator EST_BETTER_REPS times, and one converged estimate on REF_SAMPLES samples (relative
# 1e-3, <= 100 iterations), and reports bias, spread and P(est_a <= est_b/2) (the halving rule firing
# from noise alone). Every final checkpoint is evaluated on clean and FGSM-perturbed test samples
# by fgsm_eval.py (PyTorch on CPU, an independent path). Tables: OUT/table.md; plots: OUT/<model>.png
# (absa plot, seed EST_SEED, all arms).
#
# Resumable: a run with summary.json is skipped, one with checkpoint.h5 is continued with
# `absa train --resume`; estimator and FGSM results already written are kept. Interrupt with Ctrl-C
# (absa stops at a step boundary and checkpoints) and start the same command again.
#
# Usage: bash validation/absa_vs_baseline/study.sh [OUT]        (default OUT=absa-study in the
#        repository root; a relative OUT is taken from the current directory)
#        bash validation/absa_vs_baseline/study.sh OUT plan      (print the plan and estimate only)
# env:   PILOT=1 (tiny pipeline check: lenet, 1 seed, 3 epochs, 2048 samples, few repeats)
#        ABSA, JOBS (parallel runs, default 2), THREADS (per run, default 1), MODELS, SEEDS, ARMS,
#        EPOCHS, LR, MAXB, DURATION, LIMIT_lenet, LIMIT_c1, TESTLIM_lenet, TESTLIM_c1,
#        EST_EPOCHS_lenet, EST_EPOCHS_c1, EST_SEED, EST_REPS, EST_BETTER_REPS, REF_SAMPLES,
#        REF_ITERS, BETTER_lenet, BETTER_c1 ("samples rule tol iters"), FGSM_EPS
# Not in CI: the full study takes about two hours of a quiet 2-core machine.
set -euo pipefail
# OUT relative to the caller's directory (the script works from the repository root)
case ${1:-} in ""|/*) ;; *) set -- "$PWD/$1" "${@:2}" ;; esac
cd "$(dirname "$0")/../.."
HERE=validation/absa_vs_baseline
ABSA=${ABSA:-build/src/absa}
if [ ! -x "$ABSA" ]; then
  command -v absa >/dev/null || { echo "study.sh: no $ABSA and no absa on PATH" >&2; exit 1; }
  ABSA=$(command -v absa)
fi
PY=/usr/bin/python3
PILOT=${PILOT:-0}
if [ "$PILOT" = 1 ]; then
  : "${MODELS:=lenet}" "${SEEDS:=1}" "${EPOCHS:=3}" "${LIMIT_lenet:=2048}" "${LIMIT_c1:=2048}"
  : "${EST_EPOCHS_lenet:=1 3}" "${EST_EPOCHS_c1:=1 3}" "${EST_REPS:=6}" "${EST_BETTER_REPS:=3}"
  : "${REF_SAMPLES:=1024}" "${MAXB:=512}"
fi
MODELS=${MODELS:-lenet c1}; SEEDS=${SEEDS:-1 2 3}; ARMS=${ARMS:-sgd128 sgdmax abs absa absa-eig+}
EPOCHS=${EPOCHS:-30}; LR=${LR:-0.02}; MAXB=${MAXB:-1024}; DURATION=${DURATION:-10}
LIMIT_lenet=${LIMIT_lenet:-12000}; LIMIT_c1=${LIMIT_c1:-6000}
TESTLIM_lenet=${TESTLIM_lenet:-0}; TESTLIM_c1=${TESTLIM_c1:-2000}
E3=$((EPOCHS / 3)); E6=$((EPOCHS / 6)); E2=$((EPOCHS / 2))
EST_EPOCHS_lenet=${EST_EPOCHS_lenet:-1 $E6 $E2 $EPOCHS}; EST_EPOCHS_c1=${EST_EPOCHS_c1:-1 $E2 $EPOCHS}
EST_SEED=${EST_SEED:-1}; EST_REPS=${EST_REPS:-20}; EST_BETTER_REPS=${EST_BETTER_REPS:-10}
REF_SAMPLES=${REF_SAMPLES:-4096}; REF_ITERS=${REF_ITERS:-100}
BETTER_lenet=${BETTER_lenet:-1024 relative 1e-3 50}; BETTER_c1=${BETTER_c1:-512 relative 1e-3 50}
FGSM_EPS=${FGSM_EPS:-0.005,0.02,0.1}
JOBS=${JOBS:-2}; THREADS=${THREADS:-1}
DECAY=$(( E3 > 0 ? E3 : 1 )),$(( 2 * EPOCHS / 3 > E3 ? 2 * EPOCHS / 3 : E3 + 1 ))
export ABSA PY MODELS SEEDS ARMS EPOCHS LR MAXB DURATION LIMIT_lenet LIMIT_c1 TESTLIM_lenet TESTLIM_c1 \
  EST_EPOCHS_lenet EST_EPOCHS_c1 EST_SEED EST_REPS EST_BETTER_REPS REF_SAMPLES REF_ITERS BETTER_lenet \
  BETTER_c1 FGSM_EPS JOBS THREADS DECAY PILOT

var() { local n="$1_$2"; echo "${!n}"; }   # var LIMIT lenet -> $LIMIT_lenet

# ---- one training run (model arm seed), resumable; the absa seed-EST_SEED run keeps checkpoints
train_one() {
  local model=$1 arm=$2 seed=$3 OUT=$4
  local dir=$OUT/runs/$model/$arm-s$seed lim tlim
  lim=$(var LIMIT "$model"); tlim=$(var TESTLIM "$model")
  local a=(--data "$OUT/fashion-mnist.h5" --model "$model" --epochs "$EPOCHS" --seed "$seed"
           --threads "$THREADS" --limit-train "$lim" --limit-test "$tlim" --micro-batch 128
           --step-log 0 --lr-decay-epochs "$DECAY" --lr-decay 0.2 --out "$dir")
  case $arm in
    sgd128) a+=(--schedule sgd --batch 128 --max-batch 128 --lr "$LR") ;;
    sgdmax) a+=(--schedule sgd --batch "$MAXB" --max-batch "$MAXB"
                --lr "$(awk -v l="$LR" -v m="$MAXB" 'BEGIN { printf "%.6g", l * m / 128 }')") ;;
    abs|absa|absa-eig+)
      a+=(--schedule "${arm%-eig+}" --batch 128 --max-batch "$MAXB" --lr "$LR" --duration "$DURATION"
          --growth-ratio 2 --eig-samples 128 --eig-iters 10 --eig-tol 1e-2 --eig-rule absolute)
      [ "$arm" = abs ] || a+=(--adv-ratio 0.2 --adv-eps 0.005)
      if [ "$arm" = absa-eig+ ]; then
        read -r bs br bt bi <<<"$(var BETTER "$model")"
        a+=(--eig-samples "$bs" --eig-rule "$br" --eig-tol "$bt" --eig-iters "$bi")
      fi ;;
    *) echo "study.sh: unknown arm $arm" >&2; return 1 ;;
  esac
  local stops=("$EPOCHS")
  if [ "$arm" = absa ] && [ "$seed" = "$EST_SEED" ]; then
    stops=(); for e in $(var EST_EPOCHS "$model") "$EPOCHS"; do stops+=("$e"); done
    mkdir -p "$dir/ckpt"
  fi
  local done_ep s started=0
  while :; do
    done_ep=0; at_boundary=1
    if [ -f "$dir/checkpoint.h5" ]; then
      read -r done_ep at_boundary < <($PY -c "import h5py,sys; t=h5py.File(sys.argv[1],'r')['train'].attrs; print(int(t['epoch']), int(int(t['ep_seen'])==0))" "$dir/checkpoint.h5")
    fi
    # keep the checkpoint of an analysis epoch (it is the one the trainer's eigenvalue was taken on)
    if [ -d "$dir/ckpt" ] && [ -f "$dir/checkpoint.h5" ]; then
      local e3; e3=$(printf '%03d' "$done_ep")
      for s in "${stops[@]}"; do
        if [ "$s" = "$done_ep" ] && [ "$at_boundary" = 1 ] && [ ! -f "$dir/ckpt/epoch_$e3.h5" ]; then
          cp "$dir/checkpoint.h5" "$dir/ckpt/.epoch_$e3.h5.tmp" && mv "$dir/ckpt/.epoch_$e3.h5.tmp" "$dir/ckpt/epoch_$e3.h5"
        fi
      done
    fi
    if [ -f "$dir/summary.json" ]; then [ "$started" = 1 ] || echo "== $model $arm seed $seed: done already"; break; fi
    if [ -f "$dir/diverged" ]; then echo "== $model $arm seed $seed: diverged: $(cat "$dir/diverged")"; break; fi
    started=1
    local next=$EPOCHS
    for s in "${stops[@]}"; do if [ "$s" -gt "$done_ep" ] && [ "$s" -lt "$next" ]; then next=$s; fi; done
    local extra=()
    [ "$next" -lt "$EPOCHS" ] && extra=(--stop-after $((next - done_ep)))
    if [ -f "$dir/checkpoint.h5" ]; then extra+=(--resume "$dir/checkpoint.h5"); else extra+=(--force); fi
    mkdir -p "$dir"
    echo "== $model $arm seed $seed: epochs $done_ep -> $next ($(date -u +%H:%M:%S))"
    echo "absa train ${a[*]} ${extra[*]}" >> "$dir/train.log"
    if ! "$ABSA" train "${a[@]}" "${extra[@]}" >> "$dir/train.log" 2>&1; then
      # a run that diverges is a result of the study (e.g. the fixed large batch), not a failure
      if tail -n 1 "$dir/train.log" | grep -q "error: training diverged"; then
        tail -n 1 "$dir/train.log" | sed 's/^absa train: error: //' > "$dir/diverged"
        continue
      fi
      echo "study.sh: $model $arm seed $seed failed, see $dir/train.log" >&2; return 1
    fi
    if [ ! -f "$dir/summary.json" ]; then  # absa exits 0 after a graceful stop (SIGINT/SIGTERM): stop here
      read -r done_ep at_boundary < <($PY -c "import h5py,sys; t=h5py.File(sys.argv[1],'r')['train'].attrs; print(int(t['epoch']), int(int(t['ep_seen'])==0))" "$dir/checkpoint.h5")
      if [ "$done_ep" -lt "$next" ] || [ "$at_boundary" != 1 ]; then
        echo "study.sh: $model $arm seed $seed stopped in epoch $((done_ep + 1)) (signal?); run the same command again to resume" >&2
        exit 255  # makes xargs stop starting jobs
      fi
    fi
  done
}

# ---- one estimator job: absa eig on a kept checkpoint; kind def|better|ref, repeat index r
estim_one() {
  local model=$1 ep=$2 kind=$3 r=$4 OUT=$5 e3
  e3=$(printf '%03d' "$ep")
  local ck=$OUT/runs/$model/absa-s$EST_SEED/ckpt/epoch_$e3.h5 dst=$OUT/estim/$model/epoch_$e3
  local f=$dst/$kind-$r.json
  [ -f "$f" ] && return 0
  [ -f "$ck" ] || { echo "study.sh: no checkpoint $ck" >&2; return 1; }
  mkdir -p "$dst"
  local a=(--checkpoint "$ck" --data "$OUT/fashion-mnist.h5" --threads "$THREADS" --quiet --seed "$r")
  case $kind in
    def) a+=(--samples 128 --iters 10 --tol 1e-2 --rule absolute) ;;
    better) read -r bs br bt bi <<<"$(var BETTER "$model")"; a+=(--samples "$bs" --rule "$br" --tol "$bt" --iters "$bi") ;;
    ref) a[${#a[@]}-1]=1000  # a sample set and start vector none of the repeats (seeds 1..N) uses
         a+=(--samples "$REF_SAMPLES" --rule relative --tol 1e-3 --iters "$REF_ITERS") ;;
  esac
  "$ABSA" eig "${a[@]}" --output "$f.tmp" && mv "$f.tmp" "$f"
}

fgsm_one() {
  local model=$1 arm=$2 seed=$3 OUT=$4 dir tl
  dir=$OUT/runs/$model/$arm-s$seed; tl=$(var TESTLIM "$model")
  [ -f "$dir/fgsm.json" ] || [ -f "$dir/diverged" ] && return 0
  $PY "$HERE/fgsm_eval.py" --checkpoint "$dir/checkpoint.h5" --data "$OUT/fashion-mnist.h5" \
      --eps "$FGSM_EPS" --threads "$THREADS" --check-first "$([ "$tl" -gt 0 ] && echo "$tl" || echo 10000)" --output "$dir/fgsm.json"
}

trap 'echo "study.sh: interrupted; run the same command again to resume" >&2; exit 255' INT TERM
case ${2:-all} in
  _train) train_one "$3" "$4" "$5" "$1"; exit ;;
  _estim) estim_one "$3" "$4" "$5" "$6" "$1"; exit ;;
  _fgsm) fgsm_one "$3" "$4" "$5" "$1"; exit ;;
esac
OUT=${1:-$PWD/absa-study}
MODE=${2:-all}

# ---- the plan and its estimated time (cost model: seconds per sample on one quiet core, measured
# under load on the 2-core development machine and divided by the load; see docs/absa_vs_baseline.md)
$PY "$HERE/study_report.py" plan "$OUT"
[ "$MODE" = plan ] && exit 0

mkdir -p "$OUT"
[ -f "$OUT/fashion-mnist.h5" ] || "$ABSA" pack --format idx --output "$OUT/fashion-mnist.h5"
trap 'echo "study.sh: interrupted; run the same command again to resume" >&2; exit 130' INT TERM
SELF="$HERE/study.sh"
t0=$(date +%s)
# phase 1: training (the absa analysis runs first: phase 2 needs them; then the most expensive)
{
  for model in $MODELS; do
    for seed in $SEEDS; do
      for arm in $ARMS; do
        if [ "$arm" = absa ] && [ "$seed" = "$EST_SEED" ]; then echo "0 $model $arm $seed"; else echo "1 $model $arm $seed"; fi
      done
    done
  done
} | sort -k1,1n -k2,2 -s | cut -d' ' -f2- | xargs -P "$JOBS" -L 1 bash -c 'bash "$0" "$1" _train "$2" "$3" "$4"' "$SELF" "$OUT" \
  || { echo "study.sh: some training runs failed (see their train.log); run again to resume" >&2; exit 1; }
echo "== training done ($(( $(date +%s) - t0 )) s)"
# phase 2: estimator repeats on the kept checkpoints, FGSM evaluation of every final checkpoint
{
  for model in $MODELS; do
    for ep in $(var EST_EPOCHS "$model"); do
      echo "_estim $model $ep ref 1"
      for r in $(seq 1 "$EST_REPS"); do echo "_estim $model $ep def $r"; done
      for r in $(seq 1 "$EST_BETTER_REPS"); do echo "_estim $model $ep better $r"; done
    done
    for seed in $SEEDS; do for arm in $ARMS; do echo "_fgsm $model $arm $seed"; done; done
  done
} | xargs -P "$JOBS" -L 1 bash -c 'bash "$0" "$1" "$2" "$3" "$4" "$5" "$6"' "$SELF" "$OUT" \
  || { echo "study.sh: some estimator/FGSM jobs failed; run again to resume" >&2; exit 1; }
echo "== estimator and FGSM done ($(( $(date +%s) - t0 )) s)"
# phase 3: plots and tables
for model in $MODELS; do
  dirs=(); for arm in $ARMS; do dirs+=("$OUT/runs/$model/$arm-s$EST_SEED"); done
  "$ABSA" plot "${dirs[@]}" -o "$OUT/$model.png" --title "$model on Fashion-MNIST, seed $EST_SEED: $ARMS"
  "$ABSA" plot "${dirs[@]}" -o "$OUT/$model-iters.png" --x iters \
    --title "$model on Fashion-MNIST, seed $EST_SEED, against SGD iterations" || echo "study.sh: no $model-iters.png" >&2
  for arm in $ARMS; do  # one panel set per method: its seeds
    dirs=(); for seed in $SEEDS; do [ -f "$OUT/runs/$model/$arm-s$seed/metrics.jsonl" ] && dirs+=("$OUT/runs/$model/$arm-s$seed"); done
    if [ ${#dirs[@]} -gt 0 ]; then
      "$ABSA" plot "${dirs[@]}" -o "$OUT/$model-$arm.png" --title "$model on Fashion-MNIST: $arm, seeds $SEEDS" || true
    fi
  done
done
$PY "$HERE/study_report.py" table "$OUT"
