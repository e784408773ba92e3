#!/usr/bin/env bash
# Calibration memory does not grow with the number of samples: peak RSS (/usr/bin/time -v) of
# `edgeq calibrate models/fmnist_cnn.onnx` with 100 and with 1000 samples, for every method.
#
# Target:   peak RSS(1000 samples) / peak RSS(100 samples) <= 1.1   (issue #4)
#
# The samples are the 1000 test images of models/data/fmnist_test_1000.npz (key `image`,
# [1000, 1, 28, 28] float32; the model's input is also named `image`), copied into one .npy and
# into a deflated .npz holding only `image`; both runs read the same file and differ only in
# --calib-samples, so file size plays no part. Each form is measured (FORMS).
#
# Environment (all optional):
#   EDGEQ     edgeq binary                         (default <repo>/build/edgeq)
#   BENCH_DIR scratch folder                       (default /tmp/edgeq-bench-calib)
#   METHODS   methods to measure                   (default "minmax percentile entropy mse")
#   FORMS     data files to measure                (default "npy npz")
#   THREADS   --threads                            (default 2)
#
# Exit status: 0 every ratio within the target, 1 a ratio missed it, 2 setup or edgeq failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGEQ="${EDGEQ:-$ROOT/build/edgeq}"
BENCH_DIR="${BENCH_DIR:-/tmp/edgeq-bench-calib}"
METHODS="${METHODS:-minmax percentile entropy mse}"
FORMS="${FORMS:-npy npz}"
THREADS="${THREADS:-2}"
TARGET=1.1
MODEL="$ROOT/models/fmnist_cnn.onnx"

[[ -x $EDGEQ ]] || { echo "edgeq binary not found: $EDGEQ (set EDGEQ)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is needed (GNU time)" >&2; exit 2; }
mkdir -p "$BENCH_DIR"
/usr/bin/python3 - "$ROOT/models/data/fmnist_test_1000.npz" "$BENCH_DIR" << 'PY' || exit 2
import sys, numpy as np
image = np.load(sys.argv[1])["image"]
assert image.shape == (1000, 1, 28, 28) and image.dtype == np.float32, image.shape
np.save(f"{sys.argv[2]}/images.npy", image)
np.savez_compressed(f"{sys.argv[2]}/images.npz", image=image)
PY

# peak_kib FORM METHOD SAMPLES: peak RSS in KiB of one calibration.
peak_kib() {
  local log="$BENCH_DIR/time.log"
  if ! /usr/bin/time -v "$EDGEQ" -q calibrate "$MODEL" --calib "$BENCH_DIR/images.$1" --method "$2" \
      --calib-samples "$3" --threads "$THREADS" -o "$BENCH_DIR/table.tsv" 2> "$log"; then
    echo "edgeq calibrate failed:" >&2
    cat "$log" >&2
    exit 2
  fi
  awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$log"
}

status=0
printf "%-6s %-11s %14s %14s %7s\n" form method "100 (KiB)" "1000 (KiB)" ratio
for form in $FORMS; do
  for method in $METHODS; do
    small=$(peak_kib "$form" "$method" 100)
    large=$(peak_kib "$form" "$method" 1000)
    ratio=$(awk -v a="$large" -v b="$small" 'BEGIN { printf "%.3f", a / b }')
    verdict=ok
    awk -v r="$ratio" -v t="$TARGET" 'BEGIN { exit !(r <= t) }' || { verdict="MISSED (> $TARGET)"; status=1; }
    printf "%-6s %-11s %14s %14s %7s  %s\n" "$form" "$method" "$small" "$large" "$ratio" "$verdict"
  done
done
exit $status
