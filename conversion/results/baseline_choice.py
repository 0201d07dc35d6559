"""One baseline per machine type: find the one that matches a run, or record it.

Timing ratios and instruction counts depend on the CPU, so a baseline gates only runs from
the same machine type (``machine_differences`` is empty). A folder of baselines, one per
runner type, lets the same CI job run on whatever machine it is given: where none matches,
the current run becomes that machine type's baseline and the caller says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from conversion.atomic import write_text_atomic
from conversion.errors import ResultsError
from conversion.results.benchmark_runs import Run, load_run

__all__ = ["baseline_name", "find_baseline", "known_machines", "record_baseline", "save_compact"]


def baseline_name(run: Run) -> str:
    """A readable file name for the run's machine type, e.g. ``amd-epyc-2cpu-x86_64.json``."""
    m = run.machine
    cpu = re.sub(r"[^a-z0-9]+", "-", str(m.get("cpu_model", "cpu")).lower()).strip("-") or "cpu"
    return f"{cpu}-{m.get('cpu_count', '?')}cpu-{m.get('arch', '')}".rstrip("-") + ".json"


def _machine_of(path: Path) -> dict | None:
    try:
        return load_run(path).machine
    except ResultsError:
        return None  # not a results file (or another schema): not a candidate


def find_baseline(folder: Path, current: Run) -> Path | None:
    """The baseline in ``folder`` recorded on the current run's machine type, or None."""
    if not folder.is_dir():
        raise ResultsError(f"baseline folder {folder} does not exist; create it, or pass --baseline FILE")
    for path in sorted(folder.glob("*.json")):
        if _machine_of(path) == current.machine:
            return path
    return None


def record_baseline(folder: Path, current: Run) -> Path:
    """Saves the current results as this machine type's baseline in ``folder`` (compact, atomic)."""
    target = folder / baseline_name(current)
    if target.exists():  # same readable name, another fingerprint (e.g. other CPU flags): keep both
        target = target.with_name(f"{target.stem}-{current.machine_id[:8]}.json")
    return save_compact(current.path, target)


def known_machines(folder: Path) -> list[str]:
    """``cpu_model (N cpus)`` of every baseline in the folder, for messages."""
    out = []
    for path in sorted(folder.glob("*.json")):
        m = _machine_of(path)
        if m is not None:
            out.append(f"{path.name}: {m.get('cpu_model')} ({m.get('cpu_count')} cpus)")
    return out



def save_compact(results: Path, target: Path) -> Path:
    """Copies results without pytest-benchmark's raw per-round times (``stats.data``).

    A committed baseline stays small: percentiles are already in ``stats`` and the gate
    reads the per-round ratios in ``extra_info``, which are kept.
    """
    doc = json.loads(results.read_text(encoding="utf-8"))
    for bench in doc.get("benchmarks", []):
        bench.get("stats", {}).pop("data", None)
    return write_text_atomic(target, json.dumps(doc, indent=1) + "\n")
