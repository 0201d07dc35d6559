#!/usr/bin/env bash
# Creates .venv and installs onnxgate with every framework, pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-all}"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt -e ".[$extra]"
