#!/usr/bin/env bash
# End-to-end checks of the edgeq CLI as users run it: --version/--help, usage errors (exit 2,
# message on stderr, nothing on stdout, no files), `inspect` text and JSON (validated against
# docs/inspect.schema.json, numbers recomputed independently with python3 + onnx), and
# `convert` (files written, report validated against docs/report.schema.json and checked
# against stat/sha256sum, deterministic bytes, input never touched, refusals, I/O errors).
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root), EDGEQ_TESTDATA_DIR (ONNX
# backend test models, default /usr/share/libonnx-testdata/data).
set -euo pipefail

name=cli_basics
: "${EDGEQ:?EDGEQ must name the edgeq binary}"
: "${EDGEQ_SOURCE_DIR:?EDGEQ_SOURCE_DIR must name the repository root}"
EDGEQ_SOURCE_DIR=$(realpath "$EDGEQ_SOURCE_DIR")
PY=/usr/bin/python3
VALIDATE="$EDGEQ_SOURCE_DIR/tests/e2e/validate_json.py"
REPORT_SCHEMA="$EDGEQ_SOURCE_DIR/docs/report.schema.json"
INSPECT_SCHEMA="$EDGEQ_SOURCE_DIR/docs/inspect.schema.json"
DEMO="$EDGEQ_SOURCE_DIR/models/demo_cnn.onnx"
ODD="$EDGEQ_SOURCE_DIR/tests/data/odd"

source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
e2e_init
work=$run_dir  # the cwd of every edgeq run; must stay empty unless a check says otherwise

expect_status() {
  [[ $status == "$1" ]] || fail "${2:-$last}: expected exit status $1, got $status"
  ok
}
expect_stdout_empty() {
  [[ ! -s $log_dir/stdout ]] || fail "$last: stdout should be empty"
  ok
}
expect_stderr_nonempty() {
  [[ -s $log_dir/stderr ]] || fail "${1:-$last}: expected a message on stderr"
  ok
}
expect_stdout_has() {
  grep -qF -- "$1" "$log_dir/stdout" || fail "$last: stdout does not contain '$1'"
  ok
}
expect_equal() {  # ACTUAL EXPECTED WHAT
  [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"
  ok
}
expect_work_empty() {
  local left
  left=$(find "$work" -mindepth 1 -printf '%P\n')
  [[ -z $left ]] || fail "$last: left files behind: $left"
  ok
}
# list_dir DIR: the names in DIR (not below it), sorted, on one line
list_dir() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '; }
clear_work() { find "$work" -mindepth 1 -delete; }

size_of() { stat -c %s "$1"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
# jget FILE EXPR: prints a field of a JSON file; EXPR is Python over `j` (e.g. j["size"]["ratio"]).
jget() {
  "$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); v = eval(sys.argv[2]); print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)' "$1" "$2"
}
validate() {  # SCHEMA FILE
  "$PY" "$VALIDATE" "$1" "$2" || fail "$2 does not validate against $(basename "$1")"
  ok
}

# The same facts as `inspect --json`, computed independently from the protobuf with onnx +
# numpy: constant weights are initializers and Constant-node `value` tensors in every graph.
cat >"$tmp/facts.py" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import mapping

m = onnx.load(sys.argv[1], load_external_data=False)

def graphs(g):
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from graphs(a.g)
            for sub in a.graphs:
                yield from graphs(sub)

params = 0
nbytes = 0
exact_bytes = True
inits = 0
nodes = 0
def add(t):
    global params, nbytes, exact_bytes
    count = int(np.prod(np.array(t.dims, dtype=np.int64)))
    params += count
    np_type = mapping.TENSOR_TYPE_TO_NP_TYPE.get(t.data_type)
    if np_type is None or np.dtype(np_type).kind in "OSU" or t.data_type > 16:
        exact_bytes = False  # strings, sub-byte and float8 types: no numpy itemsize to trust
    else:
        nbytes += count * np.dtype(np_type).itemsize
for g in graphs(m.graph):
    inits += len(g.initializer) + len(g.sparse_initializer)
    nodes += len(g.node)
    for t in g.initializer:
        add(t)
    for sp in g.sparse_initializer:  # counted with their dense shape; stored bytes are not dtype x count
        params += int(np.prod(np.array(sp.dims, dtype=np.int64)))
        exact_bytes = False
    for n in g.node:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            for a in n.attribute:
                if a.name == "value":
                    add(a.t)
init_names = {t.name for t in m.graph.initializer}
print("parameter_count", params)
print("parameter_bytes", nbytes if exact_bytes else "skip")
print("node_count", len(m.graph.node))
print("node_count_with_subgraphs", nodes)
print("initializer_count", inits)
print("ir_version", m.ir_version)
print("inputs", ",".join(i.name for i in m.graph.input if i.name not in init_names))
print("outputs", ",".join(o.name for o in m.graph.output))
EOF

# --- --version, --help ------------------------------------------------------------------------
version=$(sed -n 's/^project(edgeq VERSION \([0-9.]*\).*/\1/p' "$EDGEQ_SOURCE_DIR/CMakeLists.txt")
[[ -n $version ]] || fail "cannot read the project version from CMakeLists.txt"
run --version
expect_status 0
expect_equal "$(cat "$log_dir/stdout")" "edgeq $version" "edgeq --version output"

run --help
expect_status 0
expect_stdout_has inspect
expect_stdout_has convert
run inspect --help
expect_status 0
expect_stdout_has --json
run convert --help
expect_status 0
expect_stdout_has --output
expect_stdout_has --external-data
expect_stdout_has --report
expect_work_empty

# --- usage errors: exit 2, a message on stderr, nothing on stdout, no files -------------------
ln -s "$DEMO" "$tmp/demo.onnx"  # "../demo.onnx" from $work: a path without spaces to split on
D=../demo.onnx
usage_cases=(
  "--bogus"
  "--bogus inspect $D"
  "inspect --bogus $D"
  "convert $D -o out.onnx --bogus"
  "bogus"
  "bogus $D"
  ""
  "inspect"
  "inspect $D extra"
  "convert"
  "convert $D"
  "convert -o out.onnx"
  "convert $D -o"
  "convert $D --report r.json"
)
for args in "${usage_cases[@]}"; do
  # shellcheck disable=SC2086  # word splitting intended
  run $args
  expect_status 2
  expect_stderr_nonempty
  expect_stdout_empty
  expect_work_empty
done
run convert "$DEMO"
grep -qi output "$log_dir/stderr" || fail "missing -o: the message should name --output"
ok

# --- inspect (text) ---------------------------------------------------------------------------
"$PY" "$tmp/facts.py" "$DEMO" >"$tmp/facts" || fail "facts.py failed on $DEMO"
fact() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$tmp/facts"; }
run inspect "$DEMO"
expect_status 0
expect_stdout_has "inputs:"
expect_stdout_has "outputs:"
for v in $(fact inputs | tr , ' ') $(fact outputs | tr , ' '); do expect_stdout_has "$v"; done
expect_stdout_has "$(size_of "$DEMO") bytes"
expect_work_empty

# --- inspect --json: schema and numbers -------------------------------------------------------
inspect_json_checks() {  # MODEL
  local model=$1 f="$tmp/inspect.json" key want
  run inspect "$model" --json
  expect_status 0
  cp "$log_dir/stdout" "$f"
  validate "$INSPECT_SCHEMA" "$f"
  "$PY" "$tmp/facts.py" "$model" >"$tmp/facts" || fail "facts.py failed on $model"
  for key in parameter_count parameter_bytes node_count node_count_with_subgraphs \
             initializer_count ir_version; do
    want=$(fact "$key")
    [[ $want == skip ]] && continue
    expect_equal "$(jget "$f" "j['$key']")" "$want" "inspect --json $model: $key"
  done
  expect_equal "$(jget "$f" "','.join(v['name'] for v in j['inputs'])")" "$(fact inputs)" \
    "inspect --json $model: input names"
  expect_equal "$(jget "$f" "','.join(v['name'] for v in j['outputs'])")" "$(fact outputs)" \
    "inspect --json $model: output names"
  expect_equal "$(jget "$f" "j['file_bytes']")" "$(size_of "$model")" "inspect --json $model: file_bytes"
  expect_equal "$(jget "$f" "j['total_bytes'] == j['file_bytes'] + j['external_data_bytes']")" true \
    "inspect --json $model: total_bytes = file_bytes + external_data_bytes"
  expect_equal "$(jget "$f" "j['parameter_count'] == sum(d['params'] for d in j['parameters_by_dtype'])")" true \
    "inspect --json $model: parameters_by_dtype adds up"
}

inspect_json_checks "$DEMO"
expect_equal "$(jget "$tmp/inspect.json" "j['total_bytes']")" "$(size_of "$DEMO")" "demo_cnn total_bytes"
expect_equal "$(jget "$tmp/inspect.json" "j['external_data_bytes']")" 0 "demo_cnn external_data_bytes"
for m in constant_weights if_loop fp16_cast typed_fields rich_metadata ir10_opset21; do
  inspect_json_checks "$ODD/$m.onnx"
done
inspect_json_checks "$EDGEQ_SOURCE_DIR/models/third_party/silero_vad.onnx"

ext_model="$ODD/external/model.onnx"
ext_data="$ODD/external/weights.bin"
inspect_json_checks "$ext_model"
f="$tmp/inspect.json"
expect_equal "$(jget "$f" "j['external_data_bytes']")" "$(size_of "$ext_data")" "external: external_data_bytes"
expect_equal "$(jget "$f" "j['total_bytes']")" "$(($(size_of "$ext_model") + $(size_of "$ext_data")))" \
  "external: total_bytes"
expect_equal "$(jget "$f" "j['external_data_files']")" "[\"$(realpath "$ext_data")\"]" \
  "external: external_data_files"
run inspect "$ext_model"
expect_status 0
expect_stdout_has "$(size_of "$ext_data") external data"
expect_work_empty

# The schemas also hold for non-tensor graph I/O (sequences, optionals: dtype "non-tensor",
# shape null), subgraphs and typed LSTM weights from the ONNX backend tests.
for t in test_optional_get_element test_sequence_insert_at_back test_loop13_seq test_lstm_defaults; do
  model="${EDGEQ_TESTDATA_DIR:-/usr/share/libonnx-testdata/data}/node/$t/model.onnx"
  [[ -f $model ]] || fail "$model is missing (Debian package libonnx-testdata)"
  inspect_json_checks "$model"
  if [[ $t == test_optional_get_element ]]; then
    expect_equal "$(jget "$tmp/inspect.json" "[j['inputs'][0]['dtype'], j['inputs'][0]['shape']]")" \
      '["non-tensor", null]' "$t: an optional input"
  fi
  run convert "$model" -o "$t.onnx"
  expect_status 0
  validate "$REPORT_SCHEMA" "$work/$t.report.json"
  clear_work
done

# Loader warnings go to stderr and into the JSON, never to stdout text.
run inspect "$ODD/ir10_opset21.onnx"
expect_status 0
if grep -qi warning "$log_dir/stdout"; then fail "inspect printed a warning on stdout"; fi
ok
grep -qi warning "$log_dir/stderr" || fail "inspect of an IR 10 model should warn on stderr"
ok

# --- convert ----------------------------------------------------------------------------------
# check_report REPORT INPUT_FILES... -- OUTPUT_FILES...: schema and every byte count
check_report() {
  local report=$1 in_total=0 out_total=0 files=() i
  shift
  validate "$REPORT_SCHEMA" "$report"
  while [[ $1 != -- ]]; do files+=("$1"); in_total=$((in_total + $(size_of "$1"))); shift; done
  shift
  expect_equal "$(jget "$report" "j['size']['bytes_before']")" "$in_total" "$report: size.bytes_before"
  expect_equal "$(jget "$report" "j['input']['bytes']")" "$in_total" "$report: input.bytes"
  expect_equal "$(jget "$report" "j['input']['sha256']")" "$(sha_of "${files[0]}")" "$report: input.sha256"
  expect_equal "$(jget "$report" "len(j['input']['files'])")" "${#files[@]}" "$report: input.files"
  for i in "${!files[@]}"; do
    expect_equal "$(jget "$report" "j['input']['files'][$i]['bytes']")" "$(size_of "${files[$i]}")" \
      "$report: input.files[$i].bytes"
    expect_equal "$(cd "$work" && realpath "$(jget "$report" "j['input']['files'][$i]['path']")")" \
      "$(realpath "${files[$i]}")" "$report: input.files[$i].path"
  done
  files=()
  for i in "$@"; do files+=("$i"); out_total=$((out_total + $(size_of "$i"))); done
  expect_equal "$(jget "$report" "j['size']['bytes_after']")" "$out_total" "$report: size.bytes_after"
  expect_equal "$(jget "$report" "j['output']['bytes']")" "$out_total" "$report: output.bytes"
  expect_equal "$(jget "$report" "len(j['output']['files'])")" "${#files[@]}" "$report: output.files"
  for i in "${!files[@]}"; do
    expect_equal "$(jget "$report" "j['output']['files'][$i]['bytes']")" "$(size_of "${files[$i]}")" \
      "$report: output.files[$i].bytes"
    expect_equal "$(cd "$work" && realpath "$(jget "$report" "j['output']['files'][$i]['path']")")" \
      "$(realpath "${files[$i]}")" "$report: output.files[$i].path"
  done
  expect_equal "$(jget "$report" "abs(j['size']['ratio'] - j['size']['bytes_before'] / j['size']['bytes_after']) < 1e-9")" \
    true "$report: size.ratio"
  expect_equal "$(jget "$report" "j['edgeq_version']")" "$version" "$report: edgeq_version"
  expect_equal "$(jget "$report" "j['command']")" convert "$report: command"
}
# result_lines_only: stdout is exactly "converted IN -> OUT (...)" and "report: PATH"
result_lines_only() {
  local lines
  lines=$(wc -l <"$log_dir/stdout")
  expect_equal "$lines" 2 "$last: number of stdout lines"
  sed -n 1p "$log_dir/stdout" | grep -q '^converted .* -> .* ([0-9]* bytes' ||
    fail "$last: first stdout line is not the result line"
  sed -n 2p "$log_dir/stdout" | grep -q '^report: ' || fail "$last: second stdout line is not 'report: ...'"
  if grep -qi warn "$log_dir/stdout"; then fail "$last: a warning went to stdout"; fi
  ok
}

demo_sha=$(sha_of "$DEMO")
run convert "$DEMO" -o out.onnx
expect_status 0
result_lines_only
expect_stdout_has "report: out.report.json"
[[ -f $work/out.onnx ]] || fail "convert did not write out.onnx"
ok
[[ ! -e $work/out.onnx.data ]] || fail "a small model without --external-data got a data file"
ok
[[ -f $work/out.report.json ]] || fail "no report at the default path out.report.json"
ok
check_report "$work/out.report.json" "$DEMO" -- "$work/out.onnx"
expect_equal "$(jget "$work/out.report.json" "j['options']['external_data']")" false "options.external_data"
expect_equal "$(sha_of "$DEMO")" "$demo_sha" "the input after convert (sha256)"
expect_equal "$(list_dir "$work")" "out.onnx out.report.json " "files written by convert"
"$PY" -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]))' "$work/out.onnx" ||
  fail "onnx.checker rejects the converted model"
