#!/usr/bin/env bash
# cluster-up.sh — bring up a local Slurm "cluster" (one controller, N virtual nodes) on this one
# machine, as root, without systemd; used by the Slurm CI test (validation/slurm/) and by anyone
# who wants to try the job scripts in jobscripts/ locally. Stop it with slurm/cluster-down.sh.
#
# Adapted from shared/infra/slurm-local-up.sh (tested on Debian 12, slurm-wlm 22.05.8, munge 0.5.15).
# Idempotent: installs the packages if missing (apt-get update first when the package lists are
# missing or older than a day), (re)writes /etc/slurm/slurm.conf, starts munged, slurmctld and one
# slurmd per virtual node only if their PID files do not point at a live process, then waits until
# every node is idle. Everything started is recorded in PID files under $SLURM_LOCAL_STATE; the
# down script stops exactly those PIDs (never processes by name).
#
# Why several virtual nodes on one host: Slurm's backfill scheduler (the only one that starts
# heterogeneous jobs) reserves WHOLE nodes, so a two-component het job never starts on a one-node
# cluster (PENDING/Resources forever). With 2+ virtual nodes each component gets its own node.
# Each virtual node n<i> gets its own NodeHostname alias slurm-n<i> (127.0.0.1 in /etc/hosts), its
# own port, spool dir and TmpFS, and its own slurmd started with -N n<i>. The node NAMES n<i> are
# deliberately not resolvable: Open MPI then treats them as remote hosts and launches its daemons
# on them through Slurm (srun), exactly as on a real cluster.
#
# Env knobs:
#   SLURM_LOCAL_STATE   state/log/pid dir            (default /var/tmp/slurm-local)
#   SLURM_LOCAL_NODES   number of virtual nodes       (default 2; names n1..nN)
#   SLURM_LOCAL_CPUS    CPUs advertised per node      (default 4; may exceed the real cores)
#   SLURM_LOCAL_MEM_MB  RealMemory per node            (default 8000)
# Exit status: 0 when every node is idle, 1 otherwise (logs in $SLURM_LOCAL_STATE/log).
set -euo pipefail
STATE=${SLURM_LOCAL_STATE:-/var/tmp/slurm-local}
NNODES=${SLURM_LOCAL_NODES:-2}
CPUS=${SLURM_LOCAL_CPUS:-4}
MEM=${SLURM_LOCAL_MEM_MB:-8000}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

if [ "$(id -u)" != 0 ]; then
  echo "cluster-up: must run as root (starts munged, slurmctld, slurmd)" >&2; exit 1
fi

# 1. packages (no recommends: 7 packages, ~10 s). In containers /usr/sbin/policy-rc.d stops the
#    postinst scripts from starting the daemons; on a systemd machine they may start and fail for
#    lack of a config, which is harmless (we start our own from PID files).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ] || \
    apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
fi

mkdir -p "$STATE"/{ctld,log} /run/munge
chown munge:munge /run/munge; chmod 0755 /run/munge

# 2. host aliases slurm-n1..slurm-nN -> 127.0.0.1 so each virtual node has a distinct NodeHostname
for i in $(seq 1 "$NNODES"); do
  grep -qE "^127\.0\.0\.1[[:space:]]+slurm-n$i\$" /etc/hosts || echo "127.0.0.1 slurm-n$i" >> /etc/hosts
done

# 3. slurm.conf: everything as root, no cgroups, no accounting, CPUs may exceed the hardware
{
cat <<EOF
ClusterName=local
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,bf_hetjob_immediate
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool-%n
TmpFS=$STATE/tmp-%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
SlurmctldPort=6817
InactiveLimit=0
KillWait=5
MinJobAge=30
Waittime=0
EOF
for i in $(seq 1 "$NNODES"); do
  echo "NodeName=n$i NodeHostname=slurm-n$i NodeAddr=127.0.0.1 Port=$((6817 + i)) CPUs=$CPUS RealMemory=$MEM State=UNKNOWN"
done
echo "PartitionName=debug Nodes=n[1-$NNODES] Default=YES MaxTime=INFINITE State=UP"
} > "$STATE/slurm.conf.new"
if ! cmp -s "$STATE/slurm.conf.new" "$CONF"; then
  mkdir -p /etc/slurm; mv "$STATE/slurm.conf.new" "$CONF"; RECONF=1
else
  rm -f "$STATE/slurm.conf.new"; RECONF=0
fi

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# 4. munged, as the munge user (the package's postinst already generated /etc/munge/munge.key)
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
fi
if ! alive /run/munge/munged.pid; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  touch "$STATE/started.munged"      # marker: we started it, so cluster-down.sh may stop it
fi
munge -n | unmunge >/dev/null

# 5. slurmctld, then one slurmd per virtual node (all daemonize and write the PID files above)
if alive "$STATE/slurmctld.pid"; then
  if [ "$RECONF" = 1 ]; then scontrol reconfigure; fi
else
  /usr/sbin/slurmctld -i              # -i: ignore missing/old state files in a fresh dir
fi
for i in $(seq 1 "$NNODES"); do
  mkdir -p "$STATE/spool-n$i" "$STATE/tmp-n$i"   # per-node TmpFS: srun --mpi=pmix puts spmix_appdir_* there
  alive "$STATE/slurmd-n$i.pid" || /usr/sbin/slurmd -N "n$i"
done

# 6. wait until all nodes are usable (down/drained nodes left from an earlier run are resumed)
states=
for _ in $(seq 1 60); do
  states=$(sinfo -h -N -o '%N %T' 2>/dev/null || true)
  bad=$(echo "$states" | awk '$2 !~ /^(idle|mixed|allocated)/' | grep -c . || true)
  if [ -n "$states" ] && [ "$bad" = 0 ]; then echo "cluster-up: up:" $states; exit 0; fi
  echo "$states" | awk '$2 ~ /^(down|drain)/ {print $1}' | while read -r n; do
    scontrol update nodename="$n" state=resume 2>/dev/null || true; done
  sleep 1
done
echo "cluster-up: nodes not idle: $states (logs in $STATE/log)" >&2
exit 1
