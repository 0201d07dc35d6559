"""The gate's verdict as the report shows it: one verdict per model for the top table, the
whole comparison's block below it, and the baseline's history.

The verdict arrives as ``gate_summary()``'s dict or run.json's ``"gate"``; ``GateVerdict.from_dict`` reads
it once, the outcome typed (``GateOutcome.from_dict``), with the key the baseline tools may add:
``gate_skipped``. Every count is of benchmarks (one per model, runtime and batch size), the unit of
the gate's own listing, never of rule-by-rule judgements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conversion.errors import ResultsError
from conversion.results.gate.outcome import Change, GateOutcome
from conversion.results.gate.table import benchmark_tally, by_model, regressed_benchmarks, regression_line
from conversion.results.latency_info import RowKey

__all__ = ["GateVerdict", "gate_block", "model_gates"]

MAX_LINES = 3  # regressions listed per model in the top table; the rest are in the gate's table

# Entry keys of the baseline's history (results/baseline_choice.accept_baseline) shown first: when
# it moved and why, then what the replaced baseline was.
_HISTORY_FIRST = ("replaced", "why", "recorded", "commit", "replaced_by_commit")
_HEX = frozenset("0123456789abcdef")
# The gate's table in the report. Unchanged rows are the noise the gate exists to ignore; missing ones
# are benchmarks this run did not select (e.g. `run --framework xgboost`); new ones have nothing to be
# judged against (the zoo's bundled datasets, which the baseline's `onnxgate bench` does not measure).
# All three are counted, not listed.
_COLUMNS = ("key", "class", "verdict", "baseline_ratio", "current_ratio", "effect", "p_value", "note")
_UNLISTED = ("unchanged", "missing", "new")


@dataclass(frozen=True)
class GateVerdict:
    """The gate's verdict as the report reads it; ``outcome`` is None when no baseline was found."""

    passed: bool
    summary: str
    text: str
    skipped: str | None  # why the run was not gated
    outcome: GateOutcome | None

    @classmethod
    def from_dict(cls, gate: dict[str, Any] | None) -> GateVerdict | None:
        """``gate_summary()``'s dict (also run.json's ``"gate"``); ResultsError if it is damaged."""
        if not gate:
            return None
        try:
            data = gate.get("data") or {}
            skipped = data.get("gate_skipped") or gate.get("gate_skipped")
            outcome = GateOutcome.from_dict(data) if data else None
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"the gate verdict in the results is damaged ({type(exc).__name__}: {exc}); "
                               "gate again with `onnxgate gate` or `onnxgate run --baseline`") from None
        return cls(bool(gate.get("passed")), str(gate.get("summary") or ""), str(gate.get("text") or ""),
                   (_text(skipped) if not isinstance(skipped, bool) else "no baseline for this machine type")
                   if skipped else None, outcome)


def _text(item: Any) -> str:
    """One explanation line, whether the gate wrote it as a string or as a small dict."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "message", "line", "summary"):
            if isinstance(item.get(key), str):
                return item[key]
        return "; ".join(f"{k}: {_value(v)}" for k, v in item.items())
    return str(item)


def _value(v: Any) -> str:
    if isinstance(v, dict):  # one model's (or one library's) facts; several models apart by "; "
        sep = "; " if any(isinstance(x, dict) for x in v.values()) else ", "
        return sep.join(f"{k}: {_value(x)}" if isinstance(x, dict) else f"{k} {_value(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return " → ".join(map(_value, v)) if len(v) == 2 and not any(isinstance(x, dict | list) for x in v) \
            else ", ".join(map(_value, v))
    if isinstance(v, str) and len(v) >= 40 and set(v) <= _HEX:
        return v[:12]  # a hash: its head is enough to tell two apart
    return "" if v is None else str(v)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _where(key: RowKey) -> str:
    """``churn|onnx-CPUExecutionProvider-t1|b32`` -> ``onnx CPU t1, batch 32``."""
    return f"{key.kind.replace('ExecutionProvider', '').replace('-', ' ')}, batch {key.batch_size}"


def _regression_line(key: RowKey, changes: list[Change]) -> str:
    p50 = next((f"; p50 {_time(c.baseline_p50_s)} → {_time(c.current_p50_s)}" for c in changes
                if c.baseline_p50_s is not None and c.current_p50_s is not None), "")
    return f"{_where(key)}: {regression_line(changes)}{p50}"


def _explanations(outcome: GateOutcome) -> tuple[list[str], dict[str, list[str]]]:
    found = outcome.explanations
    models = {name: [_text(x) for x in lines or []] for name, lines in (found.get("models") or {}).items()}
    return [_text(x) for x in found.get("run") or []], models


def model_gates(gate: GateVerdict | None, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per model of the top table: {"state": "fail" | "pass" | "new" | "skipped", "badge", "label", "lines"}.

    A model the gate never saw (not in the current benchmark file) gets no entry.
    """
    if gate is None:
        return {}
    if gate.skipped:
        return {n: {"state": "skipped", "badge": "not gated", "label": "", "lines": [gate.skipped]} for n in names}
    outcome = gate.outcome
    if outcome is None:
        return {}
    _, explained = _explanations(outcome)
    benchmarks = outcome.benchmarks
    compared, new = by_model(benchmarks["compared"]), by_model(benchmarks["new"])
    seen = {c.key.model for c in outcome.changes}
    # one line per regressed benchmark, the largest rise first (a benchmark regressing on two ratios once)
    regressed = sorted(regressed_benchmarks(outcome.changes).items(),
                       key=lambda kc: -max(c.effect or 0.0 for c in kc[1]))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in seen and name not in explained:
            continue
        worst = [(key, changes) for key, changes in regressed if key.model == name]
        lines = [*explained.get(name, [])]
        lines += [_regression_line(key, changes) for key, changes in worst[:MAX_LINES]]
        if len(worst) > MAX_LINES:
            lines.append(f"and {len(worst) - MAX_LINES} more regressed benchmarks (the gate's table below)")
        n_compared = len(compared.get(name, []))
        if worst:
            state, badge, label = "fail", "regressed", f"{len(worst)} of {n_compared} benchmarks"
        elif n_compared:
            state, badge, label = "pass", "pass", f"{n_compared} benchmarks, none regressed"
        elif new.get(name):
            state, badge, label = "new", "new", "not in the baseline: nothing to compare"
        else:
            state, badge, label = "skipped", "not compared", ""
        out[name] = {"state": state, "badge": badge, "label": label, "lines": lines}
    return out


