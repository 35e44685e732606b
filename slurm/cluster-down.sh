#!/usr/bin/env bash
# cluster-down.sh — stop the daemons that slurm/cluster-up.sh started, by their PID files only
# (never by process name). munged is stopped only if cluster-up.sh left its marker file (it started
# munged; a munged that was already running is left alone). All get SIGTERM at once (each takes
# ~2 s to exit), then up to 10 s grace, then SIGKILL. Always exits 0.
# Adapted from shared/infra/slurm-local-down.sh. Env: SLURM_LOCAL_STATE (default /var/tmp/slurm-local).
set -u
STATE=${SLURM_LOCAL_STATE:-/var/tmp/slurm-local}

files=("$STATE"/slurmd-*.pid "$STATE/slurmctld.pid")
[ -e "$STATE/started.munged" ] && files+=(/run/munge/munged.pid)
pids=()
for f in "${files[@]}"; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" && pids+=("$pid") && echo "cluster-down: stopping $(basename "$f" .pid) (pid $pid)"; fi
  rm -f "$f"
done
for _ in $(seq 1 100); do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break; sleep 0.1
done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" && echo "cluster-down: killed $p"; done
rm -f "$STATE/started.munged"
exit 0
