#!/usr/bin/python3
"""make_seeds.py — writes the initial fuzz corpus (valid small inputs in fuzz_parsers.c's input
layout) into validation/fuzz/corpus/: a raw and a gzipped IDX pair, a CIFAR-10 and a CIFAR-100 file,
and the CIFAR python version: a CIFAR-10 and a CIFAR-100 pickle and a plain tar archive."""
import gzip
import os
import struct

d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(d, exist_ok=True)


def idx(shape, data):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + data


img = idx((3, 4, 5), bytes(range(60)))
lab = idx((3,), bytes([1, 2, 9]))
for name, a, b in (("seed_idx_raw", img, lab), ("seed_idx_gz", gzip.compress(img), gzip.compress(lab))):
    cut = len(a) * 256 // (len(a) + len(b)) + 1  # byte 1 -> split point at len(a)
    while cut * (len(a) + len(b)) // 256 < len(a):
        cut += 1
    open(os.path.join(d, name), "wb").write(bytes([0, cut]) + a + b)
open(os.path.join(d, "seed_cifar10"), "wb").write(bytes([1]) + bytes([3]) + bytes(3072) + bytes([9]) + bytes(range(256)) * 12)
open(os.path.join(d, "seed_cifar100"), "wb").write(bytes([2]) + bytes([19, 99]) + bytes(range(256)) * 12)

# python version (pickles in the Python 2 cPickle protocol-2 form of the real files)
import io
import sys
import tarfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hdf5"))
from h5fixtures import py2_pickle  # noqa: E402

x = np.arange(2 * 3072, dtype=np.uint32).astype(np.uint8).reshape(2, 3072)
p10 = py2_pickle({"data": x, "labels": [3, 9], "batch_label": "training batch 1 of 5", "filenames": ["a.png", "b.png"]})
p100 = py2_pickle({"data": x, "fine_labels": [3, 99], "coarse_labels": [0, 19], "filenames": ["a.png", "b.png"],
                   "batch_label": "training batch 1 of 1"})
open(os.path.join(d, "seed_cifar10_py"), "wb").write(bytes([3]) + p10)
open(os.path.join(d, "seed_cifar100_py"), "wb").write(bytes([4]) + p100)
tb = io.BytesIO()
with tarfile.open(fileobj=tb, mode="w", format=tarfile.GNU_FORMAT) as t:
    for name, data in (("cifar-10-batches-py/data_batch_1", p10),
                       ("cifar-10-batches-py/batches.meta", py2_pickle({"label_names": [f"c{k}" for k in range(10)]}))):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
open(os.path.join(d, "seed_cifar10_tar"), "wb").write(bytes([5]) + tb.getvalue())
