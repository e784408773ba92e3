#!/usr/bin/env bash
# `edgeq quantize` is deterministic (issue #4): the same input and options give a byte-identical
# model with --threads 1 and --threads 2, for dynamic INT8 and static INT8 in both formats (QDQ,
# QOperator), on both Fashion-MNIST models. Running the same command twice with one thread must
# also match (a model that differs run to run would otherwise pass as "thread-dependent" only).
# The JSON reports may differ only in timing fields and in the echoed --threads option.
#
# Calibration data: 200 training images (tools/export_fmnist_test.py), enough to exercise the
# multi-threaded calibration path in several batches.
#
# Environment: EDGEQ, EDGEQ_SOURCE_DIR. Needs /usr/bin/python3 with numpy,
# /usr/share/datasets/fashion-mnist (dataset-fashion-mnist) and node.
set -euo pipefail
name=quantize_determinism
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
ROOT=$(realpath "$EDGEQ_SOURCE_DIR")
source "$ROOT/tests/e2e/lib/common.bash"
e2e_init
[ -d /usr/share/datasets/fashion-mnist ] ||
  fail "/usr/share/datasets/fashion-mnist is missing: apt-get install dataset-fashion-mnist (tools/setup.sh)"
CALIB_IMAGES=200

$PY "$ROOT/tools/export_fmnist_test.py" "$tmp/calib.npz" --split train --count "$CALIB_IMAGES" \
  --images-only > "$log_dir/export.log" 2>&1 || fail "calibration export failed: $(cat "$log_dir/export.log")"

# normalized_report FILE: the report without timing fields and the threads option, one key order.
normalized_report() {
  node -e '
    const drop = (k) => k === "timing" || k === "threads" || /seconds|_ms$|time/i.test(k);
    const clean = (v) => Array.isArray(v) ? v.map(clean)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.keys(v).sort().filter((k) => !drop(k)).map((k) => [k, clean(v[k])]))
        : v;
    console.log(JSON.stringify(clean(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))), null, 1));
  ' "$1"
}

# Every run writes to the same path (so that paths echoed in the report are equal), then the
# result is moved aside under the run's tag.
quantize_as() {  # quantize_as TAG MODEL OPTIONS...
  local tag=$1 model=$2
  shift 2
  run quantize "$model" --int8 -o "$run_dir/out/model.int8.onnx" --report "$run_dir/out/report.json" "$@"
  [ "$status" = 0 ] || fail "$tag: edgeq quantize exited with $status"
  [ -s "$run_dir/out/model.int8.onnx" ] || fail "$tag: no output model"
  [ -s "$run_dir/out/report.json" ] || fail "$tag: no report"
  mkdir -p "$tmp/$tag"
  mv "$run_dir/out/model.int8.onnx" "$run_dir/out/report.json" "$tmp/$tag/"
  ok
}

mkdir -p "$run_dir/out"
for m in cnn transformer; do
  model="$ROOT/models/fmnist_$m.onnx"
  for mode in dynamic static_qdq static_qoperator; do
    case $mode in
      dynamic) opts=() ;;
      static_qdq) opts=(--calib "$tmp/calib.npz") ;;
      static_qoperator) opts=(--calib "$tmp/calib.npz" --format qoperator) ;;
    esac
    label="${m}_$mode"
    quantize_as "$label.t1" "$model" "${opts[@]}" --threads 1
    quantize_as "$label.t1b" "$model" "${opts[@]}" --threads 1
    quantize_as "$label.t2" "$model" "${opts[@]}" --threads 2
    last=""
    for other in t1b t2; do
      cmp "$tmp/$label.t1/model.int8.onnx" "$tmp/$label.$other/model.int8.onnx" > "$log_dir/cmp" 2>&1 ||
        fail "$label: --threads 1 and the $other run wrote different models: $(cat "$log_dir/cmp")"
      ok
      diff <(normalized_report "$tmp/$label.t1/report.json") <(normalized_report "$tmp/$label.$other/report.json") \
        > "$log_dir/diff" || fail "$label: reports of --threads 1 and the $other run differ beyond timing: $(head -c 2000 "$log_dir/diff")"
      ok
    done
    echo "$label: identical ($(stat -c %s "$tmp/$label.t1/model.int8.onnx") bytes, sha256 $(sha256sum < "$tmp/$label.t1/model.int8.onnx" | cut -c1-16))"
  done
done
echo "$name: $checks checks ok"
