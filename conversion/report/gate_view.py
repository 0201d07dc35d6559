"""The gate's verdict as the report shows it: one verdict per model for the top table, the
whole comparison's block below it, and the baseline's history.

Reads the dict a gate outcome serialises to (``GateOutcome.to_dict()``, under ``gate["data"]``),
plus the keys the baseline tools may add: ``explanations`` (``{"run": [...], "models": {name:
[...]}}``), ``baseline_history`` (one entry per time the baseline was replaced) and
``gate_skipped``. Every count is of benchmarks (one per model, runtime and batch size), the
unit of the gate's own listing, never of rule-by-rule judgements.
"""

from __future__ import annotations

from typing import Any

from conversion.results.gate.table import benchmark_tally, by_model

__all__ = ["gate_block", "model_gates"]

MAX_LINES = 3  # regressions listed per model in the top table; the rest are in the gate's table

# Entry keys of the baseline's history (results/baseline_choice.accept_baseline) shown first: when
# it moved and why, then what the replaced baseline was.
_HISTORY_FIRST = ("replaced", "why", "recorded", "commit", "replaced_by_commit")
_HEX = frozenset("0123456789abcdef")


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


def _where(key: str) -> str:
    """``churn|onnx-CPUExecutionProvider-t1|b32`` -> ``onnx CPU t1, batch 32``."""
    rest = key.partition("|")[2] or key
    path, _, batch = rest.rpartition("|")
    path = path.replace("ExecutionProvider", "").replace("-", " ")
    return f"{path}, batch {batch[1:]}" if batch.startswith("b") and batch[1:].isdigit() else rest.replace("|", " ")


def _regression_line(c: dict[str, Any]) -> str:
    effect = "" if c.get("effect") is None else f" {c['effect']:+.0%}"
    floor = "" if c.get("threshold") is None else f" (minimum {c['threshold']:.0%})"
    p50 = ""
    if c.get("baseline_p50_s") is not None and c.get("current_p50_s") is not None:
        p50 = f"; p50 {_time(c['baseline_p50_s'])} → {_time(c['current_p50_s'])}"
    return f"{_where(c['key'])}: {c.get('metric') or 'ratio'}{effect}{floor}{p50}"


def _explanations(data: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    found = data.get("explanations") or {}
    models = {name: [_text(x) for x in lines or []] for name, lines in (found.get("models") or {}).items()}
    return [_text(x) for x in found.get("run") or []], models


def model_gates(gate: dict[str, Any] | None, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per model of the top table: {"state": "fail" | "pass" | "new" | "skipped", "badge", "label", "lines"}.

    A model the gate never saw (not in the current benchmark file) gets no entry.
    """
    if not gate:
        return {}
    data = gate.get("data") or {}
    _, explained = _explanations(data)
    skipped = data.get("gate_skipped") or gate.get("gate_skipped")
    if skipped:
        why = _text(skipped) if not isinstance(skipped, bool) else "no baseline for this machine type"
        return {n: {"state": "skipped", "badge": "not gated", "label": "", "lines": [why]} for n in names}
    changes = data.get("changes") or []
    benchmarks = data.get("benchmarks") or {}
    compared, new = by_model(benchmarks.get("compared") or []), by_model(benchmarks.get("new") or [])
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        own = [c for c in changes if c["key"].partition("|")[0] == name]
        if not own and name not in explained:
            continue
        regressions = [c for c in own if c["verdict"] == "regression"]
        # one line per regressed benchmark, the largest first (a benchmark regressing on two ratios once)
        worst: dict[str, dict[str, Any]] = {}
        for c in sorted(regressions, key=lambda c: -(c.get("effect") or 0)):
            worst.setdefault(c["key"], c)
        lines = [*explained.get(name, [])]
        lines += [_regression_line(c) for c in list(worst.values())[:MAX_LINES]]
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


def _history(data: dict[str, Any]) -> dict[str, Any] | None:
    entries = [e for e in data.get("baseline_history") or [] if e]
    if not entries:
        return None
    if not all(isinstance(e, dict) for e in entries):
        return {"columns": ["entry"], "rows": [[_text(e)] for e in entries]}
    keys = list(dict.fromkeys(k for e in entries for k in e))
    columns = [k for k in _HISTORY_FIRST if k in keys] + [k for k in keys if k not in _HISTORY_FIRST]
    return {"columns": [c.replace("_", " ") for c in columns],
            "rows": [[_value(e.get(c)) for c in columns] for e in entries]}


def gate_block(gate: dict[str, Any] | None) -> dict[str, Any] | None:
    """The whole comparison: verdict, counts (of benchmarks), explanations, failures, history."""
    if not gate:
        return None
    data = gate.get("data") or {}
    run_lines, _ = _explanations(data)
    groups = data.get("benchmarks") or {}
    tally = benchmark_tally((c["key"], c["verdict"]) for c in data.get("changes") or [])
    judged = ", ".join(f"{tally[v]} {'regressed' if v == 'regression' else v}"
                       for v in ("regression", "improvement", "unchanged") if tally.get(v))
    counts = None
    if groups:
        counts = (f"{len(groups.get('compared') or [])} benchmarks compared" + (f" ({judged})" if judged else "")
                  + f", {len(groups.get('new') or [])} new, {len(groups.get('missing') or [])} missing"
                  + (f", {len(groups['unjudged'])} not judged" if groups.get("unjudged") else ""))
    listing = [(what, by_model(groups[name])) for name, what in
               (("new", "new: in the current run, not in the baseline"),
                ("missing", "missing: in the baseline, not in the current run")) if groups.get(name)]
    skipped = data.get("gate_skipped") or gate.get("gate_skipped")
    parity, performance = data.get("parity") or {}, data.get("performance") or {}
    headline = None
    if parity and performance:
        where = (data.get("baseline") or {}).get("path")
        headline = (f"parity {'pass' if parity.get('passed') else 'FAIL'}, "
                    f"performance {'pass' if performance.get('passed') else 'FAIL'}"
                    + (f" against {where}" if where else ""))
    regressed = sorted({r["key"].partition("|")[0] for r in data.get("regressions") or [] if r.get("key")})
    base_path, cur_path = (data.get("baseline") or {}).get("path"), (data.get("current") or {}).get("path")
    accept = (f'onnxgate gate --baseline {base_path} --current {cur_path} --accept --why "..."'
              if regressed and base_path and cur_path else None)
    return {
        "passed": bool(gate.get("passed")),
        "regressed_models": regressed, "accept": accept,  # the banner at the top of the report
        "skipped": (_text(skipped) if not isinstance(skipped, bool) else "no baseline for this machine type")
        if skipped else None,
        "summary": gate.get("summary", ""), "headline": headline,
        "counts": counts,
        "explanations": run_lines,
        "failures": [*(parity.get("failures") or []), *(performance.get("failures") or [])],
        "notes": [*(data.get("notes") or []), *(f"software changed: {k} {_value(v)}" for k, v in
                                                (data.get("software_changes") or {}).items())],
        "baseline": data.get("baseline") or {}, "current": data.get("current") or {},
        "history": _history(data),
        "listing": listing,
        "columns": gate.get("columns") or [], "rows": gate.get("rows") or [], "text": gate.get("text") or "",
    }
