"""The gate's rules, and ``DEFAULT_RULES``: the rules every gate applies, built once at the end.

CPU time is judged only on per-round ratios measured interleaved inside one run
(``ratio_rounds``: ONNX/native for ONNX rows, native/reference for native rows), because
absolute times across runs on a shared machine differ by more than the slowdowns we want
to catch. A benchmark regresses when both hold:

- significance: a one-sided Mann-Whitney U test says the current rounds are larger than the
  baseline rounds (p < ``alpha``); rounds are many, so this alone flags tiny shifts;
- effect size: the median ratio rose by at least the minimum effect of the benchmark's class,
  which is set above the run-to-run drift measured for that class by ``benchmarks/proof/prove_gate.py``.

Every rule is a small object (``Rule``): ``applies(record)`` says which rows it judges,
``changes(key, current, baseline)`` gives its rows of the table, and ``fails(current, baseline) ->
reason | None``, derived from them, its verdict, so the table and the verdict cannot disagree.
judge.py collects every failure and reports them together. The thresholds are in figures.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from conversion.optional import import_optional
from conversion.results.benchmark_runs import Record, percentile
from conversion.results.gate.figures import (
    ALPHA,
    COLD_PATHS,
    COLD_THRESHOLDS,
    COUNT_THRESHOLD,
    CYCLES_THRESHOLD,
    KERNEL_LIMITS,
    KERNEL_PATHS,
    MIN_EFFECT,
    MIN_ROUNDS,
    TAIL_CLASSES,
    TAIL_MIN_EFFECT,
    TAIL_MIN_ROUNDS,
    TAIL_MIN_SHARE,
    TAIL_QUANTILES,
    WALL_MIN_EFFECT,
)
from conversion.results.gate.outcome import NOT_GATED, Change
from conversion.results.latency_info import RowKey
from conversion.runtime.providers import CPU, provider_label

__all__ = ["COUNT_MEASURES", "DEFAULT_RULES", "CountRegression", "ParityBroken", "RatioJudgement", "RatioRegression",
           "Rule", "TailRegression", "benchmark_class"]

# Batch buckets: up to 16 rows per-call overhead dominates; from 4096 rows memory traffic does.
_BUCKETS = ((16, "tiny"), (1024, "medium"))


def benchmark_class(rec: Record) -> str:
    """The noise class of a benchmark: runtime, provider and threading, and batch size bucket."""
    if rec.runtime == "native":
        kind = "native"
    else:
        threading = "1thread" if (rec.threads or 1) == 1 else "threads"
        kind = f"{rec.runtime}-{provider_label(rec.provider or CPU)}-{threading}"
    bucket = next((name for limit, name in _BUCKETS if rec.batch_size <= limit), "large")
    return f"{kind}/{bucket}"


@runtime_checkable
class Rule(Protocol):
    """What the gate asks of a rule: two fields and three methods (docs/architecture.md, "add a gate rule").

    A rule whose ``partner`` is not None is a frozen dataclass with a ``runtimes`` field too: when the
    machine was in another state, or onnxruntime changed, the gate drops or narrows such rules
    (judge.gate_runs). A rule compared run against run has ``partner = None`` and is kept as it is.
    """

    verdict: str  # "parity" | "performance": which of the gate's two verdicts a failure fails
    partner: str | None  # what a performance rule's ratios are against ("native", "reference"); None: none

    def applies(self, rec: Record) -> bool:
        """Whether this rule judges the row at all."""
        ...

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        """The failure as one line of the verdict, or None."""
        ...

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        """The rows of the performance table this rule adds for one benchmark ([] for none)."""
        ...


@dataclass(frozen=True)
class ParityBroken:
    """Parity failed now, or a model that converted and matched in the baseline no longer does."""

    verdict: str = "parity"
    partner: str | None = None

    def applies(self, rec: Record) -> bool:
        return True

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        if current.parity == "failed":
            first = current.parity_detail.splitlines()[0] if current.parity_detail else ""
            return f"{current.model}: ONNX output differs from native ({first})"
        if baseline is not None and baseline.parity == "passed" and current.parity != "passed":
            return f"{current.model}: matched in the baseline, now {current.parity} ({current.parity_detail})"
        return None

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        return []  # parity is a verdict of its own, not a row of the performance table


@dataclass(frozen=True)
class RatioJudgement:
    effect: float  # median(current) / median(baseline) - 1
    p_greater: float
    p_less: float
    threshold: float


@dataclass(frozen=True)
class RatioRegression:
    """Significant (Mann-Whitney, one-sided) and material (>= class minimum) rise of the ratio
    of a row's time to one partner's ("native" or "reference") time."""

    partner: str = "reference"
    alpha: float = ALPHA
    min_effect: Mapping[str, float] | None = None
    min_rounds: int = MIN_ROUNDS
    verdict: str = "performance"
    runtimes: frozenset[str] | None = None  # judge only rows of these runtimes; None: every row
    clock: str = "cpu"  # "cpu": the ratios of CPU time; "wall": of wall time (waiting included)

    @property
    def measure(self) -> str:
        return "time" if self.clock == "cpu" else "wall"

    def threshold(self, cls: str) -> float | None:
        """The class's minimum effect, or None when the class is not gated."""
        default = WALL_MIN_EFFECT if self.clock == "wall" else MIN_EFFECT[self.partner]
        return (self.min_effect or default).get(cls)

    def test(self, current: Sequence[float], baseline: Sequence[float], cls: str) -> RatioJudgement:
        """Effect size and one-sided Mann-Whitney p-values of current vs baseline rounds."""
        # scipy is the bench extra's, and slow to import: only a judgement needs it.
        import_optional("scipy", "bench", "judge benchmark ratios")
        from scipy.stats import mannwhitneyu
        effect = percentile(current, 50) / percentile(baseline, 50) - 1.0
        greater = mannwhitneyu(current, baseline, alternative="greater").pvalue
        less = mannwhitneyu(current, baseline, alternative="less").pvalue
        threshold = self.threshold(cls)
        return RatioJudgement(effect, float(greater), float(less), float("inf") if threshold is None else threshold)

    def applies(self, rec: Record) -> bool:
        kind, rounds = rec.rounds_vs(self.partner, self.clock)
        return bool(kind) and (self.clock == "cpu" or bool(rounds)) and (
            self.runtimes is None or rec.runtime in self.runtimes)

    def comparable(self, current: Record, baseline: Record | None) -> str | None:
        """Why the pair cannot be judged, or None."""
        if baseline is None:
            return "new benchmark"
        (kind, cur), (base_kind, base) = (current.rounds_vs(self.partner, self.clock),
                                          baseline.rounds_vs(self.partner, self.clock))
        if kind != base_kind:
            return f"ratio kinds differ ({base_kind} vs {kind})"
        if min(len(cur), len(base)) < self.min_rounds:
            return f"fewer than {self.min_rounds} interleaved rounds vs {self.partner}"
        if self.threshold(benchmark_class(current)) is None:
            return NOT_GATED
        return None

    def judge(self, key: RowKey, current: Record | None, baseline: Record | None) -> Change:
        """This rule's verdict on one benchmark: regression, improvement, unchanged, or why not judged."""
        rec = current or baseline
        assert rec is not None
        cls = benchmark_class(rec)
        metric = rec.rounds_vs(self.partner, self.clock)[0] + (" wall" if self.clock == "wall" else "")
        if current is None:
            return Change(key, cls, baseline, None, "missing", note="in the baseline, not in the current run",
                          metric=metric, measure=self.measure)
        why_not = self.comparable(current, baseline)
        if why_not is not None:
            return Change(key, cls, baseline, current, "new" if baseline is None else "unjudged", note=why_not,
                          metric=metric, measure=self.measure)
        assert baseline is not None
        cur_rounds = current.rounds_vs(self.partner, self.clock)[1]
        base_rounds = baseline.rounds_vs(self.partner, self.clock)[1]
        j = self.test(cur_rounds, base_rounds, cls)
        if j.p_greater < self.alpha and j.effect >= j.threshold:
            verdict = "regression"
        elif j.p_less < self.alpha and j.effect <= -j.threshold:
            verdict = "improvement"
        else:
            verdict = "unchanged"
        return Change(key, cls, baseline, current, verdict, j.effect, j.p_greater, j.threshold, metric=metric,
                      baseline_ratio=percentile(base_rounds, 50), current_ratio=percentile(cur_rounds, 50),
                      name=current.name, measure=self.measure)

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        if not self.applies(current):
            return None
        change = self.judge(current.key, current, baseline)
        return change.reason if change.verdict == "regression" else None

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        """The table rows of one benchmark: this rule's one judgement, where it applies."""
        rec = current or baseline
        return [self.judge(key, current, baseline)] if rec is not None and self.applies(rec) else []


