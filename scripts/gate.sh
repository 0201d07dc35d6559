#!/usr/bin/env bash
# Runs the quick benchmark profile and gates it against the committed baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
out="results/ci-$(date +%Y%m%d-%H%M%S)"
# benchmarks/ is the project's own suite (routing, engine overhead, conversion speed), run beside
# the zoo suite onnxgate ships; the baseline holds both.
.venv/bin/onnxgate bench --quick --suite benchmarks --output "$out"
.venv/bin/onnxgate gate --baseline benchmarks/baselines/ci-2core.json --current "$out"/*.json
