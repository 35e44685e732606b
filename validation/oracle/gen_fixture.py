#!/usr/bin/python3
"""gen_fixture.py -- write one oracle fixture: weights, inputs and PyTorch's answers.

    gen_fixture.py --model resnet20 --shape 3x32x32 --out fixtures/resnet20_3x32x32.h5

The fixture is an absa checkpoint (root attributes + /model, loadable by absa_checkpoint_load)
with random but sane weights (BN: random gamma/beta and running statistics near the data's,
so eval mode is non-trivial), plus:
    /data/x [N,C,H,W] f32, /data/y [N] i32, /data/v [P] f32 (HVP direction),
    /data/v0 [P] f32 (power-iteration start), /data/sgd_x [S+1,NS,C,H,W], /data/sgd_y [S+1,NS]
    (NS = /expected attribute sgd_batch: N, or 2 for c1 and resnet20)
    /meta/param_offsets [T+1] i64  (parameters_to_vector layout, one entry per parameter tensor)
    /expected/<mode>/{logits, loss, grad, hv}  float64 torch results, mode = train | eval
    /expected/train/running/<buffer name>       BN buffers after one train-mode forward
    /expected/eig/{lambda [ITERS], final}       power iteration in eval mode, float64
    /expected/sgd/losses [S+1]                  S SGD steps (train mode), then one more forward
    /baseline_f32/...                           the same computed by torch in float32, as
                                                relative errors against float64 (the report's
                                                "how good can float32 be" column)
P = number of parameters (torch parameters() order), N = batch.
"""
import argparse
import copy
import os
import sys
import time

import numpy as np

try:
    import h5py
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the oracle needs Debian's python3-torch / python3-h5py
    print("gen_fixture: cannot import %s (install python3-torch python3-h5py)" % e.name, file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from absa_models import build_model  # noqa: E402
from absa_ckpt import save_checkpoint  # noqa: E402

EIG_ITERS = 20
SGD_STEPS = 5
SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)
# The gradient is discontinuous at a ReLU kink: an input within float32 rounding of 0 makes the
# float32 mask a coin flip (one flipped element moved resnet20's eval gradient by 7e-4). Likewise
# at a max-pool near-tie: a window whose two largest inputs are within float32 rounding routes the
# gradient to either one (a gap of 1.1e-7 RMS in c1's first pool moved its eval gradient by
# 1.3e-3 with OpenBLAS's SkylakeX kernels, not with the Haswell ones). Inputs are redrawn until
# every ReLU input is at least KINK_MARGIN * its tensor's RMS away from 0 and every max-pool
# window's largest input exceeds the next one by KINK_MARGIN * RMS or is an exact tie (equal
# values, e.g. batch norm of ReLU zeros, whose gradient goes to the first in both engines), in
# train and eval mode (float64), so every float32 implementation must agree with torch.
KINK_MARGIN = 1e-6
KINK_TRIES = 200
# The SGD run's inputs are guarded too (sgd_kink_margin). resnet20 at batch 8 has 6 x 2.5 M ReLU
# inputs, always some within 1e-6 RMS of 0 (200 draws: best 5.7e-7), and c1 needed ~50 draws
# (a minute); their SGD runs use batch 2 (one to three draws).
SGD_BATCH = {"resnet20": 2, "c1": 2}


