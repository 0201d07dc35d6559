"""Text and markdown rendering of a gate outcome: the verdicts, a table of what changed, and which
benchmarks were compared, new or missing. The outcome (outcome.py) is data; this module renders it."""

from __future__ import annotations

from collections.abc import Iterable

from conversion.results.gate.explain import cause_of, short_commit
from conversion.results.gate.outcome import NOT_GATED, Change, GateOutcome
from conversion.results.latency_info import RowKey
from conversion.results.markdown_text import md_code, md_text

__all__ = ["benchmark_tally", "by_model", "explanation_lines", "history_line", "regressed_benchmarks",
           "regression_line", "regression_lines", "render_markdown", "render_outcome", "verdict_line"]

# What each listed group means, for the text and markdown listings.
GROUPS = (
    ("compared", "compared with the baseline"),
    ("new", "new: in the current run, not in the baseline"),
    ("missing", "missing: in the baseline, not in the current run"),
    ("unjudged", "in both but not judged"),
)

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
        str(c.key),
        c.metric,
        c.cls,
        ratio(c.baseline_ratio),
        ratio(c.current_ratio),
        "-" if c.effect is None else f"{c.effect:+.1%}",
        "-" if c.threshold is None else f"{c.threshold:.0%}",
        "-" if c.p_value is None else f"{c.p_value:.2g}",
        _time(c.baseline_p50_s),
        _time(c.current_p50_s),
    )


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*_HEADER), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]


def explanation_lines(outcome: GateOutcome) -> list[str]:
    """The "what changed" block every format leads with: the whole comparison, then each regressed model."""
    why = outcome.explanations
    lines = ["what changed:", *(f"  {line}" for line in why["run"])]
    said = {line.replace(f": {model}: ", ": ", 1) for line in why["run"] for model in why["models"]} | set(why["run"])
    regressed = by_model(sorted({c.key for c in outcome.regressed}))  # benchmarks, not their measures
    for model, reasons in why["models"].items():
        new = [r for r in reasons if r not in said]  # a model's own change is already in the block above
        n = len(regressed.get(model, []))
        lines.append(f"  regressed {model} ({n} benchmark{'s' * (n != 1)})" + (": " + "; ".join(new) if new else ""))
    return lines


# The order a regressed benchmark's measures are named in: instructions first (deterministic), then time.
_MEASURE_ORDER = ("instructions", "time", "wall", "tail", "cycles", "syscalls", "faults", "counts")
_LINE_MEASURES = 2  # measures named per REGRESSED line; the table lists them all


def _order(c: Change) -> tuple[int, float]:
    name = c.metric.partition("/")[0] if c.measure == "counts" else c.measure
    rank = _MEASURE_ORDER.index(name) if name in _MEASURE_ORDER else len(_MEASURE_ORDER)
    return rank, -(c.effect or 0.0)


def regressed_benchmarks(changes: Iterable[Change]) -> dict[RowKey, list[Change]]:
    """Each regressed benchmark's regression rows, in the order its line names them (regression_line)."""
    by_key: dict[RowKey, list[Change]] = {}
    for c in changes:
        if c.verdict == "regression":
            by_key.setdefault(c.key, []).append(c)
    return {key: sorted(rows, key=_order) for key, rows in by_key.items()}


def regression_line(changes: list[Change]) -> str:
    """One regressed benchmark's measures that rose (regressed_benchmarks' rows): the text's REGRESSED
    line and the report's per-model lines both say it this way."""
    risen = ", ".join(f"{c.metric} {c.effect or 0.0:+.0%} ({c.measure})" for c in changes[:_LINE_MEASURES])
    more = len(changes) - _LINE_MEASURES
    return risen + (f" and {more} more measure{'s' * (more != 1)}" if more > 0 else "")


def regression_lines(outcome: GateOutcome) -> list[str]:
    """One line per regressed benchmark: its measures that rose, the cause, and where the work went."""
    why = outcome.explanations
    lines = []
    for key, changes in regressed_benchmarks(outcome.changes).items():
        where = next((c.where for c in changes if c.where), ())
        # the origin that grew most and the op holding the time: the table's "where" block has the rest
        named = [w for w in where if not w.startswith("op")][:1] + [w for w in where if w.startswith("op")][:1]
        lines.append(f"REGRESSED {key}: {regression_line(changes)}; cause: {cause_of(why, key.model)}"
                     + (f"; where: {'; '.join(named)}" if named else ""))
    return lines


def history_line(outcome: GateOutcome) -> str | None:
    """When and why the baseline last moved (``gate --accept``), if it ever did."""
    history = outcome.baseline.history
    if not history:
        return None
    last = history[0]
    why = f": {last['why']}" if last.get("why") else ""
    return (f"baseline accepted {last.get('replaced', '?')}, replacing the one recorded {last.get('recorded', '?')} "
            f"(commit {short_commit(str(last.get('commit', '')))}){why}; {len(history)} earlier baseline(s) kept")


