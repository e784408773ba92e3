#!/usr/bin/env bash
# Malformed inputs, end to end: for every row of tests/data/bad/EXPECTED.tsv, `edgeq inspect`
# (text and --json) and `edgeq convert` (with and without --external-data) must exit with the
# expected code, name the problem on stderr, print nothing on stdout, and create no file at all
# (no output, no report, no temporary file) -- neither in the destination nor beside the input.
# Also: a path that does not exist and a directory given as the model are I/O errors (6).
#
# Environment: EDGEQ (the binary), EDGEQ_SOURCE_DIR (repo root), EDGEQ_TESTDATA_DIR (unused).
set -euo pipefail

name=bad_inputs
: "${EDGEQ:?EDGEQ must name the edgeq binary}"
: "${EDGEQ_SOURCE_DIR:?EDGEQ_SOURCE_DIR must name the repository root}"
EDGEQ_SOURCE_DIR=$(realpath "$EDGEQ_SOURCE_DIR")
bad="$EDGEQ_SOURCE_DIR/tests/data/bad"
table="$bad/EXPECTED.tsv"

source "$EDGEQ_SOURCE_DIR/tests/e2e/lib/common.bash"
e2e_init
dest=$run_dir  # cwd and output folder of every run; must stay empty
logs=$log_dir

# expect_failure CODE SUBSTRING: the last run failed as it should and left nothing behind.
expect_failure() {
  local code=$1 substring=$2 left
  [[ $status == "$code" ]] || fail "expected exit status $code, got $status"
  ok
  grep -qF -- "$substring" "$logs/stderr" || fail "stderr does not contain '$substring'"
  ok
  if grep -q "internal error" "$logs/stderr"; then fail "reported as an internal error"; fi
  ok
  [[ ! -s $logs/stdout ]] || fail "stdout is not empty"
  ok
  left=$(find "$dest" -mindepth 1 -printf '%P\n')
  [[ -z $left ]] || fail "files were created: $left"
  ok
}

# The folder of the bad models must not change either (no temporary files beside the input).
snapshot() { find "$bad" -printf '%P %y %s %T@\n' | sort; }
snapshot >"$logs/before"

[[ -f $table ]] || fail "$table is missing"
header=$(head -n 1 "$table" | tr -d '\r')
[[ $header == $'file\texpected_exit_code\tmessage_substring' ]] ||
  fail "unexpected header in EXPECTED.tsv: '$header'"

rows=0
while IFS=$'\t' read -r file code substring || [[ -n ${file:-} ]]; do
  file=${file%$'\r'}
  code=${code%$'\r'}
  substring=${substring%$'\r'}
  [[ -z $file ]] && continue
  [[ $code =~ ^[0-9]+$ && -n $substring ]] || fail "malformed row in EXPECTED.tsv: '$file'"
  model="$bad/$file"
  [[ -e $model ]] || fail "EXPECTED.tsv names $file, which does not exist"
  rows=$((rows + 1))

  run inspect "$model"
  expect_failure "$code" "$substring"
  run inspect "$model" --json
  expect_failure "$code" "$substring"
  run convert "$model" -o "$dest/out.onnx"
  expect_failure "$code" "$substring"
  run convert "$model" -o "$dest/out.onnx" --external-data --report "$dest/r.json"
  expect_failure "$code" "$substring"
done < <(tail -n +2 "$table")
expected_rows=$(tail -n +2 "$table" | grep -c .)
[[ $rows -gt 0 && $rows == "$expected_rows" ]] || fail "read $rows rows of $expected_rows in EXPECTED.tsv"
ok

# A path that does not exist, and a directory given as the model: I/O errors.
missing="$tmp/no_such_model.onnx"
run inspect "$missing"
expect_failure 6 no_such_model.onnx
run convert "$missing" -o "$dest/out.onnx"
expect_failure 6 no_such_model.onnx
mkdir "$tmp/a_directory.onnx"
run inspect "$tmp/a_directory.onnx"
expect_failure 6 a_directory.onnx
run convert "$tmp/a_directory.onnx" -o "$dest/out.onnx"
expect_failure 6 a_directory.onnx

snapshot >"$logs/after"
diff "$logs/before" "$logs/after" >&2 || fail "tests/data/bad changed while edgeq read it"
ok

echo "$name: $rows bad models, $checks checks passed"
