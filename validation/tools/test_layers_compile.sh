#!/usr/bin/env bash
# test_layers_compile.sh — the build itself refuses an upward include: for each library given,
# a one-line file in its layer that includes a header of a layer above it must fail to compile
# with exactly that library's include directories (read from the CMake target, so the rule
# tested is the build's), while a file including a header of its own or a lower layer compiles.
# Usage: test_layers_compile.sh CC  LIB DIRS(colon-separated) DOWN_HEADER UP_HEADER  [LIB ...]
CC=$1; shift
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/testlib.sh"
compile() { # compile DIRS HEADER: status of compiling `#include "HEADER"` with those -I
  local IFS=: flags=() d
  for d in $1; do [ -n "$d" ] && flags+=("-I$d"); done
  printf '#include "%s"\nint absa_layers_probe;\n' "$2" > "$W/probe.c"
  "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fsyntax-only "${flags[@]}" "$W/probe.c" 2> "$W/err"
}
while [ $# -ge 4 ]; do
  lib=$1 dirs=$2 down=$3 up=$4; shift 4
  compile "$dirs" "$down" && ok "$lib: #include \"$down\" compiles" || bad "$lib: #include \"$down\": $(head -1 "$W/err")"
  if compile "$dirs" "$up"; then bad "$lib: #include \"$up\" (a higher layer) compiled"
  elif grep -q "$up: No such file" "$W/err"; then ok "$lib: #include \"$up\" fails (header not found)"
  else bad "$lib: #include \"$up\" failed for another reason: $(head -1 "$W/err")"; fi
done
tally
