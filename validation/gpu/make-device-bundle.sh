#!/usr/bin/env bash
# make-device-bundle.sh — run HERE (the Debian build machine), before a device check: copies the
# absa binary and the GPU test binaries of a CUDA build and the non-system libraries they need
# (OpenBLAS OpenMP build, libgfortran, libgomp, libstdc++, HDF5, Open MPI, UCX...) into
# build-device/bundle.tar.xz (bin/, lib/; xz brings about 75 MiB under the 64 MiB a device run
# may carry; an ignored path: pass carry=["build-device"]). The CUDA libraries (cuBLAS 13, cuDNN 9, NCCL 2) are NOT carried (too
# big): device-check.sh uses this bundle only when the device cannot build, and then needs
# CUDA-13-compatible cuBLAS/cuDNN/NCCL there.
# The binaries come from a slim CUDA build without MPI, UCX and matio (build-devslim/, configured
# here on first use) so that the bundle stays under 64 MiB.
# Usage: bash validation/gpu/make-device-bundle.sh [build-dir]   (default: build-devslim)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-devslim}
if [ ! -f "$B/CMakeCache.txt" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DABSA_WERROR=ON -DABSA_WITH_CUDA=ON -DABSA_WITH_MPI=OFF \
    -DABSA_WITH_UCX=OFF -DABSA_WITH_MATIO=OFF -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null
fi
T=(test_gpu_probe test_gpu_conv_shapes test_gpu_layers test_gpu_models test_nccl_device)
cmake --build "$B" -j2 --target absa "${T[@]}" >/dev/null
S=$B/bundle
rm -rf "$S" build-device
mkdir -p "$S/bin" "$S/lib" build-device
for t in "${T[@]}"; do cp "$B/validation/gpu/$t" "$S/bin/"; done
cp "$B/src/absa" "$S/bin/"
T+=(absa)
for t in "${T[@]}"; do ldd "$S/bin/$t"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" "$S/lib/"; done
echo "bundle: $(du -sh "$S" | cut -f1) in $(ls "$S/lib" | wc -l) libraries: $(ls "$S/lib" | tr '\n' ' ')"
tar -C "$S" -cf - bin lib | xz -6 -T2 >build-device/bundle.tar.xz
size=$(du -sm build-device | cut -f1)
if [ "$size" -gt 64 ]; then echo "make-device-bundle.sh: ${size} MiB > 64 MiB: too big to carry" >&2; exit 1; fi
echo "carry: build-device (bundle.tar.xz, ${size} MiB)"
