"""torch_cuda_peer.py -- PyTorch eager on the GPU, the peer of `test_gpu_models --bench`: the
same model (validation/oracle's twin), micro-batch and three measurements (median over --steps,
torch.cuda.synchronize() around each), plus an HVP and a gradient of the same weights both ways
for the report. Strict FP32 like absa's CUDA back end (TF32 off in cuBLAS and cuDNN):
  train step = train-mode forward, cross-entropy, backward, SGD(momentum 0.9) step
  gradient   = eval-mode forward + backward
  HVP        = eval-mode double backward (torch.autograd.grad of <grad, v>), as HessianFlow
Prints one JSON line. Run on the lent GPU machine by validation/gpu/device-check.sh.
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
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from benchlib import median  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"engine": "torch-cuda", "skipped": "torch sees no CUDA device"}))
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    torch.manual_seed(0)
    C, H, W = (3, 32, 32) if a.model in ("c1", "resnet20") else (1, 28, 28)
    model = build_model(a.model, C, H, W, 10).to(dev)
    x = torch.randn(a.batch, C, H, W, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    params = list(model.parameters())
    v = [torch.randn_like(p) for p in params]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    ts, tg, th = [], [], []
    for it in range(-a.warmup, a.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.train()
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        model.eval()
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, v))
        torch.autograd.grad(dot, params)
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        if it >= 0:
            ts.append(t1 - t0)
            tg.append(t2 - t1)
            th.append(t3 - t2)
    ms, mg, mh = median(ts), median(tg), median(th)
    print(json.dumps({"engine": "torch-cuda", "model": a.model, "batch": a.batch, "torch": torch.__version__,
                      "gpu": torch.cuda.get_device_name(0), "step_s": ms, "step_images_per_s": a.batch / ms,
                      "grad_s": mg, "hvp_s": mh, "hvp_over_grad": mh / mg}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