ok

# Converting edgeq's own output again changes nothing (storage is already normalized).
mkdir "$tmp/again"
run convert "$work/out.onnx" -o "$tmp/again/out.onnx"
expect_status 0
cmp -s "$work/out.onnx" "$tmp/again/out.onnx" || fail "convert of a converted model changed its bytes"
ok
clear_work

# Default report path: <OUT dir>/<OUT stem>.report.json, also for dotted names in subfolders.
mkdir "$work/sub"
run convert "$DEMO" -o sub/m.v2.onnx
expect_status 0
[[ -f $work/sub/m.v2.report.json ]] || fail "no report at sub/m.v2.report.json"
ok
expect_equal "$(list_dir "$work/sub")" "m.v2.onnx m.v2.report.json " "files of -o sub/m.v2.onnx"
clear_work

# --report FILE is honoured, and then no default report is written.
run convert "$DEMO" -o out.onnx --report custom.json
expect_status 0
result_lines_only
expect_stdout_has "report: custom.json"
[[ -f $work/custom.json && ! -e $work/out.report.json ]] || fail "--report custom.json not honoured"
ok
check_report "$work/custom.json" "$DEMO" -- "$work/out.onnx"
clear_work

# --external-data: OUT.data beside OUT, both counted; the weights are the original's.
run convert "$DEMO" -o out.onnx --external-data
expect_status 0
result_lines_only
expect_stdout_has "external data in out.onnx.data"
[[ -f $work/out.onnx.data ]] || fail "--external-data wrote no out.onnx.data"
ok
check_report "$work/out.report.json" "$DEMO" -- "$work/out.onnx" "$work/out.onnx.data"
expect_equal "$(jget "$work/out.report.json" "j['options']['external_data']")" true "options.external_data"
"$PY" - "$DEMO" "$work/out.onnx" <<'EOF' || fail "external-data model differs from the original"
import sys
import numpy as np
import onnx
from onnx import numpy_helper
a, b = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
onnx.checker.check_model(sys.argv[2])
ta = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
tb = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
assert ta.keys() == tb.keys(), "initializer names differ"
for k in ta:
    assert ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape, k
    assert ta[k].tobytes() == tb[k].tobytes(), k
