#!/bin/bash
# bench_ucx.sh [BUILD_DIR] — server-to-client throughput of `absa serve` for batches of about
# 1, 4 and 16 MiB over tcp and over shared memory, each printed beside `ucx_perftest -t
# ucp_am_bw` at the same message size and UCX_TLS in the same run, with the ratio (target >= 0.8).
#
# Our number: one bench_ucx client (validation/bench/bench_ucx.c) takes batches with the default
# prefetch ring and commits each at once (no compute), for SECS seconds after a warm-up; the
# server gathers every batch from RAM (random sample order, 3x64x64 samples) and sends it as one
# UCP active message. The payload counted is what arrives: ranges + ids + labels + images.
# ucx_perftest (-t ucp_am_bw): the same payload size, -n ITERS messages (SECS x 4 GiB in total, so
# that it runs about as long as absa's measurement), UCX's own out-of-band connection, three ways:
#   "pt -e sleep" -e -I -E sleep: endpoints with peer error handling and a wakeup-capable context,
#                 progress blocking on the worker's event fd: configured as issue 6 requires absa
#                 serve and its client to be (peer error handling; no spinning core), so the SAME
#                 transport lanes (in UCX 1.13 peer error handling excludes the shared-memory
#                 transports, so with -e both run over tcp even when UCX_TLS offers sm) and the
#                 same progress mode. This is the reference of the target: absa >= 0.8 x it
#                 ("ratio", ">=0.8?").
#   "pt -e"       -e -I, both processes polling (each spins a core): the same lanes, but a
#                 progress mode absa may not use. Its sender never pays for waking a sleeping
#                 receiver (about 12 % of a blocking sender's time on loopback); printed with
#                 its ratio ("vs poll") for information.
#   "pt plain"    no error handling, polling: the best UCX can do with UCX_TLS (shared memory
#                 for sm,tcp) — a transport absa serve cannot use (for information).
# ucx_perftest moves one cache-resident buffer over and over; absa
# serve gathers fresh samples from RAM for every batch. Loopback only. MiB/s (2^20 bytes/s).
#
# The four measurements of a row take turns (absa, pt -e, pt -e sleep, pt plain, then again), REPEAT
# rounds, and each column keeps its best round: load from other jobs on a small shared machine then
# falls on all of them alike instead of on whichever ran during a busy spell.
#
# Environment: SECS (default 3, whole seconds), PREFETCH (default 3), SIZES_MIB (default "1 4 16"),
# TLS_LIST (default "tcp sm,tcp"; the listener needs tcp in UCX_TLS, so shared memory is
# measured as "sm,tcp": UCX uses shm/cma lanes for data between processes of one host),
# ABSA_SERVE (a binary taking "serve ARGS", default BUILD_DIR/validation/ucx/ucx_serve_driver;
# `absa` once the subcommand is dispatched), REPEAT (default 5 rounds; ucx_perftest's polling
# processes are very sensitive to other load on a small machine).
set -eu
build=${1:-build}
serve=${ABSA_SERVE:-$build/validation/ucx/ucx_serve_driver}
bench=$build/validation/ucx/bench_ucx
secs=${SECS:-3}
prefetch=${PREFETCH:-3}
sizes=${SIZES_MIB:-"1 4 16"}
tls_list=${TLS_LIST:-"tcp sm,tcp"}
repeat=${REPEAT:-5}
for b in "$serve" "$bench"; do [ -x "$b" ] || { echo "missing $b (build the ucx_serve_driver and bench_ucx targets)" >&2; exit 1; }; done
command -v ucx_perftest >/dev/null || { echo "ucx_perftest not found (apt install ucx-utils)" >&2; exit 1; }
export UCX_NET_DEVICES=lo UCX_WARN_UNUSED_ENV_VARS=n UCX_TCP_CM_REUSEADDR=y
work=$(mktemp -d /tmp/bench_ucx.XXXXXX)
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
C=3 H=64 W=64
sample=$((C * H * W))
count=32768 # 384 MiB of images: 24 batches of 16 MiB per epoch
"$bench" fixture "$work/data.h5" $count $C $H $W
head -c 32 /dev/urandom | base64 >"$work/secret"
chmod 600 "$work/secret"
export ABSA_SECRET=$(cat "$work/secret")
nmax=0
for s in $sizes; do n=$(((s * 1048576 - 16) / (sample + 12))); [ $n -gt $nmax ] && nmax=$n; done

