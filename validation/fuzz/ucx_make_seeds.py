#!/usr/bin/env python3
"""ucx_make_seeds.py — seed corpus for ucx_fuzz.c (validation/fuzz/ucx_corpus/): one valid
message of every type in both directions (framed as the fuzz target expects: mode byte, split
byte, AM header, payload) and a few lease-operation scripts. Layouts: src/stream/ucx_proto.c."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ucx_corpus")
MAGIC, VERSION = 0x58435541, 1


def common(t, body):
    return struct.pack("<IHHII", MAGIC, VERSION, t, 16 + len(body), 0) + body


def framed(mode, hdr, payload=b""):
    rest = len(hdr) + len(payload)
    # the target splits at byte * rest // 255: pick the byte that lands exactly on len(hdr)
    for b in range(256):
        if b * rest // 255 == len(hdr):
            return bytes([mode, b]) + hdr + payload
    return None


def ranges(rs):
    return b"".join(struct.pack("<QQ", s, c) for s, c in rs)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = []
    secret = b"fuzz-secret"
    seeds.append(framed(0, common(1, struct.pack("<II", len(secret), 0) + secret)))       # HELLO
    seeds.append(framed(0, common(3, struct.pack("<QII", 7, 64, 0))))                     # REQUEST
    seeds.append(framed(0, common(6, struct.pack("<Q", 3))))                               # COMMIT
    seeds.append(framed(0, common(8, struct.pack("<Q", 4))))                               # RELEASE
    seeds.append(framed(0, common(9, b"")))                                                # STATE
    rs = [(0, 100), (150, 50), (400, 10)]
    seeds.append(framed(0, common(11, struct.pack("<QII", 1, len(rs), 0)), ranges(rs)))    # SEEK
    seeds.append(framed(0, common(14, b"")))                                               # BYE
    seeds.append(framed(0, common(15, struct.pack("<QQQII", 8, 1, 640, 64, 0))))           # REQUEST_AT
    seeds.append(framed(0, common(16, struct.pack("<Q", 8))))                              # CANCEL
    C, H, W, K = 1, 2, 3, 5
    seeds.append(framed(1, common(2, struct.pack("<QQQIIIIII", 1000, 0, 3, C, H, W, K, 64, 0)),
                        struct.pack("<ff", 0.5, 0.25)))                                     # META
    count, rs = 4, [(10, 3), (40, 1)]
    first = 10
    payload = ranges(rs) + struct.pack("<4Q", 1, 2, 3, 4) + struct.pack("<4i", 0, 1, 2, 3) + bytes(range(count * C * H * W))
    hdr = common(4, struct.pack("<QQQQIIIIII", 1, 0, 3, first, count, len(rs), C, H, W, 0))
    seeds.append(framed(1, hdr, payload))                                                   # BATCH
    seeds.append(framed(1, common(5, struct.pack("<QQII", 2, 1, 1, 0))))                  # END
    seeds.append(framed(1, common(7, struct.pack("<QQ", 3, 1))))                           # COMMIT_OK
    rs = [(0, 30), (40, 5)]
    seeds.append(framed(1, common(10, struct.pack("<QQQII", 1, 100, 35, len(rs), 0)), ranges(rs)))  # STATE_REPLY
    seeds.append(framed(1, common(12, struct.pack("<QQ", 1, 35))))                         # SEEK_OK
    seeds.append(framed(1, common(13, struct.pack("<II", 1, 11))))                         # ERROR
    # same node (docs/ucx.md, "Same-node clients"): the offer, its answer, a batch without images
    seeds.append(framed(1, common(18, struct.pack("<IIQ", 4242, 7, 1000 * C * H * W) + bytes(range(32)))))  # LOCAL
    seeds.append(framed(0, common(19, b"")))                                               # LOCAL_OK
    payload = ranges([(10, 3), (40, 1)]) + struct.pack("<4Q", 1, 2, 3, 4) + struct.pack("<4i", 0, 1, 2, 3)
    hdr = common(4, struct.pack("<QQQQIIIIII", 1, 0, 3, first, count, 2, C, H, W, 1))
    seeds.append(framed(1, hdr, payload))                                                   # BATCH, flag LOCAL
    # lease scripts: mode 2, npos, seed/epochs, then (op, arg) pairs
    seeds.append(bytes([2, 37, 3]) + bytes([0, 1, 0, 2, 0, 3, 1, 0, 1, 0, 1, 0] * 8))
    seeds.append(bytes([2, 20, 1]) + bytes([0, 5, 0, 6, 3, 1, 0, 7, 2, 0, 1, 0, 4, 0] * 6))
    seeds.append(bytes([2, 63, 2]) + bytes([0, 8, 0, 8, 0, 8, 2, 1, 1, 0, 3, 2, 4, 0] * 10))
    for i, s in enumerate(seeds):
        assert s is not None
        with open(os.path.join(OUT, "seed_%02d" % i), "wb") as f:
            f.write(s)
    print("wrote %d seeds to %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
