#!/usr/bin/env bash
# `--report-format json,md,html` (issue #6) on real runs of the Fashion-MNIST CNN: convert,
# prepare, dynamic and static INT8 (with --eval and --labels: accuracy and per-layer SQNR) and
# prune. Checks that
#   - FILE.json, FILE.md and FILE.html appear side by side (only the formats asked for; the JSON
#     always), and nothing at all when the format list is bad (exit 2);
#   - the Markdown headline and size table carry the true bytes on disk (stat of the written
#     files), the ratio computed from them, bits per weight from `edgeq inspect --json` of the
#     input and output, the gate results, the quantization / pruning / accuracy numbers of the
#     JSON, with capped tables saying how many rows they left out;
#   - the HTML is self-contained (no http(s) reference, no <script>, <link>, src=, url(), and a
#     Content-Security-Policy that blocks any load) and escapes hostile tensor names;
#   - in headless Chromium each page renders a non-blank screenshot with the chart colors in it,
#     the rendered DOM holds the expected charts, and there is no console message (a negative
#     control page proves the console check catches a script error and a blocked load).
# Skips (exit 0) only when chromium is not installed (tools/setup.sh installs it).
set -euo pipefail

name=report_formats
: "${EDGEQ:?EDGEQ must name the edgeq binary}"
: "${EDGEQ_SOURCE_DIR:?EDGEQ_SOURCE_DIR must name the repository root}"
EDGEQ_SOURCE_DIR=$(realpath "$EDGEQ_SOURCE_DIR")
source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
PY=/usr/bin/python3
SCHEMA="$EDGEQ_SOURCE_DIR/docs/report.schema.json"
VALIDATE="$EDGEQ_SOURCE_DIR/tests/e2e/validate_json.py"
PNG="$EDGEQ_SOURCE_DIR/tests/e2e/report_png.py"
# Colors of the charts (src/report/render_html.cc): bytes after, bytes before.
COLOR_AFTER=2f6fde
COLOR_BEFORE=9aa5b1
# Markdown caps (src/report/report_doc.cc): tensors by bytes saved, per-layer rows.
MD_TENSOR_ROWS=10
MD_LAYER_ROWS=15

e2e_init
expect_status() {
  [[ $status == "$1" ]] || fail "expected exit status $1"
  ok
}

for command in convert prepare quantize prune eval; do
  "$EDGEQ" "$command" --help | grep -q -- '--report-format' || fail "edgeq $command has no --report-format"
done
ok
cp "$EDGEQ_SOURCE_DIR/models/fmnist_cnn.onnx" "$run_dir/fmnist_cnn.onnx"
# 200 training images to calibrate on; 300 test images + labels to evaluate on.
"$PY" "$EDGEQ_SOURCE_DIR/tools/export_fmnist_test.py" "$run_dir/calib.npz" --split train --count 200 --images-only
"$PY" - "$EDGEQ_SOURCE_DIR/models/data/fmnist_test_1000.npz" "$run_dir" <<'EOF'
import sys
import numpy as np
d = np.load(sys.argv[1])
np.save(sys.argv[2] + "/eval.npy", d["image"][:300].astype(np.float32))
np.save(sys.argv[2] + "/labels.npy", d["label"][:300].astype(np.int64))
EOF

