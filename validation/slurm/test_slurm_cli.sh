#!/usr/bin/env bash
# test_slurm_cli.sh — the absa-slurm helper as the job scripts use it (no cluster needed): exit
# codes (0 ok, 1 runtime error with one stderr line, 2 usage), host strings and slot counts of
# recorded environments and of a fake process environment, the JSON view (parsed by Python), the
# mpirun exports (evaluated by the shell), and the secret file (mode 0600 whatever the umask).
# Also the job scripts: jobscripts/absa-*.sbatch are exactly slurm/absa-jobgen's output for the
# defaults, parse (bash -n), refuse to run outside Slurm, and absa-jobgen renders and validates sizes.
# Usage: test_slurm_cli.sh ABSA_SLURM ENV_DIR
set -u
T=$1; E=$2
REPO=$(cd "$E/../../.." && pwd)
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
PY=/usr/bin/python3
. "$(cd "$(dirname "$0")/../tools" && pwd)/testlib.sh"
# expect NAME RC WANT_STDOUT cmd... : exit status and exact stdout
expect() {
  local name=$1 rc=$2 want=$3; shift 3
  local out; out=$("$@" 2>"$W/err"); local got=$?
  if [ "$got" != "$rc" ]; then bad "$name: exit $got, want $rc ($(head -c 300 "$W/err"))"; return; fi
  if [ "$rc" != 0 ] && [ "$(grep -c . "$W/err")" != 1 ]; then bad "$name: stderr is not one line"; return; fi
  if [ -n "$want" ] && [ "$out" != "$want" ]; then bad "$name: got '$out', want '$want'"; return; fi
  ok "$name"
}
expect "help"                0 "" "$T" --help
expect "no action"           2 "" "$T"
expect "unknown action"      2 "" "$T" frobnicate
expect "unknown option"      2 "" "$T" hosts --bogus
expect "bad group"           2 "" "$T" hosts --group abc
expect "group out of range"  2 "" "$T" hosts --group 64
expect "expand needs a list" 2 "" "$T" expand
expect "extra argument"      2 "" "$T" hosts extra
expect "expand"              0 "$(printf 'n1\nn2\nn3\nn7\ngpu01\ngpu02')" "$T" expand 'n[1-3,7],gpu[01-02]'
expect "expand bad range"    1 "" "$T" expand 'n[3-1]'
expect "het hosts"           0 "n2:4,n3:1" "$T" hosts --env-file "$E/het-1-N2n5.env"
expect "het slots"           0 "5" "$T" slots --env-file "$E/het-1-N2n5.env"
expect "het group 0"         0 "n1:1" "$T" hosts --group 0 --env-file "$E/het-1-N2n5.env"
expect "het group 2"         1 "" "$T" hosts --group 2 --env-file "$E/het-1-N2n5.env"
expect "plain step slots"    0 "6" "$T" slots --env-file "$E/plain-N2n6-step.env"
expect "missing env file"    1 "" "$T" hosts --env-file "$W/none.env"
expect "outside Slurm"       1 "" env -u SLURM_JOB_ID -u SLURM_JOBID "$T" hosts
expect "process env"         0 "x1:3,x2:3" env -i SLURM_JOB_ID=5 'SLURM_JOB_NODELIST=x[1-2]' 'SLURM_TASKS_PER_NODE=3(x2)' "$T" hosts
expect "hostile process env" 1 "" env -i SLURM_JOB_ID=5 'SLURM_JOB_NODELIST=x[1-2];reboot' 'SLURM_TASKS_PER_NODE=3(x2)' "$T" hosts

# the JSON view parses and says what the host string says
if "$T" view --env-file "$E/het-1-N2n5.env" > "$W/view.json" && $PY - "$W/view.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
assert v["job_id"] == "16" and v["het_size"] == 2 and v["group"] == 1, v
assert [(h["host"], h["slots"]) for h in v["hosts"]] == [("n2", 4), ("n3", 1)], v
assert v["total_slots"] == 5 and [g["nodelist"] for g in v["groups"]] == ["n1", "n[2-3]"], v
PY
then ok "view json"; else bad "view json"; fi

