# benchlib.sh — sourced by the benchmark scripts of validation/bench/ that compare absa with
# PyTorch: the machine line and the OpenBLAS modes. Issue 17: some machines export
# OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) for old OpenBLAS builds, which makes absa run an older
# kernel than the CPU's own; benchmarks report both the environment as it is and, for the
# benchmark command alone, both variables unset (what a user's node runs by default).
# Both sides run with OMP_WAIT_POLICY=passive unless the caller set a policy (absa's own default;
# spinning OpenMP workers make PyTorch 5x slower and more on a shared machine: docs/benchmarks.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# "CPU model, cores, load average" for the report
bench_machine() {
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# the modes to run: "env" (as exported) and, when the environment sets either variable, "unset"
bench_modes() {
  if [ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ]; then echo "env unset"; else echo "env"; fi
}

# bench_label MODE: what the mode means on this machine
bench_label() {
  if [ "$1" = unset ]; then echo "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"
  else echo "environment as exported (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset})"; fi
}

# bench_run MODE CMD...: run CMD in the mode
bench_run() {
  local mode=$1; shift
  if [ "$mode" = unset ]; then env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; else "$@"; fi
}

# bench_kernel MODE ABSA: the OpenBLAS kernel absa runs in the mode (OPENBLAS_VERBOSE=2 prints a
# "Core:" line per process image: the last one is the image that runs, after absa's re-run on a
# CPU OpenBLAS does not know, docs/engine.md; "(OpenBLAS picked X)" then says what it replaced)
bench_kernel() {
  local cores; cores=$(bench_run "$1" env OPENBLAS_VERBOSE=2 "$2" --version 2>&1 | sed -n 's/^Core: //p')
  local first last; first=$(echo "$cores" | head -1); last=$(echo "$cores" | tail -1)
  if [ "$first" != "$last" ]; then echo "$last (OpenBLAS picked $first; absa re-ran with OPENBLAS_CORETYPE=$last)"
  else echo "$last"; fi
}
