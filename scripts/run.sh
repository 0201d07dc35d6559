#!/usr/bin/env bash
# Sets up the environment and runs the main job on the embedded default model zoo:
# conversion, parity, the quick benchmark profile, the gate against this machine type's
# baseline (benchmarks/baselines/; skipped in one line, exit 0, on a machine type it does not hold)
# and the HTML report (reports/<timestamp>/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
exec .venv/bin/onnxgate run --baseline benchmarks/baselines/ "$@"
