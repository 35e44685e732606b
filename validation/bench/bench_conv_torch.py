"""bench_conv_torch.py -- the PyTorch CPU peer of bench_conv (validation/bench/bench_cpu.sh): the
same convolution shapes (the table of bench_conv.c), float32, forward + backward (dx except for
an input layer, dW, db where the layer has a bias) timed as bench_conv times absa's engine,
once through oneDNN (PyTorch 1.13's CPU convolution: Debian's python3-torch links oneDNN 2.6.3,
the version of Debian's libdnnl-dev) and once with oneDNN switched off (PyTorch's own im2col +
BLAS, torch.backends.mkldnn.flags(enabled=False)). Per network the totals weighted by the count
of each shape and the nominal GFLOP/s (oneDNN's direct convolutions execute the nominal
operations). This is the same-run A/B of oneDNN against absa's engine for issue 17.
Run with Debian's /usr/bin/python3.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import blas_kernel, median  # noqa: E402

# net, name, C, H, W, O, k, stride, pad, bias, first, count  (bench_conv.c's table)
SHAPES = [
    ("lenet", "conv1 1->32 28x28", 1, 28, 28, 32, 3, 1, 1, 1, 1, 1),
    ("lenet", "conv2 32->64 14x14", 32, 14, 14, 64, 3, 1, 1, 1, 0, 1),
    ("resnet20", "stem 3->16 32x32", 3, 32, 32, 16, 3, 1, 1, 0, 1, 1),
    ("resnet20", "16->16 32x32", 16, 32, 32, 16, 3, 1, 1, 0, 0, 6),
    ("resnet20", "16->32 s2 32x32", 16, 32, 32, 32, 3, 2, 1, 0, 0, 1),
    ("resnet20", "proj 16->32 1x1 s2", 16, 32, 32, 32, 1, 2, 0, 0, 0, 1),
    ("resnet20", "32->32 16x16", 32, 16, 16, 32, 3, 1, 1, 0, 0, 5),
    ("resnet20", "32->64 s2 16x16", 32, 16, 16, 64, 3, 2, 1, 0, 0, 1),
    ("resnet20", "proj 32->64 1x1 s2", 32, 16, 16, 64, 1, 2, 0, 0, 0, 1),
    ("resnet20", "64->64 8x8", 64, 8, 8, 64, 3, 1, 1, 0, 0, 5),
]


def time_shape(N, C, H, W, O, k, s, p, bias, first, reps):
    g = torch.Generator().manual_seed(1234)
    x = (torch.rand(N, C, H, W, generator=g) - 0.5).requires_grad_(not first)
    w = (torch.rand(O, C, k, k, generator=g) - 0.5).requires_grad_(True)
    b = (torch.rand(O, generator=g) - 0.5).requires_grad_(True) if bias else None
    y = F.conv2d(x, w, b, s, p)
    dy = torch.rand(y.shape, generator=g) - 0.5
    ts, outs = [], []
    for r in range(-2, reps):
        t0 = time.perf_counter()
        y = F.conv2d(x, w, b, s, p)
        y.backward(dy)
        t = time.perf_counter() - t0
        if r >= 0:
            ts.append(t)
        if r < 0:  # the warm-up rounds' results: run-to-run determinism (same inputs, threads)
            outs.append([y.detach().clone(), w.grad.clone()] + ([] if first else [x.grad.clone()]))
        w.grad = None
        if b is not None:
            b.grad = None
        if not first:
            x.grad = None
    Ho, Wo = y.shape[2], y.shape[3]
    same = all(torch.equal(a, b) for a, b in zip(outs[0], outs[1]))
    return median(ts), 2.0 * N * Ho * Wo * O * C * k * k * (2 if first else 3), same


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("torch %s, %d threads, oneDNN available %s; BLAS: %s" % (torch.__version__, a.threads,
          torch.backends.mkldnn.is_available(), blas_kernel()))
    print("batch %d, median of %d repetitions of fwd+bwd (ms)" % (a.batch, a.reps))
    print("%-9s %-22s %5s %10s %10s  %s" % ("net", "shape", "count", "oneDNN", "no oneDNN",
                                             "oneDNN y, dW, dx bitwise equal in two runs"))
    tot = {}
    for net, name, C, H, W, O, k, s, p, bias, first, count in SHAPES:
        row, det = [], None
        for onednn in (True, False):
            with torch.backends.mkldnn.flags(enabled=onednn):
                t, flops, same = time_shape(a.batch, C, H, W, O, k, s, p, bias, first, a.reps)
            row.append(t)
            det = same if onednn else det
            key = (net, onednn)
            tt, ff = tot.get(key, (0.0, 0.0))
            tot[key] = (tt + count * t, ff + count * flops)
        print("%-9s %-22s %5d %10.3f %10.3f  %s" % (net, name, count, 1e3 * row[0], 1e3 * row[1],
                                                    "yes" if det else "NO"))
    for net in ("lenet", "resnet20"):
        (t1, f1), (t0, _) = tot[(net, True)], tot[(net, False)]
        print("total %-8s convs fwd+bwd: oneDNN %9.3f ms (nominal %6.1f GFLOP/s), without oneDNN %9.3f ms"
              % (net, 1e3 * t1, f1 / t1 / 1e9, 1e3 * t0))


if __name__ == "__main__":
    main()
