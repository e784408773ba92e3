#!/usr/bin/env bash
# `edgeq prune` end to end (issue #5):
#   - exit codes and messages for bad options (2) and a model with nothing prunable (5), nothing
#     written in either case;
#   - exact sparsity in the written files, counted here with onnx + numpy: zeros over the pruned
#     weights = round(S × eligible params) for global unstructured, and N of every M along the
#     input channels (axis worked out here per op) for 2:4;
#   - pruned models run in ONNX Runtime; top-1 on the 10 000 Fashion-MNIST test images with
#     50 % global unstructured pruning drops at most MAX_DROP_50 points (asserted), 30 % and 2:4
#     are printed;
#   - prune then quantize keeps every pruned zero exactly 0 in the INT8 weights;
#   - --sparse-storage writes ONNX sparse initializers, a smaller file, and ORT computes the same
#     outputs from it as from the dense pruned model (bitwise: ORT densifies them at load).
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root). Needs tests/ort/node_modules,
# /usr/bin/python3 with numpy, onnx and jsonschema, and /usr/share/datasets/fashion-mnist; without
# them it FAILS, it never skips.
set -euo pipefail
name=prune_cli
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ACC="$ROOT/tests/ort/accuracy.mjs"
VALIDATE="$ROOT/tests/e2e/validate_json.py"
SCHEMA="$ROOT/docs/report.schema.json"
e2e_need_ort
e2e_need_fmnist

# Issue #5: top-1 drop at 50 % global unstructured sparsity, no fine-tuning, in points.
MAX_DROP_50=2.0
# FP32 top-1 of the committed models on the test set (models/README.md, as quantize_accuracy.sh).
EXPECTED_FP32_TOP1_CNN=89.73
EXPECTED_FP32_TOP1_TRANSFORMER=88.28
TEST_IMAGES=10000

json_get() {  # json_get FILE PATH: a field of a JSON object, PATH like "pruning.zeros"
  node -e 'let o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           for (const k of process.argv[2].split(".")) { o = o[k]; if (o === undefined) process.exit(3); }
           console.log(o)' "$1" "$2"
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b + 1e-9) }'; }  # le A B: A <= B

# ---------------------------------------------------------------- exit codes, nothing written
$PY - "$tmp/relu.onnx" <<'EOF2'
import sys
from onnx import TensorProto, helper, save
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "relu_only",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
EOF2
cnn="$ROOT/models/fmnist_cnn.onnx"
transformer="$ROOT/models/fmnist_transformer.onnx"
expect_refused() {  # expect_refused CODE MESSAGE_REGEX ARGS...: exit CODE, message, no output
  local code=$1 msg=$2
  shift 2
  run prune "$@" -o "$run_dir/refused.onnx"
  [ "$status" = "$code" ] || fail "expected exit $code, got $status"
  grep -Eq -e "$msg" "$log_dir/stderr" || fail "message does not match /$msg/"
  [ ! -e "$run_dir/refused.onnx" ] && [ ! -e "$run_dir/refused.report.json" ] || fail "a file was written"
  [ -z "$(ls -A "$run_dir")" ] || fail "files left in the run folder: $(ls -A "$run_dir")"
  ok
}
expect_refused 2 'sparsity must be in \[0, 1\)' "$cnn" --sparsity 1.2
expect_refused 2 'sparsity must be in \[0, 1\)' "$cnn" --sparsity -0.1
expect_refused 2 'N:M needs 1 <= N <= M' "$cnn" --pattern 3:2
expect_refused 2 'disagrees with --pattern 2:4' "$cnn" --pattern 2:4 --sparsity 0.3
expect_refused 2 "no node named 'no_such_node'" "$cnn" --sparsity 0.5 --exclude-nodes no_such_node
expect_refused 2 'sparsity S is required' "$cnn"
expect_refused 2 '--pattern must be' "$cnn" --sparsity 0.5 --pattern blocks
expect_refused 5 'nothing to prune' "$tmp/relu.onnx" --sparsity 0.5
grep -q 'relu.onnx' "$log_dir/stderr" || fail "the message does not name the file"
ok

