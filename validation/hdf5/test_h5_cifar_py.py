#!/usr/bin/python3
"""test_h5_cifar_py.py — `absa pack` on the CIFAR python version (cifar-10-python.tar.gz,
cifar-100-python.tar.gz: Python 2 pickles, what most users have on disk), as the archive and as
the extracted folder. Fixtures: h5fixtures.write_cifar_python (pickles checked to load back with
Python's pickle). Checks: the images and labels are bitwise those of packing the binary version of
the same data (and of the numpy oracle); class names from the meta file; hostile archives and
pickles give exit 1 with one stderr line (never a crash), and nothing is left behind."""
import gzip
import os
import pickle

import h5py
import numpy as np

from h5fixtures import Checker, parse_args, py2_pickle, run, tmpdir, write, write_cifar_python


def datasets(path):
    with h5py.File(path, "r") as f:
        out = {k: f[k][()] for s in ("train", "test") for k in (f"{s}/images", f"{s}/labels", f"{s}/coarse_labels") if k in f}
        out["class_names"] = [x.decode() if isinstance(x, bytes) else x for x in f.attrs["class_names"]]
        if "coarse_class_names" in f.attrs:
            out["coarse_class_names"] = list(f.attrs["coarse_class_names"])
    return out


def test_same_as_binary(ck, args, rng, hundred):
    tag = "cifar100" if hundred else "cifar10"
    d = tmpdir(args, tag + "-py")
    folder, archive, bindir, oracle = write_cifar_python(d, rng, hundred)
    outs = {}
    for name, inp in (("bin", bindir), ("archive", archive), ("folder", folder)):
        o = os.path.join(d, name + ".h5")
        rc, _, err = run(args.absa, "pack", "--format", tag, "--input", inp, "--output", o, "--quiet")
        ck.check(rc == 0, f"{tag} {name}: pack exit {rc}: {err.strip()}")
        if rc == 0:
            outs[name] = datasets(o)
    if len(outs) != 3:
        return
    for name in ("archive", "folder"):
        for k, v in outs["bin"].items():
            same = isinstance(v, list) and v == outs[name][k] or (not isinstance(v, list) and np.array_equal(v, outs[name][k]) and v.dtype == outs[name][k].dtype)
            ck.check(same, f"{tag} {name}: {k} differs from the binary version's")
        ck.check(set(outs[name]) == set(outs["bin"]), f"{tag} {name}: datasets {sorted(outs[name])}")
    for split in ("train", "test"):
        x = np.concatenate([b[0] for b in oracle[split]])
        fine = np.concatenate([b[1] for b in oracle[split]]).astype(np.int32)
        ck.check(np.array_equal(outs["archive"][f"{split}/images"], x), f"{tag}: {split} images != oracle")
        ck.check(np.array_equal(outs["archive"][f"{split}/labels"], fine), f"{tag}: {split} labels != oracle")
        if hundred:
            coarse = np.concatenate([b[2] for b in oracle[split]]).astype(np.int32)
            ck.check(np.array_equal(outs["archive"][f"{split}/coarse_labels"], coarse), f"{tag}: {split} coarse != oracle")
    ck.check(outs["archive"]["class_names"][:2] == ["class_0", "class_1"], f"{tag}: class names from the meta file")


def expect_fail(ck, args, tag, fmt, inp, phrase):
    d = os.path.dirname(inp)
    out = os.path.join(d, "out.h5")
    rc, _, err = run(args.absa, "pack", "--format", fmt, "--input", inp, "--output", out, "--quiet")
    lines = [l for l in err.splitlines() if l.strip()]
    ck.check(rc == 1, f"{tag}: exit {rc} (want 1): {err.strip()}")
    ck.check(len(lines) == 1, f"{tag}: stderr has {len(lines)} lines")
    ck.check(phrase in err, f"{tag}: '{phrase}' not in '{err.strip()}'")
    ck.check(not any(f.startswith("out.h5") for f in os.listdir(d)), f"{tag}: output left behind")


