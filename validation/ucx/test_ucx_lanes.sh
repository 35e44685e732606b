#!/bin/bash
# test_ucx_lanes.sh SERVE_BIN BENCH_UCX DIR — which UCX lanes the data endpoints of `absa serve`
# and its client get (ABSA_UCX_EP_INFO=1 prints ucp_ep_print_info of each), and that a client on
# shared-memory lanes is still seen to die (docs/ucx.md, "Error handling and lanes"):
#  1. UCX_TLS=tcp: both endpoints have a tcp lane marked rma_bw (rendezvous by tcp put-zcopy).
#     Endpoints created from a worker address with UCP_ERR_HANDLING_MODE_PEER get none in UCX 1.13
#     (tcp's memory domain cannot invalidate), which is what cost the front door its throughput.
#  2. ABSA_UCX_ERR_MODE=peer: the earlier mode is still available: no rma_bw lane, a keepalive lane.
#  3. UCX_TLS=tcp,sm,self: the active messages go over shared memory (sysv or posix), not tcp.
#  4. There, a SIGKILLed client is dropped through its front-door session ("connection lost")
#     and a second client streams afterwards.
#  5. ABSA_UCX_ERR_MODE=bogus: one-line error, exit 1.
#  6. With --no-shared-split the split held in RAM (24 MiB here) is backed by transparent huge
#     pages (MADV_HUGEPAGE: the gather of fresh samples into every batch, most of the server's CPU
#     time, is about a fifth faster; docs/ucx.md, "Where the time goes"): AnonHugePages of the
#     serving process is above zero. Skipped (reported) where the kernel has THP off.
#  7. Same node (docs/ucx.md, "Same-node clients: the shared split"): by default the split is a
#     memfd the server maps read-only only; a client that may map it copies every batch's images
#     from it (local_batches = batches) and the server logs it; a client SIGKILLed while doing so
#     is dropped and the next one streams; a client with ABSA_UCX_LOCAL=0, and (as root) one of
#     another user, which may not read the server's descriptors, get images over UCX.
# Sections 1-5 run their clients with ABSA_UCX_LOCAL=0 (as from another node): their batches'
# images travel over the lanes they check.
set -u
serve=$1
bench=$2
W=$(mktemp -d "$3/ucx_lanes.XXXXXX")
. "$(dirname "$0")/../tools/testlib.sh"
export UCX_NET_DEVICES=lo UCX_WARN_UNUSED_ENV_VARS=n UCX_TCP_CM_REUSEADDR=y ABSA_SECRET=lanes-test-secret
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
"$bench" fixture "$W/d.h5" 2000 3 64 64 >/dev/null || { echo "cannot make the fixture"; exit 1; }

start() { # start TAG [ARGS]: a server with the current environment; URL in $url
    rm -f "$W/addr"
    local tag=$1
    shift
    "$serve" serve --data "$W/d.h5" --address-file "$W/addr" --batch-max 200 "$@" >"$W/srv.$tag" 2>&1 &
    srv=$!
    for _ in $(seq 200); do [ -s "$W/addr" ] && break; sleep 0.05; done
    url=$(cat "$W/addr" 2>/dev/null)
}
stop() { kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; srv=; }
# kill_streaming TAG WHAT: a second client streams for 1.5 s and is SIGKILLed; the server of
# srv.TAG must drop it ("connection lost") within 3 s
kill_streaming() {
    "$bench" stream "$url" 85 30 >/dev/null 2>&1 &
    local victim=$!
    sleep 1.5
    kill -9 $victim
    wait $victim 2>/dev/null
    for _ in $(seq 60); do grep -q "client 2 .*dropped: connection lost" "$W/srv.$1" && break; sleep 0.05; done
    grep -q "client 2 .*dropped: connection lost" "$W/srv.$1" && ok "$1: $2" || { bad "$1: $2"; cat "$W/srv.$1"; }
}
# lane lines of the first endpoint block in FILE (ucp_ep_print_info: "#   lane[i]: ... tcp/lo ... rma_bw#0 am ...")
lanes() { grep -A12 "$2" "$1" | grep 'lane\['; }

# 1. tcp, default mode: an rma_bw lane on both sides
export ABSA_UCX_EP_INFO=1 UCX_TLS=tcp ABSA_UCX_LOCAL=0
start tcp --no-shared-split
"$bench" stream "$url" 85 1 >"$W/out" 2>"$W/cli.tcp" && ok "tcp: a client streams" || bad "tcp: a client streams"
# 6. (here, while this server runs) huge pages under the split in RAM
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
if [ -z "$thp" ] || [[ "$thp" == *"[never]"* ]]; then
    echo "skip: transparent huge pages are off on this kernel ('$thp'): huge pages not checked"
else
    huge=$(awk '/^AnonHugePages:/ { print $2 }' "/proc/$srv/smaps_rollup" 2>/dev/null)
    [ "${huge:-0}" -gt 0 ] && ok "thp: the split in RAM is on huge pages (AnonHugePages ${huge} kB)" ||
        bad "thp: the split in RAM is on huge pages (AnonHugePages ${huge:-?} kB, THP '$thp')"
fi
stop
lanes "$W/srv.tcp" "client 1 endpoint" | grep -q 'tcp/.*rma_bw' && ok "tcp: the server's endpoint has a tcp rma_bw lane" ||
    { bad "tcp: the server's endpoint has a tcp rma_bw lane"; cat "$W/srv.tcp"; }
