#!/usr/bin/env bash
# test_cli_messages.sh — what a user reads: the exact one-line messages and exit codes of usage
# errors (2, same rule in every command; the option named as typed), runtime errors (1), `absa
# info` on a file with out-of-range labels (exit 1 after the description), floats printed as the
# shortest decimal that reads back the same (help defaults, config.txt, eig JSON), gnuplot's
# warnings kept out of `absa plot`'s console, and `absa eig`'s progress lines.
# Usage: test_cli_messages.sh ABSA PYTHON   (PYTHON: /usr/bin/python3 with numpy + h5py)
set -u
ABSA=$1; PY=${2:-/usr/bin/python3}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
. "$TOOLS/testlib.sh"
ERR_TAIL=5

# expect RC NAME EXACT_STDERR CMD... : exit code RC and stderr exactly the one given line
expect() {
  local rc=$1 name=$2 msg=$3
  shift 3
  "$@" >"$W/out" 2>"$W/err"
  local got=$?
  if [ "$got" -ne "$rc" ]; then bad "$name (exit $got, want $rc)"; return; fi
  if [ "$(cat "$W/err")" != "$msg" ]; then bad "$name: stderr is"; sed 's/^/     | /' "$W/err"; echo "     want: $msg"; return; fi
  ok "$name"
}

# --- usage errors: exit 2, the option as typed -----------------------------------------------
expect 2 "train unknown option" "absa train: unknown option '--bogus' (see 'absa train --help')" \
  $ABSA train --bogus 1
expect 2 "train unknown option with =" "absa train: unknown option '--bogus' (see 'absa train --help')" \
  $ABSA train --bogus=1
expect 2 "train unknown model" "absa train: unknown model 'vgg' (known: mlp, lenet, c1, resnet20) (see 'absa train --help')" \
  $ABSA train --data x.h5 --model vgg
expect 2 "train unknown schedule" "absa train: --schedule: 'adam' is not sgd, abs or absa (see 'absa train --help')" \
  $ABSA train --data x.h5 --schedule adam
expect 2 "train missing --data" "absa train: --data is required (a packed .h5 file, see absa pack, or ucx://HOST:PORT) (see 'absa train --help')" \
  $ABSA train
expect 2 "init unknown model" "absa init: unknown model 'vgg' (known: mlp, lenet, c1, resnet20) (see 'absa init --help')" \
  $ABSA init --model vgg --out "$W/x.h5"
expect 2 "bench unknown model" "absa bench: unknown model 'vgg' (known: mlp, lenet, c1, resnet20) (see 'absa bench --help')" \
  $ABSA bench --model vgg
for c in eig init bench plot serve; do
  expect 2 "$c unknown option" "absa $c: unknown option '--foo' (see 'absa $c --help')" $ABSA $c --foo
done
expect 2 "eig option without value" "absa eig: option '--checkpoint' needs a value (see 'absa eig --help')" \
  $ABSA eig --checkpoint
expect 2 "plot -o without value" "absa plot: option '-o' needs a value (see 'absa plot --help')" $ABSA plot run -o
expect 2 "pack unknown option" "absa pack: unknown option '--foo' (see 'absa pack --help')" $ABSA pack --foo
expect 2 "pack option without value" "absa pack: option '--format' needs a value (see 'absa pack --help')" \
  $ABSA pack --format
expect 2 "info unknown option" "absa info: unknown option '--foo' (see 'absa info --help')" $ABSA info --foo
expect 2 "slurm unknown option" "absa slurm: unknown option '--foo' (see 'absa slurm --help')" $ABSA slurm --foo
expect 1 "train ucx:// without a secret (runtime, as absa serve)" \
  "absa train: error: --data ucx://127.0.0.1:1 needs the server's secret: --secret-file FILE or env ABSA_SECRET" \
  env -u ABSA_SECRET $ABSA train --data ucx://127.0.0.1:1
$ABSA --help >"$W/out" && grep -q "2 usage error" "$W/out" && grep -q "1 runtime failure" "$W/out" \
  && ok "absa --help states the exit codes" || bad "absa --help states the exit codes"

