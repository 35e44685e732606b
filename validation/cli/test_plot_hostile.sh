#!/usr/bin/env bash
# test_plot_hostile.sh — `absa plot` on hostile input: a fuzzed metrics.jsonl, run-directory names
# and titles that are gnuplot syntax, a full disk, and kill -9 at any moment. Each must end in a PNG or in exit 1 with
# one stderr line; never a crash, never a half-written or left-over output file, never a command
# of the name's run by gnuplot.
# Usage: test_plot_hostile.sh ABSA [ROUNDS=150]   (skips with 77 without gnuplot)
set -u
ABSA=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); ROUNDS=${2:-150}
W=$(mktemp -d); trap 'umount "$W/full" 2>/dev/null; rm -rf "$W"' EXIT
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
. "$TOOLS/testlib.sh"
ERR_TAIL=3
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not installed (apt-get install gnuplot-nox)"; exit 77; }

# a run as absa train writes it: step lines and three epoch lines (growth by both rules)
mkrun() {
  mkdir -p "$1"
  cat >"$1/metrics.jsonl" <<'EOF'
{"type": "step", "epoch": 1, "step": 10, "loss": 2.08789565, "lr": 0.02, "batch": 128}
{"type": "epoch", "epoch": 1, "train_loss": 0.53, "train_acc": 0.80, "test_loss": 0.37, "test_acc": 0.86, "eig": 27.15, "eig_iters": 10, "eig_converged": false, "batch": 128, "lr": 0.02, "next_batch": 256, "grew": true, "grow_reason": "duration", "sgd_iters": 469}
{"type": "epoch", "epoch": 2, "train_loss": 0.31, "train_acc": 0.88, "test_loss": 0.30, "test_acc": 0.88, "eig": 11.20, "eig_iters": 10, "eig_converged": true, "batch": 256, "lr": 0.04, "next_batch": 512, "grew": true, "grow_reason": "eig", "sgd_iters": 704}
{"type": "epoch", "epoch": 3, "train_loss": 0.25, "train_acc": 0.90, "test_loss": 0.27, "test_acc": 0.89, "eig": 13.31, "eig_iters": 10, "eig_converged": true, "batch": 512, "lr": 0.08, "next_batch": 1024, "grew": false, "grow_reason": "none", "sgd_iters": 822}
EOF
}

# run_plot NAME CMD...: exit 0 with a whole PNG, or exit 1 with one stderr line and no output;
# never a signal, never a left-over temporary file next to the output
run_plot() {
  local name=$1 out=$2
  shift 2
  rm -f "$out"
  timeout 60 "$@" >"$W/out" 2>"$W/err"
  local rc=$?
  if ls "$out".tmp* >/dev/null 2>&1; then bad "$name: a temporary file was left next to the output"; return 1; fi
  case $rc in
    0) if head -c 8 "$out" 2>/dev/null | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'; then return 0; fi
       bad "$name: exit 0 without a PNG"; return 1 ;;
    1) if [ -e "$out" ]; then bad "$name: exit 1 but the output exists"; return 1; fi
       if [ "$(grep -c . "$W/err")" -ne 1 ]; then bad "$name: exit 1 with $(grep -c . "$W/err") stderr lines"; return 1; fi
       return 0 ;;
    *) bad "$name: exit $rc (crash, hang or usage)"; return 1 ;;
  esac
}

mkrun "$W/good"
run_plot "valid run" "$W/good.png" "$ABSA" plot "$W/good" -o "$W/good.png" && ok "valid run: PNG"

