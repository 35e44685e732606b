#!/bin/bash
# test_diskfull.sh ABSA PYTHON — `absa pack` and `absa train` writing onto a full file system
# (a 2 MiB tmpfs): a one-line error, exit status 1 (never a signal: 139/134 was HDF5's exit
# handler on a half-closed file), and no partial output file left behind. Scans of the free space
# around the output's size make the failure land in the raw-data writes and in the final
# metadata flush. Needs root (mount); skipped (77) otherwise.
set -u
A=$1
PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tools/testlib.sh"
W=$(mktemp -d /tmp/absa_diskfull.XXXXXX)
FULL=$W/full
mkdir -p "$FULL"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=2m tmpfs "$FULL" 2>/dev/null; then
  echo "skipped: mounting a 2 MiB tmpfs needs root (mount -t tmpfs); uid $(id -u) cannot"
  rm -rf "$W"
  exit 77
fi
trap 'umount "$FULL" 2>/dev/null; rm -rf "$W"' EXIT
ERR_TAIL=3

# partial files left under the tmpfs: pack's OUT.partial-PID, the checkpoint's OUT.tmp.PID, and a
# pack output ($1) when the pack failed
leftovers() { find "$FULL" -mindepth 1 \( -name '*.partial-*' -o -name '*.tmp.*' -o -name "$1" \) | tr '\n' ' '; }
# fill the tmpfs so that about $1 bytes stay free
fill_to() {
  rm -rf "${FULL:?}"/*
  local avail
  avail=$(df -B1 --output=avail "$FULL" | tail -1)
  [ "$avail" -gt "$1" ] && head -c $((avail - $1)) /dev/zero >"$FULL/filler"
}
# run CMD, expect 0 or a one-line error with exit 1, never a signal; $1 = name
check_run() {
  local name=$1 ok_name=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err"
  local rc=$?
  if [ $rc -eq 0 ]; then
    [ -z "$(leftovers none)" ] && ok "$name (fits)" || bad "$name (exit 0 but left $(leftovers none))"
  elif [ $rc -ne 1 ]; then
    bad "$name (exit $rc)"
  elif [ "$(grep -c . "$W/err")" -ne 1 ]; then
    bad "$name (stderr is not one line)"
  elif ! grep -q "No space left on device" "$W/err"; then
    bad "$name (no 'No space left on device' in: $(head -c 300 "$W/err"))"
  elif [ -n "$(leftovers "$ok_name")" ]; then
    bad "$name (partial output left: $(leftovers "$ok_name"))"
  else
    ok "$name (refused: $(cut -c1-160 "$W/err"))"
  fi
  return $rc
}

"$PY" "$HERE/mkidx.py" "$W/big" 3000 300 || { bad "fixture"; tally; exit 1; }
"$PY" "$HERE/mkidx.py" "$W/small" 200 100 || { bad "fixture"; tally; exit 1; }
"$A" pack --format idx --input "$W/small" --output "$W/small.h5" --quiet || bad "pack small fixture"

# 1. pack: 2.6 MB of images onto 2 MiB (fails in the image writes; used to exit 139 every time)
fill_to 3000000
check_run "pack onto a full tmpfs" none "$A" pack --format idx --input "$W/big" --output "$FULL/big.h5" --quiet
[ $? -eq 1 ] || bad "pack onto a full tmpfs did not fail"

# 2. pack scan: free space around the packed size (about 246 kB)
size=$(stat -c %s "$W/small.h5")
for d in -40960 -8192 0 8192; do
  fill_to $((size + d))
  check_run "pack, $((size + d)) bytes free" small.h5 "$A" pack --format idx --input "$W/small" --output "$FULL/small.h5" --quiet
done

# 3. train: the second epoch's checkpoint does not fit next to the first (used to crash 1 in 4)
rm -rf "${FULL:?}"/*
check_run "train onto a full tmpfs" none "$A" train --data "$W/small.h5" --model mlp --epochs 2 --batch 64 \
  --micro-batch 64 --eig-samples 64 --eig-chunk 64 --out "$FULL/run" --quiet
[ $? -eq 1 ] || bad "train onto a full tmpfs did not fail"
# the first epoch's checkpoint is still the complete one
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); [f['model'][k][()] for k in f['model']]; sys.exit(int(f['train'].attrs['epoch']) != 1)" \
  "$FULL/run/checkpoint.h5" && ok "epoch 1 checkpoint intact" || bad "epoch 1 checkpoint damaged"

# 4. train scan: free space around one checkpoint (about 1.6 MB; raw writes vs final flush)
"$A" train --data "$W/small.h5" --model mlp --epochs 1 --batch 64 --micro-batch 64 --eig-samples 64 \
  --eig-chunk 64 --out "$W/ref" --quiet || bad "reference train"
ck=$(stat -c %s "$W/ref/checkpoint.h5" 2>/dev/null || echo 1638400)
for d in -65536 -24576 -8192 0 16384; do
  fill_to $((ck + d))
  check_run "train, checkpoint $ck B, $((ck + d)) B free" none \
    "$A" train --data "$W/small.h5" --model mlp --epochs 1 --batch 64 --micro-batch 64 --eig-samples 64 \
    --eig-chunk 64 --out "$FULL/run" --quiet
done
tally
