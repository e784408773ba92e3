#!/usr/bin/env bash
# `edgeq prepare`: the graph preparation passes from the command line. On the Fashion-MNIST CNN
# (9 Conv → BatchNormalization pairs): the default passes fold every BatchNormalization, the
# output passes the ONNX checker and computes in ONNX Runtime what the original computes (max
# abs diff ÷ max abs value ≤ 1e-5, issue #4), one log line per pass goes to stderr and one
# result line to stdout, the report validates, and the input file is never touched. Also
# --list, --passes with one pass, and the usage errors (unknown pass, output = input) → exit 2.
#
# Needs node and tests/ort/node_modules (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci);
# without them this test FAILS, it never skips.
set -euo pipefail

name=prepare_cli
: "${EDGEQ:?EDGEQ must name the edgeq binary}"
: "${EDGEQ_SOURCE_DIR:?EDGEQ_SOURCE_DIR must name the repository root}"
EDGEQ_SOURCE_DIR=$(realpath "$EDGEQ_SOURCE_DIR")
source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
PY=/usr/bin/python3
ORT="$EDGEQ_SOURCE_DIR/tests/ort"
SCHEMA="$EDGEQ_SOURCE_DIR/docs/report.schema.json"
VALIDATE="$EDGEQ_SOURCE_DIR/tests/e2e/validate_json.py"
# Issue #4: outputs before and after a pass equal within 1e-5 relative.
MAX_REL=1e-5

e2e_init
command -v node >/dev/null || fail "node is not installed (Node 18+ is needed to run tests/ort)"
[[ -d $ORT/node_modules/onnxruntime-node ]] ||
  fail "tests/ort/node_modules is missing: run 'cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci'"
