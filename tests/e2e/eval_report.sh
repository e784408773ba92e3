#!/usr/bin/env bash
# The accuracy side of reports (issue #6), read from the JSON of real runs and checked against
# independent computations:
#   - `quantize --calib … --eval … --labels …` on models/fmnist_cnn.onnx: the report's top-1 of
#     both models, the drop, the output cosine and top-1 agreement agree with ONNX Runtime
#     (tests/ort/accuracy.mjs --reference) on the same 1000 test images;
#   - size: bytes before/after and the ratio are the file sizes from the filesystem; the node
#     precision table adds up to the op counts;
#   - per layer: real tensors of both models, finite SQNR that falls along the network;
#   - gates: --min-size-ratio and --max-accuracy-drop passing (exit 0) and failing (exit 1, model
#     and report written, the report names the failed gate); --max-accuracy-drop without --eval
#     exits 2 and writes nothing;
#   - `edgeq eval` on the same pair reproduces the accuracy section, for 1 and 2 threads;
#   - stdout carries only results, progress goes to stderr; every report validates against
#     docs/report.schema.json.
#
# Calibration uses 200 TRAINING images, evaluation 1000 test images (exported from Debian's
# dataset-fashion-mnist by tools/export_fmnist_test.py), so they never share an image.
# Environment: EDGEQ, EDGEQ_SOURCE_DIR. Needs tests/ort/node_modules, /usr/bin/python3 with numpy,
# onnx and jsonschema, and /usr/share/datasets/fashion-mnist; without them it FAILS, never skips.
set -euo pipefail
name=eval_report
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ACC="$ROOT/tests/ort/accuracy.mjs"
SCHEMA="$ROOT/docs/report.schema.json"
FP32="$ROOT/models/fmnist_cnn.onnx"
e2e_need_ort
e2e_need_fmnist

CALIB_IMAGES=200
EVAL_IMAGES=1000
# edgeq's executor and ORT compute the same INT8 arithmetic but may round a float differently
# in the float parts (Softmax-free logits here: Gemm accumulation order); a class decision that
# sits on a tie can flip on a handful of the 1000 samples. 3 samples = 0.3 points.
TOP1_TOL=0.3
# Cosine over all 10 000 logits: a few flipped requantization steps move it by ~1e-5.
COSINE_TOL=1e-3
# The float model alone: edgeq and ORT must decide the same class on every sample but a tie.
FP32_TOP1_TOL=0.1

# ---------------------------------------------------------------- data
e2e_export_fmnist "$tmp/calib.npz" --split train --count "$CALIB_IMAGES" --images-only
e2e_export_fmnist "$tmp/test_images.npz" --count "$EVAL_IMAGES" --labels-out "$tmp/labels.npy"
# edgeq feeds every array of a .npz to the input of that name: images and labels go apart.

stdout_is_results() {  # no log line may reach stdout
  if grep -qE '^edgeq: |\[[0-9]+/[0-9]+\]|samples \(' "$log_dir/stdout"; then fail "log or progress lines on stdout"; fi
}

# ---------------------------------------------------------------- quantize --eval
Q="$run_dir/cnn.int8.onnx"
QR="$run_dir/cnn.int8.report.json"
run quantize "$FP32" --int8 --calib "$tmp/calib.npz" --eval "$tmp/test_images.npz" --labels "$tmp/labels.npy" \
  -o "$Q" --report "$QR" --threads 2
[ "$status" = 0 ] || fail "quantize --eval exited $status"
[ -s "$Q" ] && [ -s "$QR" ] || fail "model or report missing"
valid "$QR"
stdout_is_results
grep -q "top-1 " "$log_dir/stdout" || fail "stdout has no top-1 line"
grep -q "eval: $EVAL_IMAGES/$EVAL_IMAGES samples (100 %)" "$log_dir/stderr" || fail "no progress line on stderr"
[ "$(jget "$QR" 'r.accuracy.samples')" = "$EVAL_IMAGES" ] || fail "accuracy.samples != $EVAL_IMAGES"
ok

# ORT, independently: both models on the same images with the labels of the same export.
node "$ACC" --model "$Q" --reference "$FP32" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" > "$tmp/ort.json" 2> "$log_dir/acc.err" ||
  fail "ORT accuracy failed: $(head -c 800 "$log_dir/acc.err")"