# ---------------------------------------------------------------- data, FP32
$PY "$ROOT/tools/export_fmnist_test.py" "$tmp/test.npz" > "$log_dir/export.log" 2>&1 ||
  fail "test-set export failed: $(cat "$log_dir/export.log")"
$PY "$ROOT/tools/export_fmnist_test.py" "$tmp/calib.npz" --split train --count 1000 --images-only \
  > "$log_dir/export.log" 2>&1 || fail "calibration-set export failed: $(cat "$log_dir/export.log")"
declare -A fp32_top1
for m in cnn transformer; do
  node "$ACC" --model "$ROOT/models/fmnist_$m.onnx" --data "$tmp/test.npz" > "$tmp/fp32_$m.json" \
    2> "$log_dir/acc.err" || fail "ORT accuracy of fmnist_$m.onnx failed: $(cat "$log_dir/acc.err")"
  [ "$(json_get "$tmp/fp32_$m.json" samples)" = "$TEST_IMAGES" ] || fail "fp32 $m: not $TEST_IMAGES samples"
  fp32_top1[$m]=$(json_get "$tmp/fp32_$m.json" top1)
done
[ "${fp32_top1[cnn]}" = "$EXPECTED_FP32_TOP1_CNN" ] || fail "FP32 CNN top-1 ${fp32_top1[cnn]} != $EXPECTED_FP32_TOP1_CNN"
[ "${fp32_top1[transformer]}" = "$EXPECTED_FP32_TOP1_TRANSFORMER" ] ||
  fail "FP32 transformer top-1 ${fp32_top1[transformer]} != $EXPECTED_FP32_TOP1_TRANSFORMER"
ok

