#!/usr/bin/env bash
# Runs the quick benchmark profile and gates it against this machine type's baseline in
# benchmarks/baselines/ (one file per machine type). Where no baseline matches this machine,
# the run is recorded as its baseline and the gate says so instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."
out="results/ci-$(date +%Y%m%d-%H%M%S)"
# Instruction counts per call (valgrind) beside the time ratios, where valgrind is installed:
# they see an onnxruntime-wide slowdown, which the in-run time ratios cancel out.
counts=()
if command -v valgrind >/dev/null 2>&1; then counts=(--counts); fi
# benchmarks/ is the project's own suite (routing, engine overhead, conversion speed), run beside
# the zoo suite onnxgate ships; the baselines hold both.
.venv/bin/onnxgate bench --quick --suite benchmarks "${counts[@]}" --output "$out"
.venv/bin/onnxgate gate --baseline benchmarks/baselines/ --record-missing --current "$out"/*.json