# check_md REPORT.json — the Markdown beside it against the filesystem and the JSON.
check_md() {
  local json=$1
  cd "$run_dir"  # report paths are relative to where edgeq ran
  "$EDGEQ" inspect --json "$(jq_path "$json" input.path)" > "$tmp/in.inspect.json" ||
    fail "inspect of the input failed"
  "$EDGEQ" inspect --json "$(jq_path "$json" output.path)" > "$tmp/out.inspect.json" ||
    fail "inspect of the output failed"
  "$PY" - "$json" "${json%.json}.md" "$tmp/in.inspect.json" "$tmp/out.inspect.json" "$MD_TENSOR_ROWS" \
    "$MD_LAYER_ROWS" <<'EOF' || fail "Markdown check of $json"
import json, os, re, sys
rep = json.load(open(sys.argv[1]))
md = open(sys.argv[2], encoding="utf-8").read()
ins, outs = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
tensor_cap, layer_cap = int(sys.argv[5]), int(sys.argv[6])
def need(cond, what):
    if not cond:
        sys.exit(f"{sys.argv[2]}: {what}\n---\n{md[:3000]}")
# Bytes on disk from the filesystem, not from the report.
def disk(paths): return sum(os.path.getsize(p) for p in paths)
before = disk([rep["input"]["path"]] + ins["external_data_files"])
out_files = [f["path"] for f in rep["output"]["files"]]
after = disk(out_files)
need(rep["size"]["bytes_after"] == after, "report bytes_after differs from the files")
head = md.splitlines()[0]
need(head.startswith(f"**edgeq {rep['command']}** `{os.path.basename(rep['input']['path'])}` → `"
                     f"{os.path.basename(rep['output']['path'])}`"), "headline command and files")
need(f"**{before / after:.2f}× smaller** ({before} → {after} bytes)" in head, "headline ratio and bytes")
bpw_in = 8 * ins["parameter_bytes"] / ins["parameter_count"]
bpw_out = 8 * outs["parameter_bytes"] / outs["parameter_count"]
need(f"**{bpw_out:.2f} bits/weight** (was {bpw_in:.2f})" in head, "headline bits per weight")
need(re.search(rf"^\| bytes on disk \| {before} \([^)]*\) \| {after} \([^)]*\) \|$", md, re.M), "size table bytes")
need(f"| bits per weight | {bpw_in:.2f} | {bpw_out:.2f} |" in md, "size table bits per weight")
need(f"| weight parameters | {ins['parameter_count']} | {outs['parameter_count']} |" in md, "size table params")
# Tensors by bytes saved: the largest saving first, capped.
rows = rep["size"]["tensors"]
saved = sorted(((r["bytes_before"] or 0) - (r["bytes_after"] or 0) for r in rows), reverse=True)
section = md.split("#### Top tensors by bytes saved")[1].split("####")[0]
table = [l for l in section.splitlines() if l.startswith("| ") and not l.startswith("| tensor")]
need(len(table) == min(len(rows), tensor_cap), f"{len(table)} tensor rows shown")
need(int(table[0].rstrip(" |").split("|")[-1]) == saved[0], "first tensor row is the biggest saving")
if len(rows) > tensor_cap:
    need(f"_{len(rows) - tensor_cap} more tensors not shown._" in section, "tensor cap note")
# Gates, quantization, pruning, accuracy when present.
for g in rep.get("gates", []):
    word = "✓ pass" if g["passed"] else "✗ FAIL"
    need(f"`{g['name']}` **{word}** ({g['value']:.4f}" in head, f"headline gate {g['name']}")
q = rep.get("quantization")
if q:
    need(f"{q['mode']} INT8, {q['format']}" in md, "quantization mode/format")
    need(f"{q['quantized_tensors']} tensors quantized ({q['quantized_bytes_before']} → "
         f"{q['quantized_bytes_after']} bytes)" in md, "quantized tensors and bytes")
    if q["calibration"]:
        need(f"calibration {q['calibration']['method']} on {q['calibration']['samples']} samples" in md,
             "calibration")
p = rep.get("pruning")
if p:
    need(f"sparsity {100 * p['sparsity_achieved']:.2f} %" in md, "pruning sparsity")
    need(f"**{100 * p['sparsity_achieved']:.2f} % sparse** ({p['pattern']})" in head, "headline sparsity")
    need(f"stored {p['stored_bytes']} B" in md, "pruning stored bytes")
a = rep.get("accuracy")
if a:
    need(f"on {a['samples']} samples" in md, "accuracy samples")
    if a["labels"]:
        l = a["labels"]
        need(f"top-1 {l['top1']:.2f} %, drop **{l['top1_drop']:.2f} points**" in head, "headline top-1 drop")
        need(f"**{l['top1']:.2f} %** (float {l['reference_top1']:.2f} %" in md, "accuracy top-1 line")
    for o in a["outputs"]:
        need(f"| {o['name']} | {o['cosine']:.6f} |" in md, f"output {o['name']} cosine")
    if a["layers"]:
        layers = [r for r in a["layers"]]
        section = md.split("#### Per-layer SQNR (lowest first)")[1].split("####")[0]
        table = [l for l in section.splitlines() if l.startswith("| ") and not l.startswith("| tensor")]
        need(len(table) == min(len(layers), layer_cap), "per-layer rows")
        lowest = min(r["sqnr_db"] for r in layers if r["sqnr_db"] is not None)
        need(table[0].split("|")[4].strip() == f"{lowest:.2f}", "lowest SQNR first")
        if len(layers) > layer_cap:
            need(f"_{len(layers) - layer_cap} more layers not shown._" in section, "layer cap note")

EOF
  cd - > /dev/null
  ok
}

jq_path() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval("r" + "".join(f"[{k!r}]" for k in sys.argv[2].split("."))))' "$1" "$2"; }

