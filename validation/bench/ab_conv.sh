#!/usr/bin/env bash
# ab_conv.sh — a conv engine change, old build against new, per layer: runs bench_conv (batch 128,
# 7 repetitions, tensors cache-warm) of the OLD and the NEW build directory alternately ROUNDS
# times, in the same minutes (a shared host's speed drifts), and prints per shape the medians of
# forward + backward and of R-forward + R-backward with the engine each build took, the resnet20
# conv total, and the fractions of the FMA peak bench_conv prints (issue 17's metric).
# Usage: bash validation/bench/ab_conv.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds=3]
# e.g. git worktree add --detach /tmp/old HEAD~1 && cmake -S /tmp/old -B /tmp/old/build
#      -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/old/build -j2 --target bench_conv, then
#      bash validation/bench/ab_conv.sh /tmp/old/build build 3
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [ $# -lt 2 ]; then
  echo "usage: bash validation/bench/ab_conv.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds=3] (--help)" >&2
  exit 2
fi
OLD=$1; NEW=$2; ROUNDS=${3:-3}; PY=/usr/bin/python3
for b in "$OLD" "$NEW"; do
  [ -x "$b/validation/bench/bench_conv" ] || { echo "ab_conv.sh: $b/validation/bench/bench_conv is missing (build target bench_conv)" >&2; exit 1; }
done
case "$ROUNDS" in ''|*[!0-9]*|0) echo "ab_conv.sh: rounds must be a positive integer, not '$ROUNDS'" >&2; exit 2;; esac
raw=$(mktemp /tmp/ab_conv.XXXXXX); trap 'rm -f "$raw"' EXIT
for r in $(seq "$ROUNDS"); do
  for w in old new; do
    b=$OLD; [ $w = new ] && b=$NEW
    echo "round $r/$ROUNDS: $w ($b)" >&2
    "$b/validation/bench/bench_conv" 128 7 2>&1 | awk -v w=$w '
      /^(lenet|resnet20) +[^ ]/ && !/convs/ {printf "%s|%s %s %s|%s|%s|%s\n", w, $1, $2, $3, $(NF-4), $(NF-3), $NF}
      /convs fwd\+bwd +executed/ {printf "%s|%s fraction of peak, fwd+bwd (%%)|%s|0|\n", w, $1, $8}
      /convs Rfwd\+Rbwd executed/ {printf "%s|%s fraction of peak, R passes (%%)|%s|0|\n", w, $1, $8}
      /^total resnet20/ {printf "%s|resnet20 total (ms)|%s|%s|\n", w, $5, $8}' >> "$raw"
  done
done
"$PY" - "$raw" <<'PY'
import collections, statistics as st, sys
d = collections.defaultdict(lambda: collections.defaultdict(list))
eng, order = {}, []
for line in open(sys.argv[1]):
    w, k, a, b, e = line.rstrip("\n").split("|")
    if k not in order:
        order.append(k)
    d[k][w].append((float(a), float(b)))
    if e:
        eng[(k, w)] = e
print(f"{'shape':40s} {'old':>9s} {'new':>9s} {'new/old':>7s} | {'R old':>9s} {'R new':>9s}  engines")
for k in order:
    o, n = d[k]["old"], d[k]["new"]
    if not o or not n:
        continue
    mo, mn = st.median(x[0] for x in o), st.median(x[0] for x in n)
    ro, rn = st.median(x[1] for x in o), st.median(x[1] for x in n)
    r = f"{ro:9.3f} {rn:9.3f}" if ro or rn else " " * 19
    e = f"{eng.get((k, 'old'), '')} -> {eng.get((k, 'new'), '')}" if (k, "old") in eng else ""
    print(f"{k:40s} {mo:9.3f} {mn:9.3f} {mn / mo:7.2f} | {r}  {e}")
PY
