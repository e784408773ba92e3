#!/usr/bin/env bash
# `edgeq compress MODEL --recipe R.json` end to end (issue #6 "Recipes"):
#   - examples/recipes/cnn_2of4_static_int8.json (fold_batchnorm pass → prune 2:4 → static INT8)
#     on models/fmnist_cnn.onnx, from a folder that is not the recipe's (calib.npz beside the
#     recipe is found): one result line on stdout, the report validates against
#     docs/report.schema.json and its sizes equal the files', the recipe validates against
#     docs/recipe.schema.json;
#   - the same commands one by one (edgeq prepare --passes fold_batchnorm, prune, quantize) write a
#     byte-identical model and the same pruning / quantization sections;
#   - the output runs in ONNX Runtime; every 2:4 block of the pruned layers holds at least two
#     zeros in the dequantized INT8 weights, and every weight pruned step by step is exactly 0;
#   - bad recipes and step options fail with exit 2 before anything runs, writing nothing;
#   - gates: --min-size-ratio 100 fails (exit 1, model and report written); --max-accuracy-drop
#     without --eval is exit 2; with --eval the accuracy section is there;
#   - the recipe schema names exactly the options the step commands' --help lists;
#   - examples/recipes/prune50_dynamic_int8.json runs in place on the transformer, output runs in ORT.
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root). Needs tests/ort/node_modules,
# /usr/bin/python3 with numpy, onnx and jsonschema, and /usr/share/datasets/fashion-mnist; without
# them it FAILS, it never skips.
set -euo pipefail
name=compress_cli
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
ACC="$ROOT/tests/ort/accuracy.mjs"
VALIDATE="$ROOT/tests/e2e/validate_json.py"
REPORT_SCHEMA="$ROOT/docs/report.schema.json"
RECIPE_SCHEMA="$ROOT/docs/recipe.schema.json"
e2e_need_ort
e2e_need_fmnist

CALIB_IMAGES=200
EVAL_IMAGES=500
cnn="$ROOT/models/fmnist_cnn.onnx"


# ---------------------------------------------------------------- data
# The recipe lives in its own folder with calib.npz beside it; edgeq runs in $run_dir.
recipes="$tmp/recipes"
mkdir "$recipes"
cp "$ROOT/examples/recipes/cnn_2of4_static_int8.json" "$recipes/"
recipe="$recipes/cnn_2of4_static_int8.json"
e2e_export_fmnist "$recipes/calib.npz" --split train --count "$CALIB_IMAGES" --images-only
e2e_export_fmnist "$tmp/test_images.npz" --count "$EVAL_IMAGES" --labels-out "$tmp/labels.npy"
valid "$recipe" "$RECIPE_SCHEMA"
valid "$ROOT/examples/recipes/prune50_dynamic_int8.json" "$RECIPE_SCHEMA"
ok

# ---------------------------------------------------------------- the recipe
out="$run_dir/cnn.compressed.onnx"
rep="$run_dir/cnn.compressed.report.json"
run compress "$cnn" --recipe "$recipe" -o "$out" --threads 2 --report-format json,md
[ "$status" = 0 ] || fail "compress exited $status"
[ -s "$out" ] && [ -s "$rep" ] && [ -s "${rep%.json}.md" ] || fail "model, report or report.md missing"
[ "$(wc -l < "$log_dir/stdout")" = 2 ] || fail "stdout is not exactly the two result lines"
grep -Eq "^compressed .*fmnist_cnn.onnx -> .*cnn.compressed.onnx \(3 steps; [0-9]+ -> [0-9]+ bytes, [0-9.]+x smaller\)$" \
  "$log_dir/stdout" || fail "no result line on stdout"
grep -qx "report: $rep" "$log_dir/stdout" || fail "no report line on stdout"
for i in 1 2 3; do grep -q "step $i/3: " "$log_dir/stderr" || fail "no 'step $i/3' log line on stderr"; done
valid "$rep" "$REPORT_SCHEMA"
ok
[ "$(jget "$rep" r.command)" = compress ] || fail "report command is not compress"
[ "$(jget "$rep" 'r.recipe.steps.map(s => s.command || "pass:" + s.pass).join(" ")')" = "pass:fold_batchnorm prune quantize" ] ||
  fail "recipe steps in the report: $(jget "$rep" 'r.recipe.steps.map(s => s.command || s.pass)')"
