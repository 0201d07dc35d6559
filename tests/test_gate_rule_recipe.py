"""docs/architecture.md's recipe for a gate rule, followed step by step with a toy rule: the gate
fails a run on it, says why in its text and JSON, and passes a run it does not flag."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conversion.results.benchmark_runs import Record, Run, load_run
from conversion.results.gate.judge import gate_runs
from conversion.results.gate.outcome import Change
from conversion.results.gate.rules import DEFAULT_RULES, Rule, benchmark_class
from conversion.results.gate.table import regression_lines, render_outcome
from conversion.results.latency_info import RowKey
from tests.test_gate import _record, _results, _rounds

RECIPE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# Step 2: the rule's threshold (in the package: figures.py, with its source).
TOY_MIN_RISE = 0.5  # a toy: no measurement stands behind it


# Step 1: a frozen dataclass with the five members of Rule.
@dataclass(frozen=True)
class MedianTimeRise:
    """The row's own median time per call, head against base, rose by at least ``min_rise``."""

    min_rise: float = TOY_MIN_RISE
    verdict: str = "performance"
    partner: str | None = None  # the two runs compared directly

    def applies(self, rec: Record) -> bool:
        return rec.p50 > 0

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        if current is None or baseline is None or not (self.applies(current) and self.applies(baseline)):
            return []
        effect = current.p50 / baseline.p50 - 1.0
        verdict = "regression" if effect >= self.min_rise else "unchanged"
        return [Change(key, benchmark_class(current), baseline, current, verdict, effect, threshold=self.min_rise,
                       metric="p50", baseline_ratio=baseline.p50, current_ratio=current.p50, name=current.name,
                       measure="median time")]

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        risen = [c for c in self.changes(current.key, current, baseline) if c.verdict == "regression"]
        return f"{current.name or current.key}: p50 {risen[0].effect:+.0%}" if risen else None


def _runs(tmp_path: Path, p50_factor: float) -> tuple[Run, Run]:
    """Two runs with the same ratios (the default rules see nothing) and the head's p50 times ``p50_factor``."""
    rng = np.random.default_rng(0)
    rounds = _rounds(rng, n=60)
    base = load_run(_results(tmp_path / "base.json", [_record(rounds)]))
    head = load_run(_results(tmp_path / "head.json", [_record(rounds)]))
    head.records = [dataclasses.replace(r, p50=r.p50 * p50_factor) for r in head.records]
    return base, head


def test_the_recipe_names_every_member_a_rule_needs() -> None:
    text = RECIPE.read_text(encoding="utf-8")
    recipe = text[text.index("- **A gate rule**"):text.index("- **A report section**")]
    members = set(Rule.__annotations__) | {n for n, v in vars(Rule).items() if callable(v) and not n.startswith("_")}
    assert members == {"verdict", "partner", "applies", "changes", "fails"}
    assert {m for m in members if not re.search(rf"`{m}[`(]", recipe)} == set()
    assert isinstance(MedianTimeRise(), Rule)


def test_a_rule_added_by_the_recipe_fails_a_run(tmp_path: Path) -> None:
    # Step 3: the rule beside the defaults.
    rules = (*DEFAULT_RULES, MedianTimeRise())
    base, head = _runs(tmp_path, p50_factor=2.0)
    assert gate_runs(base, head).exit_code == 0  # the default rules alone pass it
    outcome = gate_runs(base, head, rules=rules)
    assert outcome.exit_code == 1
    assert [f.split(": ", 1)[1] for f in outcome.performance_failures] == ["p50 +100%"]
    assert [(r["measure"], r["metric"]) for r in outcome.to_dict()["regressions"]] == [("median time", "p50")]
    assert "p50" in render_outcome(outcome, detail=True)  # the table, with -v
    assert any("p50" in line for line in regression_lines(outcome))  # its REGRESSED line, always
    # A rise under its threshold passes.
    base, head = _runs(tmp_path, p50_factor=1.2)
    assert gate_runs(base, head, rules=rules).exit_code == 0
