"""Whether a time-ratio regression counts: a CPU time-ratio rise on a row whose instruction counts
stayed flat (or were not counted this run) is runner noise (or unconfirmed), within the envelope
unchanged runs showed for its class. One classification of typed rows (``excuse``): the table's
rows and the gate's failure lists are both derived from it (judge.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from conversion.results.benchmark_runs import Record, percentile
from conversion.results.gate.figures import NOISE_ENVELOPE
from conversion.results.gate.outcome import Change
from conversion.results.gate.rules import CountRegression

__all__ = ["Excuse", "classify", "counts_missing", "counts_unchanged", "envelope", "excuse", "own_cpu_change",
           "within_envelope", "yardstick_moved"]


def counts_unchanged(current: Record, baseline: Record | None) -> bool:
    """Whether both runs counted this row and no count rose by the counts threshold.

    Then a rise of its time ratio is the runner, not the code: measured here, an unchanged
    RandomForest row's ONNX/native time ratio doubled between two CI runs on one machine
    while its instructions per call stayed within 0.1%.
    """
    if baseline is None or not current.counts or not baseline.counts:
        return False
    rule = CountRegression()
    return bool(rule.effects(current, baseline)) and rule.fails(current, baseline) is None


def counts_missing(current: Record, baseline: Record | None) -> bool:
    """Whether the baseline counted this row and the current run did not (no ``--counts``)."""
    return baseline is not None and bool(baseline.counts) and not current.counts


def envelope(change: Change) -> float | None:
    """The largest rise unchanged runs showed for this change's partner and class (figures.py)."""
    partner = "native" if change.metric == "onnx/native" else "reference"
    return NOISE_ENVELOPE.get(partner, {}).get(change.cls)


def within_envelope(change: Change) -> bool:
    """Whether noise has ever moved a CPU time ratio this much: only then may flat counts forgive it."""
    limit = envelope(change)
    return change.measure == "time" and limit is not None and (change.effect or 0.0) <= limit


def _beyond(change: Change) -> str:
    limit = envelope(change)
    return (f"{change.metric} +{change.effect or 0.0:.0%} is beyond the "
            f"{'+' + format(limit, '.0%') if limit is not None else 'unmeasured'} that unchanged runs showed for "
            f"{change.cls}, so flat instruction counts do not excuse it: the extra time is work they cannot see "
            "(kernel time, page faults, other threads)")


def own_cpu_change(change: Change) -> float | None:
    """The row's own median CPU time per call, current / baseline - 1: its ratio to the reference model
    times the reference's CPU time in that row. None where either run lacks the reference's time."""
    def own(rec: Record | None) -> float | None:
        if rec is None or not rec.reference_cpu_s or not rec.rounds_vs("reference")[1]:
            return None
        return percentile(rec.rounds_vs("reference")[1], 50) * rec.reference_cpu_s
    before, now = own(change.baseline), own(change.current)
    return now / before - 1.0 if before and now else None


def yardstick_moved(change: Change) -> str | None:
    """Why a ratio rise beyond the envelope is still not the call's, or None.

    Work that counts cannot see (kernel time, faults, other threads) is CPU time the call itself
    spends, which its CPU clock counts. Where the call's own CPU time per call did not rise by the
    class's minimum effect, the ratio rose because its partner got faster. Seen in CI on unchanged code:
    RandomForest native at one row, native/reference +82% (beyond the +52% envelope) while its median
    time per call fell from 7.99 to 7.34 ms; the baseline's reference call had taken 144 us, recorded
    while the test suite ran beside it.
    """
    own = own_cpu_change(change)
    if own is None or change.threshold is None or own >= change.threshold:
        return None
    return (f"{change.metric} +{change.effect or 0.0:.0%} with flat instruction counts, but the call's own CPU "
            f"time per call changed {own:+.0%}: its partner got faster, the call did not get slower")


@dataclass(frozen=True)
class Excuse:
    """How instruction counts qualify one CPU time-ratio regression row."""

    verdict: str  # "noise" | "unconfirmed" | "regression" (counts do not excuse it)
    note: str  # the table row's note
    why: str = ""  # what the verdict's failure line adds to the rule's reason


FLAT_NOTE = "time ratio rose within what unchanged runs showed, instruction counts did not: runner noise"
MISSING_NOTE = "time ratio rose; the baseline counted this row, this run did not (bench --counts)"


def excuse(change: Change) -> Excuse | None:
    """The one noise classification: None where counts have no say (not a CPU time-ratio regression,
    or neither flat nor missing counts). Only a CPU time-ratio rise can be excused, and only within the
    envelope of its class; wall time, tails and counts measure what the counts cannot vouch for."""
    if change.measure != "time" or change.verdict != "regression" or change.current is None:
        return None
    flat, missing = counts_unchanged(change.current, change.baseline), counts_missing(change.current, change.baseline)
    if not (flat or missing):
        return None
    excused = "noise" if flat else "unconfirmed"
    if within_envelope(change):
        return Excuse(excused, FLAT_NOTE if flat else MISSING_NOTE)
    moved = yardstick_moved(change)
    if moved is None:
        return Excuse("regression", _beyond(change), f"; {_beyond(change)}")
    return Excuse(excused, moved, f" ({moved})")


def classify(change: Change) -> Change:
    """A table row as instruction counts qualify it: noise, unconfirmed, or as it is."""
    found = excuse(change)
    return change if found is None else replace(change, verdict=found.verdict, note=found.note)