# A median does not move when 1 call in 10 gets 10x slower; p99 does (docs/gate.md, tails).


@dataclass(frozen=True)
class TailRegression:
    """The p90 or p99 of a row's per-call CPU ratio (vs the reference) rose, significantly and materially."""

    quantiles: tuple[int, ...] = TAIL_QUANTILES
    min_effect: Mapping[int, float] = field(default_factory=lambda: dict(TAIL_MIN_EFFECT))
    alpha: float = ALPHA
    min_rounds: int = TAIL_MIN_ROUNDS
    verdict: str = "performance"
    partner: str | None = "reference"
    runtimes: frozenset[str] | None = None
    measure: str = "tail"

    def applies(self, rec: Record) -> bool:
        return bool(rec.tail_ratio_rounds) and (self.runtimes is None or rec.runtime in self.runtimes)

    def judge_quantile(self, key: RowKey, q: int, current: Record, baseline: Record) -> Change:
        cur, base = current.tail_ratio_rounds, baseline.tail_ratio_rounds
        cls, metric = benchmark_class(current), f"p{q} {current.rounds_vs('reference', 'tail')[0]}"
        if min(len(cur), len(base)) < self.min_rounds:
            return Change(key, cls, baseline, current, "unjudged", metric=metric, measure=self.measure,
                          note=f"fewer than {self.min_rounds} tail rounds (large batches: the time budget)")
        import_optional("scipy", "bench", "judge benchmark tails")
        from scipy.stats import fisher_exact
        limit = self.min_effect[q]
        before, now = percentile(base, q), percentile(cur, q)
        bar = before * (1 + limit)
        beyond, base_beyond = sum(r > bar for r in cur), sum(r > bar for r in base)
        # Fisher's exact test: more of the current calls beyond the bar than of the baseline's own?
        p = fisher_exact([[beyond, len(cur) - beyond], [base_beyond, len(base) - base_beyond]],
                         alternative="greater").pvalue
        effect = now / before - 1
        material = effect >= limit and beyond >= TAIL_MIN_SHARE.get(q, 0.0) * len(cur)
        verdict = "regression" if p < self.alpha and material else "unchanged"
        return Change(key, cls, baseline, current, verdict, effect, float(p), limit, metric=metric,
                      baseline_ratio=before, current_ratio=now, name=current.name, measure=self.measure,
                      note=f"{beyond}/{len(cur)} calls beyond {1 + limit:.3g}x the baseline's p{q}")

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        if current is None or baseline is None or not (self.applies(current) and self.applies(baseline)):
            return []
        # Only single-threaded CPU ONNX rows were proven (prove_gate --injections), and a row without
        # enough tail calls (4096 rows: the time budget) has no p99: neither adds a table row.
        if not benchmark_class(current).startswith(TAIL_CLASSES) or min(
                len(current.tail_ratio_rounds), len(baseline.tail_ratio_rounds)) < self.min_rounds:
            return []
        return [self.judge_quantile(key, q, current, baseline) for q in self.quantiles]

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        flagged = [c for c in self.changes(current.key, current, baseline) if c.verdict == "regression"]
        if not flagged:
            return None
        return f"{current.name or current.key}: tail " + ", ".join(
            f"{c.metric} {c.effect:+.0%} ({c.note}; minimum {c.threshold:.0%}, Fisher p={c.p_value:.2g})"
            for c in flagged)


