"""Native vs ONNX latency per execution provider, for the zoo's small models.

Run as ``python -m benchmarks.proof.provider_latency --providers CPUExecutionProvider
OpenVINOExecutionProvider`` (the ``nox -s openvino`` session does). A provider that rejects a
model is reported with the engine's reason and measured on the CPU it fell back to.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from conversion import InferenceEngine, OnnxGateError, measure_latency_improvement
from conversion.bench.prepared import prepare
from conversion.bench.zoo import ZooSpec

log = logging.getLogger("onnxgate.provider_latency")


def measure(framework: str, provider: str, *, sizes: list[int], runs: int, threads: int) -> dict[str, Any]:
    prep = prepare(ZooSpec(framework, "synthetic", "small"))
    if prep.converted is None:
        return {"framework": framework, "provider": provider, "error": f"not converted: {prep.parity_detail[:200]}"}
    try:
        engine = InferenceEngine(prep.converted, providers=[provider], threads=threads)
    except OnnxGateError as exc:
        return {"framework": framework, "provider": provider, "error": str(exc)}
    result = measure_latency_improvement(prep.zoo.model, engine, prep.zoo.X, runs, batch_sizes=sizes,
                                         method=prep.method)
    return {
        "framework": framework,
        "provider": provider,
        "session_providers": engine.providers,
        "fallback_reason": engine.fallback_reason,
        "call_path": engine.call_path,
        "threads": threads,
        "rows": [{k: r[k] for k in ("batch_size", "native_p50_ms", "onnx_p50_ms", "speedup_p50")}
                 for r in result["rows"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proof.provider_latency",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--providers", nargs="+", default=["CPUExecutionProvider"])
    parser.add_argument("--frameworks", nargs="+", default=["xgboost", "sklearn"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 1000, 10000])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = [measure(f, p, sizes=args.sizes, runs=args.runs, threads=args.threads)
               for f in args.frameworks for p in args.providers]
    # This is the command's user-facing output, hence print.
    for r in results:
        head = f"{r['framework']:>9} {r['provider']:<26}"
        if "error" in r:
            print(f"{head} ERROR {r['error']}")
            continue
        cells = "  ".join(f"{row['batch_size']:>6} rows: native {row['native_p50_ms']:.4f} ms / onnx "
                          f"{row['onnx_p50_ms']:.4f} ms = {row['speedup_p50']:.2f}x" for row in r["rows"])
        print(f"{head} {cells}")
        if r["fallback_reason"]:
            print(f"{'':>36} fell back to CPU: {r['fallback_reason']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
