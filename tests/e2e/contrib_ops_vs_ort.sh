#!/usr/bin/env bash
# edgeq's quantized kernels (ai.onnx and com.microsoft contrib ops) against ONNX Runtime on small
# generated single-node models. Integer outputs must match ORT bit for bit (the max |difference|
# is printed when they do not, so an off-by-one requantization rounding difference is visible);
# float outputs must agree within 1e-5 relative (max |edgeq − ORT| ÷ max |ORT|).
set -euo pipefail
name=contrib_ops_vs_ort
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
e2e_init
ROOT=$EDGEQ_SOURCE_DIR
ORT_RUN="$ROOT/tests/ort/run.mjs"
COMPARE="$ROOT/tests/ort/compare_npy.mjs"
[ -d "$ROOT/tests/ort/node_modules" ] ||
  fail "tests/ort/node_modules is missing: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci"
[ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ] ||
  fail "onnxruntime-node is missing: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci"
export TMPDIR="$tmp"  # onnxruntime-node leaves debug files in TMPDIR

MAX_REL=1e-5
models="$tmp/models"
mkdir -p "$models"

# One model per op: writes $models/<label>.onnx, $models/<label>.<input>.npy and a manifest
# line "<label> <exact|float> <input>..." per model.
/usr/bin/python3 - "$models" > "$models/manifest" <<'PY' || fail "model generation failed"
import sys, os
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

out = sys.argv[1]
NP2TP = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.uint8): TensorProto.UINT8,
         np.dtype(np.int8): TensorProto.INT8, np.dtype(np.int32): TensorProto.INT32}

# One value makes a scalar (0-d) tensor, several a 1-D (per-axis) one.
def arr(v, t): return np.array(v[0] if len(v) == 1 else v, dtype=t)
def f32(*v): return arr(v, np.float32)
def u8(*v): return arr(v, np.uint8)
def i8(*v): return arr(v, np.int8)

def model(label, kind, op, inputs, consts, order, n_out=1, domain="", attrs=None, out_types=None, out_ranks=None):
    """inputs: {name: array} fed at run time; consts: {name: array} initializers;
    order: the node's input names in order ('' for an omitted optional input)."""
    rng_inputs = [helper.make_tensor_value_info(k, NP2TP[v.dtype], list(v.shape)) for k, v in inputs.items()]
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items()]
    outs = ["y%d" % i for i in range(n_out)]
    node = helper.make_node(op, order, outs, domain=domain or None, **(attrs or {}))
    # Outputs get symbolic dims (edgeq's loader runs the ONNX checker, which wants a shape);
    # every model here keeps its first input's rank unless out_ranks says otherwise.
    ranks = out_ranks or [next(iter(inputs.values())).ndim] * n_out
    out_vi = [helper.make_tensor_value_info(o, t, ["%s_d%d" % (o, j) for j in range(r)])
              for o, t, r in zip(outs, out_types, ranks)]
    g = helper.make_graph([node], label, rng_inputs, out_vi, inits)
    opsets = [helper.make_opsetid("", 13)]
    if domain == "com.microsoft": opsets.append(helper.make_opsetid("com.microsoft", 1))
    m = helper.make_model(g, opset_imports=opsets, producer_name="edgeq-e2e")
    m.ir_version = 7
    if domain == "": onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, label + ".onnx"))
    for k, v in inputs.items():
        np.save(os.path.join(out, "%s.%s.npy" % (label, k)), v)
    print(label, kind, *inputs.keys())

rng = np.random.default_rng(20240611)
U8, I8, F = TensorProto.UINT8, TensorProto.INT8, TensorProto.FLOAT
def ru8(*shape, lo=0, hi=256): return rng.integers(lo, hi, size=shape).astype(np.uint8)
def ri8(*shape, lo=-128, hi=128): return rng.integers(lo, hi, size=shape).astype(np.int8)

# Float inputs: halves and quarters give exact rounding ties at scale 0.5, plus saturation.
ties = np.array([-300, -129.5, -64.5, -2.5, -1.5, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1.5, 2.5, 3.5,
                 63.5, 100.25, 127.5, 128.5, 254.5, 255.5, 300, 1e6, -1e6, 7.75], np.float32)
xq = np.concatenate([ties, rng.normal(0, 40, 24).astype(np.float32)]).reshape(2, 3, 8)

