"""One baseline per machine type: find the one that matches a run, or record it.

Timing ratios and instruction counts depend on the CPU, so a baseline gates only runs from
the same machine type (``fingerprint_differences`` is empty). A folder of baselines, one per
runner type, lets the same CI job run on whatever machine it is given: where none matches,
the gate is skipped with one line that says which machine types the folder holds and how to
record this one (or, with ``--record-missing``, the current run becomes its baseline).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversion.atomic import folder_lock, is_temp_name, write_text_atomic
from conversion.errors import ResultsError
from conversion.results.benchmark_runs import Run, load_run, read_json_object
from conversion.results.results_schema import finite_or_null

__all__ = ["AGAINST", "HISTORY_LIMIT", "BaselineChoice", "accept_baseline", "baseline_name", "choose_baseline",
           "find_baseline", "fingerprint_differences", "known_machines", "machine_label", "record_baseline",
           "save_compact"]

log = logging.getLogger(__name__)


def fingerprint_differences(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields of the machine fingerprint that differ: the one rule for "same machine type".

    A field the fingerprint gained later (``cpu_flags``) is unknown in an older baseline, not
    different: the committed baseline stays usable until it is refreshed (the gate notes it).
    """
    return {k: (baseline.get(k), current.get(k)) for k in sorted(set(baseline) | set(current))
            if k in baseline and baseline.get(k) != current.get(k)}


def machine_label(machine: dict[str, Any]) -> str:
    """``cpu_model (N cpus, arch)``, for messages."""
    return f"{machine.get('cpu_model')} ({machine.get('cpu_count')} cpus, {machine.get('arch')})"


def _slug(value: Any) -> str:
    """Letters, digits and ``_`` of a fingerprint field, lowercased, runs of anything else as one ``-``:
    a results file is untrusted, and nothing in it may name a path (``/../../x``)."""
    return re.sub(r"[^a-z0-9_]+", "-", str(value).lower()).strip("-")[:60]


def baseline_name(run: Run) -> str:
    """A readable file name for the run's machine type, e.g. ``amd-epyc-2cpu-x86_64.json``."""
    m = run.machine
    cpu = re.sub(r"[^a-z0-9]+", "-", str(m.get("cpu_model", "cpu")).lower()).strip("-")[:60] or "cpu"
    return f"{cpu}-{_slug(m.get('cpu_count', '?')) or '?'}cpu-{_slug(m.get('arch', ''))}".rstrip("-") + ".json"


