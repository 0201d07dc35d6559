"""The gate's verdict as the report and `onnxgate run` show it: a summary line, the rows that
changed (figures as short strings), the full text and the outcome's data."""

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
        return {"passed": True, "gate_skipped": choice.skipped, "summary": choice.skipped, "columns": [],
                "rows": [], "text": "", "data": None}
    baseline = choice.path
    outcome = gate_files(baseline, current)
    if outcome.nothing_compared and not outcome.parity_failures:
        raise ResultsError(f"{outcome.nothing_compared} (baseline {baseline})")  # no verdict, not a pass
    data = outcome.to_dict()
    columns = ["key", "class", "verdict", "baseline_ratio", "current_ratio", "effect", "p_value", "note"]
    # Unchanged rows are the noise the gate exists to ignore; missing ones are benchmarks this run
    # did not select (e.g. `run --framework xgboost`); new ones have nothing to be judged against
    # (the zoo's bundled datasets, which the baseline's `onnxgate bench` does not measure). All
    # three are counted, not listed.
    rows = [{k: (f"{c[k]:.3g}" if isinstance(c.get(k), float) else c.get(k)) for k in columns}
            for c in data["changes"] if c["verdict"] not in ("unchanged", "missing", "new")]
    counts = benchmark_tally((c["key"], c["verdict"]) for c in data["changes"])  # benchmarks, as listed
    parity = "pass" if data["parity"]["passed"] else "FAIL"
    perf = "pass" if data["performance"]["passed"] else "FAIL"
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return {"passed": outcome.exit_code == 0,
            "summary": f"parity {parity}, performance {perf} against {baseline} ({tally})",
            "columns": columns, "rows": rows, "text": render_outcome(outcome, detail=True), "data": data,
            "regressions": regression_lines(outcome)}