ort_top1=$(jget "$tmp/ort.json" r.top1)
ort_ref_top1=$(jget "$tmp/ort.json" r.reference_top1)
ort_top5=$(jget "$tmp/ort.json" r.top5)
ort_ref_top5=$(jget "$tmp/ort.json" r.reference_top5)
ort_cos=$(jget "$tmp/ort.json" r.cosine)
ort_agree=$(jget "$tmp/ort.json" r.top1_agreement)
ort_sqnr=$(jget "$tmp/ort.json" r.sqnr_db)
ort_drop=$(awk -v a="$ort_ref_top1" -v b="$ort_top1" 'BEGIN { printf "%.4f", a - b }')
e_top1=$(jget "$QR" r.accuracy.labels.top1)
e_ref_top1=$(jget "$QR" r.accuracy.labels.reference_top1)
e_top5=$(jget "$QR" r.accuracy.labels.top5)
e_ref_top5=$(jget "$QR" r.accuracy.labels.reference_top5)
e_drop=$(jget "$QR" r.accuracy.labels.top1_drop)
e_cos=$(jget "$QR" 'r.accuracy.outputs[0].cosine')
e_agree=$(jget "$QR" 'r.accuracy.outputs[0].top1_agreement')
e_sqnr=$(jget "$QR" 'r.accuracy.outputs[0].sqnr_db')
printf '%-26s %10s %10s\n' measure edgeq ORT
for row in "top-1 int8|$e_top1|$ort_top1" "top-1 fp32|$e_ref_top1|$ort_ref_top1" "top-1 drop|$e_drop|$ort_drop" \
           "top-5 int8|$e_top5|$ort_top5" "top-5 fp32|$e_ref_top5|$ort_ref_top5" "cosine|$e_cos|$ort_cos" \
           "top-1 agreement|$e_agree|$ort_agree" "sqnr dB|$e_sqnr|$ort_sqnr"; do
  IFS='|' read -r m a b <<< "$row"
  printf '%-26s %10.6g %10.6g\n' "$m" "$a" "$b"
done
near "$e_ref_top1" "$ort_ref_top1" "$FP32_TOP1_TOL" || fail "fp32 top-1: edgeq $e_ref_top1, ORT $ort_ref_top1"
near "$e_top1" "$ort_top1" "$TOP1_TOL" || fail "int8 top-1: edgeq $e_top1, ORT $ort_top1"
near "$e_drop" "$ort_drop" "$TOP1_TOL" || fail "top-1 drop: edgeq $e_drop, ORT $ort_drop"
near "$e_top5" "$ort_top5" "$TOP1_TOL" || fail "int8 top-5: edgeq $e_top5, ORT $ort_top5"
near "$e_cos" "$ort_cos" "$COSINE_TOL" || fail "cosine: edgeq $e_cos, ORT $ort_cos"
near "$e_agree" "$ort_agree" "$TOP1_TOL" || fail "top-1 agreement: edgeq $e_agree, ORT $ort_agree"
# The drop is the difference of the report's own two numbers.
near "$e_drop" "$(awk -v a="$e_ref_top1" -v b="$e_top1" 'BEGIN { printf "%.12g", a - b }')" 1e-9 || fail "drop != ref - int8"
ok

# ---------------------------------------------------------------- size from the filesystem
in_bytes=$(stat -c %s "$FP32")
out_bytes=$(stat -c %s "$Q")
[ "$(jget "$QR" r.size.bytes_before)" = "$in_bytes" ] || fail "size.bytes_before != stat of the input ($in_bytes)"
[ "$(jget "$QR" r.size.bytes_after)" = "$out_bytes" ] || fail "size.bytes_after != stat of the output ($out_bytes)"
near "$(jget "$QR" r.size.ratio)" "$(awk -v a="$in_bytes" -v b="$out_bytes" 'BEGIN { printf "%.12g", a / b }')" 1e-9 ||
  fail "size.ratio != $in_bytes / $out_bytes"
ratio=$(awk -v a="$in_bytes" -v b="$out_bytes" 'BEGIN { printf "%.4f", a / b }')
# Node precision: per op type quantized + float = nodes_after; every Conv of the static QDQ CNN
# reads INT8 weights, so all count as quantized; DequantizeLinear is a quantized op.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const after = Object.fromEntries(r.size.op_types.map((o) => [o.op_type, o.nodes_after]));
  const prec = Object.fromEntries(r.size.node_precision.map((o) => [o.op_type, o]));
  for (const [op, n] of Object.entries(after)) {
    const p = prec[op] || { quantized_nodes: 0, float_nodes: 0 };
    if (p.quantized_nodes + p.float_nodes !== n) { console.error(`${op}: ${JSON.stringify(p)} vs ${n} nodes`); process.exit(1); }
  }
  for (const op of ["Conv", "DequantizeLinear", "QuantizeLinear"]) {
    if (!prec[op] || prec[op].float_nodes !== 0 || prec[op].quantized_nodes === 0) {
      console.error(`${op}: ${JSON.stringify(prec[op])}`); process.exit(1);
    }
  }' "$QR" 2> "$log_dir/prec.err" || fail "node_precision: $(cat "$log_dir/prec.err")"
ok

