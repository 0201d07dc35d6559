"""The lines `onnxgate bench` ends with: per model, ONNX's time against the fastest native call at each batch size.

Read from the results file the run just wrote, so the console says what the file holds.
"""

from __future__ import annotations

from collections import defaultdict

from conversion.results.benchmark_runs import Record, Run
from conversion.results.speedups import best_native, speedup

__all__ = ["model_lines"]


def model_lines(run: Run) -> list[str]:
    """``model: ONNX/fastest native CPU time 0.08 at 1 row (native Booster.predict), ...`` per model.

    Single-threaded CPU ONNX rows against the faster of the wrapper's call and the adapter's
    fastest call (results/speedups.py): below 1, ONNX Runtime took less time.
    """
    natives: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for rec in run.records:
        if rec.runtime == "native" and not rec.threads:
            natives[(rec.model, rec.batch_size)].append(rec)
    by_model: dict[str, dict[int, tuple[float, str]]] = defaultdict(dict)
    for rec in run.records:
        native = best_native(natives[(rec.model, rec.batch_size)])
        if native is not None and rec.runtime == "onnx" and (rec.threads or 1) == 1 \
                and rec.provider == "CPUExecutionProvider":
            by_model[rec.model][rec.batch_size] = (1 / speedup(native, rec), native.label)
    lines = []
    for model in sorted(by_model):
        cells = ", ".join(f"{r:.2f} at {b}" + (" row" if b == 1 else "") + f" ({label})"
                          for b, (r, label) in sorted(by_model[model].items()))
        lines.append(f"{model}: ONNX/fastest native CPU time {cells} (below 1: ONNX faster)")
    return lines