raw = onnx.load(sys.argv[2], load_external_data=False)
assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in raw.graph.initializer), "nothing external"
EOF
ok
expect_equal "$(sha_of "$DEMO")" "$demo_sha" "the input after convert --external-data (sha256)"

# Determinism: the same conversion twice gives the same bytes (model, data file, both modes).
mkdir "$tmp/d1" "$tmp/d2"
for opt in "" --external-data; do
  for d in d1 d2; do
    # shellcheck disable=SC2086
    run convert "$DEMO" -o "$tmp/$d/out.onnx" $opt
    expect_status 0
  done
  cmp "$tmp/d1/out.onnx" "$tmp/d2/out.onnx" || fail "two conversions ($opt) differ: model"
  ok
  if [[ -n $opt ]]; then
    cmp "$tmp/d1/out.onnx.data" "$tmp/d2/out.onnx.data" || fail "two conversions ($opt) differ: data"
    ok
  fi
done
# ...and the same report, but for timing.wall_seconds (README: the only field that may differ).
cp "$tmp/d1/out.report.json" "$tmp/first.report.json"
run convert "$DEMO" -o "$tmp/d1/out.onnx" --external-data
expect_status 0
"$PY" - "$tmp/first.report.json" "$tmp/d1/out.report.json" <<'EOF' || fail "two identical runs gave different reports"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
del a["timing"]["wall_seconds"], b["timing"]["wall_seconds"]
assert a == b, "reports differ beyond timing.wall_seconds"
EOF
ok
clear_work

