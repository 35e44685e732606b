#!/usr/bin/env bash
# bench_resize.sh — cost of growing the worker set during a Fashion-MNIST ABSA run (lenet):
#   1. mpirun -np 1 with --max-ranks R (spawn backend): ranks double with the batch;
#   2. mpirun -np R (pool backend): the same with pre-launched, parked ranks;
#   3. the same run on one process (no MPI), for the time per epoch at each batch size.
# Reports, from metrics.jsonl and summary.json: every resize (training paused: merge + state
# broadcast; in the background: spawn + the new ranks' setup), the resize time as a fraction of
# the wall time (target < 0.32%, the paper's figure for ResNet-18 on ImageNet), and the time per
# epoch before and after each doubling. Writes $OUT/bench_resize.md and prints it.
# Usage: bash validation/bench/bench_resize.sh [ABSA]      (default ./build/src/absa)
# Env: RANKS (max ranks, default: cores, at least 2), EPOCHS (5), LIMIT (training samples,
#      0 = all 60000), OUT (bench-resize), EXTRA (more `absa train` flags), SKIP_SERIAL=1.
set -euo pipefail
ABSA=$(readlink -f "${1:-build/src/absa}")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../mpi/mpi_env.sh"
NCORE=$(nproc)
RANKS=${RANKS:-$(( NCORE < 2 ? 2 : NCORE ))}
EPOCHS=${EPOCHS:-5}
LIMIT=${LIMIT:-0}
OUT=${OUT:-bench-resize}
PY=${PY:-/usr/bin/python3}
mkdir -p "$OUT"
DATA=$OUT/fashion-mnist.h5
[ -f "$DATA" ] || "$ABSA" pack --format idx --output "$DATA" >/dev/null
# ABSA, batch 128 doubling after every eigenvalue epoch up to 128 x RANKS, one thread per rank
COMMON=(--data "$DATA" --model lenet --schedule absa --epochs "$EPOCHS" --batch 128 --micro-batch 128
        --max-batch $((128 * RANKS)) --lr 0.02 --duration 1 --limit-train "$LIMIT" --seed 1 --threads 1 --quiet
        ${EXTRA:-})
echo "bench_resize: lenet on Fashion-MNIST, $EPOCHS epochs, up to $RANKS ranks on $NCORE cores ($(date -u +%FT%TZ))"
t0=$(date +%s)
rm -rf "$OUT/spawn" "$OUT/pool" "$OUT/serial"
mpirun -np 1 "$ABSA" train "${COMMON[@]}" --max-ranks "$RANKS" --out "$OUT/spawn" 2>"$OUT/spawn.log"
echo "  spawn run: $(( $(date +%s) - t0 )) s"; t0=$(date +%s)
mpirun -np "$RANKS" "$ABSA" train "${COMMON[@]}" --out "$OUT/pool" 2>"$OUT/pool.log"
echo "  pool run: $(( $(date +%s) - t0 )) s"; t0=$(date +%s)
if [ "${SKIP_SERIAL:-0}" != 1 ]; then
  "$ABSA" train "${COMMON[@]}" --out "$OUT/serial" 2>"$OUT/serial.log"
  echo "  one-process run: $(( $(date +%s) - t0 )) s"
fi
"$PY" - "$OUT" "$RANKS" "$NCORE" <<'PY' | tee "$OUT/bench_resize.md"
import json, os, sys
out, ranks, ncore = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(d):
    p = os.path.join(out, d)
    if not os.path.exists(p + "/summary.json"):
        return None
    rows = [json.loads(l) for l in open(p + "/metrics.jsonl")]
    return {"summary": json.load(open(p + "/summary.json")),
            "epochs": [r for r in rows if r["type"] == "epoch"],
            "resizes": [r for r in rows if r["type"] == "resize"]}
runs = {k: load(k) for k in ("spawn", "pool", "serial")}
print("# bench_resize: growing the worker set during a Fashion-MNIST ABSA run\n")
print("lenet, ABSA, batch 128 doubling every epoch up to %d, one thread per rank, %d cores.\n" % (128 * ranks, ncore))
print("## Resize overhead (target < 0.32 % of the wall time)\n")
print("| backend | resizes | training paused (s) | in the background (s) | wall (s) | resize fraction |")
print("|---|---|---|---|---|---|")
for k in ("spawn", "pool"):
    r = runs[k]
    if not r:
        continue
    s = r["summary"]
    bg = sum(e["background_s"] for e in r["resizes"])
    print("| %s | %d | %.4f | %.3f | %.1f | %.4f %% |" % (k, s["resizes"], s["resize_total_s"], bg,
          s["wall_total_s"], 100 * s["resize_fraction"]))
print("\n## Every resize\n")
print("| backend | epoch | step | ranks | spawn (s) | new ranks' setup (s) | merge (s) | state broadcast (s) | paused (s) |")
print("|---|---|---|---|---|---|---|---|---|")
for k in ("spawn", "pool"):
    for e in (runs[k] or {}).get("resizes", []):
        print("| %s | %d | %d | %d -> %d%s | %.4f | %.4f | %.5f | %.5f | %.5f |" % (
            k, e["epoch"], e["step"], e["from"], e["to"], "" if e["ok"] else " (failed: %s)" % e["error"],
            e["spawn_s"], e["setup_wait_s"], e["merge_s"], e["bcast_s"], e["total_s"]))
print("\n## Time per epoch before and after each doubling\n")
print("Wall time of the epoch (training, eigenvalue, test); train = compute + data + allreduce of its steps.\n")
hdr = "| epoch | batch |" + "".join(" %s ranks | %s epoch (s) | %s train (s) |" % (k, k, k) for k in ("spawn", "pool") if runs[k])
if runs["serial"]:
    hdr += " 1 process epoch (s) | 1 process train (s) |"
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))
n = max(len(r["epochs"]) for r in runs.values() if r)
for i in range(n):
    ref = next(r["epochs"][i] for r in runs.values() if r)
    line = "| %d | %d |" % (ref["epoch"], ref["batch"])
    for k in ("spawn", "pool", "serial"):
        r = runs[k]
        if not r:
            continue
        e = r["epochs"][i]
        w = e["wall"]
        train = w["compute"] + w["data"] + w.get("comm", 0)
        line += (" %d | %.2f | %.2f |" % (e["ranks"], w["epoch"], train)) if k != "serial" else (" %.2f | %.2f |" % (w["epoch"], train))
    print(line)
PY
