#!/usr/bin/env python3
"""check_run.py — assertions on `absa train` run directories for the MPI growth tests.

  compare REF RUN [--loss-rtol R] [--eig-rtol R]   per-step losses, eigenvalues, test losses and
                                                  the schedule of RUN equal REF's within tolerances
  ids DIR N EPOCHS                                 sample-id logs (--sample-log DIR): every sample
                                                  0..N-1 used exactly once in each epoch
  ranks RUN r1,r2,...                              ranks of each epoch line
  resize RUN ok|fail [backend]                     every resize event has that outcome (and backend);
                                                  ok: the cost split is consistent
  weights A B                                      checkpoint weights bitwise equal
  close A B RTOL                                   checkpoint weights equal within RTOL (max-norm)
Exit 0 = pass; an AssertionError (exit 1) says what differs."""
import glob, json, math, sys


def lines(d, kind=None):
    rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
    return [r for r in rows if kind is None or r["type"] == kind]


def rel(a, b):
    return abs(a - b) / max(abs(a), 1e-30)


def compare(ref, run, loss_rtol=1e-5, eig_rtol=1e-4):
    sa, sb = lines(ref, "step"), lines(run, "step")
    assert len(sa) == len(sb) and sa, ("step count", len(sa), len(sb))
    worst = 0.0
    for x, y in zip(sa, sb):
        assert (x["epoch"], x["step"], x["batch"], x["lr"]) == (y["epoch"], y["step"], y["batch"], y["lr"]), (x, y)
        worst = max(worst, rel(x["loss"], y["loss"]))
    assert worst <= loss_rtol, "per-step loss differs by %.3g relative (> %g)" % (worst, loss_rtol)
    ea, eb = lines(ref, "epoch"), lines(run, "epoch")
    assert len(ea) == len(eb) and ea, ("epoch count", len(ea), len(eb))
    weig, wtest = 0.0, 0.0
    for x, y in zip(ea, eb):
        for k in ("batch", "accum", "next_batch", "grew", "sgd_iters", "eig_iters", "eig_seed"):
            assert x[k] == y[k], ("epoch %d: %s %s != %s" % (x["epoch"], k, x[k], y[k]))
        assert (x["eig"] is None) == (y["eig"] is None), (x["eig"], y["eig"])
        if x["eig"] is not None:
            weig = max(weig, rel(x["eig"], y["eig"]))
        wtest = max(wtest, rel(x["test_loss"], y["test_loss"]))
    assert weig <= eig_rtol, "eigenvalue differs by %.3g relative (> %g)" % (weig, eig_rtol)
    assert wtest <= 10 * loss_rtol, "test loss differs by %.3g relative" % wtest
    print("  %d steps: max relative difference %.2g (loss), %.2g (eigenvalue), %.2g (test loss)"
          % (len(sa), worst, weig, wtest))


def ids(d, n, epochs):
    seen = {}
    files = glob.glob(d + "/ids.*.txt")
    assert files, "no sample-id logs in " + d
    for f in files:
        for l in open(f):
            p = l.split()
            e = int(p[0])
            seen.setdefault(e, []).extend(int(v) for v in p[2:])
    assert sorted(seen) == list(range(1, epochs + 1)), ("epochs logged", sorted(seen))
    for e, v in sorted(seen.items()):
        assert len(v) == n and sorted(v) == list(range(n)), \
            "epoch %d: %d ids logged, %d distinct, expected each of 0..%d once" % (e, len(v), len(set(v)), n - 1)
    print("  %d epochs x %d samples, each used exactly once (%d processes logged)" % (epochs, n, len(files)))


def ranks(run, want):
    got = [r["ranks"] for r in lines(run, "epoch")]
    assert got == want, ("ranks per epoch", got, "expected", want)
    print("  ranks per epoch", got)


def resize(run, outcome, backend=None):
    ev = lines(run, "resize")
    assert ev, "no resize events"
    for r in ev:
        assert r["ok"] == (outcome == "ok"), r
        if backend:
            assert r["backend"] == backend, r
        if r["ok"]:
            # total_s: training paused (merge + state broadcast; pool: + activation); spawn and
            # the new ranks' setup run in the background while training goes on
            paused = r["merge_s"] + r["bcast_s"] + (r["spawn_s"] if r["backend"] == "pool" else 0)
            assert r["to"] > r["from"] and r["error"] is None, r
            assert 0 <= paused <= r["total_s"] + 1e-3, r
            assert r["backend"] == "pool" or r["background_s"] + 1e-3 >= r["spawn_s"] + r["setup_wait_s"], r
        else:
            assert r["to"] == r["from"] and r["error"], r
    s = json.load(open(run + "/summary.json"))
    assert 0 < s["resize_fraction"] < 1 and abs(s["resize_total_s"] - sum(r["total_s"] for r in ev)) < 5e-3, s
    print("  %d resize events (%s), e.g. %s; resize fraction %.4f"
          % (len(ev), outcome, ev[0].get("error") or "%.3f s" % ev[0]["total_s"], s["resize_fraction"]))


def weights(a, b, rtol=None):
    import h5py
    import numpy as np
    fa, fb = h5py.File(a + "/checkpoint.h5", "r"), h5py.File(b + "/checkpoint.h5", "r")
    worst = 0.0
    for k in fa["model"]:
        x, y = fa["model"][k][()], fb["model"][k][()]
        if rtol is None:
            assert np.array_equal(x, y), "weights differ: " + k
        else:
            d = float(np.max(np.abs(x.astype(np.float64) - y))) / max(float(np.max(np.abs(x))), 1e-30)
            worst = max(worst, d)
    assert rtol is None or worst <= rtol, "weights differ by %.3g (> %g)" % (worst, rtol)
    print("  final weights %s" % ("bitwise equal" if rtol is None else "equal within %.2g" % worst))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "compare":
        kw = {}
        for i in range(2, len(a), 2):
            kw[a[i].lstrip("-").replace("-", "_")] = float(a[i + 1])
        compare(a[0], a[1], **kw)
    elif cmd == "ids":
        ids(a[0], int(a[1]), int(a[2]))
    elif cmd == "ranks":
        ranks(a[0], [int(v) for v in a[1].split(",")])
    elif cmd == "resize":
        resize(*a)
    elif cmd == "weights":
        weights(a[0], a[1])
    elif cmd == "close":
        weights(a[0], a[1], float(a[2]))
    else:
        sys.exit("unknown check " + cmd)
