"""bench_eig_torch.py -- the PyTorch CPU peer of `absa eig` for validation/bench/bench_eig.sh: the
top Hessian eigenvalue of a checkpoint's mean cross-entropy on the first N training samples of a
packed .h5 file by power iteration on double-backward Hessian-vector products (PyHessian's form:
the gradient graph is built once with create_graph=True, each iteration is one
torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)), batch norm in eval
mode, a fixed number of iterations. Timed like absa eig's "seconds": from loading the checkpoint
and the samples to the last iteration. Prints one JSON line. Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
sys.path.insert(0, HERE)
from absa_ckpt import load_checkpoint  # noqa: E402
from absa_models import build_model  # noqa: E402
from benchlib import blas_kernel, load_samples, power_iteration  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    import h5py
    with h5py.File(a.checkpoint, "r") as f:
        name = f.attrs["model"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        C, H, W = (int(v) for v in f.attrs["input_shape"])
        K = int(f.attrs["num_classes"])
    model = build_model(name, C, H, W, K)
    load_checkpoint(a.checkpoint, model)
    model.eval()
    x, y = load_samples(a.data, "train", a.samples)
    t1 = time.perf_counter()
    eig, _ = power_iteration(model, x, y, a.iters)
    t2 = time.perf_counter()
    print(json.dumps({"model": name, "samples": int(x.shape[0]), "iters": a.iters, "threads": a.threads,
                      "torch": torch.__version__, "eigenvalue": eig, "seconds": t2 - t0,
                      "power_iteration_s": t2 - t1, "blas": blas_kernel()}))


if __name__ == "__main__":
    main()
