#!/usr/bin/env bash
# check_layers.sh — the include graph of the layers, checked on the sources (docs/ARCHITECTURE.md).
# The layer of a file is its folder; each folder may include its own headers and those of the
# folders it links (the table below mirrors src/CMakeLists.txt, where each folder is a library
# that exports only its own folder, so an upward include also fails to compile). An `#include
# "x.h"` of a header of a folder not below is an error; so is a source file in a folder that the
# graph does not know (e.g. a new file left in src/ itself: move it to its layer folder).
# Usage: check_layers.sh [REPO_ROOT] [--list]   (--list: print the violations and exit 0)
# Exit 0 when no include points up, 1 otherwise (one line per violation on stdout).
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
list=0
[ "${2:-}" = --list ] && list=1
cd "$root" || { echo "check_layers: cannot enter $root"; exit 1; }

folders="src/base slurm hdf5_io src/engine src/engine/cpu gpu src/engine/registry src/method src/io
         src/dist src/stream src/train src/cli"
links() { # folder -> the folders it links directly (src/CMakeLists.txt, gpu/CMakeLists.txt)
  case $1 in
    src/base) echo "" ;;
    slurm | hdf5_io | src/engine) echo src/base ;;
    src/engine/cpu | src/method) echo src/engine ;;
    src/dist) echo src/engine/registry ;;
    gpu) echo src/engine/cpu ;;
    src/engine/registry) echo src/engine/cpu gpu ;;
    src/io) echo src/method hdf5_io ;;
    src/stream) echo hdf5_io ;;
    src/train) echo src/engine/registry src/io src/dist src/stream ;;
    src/cli) echo src/train slurm ;;
    *) echo "?" ;;
  esac
}
below() { # folder -> every folder it may include (itself and all it links, transitively)
  local out=" $1 " todo=$1 f d
  while [ -n "$todo" ]; do
    set -- $todo; f=$1; shift; todo="$*"
    for d in $(links "$f"); do
      case $out in *" $d "*) ;; *) out="$out$d "; todo="$todo $d" ;; esac
    done
  done
  echo "$out"
}
name() { echo "${1#src/}"; } # folder -> layer name in messages
declare -A home allowed
for d in $folders; do
  allowed[$d]=$(below "$d")
  for h in "$d"/*.h "$d"/*.cuh "$d"/*.def; do [ -e "$h" ] && home[$(basename "$h")]=$d; done
done

bad=0
for f in src/*.[ch] src/*/*.[ch] src/*/*.def src/*/*/*.[ch] hdf5_io/*.[ch] slurm/*.[ch] \
         gpu/*.[ch] gpu/*.cu gpu/*.cuh; do
  [ -e "$f" ] || continue
  from=$(dirname "$f")
  if [ "$(links "$from")" = "?" ]; then
    echo "$f: not in a layer folder (validation/tools/check_layers.sh, docs/ARCHITECTURE.md)"
    bad=$((bad + 1))
    continue
  fi
  while IFS= read -r inc; do
    to=${home[$inc]:-}
    [ -z "$to" ] && continue # a system or third-party header
    case ${allowed[$from]} in
      *" $to "*) ;;
      *) echo "$f ($(name "$from")) includes $inc ($(name "$to"))"; bad=$((bad + 1)) ;;
    esac
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | xargs -rn1 basename)
done
echo "check_layers: $bad upward include(s)"
[ "$list" = 1 ] && exit 0
[ "$bad" = 0 ]
