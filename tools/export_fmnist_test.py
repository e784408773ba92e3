#!/usr/bin/python3
"""Export normalized Fashion-MNIST images (and labels) from Debian's dataset-fashion-mnist to .npz.

The evaluation and calibration sets of the INT8 tests (tests/e2e/quantize_accuracy.sh,
bench/bench_quantize.sh): the 10 000 test images to measure top-1 on, and training images to
calibrate with, so that calibration and evaluation never share an image. Needs numpy only; the
IDX reading and the normalization are train_fashion_mnist.py's, so the models see exactly the
input distribution they were trained on.

    /usr/bin/python3 tools/export_fmnist_test.py OUT.npz                       # all 10 000 test images
    /usr/bin/python3 tools/export_fmnist_test.py OUT.npz --split train --count 1000 --images-only

OUT.npz holds `image` float32 [N,1,28,28] and `label` int64 [N] (without --images-only); with
--images-only only `image`, so that the file can be handed to `edgeq quantize --calib`, which feeds
every array of a .npz to the model input of the same name.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fashion_mnist as fm  # noqa: E402  (numpy only at import time; torch is imported lazily)

# The IDX file prefix of each split in the dataset folder.
SPLIT_PREFIX = {"test": "t10k", "train": "train"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", metavar="OUT.npz")
    ap.add_argument("--split", choices=sorted(SPLIT_PREFIX), default="test")
    ap.add_argument("--offset", type=int, default=0, help="first image index (default 0)")
    ap.add_argument("--count", type=int, help="number of images (default: all from --offset on)")
    ap.add_argument("--images-only", action="store_true", help="write only the `image` array")
    ap.add_argument("--labels-out", metavar="LABELS.npy",
                    help="also write the labels here (int64 .npy) and only the images to OUT.npz: edgeq "
                         "feeds every array of an .npz to the model input of that name")
    ap.add_argument("--data-dir", default=fm.DEFAULT_DATA_DIR,
                    help=f"folder with the gzip'd IDX files (default {fm.DEFAULT_DATA_DIR}, "
                         "Debian package dataset-fashion-mnist)")
    args = ap.parse_args()

    if not os.path.isdir(args.data_dir):
        sys.exit(f"export_fmnist_test: {args.data_dir} does not exist "
                 "(apt-get install dataset-fashion-mnist, or tools/setup.sh)")
    images, labels = fm.load_split(args.data_dir, SPLIT_PREFIX[args.split])
    if args.offset < 0 or args.offset >= len(labels):
        sys.exit(f"export_fmnist_test: --offset {args.offset} outside the {len(labels)} {args.split} images")
    end = len(labels) if args.count is None else args.offset + args.count
    if args.count is not None and (args.count < 1 or end > len(labels)):
        sys.exit(f"export_fmnist_test: --count {args.count} from {args.offset} exceeds the "
                 f"{len(labels)} {args.split} images")
    images, labels = images[args.offset:end], labels[args.offset:end]

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    arrays = {"image": fm.normalize(images)}
    if args.labels_out:
        np.save(args.labels_out, labels.astype(np.int64))
        print(f"wrote {args.labels_out}: int64 [{len(labels)}]")
    elif not args.images_only:
        arrays["label"] = labels.astype(np.int64)
    # Stored, not deflated: the 10 000 images are 31 MB either way once loaded, and stored
    # archives write and read several times faster.
    np.savez(args.out, **arrays)
    print(f"wrote {args.out}: {args.split} images [{args.offset}, {end}), "
          + ", ".join(f"{k} {v.dtype} {list(v.shape)}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
