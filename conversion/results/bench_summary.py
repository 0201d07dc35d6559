"""The lines `onnxgate bench` ends with: per model, ONNX's time against the fastest native call at each batch size.

Read from the results file the run just wrote, so the console says what the file holds.
"""

from __future__ import annotations

from collections import defaultdict

from conversion.results.benchmark_runs import Record, Run
from conversion.runtime.timing import percentile

__all__ = ["model_lines", "onnx_vs_best_native"]


def _one_thread_cpu(rec: Record) -> bool:
    return rec.runtime == "onnx" and (rec.threads or 1) == 1 and rec.provider == "CPUExecutionProvider"


def onnx_vs_best_native(onnx: Record, natives: list[Record]) -> tuple[float, str] | None:
    """(ONNX / the faster native path's CPU time, that path's label), from interleaved ratios.

    Each row was timed round by round against the same reference model on the same rows, so
    median(onnx/reference) / median(native/reference) compares two rows that never ran in one
    loop; the wrapper's own onnx/native ratio is the fallback where a row lacks reference rounds.
    """
    if onnx.ref_ratio_rounds:
        by_path = [(percentile(n.ratio_rounds, 50), n.label) for n in natives
                   if n.ratio_kind == "native/reference" and n.ratio_rounds]
        if by_path:
            native_ref, label = min(by_path)
            return percentile(onnx.ref_ratio_rounds, 50) / native_ref, label
    if onnx.ratio_kind == "onnx/native" and onnx.ratio_rounds:
        return onnx.ratio_median, "native"
    return None


def model_lines(run: Run) -> list[str]:
    """``model: ONNX/best native 0.08 at 1 row (Booster.predict), ...`` per model, single-threaded CPU ONNX rows.

    A ratio below 1 means ONNX Runtime took less CPU time than the faster of the wrapper's call
    and the adapter's fastest native call.
    """
    natives: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for rec in run.records:
        if rec.runtime == "native":
            natives[(rec.model, rec.batch_size)].append(rec)
    by_model: dict[str, dict[int, tuple[float, str]]] = defaultdict(dict)
    for rec in run.records:
        if _one_thread_cpu(rec):
            ratio = onnx_vs_best_native(rec, natives[(rec.model, rec.batch_size)])
            if ratio is not None:
                by_model[rec.model][rec.batch_size] = ratio
    lines = []
    for model in sorted(by_model):
        cells = ", ".join(f"{r:.2f} at {b}" + (" row" if b == 1 else "") + f" ({label})"
                          for b, (r, label) in sorted(by_model[model].items()))
        lines.append(f"{model}: ONNX/fastest native CPU time {cells} (below 1: ONNX faster)")
    return lines