# check_sparsity ORIGINAL PRUNED REPORT PATTERN S: counts zeros in the written file independently.
# unstructured: zeros over the report's pruned weights = round(S × their params) (the models have
# no exact zeros before) and each row's count matches; the zeroed weights are never larger than
# the kept ones; every other tensor is unchanged. N:M: N non-zeros in every M along the axis.
check_sparsity() {
  $PY - "$@" <<'EOF2'
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper
orig_path, pruned_path, report_path, pattern, s = sys.argv[1:6]
rep = json.load(open(report_path))["pruning"]
def weights(path):
    m = onnx.load(path)
    return m, {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
m0, w0 = weights(orig_path)
m1, w1 = weights(pruned_path)
nodes = {}
for n in m1.graph.node:
    if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and len(n.input) > 1:
        nodes.setdefault(n.input[1], n)
rows = [r for r in rep["layers"] if r["pruned"]]
assert rows, "no pruned layer in the report"
total = sum(w1[r["weight"]].size for r in rows)
zeros = sum(int((w1[r["weight"]] == 0).sum()) for r in rows)
assert total == rep["eligible_params"], (total, rep["eligible_params"])
assert zeros == rep["zeros"], (zeros, rep["zeros"])
for r in rows:
    assert int((w1[r["weight"]] == 0).sum()) == r["zeros"], r["weight"]
    assert int((w0[r["weight"]] == 0).sum()) == 0, "the original already has zeros: counts would not be exact"
pruned_names = {r["weight"] for r in rows}
# Bias correction changes (or adds) exactly the tensors the report names; nothing else moves.
bias_names = {r["bias_tensor"] for r in rows if r["bias_corrected"]}
assert all(r["bias_corrected"] == (r["bias_tensor"] is not None) for r in rep["layers"])
for name, a in w0.items():
    if name not in pruned_names and name not in bias_names:
        assert np.array_equal(a, w1[name]), f"{name} changed but is not a pruned layer or a corrected bias"
for name in bias_names:
    assert name not in w0 or not np.array_equal(w0[name], w1[name]), f"{name} reported corrected but unchanged"
constants = {o for n in m0.graph.node if n.op_type == "Constant" for o in n.output}  # folded to initializers
for name in set(w1) - set(w0) - constants:
    assert name in bias_names, f"{name} is new but no corrected bias"
if pattern == "unstructured":
    expected = int(np.floor(float(s) * total + 0.5))  # round half up = llround for positive values
    assert zeros == expected, f"zeros {zeros} != round({s} x {total}) = {expected}"
    def split(r):
        return np.abs(w0[r["weight"]][w1[r["weight"]] == 0]), np.abs(w0[r["weight"]][w1[r["weight"]] != 0])
    if rep["score"] == "magnitude":  # one |w| ranking over all layers
        zeroed = np.concatenate([split(r)[0] for r in rows])
        kept = np.concatenate([split(r)[1] for r in rows])
        assert zeroed.max() <= kept.min(), "a zeroed weight is larger than a kept one"
        how = f"max zeroed |w| {zeroed.max():.4g} <= min kept |w| {kept.min():.4g}"
    else:  # LAMP ranks within a layer by |w| too: no zeroed weight outranks a kept one of its layer
        for r in rows:
            z, k = split(r)
            assert len(k) > 0, f"{r['weight']}: LAMP emptied a layer"
            assert len(z) == 0 or z.max() <= k.min(), f"{r['weight']}: a zeroed weight is larger than a kept one"
        how = "in every layer max zeroed |w| <= min kept |w|"
    print(f"  {zeros} of {total} eligible weights zero = round({s} x {total}); {how}; "
          f"bias corrected: {sorted(bias_names)}")
else:
    n_keep, m_block = map(int, pattern.split(":"))
    blocks = 0
    for r in rows:
        w = w1[r["weight"]]
        node = nodes[r["weight"]]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        # The input-channel axis: Conv [Cout, Cin/g, k..] 1; ConvTranspose [Cin, Cout/g, k..] 0;
        # Gemm B [K, N] 0, with transB [N, K] 1; MatMul B [.., K, N] rank-2.
        axis = {"Conv": 1, "ConvTranspose": 0}.get(node.op_type)
        if node.op_type == "Gemm":
            axis = 1 if attrs.get("transB", 0) else 0
        if node.op_type == "MatMul":
            axis = max(w.ndim - 2, 0)
        moved = np.moveaxis(w, axis, -1)
        assert moved.shape[-1] % m_block == 0, r["weight"]
        grouped = moved.reshape(-1, m_block)
        nonzero = (grouped != 0).sum(axis=1)
        assert (nonzero == n_keep).all(), f"{r['weight']}: a block of {m_block} keeps {set(nonzero.tolist())}"
        blocks += grouped.shape[0]
    dense = [(r["weight"], r["reason"]) for r in rep["layers"] if not r["pruned"]]
    print(f"  {n_keep}:{m_block} holds in all {blocks} blocks of {len(rows)} weights; dense: {dense}")
EOF2
}

# ---------------------------------------------------------------- accuracy
# label | model | max drop ("-": print only) | prune options
cases=(
  "cnn_30|cnn|-|--sparsity 0.3"
  "cnn_50|cnn|$MAX_DROP_50|--sparsity 0.5"
  # Without LAMP and bias correction the depthwise CNN collapses (printed for comparison).
  "cnn_50_magnitude|cnn|-|--sparsity 0.5 --score magnitude --no-bias-correction"
  "cnn_2of4|cnn|-|--pattern 2:4"
  "transformer_30|transformer|-|--sparsity 0.3"
  "transformer_50|transformer|$MAX_DROP_50|--sparsity 0.5"
  "transformer_2of4|transformer|-|--pattern 2:4"
  # --calib: the layers' mean inputs measured on 1000 training images correct the transformer too.
  "transformer_50_calib|transformer|$MAX_DROP_50|--sparsity 0.5 --calib $tmp/calib.npz --calib-samples 500"
  "transformer_2of4_calib|transformer|-|--pattern 2:4 --calib $tmp/calib.npz --calib-samples 500"
)
rows=()
failures=()
for c in "${cases[@]}"; do
  IFS='|' read -r label m bar opts <<< "$c"
  fp32="$ROOT/models/fmnist_$m.onnx"
  out="$run_dir/$label.onnx"
  # shellcheck disable=SC2086  # opts is a list of words
  run prune "$fp32" $opts -o "$out" --threads 2
  [ "$status" = 0 ] && [ -s "$out" ] || fail "$label: edgeq prune exited with $status"
  grep -q "^pruned .* -> .*$label.onnx" "$log_dir/stdout" || fail "$label: no result line on stdout"
  grep -Eq '\[ ?1/[0-9]+\] ' "$log_dir/stderr" || fail "$label: no per-layer lines on stderr"
  report="$run_dir/$label.report.json"
  [ -s "$report" ] || fail "$label: no report at the default path"
  $PY "$VALIDATE" "$SCHEMA" "$report" || fail "$label: the report does not match docs/report.schema.json"
  ok
  pattern=$(json_get "$report" pruning.pattern)
  s=$(json_get "$report" pruning.sparsity_target)
  echo "$label:"
  check_sparsity "$fp32" "$out" "$report" "$pattern" "$s" || fail "$label: sparsity check failed"
  ok
  node "$ACC" --model "$out" --reference "$fp32" --data "$tmp/test.npz" > "$tmp/$label.json" 2> "$log_dir/acc.err" ||
    fail "$label: ORT could not run the pruned model: $(head -c 600 "$log_dir/acc.err")"
  ok
  top1=$(json_get "$tmp/$label.json" top1)
  drop=$(awk -v a="${fp32_top1[$m]}" -v b="$top1" 'BEGIN { printf "%.2f", a - b }')
  verdict=info
  if [ "$bar" != "-" ]; then
    if le "$drop" "$bar"; then verdict=ok; else verdict=FAIL; failures+=("$label: top-1 drop $drop > $bar points"); fi
    ok
  fi
  rows+=("$(printf '%-18s %-12s %7s %7s %7s %6s %6s %8s %9s %9s %9s %s' "$label" "$pattern" \
    "$(json_get "$report" pruning.sparsity_achieved | awk '{ printf "%.4f", $1 }')" "${fp32_top1[$m]}" "$top1" "$drop" \
    "$bar" "$(json_get "$tmp/$label.json" top1_agreement)" "$(json_get "$report" pruning.dense_bytes)" \
    "$(json_get "$report" pruning.sparse_bytes)" "$(json_get "$report" pruning.zstd_bytes)" "$verdict")")
done
echo
printf '%-18s %-12s %7s %7s %7s %6s %6s %8s %9s %9s %9s %s\n' case pattern sparsity fp32 top1 drop bar agree% \
  dense_B sparse_B zstd_B verdict
printf '%s\n' "${rows[@]}"
if ((${#failures[@]})); then
  last=""
  fail "$(printf '%s; ' "${failures[@]}")"
fi

# ---------------------------------------------------------------- determinism
run prune "$cnn" --sparsity 0.5 -o "$run_dir/t1.onnx" --threads 1
[ "$status" = 0 ] || fail "prune --threads 1 failed"
cmp -s "$run_dir/t1.onnx" "$run_dir/cnn_50.onnx" || fail "--threads 1 and --threads 2 wrote different models"
ok

# ---------------------------------------------------------------- prune, then quantize
# Symmetric INT8 weights map 0 to 0 (zero point 0): every weight zero after pruning must be 0 in
# the quantized tensor (BatchNormalization folding scales weights, which keeps zeros zero).
check_zeros_kept() {  # PRUNED QUANTIZED
  $PY - "$1" "$2" <<'EOF2'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
p = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[1]).graph.initializer}
q = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[2]).graph.initializer}
checked = zeros = 0
for name, w in p.items():
    mask = w == 0
    if w.dtype != np.float32 or w.ndim < 2 or not mask.any():
        continue
    # fold_batchnorm (run by quantize) stores a folded weight as "<name>_bn".
    qname = name if name in q else name + "_bn"
    assert qname in q, f"{name}: no tensor of that name (or {name}_bn) in the quantized model"
    t = q[qname]
    assert t.dtype in (np.int8, np.uint8), f"{name} is {t.dtype} in the quantized model, not INT8"
    if t.shape != w.shape and t.ndim == 2 and t.T.shape == w.shape:
        t = t.T  # stored transposed for Gemm (transB)
    assert t.shape == w.shape, (name, t.shape, w.shape)
    bad = int((t[mask] != 0).sum())
    assert bad == 0, f"{name}: {bad} pruned zeros are not 0 after quantization"
    checked += 1
    zeros += int(mask.sum())
assert checked > 0, "no pruned weight found in the quantized model"
print(f"  {zeros} pruned zeros in {checked} weights are 0 in the INT8 tensors")
EOF2
}
for m in cnn transformer; do
  for mode in dynamic static; do
    qopts=()
    [ "$mode" = static ] && qopts=(--calib "$tmp/calib.npz")
    run quantize "$run_dir/${m}_50.onnx" --int8 "${qopts[@]}" -o "$run_dir/${m}_50_${mode}.int8.onnx"
    [ "$status" = 0 ] || fail "quantize of the pruned $m model ($mode) failed"
    echo "prune 50 % then $mode INT8 ($m):"
    check_zeros_kept "$run_dir/${m}_50.onnx" "$run_dir/${m}_50_${mode}.int8.onnx" || fail "$m $mode: zeros not kept"
    node "$ACC" --model "$run_dir/${m}_50_${mode}.int8.onnx" --data "$tmp/test.npz" > "$tmp/q.json" \
      2> "$log_dir/acc.err" || fail "ORT could not run the pruned+quantized $m model: $(head -c 600 "$log_dir/acc.err")"
    echo "  top-1 $(json_get "$tmp/q.json" top1) (FP32 ${fp32_top1[$m]})"
    ok
  done
