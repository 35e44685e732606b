"""h5fixtures.py — shared helpers of the hdf5 Python tests: argument parsing, running `absa`,
and generators that write small valid (or deliberately broken) source files in the original
dataset formats (IDX, CIFAR-10/100 binary), from numpy arrays the tests keep as the oracle."""
import argparse
import atexit
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--absa", required=True)
    ap.add_argument("--workdir", default=".")
    return ap.parse_args()


def tmpdir(args, tag):
    d = tempfile.mkdtemp(prefix=tag + "-", dir=args.workdir)
    atexit.register(shutil.rmtree, d, True)
    return d


def run(absa, *argv):
    p = subprocess.run([absa, *map(str, argv)], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def idx_bytes(arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.tobytes()


def write(path, data, gz=False):
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(data)
    return path


def write_idx_set(d, rng, n_train=700, n_test=300, h=12, w=10, gz=True, ncls=10):
    """train-/t10k- images+labels in directory d; returns {split: (images N,H,W, labels N)}."""
    out = {}
    sfx = ".gz" if gz else ""
    for split, pre, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
        y = rng.integers(0, ncls, size=n, dtype=np.uint8)
        write(os.path.join(d, f"{pre}-images-idx3-ubyte{sfx}"), idx_bytes(x), gz)
        write(os.path.join(d, f"{pre}-labels-idx1-ubyte{sfx}"), idx_bytes(y), gz)
        out[split] = (x, y)
    return out


def cifar_records(rng, n, hundred, ncls=None):
    """n records; returns (bytes, images N,3,32,32, fine labels, coarse labels)."""
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    fine = rng.integers(0, ncls or (100 if hundred else 10), size=n, dtype=np.uint8)
    coarse = rng.integers(0, 20, size=n, dtype=np.uint8)
    lab = np.stack([coarse, fine], 1) if hundred else fine[:, None]
    rec = np.concatenate([lab, x.reshape(n, -1)], 1)
    return rec.tobytes(), x, fine, coarse


class Checker:
    def __init__(self, name):
        self.name, self.checks, self.failures = name, 0, 0

    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.failures += 1
            print(f"FAIL: {msg}", file=sys.stderr)

    def finish(self):
        print(f"{self.name}: {self.checks} checks, {self.failures} failures")
        sys.exit(1 if self.failures else 0)
