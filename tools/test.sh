#!/usr/bin/env bash
# Sets up, builds (with the loader's sanitizer tests) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --sanitize
cd build
ctest --output-on-failure -j "$(nproc)"
