# Shared by the e2e scripts (sourced, not a test itself). The script sets $name, then calls
# e2e_init; every edgeq run happens in $run_dir with stdout/stderr kept in $log_dir.
e2e_init() {
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
