#!/usr/bin/env bash
# `edgeq compare` (issue #6) on three real reports of the Fashion-MNIST CNN — dynamic INT8, static
# QDQ and static QOperator, each evaluated against the float model on 300 labelled test images —
# plus a `convert` report as a float baseline. Checks that
#   - text, md and json show one row per report (label = output file name) whose numbers are the
#     reports' (json: equal; text/md: the reports' values at the printed precision);
#   - the best value per column is marked ('*' in text, bold in md, "best": true in json) exactly
#     where an independent recomputation puts it;
#   - gates hold every later report against the first: --min-size-ratio (first's bytes ÷ later's
#     bytes) and --max-accuracy-drop (top-1 points; a first report without accuracy counts as
#     the float model) pass with exit 0 and fail with exit 1, the table still printed;
#   - bad input exits with a clear message: missing file 6, not JSON / not a report / another
#     schema version 4, fewer than two reports or a bad --format 2, a gate that needs accuracy
#     on a report without it 2; a report with an unknown extra section still compares.
set -euo pipefail

name=compare_cli
: "${EDGEQ:?EDGEQ must name the edgeq binary}"
: "${EDGEQ_SOURCE_DIR:?EDGEQ_SOURCE_DIR must name the repository root}"
EDGEQ_SOURCE_DIR=$(realpath "$EDGEQ_SOURCE_DIR")
source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
PY=/usr/bin/python3

e2e_init
expect_status() {
  [[ $status == "$1" ]] || fail "expected exit status $1"
  ok
}

cp "$EDGEQ_SOURCE_DIR/models/fmnist_cnn.onnx" "$run_dir/fmnist_cnn.onnx"
"$PY" "$EDGEQ_SOURCE_DIR/tools/export_fmnist_test.py" "$run_dir/calib.npz" --split train --count 200 --images-only
"$PY" - "$EDGEQ_SOURCE_DIR/models/data/fmnist_test_1000.npz" "$run_dir" <<'EOF'
import sys
import numpy as np
d = np.load(sys.argv[1])
np.save(sys.argv[2] + "/eval.npy", d["image"][:300].astype(np.float32))
np.save(sys.argv[2] + "/labels.npy", d["label"][:300].astype(np.int64))
EOF

eval_flags=(--eval eval.npy --labels labels.npy)
run convert fmnist_cnn.onnx -o fp32.onnx
expect_status 0
run quantize fmnist_cnn.onnx --int8 -o cnn.dynamic.int8.onnx "${eval_flags[@]}"
expect_status 0
run quantize fmnist_cnn.onnx --int8 --calib calib.npz -o cnn.qdq.int8.onnx "${eval_flags[@]}"
expect_status 0
run quantize fmnist_cnn.onnx --int8 --calib calib.npz --format qoperator -o cnn.qop.int8.onnx "${eval_flags[@]}"
expect_status 0
reports=(cnn.dynamic.int8.report.json cnn.qdq.int8.report.json cnn.qop.int8.report.json)

