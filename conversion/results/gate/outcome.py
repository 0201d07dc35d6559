"""The gate's verdict as data: a ``Change`` per row and partner, the ``GateOutcome`` and its JSON.

The rules (rules.py, judge.py) make these; table.py renders them as text and markdown; the report,
the CLI and CI read them. Nothing here judges or renders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from conversion.results.benchmark_runs import Record, Run
from conversion.results.latency_info import RowKey

__all__ = ["COMPARED", "NOT_GATED", "Change", "GateOutcome", "outcome_json"]

# The note on rows the gate measures but never judges (why: figures.py, beside MIN_EFFECT).
NOT_GATED = ("not gated: no minimum effect for this class on a 2-core shared machine (multi-threaded rows: "
             "spin-wait CPU time; providers other than CPU: not measured; wall time from 256 rows: preemption)")
COMPARED = frozenset({"regression", "improvement", "unchanged"})  # verdicts of a benchmark judged against the baseline


@dataclass(frozen=True)
class Change:
    """One benchmark's comparison against one partner, for the table."""

    key: RowKey
    cls: str
    baseline: Record | None
    current: Record | None
    # "regression" | "improvement" | "unchanged" | "new" | "missing" | "unjudged" | "noise" | "unconfirmed"
    verdict: str
    effect: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    note: str = ""
    metric: str = ""  # the ratio judged, e.g. "onnx/native"
    baseline_ratio: float | None = None
    current_ratio: float | None = None
    name: str = ""  # the benchmark's pytest name, for messages
    # each side's p50, seconds: its record's, or (an outcome read back from JSON, which keeps no records) as written
    baseline_p50_s: float | None = None
    current_p50_s: float | None = None

    def __post_init__(self) -> None:
        for side in ("baseline", "current"):
            record = getattr(self, side)
            if record is not None:
                object.__setattr__(self, f"{side}_p50_s", record.p50)

    @property
    def reason(self) -> str:
        """A regression as one line of the gate's verdict."""
        return (f"{self.name or self.key}: {self.metric} ratio +{self.effect or 0.0:.0%} "
                f"(minimum {self.threshold or 0.0:.0%}, Mann-Whitney p={self.p_value or 0.0:.2g})")
    # which measure judged it: "time" (interleaved CPU ratios), "wall" (wall-time ratios), "tail"
    # (p90/p99 of the tail block) or "counts" (instructions)
    measure: str = "time"
    where: tuple[str, ...] = ()  # where the work went: the origins and ops that grew most (explain.py)

    def to_dict(self) -> dict[str, Any]:
        """The row as the gate's JSON keeps it: every field but the two records, the class as ``class``."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RECORD_SIDES}
        return {**row, "key": str(self.key), "class": row.pop("cls"), "where": list(self.where)}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Change:
        """The row ``to_dict`` wrote (no records: those stay in the results files)."""
        rest = {f.name for f in fields(cls)} - _RECORD_SIDES - {"key", "cls", "verdict", "where"}
        return cls(RowKey.parse(str(row["key"])), str(row.get("class", "")), None, None, str(row["verdict"]),
                   where=tuple(row.get("where") or ()), **{k: row[k] for k in rest if k in row})


_RECORD_SIDES = frozenset({"baseline", "current"})


@dataclass
class GateOutcome:
    baseline: Run
    current: Run
    changes: list[Change]
    parity_failures: list[str]
    performance_failures: list[str]
    software_changes: dict[str, tuple[Any, Any]]
    machine_differences: dict[str, tuple[Any, Any]]
    notes: list[str] = field(default_factory=list)
    # What changed, as an outcome read back from JSON keeps it (its runs hold no records to explain from)
    explained: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """1 on a parity or performance failure; 2 when no benchmark could be compared at all."""
        if self.parity_failures or self.performance_failures:
            return 1
        return 2 if self.nothing_compared else 0

    @property
    def benchmarks(self) -> dict[str, list[RowKey]]:
        """Benchmark keys by outcome: compared (judged against the baseline), new, missing, unjudged."""
        verdicts: dict[RowKey, set[str]] = {}
        for c in self.changes:
            verdicts.setdefault(c.key, set()).add(c.verdict)
        out: dict[str, list[RowKey]] = {"compared": [], "new": [], "missing": [], "unjudged": []}
        for key, seen in sorted(verdicts.items()):
            if seen & COMPARED:  # judged against at least one partner
                out["compared"].append(key)
            elif seen & {"new", "missing"}:
                out["new" if "new" in seen else "missing"].append(key)
            else:
                out["unjudged"].append(key)
        return out

    @property
    def nothing_compared(self) -> str | None:
        """Why no benchmark was judged, or None when at least one was.

        A gate that compared nothing has no performance verdict; calling that a pass would let
        a baseline of other models (or a run that skipped every benchmark) wave every change through.
        """
        b = self.benchmarks
        if b["compared"]:
            return None
        why = [f"{len(b['missing'])} baseline benchmarks are not in the current run",
               f"{len(b['new'])} current benchmarks are not in the baseline"]
        if b["unjudged"]:
            notes = sorted({c.note for c in self.changes if c.key in set(b["unjudged"]) and c.note})
            why.append(f"{len(b['unjudged'])} in both could not be judged ({'; '.join(notes)})")
        hint = ("the two runs measured different models or settings; refresh the baseline from a run of the same "
                "models (onnxgate bench ... --save-as BASELINE)" if b["missing"] and b["new"] else
                "check that the current run measured the baseline's benchmarks")
        return f"nothing was compared: {', '.join(why)}; {hint}"

    @property
    def regressed(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    @property
    def explanations(self) -> dict[str, Any]:
        """What changed (model, libraries, onnxgate, commit, machine): ``{"run": [...], "models": {...}}``."""
        from conversion.results.gate.explain import explain

        if self.explained is not None:
            return self.explained
        return explain(self.baseline, self.current, sorted({c.key.model for c in self.regressed}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "explanations": self.explanations,
            "baseline_history": self.baseline.history,
            "nothing_compared": self.nothing_compared,
            "benchmarks": {group: [str(k) for k in keys] for group, keys in self.benchmarks.items()},
            "parity": {"passed": not self.parity_failures, "failures": self.parity_failures},
            "performance": {"passed": not self.performance_failures, "failures": self.performance_failures},
            "software_changes": {k: list(v) for k, v in self.software_changes.items()},
            "notes": self.notes,
            # which measure flagged each regression, and by how much (the report reads this)
            "regressions": [{"key": str(c.key), "measure": c.measure, "metric": c.metric, "effect": c.effect,
                             "threshold": c.threshold, "where": list(c.where)}
                            for c in self.changes if c.verdict == "regression"],
            "machine_differences": {k: list(v) for k, v in self.machine_differences.items()},
            **{label: {"path": str(run.path), "commit": run.commit, "datetime": run.datetime}
               for label, run in (("baseline", self.baseline), ("current", self.current))},
            "changes": [c.to_dict() for c in self.changes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateOutcome:
        """The outcome ``to_dict`` wrote, typed: its changes, failures, notes and explanations, and each run's
        path, commit and date (the runs' records stay in the results files)."""
        def run(side: str, history: list[dict[str, Any]]) -> Run:
            ref = data.get(side) or {}
            return Run(Path(str(ref.get("path", ""))), {}, str(ref.get("commit") or ""), False,
                       str(ref.get("datetime") or ""), "", [], history=history)

        def pairs(name: str) -> dict[str, tuple[Any, Any]]:
            return {k: tuple(v) for k, v in (data.get(name) or {}).items()}

        return cls(run("baseline", list(data.get("baseline_history") or [])), run("current", []),
                   [Change.from_dict(c) for c in data.get("changes") or []],
                   list((data.get("parity") or {}).get("failures") or []),
                   list((data.get("performance") or {}).get("failures") or []),
                   pairs("software_changes"), pairs("machine_differences"), list(data.get("notes") or []),
                   explained=data.get("explanations") or {"run": [], "models": {}})


def outcome_json(outcome: GateOutcome) -> str:
    return json.dumps(outcome.to_dict(), indent=2)
