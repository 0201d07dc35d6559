"""The lines `onnxgate bench` ends with: per model, its ONNX/native time ratio at each batch size.

Read from the results file the run just wrote, so the console says what the file holds.
"""

from __future__ import annotations

from collections import defaultdict

from conversion.results.benchmark_runs import Run

__all__ = ["model_lines"]


def model_lines(run: Run) -> list[str]:
    """``model: ONNX/native 0.08 at 1 row, 0.77 at 256, ...`` per model, single-threaded CPU ONNX rows.

    A ratio below 1 means ONNX Runtime took less CPU time than the native model (medians of
    the interleaved per-round ratios, the same figure the gate judges).
    """
    by_model: dict[str, dict[int, float]] = defaultdict(dict)
    for rec in run.records:
        if rec.runtime == "onnx" and (rec.threads or 1) == 1 and rec.provider == "CPUExecutionProvider" \
                and rec.ratio_kind == "onnx/native" and rec.ratio_rounds:
            by_model[rec.model][rec.batch_size] = rec.ratio_median
    lines = []
    for model in sorted(by_model):
        ratios = sorted(by_model[model].items())
        cells = ", ".join(f"{r:.2f} at {b}" + (" row" if b == 1 else "") for b, r in ratios)
        lines.append(f"{model}: ONNX/native CPU time {cells} (below 1: ONNX faster)")
    return lines
