#!/usr/bin/env bash
# Creates .venv and installs onnxgate with every framework, pinned by constraints.txt.
# -qq: the build backend's notes about editable installs and the machine's pip index settings
# are not problems of this project; pip still prints errors.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-all}"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -qq --upgrade pip
.venv/bin/pip install -qq -c constraints.txt -e ".[$extra]"
