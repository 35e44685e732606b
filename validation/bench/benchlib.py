"""benchlib.py -- helpers shared by the PyTorch peers of the benchmarks (validation/bench/,
validation/gpu/torch_cuda_peer.py): the median, which BLAS kernel this process runs, and the
samples of a packed .h5 data set normalised as absa normalises them (docs/data.md)."""
import ctypes
import os


def median(a):
    a = sorted(a)
    n = len(a)
    return a[n // 2] if n % 2 else 0.5 * (a[n // 2 - 1] + a[n // 2])


def blas_kernel():
    """'<library>: <OpenBLAS core name>' for each BLAS library mapped into this process (PyTorch
    loads Debian's libblas.so.3 alternative; oneDNN runs its own convolution kernels)."""
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if ("blas" in os.path.basename(p)) and p not in libs:
                libs.append(p)
    out = []
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
            fn = lib.openblas_get_corename
            fn.restype = ctypes.c_char_p
            out.append("%s: %s" % (p, fn().decode()))
        except (OSError, AttributeError):
            out.append("%s: (not OpenBLAS)" % p)
    return "; ".join(out) if out else "(no BLAS library mapped)"


def load_samples(path, split="train", n=None, start=0):
    """(x float32 N x C x H x W normalised with the file's per-channel mean/std, y int64) of
    samples [start, start+n) of a split of an absa-packed .h5 file."""
    import h5py
    import numpy as np
    import torch
    with h5py.File(path, "r") as f:
        mean = np.asarray(f.attrs["mean"], dtype=np.float32)
        std = np.asarray(f.attrs["std"], dtype=np.float32)
        g = f[split]
        end = g["labels"].shape[0] if n is None else start + n
        x = np.asarray(g["images"][start:end], dtype=np.float32) / np.float32(255)
        y = np.asarray(g["labels"][start:end], dtype=np.int64)
    x = (x - mean[None, :, None, None]) / std[None, :, None, None]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def power_iteration(model, x, y, iters, tol=None, relative=False, generator=None):
    """Top Hessian eigenvalue of the mean cross-entropy of `model` on (x, y) by power iteration on
    double-backward Hessian-vector products in PyHessian's form (the gradient graph built once
    with create_graph=True, each iteration one torch.autograd.grad(grads, params, grad_outputs=v,
    retain_graph=True)); the model's current mode (eval for absa's default). Stops like absa
    (src/curvature.c) when |lambda - previous| (relative: / (|previous| + 1e-6)) < tol from the
    second iteration on; tol None: all `iters`. Returns (eigenvalue, iterations)."""
    import torch
    import torch.nn.functional as F
    params = [p for p in model.parameters() if p.requires_grad]
    v = [torch.randn(p.shape, generator=generator) for p in params]
    nv = torch.sqrt(sum((vi * vi).sum() for vi in v))
    v = [vi / nv for vi in v]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), params, create_graph=True)
    lam = 0.0
    for it in range(iters):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        tmp = float(sum((h * vi).sum() for h, vi in zip(hv, v)))
        nh = torch.sqrt(sum((h * h).sum() for h in hv))
        v = [h / nh for h in hv]
        if tol is not None and it > 0:
            diff = abs(lam - tmp) / ((abs(lam) + 1e-6) if relative else 1.0)
            if diff < tol:
                return tmp, it + 1
        lam = tmp
    return lam, iters
