#!/usr/bin/env bash
# `edgeq prune --eval DATA --labels L` and the gates on prune (issue #6):
#   - the report's accuracy section: top-1 of the pruned model and of the FP32 input on the same
#     images equal ONNX Runtime's (tests/ort/accuracy.mjs) within TOP1_TOL; the drop is their
#     difference; the report validates against docs/report.schema.json; stdout has the top-1 line;
#   - a failed gate (--max-accuracy-drop 0 on 2:4, --min-size-ratio 2 on dense storage) exits 1
#     with model and report written and the failed gate in the report;
#   - --labels / --max-accuracy-drop without --eval, and data flags without --eval: exit 2,
#     nothing written.
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root). Needs tests/ort/node_modules,
# /usr/bin/python3 with numpy, onnx and jsonschema, and /usr/share/datasets/fashion-mnist; without
# them it FAILS, it never skips.
set -euo pipefail
name=prune_eval
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ACC="$ROOT/tests/ort/accuracy.mjs"
SCHEMA="$ROOT/docs/report.schema.json"
e2e_need_ort
e2e_need_fmnist

EVAL_IMAGES=1000
# Both models are float: edgeq's executor and ORT decide the same class except on near-ties, one
# image in a thousand at most (eval_report.sh measures the same for the FP32 CNN).
TOP1_TOL=0.1
cnn="$ROOT/models/fmnist_cnn.onnx"

e2e_export_fmnist "$tmp/test_images.npz" --count "$EVAL_IMAGES" --labels-out "$tmp/labels.npy"

# ---------------------------------------------------------------- usage errors, nothing written
refused() {  # refused MESSAGE_REGEX ARGS...
  local msg=$1
  shift
  run prune "$cnn" "$@" -o "$run_dir/refused.onnx"
  [ "$status" = 2 ] || fail "expected exit 2, got $status"
  grep -Eq -e "$msg" "$log_dir/stderr" || fail "message does not match /$msg/"
  [ -z "$(ls -A "$run_dir")" ] || fail "files written: $(ls -A "$run_dir")"
  ok
}
refused "--labels needs --eval" --pattern 2:4 --labels "$tmp/labels.npy"
refused "--max-accuracy-drop needs --eval" --pattern 2:4 --max-accuracy-drop 1
refused "need --calib or --eval" --pattern 2:4 --image-size 28,28

# ---------------------------------------------------------------- --eval against ORT
P="$run_dir/cnn.2of4.onnx"
R="$run_dir/cnn.2of4.report.json"
run prune "$cnn" --pattern 2:4 -o "$P" --eval "$tmp/test_images.npz" --labels "$tmp/labels.npy" --threads 2
[ "$status" = 0 ] || fail "prune --eval exited $status"
[ -s "$P" ] && [ -s "$R" ] || fail "model or report missing"
valid "$R"
grep -q "^pruned " "$log_dir/stdout" && grep -q "^  top-1 " "$log_dir/stdout" || fail "no result / top-1 line on stdout"
if grep -qE '^edgeq: |samples \(' "$log_dir/stdout"; then fail "log lines on stdout"; fi
[ "$(jget "$R" r.accuracy.samples)" = "$EVAL_IMAGES" ] || fail "accuracy.samples != $EVAL_IMAGES"
[ "$(jget "$R" r.options.eval)" = "$tmp/test_images.npz" ] || fail "options.eval not recorded"
node "$ACC" --model "$P" --reference "$cnn" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" > "$tmp/ort.json" 2> "$log_dir/acc.err" ||
  fail "ORT accuracy failed: $(head -c 800 "$log_dir/acc.err")"
e_top1=$(jget "$R" r.accuracy.labels.top1)
e_ref=$(jget "$R" r.accuracy.labels.reference_top1)
e_drop=$(jget "$R" r.accuracy.labels.top1_drop)
o_top1=$(jget "$tmp/ort.json" r.top1)
o_ref=$(jget "$tmp/ort.json" r.reference_top1)
printf '%-12s %8s %8s\n' measure edgeq ORT "top-1 2:4" "$e_top1" "$o_top1" "top-1 fp32" "$e_ref" "$o_ref"
near "$e_top1" "$o_top1" "$TOP1_TOL" || fail "pruned top-1: edgeq $e_top1, ORT $o_top1"
near "$e_ref" "$o_ref" "$TOP1_TOL" || fail "fp32 top-1: edgeq $e_ref, ORT $o_ref"
near "$e_drop" "$(awk -v a="$e_ref" -v b="$e_top1" 'BEGIN { printf "%.12g", a - b }')" 1e-9 || fail "drop != ref - pruned"
ok

# ---------------------------------------------------------------- gates
run prune "$cnn" --pattern 2:4 -o "$run_dir/g1.onnx" --eval "$tmp/test_images.npz" --labels "$tmp/labels.npy" \
  --max-accuracy-drop 0
awk -v d="$e_drop" 'BEGIN { exit !(d > 0) }' || fail "2:4 did not lower top-1 ($e_drop): the gate test needs a drop"
[ "$status" = 1 ] || fail "--max-accuracy-drop 0 with a drop of $e_drop points must exit 1 (got $status)"
[ -s "$run_dir/g1.onnx" ] && [ -s "$run_dir/g1.report.json" ] || fail "a failed gate must still write model and report"
valid "$run_dir/g1.report.json"
[ "$(jget "$run_dir/g1.report.json" 'r.gates[0].name + " " + r.gates[0].passed + " " + r.gates[0].value')" = \
  "max_accuracy_drop false $e_drop" ] || fail "the report's gate: $(jget "$run_dir/g1.report.json" r.gates)"
grep -q "^gate max_accuracy_drop: FAILED" "$log_dir/stdout" || fail "no FAILED gate line on stdout"
ok
# Dense storage: pruning zeros weights but keeps every byte, so the file is not 2x smaller.
run prune "$cnn" --sparsity 0.5 -o "$run_dir/g2.onnx" --min-size-ratio 2
[ "$status" = 1 ] || fail "--min-size-ratio 2 on a dense pruned model must exit 1 (got $status)"
[ -s "$run_dir/g2.onnx" ] && [ -s "$run_dir/g2.report.json" ] || fail "a failed gate must still write model and report"
[ "$(jget "$run_dir/g2.report.json" 'r.gates[0].passed')" = false ] || fail "the report does not record the failed gate"
run prune "$cnn" --sparsity 0.5 -o "$run_dir/g3.onnx" --min-size-ratio 0.5
[ "$status" = 0 ] || fail "a passing --min-size-ratio gate exited $status"
ok

echo "$name: $checks checks ok"
