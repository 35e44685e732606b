#!/usr/bin/python3
"""make_seeds.py — writes the initial fuzz corpus (valid small inputs in fuzz_parsers.c's input
layout) into validation/fuzz/corpus/: a raw and a gzipped IDX pair, a CIFAR-10 and a CIFAR-100 file."""
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
