#!/usr/bin/env bash
# test_check_layers.sh — check_layers.sh itself: on a scratch tree it passes a downward include and
# fails (naming the file) on an upward one, on an include between two folders that do not link
# each other, and on a file outside the layer folders; then the real tree passes.
# Usage: test_check_layers.sh REPO_ROOT
ROOT=$1
CHK=$ROOT/validation/tools/check_layers.sh
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$ROOT/validation/tools/testlib.sh"
mkdir -p "$W/src/base" "$W/src/dist" "$W/src/stream" "$W/src/cli" "$W/hdf5_io" "$W/slurm" "$W/src/train"
printf '#include "base_sys.h"\n#include <stdio.h>\n' > "$W/src/dist/dist_x.c"
printf '#include "absa_error.h"\n' > "$W/src/base/base_sys.h"
printf '/* */\n' > "$W/src/cli/cli_util.h"
printf '/* */\n' > "$W/src/train/trainer_impl.h"
printf '/* */\n' > "$W/src/dist/dist.h"
printf '/* */\n' > "$W/hdf5_io/h5reader.h"
bash "$CHK" "$W" > "$W/out" && ok "downward includes pass" || bad "downward includes: $(cat "$W/out")"
printf '#include "cli_util.h"\n' > "$W/src/stream/ucx_y.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "src/stream/ucx_y.c (stream) includes cli_util.h (cli)" "$W/out" && ok "stream -> cli include fails" || bad "upward include (rc $rc): $(cat "$W/out")"
rm "$W/src/stream/ucx_y.c"
printf '#include "dist.h"\n' > "$W/src/stream/ucx_z.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "src/stream/ucx_z.c (stream) includes dist.h (dist)" "$W/out" && ok "stream -> dist (not linked) fails" || bad "sideways include (rc $rc): $(cat "$W/out")"
rm "$W/src/stream/ucx_z.c"
printf '#include "h5reader.h"\n' > "$W/hdf5_io/h5new.c"
printf '#include "trainer_impl.h"\n' > "$W/hdf5_io/h5other.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "hdf5_io/h5other.c (hdf5_io) includes trainer_impl.h (train)" "$W/out" && ! grep -q h5new "$W/out" \
  && ok "hdf5_io -> train include fails, hdf5_io -> hdf5_io passes" || bad "hdf5_io checks (rc $rc): $(cat "$W/out")"
rm "$W/hdf5_io/h5other.c"
printf '/* new */\n' > "$W/src/newthing.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "src/newthing.c: not in a layer folder" "$W/out" && ok "file outside the layer folders fails" || bad "unplaced file (rc $rc): $(cat "$W/out")"
bash "$CHK" "$ROOT" > "$W/out" && ok "the tree has no upward include" || { bad "the tree"; cat "$W/out"; }
tally
