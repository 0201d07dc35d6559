#!/usr/bin/env bash
# Sets up the environment and runs the test suite (parity matrix in the derandomized 'ci'
# hypothesis profile, on both cores through pytest-xdist).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# --benchmark-disable: under xdist no test benchmarks; pytest-benchmark 4.0 (the declared floor)
# would print "Benchmarks are automatically disabled because xdist plugin is active" at every start.
exec .venv/bin/pytest -n 2 --hypothesis-profile ci --benchmark-disable "$@"