# check_html FILE.html EXPECTED_CHARTS... — static checks of the page source.
check_html() {
  local html=$1
  shift
  [[ -s $html ]] || fail "$html is missing"
  if grep -qiE 'https?://|<script|<link|<iframe|<img|src=|url\(|@import' "$html"; then
    fail "$html references something outside itself: $(grep -oiE '.{20}(https?://|<script|<link|<iframe|<img|src=|url\(|@import).{20}' "$html" | head -3)"
  fi
  ok
  grep -q "Content-Security-Policy\" content=\"default-src 'none'" "$html" || fail "$html has no CSP"
  ok
  local expected
  expected=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  local got
  got=$(grep -o '<figure class="chart" data-chart="[a-z]*"' "$html" | sed 's/.*data-chart="//;s/"//' | sort | tr '\n' ' ')
  [[ $got == "$expected" ]] || fail "$html charts: got '$got', expected '$expected'"
  ok
}

# chromium_check FILE.html N_CHARTS — render in headless Chromium: screenshot not blank and with
# the chart colors, N charts in the rendered DOM, no console message.
chromium_check() {
  local html=$1 charts=$2 shot="${1%.html}.png"
  local flags=(--headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome-profile" --no-first-run
    --enable-logging=stderr --v=0)
  timeout 180 chromium "${flags[@]}" --screenshot="$shot" --window-size=1200,2000 "file://$html" \
    > "$tmp/chrome.out" 2> "$tmp/chrome.err" || fail "chromium --screenshot failed: $(tail -5 "$tmp/chrome.err")"
  [[ -s $shot ]] || fail "no screenshot of $html"
  local stats
  stats=$("$PY" "$PNG" "$shot" "$COLOR_AFTER" "$COLOR_BEFORE") || fail "cannot decode $shot"
  read -r w h nonwhite colors after_px before_px <<< "$stats"
  [[ $w == 1200 && $h == 2000 ]] || fail "$shot is ${w}x$h"
  # A blank page is all white; this one has text, tables and bars (thresholds: far below what
  # the report pages measure, far above an empty or error page).
  "$PY" -c "import sys; sys.exit(not (float('$nonwhite') > 0.01 and int('$colors') > 20))" ||
    fail "$shot looks blank: $stats"
  ((after_px > 200 && before_px > 200)) || fail "$shot has no bars in the chart colors: $stats"
  ok
  if grep -E ':CONSOLE|Uncaught|Refused to' "$tmp/chrome.err"; then fail "console messages rendering $html"; fi
  ok
  timeout 180 chromium "${flags[@]}" --dump-dom "file://$html" > "$tmp/dom.html" 2> "$tmp/chrome.err" ||
    fail "chromium --dump-dom failed"
  local n
  n=$(grep -o '<figure class="chart"' "$tmp/dom.html" | wc -l)
  ((n == charts)) || fail "$html: $n charts in the rendered DOM, expected $charts"
  n=$(grep -o '<rect ' "$tmp/dom.html" | wc -l)
  ((n > 2 * charts)) || fail "$html: only $n bars rendered"
  if grep -E ':CONSOLE|Uncaught|Refused to' "$tmp/chrome.err"; then fail "console messages in --dump-dom of $html"; fi
  ok
}

# ---- convert: all three formats ----
run convert fmnist_cnn.onnx -o c.onnx --report-format json,md,html
expect_status 0
for f in c.report.json c.report.md c.report.html; do [[ -s $run_dir/$f ]] || fail "$f missing"; done
ok
"$PY" "$VALIDATE" "$SCHEMA" "$run_dir/c.report.json" || fail "c.report.json does not validate"
ok
check_md "$run_dir/c.report.json"
check_html "$run_dir/c.report.html" bytes

# ---- prepare: md only (JSON always) → no html; --report chooses FILE ----
run prepare fmnist_cnn.onnx -o p.onnx --report "$run_dir/prep.json" --report-format md
expect_status 0
[[ -s $run_dir/prep.json && -s $run_dir/prep.md && ! -e $run_dir/prep.html ]] || fail "prepare: files $(ls "$run_dir")"
ok
check_md "$run_dir/prep.json"

# ---- bad format lists: exit 2, nothing written ----
for bad in "json,pdf" "HTML" "md;html"; do
  run convert fmnist_cnn.onnx -o bad.onnx --report-format "$bad"
  expect_status 2
  grep -q "unknown report format" "$log_dir/stderr" || fail "no message for --report-format $bad"
  [[ ! -e $run_dir/bad.onnx && ! -e $run_dir/bad.report.json && ! -e $run_dir/bad.report.md ]] ||
    fail "files written for --report-format $bad"
  ok
done