# absa's re-run (OMP_WAIT_POLICY, and OpenBLAS's kernels on a CPU it does not know: the test hook
# makes OpenBLAS "pick" Prescott) when the exec fails (strace injects EACCES into every execve
# after the one that starts absa): one warning line, not one per constructor, and absa runs on
if [ -x /usr/bin/strace ]; then
  env -u OPENBLAS_CORETYPE -u OMP_WAIT_POLICY ABSA_TEST_OPENBLAS_CORENAME=Prescott /usr/bin/strace -f -qq -o /dev/null \
    -e trace=execve -e inject=execve:error=EACCES:when=1+ $ABSA --version >"$W/out" 2>"$W/err"
  rc=$?
  n=$(grep -c "absa: warning: OpenBLAS picked its Prescott kernels" "$W/err")
  if grep -q "^absa " "$W/out" && [ $rc -eq 0 ]; then
    want=0; grep -qw avx2 /proc/cpuinfo && want=1 # the rule replaces Prescott only on AVX2 CPUs
    [ "$n" -eq "$want" ] && ! grep -v "absa: warning: OpenBLAS picked" "$W/err" | grep -q . \
      && ok "failed re-run: $n warning line (want $want), absa runs on" \
      || bad "failed re-run: $n warning lines: $(head -c 300 "$W/err")"
  else
    echo "skipped: strace cannot run absa here ($(head -c 200 "$W/err"))"
  fi
fi

# --- floats: shortest round trip ----------------------------------------------------------------
$ABSA train --help >"$W/out"
grep -q -- "--momentum .*(default: 0.9)$" "$W/out" && grep -q -- "--lr-decay .*(default: 0.2)$" "$W/out" &&
  grep -q -- "--adv-eps .*(default: 0.005)$" "$W/out" && ! grep -q "0000000" "$W/out" \
  && ok "train --help defaults 0.9 0.2 0.005" || { bad "train --help defaults"; grep "0000000" "$W/out"; }

mkdir -p "$W/idx"
"$PY" "$TOOLS/absa_testlib.py" idx-subset "$W/idx" 96 40 || { bad "idx subset"; tally; exit 1; }
$ABSA pack --format idx --input "$W/idx" --output "$W/d.h5" --quiet && ok "pack subset" || { bad "pack subset"; tally; exit 1; }
$ABSA train --data "$W/d.h5" --model mlp --schedule sgd --epochs 1 --batch 32 --micro-batch 32 --max-batch 32 \
  --momentum 0.3 --lr 0.30000000000000004 --threads 1 --step-log 0 --quiet --out "$W/run" 2>"$W/err" \
  && ok "tiny train run" || bad "tiny train run"
# started with stdout and stderr closed (stdin open, so that the first files absa opens for writing get
# 1 and 2): absa's lines must not land in the files it opens
# (before main.c made 0-2 /dev/null, metrics.jsonl began with the banner lines)
$ABSA train --data "$W/d.h5" --model mlp --epochs 2 --batch 32 --micro-batch 32 --max-batch 64 --threads 1 \
  --out "$W/closedrun" >&- 2>&-
rc=$?
if [ $rc -eq 0 ] && ! grep -q "absa train:" "$W/closedrun/config.txt" "$W/closedrun/metrics.jsonl" &&
  "$PY" -c "import json,sys,h5py; [json.loads(l) for l in open(sys.argv[1])]; json.load(open(sys.argv[2])); h5py.File(sys.argv[3],'r')['model']" \
    "$W/closedrun/metrics.jsonl" "$W/closedrun/summary.json" "$W/closedrun/checkpoint.h5"; then
  ok "train with fds 1-2 closed: metrics.jsonl, summary.json and the checkpoint are whole"
else
  bad "train with fds 1-2 closed (exit $rc): $(grep -h "absa train:" "$W/closedrun/config.txt" "$W/closedrun/metrics.jsonl" | head -c 300)"
fi
grep -qx "momentum = 0.3" "$W/run/config.txt" && grep -qx "lr = 0.30000000000000004" "$W/run/config.txt" &&
  grep -qx "lr-decay = 0.2" "$W/run/config.txt" \
  && ok "config.txt: 0.3, 0.30000000000000004, 0.2" || { bad "config.txt floats"; grep "^lr\|^momentum" "$W/run/config.txt"; }
# config.txt reads back as the same configuration (a --config of it gives the same file)
$ABSA train --config "$W/run/config.txt" --out "$W/run2" --quiet 2>"$W/err" &&
  diff <(grep -v "^out = " "$W/run/config.txt") <(grep -v "^out = " "$W/run2/config.txt") >/dev/null \
  && ok "config.txt round-trips" || bad "config.txt round-trips"

# --- absa eig: JSON numbers and progress lines ----------------------------------------------------
$ABSA eig --checkpoint "$W/run/checkpoint.h5" --data "$W/d.h5" --samples 32 --rule relative --iters 4 \
  --trace-probes 2 --progress 0 --threads 1 >"$W/eig.json" 2>"$W/err" && ok "eig runs" || bad "eig runs"