# --- fuzzed metrics.jsonl: truncations, flipped bytes, garbage and huge lines, odd numbers ----
/usr/bin/python3 - "$W/good/metrics.jsonl" "$W/fz" "$ROUNDS" <<'PY'
import os, random, sys
src, out, n = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
rng = random.Random(20261207)
os.makedirs(out, exist_ok=True)
odd = [b"1e999", b"-1e999", b"nan", b"-nan", b"inf", b"null", b"", b"\x00", b"0x1p3", b"1" * 400, b"-0"]
for i in range(n):
    d = bytearray(src)
    k = rng.randrange(6)
    if k == 0:
        d = d[:rng.randrange(len(d))]
    elif k == 1:
        for _ in range(rng.randrange(1, 20)):
            d[rng.randrange(len(d))] = rng.randrange(256)
    elif k == 2:
        pos = rng.randrange(len(d))
        d[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    elif k == 3:  # a number replaced by something odd
        keys = [b'"eig": ', b'"epoch": ', b'"batch": ', b'"lr": ', b'"test_acc": ', b'"sgd_iters": ']
        key = rng.choice(keys)
        at = d.find(key, rng.randrange(len(d) // 2))
        if at >= 0:
            at += len(key)
            end = at
            while end < len(d) and d[end:end + 1] not in b",}":
                end += 1
            d[at:end] = rng.choice(odd)
    elif k == 4:  # a line longer than any buffer, with an epoch marker inside
        d += b'{"type": "epoch", "epoch": 4, "eig": ' + b"9" * rng.randrange(5000, 40000) + b"}\n"
    else:  # epoch lines only, in a shuffled order, some without a newline at the end
        lines = [l for l in bytes(d).split(b"\n") if l]
        rng.shuffle(lines)
        d = bytearray(b"\n".join(lines))
    os.makedirs(f"{out}/r{i}", exist_ok=True)
    open(f"{out}/r{i}/metrics.jsonl", "wb").write(bytes(d))
PY
fz_bad=0; fz_png=0; fz_err=0
for d in "$W"/fz/r*; do
  if run_plot "fuzz $(basename "$d")" "$W/fz.png" "$ABSA" plot "$d" -o "$W/fz.png"; then
    if [ -e "$W/fz.png" ]; then fz_png=$((fz_png + 1)); else fz_err=$((fz_err + 1)); fi
  else
    fz_bad=$((fz_bad + 1)); cp "$d/metrics.jsonl" "$W/../plot_fuzz_failure.jsonl" 2>/dev/null
  fi
done
[ "$fz_bad" = 0 ] && ok "fuzzed metrics.jsonl x $ROUNDS: $fz_png PNGs, $fz_err one-line errors, no crash" \
  || bad "fuzzed metrics.jsonl: $fz_bad of $ROUNDS failed"

# --- names and titles that are gnuplot syntax ---------------------------------------------------
evil="x'; system('touch PWNED'); print '" # gnuplot runs in our working directory: $W
mkrun "$W/$evil"
mkrun "$W/it's run_1"
cd "$W" || exit 1
run_plot "quote in a directory name" "$W/q.png" "$ABSA" plot "$evil" "it's run_1" -o "$W/q.png" \
  && { [ -s "$W/q.png" ] && ok "directories named with quotes: PNG" || bad "directories named with quotes: no PNG ($(cat "$W/err"))"; }
run_plot "quote and newline in --title" "$W/t.png" "$ABSA" plot "$W/good" --title "$(printf "a'b\nc'; system('touch PWNED'); print '")" \
  -o "$W/t.png" && { [ -s "$W/t.png" ] && ok "--title with quotes and a newline: PNG" || bad "--title with quotes: no PNG ($(cat "$W/err"))"; }
run_plot "quote in the output name" "$W/o'ut.png" "$ABSA" plot "$W/good" -o "$W/o'ut.png" \
  && { [ -s "$W/o'ut.png" ] && ok "an output path with a quote: PNG there" || bad "an output path with a quote: no PNG ($(cat "$W/err"))"; }
[ ! -e "$W/PWNED" ] && ok "no gnuplot command ran from a name or title" || bad "a name or title ran a gnuplot command (system)"
expect_fail "output path with a newline" "control character" "$ABSA" plot "$W/good" -o "$W/$(printf 'a\nb').png"

# --- kill -9 at any moment: nothing left behind (no OUT.tmp*, nothing in /tmp), no partial output;
# the next plot to the same output works. 60 epoch lines make gnuplot run long enough to be hit.
mkrun "$W/long"
/usr/bin/python3 - "$W/long/metrics.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "a") as f:
    for e in range(4, 64):
        f.write(json.dumps({"type": "epoch", "epoch": e, "train_acc": 0.9, "test_acc": 0.89, "eig": 10.0 + e % 7,
                            "eig_converged": e % 2 == 0, "batch": 512, "lr": 0.08, "grew": e % 5 == 0,
                            "grow_reason": "eig" if e % 10 == 0 else "duration" if e % 5 == 0 else "none",
                            "sgd_iters": 822 + 100 * e}) + "\n")
PY
tmp_before=$(ls -d /tmp/absa-plot-* 2>/dev/null | wc -l)
k_left=0; k_partial=0
for delay in 0 0.005 0.01 0.02 0.04 0.06 0.08 0.1 0.15 0.2 0.3 0.5; do
  rm -f "$W/k.png"
  "$ABSA" plot "$W/long" -o "$W/k.png" 2>/dev/null & kp=$!
  sleep "$delay"; kill -9 "$kp" 2>/dev/null; wait "$kp" 2>/dev/null
  sleep 0.3 # gnuplot, if it was running, finishes into its unnamed file and exits
  ls "$W"/k.png.tmp* >/dev/null 2>&1 && k_left=$((k_left + 1))
  if [ -e "$W/k.png" ] && ! head -c 8 "$W/k.png" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'; then k_partial=$((k_partial + 1)); fi
done
tmp_after=$(ls -d /tmp/absa-plot-* 2>/dev/null | wc -l)
[ "$k_left" = 0 ] && ok "kill -9 during plot x 12: no OUT.tmp* left" || bad "kill -9 during plot: $k_left runs left OUT.tmp*"
[ "$k_partial" = 0 ] && ok "kill -9 during plot: never a partial PNG" || bad "kill -9 during plot: $k_partial partial PNGs"
[ "$tmp_after" = "$tmp_before" ] && ok "kill -9 during plot: nothing left in /tmp" || bad "kill -9 during plot: $((tmp_after - tmp_before)) /tmp/absa-plot-* left"
run_plot "plot after the kills" "$W/k.png" "$ABSA" plot "$W/long" -o "$W/k.png" && ok "plot after the kills: PNG"

# --- a full disk: a 64 KiB tmpfs for the output (root; skipped where mounting is not allowed) --
mkdir -p "$W/full"
if mount -t tmpfs -o size=64k tmpfs "$W/full" 2>/dev/null; then
  head -c 40000 /dev/zero >"$W/full/filler"
  run_plot "full disk" "$W/full/p.png" "$ABSA" plot "$W/good" -o "$W/full/p.png" && \
    { [ ! -e "$W/full/p.png" ] && ok "full disk: one-line error, no output and no temporary file ($(cat "$W/err"))" \
      || bad "full disk: gnuplot's short PNG was kept as the output"; }
  head -c 64000 /dev/zero >>"$W/full/filler" 2>/dev/null
  run_plot "--script on a full disk" "$W/good3.png" "$ABSA" plot "$W/good" -o "$W/good3.png" --script "$W/full/s3.gp"
  ls "$W/full"/s3.gp* >/dev/null 2>&1 && bad "--script on a full disk left a file" || ok "--script on a full disk: no half-written script"
  umount "$W/full"
else
  echo "SKIP full-disk cases: cannot mount a tmpfs here (not root?)"
fi

tally
