#!/usr/bin/env bash
# The ONNX Runtime oracle for `edgeq convert`: convert must not change what a model computes.
# For each model below, ONNX Runtime (tests/ort/run.mjs, CPU, one thread) runs the original,
# the `edgeq convert` output and the `edgeq convert --external-data` output on the same inputs,
# and the outputs must be bitwise identical (compare_npy.mjs --exact). The original's outputs
# are also checked against reference outputs where the test data has them, so a broken harness
# cannot pass by comparing nothing with nothing.
#
# Needs node and tests/ort/node_modules (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci);
# without them this test FAILS, it never skips.
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root), EDGEQ_TESTDATA_DIR
# (/usr/share/libonnx-testdata/data, ONNX backend test models).
set -euo pipefail

name=ort_convert
: "${EDGEQ:?EDGEQ must name the edgeq binary}"
: "${EDGEQ_SOURCE_DIR:?EDGEQ_SOURCE_DIR must name the repository root}"
: "${EDGEQ_TESTDATA_DIR:?EDGEQ_TESTDATA_DIR must name the ONNX backend test data (libonnx-testdata)}"
if [[ $EDGEQ == */* ]]; then EDGEQ=$(realpath "$EDGEQ"); fi
EDGEQ_SOURCE_DIR=$(realpath "$EDGEQ_SOURCE_DIR")
PY=/usr/bin/python3
ORT="$EDGEQ_SOURCE_DIR/tests/ort"
ODD="$EDGEQ_SOURCE_DIR/tests/data/odd"
SILERO="$EDGEQ_SOURCE_DIR/tests/data/silero_vad"

fail() {
  echo "$name: FAIL: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node is not installed (Node 18+ is needed to run tests/ort)"
[[ -d $ORT/node_modules/onnxruntime-node ]] ||
  fail "tests/ort/node_modules is missing: run 'cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci'"
[[ -d $EDGEQ_TESTDATA_DIR/node ]] || fail "$EDGEQ_TESTDATA_DIR/node is missing (Debian package libonnx-testdata)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgeq-$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# onnxruntime-node leaves files (mat-debug-PID.log, .ses) in $TMPDIR on every run; keep them in
# our folder so they go away with it.
mkdir "$tmp/ort-tmp"
ort_node() { TMPDIR="$tmp/ort-tmp" node "$@"; }

checks=0
models=0
ok() { checks=$((checks + 1)); }

# step LOG COMMAND...: runs COMMAND with its output in LOG; on failure shows LOG and fails.
step() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "$name: command failed: $*" >&2
    cat "$log" >&2
    fail "see above"
  fi
}

# oracle LABEL MODEL [RUN.MJS INPUT ARGS...]: original vs convert vs convert --external-data.
# Optional settings (as VAR=value before the call):
#   EXPECTED=DIR        also check the original's outputs against DIR/output_N.pb (tolerance)
#   REFERENCE=DIR       also check the original's outputs against DIR/*.npy (tolerance)
#   EXPECT_DATA_FILE=1  --external-data must write a non-empty model.onnx.data
#   TRANSFORM=SCRIPT    ORT runs `SCRIPT IN OUT` of each file, applied alike to the original and
#                       to both converted files (edgeq itself always converts the original)
oracle() {
  local label=$1 model=$2 d ref_model
  shift 2
  d="$tmp/$label"
  mkdir -p "$d"

  ref_model=$model
  if [[ -n ${TRANSFORM:-} ]]; then
    ref_model="$d/original.run.onnx"
    step "$d/ref.transform.log" "$PY" "$TRANSFORM" "$model" "$ref_model"
  fi
  if [[ -n ${EXPECTED:-} ]]; then
    step "$d/ref.log" ort_node "$ORT/run.mjs" --model "$ref_model" "$@" --output-dir "$d/ref" --expected-dir "$EXPECTED"
  else
    step "$d/ref.log" ort_node "$ORT/run.mjs" --model "$ref_model" "$@" --output-dir "$d/ref"
  fi
  ok
  compgen -G "$d/ref/*.npy" >/dev/null || fail "$label: ONNX Runtime wrote no outputs"
  if [[ -n ${REFERENCE:-} ]]; then
    step "$d/reference.log" ort_node "$ORT/compare_npy.mjs" "$d/ref" "$REFERENCE"
    ok
  fi

  local mode opt
  for mode in inline external; do
    opt=()
    [[ $mode == external ]] && opt=(--external-data)
    mkdir -p "$d/$mode"
    step "$d/$mode.convert.log" "$EDGEQ" convert "$model" -o "$d/$mode/model.onnx" "${opt[@]}"
    ok
    if [[ $mode == external && -n ${EXPECT_DATA_FILE:-} ]]; then
      [[ -s $d/$mode/model.onnx.data ]] || fail "$label: --external-data wrote no model.onnx.data"
      ok
    fi
    if [[ -n ${TRANSFORM:-} ]]; then
      step "$d/$mode.transform.log" "$PY" "$TRANSFORM" "$d/$mode/model.onnx" "$d/$mode/run.onnx"
      step "$d/$mode.run.log" ort_node "$ORT/run.mjs" --model "$d/$mode/run.onnx" "$@" --output-dir "$d/$mode.out"
    else
      step "$d/$mode.run.log" ort_node "$ORT/run.mjs" --model "$d/$mode/model.onnx" "$@" --output-dir "$d/$mode.out"
    fi
    ok
    step "$d/$mode.compare.log" ort_node "$ORT/compare_npy.mjs" "$d/$mode.out" "$d/ref" --exact
    ok
  done
  models=$((models + 1))
  echo "$name: $label: identical outputs (original, convert, convert --external-data)"
}

# --- inputs made here (deterministic) ---------------------------------------------------------
inputs="$tmp/inputs"
mkdir "$inputs"
"$PY" - "$inputs" <<'EOF'
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(20240601)
def save(name, a):
    np.save(f"{d}/{name}.npy", a)
save("cond_true", np.array(True))
save("cond_false", np.array(False))
save("x3", rng.standard_normal(3).astype(np.float32))
save("x_1x3x8x8", rng.standard_normal((1, 3, 8, 8)).astype(np.float32))
save("x_2x16", rng.standard_normal((2, 16)).astype(np.float32))
save("x_2x8", rng.standard_normal((2, 8)).astype(np.float32))
save("x_3x4", rng.standard_normal((3, 4)).astype(np.float32))
save("x4", rng.standard_normal(4).astype(np.float32))
EOF

# typed_fields.onnx has a string output that .npy cannot hold: ONNX Runtime runs a copy without
# that output (made the same way from the original and from each converted file), and the
# string tensor itself is compared through onnx below.
cat >"$tmp/drop_string_output.py" <<'EOF'
import sys
import onnx
m = onnx.load(sys.argv[1])
keep = [o for o in m.graph.output if o.type.tensor_type.elem_type != onnx.TensorProto.STRING]
del m.graph.output[:]
m.graph.output.extend(keep)
onnx.save(m, sys.argv[2])
EOF

# --- models of this repository ----------------------------------------------------------------
REFERENCE="$SILERO/expected_ort" EXPECT_DATA_FILE=1 oracle silero_vad \
  "$EDGEQ_SOURCE_DIR/models/third_party/silero_vad.onnx" \
  --input "input=$SILERO/input.npy" --input "sr=$SILERO/sr.npy" \
  --input "h=$SILERO/h.npy" --input "c=$SILERO/c.npy"
EXPECT_DATA_FILE=1 oracle demo_cnn "$EDGEQ_SOURCE_DIR/models/demo_cnn.onnx" \
  --input "$EDGEQ_SOURCE_DIR/models/demo_cnn.input.npy"
EXPECT_DATA_FILE=1 oracle odd_external "$ODD/external/model.onnx" --input "$ODD/external_input.npy"
oracle odd_if_loop_true "$ODD/if_loop.onnx" --input "cond=$inputs/cond_true.npy" --input "X=$inputs/x3.npy"
oracle odd_if_loop_false "$ODD/if_loop.onnx" --input "cond=$inputs/cond_false.npy" --input "X=$inputs/x3.npy"
oracle odd_constant_weights "$ODD/constant_weights.onnx" --input "$inputs/x_1x3x8x8.npy"
oracle odd_fp16_cast "$ODD/fp16_cast.onnx" --input "$inputs/x_2x16.npy"
oracle odd_unsorted "$ODD/unsorted.onnx" --input "$inputs/x_2x8.npy"
oracle odd_unused_domains "$ODD/unused_domains.onnx" --input "$inputs/x_3x4.npy"
TRANSFORM="$tmp/drop_string_output.py" oracle odd_typed_fields "$ODD/typed_fields.onnx" \
  --input "$inputs/x4.npy"
# ...and the string tensor typed_fields.onnx outputs, in both converted files.
for mode in inline external; do
  "$PY" - "$ODD/typed_fields.onnx" "$tmp/odd_typed_fields/$mode/model.onnx" <<'EOF' ||
import sys
import onnx
from onnx import numpy_helper
def strings(path):
    m = onnx.load(path)
    return {t.name: numpy_helper.to_array(t).tolist() for t in m.graph.initializer
            if t.data_type == onnx.TensorProto.STRING}
a, b = strings(sys.argv[1]), strings(sys.argv[2])
assert a and a == b, f"string tensors differ: {a} vs {b}"
EOF
    fail "typed_fields ($mode): the string tensor changed"
  ok
done

# --- ONNX backend test models (inputs and reference outputs from test_data_set_0) -------------
backend=(
  node/test_conv_with_strides_padding
  node/test_convtranspose_pads
  node/test_matmul_3d
  node/test_gemm_all_attributes
  node/test_lstm_with_peepholes
  node/test_lstm_defaults
  node/test_gru_with_initial_bias
  node/test_if
  node/test_loop11
  pytorch-converted/test_Conv2d_groups
  pytorch-converted/test_Conv3d
  pytorch-converted/test_ConvTranspose2d
  node/test_gemm_default_matrix_bias
  pytorch-converted/test_Linear_no_bias
  pytorch-operator/test_operator_conv
  pytorch-operator/test_operator_convtranspose
)
for t in "${backend[@]}"; do
  dir="$EDGEQ_TESTDATA_DIR/$t"
  [[ -f $dir/model.onnx && -d $dir/test_data_set_0 ]] || fail "$dir/model.onnx or its test_data_set_0 is missing"
  big=""  # these hold an initializer of 1 KiB or more, so --external-data must write a data file
  case $t in pytorch-converted/test_Conv3d | pytorch-operator/test_operator_conv) big=1 ;; esac
  EXPECTED="$dir/test_data_set_0" EXPECT_DATA_FILE=$big oracle "${t//\//_}" "$dir/model.onnx" \
    --input-dir "$dir/test_data_set_0"
done

echo "$name: $models model runs, $checks checks passed"
