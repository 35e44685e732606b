#!/usr/bin/env bash
# test_slurm_launch.sh — proves the launch method of jobscripts/absa-het.sbatch on the local
# cluster, independently of the trainer: a heterogeneous job (component 0: 1 task; component 1:
# 4 tasks) whose batch script does what absa-job-lib.sh does for the trainer —
#   eval "$(absa-slurm mpirun-env)"  (Open MPI sees het group 1's allocation, and launches its
#   daemons with `srun --het-group=1 --job-name=absa-train`), then `mpirun -np 1 mpi_probe 4 term`;
# the probe grows 1 -> 2 -> 4 ranks with MPI_Comm_spawn. Then `scancel --batch --signal=USR1`
# (what --signal=B:USR1@LEAD does before the time limit) and the script's trap, the library's
# absa_job_signal_training, must deliver SIGTERM to all 4 ranks, which agree on stopping and
# write their "checkpoint" marker (2 s later) before Open MPI's grace period (6 s) ends.
# Checks: every resize rc=0, 4 ranks all on component 1's node inside an srun step of component
# 1's job id, the marker written by rank 0 after all 4 ranks saw SIGTERM, the job gone in time.
# Prints the measured resize costs. Usage: test_slurm_launch.sh ABSA_SLURM PROBE_SRC WORK
set -u
T=$1; SRC=$2; W=$3
HERE=$(cd "$(dirname "$0")/../.." && pwd)
command -v sinfo >/dev/null && sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)' || \
  { echo "SKIPPED: no Slurm cluster is up (slurm.cluster_up needs root)"; exit 77; }
command -v mpicc >/dev/null && command -v mpirun >/dev/null || { echo "SKIPPED: Open MPI (mpicc, mpirun) not installed"; exit 77; }
[ "$(sinfo -h -N -o '%N' | sort -u | wc -l)" -ge 2 ] || { echo "SKIPPED: a het job needs 2+ Slurm nodes"; exit 77; }
rm -rf "$W"; mkdir -p "$W" && cd "$W" || exit 1
. "$HERE/validation/tools/testlib.sh"
mpicc -O2 -o mpi_probe "$SRC" || { echo "FAIL build mpi_probe"; exit 1; }
. "$HERE/slurm/local-mpi-env.sh"
export OMPI_MCA_odls_base_sigkill_timeout=6
cat > probe.sbatch <<EOF
#!/bin/bash
#SBATCH --job-name=absa-launch-test --output=$W/job.out --time=00:05:00
#SBATCH --nodes=1 --ntasks=1
#SBATCH hetjob
#SBATCH --nodes=1 --ntasks=4
. "$HERE/slurm/absa-job-lib.sh"
ABSA_LAUNCHER=mpirun ABSA_STOP_REQUESTED= ABSA_GRACE=6
echo "hosts: \$('$T' hosts)  slots: \$('$T' slots)"
(
  eval "\$('$T' mpirun-env)"
  export OMPI_MCA_plm_slurm_args="\$OMPI_MCA_plm_slurm_args --job-name=absa-train"
  exec mpirun -np 1 "$W/mpi_probe" "\$('$T' slots)" term "$W/marker" 2
) > "$W/probe.out" 2>&1 &
ABSA_TRAIN_PID=\$!
trap 'absa_job_on_signal USR1' USR1
while kill -0 \$ABSA_TRAIN_PID 2>/dev/null; do sleep 1 & wait \$!; done
wait \$ABSA_TRAIN_PID; echo "mpirun exit \$?"
EOF
J=$(sbatch --parsable probe.sbatch) || { echo "FAIL sbatch"; exit 1; }
C1=$(scontrol show job "$J" 2>/dev/null | sed -n 's/.*HetJobIdSet=[0-9]*-\([0-9]*\).*/\1/p' | head -1)
[ -n "$C1" ] || C1=$((J + 1))   # component 1's job id
echo "submitted het job $J (component 1 = $C1)"
# wait (bounded) until the 4 ranks report, then ask for a graceful stop
for _ in $(seq 1 120); do [ -f probe.out ] && [ "$(grep -c '^rank ' probe.out)" -ge 4 ] && break; sleep 0.5; done
t_sig=$(date +%s.%N)
scancel --batch --signal=USR1 "$J"
for _ in $(seq 1 120); do squeue -h -j "$J" 2>/dev/null | grep -q . || break; sleep 0.5; done
t_end=$(date +%s.%N)
squeue -h -j "$J" 2>/dev/null | grep -q . && { bad "job still running 60 s after the stop request"; scancel "$J"; }
echo "--- batch output"; cat job.out; echo "--- probe output"; grep -vE '^\s*$' probe.out | head -30
grep -q "hosts: n[0-9]*:4  slots: 4" job.out && ok "absa-slurm: component 1 = one node, 4 slots" || bad "absa-slurm hosts/slots"
grep -qE '^resize 1 -> 2 rc=0' probe.out && ok "resize 1 -> 2" || bad "resize 1 -> 2"
grep -qE '^resize 2 -> 4 rc=0' probe.out && ok "resize 2 -> 4" || bad "resize 2 -> 4"
nodes=$(grep -E '^rank [0-3]/4 ' probe.out | sed 's/.* node=\([^ ]*\) .*/\1/' | sort -u | tr '\n' ' ')
steps=$(grep -E '^rank [0-3]/4 ' probe.out | sed 's/.* step=\([^ ]*\) .*/\1/' | sort -u | tr '\n' ' ')
[ "$(grep -cE '^rank [0-3]/4 ' probe.out)" = 4 ] && [ "$(echo $nodes | wc -w)" = 1 ] && ok "4 ranks on one node of component 1 ($nodes)" || bad "ranks: nodes '$nodes'"
# inside a step of a het component, SLURM_JOB_ID is the leader's id ($J); squeue names the step $C1.<n>
[ "$(echo $steps | wc -w)" = 1 ] && [ "${steps%%.*}" = "$J" ] && [ "${steps#*.}" != "? " ] && \
  ok "all ranks inside one Slurm step ($steps) of job $J" || bad "ranks in steps '$steps', want one step of job $J"
grep -q "SIGTERM to step $C1.0" job.out && ok "trap signalled the training step" || bad "trap did not signal step $C1.0"
if [ -f marker ] && grep -q '^ranks 4 signal 15 seen_by 4 ' marker; then
  read -r _ _ _ _ _ _ _ stop_at _ written_at < marker
  ok "all 4 ranks got SIGTERM, rank 0 wrote its marker ($(awk -v a="$t_sig" -v b="$stop_at" 'BEGIN{printf "%.2f", b-a}') s after the request)"
else
  bad "marker: '$(cat marker 2>/dev/null)'"
fi
awk -v a="$t_sig" -v b="$t_end" 'BEGIN{printf "job gone %.1f s after the stop request\n", b-a}'
echo "resize costs (spawn / merge+allreduce / total, seconds):"; grep '^resize' probe.out | sed 's/^/  /'
tally
