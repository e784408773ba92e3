#!/usr/bin/env bash
# `edgeq calibrate`: the four methods really differ on a heavy-tailed activation, and each range
# matches an independent numpy reimplementation (tools/calib_reference.py); the table does not
# depend on threads or batch size; bad calibration data exits 4 and writes nothing.
set -euo pipefail
: "${EDGEQ:?}" "${EDGEQ_SOURCE_DIR:?}"
name=calib_methods
source "$(dirname "$0")/lib/common.bash"
e2e_init
ref="$EDGEQ_SOURCE_DIR/tools/calib_reference.py"

# Fixtures, generated here from a fixed seed:
#   act.npy   [4096, 64] Student-t (2 degrees of freedom: finite mean, infinite variance) — a
#             few huge outliers around a narrow bulk, where the methods disagree most;
#   add0.onnx y = x + 0 (x: float [batch, 64]), so the graph input and y both carry act.npy;
#   img.onnx  z = Relu(img) (img: float [N, 3, 4, 4]) for the image folder cases.
$PY - "$tmp" << 'PY'
import sys, struct, zlib, os
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
d = sys.argv[1]
rng = np.random.default_rng(20240607)
act = rng.standard_t(2.0, size=(4096, 64)).astype(np.float32)
np.save(f"{d}/act.npy", act)
np.save(f"{d}/act_f64.npy", act.astype(np.float64))
np.save(f"{d}/act_rank3.npy", act.reshape(4096, 8, 8))
np.savez(f"{d}/act.npz", x=act)
np.savez_compressed(f"{d}/act_deflated.npz", x=act)
np.savez(f"{d}/wrong_key.npz", nope=act)
g = helper.make_graph(
    [helper.make_node("Add", ["x", "zero"], ["y"])], "add0",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
    [numpy_helper.from_array(np.zeros(64, np.float32), "zero")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{d}/add0.onnx")
g = helper.make_graph(
    [helper.make_node("Relu", ["img"], ["z"])], "img",
    [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 3, 4, 4])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3, 4, 4])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{d}/img.onnx")

def png(path, rgb):  # 8-bit RGB, no filter: the smallest valid PNG writer
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
os.makedirs(f"{d}/images"); os.makedirs(f"{d}/bad_images"); os.makedirs(f"{d}/empty")
pix = rng.integers(0, 256, size=(3, 4, 4, 3), dtype=np.uint8)
for i in range(3):
    png(f"{d}/images/{i}.png", pix[i])
    png(f"{d}/bad_images/{i}.png", pix[i])
np.save(f"{d}/pixels.npy", pix)
open(f"{d}/bad_images/3.png", "wb").write(b"\x89PNG\r\n\x1a\n this is not an image")
PY

# range FILE TENSOR METHOD: prints "min max" of TENSOR in the table FILE.
range_of() { awk -F'\t' -v t="$2" '$1 == t { print $2, $3 }' "$1"; }

declare -A got
for method in minmax percentile entropy mse; do
  run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npy" --method "$method" --percentile 99.9 -o "$tmp/$method.tsv"
  [[ $status == 0 ]] || fail "calibrate --method $method: exit $status"
  ok
  head -1 "$tmp/$method.tsv" | grep -q "^# edgeq calibration: method=$method samples=4096$" ||
    fail "$method: table header: $(head -1 "$tmp/$method.tsv")"
  ok
  # y = x + 0 carries exactly the input's values: the same range.
  [[ $(range_of "$tmp/$method.tsv" x) == "$(range_of "$tmp/$method.tsv" y)" ]] || fail "$method: x and y differ"
  ok
  got[$method]=$(range_of "$tmp/$method.tsv" y)
  want=$($PY "$ref" "$tmp/act.npy" --method "$method" --percentile 99.9)
  echo "$name: $method  edgeq [${got[$method]}]  numpy [$want]"
  # Tolerance: one histogram bin of the range the histogram covers (2048 bins over [min, max]
  # or [0, max|x|]) plus 1e-6 relative for float printing. edgeq reports bin edges and bins
  # its own float32 values, so it may sit up to one bin from numpy's exact quantile or from a
  # value numpy's np.histogram put in the neighbouring bin. minmax must be exact.
  $PY - "$tmp/act.npy" "$method" ${got[$method]} $want << 'PY' || fail "$method: edgeq and numpy disagree"
import sys, numpy as np
x = np.load(sys.argv[1]).astype(np.float64)
method = sys.argv[2]
g = np.array(sys.argv[3:5], float); w = np.array(sys.argv[5:7], float)
lo, hi = x.min(), x.max()
bin_width = (hi - lo) / 2048 if method == "percentile" else max(-lo, hi) / 2048
tol = 0.0 if method == "minmax" else bin_width
tol += 1e-6 * np.abs(w)
if not np.all(np.abs(g - w) <= tol):
    print(f"{method}: |edgeq - numpy| = {np.abs(g - w)} > {tol} (bin {bin_width})", file=sys.stderr)
    sys.exit(1)
PY
  ok
done

# The methods really differ: every pair of ranges is at least 10 % apart in width.
$PY - "${got[minmax]}" "${got[percentile]}" "${got[entropy]}" "${got[mse]}" << 'PY' || fail "methods do not differ enough: minmax ${got[minmax]} percentile ${got[percentile]} entropy ${got[entropy]} mse ${got[mse]}"
import sys, itertools
widths = {}
for name, r in zip(["minmax", "percentile", "entropy", "mse"], sys.argv[1:]):
    lo, hi = map(float, r.split())
    widths[name] = hi - lo
