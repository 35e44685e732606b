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


class Py2Pickle:
    """Writes a dict the way Python 2's cPickle (protocol 2) wrote the CIFAR python-version files:
    byte strings as SHORT_BINSTRING/BINSTRING, numpy arrays through numpy.core.multiarray
    _reconstruct + BUILD, lists in APPENDS batches of 1000, memo PUTs after containers."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.memo += 1
        self.out += bytes([0x71, self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)

    def s(self, b):
        b = b.encode() if isinstance(b, str) else b
        self.out += (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b
        self.put()

    def i(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        else:
            self.out += b"J" + struct.pack("<i", v)

    def value(self, v):
        if isinstance(v, (bytes, str)):
            self.s(v)
        elif isinstance(v, int):
            self.i(v)
        elif isinstance(v, list):
            self.out += b"]"
            self.put()
            for k in range(0, len(v), 1000):
                chunk = v[k:k + 1000]
                if len(chunk) > 1:
                    self.out += b"("
                for x in chunk:
                    self.value(x)
                self.out += b"e" if len(chunk) > 1 else b"a"
        elif isinstance(v, np.ndarray):
            self.out += b"cnumpy.core.multiarray\n_reconstruct\n"
            self.put()
            self.out += b"cnumpy\nndarray\n"
            self.put()
            self.out += b"K\x00\x85U\x01b\x87R"
            self.put()
            self.out += b"(K\x01"
            for d in v.shape:
                self.i(d)
            self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[v.ndim]
            self.out += b"cnumpy\ndtype\n"
            self.put()
            self.out += b"U\x02u1K\x00K\x01\x87R"
            self.put()
            self.out += b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
            self.s(np.ascontiguousarray(v, dtype=np.uint8).tobytes())
            self.out += b"tb"
        else:
            raise TypeError(type(v))

    def dumps(self, d):
        self.out += b"}"
        self.put()
        self.out += b"("
        for k, v in d.items():
            self.s(k)
            self.value(v)
        self.out += b"u."
        return bytes(self.out)


def py2_pickle(d):
    """bytes of dict d as Python 2 cPickle protocol 2; checked to load back with pickle.loads(encoding='bytes')."""
    import pickle
    b = Py2Pickle().dumps(d)
    back = pickle.loads(b, encoding="bytes")
    for k, v in d.items():
        kb = k.encode()
        if isinstance(v, np.ndarray):
            assert np.array_equal(back[kb], v) and back[kb].dtype == np.uint8, k
        else:
            want = [x.encode() if isinstance(x, str) else x for x in v] if isinstance(v, list) else \
                (v.encode() if isinstance(v, str) else v)
            assert back[kb] == want, k
    return b


def write_cifar_python(d, rng, hundred, n_train=(7, 6, 5, 4, 3), n_test=6):
    """The python version of a tiny CIFAR in folder d/cifar-10-batches-py (or cifar-100-python)
    and d/cifar-10-python.tar.gz (GNU tar, same member order style as the real archive), plus the
    binary version of the same data in d/bin/. Returns (folder, archive, bindir, oracle dict)."""
    import tarfile
    sub = "cifar-100-python" if hundred else "cifar-10-batches-py"
    folder = os.path.join(d, sub)
    bindir = os.path.join(d, "bin")
    os.makedirs(folder, exist_ok=True)
    os.makedirs(bindir, exist_ok=True)
    names = [f"class_{k}" for k in range(100 if hundred else 10)]
    coarse_names = [f"super_{k}" for k in range(20)]
    batches = [sum(n_train)] if hundred else list(n_train)
    oracle = {"train": [], "test": []}
    files = []
    for k, n in enumerate(batches + [n_test]):
        test = k == len(batches)
        raw, x, fine, coarse = cifar_records(rng, n, hundred)
        oracle["test" if test else "train"].append((x, fine, coarse))
        pyname = ("test" if test else "train") if hundred else ("test_batch" if test else f"data_batch_{k + 1}")
        binname = ("test.bin" if test else "train.bin") if hundred else ("test_batch.bin" if test else f"data_batch_{k + 1}.bin")
        write(os.path.join(bindir, binname), raw)
        dd = {"data": x.reshape(n, 3072)}
        if hundred:
            dd.update(fine_labels=[int(v) for v in fine], coarse_labels=[int(v) for v in coarse])
        else:
            dd["labels"] = [int(v) for v in fine]
        dd["batch_label"] = ("testing batch 1 of 1" if test else f"training batch {k + 1} of {len(batches)}")
        dd["filenames"] = [f"img_{k}_{j}.png" for j in range(n)]
        write(os.path.join(folder, pyname), py2_pickle(dd))
        files.append(pyname)
    if hundred:
        meta = {"fine_label_names": names, "coarse_label_names": coarse_names}
        write(os.path.join(bindir, "fine_label_names.txt"), ("\n".join(names) + "\n").encode())
        write(os.path.join(bindir, "coarse_label_names.txt"), ("\n".join(coarse_names) + "\n").encode())
    else:
        meta = {"num_cases_per_batch": n_train[0], "label_names": names, "num_vis": 3072}
        write(os.path.join(bindir, "batches.meta.txt"), ("\n".join(names) + "\n").encode())
    write(os.path.join(folder, "meta" if hundred else "batches.meta"), py2_pickle(meta))
    files.append("meta" if hundred else "batches.meta")
    write(os.path.join(folder, "readme.html"), b"<html>not a batch</html>")
    archive = os.path.join(d, "cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz")
    with tarfile.open(archive, "w:gz", format=tarfile.GNU_FORMAT) as t:
        t.add(folder, arcname=sub, recursive=False)
        for f in [files[-1], "readme.html"] + files[:-1][::-1]:  # an order other than the split order
            t.add(os.path.join(folder, f), arcname=sub + "/" + f)
    return folder, archive, bindir, oracle
