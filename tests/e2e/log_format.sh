#!/usr/bin/env bash
# Global logging flags: --log-format json (every stderr line one JSON object with level and
# message), -q (errors only), -v (debug lines); stdout carries only the command's result.
set -euo pipefail
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0
fail() { echo "log_format: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }
model="$EDGEQ_SOURCE_DIR/models/fmnist_cnn.onnx"

# JSON logs: every stderr line parses, has a level and a message; the per-tensor lines are there.
"$EDGEQ" --log-format json quantize "$model" --int8 -o "$work/a.onnx" > "$work/out" 2> "$work/err"
/usr/bin/python3 - "$work/err" <<'PY' || fail "stderr is not JSON lines: $(head -c 600 "$work/err")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for line in lines:
    obj = json.loads(line)
    assert set(obj) == {"level", "message"}, obj
    assert obj["level"] in ("debug", "info", "warning", "error"), obj
assert any(json.loads(l)["message"].startswith("quantized ") for l in lines), "no per-tensor line"
PY
ok
grep -q '^quantized .* -> .*a.onnx' "$work/out" || fail "stdout lacks the result line: $(cat "$work/out")"; ok
grep -q '"level"' "$work/out" && fail "log lines on stdout"; ok

# Errors are JSON too, with the documented exit code (6: file cannot be read).
set +e
"$EDGEQ" quantize "$work/missing.onnx" --int8 --log-format json > "$work/out" 2> "$work/err"
code=$?
set -e
[ "$code" = 6 ] || fail "missing file: exit $code, want 6"; ok
/usr/bin/python3 -c "import json,sys; o=json.loads(open(sys.argv[1]).read()); assert o['level']=='error' and 'missing.onnx' in o['message']" "$work/err" \
  || fail "error not a JSON line naming the file: $(cat "$work/err")"; ok

# -q: nothing on stderr for a successful run; -v: debug lines appear.
"$EDGEQ" -q quantize "$model" --int8 -o "$work/b.onnx" > "$work/out" 2> "$work/err"
[ ! -s "$work/err" ] || fail "-q printed: $(head -c 300 "$work/err")"; ok
cmp -s "$work/a.onnx" "$work/b.onnx" || fail "log flags changed the model bytes"; ok
"$EDGEQ" -v quantize "$model" --int8 -o "$work/c.onnx" > "$work/out" 2> "$work/err"
grep -q 'debug' "$work/err" || fail "-v printed no debug line"; ok

# A bad value is a usage error.
set +e
"$EDGEQ" --log-format xml inspect "$model" > /dev/null 2>&1
code=$?
set -e
[ "$code" = 2 ] || fail "--log-format xml: exit $code, want 2"; ok
echo "log_format: $checks checks passed"
