#!/bin/bash
# test_fsize.sh ABSA PYTHON — a file size limit (ulimit -f; Slurm propagates the submit host's by
# default) below what absa writes. Without absa ignoring SIGXFSZ the kernel killed it mid-write:
# exit 153, no message, a temporary file left (`absa pack`: OUT.partial-PID; `absa train`:
# checkpoint.h5.tmp.PID), and `absa serve` died sizing its split in RAM (a memfd is a file).
# Now: pack and train end in a one-line "File too large" error with exit status 1 and leave no
# temporary file, an earlier checkpoint stays whole, and serve falls back to anonymous memory
# (one log line) and serves. Needs no root.
set -u
A=$1
PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tools/testlib.sh"
W=$(mktemp -d /tmp/absa_fsize.XXXXXX)
trap 'kill "$srv" 2>/dev/null; rm -rf "$W"' EXIT
srv=
ERR_TAIL=3
leftovers() { find "$W/out.d" -mindepth 1 \( -name '*.partial-*' -o -name '*.tmp.*' -o -name "$1" \) | tr '\n' ' '; }
# limited KIB NAME LEFT CMD...: run CMD under ulimit -f KIB (KiB): exit 1, one stderr line naming
# "File too large", and no temporary file (nor LEFT) in $W/out.d
limited() {
  local kib=$1 name=$2 left=$3
  shift 3
  (ulimit -f "$kib" && exec "$@") >"$W/out" 2>"$W/err"
  local rc=$?
  if [ $rc -ne 1 ]; then bad "$name (exit $rc, want 1)"
  elif [ "$(grep -c . "$W/err")" -ne 1 ]; then bad "$name (stderr is not one line)"
  elif ! grep -q "File too large" "$W/err"; then bad "$name (no 'File too large' in: $(head -c 300 "$W/err"))"
  elif [ -n "$(leftovers "$left")" ]; then bad "$name (left $(leftovers "$left"))"
  else ok "$name (refused: $(cut -c1-150 "$W/err"))"; fi
}
mkdir -p "$W/out.d"

"$PY" "$HERE/mkidx.py" "$W/big" 3000 300 || { bad "fixture"; tally; exit 1; }
"$PY" "$HERE/mkidx.py" "$W/small" 200 100 || { bad "fixture"; tally; exit 1; }

# 1. pack: 2.6 MB of images under a 1 MiB limit (fails in the image writes)
limited 1024 "pack under ulimit -f 1024" big.h5 "$A" pack --format idx --input "$W/big" --output "$W/out.d/big.h5" --quiet
"$A" pack --format idx --input "$W/small" --output "$W/small.h5" --quiet || bad "pack small fixture"

# 2. train: its first checkpoint (about 1.6 MB) under a 1 MiB limit
limited 1024 "train under ulimit -f 1024" none "$A" train --data "$W/small.h5" --model mlp --epochs 1 --batch 64 \
  --micro-batch 64 --eig-samples 64 --eig-chunk 64 --out "$W/out.d/run" --quiet

# 3. a resumed run whose next checkpoint no longer fits: the earlier one stays whole and unchanged
rm -rf "$W/out.d/run2"
"$A" train --data "$W/small.h5" --model mlp --epochs 1 --batch 64 --micro-batch 64 --eig-samples 64 \
  --eig-chunk 64 --out "$W/out.d/run2" --quiet || bad "unlimited first epoch"
before=$(md5sum <"$W/out.d/run2/checkpoint.h5")
ck=$(stat -c %s "$W/out.d/run2/checkpoint.h5")
limited $((ck / 1024 - 64)) "resumed train, limit below one checkpoint" none "$A" train --data "$W/small.h5" \
  --model mlp --epochs 2 --batch 64 --micro-batch 64 --eig-samples 64 --eig-chunk 64 --out "$W/out.d/run2" \
  --resume "$W/out.d/run2/checkpoint.h5" --quiet
[ "$(md5sum <"$W/out.d/run2/checkpoint.h5")" = "$before" ] && ok "epoch 1 checkpoint unchanged" ||
  bad "epoch 1 checkpoint changed"
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); [f['model'][k][()] for k in f['model']]; sys.exit(int(f['train'].attrs['epoch']) != 1)" \
  "$W/out.d/run2/checkpoint.h5" && ok "epoch 1 checkpoint loads" || bad "epoch 1 checkpoint damaged"

# 4. serve: its split (about 170 kB here) under a 64 KiB limit: not shared, served from anonymous
# memory; it listens, says why, and stops cleanly on SIGTERM. UCX_TLS=tcp: UCX's own shared-memory
# transports size files too (megabytes), and under such a limit UCX refuses to start (one line,
# "ucp_worker_create: No resources are available"), which is UCX's limit, not the split's
if "$A" serve --help >/dev/null 2>&1; then
  (umask 077; head -c 32 /dev/urandom | base64 >"$W/secret")
  (ulimit -f 64 && exec env UCX_TLS=tcp UCX_NET_DEVICES=lo UCX_TCP_CM_REUSEADDR=y UCX_WARN_UNUSED_ENV_VARS=n \
    "$A" serve --data "$W/small.h5" --listen 127.0.0.1:0 --address-file "$W/addr" --secret-file "$W/secret") \
    >"$W/srv.out" 2>"$W/srv.err" &
  srv=$!
  for _ in $(seq 100); do [ -s "$W/addr" ] && break; kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
  if [ -s "$W/addr" ]; then ok "serve under ulimit -f 64 listens"; else bad "serve under ulimit -f 64 did not listen: $(head -c 300 "$W/srv.err")"; fi
  grep -q "not shared with same-node clients (cannot size it to .*File too large)" "$W/srv.err" &&
    ok "serve says why the split is not shared" || bad "serve: no fallback line in $(head -c 300 "$W/srv.err")"
  kill -TERM "$srv" 2>/dev/null
  wait "$srv"
  rc=$?
  srv=
  [ $rc -eq 0 ] && grep -q "stopped after" "$W/srv.err" && ok "serve stops cleanly (exit 0)" ||
    bad "serve stop: exit $rc, $(tail -c 300 "$W/srv.err")"
else
  echo "skipped: serve (built without UCX)"
fi
tally
