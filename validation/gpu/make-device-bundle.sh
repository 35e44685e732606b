#!/usr/bin/env bash
# make-device-bundle.sh — run HERE (the Debian build machine), before a device check: copies the
# GPU test binaries of a CUDA build and the non-system libraries they need (OpenBLAS OpenMP
# build, libgfortran, libgomp, libquadmath, libstdc++; HDF5 etc. only if linked) into
# build-device/{bin,lib} (an ignored path, under the 64 MiB a device run may carry: pass
# carry=["build-device"]). The CUDA libraries (cuBLAS 13, cuDNN 9, NCCL 2) are NOT carried (too
# big): device-check.sh uses this bundle only when the device cannot build, and then needs
# CUDA-13-compatible cuBLAS/cuDNN/NCCL there.
# Usage: bash validation/gpu/make-device-bundle.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
T=(test_gpu_probe test_gpu_conv_shapes test_gpu_layers test_gpu_models test_nccl_device)
cmake --build "$B" -j2 --target "${T[@]}" >/dev/null
rm -rf build-device
mkdir -p build-device/bin build-device/lib
for t in "${T[@]}"; do cp "$B/validation/gpu/$t" build-device/bin/; done
cp validation/gpu/torch_cuda_peer.py build-device/bin/
for t in "${T[@]}"; do ldd "build-device/bin/$t"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" build-device/lib/; done
du -sh build-device
ls build-device/lib
size=$(du -sm build-device | cut -f1)
if [ "$size" -gt 64 ]; then echo "make-device-bundle.sh: ${size} MiB > 64 MiB: too big to carry" >&2; exit 1; fi
echo "carry: build-device (${size} MiB)"
