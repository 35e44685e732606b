"""bench_torch.py -- the PyTorch CPU peer of `absa bench`: same model (validation/oracle twin),
same micro-batch, synthetic data, same three measurements (median over --steps):
  train step = train-mode forward, cross-entropy, backward, SGD(momentum 0.9) step
  gradient   = eval-mode forward + backward
  HVP        = eval-mode double backward (torch.autograd.grad of <grad, v>), as HessianFlow
Prints one JSON line like absa bench. Run with Debian's /usr/bin/python3 (python3-torch).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from absa_models import build_model  # noqa: E402
from benchlib import median  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    C, H, W = (3, 32, 32) if a.model in ("c1", "resnet20") else (1, 28, 28)
    model = build_model(a.model, C, H, W, 10)
    x = torch.randn(a.batch, C, H, W)
    y = torch.randint(0, 10, (a.batch,))
    params = [p for p in model.parameters()]
    v = [torch.randn_like(p) for p in params]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    ts, tg, th = [], [], []
    for it in range(-a.warmup, a.steps):
        t0 = time.perf_counter()
        model.train()
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        t1 = time.perf_counter()
        model.eval()
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        t2 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, v))
        torch.autograd.grad(dot, params)
        t3 = time.perf_counter()
        if it >= 0:
            ts.append(t1 - t0)
            tg.append(t2 - t1)
            th.append(t3 - t2)
    ms, mg, mh = median(ts), median(tg), median(th)
    print(json.dumps({"model": a.model, "batch": a.batch, "threads": a.threads, "torch": torch.__version__,
                      "step_s": ms, "step_images_per_s": a.batch / ms, "grad_s": mg, "hvp_s": mh,
                      "hvp_over_grad": mh / mg}))


if __name__ == "__main__":
    main()
