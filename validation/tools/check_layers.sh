#!/usr/bin/env bash
# check_layers.sh — enforces the include order of the layers (docs: base < engine < method < io <
# dist < stream < train < cli): every source file of src/, hdf5_io/ and slurm/ is mapped to its
# layer by the table below, and an `#include "x.h"` of a header in a higher layer is an error.
# A file that the table does not map is an error too, so a new file must be placed.
# Usage: check_layers.sh [REPO_ROOT] [--list]   (--list: print the violations and exit 0)
# Exit 0 when no include points up, 1 otherwise (one line per violation on stdout).
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
list=0
[ "${2:-}" = --list ] && list=1
cd "$root" || { echo "check_layers: cannot enter $root"; exit 1; }

rank() { # layer name -> number
  case $1 in
    base) echo 0 ;; engine) echo 1 ;; method) echo 2 ;; io) echo 3 ;; dist) echo 4 ;;
    stream) echo 5 ;; train) echo 6 ;; cli) echo 7 ;; *) echo 99 ;;
  esac
}
layer() { # file name (no directory) -> layer; the first matching row wins
  case $1 in
    absa_error.* | absa_blas.h | absa_generic.h | rng.* | tmpfiles.* | exact_sum.* | base_*) echo base ;;
    cmd_* | main.c | cli.h | cli_*) echo cli ;;
    layers.h | layers_decl.h | bn.c | bn_impl.h | conv*.[ch] | linear.c | \
      linear_impl.h | pointwise.c | pointwise_impl.h | pool.c | pool_impl.h | xent.c | xent_impl.h | \
      model.h | model_*.[ch] | models.c | backend*) echo engine ;;
    curvature.* | fgsm.* | optim.* | schedule.*) echo method ;;
    checkpoint.* | dataset.* | h5* | image_decode.* | cifar_py.* | pack_*) echo io ;;
    dist_train.*) echo train ;;
    dist.* | dist_* | absa_slurm.h | slurm_*) echo dist ;;
    ucx_*) echo stream ;;
    train_* | trainer*) echo train ;;
    *) echo unknown ;;
  esac
}

bad=0
for f in src/*.[ch] hdf5_io/*.[ch] slurm/*.[ch]; do
  [ -e "$f" ] || continue
  from=$(layer "$(basename "$f")")
  if [ "$from" = unknown ]; then
    echo "$f: not in the layer table (validation/tools/check_layers.sh)"
    bad=$((bad + 1))
    continue
  fi
  while IFS= read -r inc; do
    to=$(layer "$inc")
    [ "$to" = unknown ] && continue # a system or third-party header
    if [ "$(rank "$to")" -gt "$(rank "$from")" ]; then
      echo "$f ($from) includes $inc ($to)"
      bad=$((bad + 1))
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | xargs -rn1 basename)
done
echo "check_layers: $bad upward include(s)"
[ "$list" = 1 ] && exit 0
[ "$bad" = 0 ]