mkdir "$tmp/ort-tmp"
ort_node() { TMPDIR="$tmp/ort-tmp" node "$@"; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
expect_status() {
  [[ $status == "$1" ]] || fail "expected exit status $1"
  ok
}

# The model is copied into the run folder, so the default output lands beside it there.
model="$run_dir/fmnist_cnn.onnx"
cp "$EDGEQ_SOURCE_DIR/models/fmnist_cnn.onnx" "$model"
model_sha=$(sha_of "$model")

# 16 real test images as the input.
"$PY" - "$EDGEQ_SOURCE_DIR/models/data/fmnist_test_1000.npz" "$tmp/images.npy" <<'EOF'
import sys
import numpy as np
data = np.load(sys.argv[1])
x = data[data.files[0]][:16].astype(np.float32)
np.save(sys.argv[2], x.reshape(16, 1, 28, 28))
EOF

# --list: every registered pass, name group summary, on stdout.
run prepare --list
expect_status 0
for p in infer_shapes fold_constants fold_batchnorm remove_identity eliminate_dead_nodes; do
  grep -qP "^$p\tgraph\t." "$log_dir/stdout" || fail "--list does not show $p"
  ok
done

# Default passes, default output and report beside the input.
run prepare fmnist_cnn.onnx
expect_status 0
out="$run_dir/fmnist_cnn.prepared.onnx"
report="$run_dir/fmnist_cnn.prepared.report.json"
[[ -s $out ]] || fail "no $out"
ok
[[ -s $report ]] || fail "no $report"
ok
[[ $(wc -l <"$log_dir/stdout") == 1 ]] || fail "stdout is not one result line"
grep -q "^prepared fmnist_cnn.onnx -> fmnist_cnn.prepared.onnx (5 passes, " "$log_dir/stdout" ||
  fail "unexpected result line"
ok
for p in fold_constants remove_identity fold_batchnorm eliminate_dead_nodes infer_shapes; do
  [[ $(grep -c "edgeq: info: $p: " "$log_dir/stderr") == 1 ]] || fail "no single log line for $p"
  ok
done
grep -q "fold_batchnorm: folded 9 BatchNormalization" "$log_dir/stderr" || fail "not 9 BatchNormalization folded"
ok
"$PY" "$VALIDATE" "$SCHEMA" "$report" || fail "the report does not validate against $SCHEMA"
ok
"$PY" - "$report" <<'EOF' || fail "report content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["command"] == "prepare", r["command"]
assert r["options"]["passes"] == ["fold_constants", "remove_identity", "fold_batchnorm",
                                  "eliminate_dead_nodes", "infer_shapes"], r["options"]
EOF
ok

# The written model: checker passes, no BatchNormalization, same interface, value_info recorded.
"$PY" - "$model" "$out" <<'EOF' || fail "the prepared model is not what it should be"
import sys
import onnx
a, b = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
onnx.checker.check_model(b, full_check=True)
ops = [n.op_type for n in b.graph.node]
assert "BatchNormalization" not in ops, ops
assert ops.count("Conv") == 9, ops
assert [i.name for i in a.graph.input] == [i.name for i in b.graph.input]
assert [o.name for o in a.graph.output] == [o.name for o in b.graph.output]
assert a.graph.output[0].type == b.graph.output[0].type
used = {i for n in b.graph.node for i in n.input}
dead = [t.name for t in b.graph.initializer if t.name not in used]
assert not dead, f"dead initializers: {dead}"
assert len(b.graph.value_info) == len(b.graph.node) - 1, len(b.graph.value_info)
EOF
ok

# ONNX Runtime: original vs prepared on the same images.
oracle() {  # oracle LABEL MODEL
  mkdir -p "$tmp/$1"
  ort_node "$ORT/run.mjs" --model "$2" --input "$tmp/images.npy" --output-dir "$tmp/$1" \
    >"$tmp/$1.log" 2>&1 || { cat "$tmp/$1.log" >&2; fail "ONNX Runtime cannot run $2"; }
  ok
}
oracle original "$model"
oracle prepared "$out"
compgen -G "$tmp/original/*.npy" >/dev/null || fail "ONNX Runtime wrote no outputs"
ort_node "$ORT/compare_npy.mjs" "$tmp/prepared" "$tmp/original" --max-rel "$MAX_REL" >"$tmp/cmp.log" 2>&1 ||
  { cat "$tmp/cmp.log" >&2; fail "prepared outputs differ from the original's by more than $MAX_REL"; }
ok
echo "$name: ONNX Runtime, original vs prepared: $(tr '\n' ' ' <"$tmp/cmp.log")"

# One pass alone, -o and --report given.
run prepare fmnist_cnn.onnx --passes fold_batchnorm -o one.onnx --report one.json
expect_status 0
[[ -s $run_dir/one.onnx && -s $run_dir/one.json ]] || fail "one pass: no model or report"
ok
[[ $(grep -c "edgeq: info: " "$log_dir/stderr") == 1 ]] || fail "one pass: not one log line"
ok
oracle one "$run_dir/one.onnx"
ort_node "$ORT/compare_npy.mjs" "$tmp/one" "$tmp/original" --max-rel "$MAX_REL" >"$tmp/cmp1.log" 2>&1 ||
  { cat "$tmp/cmp1.log" >&2; fail "fold_batchnorm alone changed the outputs"; }
ok

# Usage errors: exit 2, a message naming the problem, nothing written.
run prepare fmnist_cnn.onnx --passes fold_batchnorm,fold_everything -o bad.onnx
expect_status 2
grep -q "unknown pass 'fold_everything'" "$log_dir/stderr" || fail "unknown pass not named"
ok
[[ ! -e $run_dir/bad.onnx ]] || fail "an output was written despite the unknown pass"
ok
run prepare fmnist_cnn.onnx -o fmnist_cnn.onnx
expect_status 2
run prepare
expect_status 2
run prepare fmnist_cnn.onnx --passes ""
expect_status 2
# A missing model: I/O error.
run prepare missing.onnx
expect_status 6

[[ $(sha_of "$model") == "$model_sha" ]] || fail "the input model changed"
ok
echo "$name: $checks checks passed"