def _machines(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(file, machine fingerprint) of every results file in the folder; other JSON files are no candidates,
    and neither is an onnxgate temp file (a killed write's, even of an older version's naming)."""
    out = []
    found = sorted(p for p in folder.glob("*.json") if not is_temp_name(p.name)) if folder.is_dir() else []
    for path in found:
        try:
            out.append((path, load_run(path).machine))
        except ResultsError:
            continue  # not a results file (or another schema): not a candidate
    return out


def find_baseline(folder: Path, current: Run) -> Path | None:
    """The baseline in ``folder`` recorded on the current run's machine type, or None.

    Where several match (an old file without CPU flags and a newer one with them), the one that
    recorded more of the fingerprint wins.
    """
    matches = [(path, m) for path, m in _machines(folder) if not fingerprint_differences(m, current.machine)]
    return max(matches, key=lambda pm: len(pm[1]))[0] if matches else None


def record_baseline(folder: Path, current: Run) -> Path:
    """Saves the current results as this machine type's baseline in ``folder`` (compact, atomic).

    Under the folder's lock: when another process recorded this machine type meanwhile, its
    file is kept and returned, so one machine type never gets two baselines.
    """
    with folder_lock(folder):
        recorded = find_baseline(folder, current)
        if recorded is not None:
            log.warning("another onnxgate process recorded %s for this machine type meanwhile; keeping it", recorded)
            return recorded
        target = folder / baseline_name(current)
        if target.exists():  # same readable name, another fingerprint (e.g. other CPU flags): keep both
            target = target.with_name(f"{target.stem}-{_slug(current.machine_id)[:8]}.json")
        return save_compact(current.path, target)


def known_machines(folder: Path) -> list[str]:
    """``file: cpu_model (N cpus, arch)`` of every baseline in the folder, for messages."""
    return [f"{path.name}: {machine_label(m)}" for path, m in _machines(folder)]


def _flag_difference(baseline: list[str] | None, current: list[str] | None) -> str:
    base, cur = set(baseline or ()), set(current or ())
    parts = []
    if base - cur:
        parts.append(f"this machine lacks {', '.join(sorted(base - cur))}")
    if cur - base:
        parts.append(f"this machine adds {', '.join(sorted(cur - base))}")
    return "; ".join(parts)


def _nearest(folder: Path, current: Run) -> str:
    """What sets the closest baseline apart from this machine, when that is only its CPU flags."""
    scored = [(path, fingerprint_differences(m, current.machine)) for path, m in _machines(folder)]
    near = [(path, d) for path, d in scored if set(d) == {"cpu_flags"}]
    if not near:
        return ""
    path, d = near[0]
    return f"; {path.name} differs only in CPU flags ({_flag_difference(*d['cpu_flags'])})"


# The gate for a pull request on any runner (docs/ci.md): the merge base and the change, measured side by side.
AGAINST = "onnxgate gate --against origin/main"


def skip_reason(folder: Path, current: Run) -> str:
    """One line: the gate was skipped, what the folder holds, the command that records this machine
    type, and the gate that needs no baseline."""
    have = "; ".join(known_machines(folder)) or ("nothing (it does not exist)" if not folder.exists() else "nothing")
    record = f"onnxgate gate --baseline {folder} --record-missing --current {current.path}"
    return (f"gate skipped: {folder} has no baseline for this machine type, {machine_label(current.machine)}; "
            f"it holds {have}{_nearest(folder, current)}. Record this one with `{record}` and commit the file, "
            f"or gate a change against its merge base on any runner, both measured side by side: `{AGAINST}` "
            "(docs/ci.md)")


@dataclass(frozen=True)
class BaselineChoice:
    """The baseline file to gate against, or why the gate is skipped (no baseline for this machine type)."""

    path: Path | None
    skipped: str | None = None


def choose_baseline(baseline: Path, current: Run) -> BaselineChoice:
    """A ``--baseline`` argument resolved for ``current``: a file as given, a folder by machine type.

    A path that is not a ``.json`` file is a folder of baselines, even when it does not exist
    yet: a project's first run on a machine type skips the gate instead of failing.
    """
    if baseline.is_file() or (baseline.suffix == ".json" and not baseline.is_dir()):
        return BaselineChoice(baseline)
    found = find_baseline(baseline, current)
    return BaselineChoice(found) if found is not None else BaselineChoice(None, skip_reason(baseline, current))


def save_compact(results: Path, target: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Copies results without pytest-benchmark's raw per-round times (``stats.data``).

    A committed baseline stays small: percentiles are already in ``stats`` and the gate
    reads the per-round ratios in ``extra_info``, which are kept. ``extra`` adds top-level keys.
    """
    doc = read_json_object(results)
    for bench in doc.get("benchmarks") or []:
        if isinstance(bench, dict) and isinstance(bench.get("stats"), dict):
            bench["stats"].pop("data", None)
    doc.update(extra or {})
    # Strict JSON: a NaN where the gate reads a number was refused when the file was loaded; one
    # elsewhere (a field nobody reads) is written as null, never as a bare NaN token.
    return write_text_atomic(target, json.dumps(finite_or_null(doc), indent=1, allow_nan=False) + "\n")


# How many earlier baselines a baseline file remembers: enough to see when and why it moved.
HISTORY_LIMIT = 10
_REMEMBERED_VERSIONS = ("onnxruntime", "onnx", "numpy", "onnxgate", "onnxgate_commit", "xgboost", "lightgbm",
                        "catboost", "scikit-learn", "python")


def _facts_of(run: Run) -> dict[str, Any]:
    """What a baseline was: when, from which commit, with which libraries and models."""
    software = run.software
    models: dict[str, dict[str, Any]] = {}
    for rec in run.records:
        facts = models.setdefault(rec.model, {})
        facts.update({k: v for k, v in rec.model_facts.items() if k in ("trees", "onnx_bytes", "file_sha256")})
        if rec.onnx_bytes is not None:
            facts.setdefault("onnx_bytes", rec.onnx_bytes)
    return {"recorded": run.datetime, "commit": run.commit, "dirty": run.dirty,
            "versions": {k: software[k] for k in _REMEMBERED_VERSIONS if k in software}, "models": models}


def accept_baseline(target: Path, current: Run, *, why: str = "") -> Run | None:
    """Makes ``current`` the baseline at ``target``; returns the baseline it replaced, or None.

    The replaced file's facts go first into the new file's ``onnxgate_baseline_history`` (with
    the time and the reason of the change), so the report can show when and why it moved. The
    read and the write hold the folder's lock: two accepts at once both land, one after the
    other, and the later one keeps the earlier one in its history.
    """
    with folder_lock(target.parent):
        previous = load_run(target) if os.path.lexists(target) else None
        history: list[dict[str, Any]] = []
        if previous is not None:
            entry = {**_facts_of(previous), "replaced": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "replaced_by_commit": current.commit, "why": why}
            history = [entry, *previous.history][:HISTORY_LIMIT]
        save_compact(current.path, target, extra={"onnxgate_baseline_history": history})
    return previous