# An input with external data keeps external data; the report counts all its files.
ext_sha=$(sha_of "$ext_model")
ext_data_sha=$(sha_of "$ext_data")
run convert "$ext_model" -o ext.onnx
expect_status 0
result_lines_only
[[ -f $work/ext.onnx.data ]] || fail "an input with external data gave no ext.onnx.data"
ok
check_report "$work/ext.report.json" "$ext_model" "$ext_data" -- "$work/ext.onnx" "$work/ext.onnx.data"
expect_equal "$(sha_of "$ext_model") $(sha_of "$ext_data")" "$ext_sha $ext_data_sha" "external input after convert"
clear_work

# Loader warnings reach stderr and the report, never stdout.
run convert "$ODD/ir10_opset21.onnx" -o w.onnx
expect_status 0
result_lines_only
grep -qi warning "$log_dir/stderr" || fail "expected a warning on stderr for an IR 10 model"
ok
expect_equal "$(jget "$work/w.report.json" "len(j['warnings']) > 0")" true "report.warnings of an IR 10 model"
validate "$REPORT_SCHEMA" "$work/w.report.json"
clear_work
# -q silences the warning but not the result; -v changes nothing on stdout.
run -q convert "$ODD/ir10_opset21.onnx" -o w.onnx
expect_status 0
result_lines_only
[[ ! -s $log_dir/stderr ]] || fail "-q: stderr should be empty"
ok
clear_work
run -v inspect "$DEMO"
expect_status 0
cp "$log_dir/stdout" "$tmp/verbose.txt"
run inspect "$DEMO"
cmp -s "$log_dir/stdout" "$tmp/verbose.txt" || fail "-v changed what inspect prints on stdout"
ok
run -q inspect "$work/nonexistent.onnx"
expect_status 6
expect_stderr_nonempty "-q must still print errors"