[ "$(jget "$rep" 'r.recipe.steps[2].argv.join(" ")')" = "--calib $recipes/calib.npz --calib-samples 200 --int8" ] ||
  fail "quantize step argv (calib not resolved against the recipe's folder?): $(jget "$rep" 'r.recipe.steps[2].argv')"
[ "$(jget "$rep" r.recipe.name)" = cnn-2of4-static-int8 ] || fail "recipe name not in the report"
[ "$(jget "$rep" r.pruning.pattern)" = 2:4 ] && [ "$(jget "$rep" r.quantization.mode)" = static ] ||
  fail "pruning / quantization sections missing"
[ "$(jget "$rep" r.quantization.calibration.samples)" = "$CALIB_IMAGES" ] || fail "calibration samples != $CALIB_IMAGES"
in_bytes=$(stat -c %s "$cnn")
out_bytes=$(stat -c %s "$out")
[ "$(jget "$rep" r.size.bytes_before)" = "$in_bytes" ] || fail "size.bytes_before != $in_bytes (stat)"
[ "$(jget "$rep" r.size.bytes_after)" = "$out_bytes" ] || fail "size.bytes_after != $out_bytes (stat)"
awk -v a="$(jget "$rep" r.size.ratio)" -v b="$in_bytes" -v c="$out_bytes" 'BEGIN { d = a - b / c; exit !(d < 1e-9 && d > -1e-9) }' ||
  fail "size.ratio != $in_bytes / $out_bytes"
ok

