#!/usr/bin/env bash
# device-check.sh — the CUDA back end on a lent GPU machine, in at most 5 minutes, ending with a
# summary table. The machine has no internet, its own CUDA libraries and a CUDA PyTorch, but not
# absa's Debian libraries (OpenBLAS, HDF5, UCX, Open MPI...). Build, in order of preference:
#   A. here, with the machine's nvcc: MPI, UCX and matio off, the CUDA architecture of the GPU
#      present (explicit, e.g. 90-real). Needs OpenBLAS, HDF5 (serial), zlib, libjpeg, libpng
#      development files on the machine; without them configure fails and B is tried;
#   B. the carried bundle build-device/bundle.tar.xz (validation/gpu/make-device-bundle.sh, run on
#      the build machine; carry=["build-device"]): absa, the test binaries, OpenBLAS, HDF5 & co.; needs CUDA-13-compatible
#      cuBLAS, cuDNN 9 and NCCL 2 libraries on the machine (torch's nvidia/*/lib dirs are added).
# Steps: 1 layer test; 2 models vs the CPU engine (+ two runs bitwise); 3 NCCL init, float and
# int64-limb allreduce (one rank), three timed rebuilds (their times printed); 4 compute-sanitizer memcheck on the layer test; 5 throughput (train step,
# gradient, HVP) of `absa bench --device cuda` and PyTorch eager on the same GPU.
# Usage: bash validation/gpu/device-check.sh     (from anywhere; writes under build-devchk/)
#        ABSA_DEVCHK_BUNDLE=1 ... skips path A (tests the bundle)
set -u
cd "$(dirname "$0")/../.."
T0=$(date +%s)
OUT=build-devchk
mkdir -p "$OUT"
declare -a ROWS
row() { ROWS+=("$(printf '%-32s %-8s %s' "$1" "$2" "$3")"); }
elapsed() { echo $(( $(date +%s) - T0 )); }

echo "== device =="
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -4
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
ARCH=${CAP:-90}-real
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
[ -n "${ABSA_DEVCHK_BUNDLE:-}" ] && NVCC="" # force path B (to test the bundle)
PY=$(for p in python3 /usr/bin/python3 python; do command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null && { command -v "$p"; break; }; done)
echo "nvcc: ${NVCC:-none}; python with torch: ${PY:-none}; arch: $ARCH"

BIN="" ABSA=""
echo "== build =="
if [ -n "$NVCC" ] && command -v cmake >/dev/null; then
  if timeout 150 bash -c "cmake -S . -B $OUT/build -DCMAKE_BUILD_TYPE=Release -DABSA_WERROR=OFF \
       -DABSA_WITH_MPI=OFF -DABSA_WITH_UCX=OFF -DABSA_WITH_MATIO=OFF -DABSA_WITH_CUDA=ON \
       -DCMAKE_CUDA_COMPILER=$NVCC -DABSA_CUDA_ARCHS=$ARCH >$OUT/cmake.log 2>&1 &&
       cmake --build $OUT/build -j\$(nproc) --target absa test_gpu_probe test_gpu_layers test_gpu_models \
       test_nccl_device >$OUT/build.log 2>&1"; then
    BIN=$OUT/build/validation/gpu
    ABSA=$OUT/build/src/absa
    row "build" "ok" "A: built here with $NVCC for $ARCH ($(elapsed) s)"
  else
    tail -5 "$OUT/cmake.log" "$OUT/build.log" 2>/dev/null
  fi