# ---- a rendering that cannot be written takes the model and the other reports with it ----
mkdir "$run_dir/blocked.report.html"
run convert fmnist_cnn.onnx -o blocked.onnx --report-format json,md,html
expect_status 6
grep -q "blocked.report.html" "$log_dir/stderr" || fail "the unwritable report is not named"
[[ $(cd "$run_dir" && ls -a | grep -c '^blocked') == 1 ]] || fail "files left behind: $(ls -a "$run_dir" | grep blocked)"
ok

# ---- dynamic INT8 with a size gate that passes ----
run quantize fmnist_cnn.onnx --int8 -o dyn.int8.onnx --min-size-ratio 3 --report-format json,md,html
expect_status 0
check_md "$run_dir/dyn.int8.report.json"
check_html "$run_dir/dyn.int8.report.html" bytes
grep -q "#### Quantization" "$run_dir/dyn.int8.report.md" || fail "no quantization section"
ok

# ---- a failing gate: exit 1, the files still written, the FAIL shown ----
run quantize fmnist_cnn.onnx --int8 -o gate.int8.onnx --min-size-ratio 100 --report-format md,html
expect_status 1
grep -q '`min_size_ratio` \*\*✗ FAIL\*\*' "$run_dir/gate.int8.report.md" || fail "md does not show the failed gate"
grep -q '✗ FAIL' "$run_dir/gate.int8.report.html" || fail "html does not show the failed gate"
ok
check_md "$run_dir/gate.int8.report.json"

# ---- static QDQ with accuracy and per-layer SQNR ----
run quantize fmnist_cnn.onnx --int8 --calib calib.npz -o qdq.int8.onnx --eval eval.npy --labels labels.npy \
  --report-format html,md
expect_status 0
"$PY" "$VALIDATE" "$SCHEMA" "$run_dir/qdq.int8.report.json" || fail "qdq report does not validate"
ok
check_md "$run_dir/qdq.int8.report.json"
check_html "$run_dir/qdq.int8.report.html" bytes sqnr
grep -q '#### Per-layer SQNR' "$run_dir/qdq.int8.report.md" || fail "no per-layer SQNR section"
ok

# ---- eval (writes no model): the same renderings of its accuracy report ----
run eval qdq.int8.onnx --reference fmnist_cnn.onnx --data eval.npy --labels labels.npy --report-format md,html
expect_status 0
check_md "$run_dir/qdq.int8.eval.report.json"
check_html "$run_dir/qdq.int8.eval.report.html" bytes sqnr

# ---- prune: the sparsity chart ----
run prune fmnist_cnn.onnx --sparsity 0.5 -o pr.onnx --report-format md,html
expect_status 0
check_md "$run_dir/pr.report.json"
check_html "$run_dir/pr.report.html" bytes sparsity

# ---- hostile tensor names are escaped ----
"$PY" - "$run_dir/hostile.onnx" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
name = '<script>alert(1)</script>|w_*x*'
w = numpy_helper.from_array(np.ones((64, 64), np.float32), name)
g = helper.make_graph([helper.make_node("MatMul", ["x", name], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [w])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
EOF
run convert hostile.onnx -o hostile.out.onnx --report-format md,html
expect_status 0
check_html "$run_dir/hostile.out.report.html" bytes
grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;|w_*x*' "$run_dir/hostile.out.report.html" || fail "html does not show the escaped name"
grep -qF '| &lt;script&gt;alert(1)&lt;/script&gt;\|w\_\*x\* |' "$run_dir/hostile.out.report.md" || fail "md does not escape the name"
ok

# ---- headless Chromium ----
if ! command -v chromium > /dev/null; then
  echo "$name: SKIP: chromium is not installed (tools/setup.sh installs chromium and chromium-driver); $checks checks passed"
  exit 0
fi
# Negative control: the console check catches a script error and a blocked load.
cp "$run_dir/c.report.html" "$run_dir/broken.html"
sed -i 's|</main>|<img src="https://example.invalid/x.png"><script>undefinedFunction();</script></main>|' "$run_dir/broken.html"
timeout 180 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome-profile" --no-first-run \
  --enable-logging=stderr --v=0 --dump-dom "file://$run_dir/broken.html" > /dev/null 2> "$tmp/chrome.err" || true
grep -qE ':CONSOLE.*(Content Security Policy|Refused to)' "$tmp/chrome.err" || fail "the console check does not see a blocked script/load: $(grep -c . "$tmp/chrome.err") lines"
ok

chromium_check "$run_dir/c.report.html" 1
chromium_check "$run_dir/qdq.int8.report.html" 2
chromium_check "$run_dir/pr.report.html" 2
chromium_check "$run_dir/hostile.out.report.html" 1

echo "$name: $checks checks passed"
