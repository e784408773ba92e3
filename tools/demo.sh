#!/usr/bin/env bash
# The main job on a bundled model: set up, build, then quantize models/fmnist_cnn.onnx (a small
# MobileNet-style Fashion-MNIST classifier) to INT8 — dynamic, then static with calibration —
# measure the static model against the float one on 800 labelled test images, run a recipe (50 %
# pruning, then static INT8) with `edgeq compress`, and compare the reports. Outputs go to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
rm -rf demo-out
mkdir -p demo-out
E=${EDGEQ_BIN:-build/edgeq}
M=models/fmnist_cnn.onnx

# The bundled test images come with their labels in one .npz; calibration and evaluation read
# the images (an .npz feeds inputs by key), the labels go to --labels.
/usr/bin/python3 - <<'PY'
import numpy as np
d = np.load("models/data/fmnist_test_1000.npz")
np.save("demo-out/calib.npy", d["image"][:200])
np.save("demo-out/eval.npy", d["image"][200:])
np.save("demo-out/eval_labels.npy", d["label"][200:])
PY

echo "== edgeq inspect $M"
$E inspect "$M"
echo
echo "== edgeq quantize $M --int8 (dynamic)"
$E quantize "$M" --int8 -o demo-out/fmnist_cnn.dynamic.int8.onnx
echo
echo "== edgeq quantize $M --int8 --calib (static QDQ, with accuracy on 800 labelled images)"
$E quantize "$M" --int8 --calib demo-out/calib.npy --eval demo-out/eval.npy --labels demo-out/eval_labels.npy \
  --report-format json,md,html -o demo-out/fmnist_cnn.int8.onnx
echo
# A recipe: paths in it are relative to the recipe file, so it sits beside calib.npy.
cat > demo-out/recipe.json <<'JSON'
{
  "name": "prune50-static-int8",
  "steps": [
    {"command": "prune", "options": {"sparsity": 0.5}},
    {"command": "quantize", "options": {"int8": true, "calib": "calib.npy"}}
  ]
}
JSON
echo "== edgeq compress $M --recipe demo-out/recipe.json (50 % pruning, then static INT8)"
$E compress "$M" --recipe demo-out/recipe.json --eval demo-out/eval.npy --labels demo-out/eval_labels.npy \
  -o demo-out/fmnist_cnn.pruned.int8.onnx
echo
echo "== edgeq compare"
$E compare demo-out/fmnist_cnn.dynamic.int8.report.json demo-out/fmnist_cnn.int8.report.json \
  demo-out/fmnist_cnn.pruned.int8.report.json
echo
echo "models:  demo-out/fmnist_cnn.dynamic.int8.onnx, demo-out/fmnist_cnn.int8.onnx, demo-out/fmnist_cnn.pruned.int8.onnx"
echo "reports: demo-out/fmnist_cnn.int8.report.{json,md,html}, demo-out/fmnist_cnn.dynamic.int8.report.json"