# ---------------------------------------------------------------- per layer
$PY - "$QR" "$FP32" "$Q" <<'EOF' 2> "$log_dir/layers.err" || fail "per-layer table: $(cat "$log_dir/layers.err")"
import json, math, sys
import onnx
report, fp32, int8 = sys.argv[1:]
acc = json.load(open(report))["accuracy"]
layers = acc["layers"]
def outputs(path):
    g = onnx.load(path).graph
    order = {}
    for n in g.node:
        for o in n.output:
            order[o] = (len(order), n.op_type)
    return order
ref, model = outputs(fp32), outputs(int8)
assert len(layers) >= 5, f"only {len(layers)} layers"
prev = -1
for row in layers:
    assert row["name"] in ref, f"{row['name']} is not a tensor of {fp32}"
    assert row["model_tensor"] in model, f"{row['model_tensor']} is not a tensor of {int8}"
    assert row["op_type"] == ref[row["name"]][1], f"{row['name']}: op {row['op_type']} != {ref[row['name']][1]}"
    assert ref[row["name"]][0] > prev, "layers not in graph order"
    prev = ref[row["name"]][0]
quantized = [r for r in layers if r["form"] != "float"]
assert quantized, "no layer compared with a quantized tensor"
for r in quantized:
    assert r["sqnr_db"] is not None and math.isfinite(r["sqnr_db"]) and 0 < r["sqnr_db"] < 80, r
# The error accumulates along the network: the quantized layers' SQNR falls (least-squares
# slope over their index < 0) and the last is below the first.
ys = [r["sqnr_db"] for r in quantized]
xs = list(range(len(ys)))
mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-12, sum((x - mx) ** 2 for x in xs))
assert slope < 0 and ys[-1] < ys[0], f"SQNR does not fall along the network: {ys}"
worst = acc["worst_layers"]
assert len(worst) == 3 and all(r["worst"] == (r["name"] in worst) for r in layers)
finite = sorted(r["sqnr_db"] for r in layers if r["sqnr_db"] is not None)
assert [next(r["sqnr_db"] for r in layers if r["name"] == w) for w in worst] == finite[:3]
print(f"{len(layers)} layers, {len(quantized)} quantized: SQNR {ys[0]:.1f} dB -> {ys[-1]:.1f} dB, worst {worst}")
EOF
ok

# ---------------------------------------------------------------- edgeq eval reproduces it
ER="$run_dir/eval1.json"
run eval "$Q" --reference "$FP32" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" --report "$ER" --threads 1
[ "$status" = 0 ] || fail "edgeq eval exited $status"
valid "$ER"
stdout_is_results
[ "$(jget "$ER" r.command)" = eval ] || fail "eval report command"
[ "$(jget "$ER" r.input.path)" = "$FP32" ] && [ "$(jget "$ER" r.output.path)" = "$Q" ] || fail "eval report input/output"
[ "$(jget "$ER" r.size.bytes_after)" = "$out_bytes" ] || fail "eval size.bytes_after != stat"
[ "$(jget "$ER" 'JSON.stringify(r.accuracy)')" = "$(jget "$QR" 'JSON.stringify(r.accuracy)')" ] ||
  fail "edgeq eval's accuracy section differs from quantize --eval's"
run eval "$Q" --reference "$FP32" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" --report "$run_dir/eval2.json" --threads 2
[ "$status" = 0 ] || fail "edgeq eval --threads 2 exited $status"
[ "$(jget "$run_dir/eval2.json" 'JSON.stringify(r.accuracy)')" = "$(jget "$ER" 'JSON.stringify(r.accuracy)')" ] ||
  fail "the accuracy section depends on the thread count"
# Default report path: <MODEL stem>.eval.report.json beside MODEL; no labels: labels null.
run eval "$Q" --reference "$FP32" --data "$tmp/test_images.npz" --eval-samples 100
[ "$status" = 0 ] || fail "edgeq eval (defaults) exited $status"
[ -s "$run_dir/cnn.int8.eval.report.json" ] || fail "default eval report path"
[ "$(jget "$run_dir/cnn.int8.eval.report.json" r.accuracy.labels)" = null ] || fail "labels without --labels"
[ "$(jget "$run_dir/cnn.int8.eval.report.json" r.accuracy.samples)" = 100 ] || fail "--eval-samples 100"
ok