fi
if [ -z "$BIN" ] && [ -f build-device/bundle.tar.xz ]; then
  rm -rf "$OUT/bundle" && mkdir -p "$OUT/bundle" && tar -C "$OUT/bundle" -xJf build-device/bundle.tar.xz
  BIN=$OUT/bundle/bin
  ABSA=$OUT/bundle/bin/absa
  extra=$(${PY:-false} -c 'import os, glob, nvidia; r=os.path.dirname(nvidia.__path__[0]); print(":".join(glob.glob(r+"/nvidia/*/lib")))' 2>/dev/null || true)
  export LD_LIBRARY_PATH=$PWD/$OUT/bundle/lib${extra:+:$extra}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  if ldd "$BIN/test_gpu_layers" | grep -q "not found"; then
    ldd "$BIN/test_gpu_layers" | grep "not found"
    row "build" "FAIL" "B: carried bundle, but libraries are missing (ldd above)"
    BIN=""
  else
    row "build" "ok" "B: carried bundle build-device/bundle.tar.xz"
  fi
fi
[ -z "$BIN" ] && [ ${#ROWS[@]} -eq 0 ] && row "build" "FAIL" "no nvcc+cmake build and no build-device/bundle.tar.xz"

# run_step NAME TIMEOUT CMD...: a row from the exit code (0 ok, 77 skip, else FAIL)
run_step() {
  local name=$1 t=$2 rc log
  shift 2
  log="$OUT/step-${name%% *}.log"
  if [ -z "$BIN" ]; then row "$name" "not run" "no build"; return; fi
  echo "== $name =="
  timeout "$t" "$@" >"$log" 2>&1
  rc=$?
  tail -25 "$log"
  case $rc in
    0) row "$name" "ok" "$(grep -E 'checks|ERROR SUMMARY' "$log" | tail -1)" ;;
    77) row "$name" "skipped" "$(grep -m1 skipped "$log")" ;;
    124) row "$name" "FAIL" "timed out after $t s" ;;
    *) row "$name" "FAIL" "exit $rc ($(grep -m1 -E 'FAIL|FATAL|error' "$log"))" ;;
  esac
}

run_step "1 layers (f64 1e-12, f32 1e-5)" 60 "$BIN/test_gpu_layers"
run_step "2 models cuda vs cpu, bitwise" 90 "$BIN/test_gpu_models"
run_step "3 nccl init/allreduce/rebuild" 60 "$BIN/test_nccl_device"
NT=$(grep -h '"nccl_generation"' "$OUT/step-3.log" 2>/dev/null | sed -E 's/.*"nccl_generation": ([0-9]+).*"init_s": ([0-9.]+).*"destroy_s": ([0-9.]+).*/gen \1 init \2 s destroy \3 s;/' | tr '\n' ' ')
[ -n "$NT" ] && row "3b nccl rebuild times" "info" "$NT"
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
if [ -n "$SAN" ]; then
  run_step "4 memcheck layer test" 120 "$SAN" --tool memcheck --error-exitcode 9 "$BIN/test_gpu_layers"
else
  row "4 memcheck layer test" "not run" "no compute-sanitizer on this machine"
fi
echo "== 5 throughput =="
T5=""
if [ -n "$BIN" ] && [ "$(elapsed)" -lt 260 ]; then
  for m in resnet20 lenet; do
    a=$(timeout 30 "$ABSA" bench --device cuda --model $m --batch 128 --steps 20 --threads 4 2>&1 | tail -1)
    t=$( [ -n "$PY" ] && timeout 40 "$PY" validation/gpu/torch_cuda_peer.py --model $m --batch 128 --steps 20 2>&1 | tail -1)
    echo "$a"; echo "$t"
    T5+="$m absa: $(sed -E 's/.*"step_images_per_s": ([0-9.]+).*"hvp_over_grad": ([0-9.]+).*/\1 img\/s, hvp\/grad \2/' <<<"$a"); "
    T5+="torch: $(sed -E 's/.*"step_images_per_s": ([0-9.]+).*"hvp_over_grad": ([0-9.]+).*/\1 img\/s, hvp\/grad \2/' <<<"${t:-none}"). "
  done
  row "5 throughput (batch 128)" "info" "$T5"
else
  row "5 throughput (batch 128)" "not run" "no build or out of time"
fi

echo
echo "== device-check summary ($(elapsed) s) =="
printf '%-32s %-8s %s\n' "step" "result" "detail"
for r in "${ROWS[@]}"; do echo "$r"; done
