#!/usr/bin/python3
"""fgsm_eval.py -- clean and FGSM test accuracy of an absa checkpoint, with PyTorch on CPU.

absa itself has no adversarial evaluation (`absa train` tests on clean samples only, `absa eig`
computes curvature), so this is a separate, independent path: the checkpoint is loaded into the
PyTorch twin of the model (validation/oracle/absa_models.py, absa_ckpt.py) and evaluated with
batch norm in eval mode on the test split of a packed absa .h5 file:

    x_pix = u8 / 255                     (the pixel range [0, 1])
    x     = (x_pix - mean) / std         (the file's per-channel train statistics, as absa does)
    x_adv = clamp(x_pix + eps * sign(d loss / d x_pix), 0, 1)   for each eps (pixel units)

The loss is the per-sample cross-entropy against the true label (one FGSM step, untargeted;
eps 0.005 is the ABSA training eps). Prints one JSON object:
    {"checkpoint", "model", "samples", "clean_acc", "fgsm": {"<eps>": acc, ...}, "seconds"}
The clean accuracy must equal absa's own test accuracy of the same checkpoint (up to float
summation order): the study script compares them as a check of this evaluator.

Usage: fgsm_eval.py --checkpoint CK.h5 --data fm.h5 [--eps 0.005,0.02,0.1] [--limit N]
                    [--check-first N] [--batch 500] [--threads 1] [--output F.json]
"""
import argparse
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
import absa_ckpt  # noqa: E402
import absa_models  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="packed absa .h5 (absa pack)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--eps", default="0.005,0.02,0.1", help="comma list, [0,1] pixel units")
    ap.add_argument("--limit", type=int, default=0, help="first N test samples (0 = all)")
    ap.add_argument("--check-first", type=int, default=0,
                    help="also report the clean accuracy of the first N samples (absa train --limit-test N)")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", default=None)
    a = ap.parse_args()
    try:
        eps_list = [float(e) for e in a.eps.split(",") if e]
    except ValueError:
        sys.exit("fgsm_eval.py: --eps: '%s' is not a comma list of numbers" % a.eps)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    with h5py.File(a.data, "r") as f:
        mean = np.asarray(f.attrs["mean"], dtype=np.float32)
        std = np.asarray(f.attrs["std"], dtype=np.float32)
        n = f[a.split]["labels"].shape[0]
        if a.limit > 0:
            n = min(n, a.limit)
        images = np.asarray(f[a.split]["images"][:n])
        labels = np.asarray(f[a.split]["labels"][:n]).astype(np.int64)
    with h5py.File(a.checkpoint, "r") as f:
        name = f.attrs["model"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        C, H, W = (int(v) for v in f.attrs["input_shape"])
        K = int(f.attrs["num_classes"])
    model = absa_models.build_model(name, C, H, W, K)
    absa_ckpt.load_checkpoint(a.checkpoint, model)
    model = model.float().eval()
    mu = torch.from_numpy(mean).view(1, C, 1, 1)
    sd = torch.from_numpy(std).view(1, C, 1, 1)
    clean = 0
    correct = np.zeros(n, dtype=bool)
    adv = {e: 0 for e in eps_list}
    for i in range(0, n, a.batch):
        xp = torch.from_numpy(images[i:i + a.batch]).float() / 255.0
        y = torch.from_numpy(labels[i:i + a.batch])
        xp.requires_grad_(True)
        out = model((xp - mu) / sd)
        loss = F.cross_entropy(out, y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xp)
        ok = (out.argmax(1) == y)
        correct[i:i + len(y)] = ok.numpy()
        clean += int(ok.sum())
        sg = g.sign()
        with torch.no_grad():
            for e in eps_list:
                xa = (xp + e * sg).clamp(0.0, 1.0)
                adv[e] += int((model((xa - mu) / sd).argmax(1) == y).sum())
    res = {"checkpoint": a.checkpoint, "model": name, "samples": n, "clean_acc": clean / n,
           "fgsm": {("%g" % e): adv[e] / n for e in eps_list}}
    if a.check_first > 0:
        res["check_first"] = min(a.check_first, n)
        res["clean_acc_first"] = float(correct[:a.check_first].mean())
    res["seconds"] = round(time.time() - t0, 3)
    text = json.dumps(res)
    if a.output:
        tmp = "%s.tmp.%d" % (a.output, os.getpid())
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, a.output)
    else:
        print(text)


if __name__ == "__main__":
    main()
