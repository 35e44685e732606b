#!/usr/bin/env bash
# test_hostlist_scontrol.sh — absa's host-list expansion against Slurm's own (`scontrol show
# hostnames`, the independent oracle) on fixed cases and 200 random well-formed lists (random
# prefixes, ranges, zero padding, several entries and bracket groups). Only lists Slurm 22.05
# accepts are compared (it rejects text after a bracket group, which absa also accepts).
# Skips (77) when scontrol is missing or cannot run (no /etc/slurm/slurm.conf).
# Usage: test_hostlist_scontrol.sh ABSA_SLURM
set -u
T=$1
command -v scontrol >/dev/null || { echo "SKIPPED: scontrol not installed (slurm-client)"; exit 77; }
scontrol show hostnames 'n[1-2]' >/dev/null 2>&1 || { echo "SKIPPED: scontrol show hostnames does not run (no slurm.conf?)"; exit 77; }
pass=0; fail=0
cmp_one() {
  local want got
  want=$(scontrol show hostnames "$1" 2>/dev/null) || { echo "  (scontrol rejects '$1', not compared)"; return; }
  got=$("$T" expand "$1" 2>&1)
  if [ "$want" = "$got" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL '$1': scontrol '$(echo $want)' absa '$(echo $got)'"; fi
}
for l in 'n1' 'n[1-3,7]' 'gpu[3,5-6]' 'n[1-2],gpu[3,5-6]' 'x[8-11]' 'y[008-010]' 'z[1-03]' 'n[01-2]' 'n[098-101]' \
         'n[1-2][3-4]' 'r[1-2]n[01-02]' 'n1,,n2' 'n[1-2],' '[1-2]' 'n[1,1]' 'n[0-0]' 'n-1.ex.com,node_2' \
         'c[999999998-999999999]' 'a[1-3],b[1-3],c[1-3]' 'n[0000-0099]'; do
  cmp_one "$l"
done
# random well-formed lists
RANDOM=4242
prefixes=(n gpu node- cn.a x_y r1n "")
for _ in $(seq 1 200); do
  entries=()
  for _ in $(seq 1 $((1 + RANDOM % 3))); do
    e=${prefixes[RANDOM % ${#prefixes[@]}]}
    for _ in $(seq 1 $((1 + RANDOM % 2))); do
      items=()
      for _ in $(seq 1 $((1 + RANDOM % 3))); do
        w=$((1 + RANDOM % 4)); lo=$((RANDOM % 120)); hi=$((lo + RANDOM % 15))
        [ ${#lo} -gt $w ] && w=${#lo}
        if [ $((RANDOM % 3)) = 0 ]; then items+=("$(printf '%0*d' $w $lo)")
        else items+=("$(printf '%0*d-%d' $w $lo $hi)"); fi
      done
      e+="[$(IFS=,; echo "${items[*]}")]"
      [ -z "$e" ] && e=n
      [ $((RANDOM % 4)) = 0 ] && break
    done
    entries+=("$e")
  done
  [ $((RANDOM % 5)) = 0 ] && entries+=("plain$RANDOM")
  cmp_one "$(IFS=,; echo "${entries[*]}")"
done
echo "$pass agree with scontrol, $fail differ"
[ "$pass" -gt 180 ] && [ "$fail" = 0 ]
