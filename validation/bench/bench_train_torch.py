"""bench_train_torch.py -- the PyTorch CPU implementation of `absa train`'s loop for
validation/bench/bench_train.sh (issue 17: a whole absa train against the same loop in PyTorch):
the same data (an absa-packed .h5, normalised with its mean/std), the same model twin
(validation/oracle/absa_models.py, PyTorch's default init), the same schedule (src/schedule.c:
SGD / ABS / ABSA, batch and lr doubling on growth, FGSM ratio halved on growth and off in the
second half and at the cap), the same micro-batches (gradients accumulated over micro-batches of
--micro-batch samples, FGSM in eval mode on the first floor(B0 * ratio) samples of each), the
same end-of-epoch eigenvalue (--eig-samples random training samples, power iteration with
absa's stopping rule, src/curvature.c, on double-backward HVPs: benchlib.power_iteration), the
same test pass (--test-batch), and a checkpoint (model + optimizer state) written each epoch as
absa does. The data order and initial weights are PyTorch's own, so the eigenvalues (and with
them ABSA's growth by the eigenvalue) may differ; with --duration 1 the batch doubles every epoch
on both sides. Prints one JSON line: seconds of the whole loop (data loading included) and per
epoch the batch, eigenvalue iterations and test accuracy. Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

T_START = time.perf_counter()
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
sys.path.insert(0, HERE)
from absa_models import build_model  # noqa: E402
from benchlib import blas_kernel, load_samples, power_iteration  # noqa: E402


def fgsm(model, x, y, k, eps_c):
    """absa_fgsm (src/fgsm.c): x[:k] += eps_c * sign(d loss / d x), clamped to the min/max of x[:k]."""
    lo, hi = x[:k].min(), x[:k].max()
    xa = x[:k].clone().requires_grad_(True)
    model.eval()
    (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y[:k]), xa)
    x[:k] = torch.clamp(x[:k] + eps_c.view(1, -1, 1, 1) * torch.sign(g), lo, hi)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--schedule", default="absa", choices=("sgd", "abs", "absa"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--micro-batch", type=int, default=0)
    ap.add_argument("--max-batch", type=int, default=16384)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--adv-ratio", type=float, default=0.2)
    ap.add_argument("--adv-eps", type=float, default=0.005)
    ap.add_argument("--eig-samples", type=int, default=128)
    ap.add_argument("--eig-iters", type=int, default=10)
    ap.add_argument("--eig-tol", type=float, default=0.01)
    ap.add_argument("--growth-ratio", type=float, default=2.0)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--test-batch", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit-train", type=int, default=0, help="the first N train samples (0 = all)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.perf_counter()
    X, Y = load_samples(a.data, "train", a.limit_train or None)
    Xt, Yt = load_samples(a.data, "test")
    import h5py
    with h5py.File(a.data, "r") as f:
        std = torch.tensor([float(s) for s in f.attrs["std"]])
    eps_c = a.adv_eps / std
    N, C, H, W = X.shape
    model = build_model(a.model, C, H, W, 10)
    params = [p for p in model.parameters()]
    opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum)
    micro = a.micro_batch or min(a.batch, 128)
    batch, lr = a.batch, a.lr
    adv_ratio = a.adv_ratio if a.schedule == "absa" else 0.0
    eig_ref, since, at_cap = math.nan, 0, batch >= a.max_batch
    if at_cap and a.schedule != "sgd":
        adv_ratio = 0.0
    ckpt = tempfile.NamedTemporaryFile(suffix=".pt", delete=False).name
    epochs = []
    try:
        for epoch in range(1, a.epochs + 1):
            model.train()
            perm = torch.randperm(N, generator=gen)
            cur = 0
            while cur < N:
                B = min(batch, N - cur)
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=False)
                for off in range(0, B, micro):
                    nb = min(micro, B - off)
                    ids = perm[cur + off:cur + off + nb]
                    xb, yb = X[ids], Y[ids]
                    k = 0
                    if a.schedule == "absa" and adv_ratio > 1.0 / a.batch:
                        k = min(max(int(math.floor(a.batch * adv_ratio)), 1), nb)
                    if k > 0:
                        fgsm(model, xb, yb, k, eps_c)
                    model.train()
                    (F.cross_entropy(model(xb), yb) * (nb / B)).backward()
                opt.step()
                cur += B
            eig, iters = math.nan, 0
            if a.schedule != "sgd" and not at_cap:
                ids = torch.randperm(N, generator=gen)[:a.eig_samples]
                model.eval()
                eig, iters = power_iteration(model, X[ids], Y[ids], a.eig_iters, a.eig_tol, generator=gen)
                grow = False
                if math.isnan(eig_ref):
                    eig_ref = eig
                elif eig <= eig_ref / a.growth_ratio:
                    eig_ref, grow = eig, True
                if not grow:
                    since += 1
                    grow = since >= a.duration
                if grow:
                    nb = min(2 * batch, a.max_batch)
                    lr *= nb / batch
                    batch, adv_ratio, since = nb, adv_ratio / 2, 0
                    if batch >= a.max_batch:
                        at_cap, adv_ratio = True, 0.0
            if adv_ratio != 0 and 2 * epoch >= a.epochs:
                adv_ratio = 0.0
            model.eval()
            correct = 0
            with torch.no_grad():
                for s in range(0, Xt.shape[0], a.test_batch):
                    correct += int((model(Xt[s:s + a.test_batch]).argmax(1) == Yt[s:s + a.test_batch]).sum())
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)
            epochs.append({"epoch": epoch, "eig": eig, "eig_iters": iters, "next_batch": batch,
                           "test_acc": correct / Xt.shape[0]})
    finally:
        os.unlink(ckpt)
    t1 = time.perf_counter()
    print(json.dumps({"model": a.model, "threads": a.threads, "torch": torch.__version__,
                      "seconds": t1 - t0, "seconds_with_import": t1 - T_START, "epochs": epochs,
                      "blas": blas_kernel()}))


if __name__ == "__main__":
    main()
