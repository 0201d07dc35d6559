"""The gate's verdict as data: a ``Change`` per row and partner, the ``GateOutcome`` and its JSON.

The rules (rules.py, judge.py) make these; table.py renders them as text and markdown; the report,
the CLI and CI read them. Nothing here judges or renders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conversion.results.benchmark_runs import Record, Run

__all__ = ["COMPARED", "NOT_GATED", "Change", "GateOutcome", "outcome_json"]

# The note on rows the gate measures but never judges (why: figures.py, beside MIN_EFFECT).
NOT_GATED = ("not gated: no minimum effect for this class on a 2-core shared machine (multi-threaded rows: "
             "spin-wait CPU time; providers other than CPU: not measured; wall time from 256 rows: preemption)")
COMPARED = frozenset({"regression", "improvement", "unchanged"})  # verdicts of a benchmark judged against the baseline


@dataclass(frozen=True)
class Change:
    """One benchmark's comparison against one partner, for the table."""

    key: str
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

    @property
    def reason(self) -> str:
        """A regression as one line of the gate's verdict."""
        return (f"{self.name or self.key}: {self.metric} ratio +{self.effect or 0.0:.0%} "
                f"(minimum {self.threshold or 0.0:.0%}, Mann-Whitney p={self.p_value or 0.0:.2g})")
    # which measure judged it: "time" (interleaved CPU ratios), "wall" (wall-time ratios), "tail"
    # (p90/p99 of the tail block) or "counts" (instructions)
    measure: str = "time"
    where: tuple[str, ...] = ()  # where the work went: the origins and ops that grew most (explain.py)


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

    @property
    def exit_code(self) -> int:
        """1 on a parity or performance failure; 2 when no benchmark could be compared at all."""
        if self.parity_failures or self.performance_failures:
            return 1
        return 2 if self.nothing_compared else 0

    @property
    def benchmarks(self) -> dict[str, list[str]]:
        """Benchmark keys by outcome: compared (judged against the baseline), new, missing, unjudged."""
        verdicts: dict[str, set[str]] = {}
        for c in self.changes:
            verdicts.setdefault(c.key, set()).add(c.verdict)
        out: dict[str, list[str]] = {"compared": [], "new": [], "missing": [], "unjudged": []}
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

        return explain(self.baseline, self.current, sorted({c.key.partition("|")[0] for c in self.regressed}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "explanations": self.explanations,
            "baseline_history": self.baseline.history,
            "nothing_compared": self.nothing_compared,
            "benchmarks": self.benchmarks,
            "parity": {"passed": not self.parity_failures, "failures": self.parity_failures},
            "performance": {"passed": not self.performance_failures, "failures": self.performance_failures},
            "software_changes": {k: list(v) for k, v in self.software_changes.items()},
            "notes": self.notes,
            # which measure flagged each regression, and by how much (the report reads this)
            "regressions": [{"key": c.key, "measure": c.measure, "metric": c.metric, "effect": c.effect,
                             "threshold": c.threshold, "where": list(c.where)}
                            for c in self.changes if c.verdict == "regression"],
            "machine_differences": {k: list(v) for k, v in self.machine_differences.items()},
            **{label: {"path": str(run.path), "commit": run.commit, "datetime": run.datetime}
               for label, run in (("baseline", self.baseline), ("current", self.current))},
            "changes": [
                {"key": c.key, "class": c.cls, "measure": c.measure, "metric": c.metric, "verdict": c.verdict,
                 "effect": c.effect,
                 "p_value": c.p_value, "threshold": c.threshold, "note": c.note,
                 "baseline_ratio": c.baseline_ratio, "current_ratio": c.current_ratio,
                 "where": list(c.where),
                 "baseline_p50_s": c.baseline.p50 if c.baseline else None,
                 "current_p50_s": c.current.p50 if c.current else None}
                for c in self.changes
            ],
        }


def outcome_json(outcome: GateOutcome) -> str:
    return json.dumps(outcome.to_dict(), indent=2)