# How the verdict line names each group of benchmarks, in the order it names them.
_TALLY_WORDS = (("regression", "regressed"), ("improvement", "improved"), ("unchanged", "unchanged"),
                ("new", "new"), ("missing", "missing"), ("unconfirmed", "unconfirmed"), ("noise", "within noise"),
                ("unjudged", "not judged"))


def verdict_line(outcome: GateOutcome, *, accepted: bool = False) -> str:
    """The first line a reviewer reads: the verdict and how many benchmarks fell where."""
    head = "accepted" if accepted else {0: "PASS", 1: "FAIL"}.get(outcome.exit_code, "NO VERDICT")
    counts = benchmark_tally((c.key, c.verdict) for c in outcome.changes)
    tally = [f"{counts[v]} {word}" for v, word in _TALLY_WORDS if counts.get(v)]
    parity = f"; parity FAILED for {len(outcome.parity_failures)}" if outcome.parity_failures else ""
    return f"gate: {head}: {', '.join(tally) or 'no benchmark compared'}{parity}"


def render_outcome(outcome: GateOutcome, *, all_rows: bool = False, detail: bool = False,
                   accepted: bool = False) -> str:
    """The verdict and counts, what changed, the files, notes and failures; ``detail`` (or ``all_rows``)
    adds the listing, the table and where the work went. Each regressed benchmark's own line is
    regression_lines', which the commands print last."""
    lines = [
        verdict_line(outcome, accepted=accepted),
        *explanation_lines(outcome),
        f"baseline {outcome.baseline.path} (commit {short_commit(outcome.baseline.commit)}, "
        f"{outcome.baseline.datetime}); current {outcome.current.path} (commit {short_commit(outcome.current.commit)}, "
        f"{outcome.current.datetime})",
    ]
    moved = history_line(outcome)
    if moved:
        lines.append(moved)
    if outcome.machine_differences:
        lines.append("WARNING: compared across machines (--force): " + "; ".join(
            f"{k} {b!r} -> {c!r}" for k, (b, c) in outcome.machine_differences.items()))
    lines += [f"note: {n}" for n in outcome.notes]
    if not (detail or all_rows):
        lines += [f"parity failed: {reason}" for reason in outcome.parity_failures]
        if outcome.changes:  # (why nothing was compared goes to stderr, from the command)
            lines.append("every benchmark, its measures and where the work went: --all")
        return "\n".join(lines)
    parity = "FAIL" if outcome.parity_failures else "pass"
    perf = "FAIL" if outcome.performance_failures else "nothing compared" if outcome.nothing_compared else "pass"
    lines.append(f"parity verdict: {parity}")
    lines += [f"  - {reason}" for reason in outcome.parity_failures]
    lines.append(f"performance verdict: {perf}")
    lines += [f"  - {reason}" for reason in outcome.performance_failures]
    if outcome.nothing_compared:
        lines.append(f"  - {outcome.nothing_compared}")
    # Rows of a subset run that the baseline has are not news; count them, list them with --all.
    # NOT_GATED: the gate's note on rows it measures but never judges.
    shown = [c for c in outcome.changes
             if all_rows or (c.verdict not in ("unchanged", "missing") and c.note != NOT_GATED)]
    counts = benchmark_tally((c.key, c.verdict) for c in outcome.changes)
    lines.append("benchmarks: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    # Benchmarks no measure judged: a one-thread row whose wall time alone is not gated from 256 rows
    # is still compared (CPU ratios, counts), and is not "not gated".
    compared = set(outcome.benchmarks["compared"])
    ungated = sorted({c.key for c in outcome.changes if c.note == NOT_GATED and c.key not in compared})
    if ungated and not all_rows:
        lines.append(f"{len(ungated)} benchmarks of classes without a minimum effect (multi-threaded, non-CPU) "
                     "are reported but not gated (list them with --all)")
    lines += _listing(outcome)
    if shown:
        lines += _table([_row(c) for c in shown])
    else:
        lines.append("no benchmark changed beyond noise")
    for key, where in _where(outcome).items():
        lines += [f"where the work went, {key}:", *(f"  - {w}" for w in where)]
    return "\n".join(lines)


def _where(outcome: GateOutcome) -> dict[RowKey, tuple[str, ...]]:
    """Per regressed benchmark, the origins and ops that grew most (Change.where), once per benchmark."""
    out: dict[RowKey, tuple[str, ...]] = {}
    for c in outcome.changes:
        if c.verdict == "regression" and c.where and c.key not in out:
            out[c.key] = c.where
    return out


# One verdict per benchmark (a row judged against native, the reference and its counts is one
# row), chosen as GateOutcome.benchmarks groups them: so a tally and a listing of the same
# outcome count the same thing, benchmarks, never rule-by-rule judgements.
_JUDGED = ("regression", "improvement", "unchanged")
_UNJUDGED = ("new", "missing", "unconfirmed", "noise", "unjudged")


def benchmark_tally(changes: Iterable[tuple[RowKey, str]]) -> dict[str, int]:
    """(benchmark key, verdict) pairs -> benchmarks per verdict, one verdict per benchmark."""
    seen: dict[RowKey, set[str]] = {}
    for key, verdict in changes:
        seen.setdefault(key, set()).add(verdict)
    counts: dict[str, int] = {}
    for verdicts in seen.values():
        one = next((v for v in (*_JUDGED, *_UNJUDGED) if v in verdicts), min(verdicts))
        counts[one] = counts.get(one, 0) + 1
    return counts


def by_model(keys: Iterable[RowKey]) -> dict[str, list[str]]:
    """Benchmark keys grouped by model, each named by the rest of its key (``onnx-CPUExecutionProvider-t1 b32``)."""
    out: dict[str, list[str]] = {}
    for key in keys:
        out.setdefault(key.model, []).append(f"{key.kind} b{key.batch_size}")
    return out


def _listing(outcome: GateOutcome) -> list[str]:
    """Which benchmarks were compared, new and missing: counts, then one line per model."""
    groups = outcome.benchmarks
    compared = by_model(groups["compared"])
    lines = [f"{len(groups['compared'])} {GROUPS[0][1]}" + (":" if compared else "")]
    lines += [f"  {model}: {len(rows)} rows" for model, rows in compared.items()]
    for name, what in GROUPS[1:3]:  # unjudged rows are in the table (or counted as not gated)
        if groups[name]:
            lines.append(f"{len(groups[name])} {what}:")
            lines += [f"  {model}: {', '.join(rows)}" for model, rows in by_model(groups[name]).items()]
    return lines


def _md(cell: str) -> str:
    # Text from results files (model names, --why) is untrusted: no HTML or links in the step summary,
    # and the pipes inside benchmark keys do not split a table's cells.
    return md_text(cell)


def render_markdown(outcome: GateOutcome, *, all_rows: bool = False) -> str:
    """The verdicts as GitHub-flavoured markdown, e.g. for ``$GITHUB_STEP_SUMMARY``."""
    parity = "❌ FAIL" if outcome.parity_failures else "✅ pass"
    perf = ("❌ FAIL" if outcome.performance_failures else
            "⚠️ nothing compared" if outcome.nothing_compared else "✅ pass")
    head = {0: "✅ pass", 1: "❌ FAIL", 2: "⚠️ no verdict"}[outcome.exit_code]
    why = outcome.explanations
    lines = [f"### onnxgate gate: {head}", "", "**What changed**", ""]
    lines += [f"- {_md(line)}" for line in why["run"]]
    lines += [f"- regressed **{_md(model)}**: {_md('; '.join(reasons))}" for model, reasons in why["models"].items()]
    moved = history_line(outcome)
    lines += [f"- {_md(moved)}"] if moved else []
    lines += ["", "| verdict | result |", "|---|---|", f"| parity | {parity} |", f"| performance | {perf} |", ""]
    lines += [f"- **{label}** {md_code(run.path)} (commit {md_code(short_commit(run.commit))}, {_md(run.datetime)})"
              for label, run in (("baseline", outcome.baseline), ("current", outcome.current))]
    reasons = [*outcome.parity_failures, *outcome.performance_failures]
    if outcome.nothing_compared:
        reasons.append(outcome.nothing_compared)
    reasons += [f"note: {n}" for n in outcome.notes]
    if outcome.machine_differences:
        reasons.append("compared across machines (--force): " + "; ".join(
            f"{k} {b!r} -> {c!r}" for k, (b, c) in outcome.machine_differences.items()))
    lines += [f"- {_md(r)}" for r in reasons]
    groups = outcome.benchmarks
    lines += ["", " · ".join(f"{len(groups[name])} {name}" for name, _ in GROUPS), ""]
    shown = [c for c in outcome.changes
             if all_rows or (c.verdict not in ("unchanged", "missing") and c.note != NOT_GATED)]
    if shown:
        lines += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        lines += ["| " + " | ".join(_md(cell) for cell in _row(c)) + " |" for c in shown]
    else:
        lines.append("No benchmark changed beyond noise.")
    for key, where in _where(outcome).items():
        lines += ["", f"**Where the work went**, {md_code(key)}:", "", *(f"- {_md(w)}" for w in where)]
    for name, what in GROUPS[1:3]:
        if groups[name]:
            lines += ["", f"<details><summary>{len(groups[name])} {what}</summary>", ""]
            lines += [f"- {md_code(model)}: {_md(', '.join(rows))}" for model, rows in by_model(groups[name]).items()]
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
