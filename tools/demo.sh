#!/usr/bin/env bash
# The main job on the bundled model: set up, build, then show what edgeq does to
# models/demo_cnn.onnx. Outputs go to demo-out/.
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
echo "model:  demo-out/demo_cnn.onnx (+ demo-out/demo_cnn.onnx.data)"
echo "report: demo-out/demo_cnn.report.json"