# check_table FORMAT OUTPUT REPORT... — every number and every best mark against the reports.
check_table() {
  local format=$1 out=$2
  shift 2
  (cd "$run_dir" && "$PY" - "$format" "$out" "$@") <<'EOF' || fail "compare --format $format output is wrong"
import json, os, re, sys
fmt, out_path, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
out = open(out_path, encoding="utf-8").read()
reps = [json.load(open(p)) for p in paths]
def die(what): sys.exit(f"{fmt}: {what}\n---\n{out}")
# (column key, title, getter, higher is better, digits)
def sqnr(r):
    v = [o["sqnr_db"] for o in r["accuracy"]["outputs"] if o["sqnr_db"] is not None]
    return min(v) if v else None
cols = [("bytes_after", "size bytes", lambda r: r["size"]["bytes_after"], False, None),
        ("size_ratio", "size ratio", lambda r: r["size"]["ratio"], True, 3),
        ("bits_per_weight", "bits/weight", lambda r: r["size"]["weights_after"]["bits_per_weight"], False, 3),
        ("top1", "top-1 %", lambda r: r["accuracy"]["labels"]["top1"], True, 2),
        ("top1_drop", "top-1 drop", lambda r: r["accuracy"]["labels"]["top1_drop"], False, 2),
        ("worst_cosine", "worst cosine", lambda r: r["accuracy"]["worst_output_cosine"], True, 6),
        ("sqnr_db", "SQNR dB", sqnr, True, 2)]
values = [[c[2](r) for c in cols] for r in reps]
# Bytes from the filesystem, not only from the report.
for r, row in zip(reps, values):
    disk = sum(os.path.getsize(f["path"]) for f in r["output"]["files"])
    if row[0] != disk: die(f"{r['output']['path']}: report bytes {row[0]} != {disk} on disk")
best = []
for j, c in enumerate(cols):
    col = [v[j] for v in values]
    b = max(col) if c[3] else min(col)
    best.append([v == b for v in col])
labels = [os.path.basename(r["output"]["path"]) for r in reps]
if fmt == "json":
    cmp = json.loads(out)
    if cmp["schema"] != "edgeq.compare" or [c["key"] for c in cmp["columns"]] != [c[0] for c in cols]:
        die("schema or columns")
    for i, row in enumerate(cmp["rows"]):
        if row["label"] != labels[i] or row["report"] != paths[i]: die(f"row {i} label/report")
        for j, c in enumerate(cols):
            cell = row["cells"][c[0]]
            if cell["value"] != values[i][j]: die(f"{labels[i]} {c[0]}: {cell['value']} != {values[i][j]}")
            if cell["best"] != best[j][i]: die(f"{labels[i]} {c[0]}: best {cell['best']}")
    sys.exit(0)
lines = out.splitlines()
for i, lab in enumerate(labels):
    if fmt == "md":
        line = next((l for l in lines if l.startswith(f"| `{lab}` |")), None)
        if line is None: die(f"no row for {lab}")
        cells = [c.strip() for c in line.strip("|").split("|")][2:]
    else:
        line = next((l for l in lines if l.startswith(lab + " ")), None)
        if line is None: die(f"no row for {lab}")
        cells = line.split()[2:]
    if len(cells) != len(cols): die(f"{lab}: {len(cells)} cells")
    for j, c in enumerate(cols):
        v = values[i][j]
        want = str(v) if c[4] is None else f"{v:.{c[4]}f}"
        if best[j][i]: want = f"**{want}**" if fmt == "md" else want + "*"
        if cells[j] != want: die(f"{lab} {c[1]}: '{cells[j]}' != '{want}'")
EOF
  ok
}

for format in text md json; do
  run compare "${reports[@]}" --format "$format"
  expect_status 0
  cp "$log_dir/stdout" "$tmp/compare.$format"
  check_table "$format" "$tmp/compare.$format" "${reports[@]}"
done
[[ ! -s $log_dir/stderr ]] || fail "compare wrote to stderr: $(cat "$log_dir/stderr")"
ok
# Default format is text.
run compare "${reports[@]}"
cmp -s "$log_dir/stdout" "$tmp/compare.text" || fail "the default format is not text"
ok

