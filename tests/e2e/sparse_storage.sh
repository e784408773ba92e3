#!/usr/bin/env bash
# Models with ONNX sparse initializers (what `edgeq prune --sparse-storage` writes) are first-class
# inputs, on models/fmnist_cnn.onnx pruned to 90 % with and without --sparse-storage (the dense
# twin):
#   - `edgeq run` on the sparse file equals ONNX Runtime on the same file within 1e-4 relative
#     (the executor_vs_ort.sh bar), and equals edgeq's run of the dense twin bit for bit (the
#     executor densifies the sparse weights to the same bytes);
#   - `edgeq eval SPARSE --reference fp32` works, its report validates, and its accuracy section is
#     identical to that of the dense twin;
#   - a corrupt sparse initializer (index past the end) exits 3 naming the file, writing nothing;
#   - `prepare --passes densify_sparse` gives a file without sparse initializers whose weights
#     equal the dense twin's;
#   - `distill-targets --student-width` on the sparse file writes the same targets and the same
#     (dense) student as on the dense twin;
#   - `quantize` (dynamic, static) and `prune` accept the sparse file and produce models that
#     ONNX Runtime runs with exactly the outputs of the same command on the dense twin.
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root). Needs tests/ort/node_modules and
# /usr/bin/python3 with numpy, onnx and jsonschema; without them it FAILS, it never skips.
set -euo pipefail
name=sparse_storage
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ORT_RUN="$ROOT/tests/ort/run.mjs"
COMPARE="$ROOT/tests/ort/compare_npy.mjs"
VALIDATE="$ROOT/tests/e2e/validate_json.py"
SCHEMA="$ROOT/docs/report.schema.json"
MODEL="$ROOT/models/fmnist_cnn.onnx"
e2e_need_ort

# Executor against ONNX Runtime: the bar of executor_vs_ort.sh (float32 sums in another order).
MAX_REL=1e-4
SPARSITY=0.9  # above 2/3, so --sparse-storage stores the pruned weights sparse (12 B per non-zero)

$PY - "$ROOT/models/data/fmnist_test_1000.npz" "$tmp" <<'EOF'
import sys, numpy as np
z = np.load(sys.argv[1])
np.save(f"{sys.argv[2]}/images64.npy", z["image"][:64])
np.save(f"{sys.argv[2]}/images.npy", z["image"])
np.save(f"{sys.argv[2]}/labels.npy", z["label"])
np.savez(f"{sys.argv[2]}/calib.npz", image=z["image"][:100])
EOF

# ort_outputs MODEL DIR: ONNX Runtime's outputs on the 64 images, as DIR/NAME.npy.
ort_outputs() {
  node "$ORT_RUN" --model "$1" --input "image=$tmp/images64.npy" --output-dir "$2" > /dev/null \
    2> "$log_dir/ort.err" || fail "ORT cannot run $1: $(grep -v W:onnxruntime "$log_dir/ort.err" | head -c 600)"
}
# same_outputs A B MODE: compare_npy.mjs between two output folders.
same_outputs() {
  node "$COMPARE" "$1" "$2" $3 > "$log_dir/cmp.log" 2>&1 || return 1
}

# ---------------------------------------------------------------- the sparse file and its dense twin
S="$run_dir/sparse.onnx"
D="$run_dir/dense.onnx"
run prune "$MODEL" --sparsity "$SPARSITY" --sparse-storage -o "$S"
[ "$status" = 0 ] || fail "prune --sparse-storage: exit $status"
run prune "$MODEL" --sparsity "$SPARSITY" -o "$D"
[ "$status" = 0 ] || fail "prune (dense twin): exit $status"
$PY - "$S" "$D" <<'EOF' || fail "the sparse file is not the dense twin stored sparse"
import sys, numpy as np, onnx
from onnx import numpy_helper
s, d = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
onnx.checker.check_model(s)  # full_check: onnx shape inference rejects sparse Conv weights
sparse = {sp.values.name: sp for sp in s.graph.sparse_initializer}
assert len(sparse) >= 2, f"only {len(sparse)} sparse initializers"
dense = {t.name: numpy_helper.to_array(t) for t in d.graph.initializer}
for name, sp in sparse.items():  # densified here with numpy: zeros except at the indices
    want = dense[name]
    got = np.zeros(want.size, dtype=want.dtype)
    got[numpy_helper.to_array(sp.indices).reshape(-1)] = numpy_helper.to_array(sp.values)
    assert (got.reshape(want.shape) == want).all(), name
