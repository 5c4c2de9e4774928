#!/usr/bin/env bash
# Builds slugify.wasm, a WebAssembly component for devlog's `actions-plugin` world, from
# app.py with componentize-py (installed from PyPI into a virtual environment here).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/componentize-py ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet 'componentize-py==0.25.1'
fi
.venv/bin/componentize-py -d ../../../crates/devlog-plugin/wit -w actions-plugin \
  componentize app -o slugify.wasm
echo "built $(pwd)/slugify.wasm"
