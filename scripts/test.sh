#!/usr/bin/env bash
# Sets up the environment and runs the test suite (parity matrix in the derandomized 'ci'
# hypothesis profile, on both cores through pytest-xdist).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# --benchmark-disable: under xdist no test benchmarks; pytest-benchmark 4.0 (the declared floor)
# would print "Benchmarks are automatically disabled because xdist plugin is active" at every start.
# --dist worksteal: each worker starts on its own half of the suite in file order, so a module's
# fixtures are built once, not once per worker (the report's browser fixture, two real `onnxgate
# run`s, is 50 s), and a worker that runs dry takes the other's last tests.
exec .venv/bin/pytest -n 2 --dist worksteal --hypothesis-profile ci --benchmark-disable "$@"
