#!/usr/bin/python3
"""test_h5_badinput.py — `absa pack` on broken inputs: truncated files (raw and gzipped), wrong
magic, wrong dimensions, wrong record sizes, trailing bytes, count mismatches, labels out of
range, a corrupt gzip stream, an unavailable blosc filter, a missing input, an output in a
missing directory, an existing output without --force. Each must exit 1 with exactly one
stderr line "absa pack: error: ..." naming the problem, and leave no file (no partial output,
no temporary) in the output directory; an existing output must stay untouched."""
import gzip
import os

import numpy as np

from h5fixtures import Checker, cifar_records, idx_bytes, parse_args, run, tmpdir, write


def expect_fail(ck, args, tag, argv, outdir, phrase, keep=()):
    before = {n: open(os.path.join(outdir, n), "rb").read() for n in keep}
    rc, _, se = run(args.absa, "pack", *argv)
    lines = [l for l in se.splitlines() if l.strip()]
    ck.check(rc == 1, f"{tag}: exit {rc} (want 1); stderr: {se.strip()}")
    ck.check(len(lines) == 1 and lines[0].startswith("absa pack: error: "), f"{tag}: stderr not one error line: {se!r}")
    ck.check(phrase.lower() in se.lower(), f"{tag}: message lacks '{phrase}': {se.strip()}")
    left = sorted(set(os.listdir(outdir)) - set(keep))
    ck.check(not left, f"{tag}: files left behind: {left}")
    for n, data in before.items():
        ck.check(open(os.path.join(outdir, n), "rb").read() == data, f"{tag}: {n} was modified")
    print(f"  {tag:28s} -> {lines[0] if lines else '(nothing)'}")


def idx_case(ck, args, rng, tag, mutate, phrase, gz=False):
    src = tmpdir(args, "bad-src")
    out = tmpdir(args, "bad-out")
    x = rng.integers(0, 256, size=(50, 6, 5), dtype=np.uint8)
    y = rng.integers(0, 10, size=50, dtype=np.uint8)
    img, lab = mutate(idx_bytes(x), idx_bytes(y), x, y)
    fi = write(os.path.join(src, "train-images-idx3-ubyte" + (".gz" if gz else "")), img, gz)
    fl = write(os.path.join(src, "train-labels-idx1-ubyte" + (".gz" if gz else "")), lab, gz)
    expect_fail(ck, args, tag, ["--format", "idx", "--input", fi, fl, "--output", os.path.join(out, "o.h5"), "--quiet"],
                out, phrase)


def cifar_case(ck, args, rng, tag, hundred, mutate, phrase):
    src = tmpdir(args, "bad-src")
    out = tmpdir(args, "bad-out")
    raw, *_ = cifar_records(rng, 20, hundred)
    name = "train.bin" if hundred else "data_batch_1.bin"
    write(os.path.join(src, name), mutate(bytearray(raw)))
    expect_fail(ck, args, tag, ["--format", "cifar100" if hundred else "cifar10", "--input", src,
                                "--output", os.path.join(out, "o.h5")], out, phrase)