def test_hostile(ck, args, rng):
    d = tmpdir(args, "cifar-py-bad")
    folder, archive, _, _ = write_cifar_python(d, rng, False, n_train=(3, 2), n_test=2)
    good = open(os.path.join(folder, "data_batch_1"), "rb").read()
    x = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)

    def case(tag, data, phrase, name="data_batch_1"):
        dd = tmpdir(args, "case")
        expect_fail(ck, args, tag, "cifar10", write(os.path.join(dd, name), data), phrase)

    case("truncated pickle", good[:-20], "data_batch_1: not a CIFAR python pickle")
    case("no STOP", good[:-1], "truncated (no STOP)")
    case("python 3 pickle", pickle.dumps({b"data": x, b"labels": [1, 2, 3]}, protocol=4), "no pickle protocol 2 header")
    case("foreign global", b"\x80\x02cos\nsystem\nq\x01.", "unsupported global 'os.system'")
    case("shape larger than data", good.replace(b"K\x03M\x00\x0c\x86", b"K\x04M\x00\x0c\x86", 1), "does not match its")
    case("labels too short", py2_pickle({"data": x, "labels": [1, 2]}), "is not a list of 3 labels")
    case("label out of range", py2_pickle({"data": x, "labels": [1, 2, 10]}), "label 10 outside [0, 10)")
    case("not a dict", b"\x80\x02]q\x01.", "the pickle is not a dict")
    case("GET of unset memo", b"\x80\x02h\x07.", "GET of unset memo entry 7")
    case("string past the end", b"\x80\x02}q\x01(T\xff\xff\xff\x7f", "runs past the end")
    case("wrong ndarray dtype", good.replace(b"U\x02u1", b"U\x02i8", 1), "not uint8")
    gz = open(archive, "rb").read()
    dd = tmpdir(args, "case")
    expect_fail(ck, args, "truncated archive", "cifar10", write(os.path.join(dd, "cifar-10-python.tar.gz"), gz[:len(gz) // 2]), "cifar-10-python.tar.gz")
    raw = bytearray(gzip.decompress(gz))
    raw[148] ^= 1  # header checksum
    dd = tmpdir(args, "case")
    expect_fail(ck, args, "bad tar checksum", "cifar10", write(os.path.join(dd, "cifar-10-python.tar.gz"), gzip.compress(bytes(raw))), "checksum mismatch")
    # the binary version as an archive: a pointer to extracting it
    import tarfile
    dd = tmpdir(args, "case")
    binarch = os.path.join(dd, "cifar-10-binary.tar.gz")
    with tarfile.open(binarch, "w:gz", format=tarfile.GNU_FORMAT) as t:
        t.add(os.path.join(d, "bin", "data_batch_1.bin"), arcname="cifar-10-batches-bin/data_batch_1.bin")
    expect_fail(ck, args, "binary version as an archive", "cifar10", binarch, "extract it (tar xzf)")
    # random corruption of a valid pickle: exit 0 or 1, one stderr line on failure, never a crash
    crashes = 0
    for t in range(40):
        b = bytearray(good)
        for _ in range(1 + t % 4):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        dd = tmpdir(args, "mut")
        rc, _, err = run(args.absa, "pack", "--format", "cifar10", "--input", write(os.path.join(dd, "data_batch_1"), bytes(b)),
                         "--output", os.path.join(dd, "o.h5"), "--quiet")
        crashes += rc not in (0, 1) or (rc == 1 and len(err.strip().splitlines()) != 1)
    ck.check(crashes == 0, f"{crashes} of 40 corrupted pickles crashed or gave more than one line")
    # the binary version's messages point to the python version
    dd = tmpdir(args, "case")
    os.makedirs(os.path.join(dd, "empty"))
    expect_fail(ck, args, "no batches", "cifar10", os.path.join(dd, "empty"), "python version: cifar-10-python.tar.gz")


def main():
    args = parse_args()
    ck = Checker("test_h5_cifar_py")
    rng = np.random.default_rng(20261206)
    test_same_as_binary(ck, args, rng, hundred=False)
    test_same_as_binary(ck, args, rng, hundred=True)
    test_hostile(ck, args, rng)
    ck.finish()


if __name__ == "__main__":
    main()
