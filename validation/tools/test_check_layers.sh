#!/usr/bin/env bash
# test_check_layers.sh — check_layers.sh itself: on a scratch tree it passes a downward include and
# fails (naming the file) on an upward one and on a file missing from its layer table; then the
# real tree passes. Usage: test_check_layers.sh REPO_ROOT
ROOT=$1
CHK=$ROOT/validation/tools/check_layers.sh
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$ROOT/validation/tools/testlib.sh"
mkdir -p "$W/src" "$W/hdf5_io" "$W/slurm"
printf '#include "base_sys.h"\n#include <stdio.h>\n' > "$W/src/dist_x.c"
printf '#include "absa_error.h"\n' > "$W/src/base_sys.h"
bash "$CHK" "$W" > "$W/out" && ok "downward includes pass" || bad "downward includes: $(cat "$W/out")"
printf '#include "cli_util.h"\n' > "$W/src/ucx_y.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "src/ucx_y.c (stream) includes cli_util.h (cli)" "$W/out" && ok "stream -> cli include fails" || bad "upward include (rc $rc): $(cat "$W/out")"
rm "$W/src/ucx_y.c"
printf '#include "h5reader.h"\n' > "$W/hdf5_io/h5new.c"
printf '#include "trainer_impl.h"\n' > "$W/hdf5_io/h5other.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "hdf5_io/h5other.c (io) includes trainer_impl.h (train)" "$W/out" && ! grep -q h5new "$W/out" \
  && ok "io -> train include fails, io -> io passes" || bad "io checks (rc $rc): $(cat "$W/out")"
rm "$W/hdf5_io/h5other.c"
printf '/* new */\n' > "$W/src/newthing.c"
bash "$CHK" "$W" > "$W/out"; rc=$?
[ $rc = 1 ] && grep -q "src/newthing.c: not in the layer table" "$W/out" && ok "unmapped file fails" || bad "unmapped file (rc $rc)"
bash "$CHK" "$ROOT" > "$W/out" && ok "the tree has no upward include" || { bad "the tree"; cat "$W/out"; }
tally