print(f"{len(sparse)} sparse initializers: {sorted(sparse)}")
EOF
ok

# ---------------------------------------------------------------- edgeq run vs ORT and vs the twin
ort_outputs "$S" "$tmp/ort_sparse"
run run "$S" --input "image=$tmp/images64.npy" --output-dir "$tmp/edgeq_sparse"
[ "$status" = 0 ] || fail "edgeq run on the sparse model: exit $status"
same_outputs "$tmp/edgeq_sparse" "$tmp/ort_sparse" "--max-rel $MAX_REL" ||
  fail "edgeq run differs from ORT on the sparse model: $(cat "$log_dir/cmp.log")"
echo "edgeq vs ORT on the sparse model: $(tail -1 "$log_dir/cmp.log")"
ok
run run "$D" --input "image=$tmp/images64.npy" --output-dir "$tmp/edgeq_dense"
[ "$status" = 0 ] || fail "edgeq run on the dense twin: exit $status"
same_outputs "$tmp/edgeq_sparse" "$tmp/edgeq_dense" --exact ||
  fail "sparse and dense twin differ in edgeq run: $(cat "$log_dir/cmp.log")"
ok

# ---------------------------------------------------------------- edgeq eval
for m in sparse dense; do
  run eval "$run_dir/$m.onnx" --reference "$MODEL" --data "$tmp/images.npy" --labels "$tmp/labels.npy" \
    --report "$run_dir/eval_$m.json"
  [ "$status" = 0 ] || fail "edgeq eval $m: exit $status"
  $PY "$VALIDATE" "$SCHEMA" "$run_dir/eval_$m.json" 2> "$log_dir/schema.err" ||
    fail "eval report of $m does not validate: $(head -c 1500 "$log_dir/schema.err")"
  ok
done
$PY - "$run_dir/eval_sparse.json" "$run_dir/eval_dense.json" "$(stat -c %s "$S")" <<'EOF' ||
import json, sys
s, d = (json.load(open(p)) for p in sys.argv[1:3])
assert s["size"]["bytes_after"] == int(sys.argv[3]), (s["size"]["bytes_after"], sys.argv[3])
assert s["accuracy"] == d["accuracy"], "accuracy sections differ"
EOF
  fail "eval of the sparse model: wrong size or an accuracy section unlike the dense twin's"
ok

# ---------------------------------------------------------------- a corrupt sparse initializer
$PY - "$S" "$run_dir/corrupt.onnx" <<'EOF'
import sys, numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
sp = m.graph.sparse_initializer[0]
idx = numpy_helper.to_array(sp.indices).copy()
idx[-1] = int(np.prod(sp.dims))  # one past the last element
sp.indices.CopyFrom(numpy_helper.from_array(idx.astype(np.int64), sp.indices.name))
onnx.save(m, sys.argv[2])
EOF
for cmd in run eval; do
  if [ $cmd = run ]; then
    run run corrupt.onnx --input "image=$tmp/images64.npy" --output-dir "$tmp/corrupt_out"
  else
    run eval corrupt.onnx --reference "$MODEL" --data "$tmp/images64.npy" --report "$run_dir/corrupt.json"
  fi
  [ "$status" = 3 ] || fail "$cmd on a corrupt sparse initializer: exit $status, expected 3"
  grep -q "corrupt.onnx" "$log_dir/stderr" || fail "$cmd: the message does not name the file"
  grep -qiE "sparse|index" "$log_dir/stderr" || fail "$cmd: the message does not say what is wrong"
  [ ! -e "$tmp/corrupt_out" ] && [ ! -e "$run_dir/corrupt.json" ] || fail "$cmd: files were written"
  ok
