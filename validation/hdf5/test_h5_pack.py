#!/usr/bin/python3
"""test_h5_pack.py — round trips of `absa pack` for every format with fixtures generated here:
h5py must read back byte-identical images (NCHW) and labels, the attributes of docs/data.md
(format_version, layout, class names, counts, mean/std of train recomputed with numpy, source
names with sizes and zlib CRC-32s), H5DS dimension labels, ~1 MiB whole-sample chunks,
compression and --verify; `absa info` must report the same label histogram."""
import os
import re
import zlib

import h5py
import numpy as np

from h5fixtures import Checker, cifar_records, parse_args, run, tmpdir, write, write_idx_set


def common_checks(ck, f, tag, splits, names, src_files):
    ck.check(int(f.attrs["format_version"]) == 1, f"{tag}: format_version")
    ck.check(f.attrs["layout"] == "NCHW", f"{tag}: layout")
    ck.check(list(f.attrs["class_names"]) == names, f"{tag}: class_names {list(f.attrs['class_names'])[:5]}")
    ck.check(int(f.attrs["num_classes"]) == len(names), f"{tag}: num_classes")
    ck.check(list(f.attrs["splits"]) == list(splits), f"{tag}: splits {list(f.attrs['splits'])}")
    ck.check(str(f.attrs["packer_version"]).startswith("absa "), f"{tag}: packer_version")
    x = splits.get("train", next(iter(splits.values())))[0].astype(np.float64) / 255.0
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    ck.check(np.allclose(f.attrs["mean"], mean, atol=2e-7, rtol=1e-6), f"{tag}: mean {f.attrs['mean']} vs {mean}")
    ck.check(np.allclose(f.attrs["std"], std, atol=2e-7, rtol=1e-6), f"{tag}: std {f.attrs['std']} vs {std}")
    got = list(f.attrs["source_files"])
    ck.check(sorted(got) == sorted(src_files), f"{tag}: source_files {got}")
    for p, size, crc in zip(got, f.attrs["source_sizes"], f.attrs["source_crc32"]):
        data = open(p, "rb").read()
        ck.check(int(size) == len(data) and int(crc) == zlib.crc32(data), f"{tag}: size/crc32 of {p}")
    for s, (xs, ys) in splits.items():
        img = f[s]["images"]
        ck.check(img.dtype == np.uint8 and img.shape == xs.shape, f"{tag}/{s}: images {img.dtype} {img.shape}")
        ck.check(np.array_equal(img[...], xs), f"{tag}/{s}: image bytes differ")
        ck.check(f[s]["labels"].dtype == np.int32, f"{tag}/{s}: labels dtype")
        ck.check(np.array_equal(f[s]["labels"][...], ys.astype(np.int32)), f"{tag}/{s}: labels differ")
        ck.check(int(f[s].attrs["count"]) == len(ys), f"{tag}/{s}: count attribute")
        ck.check([d.label for d in img.dims] == ["N", "C", "H", "W"], f"{tag}/{s}: dim labels")
        ck.check(img.chunks[1:] == xs.shape[1:], f"{tag}/{s}: chunks hold whole samples {img.chunks}")


def info_hist(ck, absa, out, tag, splits, ncls):
    rc, so, se = run(absa, "info", out)
    ck.check(rc == 0, f"{tag}: absa info rc {rc}: {se}")
    for s, (_, ys) in splits.items():
        m = re.search(rf"split {s}: .*?labels histogram:(.*?)(?:\n  \S|\n\S|\Z)", so, re.S)
        ck.check(m is not None, f"{tag}: info lacks split {s}")
        if m:
            got = {int(a): int(b) for a, b in re.findall(r"(\d+):(\d+)", m.group(1))}
            want = np.bincount(ys, minlength=ncls)
            ck.check(all(got.get(c, -1) == want[c] for c in range(ncls)), f"{tag}/{s}: histogram {got}")