# ---- ai.onnx ----
model("quantize_per_tensor_u8", "exact", "QuantizeLinear", {"x": xq},
      {"s": f32(0.5), "zp": u8(128)}, ["x", "s", "zp"], out_types=[U8])
model("quantize_per_tensor_i8", "exact", "QuantizeLinear", {"x": xq},
      {"s": f32(0.5), "zp": i8(-3)}, ["x", "s", "zp"], out_types=[I8])
model("quantize_per_axis_u8", "exact", "QuantizeLinear", {"x": xq},
      {"s": f32(0.5, 1.0, 0.25), "zp": u8(0, 128, 255)}, ["x", "s", "zp"], attrs={"axis": 1}, out_types=[U8])
model("quantize_per_axis_i8", "exact", "QuantizeLinear", {"x": xq},
      {"s": f32(0.5, 2.0, 0.25), "zp": i8(0, -128, 127)}, ["x", "s", "zp"], attrs={"axis": 1}, out_types=[I8])
model("dequantize_per_tensor_u8", "float", "DequantizeLinear", {"x": ru8(2, 3, 8)},
      {"s": f32(0.0371), "zp": u8(131)}, ["x", "s", "zp"], out_types=[F])
model("dequantize_per_axis_i8", "float", "DequantizeLinear", {"x": ri8(2, 3, 8)},
      {"s": f32(0.5, 0.013, 3.0), "zp": i8(-1, 0, 5)}, ["x", "s", "zp"], attrs={"axis": 1}, out_types=[F])
model("dynamic_quantize_linear", "exact_dql", "DynamicQuantizeLinear",
      {"x": np.concatenate([f32(-2.5, 0, 1.25, 3.75), rng.normal(0, 2, 44).astype(np.float32)]).reshape(6, 8)},
      {}, ["x"], n_out=3, out_types=[U8, F, U8], out_ranks=[2, 0, 0])
model("matmul_integer_u8u8", "exact", "MatMulInteger", {"a": ru8(4, 9), "b": ru8(9, 5)},
      {"azp": u8(127), "bzp": u8(3)}, ["a", "b", "azp", "bzp"], out_types=[TensorProto.INT32])
model("matmul_integer_u8i8", "exact", "MatMulInteger", {"a": ru8(4, 9), "b": ri8(9, 5)},
      {"azp": u8(130), "bzp": i8(-2)}, ["a", "b", "azp", "bzp"], out_types=[TensorProto.INT32])
model("conv_integer_u8", "exact", "ConvInteger", {"x": ru8(1, 2, 5, 5)},
      {"w": ru8(3, 2, 3, 3), "xzp": u8(120), "wzp": u8(7)}, ["x", "w", "xzp", "wzp"],
      attrs={"pads": [1, 1, 1, 1]}, out_types=[TensorProto.INT32])
model("qlinear_conv_u8i8_per_channel", "exact", "QLinearConv", {"x": ru8(1, 2, 5, 5)},
      {"xs": f32(0.02), "xzp": u8(128), "w": ri8(3, 2, 3, 3), "ws": f32(0.01, 0.0125, 0.005),
       "wzp": i8(0, 0, 0), "ys": f32(0.05), "yzp": u8(100), "bias": np.array([-500, 0, 731], np.int32)},
      ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp", "bias"], attrs={"pads": [1, 1, 1, 1], "strides": [1, 1]},
      out_types=[U8])
