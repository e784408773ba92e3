#!/usr/bin/env bash
# Installs what edgeq needs to build and test (Debian 12 packages, the ONNX Runtime npm package
# for the test oracle) and builds it into build/. Safe to run again: it installs only what is
# missing. Runs apt-get as root, or through sudo.
#
#   tools/setup.sh [--sanitize]     # --sanitize also builds the loader tests under ASan+UBSan
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler libeigen3-dev libcli11-dev libspdlog-dev
  libgtest-dev nlohmann-json3-dev libzstd-dev libstb-dev zlib1g-dev
  libonnx-testdata python3-onnx python3-numpy python3-jsonschema time dataset-fashion-mnist
  chromium chromium-driver  # tests/e2e/report_formats.sh renders the HTML reports headless
)
command -v node > /dev/null || packages+=(nodejs)
command -v npm > /dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# ONNX Runtime for the test oracle. Its install script would try to download GPU binaries;
# the CPU runtime ships inside the package.
if [ ! -d tests/ort/node_modules/onnxruntime-node ]; then
  echo "setup: installing onnxruntime-node (tests/ort)" >&2
  (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error > /dev/null)
fi

sanitize=OFF
[ "${1:-}" = "--sanitize" ] && sanitize=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DEDGEQ_SANITIZE="$sanitize" > /dev/null
cmake --build build -j "$(nproc)" > build/build.log 2>&1 || { tail -50 build/build.log >&2; exit 1; }
echo "setup: built build/edgeq" >&2