done

# ---------------------------------------------------------------- densify_sparse
run prepare "$S" --passes densify_sparse -o "$run_dir/densified.onnx"
[ "$status" = 0 ] || fail "prepare --passes densify_sparse: exit $status"
$PY - "$run_dir/densified.onnx" "$D" <<'EOF' || fail "densify_sparse did not give the dense twin's weights"
import sys, numpy as np, onnx
from onnx import numpy_helper
a, d = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
onnx.checker.check_model(a, full_check=True)
assert len(a.graph.sparse_initializer) == 0, "sparse initializers left"
wa = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
wd = {t.name: numpy_helper.to_array(t) for t in d.graph.initializer}
assert wa.keys() == wd.keys(), (sorted(wa), sorted(wd))
for k in wd:
    assert wa[k].dtype == wd[k].dtype and (wa[k] == wd[k]).all(), k
EOF
ok

# ---------------------------------------------------------------- distill-targets: the student
# Channel pruning must see the sparse weights: the student of the sparse teacher is the student
# of the dense twin, weight for weight, with no sparse initializer left.
for m in sparse dense; do
  run distill-targets "$m.onnx" --data "$tmp/images64.npy" --student-width 0.5 --student-out "student_$m.onnx" \
    -o "targets_$m.npz"
  [ "$status" = 0 ] || fail "distill-targets --student-width 0.5 on the $m model: exit $status"
done
$PY - "$run_dir/student_sparse.onnx" "$run_dir/student_dense.onnx" "$run_dir/targets_sparse.npz" \
  "$run_dir/targets_dense.npz" <<'EOF' || fail "the students or the targets differ"
import sys, numpy as np, onnx
from onnx import numpy_helper
ts, td = (np.load(p, allow_pickle=False) for p in sys.argv[3:5])
assert ts.files == td.files, (ts.files, td.files)
for k in ts.files:  # meta names the teacher file, the arrays must be the same bits
    assert k == "meta" or ts[k].tobytes() == td[k].tobytes(), k
a, d = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
assert len(a.graph.sparse_initializer) == 0, "sparse initializers left in the student"
wa = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
wd = {t.name: numpy_helper.to_array(t) for t in d.graph.initializer}
assert wa.keys() == wd.keys(), (sorted(wa), sorted(wd))
for k in wd:
    assert wa[k].shape == wd[k].shape and (wa[k] == wd[k]).all(), k
EOF
ok

# ---------------------------------------------------------------- quantize and prune accept it
# Each command on the sparse file and on the dense twin: ORT must give identical outputs.
transform_both() {  # transform_both LABEL ARGS...: edgeq ARGS on both, outputs <label>_{sparse,dense}.onnx
  local label=$1
  shift
  for m in sparse dense; do
    run "${@/MODEL/$m.onnx}" -o "${label}_$m.onnx"
    [ "$status" = 0 ] || fail "$label of the $m model: exit $status"
    $PY - "$run_dir/${label}_$m.onnx" <<'EOF' || fail "$label of the $m model still holds sparse initializers"
import sys, onnx
assert len(onnx.load(sys.argv[1]).graph.sparse_initializer) == 0
EOF
  done
  ort_outputs "$run_dir/${label}_sparse.onnx" "$tmp/${label}_sparse"
  ort_outputs "$run_dir/${label}_dense.onnx" "$tmp/${label}_dense"
  same_outputs "$tmp/${label}_sparse" "$tmp/${label}_dense" --exact ||
    fail "$label: sparse and dense inputs give different models: $(cat "$log_dir/cmp.log")"
  ok
}
transform_both dynamic quantize MODEL --int8
transform_both static quantize MODEL --int8 --calib "$tmp/calib.npz"
transform_both prune95 prune MODEL --sparsity 0.95

echo "$name: $checks checks ok"
