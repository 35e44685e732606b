#!/usr/bin/env bash
# bench_load.sh — `absa bench --model lenet` throughput on an idle and on a busy node: the
# default thread count (all cores) against --threads 1, for one or two absa binaries (e.g. before
# and after a change of the OpenMP defaults). "Busy" adds LOAD shell busy loops (default 6), killed
# at the end. Each cell is the median of REPS runs (default 3), runs interleaved.
# Usage: bash validation/bench/bench_load.sh ABSA [ABSA2]   (env LOAD, REPS, STEPS)
set -uo pipefail
LOAD=${LOAD:-6} REPS=${REPS:-3} STEPS=${STEPS:-10}
BINS=("$@")
[ ${#BINS[@]} -ge 1 ] || { echo "usage: bench_load.sh ABSA [ABSA2]" >&2; exit 2; }
LOOPS=()
cleanup() { for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
run() {  # $1 = binary, $2 = --threads value or "default": images/s of the train step
  local t=()
  [ "$2" = default ] || t=(--threads "$2")
  "$1" bench --model lenet --steps "$STEPS" "${t[@]}" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["step_images_per_s"])'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-6s %-32s %-8s %10s   (%s)\n' node binary threads images/s "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}, nproc $(nproc)"
for node in idle busy; do
  if [ "$node" = busy ]; then
    for _ in $(seq 1 "$LOAD"); do (while :; do :; done) & LOOPS+=($!); done
    sleep 1
  fi
  declare -A res=()
  for _ in $(seq 1 "$REPS"); do
    for b in "${BINS[@]}"; do
      for th in default 1; do res["$b $th"]+="$(run "$b" "$th") "; done
    done
  done
  for b in "${BINS[@]}"; do
    for th in default 1; do
      # shellcheck disable=SC2086
      printf '%-6s %-32s %-8s %10s   [%s]\n' "$node" "$b" "$th" "$(median ${res["$b $th"]})" "${res["$b $th"]% }"
    done
  done
  unset res
  printf '       load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
done