def main():
    args = parse_args()
    ck = Checker("test_h5_badinput")
    rng = np.random.default_rng(7)
    ident = lambda i, l, x, y: (i, l)
    idx_case(ck, args, rng, "idx truncated images", lambda i, l, x, y: (i[:-100], l), "truncated")
    idx_case(ck, args, rng, "idx truncated images (gz)", lambda i, l, x, y: (i[:-100], l), "truncated", gz=True)
    idx_case(ck, args, rng, "idx truncated header", lambda i, l, x, y: (i[:9], l), "truncated")
    idx_case(ck, args, rng, "idx wrong magic", lambda i, l, x, y: (b"\x12\x34" + i[2:], l), "magic")
    idx_case(ck, args, rng, "idx wrong element type", lambda i, l, x, y: (i[:2] + b"\x0d" + i[3:], l), "type")
    idx_case(ck, args, rng, "idx labels as images", lambda i, l, x, y: (l, l), "dimensions")
    idx_case(ck, args, rng, "idx trailing bytes", lambda i, l, x, y: (i + b"\0" * 30, l), "trailing")
    idx_case(ck, args, rng, "idx trailing bytes (gz)", lambda i, l, x, y: (i + b"\0" * 30, l), "trailing", gz=True)
    idx_case(ck, args, rng, "idx count mismatch", lambda i, l, x, y: (i, idx_bytes(y[:49])), "49 labels")
    idx_case(ck, args, rng, "idx label out of range", lambda i, l, x, y: (i, l[:-1] + b"\x0a"), "outside [0, 10)")
    # a gzip stream cut in the middle
    src, out = tmpdir(args, "bad-src"), tmpdir(args, "bad-out")
    x = rng.integers(0, 256, size=(400, 28, 28), dtype=np.uint8)
    gzdata = gzip.compress(idx_bytes(x))
    write(os.path.join(src, "train-images-idx3-ubyte.gz"), gzdata[: len(gzdata) // 2])
    write(os.path.join(src, "train-labels-idx1-ubyte"), idx_bytes(np.zeros(400, np.uint8)))
    expect_fail(ck, args, "idx cut gzip stream", ["--format", "idx", "--input", src, "--output", os.path.join(out, "o.h5")],
                out, "train-images-idx3-ubyte.gz")
    write(os.path.join(src, "train-images-idx3-ubyte.gz"), gzdata[:-8] + bytes(8))  # CRC-32 / length trailer zeroed
    expect_fail(ck, args, "idx corrupt gzip stream", ["--format", "idx", "--input", src, "--output", os.path.join(out, "o.h5")],
                out, "gzip")

    cifar_case(ck, args, rng, "cifar10 wrong record size", False, lambda b: b + b"\0" * 5, "multiple of the 3073-byte record")
    cifar_case(ck, args, rng, "cifar10 truncated", False, lambda b: b[:-1], "multiple")
    cifar_case(ck, args, rng, "cifar10 empty file", False, lambda b: b[:0], "empty")
    cifar_case(ck, args, rng, "cifar10 label out of range", False, lambda b: b[:3073 * 5] + b"\x0a" + b[3073 * 5 + 1:],
               "sample 5 has label 10 outside [0, 10)")
    cifar_case(ck, args, rng, "cifar100 wrong record size", True, lambda b: b[:-3000], "3074-byte record")
    cifar_case(ck, args, rng, "cifar100 coarse out of range", True, lambda b: b"\x14" + b[1:], "coarse label 20")
    cifar_case(ck, args, rng, "cifar100 fine out of range", True, lambda b: b[:1] + b"\x64" + b[2:], "label 100")

    # output / environment problems, on a valid input
    src, out = tmpdir(args, "ok-src"), tmpdir(args, "bad-out")
    fi = write(os.path.join(src, "train-images-idx3-ubyte"), idx_bytes(rng.integers(0, 256, (10, 4, 4), dtype=np.uint8)))
    fl = write(os.path.join(src, "train-labels-idx1-ubyte"), idx_bytes(np.arange(10, dtype=np.uint8)))
    expect_fail(ck, args, "missing output directory", ["--format", "idx", "--input", fi, fl, "--output",
                                                        os.path.join(out, "nodir", "o.h5")], out, "does not exist")
    write(os.path.join(out, "o.h5"), b"precious")
    expect_fail(ck, args, "existing output", ["--format", "idx", "--input", fi, fl, "--output", os.path.join(out, "o.h5")],
                out, "--force", keep=["o.h5"])
    os.unlink(os.path.join(out, "o.h5"))
    expect_fail(ck, args, "missing input", ["--format", "idx", "--input", os.path.join(src, "nope"), "--output",
                                            os.path.join(out, "o.h5")], out, "no such file")
    expect_fail(ck, args, "blosc filter absent", ["--format", "idx", "--input", fi, fl, "--output", os.path.join(out, "o.h5"),
                                                  "--compress", "blosc"], out, "blosc")
    # usage errors exit 2
    rc, _, _ = run(args.absa, "pack", "--format", "nosuch", "--output", os.path.join(out, "o.h5"))
    ck.check(rc == 2, f"unknown format exit {rc} (want 2)")
    rc, so, _ = run(args.absa, "pack", "--help")
    ck.check(rc == 0 and "--format" in so, "pack --help")
    ck.check(not os.listdir(out), f"usage errors left files: {os.listdir(out)}")
    rc, _, se = run(args.absa, "info", fi)
    ck.check(rc == 1 and se.count("\n") == 1, f"info on a non-HDF5 file: rc {rc} {se!r}")
    ck.finish()


if __name__ == "__main__":
    main()