# the exports, evaluated, give mpirun the allocation of het group 1
out=$(env -i bash -c "eval \"\$('$T' mpirun-env --env-file '$E/het-1-N2n5.env')\"; echo \"\$SLURM_JOB_NODELIST|\$SLURM_TASKS_PER_NODE|\$SLURM_NTASKS|\$SLURM_NNODES|\$OMPI_MCA_plm_slurm_args\"")
[ "$out" = "n[2-3]|4,1|5|2|--het-group=1" ] && ok "mpirun-env het" || bad "mpirun-env het: '$out'"
out=$(env -i SLURM_JOB_NODELIST=keep bash -c "eval \"\$('$T' mpirun-env --env-file '$E/plain-N2-tpn2.env')\"; echo \"\$SLURM_JOB_NODELIST|\${OMPI_MCA_plm_slurm_args:-unset}\"")
[ "$out" = "keep|unset" ] && ok "mpirun-env plain changes nothing" || bad "mpirun-env plain: '$out'"

# secret: 0600 even with umask 000, 64 hex digits, fresh each time, refuses bad sizes
a=$(umask 000; "$T" secret "$W/s" && stat -c '%a %s' "$W/s" && cat "$W/s")
b=$("$T" secret "$W/s" && cat "$W/s")
if [ "$(echo "$a" | head -1)" = "600 65" ] && echo "$a" | tail -1 | grep -qE '^[0-9a-f]{64}$' && [ "$(echo "$a" | tail -1)" != "$b" ]; then
  ok "secret"; else bad "secret: '$a' / '$b'"; fi
expect "secret bytes 8"      2 "" "$T" secret "$W/s2" --bytes 8
expect "secret bad dir"      1 "" "$T" secret "$W/no/such/dir/s"

# job scripts: in sync with the templates, valid bash, refuse to run outside Slurm
for k in het plain cpu; do
  f=$REPO/jobscripts/absa-$k.sbatch
  if bash "$REPO/slurm/absa-jobgen" "$k" | cmp -s - "$f"; then ok "jobscripts/absa-$k.sbatch == absa-jobgen $k"
  else bad "jobscripts/absa-$k.sbatch differs from 'slurm/absa-jobgen $k' (re-render with --write)"; fi
  bash -n "$f" && ok "bash -n absa-$k.sbatch" || bad "bash -n absa-$k.sbatch"
  out=$(env -u SLURM_JOB_ID bash "$f" 2>&1); rc=$?
  [ "$rc" = 1 ] && grep -q "not running under Slurm" <<<"$out" && ok "absa-$k.sbatch refuses to run outside Slurm" || bad "absa-$k.sbatch outside Slurm: rc $rc '$out'"
done
bash -n "$REPO/slurm/absa-job-lib.sh" && ok "bash -n absa-job-lib.sh" || bad "bash -n absa-job-lib.sh"
bash -n "$REPO/slurm/absa-job-handoff.sh" && ok "bash -n absa-job-handoff.sh" || bad "bash -n absa-job-handoff.sh"
g=$(bash "$REPO/slurm/absa-jobgen" het --ranks 16 --nodes 4 --cpus-per-rank 8 --time 04:00:00 --lead 600 --partition gpu --name big)
if grep -qx '#SBATCH --nodes=4 --ntasks=16 --cpus-per-task=8' <<<"$g" && grep -qx '#SBATCH --signal=B:USR1@600' <<<"$g" &&
   grep -qx '#SBATCH --time=04:00:00' <<<"$g" && grep -qx '#SBATCH --job-name=big' <<<"$g" &&
   [ "$(grep -cx '#SBATCH --partition=gpu' <<<"$g")" = 2 ] && ! grep -q '@[A-Z_]*@' <<<"$g"; then ok "absa-jobgen renders sizes"
else bad "absa-jobgen render: $(grep '^#SBATCH' <<<"$g" | tr '\n' '|')"; fi
for a in "het --ranks 0" "het --nodes 5 --ranks 4" "het --time 1h" "het --name a;b" "gpu" "het --bogus 1" "het --ranks"; do
  # shellcheck disable=SC2086
  bash "$REPO/slurm/absa-jobgen" $a >/dev/null 2>"$W/err"; rc=$?
  [ "$rc" = 2 ] && [ "$(grep -c . "$W/err")" = 1 ] && ok "absa-jobgen rejects '$a'" || bad "absa-jobgen '$a': rc $rc"
done
tally
