#!/usr/bin/env bash
# The performance gate of CI: this checkout against its first parent (or the merge base of REF, the
# first argument), both benchmarked side by side on this runner in one job: no baseline file, any
# machine type. A representative subset of the zoo, chosen to stay well inside CI's time: every
# boosting framework (XGBoost, LightGBM's categorical model with its native categorical splits, CatBoost; the
# scikit-learn logistic pipeline read onnx/reference +31% at 256 rows on unchanged code beside other jobs), 1 and 256 rows, one thread.
# It leaves out scikit-learn's forest (counting its calls under valgrind took 370 s a side at load 3;
# training it there was not the cost: handed the parent's model, the worker saved 4 of 269 CPU-s), the large models, 4096-row batches, multi-threaded rows (not gated on
# a 2-core runner anyway), the other datasets and the project's own suites in benchmarks/ (routing,
# engine overhead): `onnxgate gate --against REF --full --counts --suite benchmarks` covers them.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${1:-HEAD~1}"
models=xgboost-synthetic-small,lightgbm-categorical-small,catboost-synthetic-small
# Instruction counts per call (valgrind) beside the times, where valgrind is installed.
counts=()
if command -v valgrind >/dev/null 2>&1; then counts=(--counts); fi
.venv/bin/onnxgate gate --against "$ref" --models "$models" --batches 1,256 --threads 1 "${counts[@]}" \
  --output "results/ci-against-$(date +%Y%m%d-%H%M%S)"