done

# ---------------------------------------------------------------- --sparse-storage
# A sparse non-zero costs 12 bytes (4 value + 8 INT64 index) against 4 dense, so sparse storage
# pays only above 2/3 sparsity: 0.9 here.
for m in cnn transformer; do
  fp32="$ROOT/models/fmnist_$m.onnx"
  run prune "$fp32" --sparsity 0.9 -o "$run_dir/${m}_90.onnx"
  [ "$status" = 0 ] || fail "$m: prune 0.9 failed"
  run prune "$fp32" --sparsity 0.9 --sparse-storage -o "$run_dir/${m}_90s.onnx"
  [ "$status" = 0 ] || fail "$m: prune 0.9 --sparse-storage failed"
  $PY "$VALIDATE" "$SCHEMA" "$run_dir/${m}_90s.report.json" || fail "$m: sparse report does not match the schema"
  dense_size=$(stat -c %s "$run_dir/${m}_90.onnx")
  sparse_size=$(stat -c %s "$run_dir/${m}_90s.onnx")
  ((sparse_size < dense_size)) || fail "$m: --sparse-storage file ($sparse_size B) not smaller than dense ($dense_size B)"
  ok
  $PY - "$run_dir/${m}_90s.onnx" "$run_dir/${m}_90s.report.json" <<'EOF2' || fail "$m: sparse initializers check failed"