# ---- gates ----
# Against the float model (a convert report: no accuracy section): each INT8 model is smaller
# than the float file by at least the smallest ratio, and its top-1 drop is its own reference −
# top-1 (≤ 5 points on these 300 images).
read -r min_ratio max_drop <<< "$(cd "$run_dir" && "$PY" - fp32.report.json "${reports[@]}" <<'EOF'
import json, sys
base = json.load(open(sys.argv[1]))
reps = [json.load(open(p)) for p in sys.argv[2:]]
ratios = [base["size"]["bytes_after"] / r["size"]["bytes_after"] for r in reps]
drops = [r["accuracy"]["labels"]["top1_drop"] for r in reps]
print(min(ratios), max(drops))
EOF
)"
below=$("$PY" -c "print($min_ratio - 0.01)")
run compare fp32.report.json "${reports[@]}" --min-size-ratio "$below" --max-accuracy-drop 5
expect_status 0
[[ $(grep -c '^gate .* passed' "$log_dir/stdout") == 6 ]] || fail "expected 6 passed gate lines"
ok
# Threshold just above the smallest ratio: the smallest model passes, the largest fails.
above=$("$PY" -c "print($min_ratio + 0.001)")
run compare fp32.report.json "${reports[@]}" --min-size-ratio "$above" --format json
expect_status 1
(cd "$run_dir" && "$PY" - "$log_dir/stdout" "$above" fp32.report.json "${reports[@]}") <<'EOF' || fail "gate values"
import json, os, sys
cmp, threshold = json.load(open(sys.argv[1])), float(sys.argv[2])
base = json.load(open(sys.argv[3]))
reps = [json.load(open(p)) for p in sys.argv[4:]]
assert cmp["passed"] is False and len(cmp["rows"]) == 4, cmp
gates = cmp["gates"]
assert [g["report"] for g in gates] == [os.path.basename(r["output"]["path"]) for r in reps]
for g, r in zip(gates, reps):
    ratio = os.path.getsize("fp32.onnx") / sum(os.path.getsize(f["path"]) for f in r["output"]["files"])
    assert abs(g["value"] - ratio) < 1e-12, (g, ratio)
    assert g["passed"] == (ratio >= threshold) and g["baseline"] == "fp32.onnx", g
assert sum(not g["passed"] for g in gates) >= 1
EOF
ok
run compare fp32.report.json "${reports[@]}" --min-size-ratio "$above"
expect_status 1
grep -q '^cnn.dynamic.int8.onnx ' "$log_dir/stdout" || fail "the table is not printed when a gate fails"
grep -q '^gate min_size_ratio .* FAILED' "$log_dir/stdout" || fail "no FAILED gate line"
ok
# Accuracy gate against the float model: X below the largest drop fails (when that drop is
# positive), X at the largest drop passes.
run compare fp32.report.json "${reports[@]}" --max-accuracy-drop "$max_drop"
expect_status 0
if "$PY" -c "import sys; sys.exit(not $max_drop > 0.2)"; then
  run compare fp32.report.json "${reports[@]}" --max-accuracy-drop "$("$PY" -c "print($max_drop - 0.1)")"
  expect_status 1
  grep -q '^gate max_accuracy_drop .* FAILED' "$log_dir/stdout" || fail "no FAILED accuracy gate line"
  ok
fi
# Between reports with labels: baseline top-1 − top-1 (points).
run compare "${reports[@]}" --max-accuracy-drop 100 --format json
expect_status 0
(cd "$run_dir" && "$PY" - "$log_dir/stdout" "${reports[@]}") <<'EOF' || fail "accuracy gate values"
import json, sys
cmp = json.load(open(sys.argv[1]))
reps = [json.load(open(p)) for p in sys.argv[2:]]
base = reps[0]["accuracy"]["labels"]["top1"]
for g, r in zip(cmp["gates"], reps[1:]):
    assert g["name"] == "max_accuracy_drop" and abs(g["value"] - (base - r["accuracy"]["labels"]["top1"])) < 1e-9, g
