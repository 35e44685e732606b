#!/usr/bin/env bash
# install-deps.sh — install (idempotently, as root, from Debian 12's archive) everything absa needs
# to build, run and test. Usage: bash jobscripts/install-deps.sh [--test]
#   default: build + run dependencies (compiler, CMake, OpenBLAS, HDF5, zlib, libjpeg/libpng,
#            libmatio, UCX + OpenSSL libcrypto (absa serve), Fashion-MNIST data);
#   --test:  also the test oracles (python3-torch, numpy, h5py), fuzzing tools (clang) and a
#            local Slurm (slurm-wlm, munge) for the Slurm end-to-end tests.
# apt-get is skipped entirely when every package is already installed.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev libhdf5-dev hdf5-tools zlib1g-dev
      libjpeg-dev libpng-dev libmatio-dev libucx-dev libssl-dev ucx-utils libopenmpi-dev openmpi-bin libpmix-dev gnuplot-nox dataset-fashion-mnist)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(python3 python3-torch python3-numpy python3-h5py clang libclang-rt-14-dev
        slurm-wlm slurmctld slurmd slurm-client munge)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
# 'apt-get update' once a day is enough; the lock timeout tolerates a parallel apt
[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ] || \
  apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