def test_idx(ck, args, rng, gz):
    d = tmpdir(args, "idx")
    splits = write_idx_set(d, rng, gz=gz)
    splits = {s: (x[:, None], y) for s, (x, y) in splits.items()}
    out = os.path.join(d, "out.h5")
    extra = ["--verify", "--compress", "deflate:6"] if not gz else ["--chunk-bytes", "4000"]
    rc, _, se = run(args.absa, "pack", "--format", "idx", "--input", d, "--output", out, "--quiet", *extra)
    tag = f"idx{'-gz' if gz else '-raw'}"
    ck.check(rc == 0, f"{tag}: pack rc {rc}: {se}")
    if rc:
        return
    srcs = sorted(os.path.join(d, n) for n in os.listdir(d) if "ubyte" in n)
    with h5py.File(out, "r") as f:
        common_checks(ck, f, tag, splits, [str(i) for i in range(10)], srcs)
        img = f["train"]["images"]
        if gz:  # 4000 bytes / 120-byte samples -> 33 samples a chunk
            ck.check(img.chunks[0] == 33, f"{tag}: chunk {img.chunks}")
        else:
            ck.check(img.compression == "gzip" and img.compression_opts == 6, f"{tag}: {img.compression}")
            ck.check(img.chunks[0] == 700, f"{tag}: chunk clamped to count {img.chunks}")
    info_hist(ck, args.absa, out, tag, splits, 10)
    # --force overwrites; files given one by one, with class names
    files = [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.startswith("train")]
    names = "a,b,c,d,e,f,g,h,i,j"
    rc, _, se = run(args.absa, "pack", "--format", "idx", "--input", *files, "--output", out,
                    "--force", "--quiet", "--class-names", names)
    ck.check(rc == 0, f"{tag}: --force repack rc {rc}: {se}")
    with h5py.File(out, "r") as f:
        ck.check(list(f.keys()) == ["train"] and list(f.attrs["class_names"]) == names.split(","),
                 f"{tag}: train-only repack {list(f.keys())}")
        ck.check(np.array_equal(f["train/images"][...], splits["train"][0]), f"{tag}: repack bytes")


def test_cifar(ck, args, rng, hundred):
    tag = "cifar100" if hundred else "cifar10"
    d = tmpdir(args, tag)
    parts = {"train": [], "test": []}
    files = [("train.bin", "train", 150), ("test.bin", "test", 60)] if hundred else \
        [("data_batch_1.bin", "train", 100), ("data_batch_2.bin", "train", 70), ("test_batch.bin", "test", 50)]
    for name, split, n in files:
        raw, x, fine, coarse = cifar_records(rng, n, hundred)
        write(os.path.join(d, name), raw)
        parts[split].append((x, fine, coarse))
    fine_names = [f"fine class {i}" for i in range(100)] if hundred else \
        ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    coarse_names = [f"coarse {i}" for i in range(20)]
    if hundred:
        write(os.path.join(d, "fine_label_names.txt"), ("\n".join(fine_names) + "\n").encode())
        write(os.path.join(d, "coarse_label_names.txt"), ("\r\n".join(coarse_names) + "\r\n\n").encode())
    else:
        write(os.path.join(d, "batches.meta.txt"), ("\n".join(fine_names) + "\n\n").encode())
    splits = {s: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v])) for s, v in parts.items()}
    out = os.path.join(d, "out.h5")
    rc, _, se = run(args.absa, "pack", "--format", tag, "--input", d, "--output", out, "--verify", "--quiet")
    ck.check(rc == 0, f"{tag}: pack rc {rc}: {se}")
    if rc:
        return
    srcs = [os.path.join(d, n) for n, _, _ in files]
    with h5py.File(out, "r") as f:
        common_checks(ck, f, tag, splits, fine_names, srcs)
        ck.check(f["train/images"].chunks[0] == (150 if hundred else 170),
                 f"{tag}: chunk of min(count, 1 MiB / 3072 = 341) {f['train/images'].chunks}")
        if hundred:
            ck.check(list(f.attrs["coarse_class_names"]) == coarse_names, f"{tag}: coarse names")
            for s, v in parts.items():
                want = np.concatenate([p[2] for p in v]).astype(np.int32)
                ck.check(np.array_equal(f[s]["coarse_labels"][...], want), f"{tag}/{s}: coarse labels")
    info_hist(ck, args.absa, out, tag, splits, 100 if hundred else 10)


def main():
    args = parse_args()
    ck = Checker("test_h5_pack")
    rng = np.random.default_rng(20240501)
    test_idx(ck, args, rng, gz=True)
    test_idx(ck, args, rng, gz=False)
    test_cifar(ck, args, rng, hundred=False)
    test_cifar(ck, args, rng, hundred=True)
    ck.finish()


if __name__ == "__main__":
    main()
