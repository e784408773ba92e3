#!/usr/bin/env bash
# edgeq's executor against ONNX Runtime (onnxruntime-node, tests/ort) on the same models and
# inputs: whole-process wall time of `edgeq run` vs `node tests/ort/run.mjs` (session creation +
# one run), 1 and 2 threads, median of RUNS runs, printed as edgeq ÷ ORT with the geometric mean
# over the real models at 2 threads (the issue's bar: ≤ 1.5); then the in-process time of one
# inference (both runners' --repeat: median of 2·RUNS+1 runs after a first one) and its ratio.
#
# Models: models/*.onnx that have a committed input (demo_cnn, fmnist_*), Silero VAD, and a
# fully convolutional CNN (tools/make_bench_cnn.py) on 224², 640² and 1024² images.
#
# Environment: EDGEQ (default build/edgeq), RUNS (default 5), BENCH_DIR (default /tmp/edgeq-bench-exec).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGEQ="${EDGEQ:-$ROOT/build/edgeq}"
RUNS="${RUNS:-5}"
BENCH_DIR="${BENCH_DIR:-/tmp/edgeq-bench-exec}"
ORT="node $ROOT/tests/ort/run.mjs"
mkdir -p "$BENCH_DIR"
[ -x "$EDGEQ" ] || { echo "bench_executor: $EDGEQ not built" >&2; exit 2; }
[ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ] || { echo "bench_executor: run tools/setup.sh first" >&2; exit 2; }

# Inputs for the generated CNN.
[ -f "$BENCH_DIR/bench_cnn.onnx" ] || /usr/bin/python3 "$ROOT/tools/make_bench_cnn.py" "$BENCH_DIR/bench_cnn.onnx" > /dev/null
for s in 224 640 1024; do
  [ -f "$BENCH_DIR/image_$s.npy" ] || /usr/bin/python3 -c "
import numpy as np
np.save('$BENCH_DIR/image_$s.npy', np.random.default_rng($s).standard_normal((1, 3, $s, $s)).astype(np.float32))"
done

# name | model | input arguments (same for both runtimes)
cases=(
  "demo_cnn|$ROOT/models/demo_cnn.onnx|--input image=$ROOT/models/demo_cnn.input.npy"
  "silero_vad|$ROOT/models/third_party/silero_vad.onnx|--input input=$ROOT/tests/data/silero_vad/input.npy --input sr=$ROOT/tests/data/silero_vad/sr.npy --input h=$ROOT/tests/data/silero_vad/h.npy --input c=$ROOT/tests/data/silero_vad/c.npy"
  "cnn_224|$BENCH_DIR/bench_cnn.onnx|--input image=$BENCH_DIR/image_224.npy"
  "cnn_640|$BENCH_DIR/bench_cnn.onnx|--input image=$BENCH_DIR/image_640.npy"
  "cnn_1024|$BENCH_DIR/bench_cnn.onnx|--input image=$BENCH_DIR/image_1024.npy"
)
for m in fmnist_cnn fmnist_transformer; do
  if [ -f "$ROOT/models/$m.onnx" ] && [ -f "$ROOT/models/data/fmnist_test_1000.npz" ]; then
    [ -f "$BENCH_DIR/fmnist_256.npy" ] || /usr/bin/python3 -c "
import numpy as np
np.save('$BENCH_DIR/fmnist_256.npy', np.load('$ROOT/models/data/fmnist_test_1000.npz')['image'][:256])"
    cases+=("$m|$ROOT/models/$m.onnx|--input image=$BENCH_DIR/fmnist_256.npy")
  fi
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
time_cmd() {  # prints the median wall seconds of RUNS runs (after one warm-up)
  "$@" > /dev/null 2>&1 || { echo "FAILED: $*" >&2; echo nan; return; }
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
  done | median
}

in_process_ms() {  # median in-process run time (ms) reported by a runner's --repeat
  "$@" --repeat "$((RUNS * 2 + 1))" 2>&1 > /dev/null | sed -n 's/^run time: median \([0-9.]*\) ms.*/\1/p'
}

printf '%-20s %8s %10s %10s %8s %12s %12s %8s\n' model threads edgeq_s ort_s ratio edgeq_run_ms ort_run_ms ratio
ratios=()
for c in "${cases[@]}"; do
  IFS='|' read -r name model args <<< "$c"
  for threads in 1 2; do
    # shellcheck disable=SC2086
    e=$(time_cmd "$EDGEQ" run "$model" $args --threads "$threads")
    # shellcheck disable=SC2086
    o=$(time_cmd $ORT --model "$model" $args --threads "$threads")
    r=$(echo "$e / $o" | bc -l)
    # shellcheck disable=SC2086
    ei=$(in_process_ms "$EDGEQ" run "$model" $args --threads "$threads")
    # shellcheck disable=SC2086
    oi=$(in_process_ms $ORT --model "$model" $args --threads "$threads")
    ri=$(echo "$ei / $oi" | bc -l)
    printf '%-20s %8d %10.3f %10.3f %8.2f %12.3f %12.3f %8.2f\n' "$name" "$threads" "$e" "$o" "$r" "$ei" "$oi" "$ri"
    if [ "$threads" = 2 ]; then ratios+=("$r $ri"); fi
  done
done
printf '%s\n' "${ratios[@]}" | awk '{ w += log($1); p += log($2); n++ }
  END { printf "geometric mean of edgeq/ORT at 2 threads over %d models: whole process %.2f (bar: <= 1.5), in-process %.2f\n", n, exp(w / n), exp(p / n) }'