model("qlinear_conv_u8u8", "exact", "QLinearConv", {"x": ru8(1, 2, 5, 5)},
      {"xs": f32(0.5), "xzp": u8(128), "w": ru8(3, 2, 3, 3), "ws": f32(0.25),
       "wzp": u8(128), "ys": f32(64.0), "yzp": u8(128)},
      ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp"], attrs={"pads": [0, 0, 0, 0]}, out_types=[U8])
model("qlinear_matmul_u8u8", "exact", "QLinearMatMul", {"a": ru8(4, 9), "b": ru8(9, 5)},
      {"as": f32(0.5), "azp": u8(128), "bs": f32(0.25), "bzp": u8(128), "ys": f32(16.0), "yzp": u8(128)},
      ["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"], out_types=[U8])
model("qlinear_matmul_u8i8", "exact", "QLinearMatMul", {"a": ru8(4, 9), "b": ri8(9, 5)},
      {"as": f32(0.017), "azp": u8(121), "bs": f32(0.0093), "bzp": i8(0), "ys": f32(0.11), "yzp": u8(90)},
      ["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"], out_types=[U8])

# ---- com.microsoft ----
MS = "com.microsoft"
model("qlinear_add_u8", "exact", "QLinearAdd", {"a": ru8(2, 3, 8), "b": ru8(3, 8)},
      {"as": f32(0.5), "azp": u8(128), "bs": f32(0.5), "bzp": u8(127), "cs": f32(1.0), "czp": u8(128)},
      ["a", "as", "azp", "b", "bs", "bzp", "cs", "czp"], domain=MS, out_types=[U8])
model("qlinear_add_u8_odd", "exact", "QLinearAdd", {"a": ru8(2, 3, 8), "b": ru8(2, 3, 8)},
      {"as": f32(0.031), "azp": u8(100), "bs": f32(0.047), "bzp": u8(140), "cs": f32(0.059), "czp": u8(120)},
      ["a", "as", "azp", "b", "bs", "bzp", "cs", "czp"], domain=MS, out_types=[U8])
model("qlinear_mul_u8", "exact", "QLinearMul", {"a": ru8(2, 3, 8), "b": ru8(2, 3, 8)},
      {"as": f32(0.25), "azp": u8(128), "bs": f32(0.5), "bzp": u8(128), "cs": f32(64.0), "czp": u8(128)},
      ["a", "as", "azp", "b", "bs", "bzp", "cs", "czp"], domain=MS, out_types=[U8])
model("qlinear_mul_u8_odd", "exact", "QLinearMul", {"a": ru8(2, 3, 8), "b": ru8(3, 8)},
      {"as": f32(0.031), "azp": u8(100), "bs": f32(0.047), "bzp": u8(140), "cs": f32(0.059), "czp": u8(120)},
      ["a", "as", "azp", "b", "bs", "bzp", "cs", "czp"], domain=MS, out_types=[U8])
model("qlinear_concat_u8", "exact", "QLinearConcat", {"a": ru8(1, 2, 8), "b": ru8(1, 3, 8)},
      {"ys": f32(0.5), "yzp": u8(128), "as": f32(0.25), "azp": u8(128), "bs": f32(1.5), "bzp": u8(100)},
      ["ys", "yzp", "a", "as", "azp", "b", "bs", "bzp"], domain=MS, attrs={"axis": 1}, out_types=[U8])
model("qlinear_global_average_pool_u8", "exact", "QLinearGlobalAveragePool", {"x": ru8(2, 3, 2, 4)},
      {"xs": f32(0.5), "xzp": u8(128), "ys": f32(0.25), "yzp": u8(128)},
      ["x", "xs", "xzp", "ys", "yzp"], domain=MS, attrs={"channels_last": 0}, out_types=[U8])
model("qlinear_global_average_pool_u8_odd", "exact", "QLinearGlobalAveragePool", {"x": ru8(2, 3, 3, 3)},
      {"xs": f32(0.037), "xzp": u8(110), "ys": f32(0.021), "yzp": u8(130)},
      ["x", "xs", "xzp", "ys", "yzp"], domain=MS, attrs={"channels_last": 0}, out_types=[U8])
allu8 = np.arange(256, dtype=np.uint8).reshape(4, 64)
model("qlinear_sigmoid_u8", "exact", "QLinearSigmoid", {"x": allu8},
      {"xs": f32(0.0625), "xzp": u8(128), "ys": f32(1 / 256), "yzp": u8(0)},
      ["x", "xs", "xzp", "ys", "yzp"], domain=MS, out_types=[U8])
model("qlinear_leaky_relu_u8", "exact", "QLinearLeakyRelu", {"x": allu8},
      {"xs": f32(0.5), "xzp": u8(128), "ys": f32(0.25), "yzp": u8(200)},
      ["x", "xs", "xzp", "ys", "yzp"], domain=MS, attrs={"alpha": 0.1}, out_types=[U8])
model("qgemm_u8i8_quantized", "exact", "QGemm", {"a": ru8(4, 9)},
      {"as": f32(0.02), "azp": u8(128), "b": ri8(9, 5), "bs": f32(0.01), "bzp": i8(0),
       "c": np.array([-300, 0, 55, 1000, -7], np.int32), "ys": f32(0.03), "yzp": u8(128)},
      ["a", "as", "azp", "b", "bs", "bzp", "c", "ys", "yzp"], domain=MS, attrs={"alpha": 1.0}, out_types=[U8])
model("qgemm_u8u8_float", "float", "QGemm", {"a": ru8(4, 9)},
      {"as": f32(0.02), "azp": u8(128), "b": ru8(5, 9), "bs": f32(0.01), "bzp": u8(120)},
      ["a", "as", "azp", "b", "bs", "bzp"], domain=MS, attrs={"transB": 1, "alpha": 2.0}, out_types=[F])
model("dynamic_quantize_matmul_i8", "float", "DynamicQuantizeMatMul",
      {"a": rng.normal(0, 1.5, (4, 9)).astype(np.float32)},
      {"b": ri8(9, 5), "bs": f32(0.01, 0.02, 0.005, 0.03, 0.011), "bzp": i8(0, 0, 0, 0, 0),
       "bias": rng.normal(0, 1, 5).astype(np.float32)},
      ["a", "b", "bs", "bzp", "bias"], domain=MS, out_types=[F])
model("dynamic_quantize_matmul_u8", "float", "DynamicQuantizeMatMul",
      {"a": rng.normal(0, 1.5, (4, 9)).astype(np.float32)},
      {"b": ru8(9, 5), "bs": f32(0.013), "bzp": u8(127)}, ["a", "b", "bs", "bzp"], domain=MS, out_types=[F])
model("matmul_integer_to_float_u8i8", "float", "MatMulIntegerToFloat", {"a": ru8(4, 9)},
      {"b": ri8(9, 5), "as": f32(0.021), "bs": f32(0.01, 0.02, 0.005, 0.03, 0.011), "azp": u8(125),
       "bzp": i8(0, 1, -1, 0, 2), "bias": rng.normal(0, 1, 5).astype(np.float32)},
      ["a", "b", "as", "bs", "azp", "bzp", "bias"], domain=MS, out_types=[F])
model("matmul_integer_to_float_u8u8", "float", "MatMulIntegerToFloat", {"a": ru8(4, 9)},
      {"b": ru8(9, 5), "as": f32(0.021), "bs": f32(0.017), "azp": u8(125), "bzp": u8(131)},
      ["a", "b", "as", "bs", "azp", "bzp"], domain=MS, out_types=[F])
PY

# max |a − b| over the .npy files of two folders (for the failure message of an exact check).
max_diff() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, os, numpy as np
worst = []
for f in sorted(os.listdir(sys.argv[2])):
    if not f.endswith(".npy"): continue
    b = np.load(os.path.join(sys.argv[2], f)); p = os.path.join(sys.argv[1], f)
    if not os.path.exists(p): worst.append("%s missing" % f); continue
    a = np.load(p)
    if a.shape != b.shape or a.dtype != b.dtype:
        worst.append("%s: %s%s vs %s%s" % (f, a.dtype, a.shape, b.dtype, b.shape)); continue
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    worst.append("%s: max |diff| %g at %d of %d elements" % (f, d.max(), int((d > 0).sum()), d.size))
print("; ".join(worst))
PY
}