EOF
ok
# Without labels the accuracy gate reads cosines: against the float model 100 × (1 − cosine),
# against a report with accuracy 100 × (its cosine − this one's).
run quantize fmnist_cnn.onnx --int8 --calib calib.npz -o cnn.nolabels.int8.onnx --eval eval.npy
expect_status 0
read -r cos_drop cos_diff <<< "$(cd "$run_dir" && "$PY" - "${reports[0]}" cnn.nolabels.int8.report.json <<'EOF'
import json, sys
a, b = (json.load(open(p))["accuracy"]["worst_output_cosine"] for p in sys.argv[1:])
print(100 * (1 - b), 100 * (a - b))
EOF
)"
"$PY" -c "import sys; sys.exit(not 0 < $cos_diff < $cos_drop)" || fail "cosines: drop $cos_drop, difference $cos_diff"
ok
run compare fp32.report.json cnn.nolabels.int8.report.json --max-accuracy-drop "$("$PY" -c "print($cos_drop * 0.99)")"
expect_status 1
grep -q "^gate max_accuracy_drop cnn.nolabels.int8.onnx vs fp32.onnx: $("$PY" -c "print(f'{$cos_drop:.4f}')") <= .* FAILED (100 × (1 − worst-output cosine)" \
  "$log_dir/stdout" || fail "cosine gate against the float model"
ok
run compare fp32.report.json cnn.nolabels.int8.report.json --max-accuracy-drop "$("$PY" -c "print($cos_drop * 1.01)")"
expect_status 0
run compare "${reports[0]}" cnn.nolabels.int8.report.json --max-accuracy-drop "$("$PY" -c "print($cos_diff * 0.99)")" --format json
expect_status 1
"$PY" -c "
import json, sys
g = json.load(open('$log_dir/stdout'))['gates'][0]
sys.exit(not (abs(g['value'] - $cos_diff) < 1e-9 and g['measure'].startswith('100 × (baseline worst-output cosine') and not g['passed']))
" || fail "cosine gate between two reports: $(cat "$log_dir/stdout")"
ok
run compare "${reports[0]}" cnn.nolabels.int8.report.json --max-accuracy-drop "$("$PY" -c "print($cos_diff * 1.01)")"
expect_status 0

# md shows the gate table.
run compare fp32.report.json "${reports[@]}" --min-size-ratio "$above" --format md
expect_status 1
grep -q '| min_size_ratio | `cnn.dynamic.int8.onnx` |' "$log_dir/stdout" || fail "md gate table"
ok
# A later report without accuracy cannot be gated on accuracy: usage error.
run compare "${reports[0]}" fp32.report.json --max-accuracy-drop 1
expect_status 2
grep -q "fp32.report.json has no accuracy section" "$log_dir/stderr" || fail "message for the missing accuracy"
ok

# ---- bad input ----
run compare "${reports[0]}" missing.json
expect_status 6
grep -q "missing.json" "$log_dir/stderr" || fail "missing file not named"
ok
echo '{"schema": "edgeq.report", ' > "$run_dir/truncated.json"
run compare "${reports[0]}" truncated.json
expect_status 4
grep -q "truncated.json: not JSON" "$log_dir/stderr" || fail "bad JSON message"
ok
"$EDGEQ" inspect --json "$run_dir/fmnist_cnn.onnx" > "$run_dir/inspect.json"
run compare "${reports[0]}" inspect.json
expect_status 4
grep -q 'inspect.json: not an edgeq report (its "schema" is "edgeq.inspect"' "$log_dir/stderr" || fail "wrong schema message"
ok
"$PY" - "$run_dir/${reports[1]}" "$run_dir/v2.json" "$run_dir/future.json" "$run_dir/nosize.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
json.dump(dict(r, schema_version=2), open(sys.argv[2], "w"))
json.dump(dict(r, future_section={"anything": [1, 2]}), open(sys.argv[3], "w"))
r.pop("size")
json.dump(r, open(sys.argv[4], "w"))
EOF
run compare "${reports[0]}" v2.json
expect_status 4
grep -q "v2.json: report schema_version 2" "$log_dir/stderr" || fail "schema version message"
ok
run compare "${reports[0]}" nosize.json
expect_status 4
grep -q "nosize.json: the size section lacks" "$log_dir/stderr" || fail "missing size message"
ok
run compare "${reports[0]}" future.json
expect_status 0
run compare "${reports[0]}"
expect_status 2
run compare "${reports[@]}" --format xml
expect_status 2

echo "$name: $checks checks passed"
