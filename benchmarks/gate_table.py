"""Plain-text rendering of a gate outcome: the verdicts, then a table of what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.gate import Change, GateOutcome

__all__ = ["render_outcome"]

_HEADER = ("verdict", "benchmark", "ratio", "class", "base", "now", "change", "min", "p", "base p50", "p50 now")


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g}{unit}"
    return f"{seconds / 1e-9:.3g}ns"


def _row(c: Change) -> tuple[str, ...]:
    def ratio(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"  # counts are large integers

    return (
        c.verdict.upper() if c.verdict == "regression" else c.verdict,
        c.key,
        c.metric,
        c.cls,
        ratio(c.baseline_ratio),
        ratio(c.current_ratio),
        "-" if c.effect is None else f"{c.effect:+.1%}",
        "-" if c.threshold is None else f"{c.threshold:.0%}",
        "-" if c.p_value is None else f"{c.p_value:.2g}",
        _time(c.baseline.p50 if c.baseline else None),
        _time(c.current.p50 if c.current else None),
    )


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*_HEADER), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]


def render_outcome(outcome: GateOutcome, *, all_rows: bool = False) -> str:
    lines = [
        *(f"{label} {run.path} (commit {run.commit[:10] or '?'}, {run.datetime})"
          for label, run in (("baseline:", outcome.baseline), ("current: ", outcome.current))),
    ]
    if outcome.machine_differences:
        lines.append("WARNING: compared across machines (--force): " + "; ".join(
            f"{k} {b!r} -> {c!r}" for k, (b, c) in outcome.machine_differences.items()))
    if outcome.software_changes:
        lines.append("software changed: " + "; ".join(
            f"{k} {b} -> {c}" for k, (b, c) in outcome.software_changes.items()))
    lines += [f"note: {n}" for n in outcome.notes]
    parity = "FAIL" if outcome.parity_failures else "pass"
    perf = "FAIL" if outcome.performance_failures else "pass"
    lines.append(f"parity verdict: {parity}")
    lines += [f"  - {reason}" for reason in outcome.parity_failures]
    lines.append(f"performance verdict: {perf}")
    lines += [f"  - {reason}" for reason in outcome.performance_failures]
    # Rows of a subset run that the baseline has are not news; count them, list them with --all.
    from benchmarks.gate import NOT_GATED

    shown = [c for c in outcome.changes
             if all_rows or (c.verdict not in ("unchanged", "missing") and c.note != NOT_GATED)]
    counts: dict[str, int] = {}
    for c in outcome.changes:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    lines.append("benchmarks: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    missing = sorted({c.key for c in outcome.changes if c.verdict == "missing"})
    ungated = sorted({c.key for c in outcome.changes if c.note == NOT_GATED})
    if ungated and not all_rows:
        lines.append(f"{len(ungated)} multi-threaded benchmarks are reported but not gated (list them with --all)")
    if missing and not all_rows:
        lines.append(f"{len(missing)} baseline benchmarks were not in the current run (list them with --all)")
    if shown:
        lines += _table([_row(c) for c in shown])
    else:
        lines.append("no benchmark changed beyond noise")
    return "\n".join(lines)
