"""absa_ckpt.py -- read and write absa's HDF5 checkpoint format from PyTorch (h5py).

The format (docs/checkpoints.md, src/io/checkpoint.c):
    /                 attrs format_version=1, model, input_shape=[C,H,W], num_classes, absa_version
    /model/<name>     one dataset per state_dict entry (float32; num_batches_tracked int64 scalar)
    /optimizer        attrs lr, momentum, dampening, weight_decay, nesterov, has_momentum, step
    /optimizer/momentum_buffer/<param name>
    /train            attrs rng (uint64 array) and scalar doubles / int64s

    save_checkpoint(path, model, name, input_shape, optimizer=None, train=None)
    read_state_dict(path) -> OrderedDict name -> tensor (file order)
    load_checkpoint(path, model, optimizer=None, strict=True) -> dict of root attributes
"""
import collections
import os

import h5py
import numpy as np
import torch

FORMAT_VERSION = 1


def _write_group_ordered(parent, name):
    return parent.create_group(name, track_order=True)


def save_checkpoint(path, model, name, input_shape, num_classes=10, optimizer=None, step=0,
                    train=None, dtype=np.float32):
    """Write `model` (and an SGD optimizer's state, and a dict of /train attributes) like
    absa_checkpoint_save: to path.tmp.<pid>, then rename."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format_version"] = np.int32(FORMAT_VERSION)
            f.attrs["model"] = name
            f.attrs["input_shape"] = np.asarray(input_shape, dtype=np.int32)
            f.attrs["num_classes"] = np.int32(num_classes)
            f.attrs["absa_version"] = "pytorch-%s" % torch.__version__
            g = _write_group_ordered(f, "model")
            for key, t in model.state_dict().items():
                a = t.detach().cpu().numpy()
                g[key] = a.astype(np.int64) if key.endswith("num_batches_tracked") else a.astype(dtype)
            if optimizer is not None:
                pg = optimizer.param_groups[0]
                o = _write_group_ordered(f, "optimizer")
                for k in ("lr", "momentum", "dampening", "weight_decay"):
                    o.attrs[k] = np.float64(pg[k])
                o.attrs["nesterov"] = np.int32(bool(pg["nesterov"]))
                names = {id(p): n for n, p in model.named_parameters()}
                bufs = [(names[id(p)], optimizer.state[p].get("momentum_buffer"))
                        for p in pg["params"]]
                has = all(b is not None for _, b in bufs) and len(bufs) > 0
                o.attrs["has_momentum"] = np.int32(has)
                o.attrs["step"] = np.int64(step)
                if has:
                    mb = _write_group_ordered(o, "momentum_buffer")
                    for n, b in bufs:
                        mb[n] = b.detach().cpu().numpy().astype(dtype)
            if train is not None:
                t = f.create_group("train")
                for k, v in train.items():
                    if k == "rng":
                        t.attrs[k] = np.asarray(v, dtype=np.uint64)
                    elif isinstance(v, (int, np.integer)):
                        t.attrs[k] = np.int64(v)
                    else:
                        t.attrs[k] = np.float64(v)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_state_dict(path, group="model"):
    """The tensors of /model (or another group) in file order."""
    out = collections.OrderedDict()
    with h5py.File(path, "r") as f:
        for key, ds in f[group].items():
            out[key] = torch.from_numpy(np.array(ds[()]))
    return out


def load_checkpoint(path, model, optimizer=None, strict=True):
    """load_state_dict(strict) from /model; momentum buffers into an SGD optimizer; returns the
    root attributes (model, input_shape, ...) and the /optimizer and /train attributes."""
    sd = read_state_dict(path)
    model.load_state_dict(sd, strict=strict)
    with h5py.File(path, "r") as f:
        info = {k: f.attrs[k] for k in f.attrs}
        if "optimizer" in f:
            o = f["optimizer"]
            info["optimizer"] = {k: o.attrs[k] for k in o.attrs}
            if optimizer is not None and "momentum_buffer" in o:
                params = dict(model.named_parameters())
                for n, ds in o["momentum_buffer"].items():
                    p = params[n]
                    optimizer.state[p]["momentum_buffer"] = torch.from_numpy(
                        np.array(ds[()])).to(p.dtype)
        if "train" in f:
            info["train"] = {k: f["train"].attrs[k] for k in f["train"].attrs}
    return info