for a, b in itertools.combinations(widths, 2):
    if abs(widths[a] - widths[b]) < 0.1 * max(widths[a], widths[b]):
        sys.exit(f"{a} and {b} give almost the same width: {widths}")
PY
ok

# --symmetric percentile: the |x| quantile, still within one bin of numpy.
run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npy" --method percentile --percentile 99.5 --symmetric -o "$tmp/sym.tsv"
[[ $status == 0 ]] || fail "symmetric percentile: exit $status"
read -r slo shi <<< "$(range_of "$tmp/sym.tsv" y)"
read -r wlo whi <<< "$($PY "$ref" "$tmp/act.npy" --method percentile --percentile 99.5 --symmetric)"
$PY -c "
import numpy as np, sys
x = np.load('$tmp/act.npy'); w = np.abs(x).max() / 2048
sys.exit(0 if abs($shi - $whi) <= w + 1e-6 * abs($whi) and $slo == -$shi else 1)" || fail "symmetric percentile: [$slo, $shi] vs numpy [$wlo, $whi]"
ok

# Same table for any thread count and batch size, and for the .npz forms of the same data.
for method in minmax entropy; do
  run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npy" --method "$method" --threads 1 --batch 1 -o "$tmp/a.tsv"
  run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npy" --method "$method" --threads 2 --batch 100 -o "$tmp/b.tsv"
  run calibrate "$tmp/add0.onnx" --calib "$tmp/act_deflated.npz" --method "$method" --threads 2 -o "$tmp/c.tsv"
  run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npz" --method "$method" -o "$tmp/d.tsv"
  cmp -s "$tmp/a.tsv" "$tmp/b.tsv" || fail "$method: table differs between threads 1/batch 1 and threads 2/batch 100"
  cmp -s "$tmp/a.tsv" "$tmp/c.tsv" || fail "$method: table differs between .npy and deflated .npz"
  cmp -s "$tmp/a.tsv" "$tmp/d.tsv" || fail "$method: table differs between .npy and stored .npz"
  ok
done

# --calib-samples counts rows.
run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npy" --calib-samples 100
[[ $status == 0 ]] || fail "--calib-samples: exit $status"
grep -q "samples=100$" "$log_dir/stdout" || fail "--calib-samples 100 not honoured"
grep -q $'^y\t.*\t6400\ttrue$' "$log_dir/stdout" || fail "--calib-samples 100: y should count 6400 values"
ok

# Images: pixels / 255, then (x - mean) / std; at the model's own size the resize is exact.
run calibrate "$tmp/img.onnx" --calib "$tmp/images" --mean 0.5 --std 0.25 -o "$tmp/img.tsv"
[[ $status == 0 ]] || fail "image folder: exit $status"
read -r ilo ihi <<< "$(range_of "$tmp/img.tsv" img)"
$PY -c "
import numpy as np, sys
p = np.load('$tmp/pixels.npy').astype(np.float32) / np.float32(255)
v = (p - np.float32(0.5)) / np.float32(0.25)
sys.exit(0 if abs(v.min() - $ilo) < 1e-6 and abs(v.max() - $ihi) < 1e-6 else 1)" || fail "image range [$ilo, $ihi] is not the normalized pixels'"
ok

# Bad calibration data: exit 4, a message naming file and input, and no table written.
bad() {
  local what=$1 pattern=$2; shift 2
  rm -f "$tmp/bad.tsv"
  run calibrate "$@" -o "$tmp/bad.tsv"
  [[ $status == 4 ]] || fail "$what: expected exit 4, got $status"
  [[ ! -e $tmp/bad.tsv ]] || fail "$what: a table was written"
  grep -q -- "$pattern" "$log_dir/stderr" || fail "$what: message lacks '$pattern'"
  ok
}
bad "wrong input name" "wrong_key.npz.*no input named 'nope'" "$tmp/add0.onnx" --calib "$tmp/wrong_key.npz"
bad "wrong dtype" "act_f64.npy.*input 'x' expects dtype float, got double" "$tmp/add0.onnx" --calib "$tmp/act_f64.npy"
bad "wrong rank" "act_rank3.npy.*input 'x' expects rank 2" "$tmp/add0.onnx" --calib "$tmp/act_rank3.npy"
bad "empty folder" "empty: the folder holds no" "$tmp/add0.onnx" --calib "$tmp/empty"
bad "unreadable image" "3.png: cannot decode image for input 'img'" "$tmp/img.onnx" --calib "$tmp/bad_images"

# Malformed flags are usage errors (2).
run calibrate "$tmp/add0.onnx" --calib "$tmp/act.npy" --method median
[[ $status == 2 ]] || fail "unknown method: expected exit 2, got $status"
run calibrate "$tmp/img.onnx" --calib "$tmp/images" --mean 0.5,0.5
[[ $status == 2 ]] || fail "--mean with 2 values: expected exit 2, got $status"
run calibrate "$tmp/img.onnx" --calib "$tmp/images" --image-size 4
[[ $status == 2 ]] || fail "--image-size 4: expected exit 2, got $status"
ok

echo "$name: $checks checks passed"