lanes "$W/cli.tcp" "client endpoint" | grep -q 'tcp/.*rma_bw' && ok "tcp: the client's endpoint has a tcp rma_bw lane" ||
    { bad "tcp: the client's endpoint has a tcp rma_bw lane"; cat "$W/cli.tcp"; }

# 2. ABSA_UCX_ERR_MODE=peer: the earlier lanes
ABSA_UCX_ERR_MODE=peer start peer
ABSA_UCX_ERR_MODE=peer "$bench" stream "$url" 85 1 >"$W/out" 2>"$W/cli.peer" && ok "peer: a client streams" ||
    bad "peer: a client streams"
stop
l=$(lanes "$W/srv.peer" "client 1 endpoint")
if echo "$l" | grep -q keepalive && ! echo "$l" | grep -q rma_bw; then ok "peer: keepalive lane, no rma_bw lane"; else
    bad "peer: keepalive lane, no rma_bw lane"; echo "$l"; fi

# 3. shared memory allowed: active messages over sysv/posix
export UCX_TLS=tcp,sm,self
start shm
"$bench" stream "$url" 85 1 >"$W/out" 2>"$W/cli.shm" && ok "shm: a client streams" || bad "shm: a client streams"
l=$(lanes "$W/srv.shm" "client 1 endpoint")
if echo "$l" | grep -E '(sysv|posix)/.* am( |$)' >/dev/null && ! echo "$l" | grep -q 'tcp/'; then
    ok "shm: the active-message lane is shared memory, no tcp lane"; else bad "shm: the active-message lane is shared memory"; echo "$l"; fi

# 4. a client on shared memory SIGKILLed while streaming: dropped, and the server serves the next one
kill_streaming shm "the killed client is dropped within 3 s"
"$bench" stream "$url" 85 1 >"$W/out" 2>&1 && grep -q 'batches=[1-9]' "$W/out" && ok "shm: the next client streams" ||
    { bad "shm: the next client streams"; cat "$W/out"; }
kill -0 "$srv" 2>/dev/null && ok "shm: the server is still running" || bad "shm: the server is still running"
stop

# 5. a bad ABSA_UCX_ERR_MODE
unset ABSA_UCX_EP_INFO
expect_fail "ABSA_UCX_ERR_MODE=bogus: one-line error" "ABSA_UCX_ERR_MODE=bogus" \
    env ABSA_UCX_ERR_MODE=bogus "$serve" serve --data "$W/d.h5" --address-file "$W/addr"

# 7. same node: the shared split
unset ABSA_UCX_LOCAL
start local
maps=$(grep 'memfd:absa-split' "/proc/$srv/maps" 2>/dev/null)
[ -n "$maps" ] && ! echo "$maps" | awk '{ print $2 }' | grep -q w &&
    ok "local: the server maps its split (a memfd) read-only only" || bad "local: the split is a read-only memfd ($maps)"
"$bench" stream "$url" 85 1 >"$W/out" 2>&1
b=$(sed -n 's/.* batches=\([0-9]*\).*/\1/p' "$W/out") l=$(sed -n 's/.*local_batches=\([0-9]*\).*/\1/p' "$W/out")
# (local_batches counts the warm-up and prefetched batches too, batches only the timed ones)
[ "${b:-0}" -gt 0 ] && [ "${l:-0}" -ge "$b" ] && ok "local: every batch copied from the shared split ($l, $b timed)" ||
    { bad "local: every batch copied from the shared split (${l:-?} of ${b:-?})"; cat "$W/out"; }
grep -q "client 1 .*reads images from the shared split" "$W/srv.local" && ok "local: the server logged it" ||
    { bad "local: the server logged it"; cat "$W/srv.local"; }
kill_streaming local "a client killed while copying is dropped"
ABSA_UCX_LOCAL=0 "$bench" stream "$url" 85 1 >"$W/out" 2>&1
b=$(sed -n 's/.* batches=\([0-9]*\).*/\1/p' "$W/out") l=$(sed -n 's/.*local_batches=\([0-9]*\).*/\1/p' "$W/out")
[ "${b:-0}" -gt 0 ] && [ "$l" = 0 ] && ok "local: then a client with ABSA_UCX_LOCAL=0 streams over UCX ($b batches)" ||
    { bad "local: a client with ABSA_UCX_LOCAL=0 streams over UCX (${l:-?} of ${b:-?} local)"; cat "$W/out"; }
# a client of another user on the same node may not read the server's descriptors: it falls back
# (over tcp: UCX's own shared-memory segments are not open to another user either)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    UCX_TLS=tcp setpriv --reuid=65534 --regid=65534 --clear-groups "$bench" stream "$url" 85 1 >"$W/out" 2>&1
    b=$(sed -n 's/.* batches=\([0-9]*\).*/\1/p' "$W/out") l=$(sed -n 's/.*local_batches=\([0-9]*\).*/\1/p' "$W/out")
    [ "${b:-0}" -gt 0 ] && [ "$l" = 0 ] && ok "local: a client of another user (nobody) gets images over UCX ($b batches)" ||
        { bad "local: a client of another user gets images over UCX (${l:-?} of ${b:-?} local)"; cat "$W/out"; }
else
    echo "skip: not root (or no setpriv): a client of another user not tried"
fi
kill -0 "$srv" 2>/dev/null && ok "local: the server is still running" || bad "local: the server is still running"
stop
tally
