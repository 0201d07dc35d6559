"""The gate's verdict: two runs (or two results files) judged by the rules into a ``GateOutcome``."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace

from conversion.errors import ResultsError
from conversion.results.benchmark_runs import Run, load_run
from conversion.results.gate.figures import MACHINE_STATE_TOLERANCE
from conversion.results.gate.machine import (
    _software_changes,
    machine_differences,
    machine_state_change,
    unrecorded_machine_fields,
)
from conversion.results.gate.noise import classify, excuse
from conversion.results.gate.outcome import Change, GateOutcome
from conversion.results.gate.rules import DEFAULT_RULES, Rule
from conversion.results.gate.side_by_side import SideBySideRegression
from conversion.results.gate.where import where

__all__ = ["combine_outcomes", "gate_files", "gate_runs"]

log = logging.getLogger(__name__)


def gate_runs(
    baseline: Run, current: Run, *, force: bool = False, rules: Sequence[Rule] = DEFAULT_RULES
) -> GateOutcome:
    """Compares two runs. Refuses (ResultsError) runs from different machines unless ``force``."""
    differences = machine_differences(baseline, current)
    if differences and not force:
        listed = "; ".join(f"{k}: baseline {b!r}, current {c!r}" for k, (b, c) in differences.items())
        raise ResultsError(
            f"refusing to compare results from different machines ({listed}): timing ratios still depend on "
            "the CPU, so a difference would not mean a code change. Refresh the baseline on this machine type, "
            "or pass --force to compare anyway"
        )
    software = _software_changes(baseline, current)
    notes: list[str] = []
    unrecorded = unrecorded_machine_fields(baseline, current)
    if unrecorded:
        notes.append(f"the baseline does not record {', '.join(unrecorded)} (it predates them), so it was taken as "
                     "this machine type's; refresh it (onnxgate gate --accept) to record them")
    if "onnxruntime" in software or "onnxruntime_build" in software:
        # The reference model runs in onnxruntime: a new onnxruntime moves the yardstick itself.
        rules = [r for r in rules if r.partner != "reference"]
        notes.append("onnxruntime changed, so ratios to the reference model (which runs in onnxruntime) "
                     "are not judged; ONNX rows are judged against native only")
    base_by_key = {r.key: r for r in baseline.records}
    cur_by_key = {r.key: r for r in current.records}
    state = machine_state_change(baseline, current)
    if state is not None and abs(state) > MACHINE_STATE_TOLERANCE and rules:
        # Native rows' only partner is a different program: judge ONNX rows against the reference.
        rules = [r for r in rules if r.partner != "native"]
        # (Instruction counts do not depend on the machine's load: their rule stays as it is.)
        rules = [replace(r, runtimes=frozenset({"onnx"})) if r.partner is not None else r for r in rules]
        # Side by side (gate --against) both sides ran in this job: no baseline to refresh, a rerun remeasures both.
        side_by_side = any(isinstance(r, SideBySideRegression) for r in rules)
        other, remedy = (("the base", "rerun the gate (more --blocks alternate the sides more often) if this persists")
                         if side_by_side else
                         ("the baseline", "refresh the baseline on a quieter machine if this persists"))
        notes.append(f"the reference model ran {state:+.0%} in CPU time per call compared with {other}: the "
                     "machine was in another state (load, cache pressure), which moves native frameworks unlike "
                     f"ONNX Runtime, so ONNX/native and native/reference ratios are not judged; {remedy}")
    keys = sorted(set(base_by_key) | set(cur_by_key))
    # Every performance rule's table rows, judged once: the table and the failures both come from them.
    judged = {(i, k): rule.changes(k, cur_by_key.get(k), base_by_key.get(k))
              for i, rule in enumerate(rules) if rule.verdict == "performance" for k in keys}
    parity: list[str] = []
    failed: dict[str, list[str]] = {"regression": [], "noise": [], "unconfirmed": []}
    for key, cur in cur_by_key.items():
        base = base_by_key.get(key)
        for i, rule in enumerate(rules):
            reason = rule.fails(cur, base)
            if reason is None:
                continue
            if rule.verdict == "parity":
                if reason not in parity:  # one line per model, not one per row of that model
                    parity.append(reason)
                continue
            found = next((e for c in judged[(i, key)] if (e := excuse(c)) is not None), None)
            failed["regression" if found is None else found.verdict].append(reason + (found.why if found else ""))
    performance, noise, unconfirmed = failed["regression"], failed["noise"], failed["unconfirmed"]
    if noise:
        notes.append(f"{len(noise)} time-ratio rise(s) on rows whose instruction counts did not rise are runner noise "
                     "(the same call did the same work) within what unchanged runs showed for their class, "
                     "reported, not failed: " + "; ".join(noise))
    if unconfirmed:
        notes.append(f"{len(unconfirmed)} time-ratio rise(s) on rows the baseline counted but this run did not: on "
                     "this baseline instruction counts decide (a time ratio alone moves with the runner's load), "
                     "so they are unconfirmed, not failed; confirm with `onnxgate bench --counts` and a gate of "
                     "that run: " + "; ".join(unconfirmed))
    changes = [_explained(classify(change)) for rows in judged.values() for change in rows]
    return GateOutcome(baseline, current, changes, parity, performance, software, differences, notes)


def _explained(change: Change) -> Change:
    """A regression with where its work went (where.py): the origins and ops that grew most."""
    if change.verdict != "regression" or change.current is None or change.baseline is None:
        return change
    return replace(change, where=where(change.current, change.baseline))


def gate_files(
    baseline: str | os.PathLike[str] | Run, current: str | os.PathLike[str] | Run, *, force: bool = False
) -> GateOutcome:
    """Loads both files (ResultsError if either is bad) and gates current against baseline.

    Either may be a Run its caller already loaded: a command parses each file once."""
    base_run, cur_run = (side if isinstance(side, Run) else load_run(side) for side in (baseline, current))
    if not base_run.records:
        raise ResultsError(f"baseline {base_run.path} holds no latency benchmarks; refresh it with the quick profile")
    if not cur_run.records:
        raise ResultsError(f"current results {cur_run.path} hold no latency benchmarks; did every latency test skip?")
    outcome = gate_runs(base_run, cur_run, force=force)
    log.info("gate: %d parity failures, %d performance regressions",
             len(outcome.parity_failures), len(outcome.performance_failures))
    return outcome


def combine_outcomes(outcomes: Sequence[GateOutcome]) -> GateOutcome:
    """Several verdicts (the shards of a CI matrix, each gated on its own runner) as one: every row,
    failure and note, and each side's rows gathered into one run, so what changed is said per model."""
    if not outcomes:
        raise ResultsError("no verdicts to combine: pass the --output folders of `onnxgate gate --against` jobs")

    def gathered(runs: list[Run]) -> Run:
        return replace(runs[0], records=[r for run in runs for r in run.records])

    software: dict[str, tuple[object, object]] = {}
    differences: dict[str, tuple[object, object]] = {}
    for o in outcomes:
        software.update(o.software_changes)
        differences.update(o.machine_differences)
    return GateOutcome(
        gathered([o.baseline for o in outcomes]), gathered([o.current for o in outcomes]),
        [c for o in outcomes for c in o.changes],
        list(dict.fromkeys(f for o in outcomes for f in o.parity_failures)),
        [f for o in outcomes for f in o.performance_failures], software, differences,
        list(dict.fromkeys(n for o in outcomes for n in o.notes)))
