#!/usr/bin/env bash
# INT8 accuracy of `edgeq quantize` on the Fashion-MNIST models, measured in ONNX Runtime on all
# 10 000 test images (issue #4, "What it must show"):
#   static INT8 CNN (per-channel weights, QDQ and QOperator)   top-1 drop <= 0.5 points
#   dynamic INT8 transformer                                   top-1 drop <= 0.5 points
#   static INT8 transformer (QDQ and QOperator)                top-1 drop <= 1.0 point
# Printed, not asserted (the issue asks to report them honestly): the per-tensor static CNN and
# the dynamic CNN. Every output must also load and run in ORT, pass the ONNX checker (opset <= 17),
# hold real integer weights and be smaller than its FP32 original.
#
# Calibration uses 1000 TRAINING images, evaluation the test set, so they never share an image.
# Both are exported from Debian's dataset-fashion-mnist by tools/export_fmnist_test.py; the FP32
# top-1 is checked against the figures recorded when the models were trained (models/README.md),
# so a broken data export cannot pass unnoticed.
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root). Needs tests/ort/node_modules,
# /usr/bin/python3 with numpy and onnx, and /usr/share/datasets/fashion-mnist; without them it
# FAILS, it never skips.
set -euo pipefail
name=quantize_accuracy
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ACC="$ROOT/tests/ort/accuracy.mjs"
e2e_need_ort
e2e_need_fmnist

# Top-1 drop bars in points (percent), from issue #4.
MAX_DROP_STATIC_CNN=0.5
MAX_DROP_DYNAMIC_TRANSFORMER=0.5
MAX_DROP_STATIC_TRANSFORMER=1.0
# FP32 top-1 (percent) of the committed models on the 10 000 test images, as measured in ORT when
# they were exported (models/README.md); the measurement here must reproduce them.
EXPECTED_FP32_TOP1_CNN=89.73
EXPECTED_FP32_TOP1_TRANSFORMER=88.28
CALIB_IMAGES=1000
TEST_IMAGES=10000

# ---------------------------------------------------------------- data
$PY "$ROOT/tools/export_fmnist_test.py" "$tmp/test.npz" > "$log_dir/export.log" 2>&1 ||
  fail "test-set export failed: $(cat "$log_dir/export.log")"
$PY "$ROOT/tools/export_fmnist_test.py" "$tmp/calib.npz" --split train --count "$CALIB_IMAGES" \
  --images-only > "$log_dir/export.log" 2>&1 || fail "calibration-set export failed: $(cat "$log_dir/export.log")"

json_get() {  # json_get FILE FIELD: prints a top-level field of a JSON object
  node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           const v = o[process.argv[2]]; if (v === undefined) process.exit(3); console.log(v)' "$1" "$2"
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b + 1e-9) }'; }  # le A B: A <= B

# checked_int8 MODEL: the ONNX checker (opset <= 17) and real integer weights; prints a summary.
checked_int8() {
  $PY - "$1" <<'EOF'
import collections, sys
import onnx
path = sys.argv[1]
m = onnx.load(path)
opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
if opset <= 17:
    onnx.checker.check_model(path)
INT8 = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
def tensors(g):
    yield from g.initializer
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t
            if a.type == onnx.AttributeProto.GRAPH:
                yield from tensors(a.g)
            for sg in a.graphs:
                yield from tensors(sg)
int8 = [t for t in tensors(m.graph) if t.data_type in INT8 and len(t.dims) >= 1]
ops = collections.Counter(n.op_type for n in m.graph.node)
if not int8:
    sys.exit(f"{path}: no INT8/UINT8 weight tensor in the model (ops: {dict(ops)})")
print(f"opset {opset}{' checker ok' if opset <= 17 else ' (checker skipped: opset > 17)'}, "
      f"{len(int8)} int8 weights, ops: " + " ".join(f"{k}:{v}" for k, v in sorted(ops.items())))
EOF
}

# ---------------------------------------------------------------- FP32
declare -A fp32_top1
for m in cnn transformer; do
  node "$ACC" --model "$ROOT/models/fmnist_$m.onnx" --data "$tmp/test.npz" > "$tmp/fp32_$m.json" \
    2> "$log_dir/acc.err" || fail "ORT accuracy of fmnist_$m.onnx failed: $(cat "$log_dir/acc.err")"
  [ "$(json_get "$tmp/fp32_$m.json" samples)" = "$TEST_IMAGES" ] || fail "fp32 $m: not $TEST_IMAGES samples"
  fp32_top1[$m]=$(json_get "$tmp/fp32_$m.json" top1)
  ok
