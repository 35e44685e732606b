#!/bin/bash
# test_ucx_cli.sh SERVE_BIN DIR [BENCH_UCX] — the `absa serve` command line: --help lists the defaults,
# usage errors exit 2, runtime errors (missing file, unsafe secret file, no secret, port in use)
# exit 1 with one "absa serve: error:" line, and SIGTERM stops a running server with exit 0.
# SERVE_BIN is `absa` or the stand-in ucx_serve_driver (both take "serve ARGS"); BENCH_UCX
# (default: next to SERVE_BIN) writes the packed fixture.
set -u
bin=$1
dir=$2
bench=${3:-$(dirname "$bin")/bench_ucx}
tmp=$(mktemp -d "$dir/ucx_cli.XXXXXX")
fail=0
check() { # check WANT_RC DESCRIPTION CMD...
    local want=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL: $what: exit $rc, want $want"; cat "$tmp/err"; fail=1
    else
        echo "ok: $what (exit $rc)"
    fi
}
grep_err() { # grep_err PATTERN DESCRIPTION
    if ! grep -q -- "$1" "$tmp/err"; then echo "FAIL: $2: stderr lacks '$1'"; cat "$tmp/err"; fail=1; fi
}
"$bench" fixture "$tmp/d.h5" 100 1 4 4 || { echo "cannot make the fixture"; exit 1; }
printf 'sekrit\n' >"$tmp/secret"
chmod 600 "$tmp/secret"
check 0 "--help" "$bin" serve --help
for word in "--data" "--listen" "127.0.0.1:0" "--secret-file" "ABSA_SECRET" "--epochs" "--batch-max" "--memory-budget" \
    "--max-pending" "--max-pending-per-peer" "--hello-timeout"; do
    grep -q -- "$word" "$tmp/out" || { echo "FAIL: --help lacks $word"; fail=1; }
done
check 2 "missing --data" "$bin" serve --secret-file "$tmp/secret"
check 2 "bad --listen" "$bin" serve --data "$tmp/d.h5" --listen nonsense --secret-file "$tmp/secret"
check 2 "bad --seed" "$bin" serve --data "$tmp/d.h5" --seed -3 --secret-file "$tmp/secret"
check 2 "unknown option" "$bin" serve --data "$tmp/d.h5" --bogus
check 1 "missing data file" "$bin" serve --data "$tmp/none.h5" --secret-file "$tmp/secret"
grep_err "absa serve: error:" "missing data file"
chmod 644 "$tmp/secret"
check 1 "secret file readable by others" "$bin" serve --data "$tmp/d.h5" --secret-file "$tmp/secret"
grep_err "chmod 600" "secret file mode"
chmod 600 "$tmp/secret"
check 1 "no secret at all" env -u ABSA_SECRET "$bin" serve --data "$tmp/d.h5"
grep_err "no shared secret" "no secret"
# a running server stops with exit 0 on SIGTERM; a second one on the same port fails
"$bin" serve --data "$tmp/d.h5" --secret-file "$tmp/secret" --address-file "$tmp/addr" 2>"$tmp/srv.err" &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/addr" ] && break; sleep 0.05; done
addr=$(cat "$tmp/addr" 2>/dev/null)
case "$addr" in ucx://127.0.0.1:[0-9]*) echo "ok: listening on $addr";; *) echo "FAIL: address file '$addr'"; fail=1;; esac
check 1 "port already in use" "$bin" serve --data "$tmp/d.h5" --secret-file "$tmp/secret" --listen "${addr#ucx://}"
grep_err "already in use" "port in use is named as such"
if grep -q "UCX_TLS" "$tmp/err"; then echo "FAIL: port in use blamed on UCX_TLS"; cat "$tmp/err"; fail=1; fi
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 0 ] && echo "ok: SIGTERM stops the server (exit 0)" || { echo "FAIL: server exit $rc after SIGTERM"; cat "$tmp/srv.err"; fail=1; }
grep -q "stopping" "$tmp/srv.err" || { echo "FAIL: no stop message"; fail=1; }
# --audit on a full disk (/dev/full): one warning line at the first failed write, serving goes on
# (the client streams all it asked for), and the stop reports the incomplete log: exit 1
if [ -w /dev/full ] && [ -x "$bench" ]; then
    rm -f "$tmp/addr"
    "$bin" serve --data "$tmp/d.h5" --secret-file "$tmp/secret" --address-file "$tmp/addr" --audit /dev/full \
        2>"$tmp/srv.err" &
    pid=$!
    for _ in $(seq 200); do [ -s "$tmp/addr" ] && break; sleep 0.05; done
    if ABSA_SECRET=sekrit "$bench" stream "$(cat "$tmp/addr")" 10 0.5 >"$tmp/out" 2>"$tmp/err"; then
        echo "ok: a client streams while the audit log cannot be written"
    else
        echo "FAIL: the client failed against a server with a full audit disk"; cat "$tmp/err" "$tmp/srv.err"; fail=1
    fi
    kill -TERM $pid
    wait $pid
    rc=$?
    n=$(grep -c "warning: cannot write the audit log /dev/full (No space left on device)" "$tmp/srv.err")
    [ "$n" = 1 ] && echo "ok: one warning line for the full audit disk" || { echo "FAIL: $n warning lines"; cat "$tmp/srv.err"; fail=1; }
    [ $rc = 1 ] && grep -q "error: writing the audit log /dev/full failed (No space left on device)" "$tmp/srv.err" \
        && echo "ok: the stop reports the incomplete audit log (exit 1)" \
        || { echo "FAIL: exit $rc after SIGTERM with a full audit disk"; cat "$tmp/srv.err"; fail=1; }
else
    echo "skip: no /dev/full or no bench_ucx: the full-disk audit case is not checked"
fi
[ $fail = 0 ] && rm -rf "$tmp"
exit $fail
