#!/usr/bin/python3
"""mkidx.py DIR N_TRAIN N_TEST [BAD_TEST_LABEL] -- a small random Fashion-MNIST-like IDX set
(28x28 uint8 images, labels 0..9) in DIR; with BAD_TEST_LABEL, the last test label is set to it."""
import os
import random
import struct
import sys

d, ntr, nte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bad = int(sys.argv[4]) if len(sys.argv) > 4 else None
os.makedirs(d, exist_ok=True)
rng = random.Random(1)
for prefix, n in (("train", ntr), ("t10k", nte)):
    with open(os.path.join(d, "%s-images-idx3-ubyte" % prefix), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28))
        f.write(bytes(rng.randrange(256) for _ in range(n * 784)))
    labels = [i % 10 for i in range(n)]
    if bad is not None and prefix == "t10k":
        labels[-1] = bad
    with open(os.path.join(d, "%s-labels-idx1-ubyte" % prefix), "wb") as f:
        f.write(struct.pack(">II", 0x801, n))
        f.write(bytes(labels))
