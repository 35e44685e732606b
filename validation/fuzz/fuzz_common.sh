# fuzz_common.sh — sourced by run_fuzz.sh and ucx_run_fuzz.sh: builds one libFuzzer target with
# clang-14 + ASan/UBSan against the given absa sources and runs it on its corpus.
# absa_fuzz NAME CORPUS CRASHES SEEDS_PY MAX_LEN SECONDS SOURCE...
#   NAME      the binary (in $ABSA_FUZZ_BUILD, default /tmp/absa_NAME_build)
#   CORPUS    kept inputs (seeded by SEEDS_PY when empty); CRASHES: where crashes land
#   SOURCE... the harness first, then the absa sources (paths relative to the repository root)
# Exit 0 = no crash within SECONDS. ABSA_FUZZ_SCRATCH=DIR: work on a copy of the corpus in DIR
# (new inputs and crashes land there, not in the source tree).
absa_fuzz() {
  name=$1 corpus=$2 crashes=$3 seeds=$4 maxlen=$5 secs=$6
  shift 6
  here=$(cd "$(dirname "$0")" && pwd)
  root=$(cd "$here/../.." && pwd)
  out=${ABSA_FUZZ_BUILD:-/tmp/absa_${name}_build}
  mkdir -p "$out" "$here/$corpus" "$here/$crashes"
  [ -n "$(ls -A "$here/$corpus")" ] || /usr/bin/python3 "$here/$seeds"
  cdir=$here/$corpus adir=$here/$crashes
  if [ -n "${ABSA_FUZZ_SCRATCH:-}" ]; then # a copy of the corpus: the source tree stays as it is (CTest)
    cdir=$ABSA_FUZZ_SCRATCH/$corpus adir=$ABSA_FUZZ_SCRATCH/$crashes
    mkdir -p "$cdir" "$adir" && cp "$here/$corpus"/* "$cdir"/
  fi
  srcs= incs="-I$root/src/base" # each source's own folder is on the include path (its layer)
  for f in "$@"; do srcs="$srcs $root/$f"; incs="$incs -I$(dirname "$root/$f")"; done
  # shellcheck disable=SC2086
  clang-14 -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DABSA_VERSION=\"fuzz\" \
    $incs $(pkg-config --cflags hdf5-serial) $srcs \
    -o "$out/$name" $(pkg-config --libs hdf5-serial zlib) \
    -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5_hl -lm
  "$out/$name" -max_total_time="$secs" -max_len="$maxlen" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$adir/" "$cdir"
}