done
[ "${fp32_top1[cnn]}" = "$EXPECTED_FP32_TOP1_CNN" ] ||
  fail "FP32 CNN top-1 ${fp32_top1[cnn]} != $EXPECTED_FP32_TOP1_CNN recorded at export: test data differs"
[ "${fp32_top1[transformer]}" = "$EXPECTED_FP32_TOP1_TRANSFORMER" ] ||
  fail "FP32 transformer top-1 ${fp32_top1[transformer]} != $EXPECTED_FP32_TOP1_TRANSFORMER recorded at export"
ok

# ---------------------------------------------------------------- INT8
# label | model | max drop (points, "-" = print only) | quantize options
cases=(
  "cnn_static_qdq|cnn|$MAX_DROP_STATIC_CNN|--calib $tmp/calib.npz"
  "cnn_static_qoperator|cnn|$MAX_DROP_STATIC_CNN|--calib $tmp/calib.npz --format qoperator"
  "cnn_static_per_tensor|cnn|-|--calib $tmp/calib.npz --per-tensor"
  "cnn_dynamic|cnn|-|"
  "transformer_dynamic|transformer|$MAX_DROP_DYNAMIC_TRANSFORMER|"
  "transformer_static_qdq|transformer|$MAX_DROP_STATIC_TRANSFORMER|--calib $tmp/calib.npz"
  "transformer_static_qoperator|transformer|$MAX_DROP_STATIC_TRANSFORMER|--calib $tmp/calib.npz --format qoperator"
)
rows=()
failures=()
for c in "${cases[@]}"; do
  IFS='|' read -r label m bar opts <<< "$c"
  fp32="$ROOT/models/fmnist_$m.onnx"
  out="$run_dir/$label.onnx"
  # A failing case is recorded and the loop goes on, so one run shows every failure.
  # shellcheck disable=SC2086  # opts is a list of words
  run quantize "$fp32" --int8 -o "$out" $opts --report "$run_dir/$label.report.json"
  if [ "$status" != 0 ] || [ ! -s "$out" ]; then
    failures+=("$label: edgeq quantize exited with $status: $(grep -v '^\[' "$log_dir/stderr" | tail -n 3 | tr '\n' ' ')")
    continue
  fi
  [ -s "$run_dir/$label.report.json" ] || failures+=("$label: no report written")
  ok
  fp32_bytes=$(stat -c %s "$fp32")
  int8_bytes=$(stat -c %s "$out")
  (( int8_bytes < fp32_bytes )) ||
    failures+=("$label: INT8 file ($int8_bytes bytes) not smaller than FP32 ($fp32_bytes)")
  ok
  if summary=$(checked_int8 "$out" 2>&1); then
    echo "$label: $summary"
    ok
  else
    failures+=("$label: ONNX check failed: $(tail -n 2 <<< "$summary" | tr '\n' ' ')")
  fi
  if ! node "$ACC" --model "$out" --reference "$fp32" --data "$tmp/test.npz" > "$tmp/$label.json" \
      2> "$log_dir/acc.err"; then
    failures+=("$label: ORT could not run the INT8 model: $(grep -v 'W:onnxruntime' "$log_dir/acc.err" | head -c 600 | tr '\n' ' ')")
    continue
  fi
  ok
  top1=$(json_get "$tmp/$label.json" top1)
  ref_top1=$(json_get "$tmp/$label.json" reference_top1)
  [ "$ref_top1" = "${fp32_top1[$m]}" ] || fail "$label: reference top-1 $ref_top1 != ${fp32_top1[$m]}"
  drop=$(awk -v a="$ref_top1" -v b="$top1" 'BEGIN { printf "%.2f", a - b }')
  verdict="info"
  if [ "$bar" != "-" ]; then
    if le "$drop" "$bar"; then verdict="ok"; else verdict="FAIL"; failures+=("$label: top-1 drop $drop > $bar points"); fi
    ok
  fi
  rows+=("$(printf '%-30s %7s %7s %6s %6s %8s %9s %8s %7s %s' "$label" "$ref_top1" "$top1" "$drop" "$bar" \
    "$(json_get "$tmp/$label.json" top1_agreement)" "$(json_get "$tmp/$label.json" cosine_min)" \
    "$(json_get "$tmp/$label.json" sqnr_db)" \
    "$(awk -v a="$fp32_bytes" -v b="$int8_bytes" 'BEGIN { printf "%.2f", a / b }')" "$verdict")")
done

echo
printf '%-30s %7s %7s %6s %6s %8s %9s %8s %7s %s\n' case fp32 int8 drop bar agree% cos_min sqnr_db size÷ verdict
printf '%s\n' "${rows[@]}"
if ((${#failures[@]})); then
  last=""
  fail "$(printf '%s; ' "${failures[@]}")"
fi
echo "$name: $checks checks ok"
