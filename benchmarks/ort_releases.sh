#!/usr/bin/env bash
# Session creation of saved graphs under several onnxruntime releases, one throwaway venv each
# (the table in docs/versions.md). Usage:
#   .venv/bin/python benchmarks/load_check.py --save-graphs .venv-ort/graphs   # the zoo's graphs
#   bash benchmarks/ort_releases.sh .venv-ort/graphs 1.21.1 1.22.0 1.24.3
# Each load runs in its own process under `timeout` (TIMEOUT seconds, default 60), with one
# intra-op thread; it prints the seconds, FAIL and ONNX Runtime's first line, or TIMEOUT.
set -uo pipefail
graphs=$1; shift
root=.venv-ort
load='import sys, time, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.log_severity_level = 3
t = time.perf_counter()
try:
    ort.InferenceSession(sys.argv[1], sess_options=so, providers=["CPUExecutionProvider"])
except Exception as e:
    print("FAIL", str(e).strip().splitlines()[0][:150]); sys.exit(0)
print(f"{time.perf_counter() - t:.3f} s")'
for v in "$@"; do
  venv=$root/v$v
  if ! "$venv/bin/python" -c "import onnxruntime" 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -qq "onnxruntime==$v" || { echo "$v: cannot install"; continue; }
  fi
  for g in "$graphs"/*.onnx; do
    r=$(timeout "${TIMEOUT:-60}" "$venv/bin/python" -c "$load" "$g" 2>&1 | tail -1)
    echo "onnxruntime $v $(basename "$g" .onnx): ${r:-TIMEOUT after ${TIMEOUT:-60} s}"
  done
done
