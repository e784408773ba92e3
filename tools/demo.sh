#!/usr/bin/env bash
# The main job on the bundled model: set up, build, then show what edgeq does to
# models/demo_cnn.onnx: inspect it, convert it (with external data), run the result.
# Outputs go to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
mkdir -p demo-out
echo "== edgeq inspect models/demo_cnn.onnx"
build/edgeq inspect models/demo_cnn.onnx
echo
echo "== edgeq convert models/demo_cnn.onnx -o demo-out/demo_cnn.onnx --external-data"
build/edgeq convert models/demo_cnn.onnx -o demo-out/demo_cnn.onnx --external-data
echo
echo "== edgeq run demo-out/demo_cnn.onnx --input models/demo_cnn.input.npy --output-dir demo-out/outputs"
build/edgeq run demo-out/demo_cnn.onnx --input models/demo_cnn.input.npy --output-dir demo-out/outputs
echo
echo "model:   demo-out/demo_cnn.onnx (+ demo-out/demo_cnn.onnx.data)"
echo "outputs: demo-out/outputs/logits.npy"
echo "report:  demo-out/demo_cnn.report.json"