# ---------------------------------------------------------------- gates
# gate_case LABEL EXPECTED_STATUS GATE_NAME EXPECTED_PASSED ARGS...
gate_case() {
  local label=$1 want=$2 gate=$3 passed=$4
  shift 4
  rm -f "$run_dir/$label.onnx" "$run_dir/$label.json"
  run quantize "$FP32" --int8 --calib "$tmp/calib.npz" -o "$run_dir/$label.onnx" --report "$run_dir/$label.json" "$@"
  [ "$status" = "$want" ] || fail "$label: exit $status, expected $want"
  [ -s "$run_dir/$label.onnx" ] && [ -s "$run_dir/$label.json" ] || fail "$label: model or report not written"
  valid "$run_dir/$label.json"
  [ "$(jget "$run_dir/$label.json" "r.gates.find((g) => g.name === '$gate').passed")" = "$passed" ] ||
    fail "$label: gate $gate passed != $passed"
  if [ "$want" = 1 ]; then
    grep -q "gate --${gate//_/-} failed" "$log_dir/stderr" || fail "$label: stderr does not name the failed gate"
    grep -q "gate $gate: FAILED" "$log_dir/stdout" || fail "$label: stdout does not name the failed gate"
  fi
  ok
}
low=$(awk -v r="$ratio" 'BEGIN { printf "%.2f", r - 0.5 }')
high=$(awk -v r="$ratio" 'BEGIN { printf "%.2f", r + 0.5 }')
gate_case size_pass 0 min_size_ratio true --min-size-ratio "$low"
gate_case size_fail 1 min_size_ratio false --min-size-ratio "$high"
[ "$(jget "$run_dir/size_fail.json" 'r.gates[0].value')" = "$(jget "$run_dir/size_fail.json" r.size.ratio)" ] ||
  fail "gate value != size.ratio"
# With labels the gate reads the top-1 drop; the drop measured above decides the thresholds.
drop_pass=$(awk -v d="$e_drop" 'BEGIN { printf "%.2f", (d < 0 ? 0 : d) + 1 }')
gate_case drop_pass 0 max_accuracy_drop true --eval "$tmp/test_images.npz" --labels "$tmp/labels.npy" \
  --max-accuracy-drop "$drop_pass"
near "$(jget "$run_dir/drop_pass.json" 'r.gates[0].value')" "$e_drop" 1e-9 || fail "drop gate value != top1_drop"
# Without labels: 100 × (1 − cosine) of the worst output, > 0 for any INT8 model: 0 fails.
gate_case drop_fail 1 max_accuracy_drop false --eval "$tmp/test_images.npz" --max-accuracy-drop 0
near "$(jget "$run_dir/drop_fail.json" 'r.gates[0].value')" \
  "$(awk -v c="$(jget "$run_dir/drop_fail.json" r.accuracy.worst_output_cosine)" 'BEGIN { printf "%.12g", 100 * (1 - c) }')" 1e-9 ||
  fail "cosine gate value != 100 (1 - worst cosine)"
# Both gates, one failing: exit 1 and both listed.
gate_case both 1 min_size_ratio false --eval "$tmp/test_images.npz" --labels "$tmp/labels.npy" \
  --min-size-ratio "$high" --max-accuracy-drop "$drop_pass"
[ "$(jget "$run_dir/both.json" "r.gates.find((g) => g.name === 'max_accuracy_drop').passed")" = true ] ||
  fail "both: the accuracy gate should pass"
# eval gates too
run eval "$Q" --reference "$FP32" --data "$tmp/test_images.npz" --report "$run_dir/eval_gate.json" \
  --min-size-ratio "$high"
[ "$status" = 1 ] && [ -s "$run_dir/eval_gate.json" ] || fail "eval with a failing gate: exit $status"
ok

# A gate that needs data without --eval: usage error, nothing written.
run quantize "$FP32" --int8 --calib "$tmp/calib.npz" -o "$run_dir/nodata.onnx" --max-accuracy-drop 1
[ "$status" = 2 ] || fail "--max-accuracy-drop without --eval: exit $status, expected 2"
[ ! -e "$run_dir/nodata.onnx" ] && [ ! -e "$run_dir/nodata.report.json" ] || fail "files written on a usage error"
grep -q -- "--max-accuracy-drop needs --eval" "$log_dir/stderr" || fail "usage message"
run quantize "$FP32" --int8 -o "$run_dir/nodata.onnx" --labels "$tmp/labels.npy"
[ "$status" = 2 ] && [ ! -e "$run_dir/nodata.onnx" ] || fail "--labels without --eval: exit $status"
# Bad labels (more classes than the output has): invalid data, nothing written.
$PY -c "import numpy as np; np.save('$tmp/bad_labels.npy', np.full($EVAL_IMAGES, 10, dtype=np.int64))"
run quantize "$FP32" --int8 --calib "$tmp/calib.npz" -o "$run_dir/badlab.onnx" --eval "$tmp/test_images.npz" \
  --labels "$tmp/bad_labels.npy"
[ "$status" = 4 ] && [ ! -e "$run_dir/badlab.onnx" ] || fail "labels out of range: exit $status"
grep -q "bad_labels.npy" "$log_dir/stderr" || fail "the message does not name the labels file"
ok

echo "$name: $checks checks ok (edgeq top-1 $e_top1 / fp32 $e_ref_top1, ORT $ort_top1 / $ort_ref_top1)"
