"""fgsm_fixture.py -- PyTorch reference for absa's FGSM (ABSA's adversarial replacement).

Writes OUT.ckpt.h5 (a c1 model with non-trivial batch-norm running statistics, absa checkpoint
format) and OUT.fgsm.h5 with x (k samples), y, per-channel eps and the float64 torch result:
    model.eval(); x.requires_grad; loss = cross_entropy(model(x), y) (mean);
    x_adv = clamp(x + eps * sign(grad_x), x.min(), x.max())
Usage: /usr/bin/python3 fgsm_fixture.py OUT_PREFIX
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
from absa_models import build_model  # noqa: E402
from absa_ckpt import save_checkpoint  # noqa: E402


def main():
    out = sys.argv[1]
    torch.manual_seed(1234)
    C, H, W, k = 1, 28, 28, 12
    model = build_model("c1", C, H, W, 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    save_checkpoint(out + ".ckpt.h5", model, "c1", (C, H, W), 10)
    x = torch.randn(k, C, H, W)
    y = torch.randint(0, 10, (k,))
    eps = 0.005 / 0.353
    m64 = model.double().eval()
    xd = x.double().clone().requires_grad_(True)
    loss = F.cross_entropy(m64(xd), y)
    (g,) = torch.autograd.grad(loss, xd)
    adv = torch.clamp(xd.detach() + eps * g.sign(), xd.min().item(), xd.max().item())
    with h5py.File(out + ".fgsm.h5", "w") as f:
        f["x"] = x.numpy().astype(np.float32)
        f["y"] = y.numpy().astype(np.int32)
        f["eps"] = np.full((C,), eps, dtype=np.float32)
        f["x_adv"] = adv.numpy()
        f["grad_abs"] = g.abs().numpy()


if __name__ == "__main__":
    main()