"$PY" - "$W/eig.json" <<'PY' && ok "eig JSON: tol 0.001, eigenvalues round-trip" || bad "eig JSON"
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t)
assert '"tol": 0.001,' in t, t
assert d["eigenvalues"][0] > 0 and d["trace_probes"] == 2, d
PY
n_it=$(grep -c "^absa eig: lambda_1 iteration [0-9]*/4: [-0-9.e+]* ([0-9.]* s)$" "$W/err")
n_tr=$(grep -c "^absa eig: trace probe [12]/2: mean [-0-9.e+]* ([0-9.]* s)$" "$W/err")
[ "$n_it" -ge 2 ] && [ "$n_tr" = 2 ] && ok "eig progress lines ($n_it iterations, $n_tr probes)" \
  || { bad "eig progress lines ($n_it, $n_tr)"; cat "$W/err"; }
# the throttle: with --progress 3600 no iteration line can be due (the default of 1 s would make
# this check depend on the machine's load: a loaded CI machine takes over a second here)
$ABSA eig --checkpoint "$W/run/checkpoint.h5" --data "$W/d.h5" --samples 32 --iters 4 --threads 1 \
  --progress 3600 >/dev/null 2>"$W/err"
! grep -q "iteration [0-9]*/" "$W/err" && ok "eig progress at most once per --progress" || bad "eig progress throttled"

# --- absa info: out-of-range labels -----------------------------------------------------------
cp "$W/d.h5" "$W/bad.h5"
"$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); l=f['test/labels']; a=l[...]; a[3]=12; a[5]=-1; l[...]=a; f.close()" "$W/bad.h5"
expect 1 "info out-of-range labels" "absa info: error: $W/bad.h5: 2 labels out of range (first in /test/labels); the file is corrupt" \
  $ABSA info "$W/bad.h5"
grep -q "OUT OF RANGE: 2" "$W/out" && grep -q "split train" "$W/out" && ok "info still describes the file" \
  || bad "info still describes the file"
expect 0 "info on a good file" "" $ABSA info "$W/d.h5"

# --- absa plot: gnuplot's warnings stay out of the console ---------------------------------------
if command -v gnuplot >/dev/null; then
  mkdir -p "$W/sgd" "$W/absa"
  for e in 1 2; do # an SGD run has no eigenvalues: gnuplot warns "Skipping data file with no valid points"
    echo "{\"type\": \"epoch\", \"epoch\": $e, \"train_acc\": 0.5, \"test_acc\": 0.6, \"eig\": null, \"batch\": 128, \"lr\": 0.1}" >>"$W/sgd/metrics.jsonl"
    echo "{\"type\": \"epoch\", \"epoch\": $e, \"train_acc\": 0.5, \"test_acc\": 0.6, \"eig\": 3.5, \"batch\": 128, \"lr\": 0.1}" >>"$W/absa/metrics.jsonl"
  done
  expect 0 "plot sgd + absa: no gnuplot warnings" "absa plot: wrote $W/both.png" $ABSA plot "$W/sgd" "$W/absa" -o "$W/both.png"
  [ -s "$W/both.png" ] && ok "plot wrote the PNG" || bad "plot wrote the PNG"
  # a run with no eigenvalue at all (SGD), or none positive: no log axis to fail on
  expect 0 "plot of an SGD run alone" "absa plot: wrote $W/sgd.png" $ABSA plot "$W/sgd" -o "$W/sgd.png"
  mkdir -p "$W/neg"
  for e in 1 2; do
    echo "{\"type\": \"epoch\", \"epoch\": $e, \"train_acc\": 0.5, \"test_acc\": 0.6, \"eig\": -0.25, \"batch\": 128, \"lr\": 0.1}" >>"$W/neg/metrics.jsonl"
  done
  expect 0 "plot with only negative eigenvalues" "absa plot: wrote $W/neg.png" $ABSA plot "$W/neg" -o "$W/neg.png"
  # gnuplot failing (its output file cannot be created): gnuplot's message, in the one error line
  expect 1 "plot: gnuplot's error in one line" \
    "absa plot: error: gnuplot failed (exit 1: cannot open file; output not changed; system error: No such file or directory)" \
    $ABSA plot "$W/absa" -o "$W/no-such-dir/x.png"
else
  echo "skip plot (no gnuplot)"
fi
tally
