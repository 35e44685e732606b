"""absa_testlib.py -- small helpers shared by the shell tests (run with /usr/bin/python3).

    absa_testlib.py idx-subset OUT NTRAIN NTEST
        write the first NTRAIN / NTEST samples of Debian's Fashion-MNIST as raw IDX files
        ({train,t10k}-{images-idx3,labels-idx1}-ubyte) into the existing directory OUT
    absa_testlib.py same-run DIR_A DIR_B MIN_LINES
        assert that two `absa train --out` directories hold the same run: every metrics.jsonl
        line equal but for its "wall" timings (at least MIN_LINES of them) and every model tensor
        of checkpoint.h5 bitwise equal; prints a one-line summary
"""
import gzip
import json
import sys

FASHION = "/usr/share/datasets/fashion-mnist"


def idx_subset(out, ntr, nte):
    for pre, n in (("train", ntr), ("t10k", nte)):
        img = gzip.open(f"{FASHION}/{pre}-images-idx3-ubyte.gz").read()
        lab = gzip.open(f"{FASHION}/{pre}-labels-idx1-ubyte.gz").read()
        h = bytearray(img[:16]); h[4:8] = n.to_bytes(4, "big")
        open(f"{out}/{pre}-images-idx3-ubyte", "wb").write(bytes(h) + img[16:16 + n * 784])
        h = bytearray(lab[:8]); h[4:8] = n.to_bytes(4, "big")
        open(f"{out}/{pre}-labels-idx1-ubyte", "wb").write(bytes(h) + lab[8:8 + n])


def metrics_rows(d):
    out = []
    for line in open(d + "/metrics.jsonl"):
        r = json.loads(line)
        r.pop("wall", None)
        out.append(r)
    return out


def same_run(da, db, min_lines):
    import h5py
    import numpy as np
    a, b = metrics_rows(da), metrics_rows(db)
    assert len(a) == len(b) and len(a) >= min_lines, (len(a), len(b))
    for x, y in zip(a, b):
        assert x == y, (x, y)
    fa, fb = h5py.File(da + "/checkpoint.h5", "r"), h5py.File(db + "/checkpoint.h5", "r")
    for k in fa["model"]:
        assert np.array_equal(fa["model"][k][()], fb["model"][k][()]), k
    print("  %d metrics lines and all weights identical" % len(a))


def main(argv):
    if len(argv) == 5 and argv[1] == "idx-subset":
        idx_subset(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) == 5 and argv[1] == "same-run":
        same_run(argv[2], argv[3], int(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
