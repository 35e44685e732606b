#!/usr/bin/python3
"""test_ckpt_interop.py -- checkpoints move both ways between absa (C) and PyTorch, bit-exact.

For every model and input shape:
  C -> torch: `ckpt_tool init` writes a checkpoint; h5py sees the documented layout (attributes,
     state_dict order, dtypes, shapes); the torch twin loads it with load_state_dict(strict=True);
     parameters_to_vector equals the C parameter arena bit for bit; momentum buffers, optimizer
     and training attributes load too.
  torch -> C -> torch: a torch model with random BN statistics and real SGD momentum is saved by
     absa_ckpt.save_checkpoint; `ckpt_tool resave` loads it in C and writes it back; every tensor,
     momentum buffer and attribute survives bit-exactly, and the C arena equals the torch vector.
Also: a bare h5py state_dict (float64, no attributes, alphabetical order) loads into C; a
checkpoint of another model and a missing file give a one-line error and exit status 1.

    test_ckpt_interop.py --tool build/validation/oracle/ckpt_tool --workdir DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

try:
    import h5py
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("test_ckpt_interop: cannot import %s: skipped" % e.name)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from absa_models import build_model  # noqa: E402
from absa_ckpt import load_checkpoint, read_state_dict, save_checkpoint  # noqa: E402

CASES = (("mlp", (1, 28, 28)), ("lenet", (1, 28, 28)), ("c1", (1, 28, 28)), ("c1", (3, 32, 32)),
         ("resnet20", (3, 32, 32)), ("resnet20", (1, 28, 28)))
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def tool(args):
    return subprocess.run([ARGS.tool] + [str(a) for a in args], capture_output=True, text=True)


def flat(model):
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def c_to_torch(name, shape, tag):
    h5, bin_ = os.path.join(ARGS.workdir, tag + "_c.h5"), os.path.join(ARGS.workdir, tag + "_c.bin")
    r = tool(["init", name, "x".join(map(str, shape)), 7, h5, bin_])
    check(r.returncode == 0, "%s: ckpt_tool init failed: %s" % (tag, r.stderr.strip()))
    if r.returncode:
        return
    twin = build_model(name, *shape)
    sd = twin.state_dict()
    with h5py.File(h5, "r") as f:
        check(int(f.attrs["format_version"]) == 1, "%s: format_version" % tag)
        check(f.attrs["model"] == name, "%s: model attribute %r" % (tag, f.attrs["model"]))
        check(list(f.attrs["input_shape"]) == list(shape), "%s: input_shape" % tag)
        check(int(f.attrs["num_classes"]) == 10, "%s: num_classes" % tag)
        check(list(f["model"].keys()) == list(sd.keys()),
              "%s: /model is not in state_dict order: %s" % (tag, list(f["model"].keys())[:6]))
        for k, t in sd.items():
            ds = f["model"][k]
            want = np.int64 if k.endswith("num_batches_tracked") else np.float32
            check(ds.dtype == want and ds.shape == tuple(t.shape),
                  "%s: %s is %s %s, torch has %s" % (tag, k, ds.dtype, ds.shape, tuple(t.shape)))
    opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    try:
        info = load_checkpoint(h5, twin, opt, strict=True)
    except Exception as e:  # noqa: BLE001 -- report any load failure as a test failure
        check(False, "%s: load_state_dict(strict=True) of the C checkpoint failed: %s" % (tag, e))
        return
    arena = np.fromfile(bin_, dtype=np.float32)
    check(same(flat(twin), arena), "%s: parameters_to_vector != C parameter arena" % tag)
    o, t = info.get("optimizer", {}), info.get("train", {})
    check(o.get("lr") == 0.05 and o.get("momentum") == 0.9 and o.get("weight_decay") == 5e-4
          and int(o.get("has_momentum", 0)) == 1 and int(o.get("step", 0)) == 42,
          "%s: optimizer attributes %s" % (tag, o))
    mom = np.concatenate([opt.state[p]["momentum_buffer"].reshape(-1).numpy() for p in twin.parameters()])
    check(same(mom, 0.5 * arena + 1e-3 * (np.arange(arena.size) % 7).astype(np.float32)),
          "%s: momentum buffers differ from the C arena" % tag)
    check(list(t.get("rng", [])) == [0x0123456789ABCDEF * (i + 1) % 2**64 for i in range(4)]
          and int(t.get("epoch", -1)) == 3 and float(t.get("eig_reference", 0)) == 12.5,
          "%s: /train attributes %s" % (tag, t))
    n_bn = sum(1 for k in sd if k.endswith("num_batches_tracked"))
    print("  C -> torch  %-18s ok: %d tensors (%d BN), %d parameters, strict load, arena bit-exact"
          % (tag, len(sd), n_bn, arena.size))


def torch_to_c(name, shape, tag):
    torch.manual_seed(11)
    twin = build_model(name, *shape)
    with torch.no_grad():
        for k, b in twin.named_buffers():
            if k.endswith("running_mean"):
                b.normal_(0, 0.3)
            elif k.endswith("running_var"):
                b.uniform_(0.5, 2.0)
            elif k.endswith("num_batches_tracked"):
                b.fill_(123)
    opt = torch.optim.SGD(twin.parameters(), lr=0.02, momentum=0.9, dampening=0.1, weight_decay=1e-4)
    loss = F.cross_entropy(twin(torch.randn(4, *shape)), torch.randint(0, 10, (4,)))
    loss.backward()
    opt.step()
    src = os.path.join(ARGS.workdir, tag + "_t.h5")
    out, bin_ = os.path.join(ARGS.workdir, tag + "_tc.h5"), os.path.join(ARGS.workdir, tag + "_tc.bin")
    train = {"rng": [1, 2, 2**64 - 1], "epoch": 7, "lr_scale": 0.5}
    save_checkpoint(src, twin, name, shape, 10, optimizer=opt, step=1, train=train)
    r = tool(["resave", src, out, bin_])
    check(r.returncode == 0, "%s: C could not load the torch checkpoint: %s" % (tag, r.stderr.strip()))
    if r.returncode:
        return
    back = read_state_dict(out)
    sd = twin.state_dict()
    check(list(back.keys()) == list(sd.keys()), "%s: names/order changed in the C copy" % tag)
    for k, t in sd.items():
        check(k in back and same(back[k].numpy(), t.numpy()), "%s: %s changed in the C copy" % (tag, k))
    check(same(np.fromfile(bin_, dtype=np.float32), flat(twin)), "%s: C arena != torch vector" % tag)
    names = {id(p): n for n, p in twin.named_parameters()}
    with h5py.File(out, "r") as f:
        o = f["optimizer"]
        check(o.attrs["lr"] == 0.02 and o.attrs["dampening"] == 0.1 and o.attrs["weight_decay"] == 1e-4
              and int(o.attrs["step"]) == 1 and int(o.attrs["nesterov"]) == 0,
              "%s: optimizer attributes %s" % (tag, dict(o.attrs)))
        for p, st in opt.state.items():
            n = names[id(p)]
            check(same(o["momentum_buffer"][n][()], st["momentum_buffer"].numpy()),
                  "%s: momentum_buffer/%s changed" % (tag, n))
        t = f["train"].attrs
        check(list(t["rng"]) == [1, 2, 2**64 - 1] and t["rng"].dtype == np.uint64, "%s: rng %s" % (tag, t["rng"]))
        check(int(t["epoch"]) == 7 and t["epoch"].dtype == np.int64, "%s: epoch attribute" % tag)
        check(float(t["lr_scale"]) == 0.5 and t["lr_scale"].dtype == np.float64, "%s: lr_scale" % tag)
    print("  torch -> C  %-18s ok: state_dict, momentum, optimizer and /train attributes bit-exact"
          % tag)


def bare_and_errors():
    torch.manual_seed(3)
    lenet = build_model("lenet", 1, 28, 28)
    bare = os.path.join(ARGS.workdir, "bare_lenet.h5")
    with h5py.File(bare, "w") as f:  # what a user might write by hand: float64, no attributes
        for k, t in lenet.state_dict().items():
            f["model/" + k] = t.numpy().astype(np.int64 if "num_batches" in k else np.float64)
    out, bin_ = os.path.join(ARGS.workdir, "bare_out.h5"), os.path.join(ARGS.workdir, "bare_out.bin")
    r = tool(["resave", bare, out, bin_, "lenet", "1x28x28"])
    check(r.returncode == 0, "bare state_dict: %s" % r.stderr.strip())
    if r.returncode == 0:
        check(same(np.fromfile(bin_, dtype=np.float32), flat(lenet)), "bare state_dict values differ")
        print("  bare h5py state_dict (float64, no attributes) loads into C: ok")
    r = tool(["resave", bare, out, bin_, "mlp", "1x28x28"])
    msg = r.stderr.strip()
    check(r.returncode == 1 and msg.count("\n") == 0 and
          "fc1.weight has shape [128,3136], model expects [256,784]" in msg and "unexpected: conv1" in msg,
          "lenet state_dict into mlp: rc %d, %r" % (r.returncode, msg))
    print("  lenet file into mlp -> rc %d: %s" % (r.returncode, msg))
    r = tool(["resave", os.path.join(ARGS.workdir, "nope.h5"), out, bin_])
    check(r.returncode == 1 and "no such file" in r.stderr, "missing file: %r" % r.stderr)
    print("  missing file -> rc %d: %s" % (r.returncode, r.stderr.strip()))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--workdir", required=True)
    ARGS = ap.parse_args()
    os.makedirs(ARGS.workdir, exist_ok=True)
    torch.set_num_threads(1)
    for name, shape in CASES:
        tag = "%s_%s" % (name, "x".join(map(str, shape)))
        c_to_torch(name, shape, tag)
        torch_to_c(name, shape, tag)
    bare_and_errors()
    print("test_ckpt_interop: %d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
