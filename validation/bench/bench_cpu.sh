#!/usr/bin/env bash
# bench_cpu.sh — how close resnet20's (and lenet's) convolutions run to the cores' FMA peak
# (issue 17's target: >= 50 %, counting executed operations): bench_conv measures the FP32 FMA
# peak (AVX-512 and AVX2 register kernels) and OpenBLAS's large-sgemm rate in the same run, counts
# the operations each convolution pass really executes (Winograd's 16 transform-domain GEMMs
# where the engine takes that path) and prints the fractions; then the same shapes through
# PyTorch's oneDNN convolutions and with oneDNN off (bench_conv_torch.py: the same-run A/B of
# oneDNN against the engine); once per OpenBLAS mode (benchlib.sh). bench_conv runs twice: with its
# tensors cache-warm (the previous repetition left them in L2/L3), then with FLUSH_MB MiB written
# before each pass (default 1024; 0 skips it), so that they come from memory as in a training step.
# Usage: bash validation/bench/bench_cpu.sh [build-dir] [batch=128] [repetitions=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
. validation/bench/benchlib.sh
B=${1:-build}; N=${2:-128}; REPS=${3:-5}
[ -x "$B/validation/bench/bench_conv" ] || { echo "build bench_conv first" >&2; exit 1; }
bench_machine
for mode in $(bench_modes); do
  echo "== $(bench_label "$mode")"
  bench_run "$mode" "$B/validation/bench/bench_conv" "$N" "$REPS"
  if [ "${FLUSH_MB:-1024}" != 0 ]; then # again with the tensors coming from memory, as in a training step
    BENCH_CONV_FLUSH_MB=${FLUSH_MB:-1024} bench_run "$mode" "$B/validation/bench/bench_conv" "$N" "$REPS" | grep -E 'flushed|^total|FMA peak|convs'
  fi
  bench_run "$mode" /usr/bin/python3 validation/bench/bench_conv_torch.py --batch "$N" --reps "$REPS"
done
echo "after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
