#!/usr/bin/env bash
# `edgeq run`: feeds from .npy / .pb / .npz / test-data folders, outputs as .npy, summaries on
# stdout, and the exit codes for bad inputs (4), missing files (6), unsupported ops (5).
set -euo pipefail
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}" "${EDGEQ_TESTDATA_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0
fail() { echo "run_cli: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }

# expect CODE CMD... : runs CMD, checks its exit code, keeps stdout/stderr in $work.
expect() {
  local want=$1; shift
  set +e
  "$@" > "$work/out" 2> "$work/err"
  local got=$?
  set -e
  [ "$got" = "$want" ] || fail "expected exit $want, got $got: $* (stderr: $(head -c 400 "$work/err"))"
  ok
}

node_case="$EDGEQ_TESTDATA_DIR/node/test_identity"
# A test-data folder feeds every input; outputs are written as .npy and summarised on stdout.
expect 0 "$EDGEQ" run "$node_case/model.onnx" --input "$node_case/test_data_set_0" --output-dir "$work/o1"
[ -f "$work/o1/y.npy" ] || fail "output y.npy not written"; ok
grep -q "^y  \[1,1,2,2\]  float  min=" "$work/out" || fail "summary line missing: $(cat "$work/out")"; ok
[ ! -s "$work/err" ] || fail "stderr not empty: $(cat "$work/err")"; ok

# The written .npy holds exactly the expected output (compared by numpy against the .pb).
/usr/bin/python3 - "$work/o1/y.npy" "$node_case/test_data_set_0/output_0.pb" << 'PY' || fail "y.npy differs from the expected output"
import sys, numpy as np, onnx
from onnx import numpy_helper
got = np.load(sys.argv[1])
t = onnx.TensorProto()
t.ParseFromString(open(sys.argv[2], "rb").read())
want = numpy_helper.to_array(t)
sys.exit(0 if got.dtype == want.dtype and got.shape == want.shape and (got == want).all() else 1)
PY
ok

# NAME=FILE with .npy and .pb, a bare .npy for a single-input model, and a .npz by names.
/usr/bin/python3 -c "
import numpy as np
x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
np.save('$work/x.npy', x)
np.save('$work/x64.npy', x.astype(np.float64))
np.save('$work/x3.npy', x.reshape(4))
np.savez('$work/feeds.npz', x=x)
np.savez('$work/wrong.npz', nope=x)
"
expect 0 "$EDGEQ" run "$node_case/model.onnx" --input "x=$work/x.npy"
expect 0 "$EDGEQ" run "$node_case/model.onnx" --input "x=$node_case/test_data_set_0/input_0.pb"
expect 0 "$EDGEQ" run "$node_case/model.onnx" --input "$work/x.npy" --threads 1
expect 0 "$EDGEQ" run "$node_case/model.onnx" --input "$work/feeds.npz"
grep -q "max=3 mean=1.5" "$work/out" || fail "wrong values from the .npz feed: $(cat "$work/out")"; ok

# --repeat: timing on stderr only, the results on stdout unchanged.
expect 0 "$EDGEQ" run "$node_case/model.onnx" --input "$work/x.npy" --repeat 3
grep -q "^run time: median [0-9.]* ms over 3 runs$" "$work/err" || fail "no timing line: $(cat "$work/err")"; ok
grep -q "max=3 mean=1.5" "$work/out" || fail "stdout changed with --repeat: $(cat "$work/out")"; ok

# Bad data: exit 4 with a message naming the input.
expect 4 "$EDGEQ" run "$node_case/model.onnx" --input "y=$work/x.npy"
grep -q "no input named 'y'" "$work/err" || fail "unknown input not named: $(cat "$work/err")"; ok
expect 4 "$EDGEQ" run "$node_case/model.onnx" --input "$work/x64.npy"
grep -q "input 'x' expects dtype float, got double" "$work/err" || fail "dtype mismatch not explained: $(cat "$work/err")"; ok
expect 4 "$EDGEQ" run "$node_case/model.onnx" --input "$work/x3.npy"
grep -q "input 'x' expects rank 4" "$work/err" || fail "rank mismatch not explained: $(cat "$work/err")"; ok
expect 4 "$EDGEQ" run "$node_case/model.onnx" --input "$work/wrong.npz"
expect 4 "$EDGEQ" run "$EDGEQ_TESTDATA_DIR/node/test_add/model.onnx" --input "$work/x.npy"
grep -q "name them with NAME=FILE" "$work/err" || fail "multi-input hint missing: $(cat "$work/err")"; ok
printf 'garbage' > "$work/bad.npy"
expect 4 "$EDGEQ" run "$node_case/model.onnx" --input "$work/bad.npy"
[ ! -s "$work/out" ] || fail "stdout not empty on error"; ok

# Missing files: exit 6. Missing --input: usage (2).
expect 6 "$EDGEQ" run "$node_case/model.onnx" --input "$work/nope.npy"
expect 6 "$EDGEQ" run "$work/nope.onnx" --input "$work/x.npy"
expect 2 "$EDGEQ" run "$node_case/model.onnx"

# An op the executor has no kernel for: exit 5 naming op, domain, opset and node.
/usr/bin/python3 -c "
import onnx
from onnx import helper, TensorProto
node = helper.make_node('FancyOp', ['x'], ['y'], domain='com.example', name='fancy')
g = helper.make_graph([node], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 1, 2, 2])],
                      [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 1, 2, 2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13), helper.make_opsetid('com.example', 1)])
onnx.save(m, '$work/custom.onnx')
"
expect 5 "$EDGEQ" run "$work/custom.onnx" --input "$work/x.npy"
grep -q "com.example::FancyOp (opset 1) at node 'fancy'" "$work/err" || fail "unsupported op not named: $(cat "$work/err")"; ok

echo "run_cli: $checks checks ok"