# Counts per call from callgrind are compared directly, run against run: the same call counted in two
# processes differs by well under 1% (COUNT_SPREAD), so no partner and no significance test (docs/gate.md).
COUNT_MEASURES = ("instructions", "cycles", "syscalls", "faults")


@dataclass(frozen=True)
class CountRegression:
    """Instructions (or estimated cycles) per call rose by at least ``threshold`` on some path."""

    threshold: float = COUNT_THRESHOLD
    measures: tuple[str, ...] = COUNT_MEASURES
    verdict: str = "performance"
    partner: str | None = None  # counts are compared directly, run against run
    cycles_threshold: float = CYCLES_THRESHOLD

    def limit(self, measure: str, path: str = "") -> float:
        if path in COLD_THRESHOLDS:
            return COLD_THRESHOLDS[path]
        if measure in KERNEL_LIMITS:
            return KERNEL_LIMITS[measure][1]
        return self.cycles_threshold if measure == "cycles" else self.threshold

    def effects(self, current: Record, baseline: Record | None) -> list[tuple[str, str, float, float, float]]:
        """(measure, path, baseline, current, effect) for every count both runs have."""
        if baseline is None:
            return []
        out = []
        for path, now in sorted(current.counts.items()):
            before = baseline.counts.get(path, {})
            for measure in self.measures if path not in COLD_PATHS else ("instructions",):
                if measure in KERNEL_LIMITS and path not in KERNEL_PATHS:
                    continue
                floor = KERNEL_LIMITS.get(measure, (0.0, 0.0))[0]
                if before.get(measure) is None or now.get(measure) is None or not (floor or before[measure]):
                    continue
                effect = (now[measure] - before[measure]) / (floor or before[measure])
                out.append((measure, path, before[measure], now[measure], effect))
        return out

    def fails(self, current: Record, baseline: Record | None) -> str | None:
        risen = [e for e in self.effects(current, baseline) if e[4] >= self.limit(e[0], e[1])]
        if not risen:
            return None
        what = ", ".join(f"{m} per call ({p}) {e:+.1%}: {b:,.{2 if m in KERNEL_LIMITS else 0}f} -> "
                         f"{c:,.{2 if m in KERNEL_LIMITS else 0}f} (threshold {self.limit(m, p):.0%}"
                         + (f" of {KERNEL_LIMITS[m][0]:g} per call" if m in KERNEL_LIMITS else "") + ")"
                         for m, p, b, c, e in risen)
        return f"{current.name or current.key}: counts {what}"

    def applies(self, rec: Record) -> bool:
        return bool(rec.counts)

    def changes(self, key: RowKey, current: Record | None, baseline: Record | None) -> list[Change]:
        """One table row per measure and path both runs counted (missing and new rows are the ratio rules')."""
        if current is None or baseline is None:
            return []
        return [Change(key, benchmark_class(current), baseline, current,
                       "regression" if e >= self.limit(m, p) else "improvement" if e <= -self.limit(m, p)
                       else "unchanged", effect=e, threshold=self.limit(m, p), metric=f"{m}/{p}", baseline_ratio=b,
                       current_ratio=c, measure="counts")
                for m, p, b, c, e in self.effects(current, baseline)]


# The rules every gate applies, in the order their failures are listed. A new rule is added here
# (docs/architecture.md, "add a gate rule").
DEFAULT_RULES: tuple[Rule, ...] = (
    ParityBroken(),
    RatioRegression("native"),
    RatioRegression("reference"),
    RatioRegression("reference", clock="wall"),
    TailRegression(),
    CountRegression(),
)
