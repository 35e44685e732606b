#!/usr/bin/python3
"""test_h5_fashion.py — packs Debian's Fashion-MNIST (dataset-fashion-mnist, the default input of
`absa pack --format idx`) with --verify, and checks with h5py that the arrays equal the IDX
contents decoded independently here (gzip + numpy), that mean/std equal numpy's over the train
images, and that the class names and source checksums are right. Skips (77) without the package."""
import gzip
import os
import sys
import zlib

import h5py
import numpy as np

from h5fixtures import Checker, parse_args, run, tmpdir

SRC = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load(stem):
    raw = gzip.open(os.path.join(SRC, stem + ".gz"), "rb").read()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    args = parse_args()
    if not os.path.exists(os.path.join(SRC, "train-images-idx3-ubyte.gz")):
        print("dataset-fashion-mnist not installed: skipped")
        sys.exit(77)
    ck = Checker("test_h5_fashion")
    out = os.path.join(tmpdir(args, "fashion"), "fashion.h5")
    rc, _, se = run(args.absa, "pack", "--format", "idx", "--output", out, "--verify", "--quiet")
    ck.check(rc == 0, f"pack rc {rc}: {se}")
    if rc:
        ck.finish()
    with h5py.File(out, "r") as f:
        for split, pre, n in (("train", "train", 60000), ("test", "t10k", 10000)):
            x = load(f"{pre}-images-idx3-ubyte")
            y = load(f"{pre}-labels-idx1-ubyte")
            ck.check(x.shape == (n, 28, 28) and y.shape == (n,), f"{split}: IDX shapes {x.shape} {y.shape}")
            ck.check(f[split]["images"].shape == (n, 1, 28, 28), f"{split}: shape {f[split]['images'].shape}")
            ck.check(np.array_equal(f[split]["images"][...][:, 0], x), f"{split}: images differ from the IDX file")
            ck.check(np.array_equal(f[split]["labels"][...], y.astype(np.int32)), f"{split}: labels differ")
            if split == "train":
                xf = x.astype(np.float64) / 255
                m, s = xf.mean(), xf.std()
                ck.check(abs(f.attrs["mean"][0] - m) < 1e-6 and abs(f.attrs["std"][0] - s) < 1e-6,
                         f"mean/std {f.attrs['mean']} {f.attrs['std']} vs numpy {m} {s}")
                print(f"  train mean {m:.6f} std {s:.6f}")
        ck.check(list(f.attrs["class_names"]) == NAMES, f"class names {list(f.attrs['class_names'])}")
        ck.check(f["train/images"].chunks == (1337, 1, 28, 28), f"chunks {f['train/images'].chunks}")
        for p, crc in zip(f.attrs["source_files"], f.attrs["source_crc32"]):
            ck.check(zlib.crc32(open(p, "rb").read()) == int(crc), f"crc32 of {p}")
    ck.finish()


if __name__ == "__main__":
    main()