# --- refusals: the input (or its data file) is never a destination ----------------------------
self="$work/self"
mkdir "$self"
cp "$DEMO" "$self/in.onnx"
ln -s in.onnx "$self/link.onnx"
mkdir "$self/sub"
for dest in "$self/in.onnx" "self/in.onnx" "$self/sub/../in.onnx" "$self/./in.onnx" "$self/link.onnx"; do
  run convert "$self/in.onnx" -o "$dest"
  expect_status 2
  expect_stderr_nonempty
  expect_stdout_empty
  expect_equal "$(sha_of "$self/in.onnx")" "$demo_sha" "input after convert -o $dest"
  expect_equal "$(list_dir "$self")" "in.onnx link.onnx sub " "files after convert -o $dest"
done
clear_work

# The input's external data file is protected too, also when it would be OUT.data.
mkdir "$work/x"
"$PY" - "$ext_model" "$work/x/in.onnx" <<'EOF'
import sys
import onnx
m = onnx.load(sys.argv[1])
onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True,
                location="x.onnx.data", size_threshold=0)
EOF
x_sha="$(sha_of "$work/x/in.onnx") $(sha_of "$work/x/x.onnx.data")"
for dest in x/x.onnx x/x.onnx.data; do
  run convert x/in.onnx -o "$dest"
  expect_status 2
  expect_stderr_nonempty
  expect_stdout_empty
  expect_equal "$(sha_of "$work/x/in.onnx") $(sha_of "$work/x/x.onnx.data")" "$x_sha" "input after -o $dest"
  expect_equal "$(list_dir "$work/x")" "in.onnx x.onnx.data " "files after -o $dest"
