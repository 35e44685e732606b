#!/usr/bin/env bash
# cluster_fixture.sh — CTest fixture of the Slurm tests: `up` brings up the local two-node cluster
# with slurm/cluster-up.sh (as root; installs Slurm if missing) unless a cluster already answers,
# and records that it started it (8 CPUs per node: slurm.e2e_handoff runs two het jobs at once); `down` stops it with slurm/cluster-down.sh (by PID files) only
# if `up` started it. Usage: cluster_fixture.sh up|down MARKER_DIR   (exit 77 = skipped)
set -u
HERE=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$2"; MARK=$2/started-by-ctest
case "$1" in
  up)
    if command -v sinfo >/dev/null && sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "a Slurm cluster is already up: using it ($(sinfo -h -N -o '%N %T' | tr '\n' ' '))"; exit 0
    fi
    if [ "$(id -u)" != 0 ]; then echo "SKIPPED: no Slurm cluster answers and starting one needs root"; exit 77; fi
    touch "$MARK"
    SLURM_LOCAL_NODES=2 SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-8} timeout 500 bash "$HERE/slurm/cluster-up.sh" ;;
  down)
    [ -e "$MARK" ] || { echo "cluster not started by these tests: left running"; exit 0; }
    bash "$HERE/slurm/cluster-down.sh"; rm -f "$MARK" ;;
  *) echo "usage: $0 up|down MARKER_DIR" >&2; exit 2 ;;
esac
