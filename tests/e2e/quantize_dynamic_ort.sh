#!/usr/bin/env bash
# Dynamic INT8 (`edgeq quantize MODEL --int8`, no --calib) against ONNX Runtime (issue #4):
# Silero VAD and every ONNX backend test model (libonnx-testdata: node/, pytorch-converted/,
# pytorch-operator/, simple/, real/) whose graph has a Conv, MatMul or Gemm with a constant weight
# (an initializer or a Constant node's output). For each:
#   - edgeq exits 0 and the output passes the ONNX checker (opset <= 17) and holds INT8 weights;
#   - ORT loads and runs it on the case's inputs (test_data_set_0), and every float output has
#     cosine >= 0.98 against the FP32 model's ORT output;
#   - where float weights are >= 90 % of the FP32 file, the INT8 file is >= 3x smaller.
# Prints one table row per model.
#
# Cosine is skipped, with the reason in the table, for outputs where it measures nothing:
#   - integer or bool outputs (nothing to compare in float terms),
#   - an all-zero FP32 output (cosine undefined),
#   - outputs of fewer than MIN_COSINE_ELEMENTS elements: the cosine of a 1-element tensor is
#     +-1 whatever the values (Silero's speech probability [1,1]); their max abs error is printed.
#
# Environment: EDGEQ, EDGEQ_SOURCE_DIR, EDGEQ_TESTDATA_DIR. Needs tests/ort/node_modules and
# /usr/bin/python3 with numpy + onnx; without them it FAILS, it never skips.
set -euo pipefail
name=quantize_dynamic_ort
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}" "${EDGEQ_TESTDATA_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ORT_RUN="$ROOT/tests/ort/run.mjs"
[ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ] ||
  fail "onnxruntime-node is missing: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci"
[ -d "$EDGEQ_TESTDATA_DIR/node" ] || fail "$EDGEQ_TESTDATA_DIR/node is missing (Debian package libonnx-testdata)"
export TMPDIR="$tmp"  # onnxruntime-node leaves debug files in TMPDIR

# Bars from issue #4.
MIN_COSINE=0.98
WEIGHT_DOMINATED=0.90   # float weight bytes / file bytes at or above which ...
MIN_SIZE_RATIO=3.0      # ... the INT8 file must be this many times smaller
MIN_COSINE_ELEMENTS=16

# ---------------------------------------------------------------- cases
# Backend cases with a constant-weight Conv/MatMul/Gemm (also inside If/Loop/Scan bodies).
$PY - "$EDGEQ_TESTDATA_DIR" > "$tmp/cases.txt" <<'EOF'
import os, sys
import onnx
root = sys.argv[1]
OPS = {"Conv", "MatMul", "Gemm"}
def has_const_weight(g, outer):
    consts = outer | {t.name for t in g.initializer}
    consts |= {o for n in g.node if n.op_type == "Constant" for o in n.output}
    for n in g.node:
        if n.op_type in OPS and len(n.input) > 1 and n.input[1] in consts:
            return True
        for a in n.attribute:
            subs = ([a.g] if a.type == onnx.AttributeProto.GRAPH else []) + list(a.graphs)
            if any(has_const_weight(s, consts) for s in subs):
                return True
    return False
for sub in ("node", "pytorch-converted", "pytorch-operator", "simple", "real"):
    d = os.path.join(root, sub)
    if not os.path.isdir(d):
        continue
    for case in sorted(os.listdir(d)):
        model = os.path.join(d, case, "model.onnx")
        inputs = os.path.join(d, case, "test_data_set_0")
        if os.path.isfile(model) and os.path.isdir(inputs):
            if has_const_weight(onnx.load(model, load_external_data=False).graph, set()):
                print(f"{sub}/{case}|{model}|--input-dir {inputs}")
EOF
V="$ROOT/tests/data/silero_vad"
echo "silero_vad|$ROOT/models/third_party/silero_vad.onnx|--input input=$V/input.npy --input sr=$V/sr.npy --input h=$V/h.npy --input c=$V/c.npy" >> "$tmp/cases.txt"
(( $(wc -l < "$tmp/cases.txt") >= 2 )) || fail "found no backend test model with a constant-weight Conv/MatMul/Gemm"

# expected_to_npy MODEL TEST_DATA_SET DIR: the stored output_N.pb as DIR/<output name>.npy, named
# the way run.mjs names its output files.
expected_to_npy() {
  $PY - "$@" <<'EOF'
import glob, os, re, sys
import numpy as np
import onnx
from onnx import numpy_helper
model, data, out = sys.argv[1:4]
names = [o.name for o in onnx.load(model, load_external_data=False).graph.output]
files = sorted(glob.glob(os.path.join(data, "output_*.pb")), key=lambda f: int(f.rsplit("_", 1)[1][:-3]))
if len(files) != len(names):
    sys.exit(f"{data}: {len(files)} output files for {len(names)} outputs")
os.makedirs(out, exist_ok=True)
for name, f in zip(names, files):
    t = onnx.TensorProto()
    with open(f, "rb") as fh:
        t.ParseFromString(fh.read())
    np.save(os.path.join(out, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"), numpy_helper.to_array(t))
EOF
}

# ---------------------------------------------------------------- quantize + run
# A case that fails here is recorded and the loop goes on, so one run shows every failure.
failures=()
: > "$tmp/results.txt"
while IFS='|' read -r label model ort_args <&3; do  # fd 3: edgeq and node keep stdin
  d="$tmp/cases/${label//\//_}"
  mkdir -p "$d"
  out="$d/int8.onnx"
  run quantize "$model" --int8 -o "$out" --report "$d/report.json"
  if [ "$status" != 0 ] || [ ! -s "$out" ]; then
    failures+=("$label: edgeq quantize exited with $status: $(grep -v '^\[' "$log_dir/stderr" | tail -n 3 | tr '\n' ' ')")
    continue
  fi
  ok
  # The FP32 reference: ORT's outputs of the original, or, where ORT cannot run it (it has no
  # kernel for some opset-6 ops, e.g. Gemm-6), the outputs stored with the backend test case.
  ref=ort
  # shellcheck disable=SC2086  # ort_args is a list of words
  if ! node "$ORT_RUN" --model "$model" $ort_args --output-dir "$d/fp32" > /dev/null 2> "$d/ort.err"; then
    [[ $ort_args == --input-dir* ]] || fail "$label: ORT failed on the FP32 model: $(head -c 800 "$d/ort.err")"
    expected_to_npy "$model" "${ort_args#--input-dir }" "$d/fp32" ||
      fail "$label: ORT cannot run the FP32 model and its expected outputs cannot be read"
    ref=expected
  fi
  # shellcheck disable=SC2086
  if ! node "$ORT_RUN" --model "$out" $ort_args --output-dir "$d/int8" > /dev/null 2> "$d/ort.err"; then
    failures+=("$label: ORT cannot run the INT8 model: $(grep -v 'W:onnxruntime' "$d/ort.err" | head -c 600 | tr '\n' ' ')")
    continue
  fi
  ok
  echo "$label|$model|$out|$d/fp32|$d/int8|$ref" >> "$tmp/results.txt"
done 3< "$tmp/cases.txt"

# ---------------------------------------------------------------- compare
last=""
$PY - "$tmp/results.txt" "$MIN_COSINE" "$WEIGHT_DOMINATED" "$MIN_SIZE_RATIO" "$MIN_COSINE_ELEMENTS" <<'EOF' ||
import glob, os, sys
import numpy as np
import onnx

results, min_cos, dominated, min_ratio, min_elems = sys.argv[1], *map(float, sys.argv[2:6])
INT8 = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
FLOATS = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2, onnx.TensorProto.DOUBLE: 8,
          onnx.TensorProto.BFLOAT16: 2}

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

def float_weight_bytes(m):
    total = 0
    for t in tensors(m.graph):
        if t.data_type in FLOATS:
            total += int(np.prod(t.dims, dtype=np.int64)) * FLOATS[t.data_type]
    return total

failures = []
rows = []
for line in open(results):
    label, fp32, int8, dir_a, dir_b, ref = line.rstrip("\n").split("|")
    m32 = onnx.load(fp32)
    m8 = onnx.load(int8)
    bad = []
    opset = max((o.version for o in m8.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset <= 17:
        try:
            onnx.checker.check_model(int8)
        except Exception as e:  # noqa: BLE001 - any checker complaint is a failure
            bad.append(f"ONNX checker: {str(e).splitlines()[0][:200]}")
    n_int8 = sum(1 for t in tensors(m8.graph) if t.data_type in INT8 and len(t.dims) >= 1)
    if n_int8 == 0:
        bad.append("no INT8/UINT8 weight in the output")
    b32, b8 = os.path.getsize(fp32), os.path.getsize(int8)
    wfrac = float_weight_bytes(m32) / b32
    ratio = b32 / b8
    if wfrac >= dominated and ratio < min_ratio:
        bad.append(f"weights are {100 * wfrac:.0f}% of the file but it is only {ratio:.2f}x smaller (bar {min_ratio}x)")
    cosines, notes = [], ([] if ref == "ort" else [f"reference: the case's {ref} outputs (ORT cannot run the FP32 model)"])
    for f in sorted(glob.glob(os.path.join(dir_a, "*.npy"))):
        out = os.path.basename(f)[:-4]
        a = np.load(f)
        b = np.load(os.path.join(dir_b, os.path.basename(f)))
        if a.shape != b.shape:
            bad.append(f"output {out}: shape {b.shape} != FP32 {a.shape}")
            continue
        if a.dtype.kind not in "fc":
            notes.append(f"{out}: {a.dtype} output, cosine skipped")
            continue
        a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
        if not np.isfinite(b64).all():
            bad.append(f"output {out}: INT8 output has NaN/inf")
            continue
        if a64.size < min_elems:
            notes.append(f"{out}: {a64.size} elements, cosine skipped, max abs err {np.abs(a64 - b64).max():.3g}")
            continue
        na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
        if na == 0:
            notes.append(f"{out}: all-zero FP32 output, cosine skipped")
            continue
        cos = float(a64 @ b64 / (na * nb)) if nb > 0 else 0.0
        cosines.append(cos)
        if cos < min_cos:
            bad.append(f"output {out}: cosine {cos:.5f} < {min_cos}")
    rows.append((label, 100 * wfrac, b32, b8, ratio, min(cosines) if cosines else None, n_int8, opset,
                 "FAIL" if bad else "ok", "; ".join(bad + notes)))
    failures += [f"{label}: {x}" for x in bad]

print(f"{'model':56} {'w%':>5} {'fp32 B':>9} {'int8 B':>9} {'size÷':>6} {'cos_min':>8} {'int8_w':>6} {'opset':>5}  verdict  notes")
for r in rows:
    cos = f"{r[5]:.5f}" if r[5] is not None else "-"
    print(f"{r[0]:56} {r[1]:5.1f} {r[2]:9d} {r[3]:9d} {r[4]:6.2f} {cos:>8} {r[6]:6d} {r[7]:5d}  {r[8]:7}  {r[9]}")
print(f"{len(rows)} models, {len(failures)} failures")
for f in failures:
    print("FAIL", f, file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
  failures+=("see the table and FAIL lines above")
ok
if ((${#failures[@]})); then
  printf "$name: FAIL: %s\n" "${failures[@]}" >&2
  exit 1
fi
echo "$name: $checks checks ok"