perftest() { # perftest TLS BYTES [FLAGS] -> MiB/s (about SECS seconds of transfer at 4 GiB/s)
    local port=$((20000 + RANDOM % 20000)) iters=$((secs * 4294967296 / $2))
    [ $iters -lt 50 ] && iters=50
    UCX_TLS=$1 timeout 120 ucx_perftest -p $port ${3:-} >/dev/null 2>&1 &
    local p=$!
    sleep 0.5
    UCX_TLS=$1 timeout 120 ucx_perftest 127.0.0.1 -p $port -t ucp_am_bw -s "$2" -n $iters -w 10 ${3:-} 2>/dev/null |
        awk '/^Final:/ {print $7}'
    wait $p 2>/dev/null || true
}
best() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { print (a + 0 > b + 0 ? a + 0 : b + 0) }'; } # the larger (empty = 0)
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"n/a\" }"; } # A / B to 2 decimals
printf "%-7s %9s %5s %7s %11s %6s %-8s %7s %7s %8s %6s\n" "UCX_TLS" "bytes" "n" "absa" "pt -e sleep" "ratio" ">=0.8?" "pt -e" "vs poll" "pt plain" "ratio"
for tls in $tls_list; do
    export UCX_TLS=$tls
    rm -f "$work/addr"
    "$serve" serve --data "$work/data.h5" --secret-file "$work/secret" --address-file "$work/addr" \
        --batch-max $nmax --memory-budget 1024 --quiet 2>"$work/server.log" &
    srv_pid=$!
    for _ in $(seq 300); do [ -s "$work/addr" ] && break; sleep 0.05; done
    url=$(cat "$work/addr")
    for s in $sizes; do
        n=$(((s * 1048576 - 16) / (sample + 12)))
        best=0 bbytes=$(((s * 1048576 - 16) / (sample + 12) * (sample + 12) + 16)) pe=0 ps=0 pp=0
        # the four measurements take turns, REPEAT rounds, so that load from other jobs on this
        # small machine hits each of them alike; each column keeps its best round
        for _ in $(seq $repeat); do
            line=$("$bench" stream "$url" $n $secs $prefetch)
            r=$(echo "$line" | sed 's/.*MiBps=\([0-9.]*\).*/\1/')
            best=$(best "$r" "$best")
            pe=$(best "$(perftest "$tls" "$bbytes" "-e -I")" "$pe")
            ps=$(best "$(perftest "$tls" "$bbytes" "-e -I -E sleep")" "$ps")
            pp=$(best "$(perftest "$tls" "$bbytes" "")" "$pp")
        done
        r1=$(ratio "$best" "$ps") r2=$(ratio "$best" "$pe") r3=$(ratio "$best" "$pp")
        # a blocking perftest below 3/4 of the polling one hit a busy spell in every round (it
        # is 0.86-0.93 of it otherwise): its ratio would flatter absa, so the row says so
        met=$(awk "BEGIN{ if ($ps <= 0) print \"n/a\"; else if ($ps < 0.75 * $pe) print \"ref low\"; else print ($best >= 0.8 * $ps ? \"met\" : \"NOT met\") }")
        printf "%-7s %9s %5s %7.0f %11.0f %6s %-8s %7.0f %7s %8.0f %6s\n" "$tls" "$bbytes" "$n" "$best" "$ps" "$r1" "$met" "$pe" "$r2" "$pp" "$r3"
    done
    kill "$srv_pid"
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=
done
# data stall of a Fashion-MNIST-shaped stream: 60000 samples 1x28x28, micro-batch 128, a 5 ms
# step (sleep: the CPU stays free for the client's progress thread, as with a GPU step)
"$bench" fixture "$work/fm.h5" 60000 1 28 28
export UCX_TLS=tcp
rm -f "$work/addr"
"$serve" serve --data "$work/fm.h5" --secret-file "$work/secret" --address-file "$work/addr" --quiet 2>>"$work/server.log" &
srv_pid=$!
for _ in $(seq 300); do [ -s "$work/addr" ] && break; sleep 0.05; done
line=$("$bench" stream "$(cat "$work/addr")" 128 $secs $prefetch ${STEP_US:-5000})
echo "Fashion-MNIST-shaped stream (1x28x28, n=128, ${STEP_US:-5000} us steps, tcp): data-stall fraction" \
    "$(echo "$line" | sed 's/.*wait_fraction=\([0-9.]*\).*/\1/') (target < 0.02)"
kill "$srv_pid"
wait "$srv_pid" 2>/dev/null || true
srv_pid=
echo "(MiB/s, best of $repeat; bytes = payload per batch, n = samples of 3x64x64 uint8;"
echo " pt -e sleep = ucx_perftest -t ucp_am_bw -e -I -E sleep: the same tcp lanes and the same blocking progress"
echo " as absa serve; ratio = absa / pt -e sleep, target >= 0.8; pt -e = the same lanes with both processes"
echo " polling (a spinning core each, which absa may not use), vs poll = absa / pt -e;"
echo " pt plain: no error handling (shared memory with sm: a transport absa serve cannot use);"
echo " ref low: pt -e sleep below 0.75 x pt -e, a busy spell in all its rounds: run again)"
