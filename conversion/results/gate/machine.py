"""What differs between the two runs' machines and software, for the gate to refuse, note or adjust to."""

from __future__ import annotations

from typing import Any

from conversion.results.baseline_choice import fingerprint_differences
from conversion.results.benchmark_runs import Run, percentile

__all__ = ["machine_differences", "machine_state_change", "unrecorded_machine_fields"]


def machine_differences(baseline: Run, current: Run) -> dict[str, tuple[Any, Any]]:
    """The machine fields that differ, by the rule that also chooses a baseline from a folder."""
    return fingerprint_differences(baseline.machine, current.machine)


def unrecorded_machine_fields(baseline: Run, current: Run) -> list[str]:
    """Fingerprint fields the current run records and the (older) baseline does not."""
    return sorted(set(current.machine) - set(baseline.machine))


def _software_changes(baseline: Run, current: Run) -> dict[str, tuple[Any, Any]]:
    b, c = baseline.software, current.software
    keys = [k for k in sorted(set(b) | set(c)) if isinstance(b.get(k, ""), str | None) and b.get(k) != c.get(k)]
    lists = [k for k in sorted(set(b) | set(c)) if isinstance(b.get(k), list) and b.get(k) != c.get(k)]
    return {k: (b.get(k), c.get(k)) for k in keys + lists}


def machine_state_change(baseline: Run, current: Run) -> float | None:
    """Median over shared rows of the reference model's CPU time, current / baseline - 1."""
    base = {r.key: r.reference_cpu_s for r in baseline.records if r.reference_cpu_s}
    ratios = sorted(r.reference_cpu_s / base[r.key] for r in current.records if r.reference_cpu_s and r.key in base)
    return percentile(ratios, 50) - 1.0 if ratios else None
