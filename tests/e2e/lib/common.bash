# Shared by the e2e scripts (sourced, not a test itself). The script sets $name, then calls
# e2e_init; every edgeq run happens in $run_dir with stdout/stderr kept in $log_dir.
e2e_init() {
  # Every edgeq run happens in $run_dir: a relative EDGEQ path must not break there.
  if [[ ${EDGEQ:-} == */* ]]; then EDGEQ=$(realpath "$EDGEQ"); fi
  PY=${PY:-/usr/bin/python3}  # Debian's python3 (numpy, onnx, jsonschema), not the PATH one
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgeq-$name.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  run_dir="$tmp/run"
  log_dir="$tmp/logs"
  mkdir "$run_dir" "$log_dir"
  checks=0
  last=""  # the last edgeq command, for failure messages
  status=0
}

fail() {
  echo "$name: FAIL: $*" >&2
  if [[ -n $last ]]; then
    echo "  command: $last" >&2
    echo "  exit status: $status" >&2
    echo "  --- stdout ---" >&2
    head -c 3000 "$log_dir/stdout" >&2 || true
    echo "  --- stderr ---" >&2
    head -c 3000 "$log_dir/stderr" >&2 || true
  fi
  exit 1
}

ok() { checks=$((checks + 1)); }

# run ARGS...: runs edgeq in $run_dir; sets $status, leaves $log_dir/stdout and $log_dir/stderr.
run() {
  last="edgeq $*"
  status=0
  (cd "$run_dir" && "$EDGEQ" "$@") > "$log_dir/stdout" 2> "$log_dir/stderr" || status=$?
}

# e2e_need_ort: the ONNX Runtime oracle (tests/ort) must be installed; the debug files
# onnxruntime-node leaves in TMPDIR go to the test's temp dir. Needs $ROOT.
e2e_need_ort() {
  [ -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ] ||
    fail "onnxruntime-node is missing: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci"
  export TMPDIR="$tmp"
}

# e2e_need_fmnist: the Fashion-MNIST images tools/export_fmnist_test.py reads.
e2e_need_fmnist() {
  [ -d /usr/share/datasets/fashion-mnist ] ||
    fail "/usr/share/datasets/fashion-mnist is missing: apt-get install dataset-fashion-mnist (tools/setup.sh)"
}

# e2e_export_fmnist OUT.npz [tools/export_fmnist_test.py options]: Fashion-MNIST images,
# normalized for the fmnist_* models (--labels-out L.npy puts the labels apart). Needs $PY, $ROOT.
e2e_export_fmnist() {
  local out=$1
  shift
  $PY "$ROOT/tools/export_fmnist_test.py" "$out" "$@" > "$log_dir/export.log" 2>&1 ||
    fail "exporting $out failed: $(cat "$log_dir/export.log")"
}

# jget FILE EXPR: a JavaScript expression on `r`, the parsed JSON file (jq without jq); exit 3
# when it is undefined.
jget() {
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           const v = eval(process.argv[2]); if (v === undefined) process.exit(3);
           console.log(typeof v === "object" ? JSON.stringify(v) : v)' "$1" "$2"
}

# near A B TOL: |A - B| <= TOL.
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t + 1e-12) }'; }

# valid FILE [SCHEMA]: FILE validates against SCHEMA (default $SCHEMA, the report schema).
valid() {
  $PY "$ROOT/tests/e2e/validate_json.py" "${2:-$SCHEMA}" "$1" 2> "$log_dir/schema.err" ||
    fail "$1 does not validate against ${2:-$SCHEMA}: $(head -c 1500 "$log_dir/schema.err")"
}
