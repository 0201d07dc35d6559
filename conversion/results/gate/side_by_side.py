"""The direct rule: a row's own time per call, head against base, measured side by side in one job.

Only `onnxgate gate --against` may use it: there the base and the head were benchmarked on the same
runner in alternating blocks (base, head, head, base), so the machine's state falls on both alike
and their per-call times compare directly, with no yardstick in between. That is what sees a
slowdown the in-run ratios cancel: an onnxruntime-wide wait slows the reference model as much as
the row, so onnx/reference stays flat while the row's own wall time rises.

Per row and clock (CPU, wall) it is the ratio rules' test on raw times: a one-sided Mann-Whitney
test (p < ALPHA) and a rise of the median by at least the class's minimum effect
(``SIDE_BY_SIDE_MIN_EFFECT``, measured by ``benchmarks/proof/prove_against.py`` on A/A runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conversion.optional import import_optional
from conversion.results.benchmark_runs import Record, percentile
from conversion.results.gate.figures import ALPHA, MIN_ROUNDS, SIDE_BY_SIDE_MIN_EFFECT
from conversion.results.gate.outcome import NOT_GATED, Change
from conversion.results.gate.rules import benchmark_class
from conversion.results.latency_info import RowKey

__all__ = ["SideBySideRegression", "side_by_side_rules"]


@dataclass(frozen=True)
class SideBySideRegression:
    """The head's own time per call rose against the base's, significantly and materially."""

    clock: str = "cpu"  # "cpu" | "wall"
    alpha: float = ALPHA
    min_effect: Mapping[str, float] | None = None
    min_rounds: int = MIN_ROUNDS
    verdict: str = "performance"
    partner: str | None = None  # compared head against base directly: no yardstick
    runtimes: frozenset[str] | None = None

    @property
    def measure(self) -> str:
        return "side-by-side" if self.clock == "cpu" else "side-by-side wall"

    def _rounds(self, rec: Record) -> Sequence[float]:
        return rec.cpu_rounds if self.clock == "cpu" else rec.wall_rounds

    def threshold(self, cls: str) -> float | None:
        return (self.min_effect or SIDE_BY_SIDE_MIN_EFFECT[self.clock]).get(cls)

    def applies(self, rec: Record) -> bool:
        return bool(self._rounds(rec)) and (self.runtimes is None or rec.runtime in self.runtimes)

    def judge(self, key: RowKey, current: Record, baseline: Record | None, cls: str) -> Change:
        metric = f"{current.runtime} {self.clock} time per call"
        if baseline is None:
            return Change(key, cls, None, current, "new", metric=metric, measure=self.measure,
                          note="only on the head")
        cur, base = self._rounds(current), self._rounds(baseline)
        threshold = self.threshold(cls)
        if min(len(cur), len(base)) < self.min_rounds:
            return Change(key, cls, baseline, current, "unjudged", metric=metric, measure=self.measure,
                          note=f"fewer than {self.min_rounds} rounds on a side (the base's onnxgate may predate "
                               "per-call times)")
        if threshold is None:
            return Change(key, cls, baseline, current, "unjudged", metric=metric, measure=self.measure,
                          note=NOT_GATED)
        import_optional("scipy", "bench", "judge benchmark times")
        from scipy.stats import mannwhitneyu

        before, now = percentile(base, 50), percentile(cur, 50)
        effect = now / before - 1.0 if before > 0 else 0.0
        p_greater = float(mannwhitneyu(cur, base, alternative="greater").pvalue)
        p_less = float(mannwhitneyu(cur, base, alternative="less").pvalue)
        if p_greater < self.alpha and effect >= threshold:
            verdict = "regression"
        elif p_less < self.alpha and effect <= -threshold:
            verdict = "improvement"
        else:
            verdict = "unchanged"
        return Change(key, cls, baseline, current, verdict, effect, p_greater, threshold, metric=metric,
                      baseline_ratio=before, current_ratio=now, name=current.name, measure=self.measure,
                      note=f"{before * 1e6:,.1f} -> {now * 1e6:,.1f} us per call, base and head side by side")

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        if current is None or not self.applies(current):
            return []
        return [self.judge(key, current, baseline, benchmark_class(current))]

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        flagged = [c for c in self.changes(current.key, current, baseline) if c.verdict == "regression"]
        if not flagged:
            return None
        c = flagged[0]
        return (f"{c.name or c.key}: {c.metric} {c.effect or 0.0:+.0%} against the base ({c.note}; minimum "
                f"{c.threshold or 0.0:.0%}, Mann-Whitney p={c.p_value or 0.0:.2g})")


def side_by_side_rules() -> tuple[Any, ...]:
    """Every rule of the gate, plus the head-against-base time rules (CPU and wall): for two sides
    measured side by side in one job (`gate --against`, `gate --pairs`), and only there."""
    from conversion.results.gate.rules import DEFAULT_RULES

    return (*DEFAULT_RULES, SideBySideRegression("cpu"), SideBySideRegression("wall"))