# ---------------------------------------------------------------- the same, one command at a time
run prepare "$cnn" --passes fold_batchnorm -o "$run_dir/s1.onnx"
[ "$status" = 0 ] || fail "prepare --passes fold_batchnorm failed"
run prune "$run_dir/s1.onnx" --pattern 2:4 --calib "$recipes/calib.npz" -o "$run_dir/s2.onnx" --threads 2
[ "$status" = 0 ] || fail "prune --pattern 2:4 failed"
run quantize "$run_dir/s2.onnx" --int8 --calib "$recipes/calib.npz" --calib-samples "$CALIB_IMAGES" -o "$run_dir/s3.onnx" --threads 2
[ "$status" = 0 ] || fail "quantize --calib failed"
cmp "$run_dir/s3.onnx" "$out" > /dev/null || fail "compress and the commands one by one wrote different models"
for pair in pruning:s2 quantization:s3; do
  section=${pair%:*}
  [ "$(jget "$rep" "JSON.stringify(r.$section)")" = "$(jget "$run_dir/${pair#*:}.report.json" "JSON.stringify(r.$section)")" ] ||
    fail "the $section section differs from the one edgeq ${section/ing/e} wrote"
done
echo "compress = prepare + prune + quantize: byte-identical model ($out_bytes bytes, $in_bytes before," \
  "$(jget "$rep" 'r.size.ratio.toFixed(2)')x smaller)"
ok

# ---------------------------------------------------------------- an eval step
# eval measures the model as the steps before it left it (here: folded and 2:4-pruned, = s2.onnx)
# against the recipe's input, changes nothing, and keeps its accuracy in its recipe entry.
cat > "$recipes/with_eval.json" <<EOF
{"steps": [{"pass": "fold_batchnorm"}, {"command": "prune", "options": {"pattern": "2:4", "calib": "calib.npz"}},
           {"command": "eval", "options": {"data": "$tmp/test_images.npz", "labels": "$tmp/labels.npy"}},
           {"command": "quantize", "options": {"int8": true, "calib": "calib.npz", "calib-samples": $CALIB_IMAGES}}]}
EOF
valid "$recipes/with_eval.json" "$RECIPE_SCHEMA"
run compress "$cnn" --recipe "$recipes/with_eval.json" -o "$run_dir/with_eval.onnx" --threads 2
[ "$status" = 0 ] || fail "a recipe with an eval step exited $status"
cmp "$run_dir/with_eval.onnx" "$out" > /dev/null || fail "an eval step changed the model"
valid "$run_dir/with_eval.report.json" "$REPORT_SCHEMA"
node "$ACC" --model "$run_dir/s2.onnx" --reference "$cnn" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" \
  > "$tmp/s2_ort.json" 2> "$log_dir/acc.err" || fail "ORT could not run s2.onnx: $(head -c 600 "$log_dir/acc.err")"
e_top1=$(jget "$run_dir/with_eval.report.json" 'r.recipe.steps[2].result.labels.top1')
o_top1=$(jget "$tmp/s2_ort.json" r.top1)
near "$e_top1" "$o_top1" 0.0001 || fail "eval step top-1 $e_top1 != ORT's $o_top1 on the pruned model"
[ "$(jget "$run_dir/with_eval.report.json" 'r.recipe.steps[2].changes')" = 0 ] || fail "eval step reports changes"
grep -q "top-1 $(printf '%.2f' "$e_top1") %" <<< "$(jget "$run_dir/with_eval.report.json" 'r.recipe.steps[2].summary')" ||
  fail "eval step summary does not give its top-1"
echo "eval step after 2:4 pruning: top-1 $e_top1 (ORT on the same model: $o_top1)"
ok

# ---------------------------------------------------------------- ORT, and 2:4 zeros in INT8
node "$ACC" --model "$out" --reference "$cnn" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" > "$tmp/ort.json" 2> "$log_dir/acc.err" ||
  fail "ORT could not run the compressed model: $(head -c 600 "$log_dir/acc.err")"
echo "ORT on $EVAL_IMAGES test images: top-1 $(jget "$tmp/ort.json" r.top1) (FP32 $(jget "$tmp/ort.json" r.reference_top1))"
ok
$PY - "$out" "$run_dir/s2.onnx" "$rep" <<'EOF' || fail "2:4 zeros check failed"
import json, re, sys
import numpy as np
import onnx
from onnx import numpy_helper
q_path, pruned_path, rep_path = sys.argv[1:4]
q = onnx.load(q_path)
inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
producer = {o: n for n in q.graph.node for o in n.output}
pruned = {t.name: numpy_helper.to_array(t) for t in onnx.load(pruned_path).graph.initializer}
rows = [r for r in json.load(open(rep_path))["pruning"]["layers"] if r["pruned"]]
assert rows, "no pruned layer in the report"
nodes = {n.name: n for n in q.graph.node}
blocks = zeros_kept = 0
for r in rows:
    m = re.fullmatch(r"node '(.*)' \(\w+\)", r["node"])  # the report names it "node 'NAME' (Op)"
    node = nodes[m.group(1) if m else r["node"]]
    dq = producer[node.input[1]]
    assert dq.op_type == "DequantizeLinear", f"{r['node']}: weight comes from {dq.op_type}"
    w_q = inits[dq.input[0]]
    assert w_q.dtype == np.int8, f"{r['node']}: weight is {w_q.dtype}"
    scale = inits[dq.input[1]]
    zp = inits[dq.input[2]] if len(dq.input) > 2 and dq.input[2] else np.zeros_like(scale, dtype=np.int8)
    axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
    shape = [1] * w_q.ndim
    if scale.ndim == 1 and scale.size > 1:
        shape[axis] = scale.size
    w = (w_q.astype(np.float32) - zp.reshape(shape).astype(np.float32)) * scale.reshape(shape)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    # input-channel axis: Conv [Cout, Cin, k..] 1; Gemm B [K, N] 0, with transB [N, K] 1
    in_axis = 1 if node.op_type == "Conv" or attrs.get("transB", 0) else 0
    grouped = np.moveaxis(w, in_axis, -1).reshape(-1, 4)
    z = (grouped == 0).sum(axis=1)
    assert (z >= 2).all(), f"{r['node']}: a block of 4 has only {z.min()} zeros after quantization"
    blocks += grouped.shape[0]
    p = pruned[r["weight"]]
    if p.shape != w.shape and p.ndim == 2 and p.T.shape == w.shape:
        p = p.T
    assert p.shape == w.shape, (r["weight"], p.shape, w.shape)
    assert (w[p == 0] == 0).all(), f"{r['node']}: a weight pruned step by step is not 0 in the compressed model"
    zeros_kept += int((p == 0).sum())
print(f"2:4 holds in all {blocks} blocks of {len(rows)} dequantized INT8 weights; {zeros_kept} pruned zeros are 0")
EOF
ok

# ---------------------------------------------------------------- bad recipes: exit 2, nothing written
bad="$tmp/bad"
mkdir "$bad"
cp "$recipes/calib.npz" "$bad/"
expect_refused() {  # expect_refused MESSAGE_REGEX RECIPE_TEXT [EXTRA ARGS...]
  local msg=$1 text=$2
  shift 2
  printf '%s\n' "$text" > "$bad/r.json"
  rm -rf "$run_dir/refused"
  mkdir "$run_dir/refused"
  run compress "$cnn" --recipe "$bad/r.json" -o "$run_dir/refused/out.onnx" "$@"
  [ "$status" = 2 ] || fail "expected exit 2 for: $text"
  grep -Eq -e "$msg" "$log_dir/stderr" || fail "message does not match /$msg/ for: $text"
  [ -z "$(ls -A "$run_dir/refused")" ] || fail "files written for a refused recipe: $(ls -A "$run_dir/refused")"
  if grep -q "step 1/" "$log_dir/stderr"; then fail "a step ran before the recipe was refused: $text"; fi
  [ ! -s "$log_dir/stdout" ] || fail "stdout not empty for a refused recipe"
  ok
}
good_steps='{"pass": "fold_batchnorm"}, {"command": "prune", "options": {"pattern": "2:4"}}'
expect_refused "r\.json: the recipe is not valid JSON: parse error at line [0-9]+, column [0-9]+" '{"steps": [ {"pass": "fold_batchnorm"'
expect_refused "r\.json: 'steps' must be a non-empty list" '{"steps": []}'
expect_refused "unknown key 'step'" '{"step": [{"pass": "fold_batchnorm"}]}'
expect_refused "step 3 \(shrink\): unknown command 'shrink' \(steps are the commands .*prune" "{\"steps\": [$good_steps, {\"command\": \"shrink\"}]}"
expect_refused "step 3 \(pass fold_everything\): unknown pass 'fold_everything' \(registered passes: .*fold_batchnorm" \
  "{\"steps\": [$good_steps, {\"pass\": \"fold_everything\"}]}"
expect_refused "step 3 \(prune\): option 'sparsty': 'prune' has no option --sparsty" \
  "{\"steps\": [$good_steps, {\"command\": \"prune\", \"options\": {\"sparsty\": 0.5}}]}"
expect_refused "step 3 \(prune\): .*N:M needs 1 <= N <= M" \
  "{\"steps\": [$good_steps, {\"command\": \"prune\", \"options\": {\"pattern\": \"5:4\"}}]}"
expect_refused "step 3 \(quantize\): .*--method" \
  "{\"steps\": [$good_steps, {\"command\": \"quantize\", \"options\": {\"int8\": true, \"calib\": \"calib.npz\", \"method\": \"median\"}}]}"
expect_refused "'inspect' cannot be a step: it does not work on the model" "{\"steps\": [$good_steps, {\"command\": \"inspect\"}]}"
expect_refused "'calibrate' cannot be a step" '{"steps": [{"command": "calibrate", "options": {"calib": "x.npz"}}]}'
expect_refused "step 1 \(eval\): .*--data is required" '{"steps": [{"command": "eval", "options": {"labels": "l.npy"}}]}'
expect_refused "--output is an option of compress itself" \
  '{"steps": [{"command": "prune", "options": {"pattern": "2:4", "output": "x.onnx"}}]}'
expect_refused "--threads is an option of compress itself" '{"steps": [{"command": "prune", "options": {"sparsity": 0.5, "threads": 2}}]}'
expect_refused "without dashes" '{"steps": [{"command": "prune", "options": {"--sparsity": 0.5}}]}'
expect_refused "--int8 is a flag: give true or false" '{"steps": [{"command": "quantize", "options": {"int8": "yes"}}]}'
expect_refused "passes take no options" '{"steps": [{"pass": "fold_batchnorm", "options": {"x": 1}}]}'
expect_refused "exactly one of 'command' or 'pass'" '{"steps": [{"pass": "fold_batchnorm", "command": "prune"}]}'
expect_refused "--list prints the registered passes" '{"steps": [{"command": "prepare", "options": {"list": true}}]}'
expect_refused "--max-accuracy-drop needs --eval" "{\"steps\": [$good_steps]}" --max-accuracy-drop 1
# Every refused recipe but the non-JSON one is also refused by the schema (the schema is no looser).
for text in '{"steps": []}' "{\"steps\": [{\"command\": \"shrink\"}]}" '{"steps": [{"command": "prune", "options": {"sparsty": 0.5}}]}' \
    '{"steps": [{"command": "inspect"}]}' '{"steps": [{"command": "prune", "options": {"output": "x.onnx"}}]}' \
    '{"steps": [{"command": "quantize", "options": {"int8": "yes"}}]}' '{"steps": [{"pass": "fold_batchnorm", "options": {"x": 1}}]}' \
    '{"steps": [{"command": "prepare", "options": {"list": true}}]}' '{"steps": [{"command": "quantize", "options": {"int8": true, "method": "median"}}]}'; do
  if printf '%s' "$text" | $PY "$VALIDATE" "$RECIPE_SCHEMA" - 2> /dev/null; then fail "the recipe schema accepts: $text"; fi
done
ok

# ---------------------------------------------------------------- the schema names the CLI's options
# Per step command: the option names of `edgeq CMD --help` minus those compress owns (and minus
# prepare --list, refused in a step) = the schema's.
$PY - "$RECIPE_SCHEMA" "$EDGEQ" <<'EOF' || fail "docs/recipe.schema.json and the CLI disagree on step options"
import json, re, subprocess, sys
schema = json.load(open(sys.argv[1]))
owned = {"output", "report", "report-format", "threads", "eval", "labels", "eval-samples", "min-size-ratio",
         "max-accuracy-drop", "help"}
refused = {"prepare": {"list"}}
for cmd in schema["$defs"]["command_step"]["properties"]["command"]["enum"]:
    text = subprocess.run([sys.argv[2], cmd, "--help"], capture_output=True, text=True, check=True).stdout
    cmd_owned = owned - {"labels", "eval-samples"} if cmd == "eval" else owned  # eval's own data
    cli = set(re.findall(r"--([a-z0-9][a-z0-9-]*)", text)) - cmd_owned - refused.get(cmd, set())
    documented = set(schema["$defs"][f"{cmd}_options"]["properties"])
    assert cli == documented, f"{cmd}: CLI only {sorted(cli - documented)}, schema only {sorted(documented - cli)}"
print("recipe schema options = CLI options for", schema["$defs"]["command_step"]["properties"]["command"]["enum"])
EOF
ok

# ---------------------------------------------------------------- gates and --eval on compress
run compress "$cnn" --recipe "$recipe" -o "$run_dir/gate.onnx" --min-size-ratio 100
[ "$status" = 1 ] || fail "a failed --min-size-ratio gate must exit 1 (got $status)"
[ -s "$run_dir/gate.onnx" ] && [ -s "$run_dir/gate.report.json" ] || fail "a failed gate must still write model and report"
valid "$run_dir/gate.report.json" "$REPORT_SCHEMA"
[ "$(jget "$run_dir/gate.report.json" 'r.gates[0].name + " " + r.gates[0].passed')" = "min_size_ratio false" ] ||
  fail "the report does not record the failed gate"
grep -q "^gate min_size_ratio: FAILED" "$log_dir/stdout" || fail "no FAILED gate line on stdout"
cmp "$run_dir/gate.onnx" "$out" > /dev/null || fail "same recipe, different model (determinism)"
ok
run compress "$cnn" --recipe "$recipe" -o "$run_dir/eval.onnx" --eval "$tmp/test_images.npz" --labels "$tmp/labels.npy" \
  --max-accuracy-drop 100 --min-size-ratio 2 --threads 2
[ "$status" = 0 ] || fail "compress --eval with passing gates exited $status"
valid "$run_dir/eval.report.json" "$REPORT_SCHEMA"
[ "$(jget "$run_dir/eval.report.json" r.accuracy.samples)" = "$EVAL_IMAGES" ] || fail "accuracy.samples != $EVAL_IMAGES"
[ "$(jget "$run_dir/eval.report.json" 'r.gates.every(g => g.passed)')" = true ] || fail "gates not passed in the report"
e_top1=$(jget "$run_dir/eval.report.json" r.accuracy.labels.top1)
awk -v a="$e_top1" -v b="$(jget "$tmp/ort.json" r.top1)" 'BEGIN { d = a - b; exit !(d <= 0.5 && d >= -0.5) }' ||
  fail "compress --eval top-1 $e_top1 far from ORT's $(jget "$tmp/ort.json" r.top1)"
grep -q "^  top-1 " "$log_dir/stdout" || fail "no top-1 line on stdout"
echo "compress --eval: top-1 $e_top1 (ORT $(jget "$tmp/ort.json" r.top1)), reference $(jget "$run_dir/eval.report.json" r.accuracy.labels.reference_top1)"
ok

# ---------------------------------------------------------------- a section twice, convert --external-data
cat > "$recipes/twice.json" <<'EOF'
{"steps": [
  {"command": "prune", "options": {"sparsity": 0.3, "scope": "layer"}},
  {"command": "prune", "options": {"sparsity": 0.5}},
  {"command": "convert", "options": {"external-data": true}}
]}
EOF
valid "$recipes/twice.json" "$RECIPE_SCHEMA"
run compress "$cnn" --recipe "$recipes/twice.json" -o "$run_dir/twice.onnx"
[ "$status" = 0 ] || fail "two prune steps and convert --external-data exited $status"
valid "$run_dir/twice.report.json" "$REPORT_SCHEMA"
[ "$(jget "$run_dir/twice.report.json" 'r.recipe.steps[0].result.scope + " " + r.recipe.steps[0].result.sparsity_target')" = "layer 0.3" ] ||
  fail "the first prune step's section is not kept under result"
[ "$(jget "$run_dir/twice.report.json" '(r.recipe.steps[1].result === undefined) + " " + r.pruning.sparsity_target')" = "true 0.5" ] ||
  fail "the report's pruning section is not the last prune step's"
[ -s "$run_dir/twice.onnx.data" ] || fail "convert --external-data as a step: no external data file"
[ "$(jget "$run_dir/twice.report.json" r.size.bytes_after)" = "$(( $(stat -c %s "$run_dir/twice.onnx") + $(stat -c %s "$run_dir/twice.onnx.data") ))" ] ||
  fail "size.bytes_after != model + data file"
ok

# ---------------------------------------------------------------- the other example, in place
tr_out="$run_dir/tr.onnx"
run compress "$ROOT/models/fmnist_transformer.onnx" --recipe "$ROOT/examples/recipes/prune50_dynamic_int8.json" -o "$tr_out"
[ "$status" = 0 ] || fail "examples/recipes/prune50_dynamic_int8.json failed on the transformer"
valid "$run_dir/tr.report.json" "$REPORT_SCHEMA"
[ "$(jget "$run_dir/tr.report.json" 'r.pruning.sparsity_target + " " + r.quantization.mode')" = "0.5 dynamic" ] ||
  fail "transformer report sections"
node "$ACC" --model "$tr_out" --data "$tmp/test_images.npz" --labels "$tmp/labels.npy" > "$tmp/tr.json" 2> "$log_dir/acc.err" ||
  fail "ORT could not run the compressed transformer: $(head -c 600 "$log_dir/acc.err")"
echo "transformer, prune 50 % + dynamic INT8: $(stat -c %s "$ROOT/models/fmnist_transformer.onnx") -> $(stat -c %s "$tr_out") bytes," \
  "ORT top-1 $(jget "$tmp/tr.json" r.top1) on $EVAL_IMAGES images"
ok

echo "$name: $checks checks ok"