def _history(entries: list[Any]) -> dict[str, Any] | None:
    entries = [e for e in entries if e]
    if not entries:
        return None
    if not all(isinstance(e, dict) for e in entries):
        return {"columns": ["entry"], "rows": [[_text(e)] for e in entries]}
    keys = list(dict.fromkeys(k for e in entries for k in e))
    columns = [k for k in _HISTORY_FIRST if k in keys] + [k for k in keys if k not in _HISTORY_FIRST]
    return {"columns": [c.replace("_", " ") for c in columns],
            "rows": [[_value(e.get(c)) for c in columns] for e in entries]}


def _table_row(c: Change) -> dict[str, Any]:
    cells = {"key": str(c.key), "class": c.cls, "verdict": c.verdict, "baseline_ratio": c.baseline_ratio,
             "current_ratio": c.current_ratio, "effect": c.effect, "p_value": c.p_value, "note": c.note}
    return {k: f"{v:.3g}" if isinstance(v, float) else v for k, v in cells.items()}


def gate_block(gate: GateVerdict | None) -> dict[str, Any] | None:
    """The whole comparison: verdict, counts (of benchmarks), explanations, failures, history."""
    if gate is None:
        return None
    block: dict[str, Any] = {
        "passed": gate.passed, "regressed_models": [], "accept": None, "skipped": gate.skipped,
        "summary": gate.summary, "headline": None, "counts": None, "explanations": [], "failures": [], "notes": [],
        "baseline": {}, "current": {}, "history": None, "listing": [], "columns": list(_COLUMNS), "rows": [],
        "text": gate.text,
    }
    outcome = gate.outcome
    if outcome is None:
        return block
    groups = outcome.benchmarks
    tally = benchmark_tally((c.key, c.verdict) for c in outcome.changes)
    judged = ", ".join(f"{tally[v]} {'regressed' if v == 'regression' else v}"
                       for v in ("regression", "improvement", "unchanged") if tally.get(v))
    base_path, cur_path = str(outcome.baseline.path), str(outcome.current.path)
    regressed = sorted({c.key.model for c in outcome.regressed})
    block.update(
        # the banner at the top of the report
        regressed_models=regressed,
        accept=(f'onnxgate gate --baseline {base_path} --current {cur_path} --accept --why "..."'
                if regressed else None),
        headline=(f"parity {'FAIL' if outcome.parity_failures else 'pass'}, "
                  f"performance {'FAIL' if outcome.performance_failures else 'pass'} against {base_path}"),
        counts=(f"{len(groups['compared'])} benchmarks compared" + (f" ({judged})" if judged else "")
                + f", {len(groups['new'])} new, {len(groups['missing'])} missing"
                + (f", {len(groups['unjudged'])} not judged" if groups["unjudged"] else "")),
        explanations=_explanations(outcome)[0],
        failures=[*outcome.parity_failures, *outcome.performance_failures],
        notes=[*outcome.notes, *(f"software changed: {k} {_value(v)}" for k, v in outcome.software_changes.items())],
        baseline={"path": base_path, "commit": outcome.baseline.commit, "datetime": outcome.baseline.datetime},
        current={"path": cur_path, "commit": outcome.current.commit, "datetime": outcome.current.datetime},
        history=_history(outcome.baseline.history),
        listing=[(what, by_model(groups[name])) for name, what in
                 (("new", "new: in the current run, not in the baseline"),
                  ("missing", "missing: in the baseline, not in the current run")) if groups[name]],
        rows=[_table_row(c) for c in outcome.changes if c.verdict not in _UNLISTED],
    )
    return block