failed=()
while read -r label kind inputs; do
  d="$tmp/$label"
  mkdir -p "$d"
  args=()
  for i in $inputs; do args+=(--input "$i=$models/$label.$i.npy"); done
  model="$models/$label.onnx"
  node "$ORT_RUN" --model "$model" "${args[@]}" --output-dir "$d/ort" > /dev/null 2> "$d/ort.err" ||
    fail "$label: ORT failed: $(head -c 500 "$d/ort.err")"
  run run "$model" "${args[@]}" --output-dir "$d/edgeq"
  [ "$status" = 0 ] || fail "$label: edgeq run failed"
  ok
  case $kind in
    exact) cmp_args=(--exact) ;;
    float) cmp_args=(--max-rel "$MAX_REL") ;;
    exact_dql) cmp_args=(--exact) ;;  # y (uint8), y_scale and y_zero_point: all bitwise
  esac
  if node "$COMPARE" "$d/edgeq" "$d/ort" "${cmp_args[@]}" > "$d/cmp.log" 2>&1; then
    ok
  else
    echo "$name: $label differs from ORT ($kind): $(max_diff "$d/edgeq" "$d/ort")" >&2
    failed+=("$label")
  fi
done < "$models/manifest"
[ ${#failed[@]} = 0 ] || fail "${#failed[@]} model(s) differ from ORT: ${failed[*]}"
echo "$name: $checks checks ok"