done
clear_work

# --- I/O errors: a destination folder that does not exist -> 6, nothing written ---------------
for opt in "" --external-data; do
  # shellcheck disable=SC2086
  run convert "$DEMO" -o "$work/nodir/out.onnx" $opt
  expect_status 6
  expect_stderr_nonempty
  expect_stdout_empty
  expect_work_empty
done
run convert "$ext_model" -o nodir/out.onnx
expect_status 6
expect_stdout_empty
expect_work_empty
expect_equal "$(sha_of "$ext_model") $(sha_of "$ext_data")" "$ext_sha $ext_data_sha" "external input after failure"

# --- the report path can never clobber the input, the output or its data file ---------------
if true; then
  # --report naming the input must be refused like -o naming it, and leave the input alone.
  cp "$DEMO" "$work/in.onnx"
  run convert in.onnx -o out.onnx --report in.onnx
  expect_status 2
  expect_equal "$(sha_of "$work/in.onnx")" "$demo_sha" "input after --report naming the input"
  clear_work
  # --report naming the output (or its data file) must not replace it.
  run convert "$DEMO" -o out.onnx --report out.onnx
  expect_status 2
  clear_work
  run convert "$DEMO" -o out.onnx --external-data --report out.onnx.data
  expect_status 2
  clear_work
  # A report that cannot be written must not leave the model behind.
  run convert "$DEMO" -o out.onnx --report nodir/r.json
  expect_status 6
  expect_work_empty
fi

echo "$name: $checks checks passed"