import json, sys
import onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
rep = json.load(open(sys.argv[2]))["pruning"]
stored = sorted(r["weight"] for r in rep["layers"] if r["storage"] == "sparse")
found = sorted(s.values.name for s in m.graph.sparse_initializer)
assert stored and stored == found, (stored, found)
print(f"  {len(found)} sparse initializers, checker ok")
EOF2
  node "$ACC" --model "$run_dir/${m}_90s.onnx" --reference "$run_dir/${m}_90.onnx" --data "$tmp/test.npz" \
    > "$tmp/sparse.json" 2> "$log_dir/acc.err" || fail "$m: ORT could not run the sparse model: $(head -c 600 "$log_dir/acc.err")"
  [ "$(json_get "$tmp/sparse.json" max_abs_err)" = 0 ] ||
    fail "$m: sparse and dense pruned models differ in ORT (max abs err $(json_get "$tmp/sparse.json" max_abs_err))"
  echo "$m 90 %: file $dense_size B dense -> $sparse_size B with sparse initializers; pruned weights" \
    "$(json_get "$run_dir/${m}_90s.report.json" pruning.dense_bytes) B dense," \
    "$(json_get "$run_dir/${m}_90s.report.json" pruning.sparse_bytes) B sparse," \
    "$(json_get "$run_dir/${m}_90s.report.json" pruning.zstd_bytes) B zstd; top-1 $(json_get "$tmp/sparse.json" top1)," \
    "identical outputs to the dense pruned model in ORT"
  ok
done

echo "$name: $checks checks ok"