def sane_weights(model, C, H, W, gen):
    """BN: gamma U(0.5,1.5), beta N(0,0.2); running statistics = the statistics of two random
    batches, perturbed (mean +- 0.2 sd, var x exp(N(0,0.3))), num_batches_tracked random."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5, generator=gen)
            bn.bias.normal_(0.0, 0.2, generator=gen)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average
        model.train()
        for _ in range(2):
            model(torch.randn(16, C, H, W, generator=gen))
        for bn in bns:
            sd = bn.running_var.sqrt()
            bn.running_mean.add_(0.2 * sd * torch.randn(bn.running_mean.shape, generator=gen))
            bn.running_var.mul_(torch.exp(0.3 * torch.randn(bn.running_var.shape, generator=gen)))
            bn.num_batches_tracked.fill_(int(torch.randint(100, 5000, (1,), generator=gen)))
            bn.momentum = 0.1


def flat(ts):
    return torch.cat([t.reshape(-1) for t in ts])


def results(model0, dtype, x, y, v, v0, sgd_x, sgd_y):
    """Every expected quantity computed by torch in `dtype`."""
    out = {}
    x, v, v0, sgd_x = x.to(dtype), v.to(dtype), v0.to(dtype), sgd_x.to(dtype)
    for mode in ("train", "eval"):
        m = copy.deepcopy(model0).to(dtype)
        m.train(mode == "train")
        params = list(m.parameters())
        logits = m(x)
        loss = F.cross_entropy(logits, y)
        g = flat(torch.autograd.grad(loss, params, create_graph=True))
        hv = flat(torch.autograd.grad((g * v).sum(), params, retain_graph=mode == "eval"))
        r = dict(logits=logits.detach(), loss=loss.detach(), grad=g.detach(), hv=hv.detach())
        if mode == "train":  # buffers after exactly one train-mode forward
            r["running"] = {k: t.detach().clone() for k, t in m.state_dict().items()
                            if "running" in k or "num_batches" in k}
        else:  # power iteration on the same graph (eval mode, as the reference)
            w = v0 / v0.norm()
            lams = []
            for it in range(EIG_ITERS):
                hw = flat(torch.autograd.grad((g * w).sum(), params, retain_graph=True))
                lams.append(float((hw * w).sum()))
                w = hw / hw.norm()
            out["eig"] = torch.tensor(lams, dtype=torch.float64)
        out[mode] = r
    m = copy.deepcopy(model0).to(dtype).train()
    opt = torch.optim.SGD(m.parameters(), **SGD)
    losses = []
    for k in range(SGD_STEPS + 1):
        opt.zero_grad()
        loss = F.cross_entropy(m(sgd_x[k]), sgd_y[k])
        losses.append(float(loss))
        if k < SGD_STEPS:
            loss.backward()
            opt.step()
    out["sgd"] = torch.tensor(losses, dtype=torch.float64)
    return out


def kink_margin(model, x, modes=(True, False)):
    """Smallest |ReLU input| / RMS(ReLU input) over every F.relu call, and smallest gap between
    the two largest inputs of a max-pool window (exact ties excepted) / RMS(pool input) over every
    F.max_pool2d call (no padding or dilation), of a float64 forward of x in train mode (batch
    statistics; on a copy, running statistics untouched) and eval mode."""
    worst = float("inf")
    relu, max_pool2d = F.relu, F.max_pool2d

    def spy(t, inplace=False):
        nonlocal worst
        rms = float(t.pow(2).mean().sqrt())
        if rms > 0:
            worst = min(worst, float(t.abs().min()) / rms)
        return relu(t, inplace=inplace)

    def pool_spy(t, kernel_size, stride=None, *args, **kwargs):
        nonlocal worst
        k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
        s = k if stride is None else stride if isinstance(stride, int) else stride[0]
        win = t.unfold(2, k, s).unfold(3, k, s)
        top = win.reshape(*win.shape[:4], -1).topk(2, dim=-1).values
        gap = top[..., 0] - top[..., 1]
        rms = float(t.pow(2).mean().sqrt())
        if rms > 0 and bool((gap > 0).any()):
            worst = min(worst, float(gap[gap > 0].min()) / rms)
        return max_pool2d(t, kernel_size, stride, *args, **kwargs)

    F.relu, F.max_pool2d = spy, pool_spy
    try:
        with torch.no_grad():
            for train in modes:
                copy.deepcopy(model).double().train(train)(x.double())
    finally:
        F.relu, F.max_pool2d = relu, max_pool2d
    return worst


def sgd_kink_margin(model, sgd_x, sgd_y):
    """kink_margin of every train-mode forward of the float64 SGD run that results() makes: the
    later steps' inputs meet the kinks with their own weights, and a flip there moves the losses
    of all later steps (c1: 4.6e-4 with OpenBLAS's SkylakeX kernels, 1.7e-6 with Haswell's;
    resnet20: 1.2e-4 on many threads, 7e-6 on two)."""
    m = copy.deepcopy(model).double().train()
    opt = torch.optim.SGD(m.parameters(), **SGD)
    worst = float("inf")
    for k in range(SGD_STEPS + 1):
        worst = min(worst, kink_margin(m, sgd_x[k], modes=(True,)))
        if k == SGD_STEPS:
            break
        opt.zero_grad()
        F.cross_entropy(m(sgd_x[k].double()), sgd_y[k]).backward()
        opt.step()
    return worst


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).norm() / max(float(b.norm()), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--shape", required=True, help="CxHxW, e.g. 3x32x32")
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=20240611)
    a = ap.parse_args()
    C, H, W = (int(s) for s in a.shape.split("x"))
    t0 = time.time()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)  # measured: 2.5x faster than 2 threads on a shared 2-core machine
    gen = torch.Generator().manual_seed(a.seed + 1)
    model = build_model(a.model, C, H, W, 10)
    sane_weights(model, C, H, W, gen)
    N = a.batch
    P = sum(p.numel() for p in model.parameters())
    for tries in range(1, KINK_TRIES + 1):
        x = torch.randn(N, C, H, W, generator=gen)
        margin = kink_margin(model, x)
        if margin >= KINK_MARGIN:
            break
    else:
        print("gen_fixture: no input in %d draws keeps every ReLU input and max-pool gap %.0e * RMS from 0 (best "
              "%.2e)" % (KINK_TRIES, KINK_MARGIN, margin), file=sys.stderr)
        sys.exit(1)
    print("gen_fixture: input draw %d: every ReLU input and max-pool gap >= %.2e * RMS from 0" % (tries, margin))
    y = torch.randint(0, 10, (N,), generator=gen)
    v = torch.randn(P, generator=gen)
    v0 = torch.randn(P, generator=gen)
    NS = SGD_BATCH.get(a.model, N)
    for tries in range(1, KINK_TRIES + 1):  # the same for the SGD run's inputs
        sgd_x = torch.randn(SGD_STEPS + 1, NS, C, H, W, generator=gen)
        sgd_y = torch.randint(0, 10, (SGD_STEPS + 1, NS), generator=gen)
        margin = sgd_kink_margin(model, sgd_x, sgd_y)
        if margin >= KINK_MARGIN:
            break
    else:
        print("gen_fixture: no SGD input in %d draws keeps every ReLU input and max-pool gap %.0e * RMS "
              "from 0 (best %.2e)" % (KINK_TRIES, KINK_MARGIN, margin), file=sys.stderr)
        sys.exit(1)
    print("gen_fixture: SGD input draw %d (batch %d): every ReLU input and max-pool gap >= %.2e * RMS "
          "from 0" % (tries, NS, margin))

    r64 = results(model, torch.float64, x, y, v, v0, sgd_x, sgd_y)
    r32 = results(model, torch.float32, x, y, v, v0, sgd_x, sgd_y)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    save_checkpoint(a.out, model, a.model, (C, H, W), 10)  # atomic; the rest is appended
    sizes = [p.numel() for p in model.parameters()]
    with h5py.File(a.out, "a") as f:
        d = f.create_group("data")
        d["x"], d["y"] = x.numpy(), y.numpy().astype(np.int32)
        d["v"], d["v0"] = v.numpy(), v0.numpy()
        d["sgd_x"], d["sgd_y"] = sgd_x.numpy(), sgd_y.numpy().astype(np.int32)
        f.create_group("meta")["param_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        e = f.create_group("expected")
        b = f.create_group("baseline_f32")
        e.attrs["eig_iters"] = np.int32(EIG_ITERS)
        e.attrs["sgd_steps"] = np.int32(SGD_STEPS)
        e.attrs["sgd_batch"] = np.int32(NS)
        for k, val in SGD.items():
            e.attrs["sgd_" + k] = np.float64(val)
        offs = np.concatenate([[0], np.cumsum(sizes)])
        for mode in ("train", "eval"):
            g, r, q = e.create_group(mode), r64[mode], r32[mode]
            for k in ("logits", "loss", "grad", "hv"):
                g[k] = r[k].numpy()
            bg = b.create_group(mode)
            for k in ("logits", "loss", "grad", "hv"):
                bg.attrs[k] = rel(q[k], r[k])
            bg["grad_tensor"] = np.array([rel(q["grad"][o0:o1], r["grad"][o0:o1])
                                          for o0, o1 in zip(offs[:-1], offs[1:])])
            bg["hv_tensor"] = np.array([rel(q["hv"][o0:o1], r["hv"][o0:o1])
                                        for o0, o1 in zip(offs[:-1], offs[1:])])
            if mode == "train":
                rg = g.create_group("running")
                for k, t in r["running"].items():
                    rg[k] = t.numpy()
                    if "running" in k:
                        bg.attrs["running_max"] = max(bg.attrs.get("running_max", 0.0),
                                                      rel(q["running"][k], t))
        eg = e.create_group("eig")
        eg["lambda"] = r64["eig"].numpy()
        eg["final"] = np.float64(r64["eig"][-1])
        b.attrs["eig"] = abs(float(r32["eig"][-1] - r64["eig"][-1])) / abs(float(r64["eig"][-1]))
        e.create_group("sgd")["losses"] = r64["sgd"].numpy()
        b.attrs["sgd_losses"] = float(((r32["sgd"] - r64["sgd"]).abs() / r64["sgd"].abs()).max())
        print("gen_fixture: %s %s N=%d P=%d: loss train %.6f eval %.6f, eig %.6g, sgd losses %s; "
              "torch f32 vs f64: grad %.2e hv %.2e eig %.2e (%.1f s)"
              % (a.model, a.shape, N, P, float(r64["train"]["loss"]), float(r64["eval"]["loss"]),
                 float(r64["eig"][-1]), " ".join("%.5f" % float(s) for s in r64["sgd"]),
                 rel(r32["eval"]["grad"], r64["eval"]["grad"]), rel(r32["eval"]["hv"], r64["eval"]["hv"]),
                 float(b.attrs["eig"]), time.time() - t0))


if __name__ == "__main__":
    main()
