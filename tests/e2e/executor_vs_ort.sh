#!/usr/bin/env bash
# edgeq's executor against ONNX Runtime on real models: outputs must agree within 1e-4 relative
# (max |edgeq − ORT| ÷ max |ORT|), and edgeq's own outputs must be bitwise identical with 1 and
# 2 threads.
set -euo pipefail
name=executor_vs_ort
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}" "${EDGEQ_TESTDATA_DIR:?}"
source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
e2e_init
ROOT=$EDGEQ_SOURCE_DIR
ORT_RUN="$ROOT/tests/ort/run.mjs"
COMPARE="$ROOT/tests/ort/compare_npy.mjs"
[ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ] ||
  fail "onnxruntime-node is missing: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci"
export TMPDIR="$tmp"  # onnxruntime-node leaves debug files in TMPDIR

# Relative agreement bar from the issue: float32 outputs within 1e-4 of ORT.
MAX_REL=1e-4

check_model() {  # label model args... (an "--input DIR" test-data folder is --input-dir for ORT)
  local label=$1 model=$2; shift 2
  local d="$tmp/$label"
  mkdir -p "$d"
  local ort_args=() prev=""
  for a in "$@"; do
    if [ "$prev" = "--input" ] && [ -d "$a" ]; then unset 'ort_args[-1]'; ort_args+=(--input-dir "$a")
    else ort_args+=("$a"); fi
    prev=$a
  done
  node "$ORT_RUN" --model "$model" "${ort_args[@]}" --output-dir "$d/ort" > /dev/null 2> "$d/ort.err" ||
    fail "$label: ORT failed: $(head -c 500 "$d/ort.err")"
  run run "$model" "$@" --output-dir "$d/t1" --threads 1
  [ "$status" = 0 ] || fail "$label: edgeq run failed"
  ok
  run run "$model" "$@" --output-dir "$d/t2" --threads 2
  [ "$status" = 0 ] || fail "$label: edgeq run (2 threads) failed"
  ok
  node "$COMPARE" "$d/t1" "$d/t2" --exact > "$d/exact.log" 2>&1 ||
    fail "$label: 1 and 2 threads differ: $(cat "$d/exact.log")"
  ok
  node "$COMPARE" "$d/t1" "$d/ort" --max-rel "$MAX_REL" > "$d/cmp.log" 2>&1 ||
    fail "$label: differs from ORT: $(cat "$d/cmp.log")"
  ok
}

V="$ROOT/tests/data/silero_vad"
check_model silero_vad "$ROOT/models/third_party/silero_vad.onnx" \
  --input "input=$V/input.npy" --input "sr=$V/sr.npy" --input "h=$V/h.npy" --input "c=$V/c.npy"
check_model demo_cnn "$ROOT/models/demo_cnn.onnx" --input "$ROOT/models/demo_cnn.input.npy"
if [ -f "$ROOT/models/data/fmnist_test_1000.npz" ]; then
  /usr/bin/python3 -c "
import numpy as np
np.save('$tmp/fmnist_64.npy', np.load('$ROOT/models/data/fmnist_test_1000.npz')['image'][:64])"
  for m in fmnist_cnn fmnist_transformer; do
    [ -f "$ROOT/models/$m.onnx" ] && check_model "$m" "$ROOT/models/$m.onnx" --input "image=$tmp/fmnist_64.npy"
  done
fi
for t in test_resnet50 test_squeezenet test_mobilenetv2 test_densenet121 test_inception_v2; do
  dir="$EDGEQ_TESTDATA_DIR/real/$t"
  [ -f "$dir/model.onnx" ] && check_model "$t" "$dir/model.onnx" --input "$dir/test_data_set_0"
done
# Backend cases of the op families real models lean on, in ORT's opset range.
for t in test_lstm_with_peepholes test_gru_seq_length test_simple_rnn_with_initial_bias \
         test_conv_with_autopad_same test_convtranspose_3d test_layer_normalization_4d_axis0 \
         test_resize_upsample_scales_linear test_einsum_batch_matmul test_softmax_large_number \
         test_qlinearconv test_matmulinteger test_loop11 test_scan9_sum; do
  dir="$EDGEQ_TESTDATA_DIR/node/$t"
  [ -f "$dir/model.onnx" ] || fail "missing backend test case $t"
  check_model "$t" "$dir/model.onnx" --input "$dir/test_data_set_0"
done
echo "$name: $checks checks ok"
