#!/usr/bin/env bash
# Distillation-target memory does not grow with the data: peak RSS (/usr/bin/time -v) of
# `edgeq distill-targets models/fmnist_cnn.onnx` over 1 000 and over 10 000 Fashion-MNIST test
# images, with top-k and a feature array, so every kind of array is streamed.
#
# Target:   peak RSS(10 000 samples) / peak RSS(1 000 samples) <= 1.1   (issue #5)
#
# Both runs read the same .npy of all 10 000 test images (tools/export_fmnist_test.py, memory-
# mapped by edgeq) and differ only in --data-samples, so file size plays no part. The targets for
# 10 000 samples are ~1.6 MB of logits/probs plus the feature array; they are written in chunks to
# temporary files, never held.
#
# Environment (all optional):
#   EDGEQ     edgeq binary          (default <repo>/build/edgeq)
#   BENCH_DIR scratch folder        (default /tmp/edgeq-bench-distill)
#   THREADS   --threads             (default 2)
#   FEATURE   --features tensor     (default /27/GlobalAveragePool_output_0; "" for none)
#
# Exit status: 0 the ratio is within the target, 1 it missed it, 2 setup or edgeq failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGEQ="${EDGEQ:-$ROOT/build/edgeq}"
BENCH_DIR="${BENCH_DIR:-/tmp/edgeq-bench-distill}"
THREADS="${THREADS:-2}"
FEATURE="${FEATURE-/27/GlobalAveragePool_output_0}"
TARGET=1.1
MODEL="$ROOT/models/fmnist_cnn.onnx"

[[ -x $EDGEQ ]] || { echo "edgeq binary not found: $EDGEQ (set EDGEQ)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is needed (GNU time)" >&2; exit 2; }
mkdir -p "$BENCH_DIR"
if [[ ! -s $BENCH_DIR/images.npy ]]; then
  /usr/bin/python3 "$ROOT/tools/export_fmnist_test.py" "$BENCH_DIR/test.npz" --images-only || exit 2
  /usr/bin/python3 -c 'import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])["image"])' \
    "$BENCH_DIR/test.npz" "$BENCH_DIR/images.npy" || exit 2
fi

extra=(--top-k 5)
[[ -n $FEATURE ]] && extra+=(--features "$FEATURE")

# peak_kib SAMPLES: peak RSS in KiB of one run; also checks the sample count it wrote.
peak_kib() {
  local log="$BENCH_DIR/time.log"
  if ! /usr/bin/time -v "$EDGEQ" -q distill-targets "$MODEL" --data "$BENCH_DIR/images.npy" --data-samples "$1" \
      --temperature 4 "${extra[@]}" --threads "$THREADS" -o "$BENCH_DIR/targets.npz" > /dev/null 2> "$log"; then
    echo "edgeq distill-targets failed:" >&2
    cat "$log" >&2
    exit 2
  fi
  /usr/bin/python3 -c 'import numpy as np, sys; z = np.load(sys.argv[1], allow_pickle=False)
assert z["probs"].shape[0] == int(sys.argv[2]), z["probs"].shape' "$BENCH_DIR/targets.npz" "$1" >&2 || exit 2
  awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$log"
}

small=$(peak_kib 1000)
large=$(peak_kib 10000)
bytes=$(stat -c %s "$BENCH_DIR/targets.npz")
ratio=$(awk -v a="$large" -v b="$small" 'BEGIN { printf "%.3f", a / b }')
verdict=ok
status=0
awk -v r="$ratio" -v t="$TARGET" 'BEGIN { exit !(r <= t) }' || { verdict="MISSED (> $TARGET)"; status=1; }
printf "%14s %14s %7s %16s\n" "1000 (KiB)" "10000 (KiB)" ratio "targets (bytes)"
printf "%14s %14s %7s %16s  %s\n" "$small" "$large" "$ratio" "$bytes" "$verdict"
exit $status
