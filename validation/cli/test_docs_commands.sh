#!/usr/bin/env bash
# test_docs_commands.sh — README.md's command block (the ```sh block under "## Commands") and the
# one-machine blocks of docs/growth.md ("## Running it") and docs/ucx.md ("## The trainer"), each
# run as written in an empty directory by bash -e, so the docs cannot rot; the build's src/ is on
# PATH.
# SIZE OVERRIDES (the only change to the commands): `absa` on PATH is a stand-in that runs the
# build's absa with flags appended, so the block takes seconds, not the README's minutes:
#   pack:  --input a 1024-train / 300-test subset of Debian's Fashion-MNIST (absa_testlib.py)
#   train: --eig-samples 64 --eig-iters 3 --step-log 0, and --epochs 1 in the README block
#   eig:   --samples 64 --iters 3 --trace-probes 2          bench: --batch 8 --steps 1 --warmup 0
# (appended flags win over the README's). Open MPI is kept on loopback (OMPI_MCA_*_if_include=lo).
# Usage: test_docs_commands.sh ABSA README.md PYTHON   (skips, 77, without mpirun or gnuplot)
set -u
ABSA=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); README=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
PY=${3:-/usr/bin/python3}
W=$(mktemp -d); PG=
# the commands run in their own process group: whatever they leave running (absa serve after a
# failure) is ended with it
trap 'for g in $PG; do kill -TERM -- -"$g" 2>/dev/null; done; rm -rf "$W"' EXIT
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
. "$TOOLS/testlib.sh"
for t in mpirun gnuplot; do command -v $t >/dev/null || { echo "skip: no $t"; exit 77; }; done

mkdir -p "$W/bin" "$W/idx"
"$PY" "$TOOLS/absa_testlib.py" idx-subset "$W/idx" 1024 300 || { bad "Fashion-MNIST subset"; tally; exit 1; }
cat >"$W/bin/absa" <<EOF
#!/usr/bin/env bash
# stand-in for the docs test: the build's absa with the size overrides appended
case "\${1:-}" in
  pack)  exec "$ABSA" "\$@" --input "$W/idx" ;;
  train) exec "$ABSA" "\$@" \${ABSA_DOCS_EPOCHS:+--epochs \$ABSA_DOCS_EPOCHS} --eig-samples 64 --eig-iters 3 --step-log 0 ;;
  eig)   exec "$ABSA" "\$@" --samples 64 --iters 3 --trace-probes 2 ;;
  bench) exec "$ABSA" "\$@" --batch 8 --steps 1 --warmup 0 ;;
  *)     exec "$ABSA" "\$@" ;;
esac
EOF
chmod +x "$W/bin/absa"
export PATH="$W/bin:$(dirname "$ABSA"):$PATH"
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo UCX_NET_DEVICES=lo OMP_NUM_THREADS=1

# run_block NAME FILE REGEX: the first ```sh block after the line matching REGEX in FILE, run by
# bash -e -x in a fresh directory $W/NAME (log $W/NAME.log); status 0 when every command succeeded
run_block() {
  local name=$1 file=$2 re=$3 pg rc
  awk -v re="$re" '$0 ~ re {c=1} c && /^```sh/ {b=1; next} b && /^```/ {exit} b' "$file" >"$W/$name.sh"
  local n; n=$(grep -c . "$W/$name.sh")
  [ "$n" -ge 3 ] && ok "$name: command block extracted ($n lines)" || { bad "$name: command block ($n lines)"; return 1; }
  mkdir -p "$W/$name"
  (cd "$W/$name" && exec setsid bash -e -x "$W/$name.sh") >"$W/$name.log" 2>&1 &
  pg=$!; PG="$PG $pg"
  for _ in $(seq 6000); do kill -0 "$pg" 2>/dev/null || break; sleep 0.1; done # at most 10 minutes
  kill -0 "$pg" 2>/dev/null && { echo "$name: still running after 10 minutes"; kill -TERM -- -"$pg"; }
  wait "$pg"; rc=$?
  if [ "$rc" = 0 ]; then ok "$name: commands run as written"; else
    bad "$name: commands run as written (exit $rc)"; tail -n 25 "$W/$name.log" | sed 's/^/     | /'; fi
  return "$rc"
}

ABSA_DOCS_EPOCHS=1 run_block readme "$README" '^## Commands'
cd "$W/readme" || exit 1
[ -s fm.h5 ] && [ -s run/metrics.jsonl ] && [ -s run/checkpoint.h5 ] && ok "fm.h5 and run/ written" || bad "fm.h5 and run/"
[ -s run.png ] && ok "run.png written" || bad "run.png"
grep -q '"eigenvalues": \[[0-9.e+-]*, [0-9.e+-]*\]' "$W/readme.log" && grep -q '"trace_probes": 2' "$W/readme.log" \
  && ok "eig printed two eigenvalues and a trace" || bad "eig JSON"
grep -q '"step_images_per_s"' "$W/readme.log" && ok "bench printed its JSON" || bad "bench JSON"
[ -s run-mpi/summary.json ] && ok "mpirun training finished" || bad "mpirun training"
[ -s run-ucx/summary.json ] && grep -q '"data_source": "ucx"' run-ucx/metrics.jsonl \
  && ok "training over UCX from absa serve finished" || bad "training over UCX"
[ "$(stat -c %a secret 2>/dev/null)" = 600 ] && ok "secret is mode 0600" || bad "secret mode"
cd "$W" || exit 1
# docs/: the blocks that run on one machine (the Slurm ones need a cluster: validation/slurm)
DOCS=$(cd "$(dirname "$README")" && pwd)/docs
if [ "${ABSA_DOCS_TEST_ALL:-1}" = 1 ]; then
  run_block growth "$DOCS/growth.md" '^## Running it' && [ -s growth/run-pool/summary.json ] &&
    grep -q '"epochs": 6' growth/run/summary.json && ok "growth.md: runs finished, resume to epoch 6" || bad "growth.md runs"
  run_block ucx "$DOCS/ucx.md" '^## The trainer' && grep -q '"epochs": 30' ucx/run-ucx/summary.json \
    && ok "ucx.md: 30 epochs over UCX" || bad "ucx.md run"
fi
tally
