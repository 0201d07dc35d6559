"""The gate's verdict as the report and `onnxgate run` show it: a summary line, the full text and the
outcome's data (``GateOutcome.to_dict()``, which the report reads back with ``GateOutcome.from_dict``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conversion.errors import ResultsError
from conversion.results.benchmark_runs import Run, load_run

__all__ = ["gate_summary"]


def gate_summary(baseline: Path, current: Run | Path) -> dict[str, Any]:
    """The gate's verdict (conversion.results.gate) as the report shows it; ``baseline`` may be
    a folder of baselines, one per machine type (the one of this run's machine is used).
    ``current``: a bench results file, or its Run when the caller has parsed it already."""
    from conversion.results.baseline_choice import choose_baseline
    from conversion.results.gate.judge import gate_files
    from conversion.results.gate.table import benchmark_tally, regression_lines, render_outcome

    current = current if isinstance(current, Run) else load_run(current)
    choice = choose_baseline(baseline, current)
    if choice.path is None:  # no baseline for this machine type: no verdict, and no failure either
        return {"passed": True, "gate_skipped": choice.skipped, "summary": choice.skipped, "text": "", "data": None}
    baseline = choice.path
    outcome = gate_files(baseline, current)
    if outcome.nothing_compared and not outcome.parity_failures:
        raise ResultsError(f"{outcome.nothing_compared} (baseline {baseline})")  # no verdict, not a pass
    counts = benchmark_tally((c.key, c.verdict) for c in outcome.changes)  # benchmarks, as listed
    parity = "FAIL" if outcome.parity_failures else "pass"
    perf = "FAIL" if outcome.performance_failures else "pass"
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return {"passed": outcome.exit_code == 0,
            "summary": f"parity {parity}, performance {perf} against {baseline} ({tally})",
            "text": render_outcome(outcome, detail=True), "data": outcome.to_dict(),
            "regressions": regression_lines(outcome)}
