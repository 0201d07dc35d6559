"""What changed between a baseline and the current run, stated before any verdict.

Once for the whole comparison and once per regressed model, the gate compares what the results
files record about the two runs: the model (native file, ONNX graph, trees, nodes, leaves,
features), library versions, onnxgate's own commit and dirty state, the project's commit and
the machine fingerprint. Each difference is a short phrase; a model's phrases share one line
("churn: 100 → 300 trees, ONNX 43 → 130 kB"). A baseline recorded after the run under test
(the two files swapped) is warned about first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from conversion.results.baseline_choice import fingerprint_differences
from conversion.results.benchmark_runs import Record, Run

__all__ = ["cause_of", "explain", "model_changes", "short_commit", "swapped_warning"]

FRAMEWORK_LIBRARY = {"xgboost": "xgboost", "lightgbm": "lightgbm", "catboost": "catboost", "sklearn": "scikit-learn"}
# Libraries whose release can move a benchmark, in the order a reader looks for them.
RUNTIME_LIBRARIES = ("onnxruntime", "onnxruntime_build", "onnx", "numpy", "onnxgate", "onnxgate_commit", "python")
LIBRARIES = (*RUNTIME_LIBRARIES, *FRAMEWORK_LIBRARY.values())
_COUNTS = ("trees", "nodes", "leaves", "features")
_BUILD_COMMIT = re.compile(r"git-commit-id=([0-9a-f]+)")


def short_commit(commit: str) -> str:
    """A short hash, or the whole word when there is none ("unversioned": not a git checkout)."""
    if not commit:
        return "?"
    return commit[:10] if all(c in "0123456789abcdef" for c in commit) else commit


def _size(n: int) -> str:
    return f"{n / 1e6:.2g} MB" if n >= 1e6 else f"{n / 1e3:.3g} kB" if n >= 1e3 else f"{n} B"


def _sizes(label: str, before: int, after: int) -> str:
    a, b = _size(before), _size(after)
    if a == b:  # a few bytes apart: rounding would show no change
        return f"{label} {before:,} → {after:,} B"
    unit = a.split()[1] if a.split()[1] == b.split()[1] else ""
    return f"{label} {a.split()[0] if unit else a} → {b}"  # "ONNX 43.4 → 130 kB"


def _facts(records: Iterable[Record]) -> dict[str, Any]:
    """A model's facts from its rows (all rows of one model share them); older files had onnx_bytes only."""
    out: dict[str, Any] = {}
    for rec in records:
        out.update({k: v for k, v in rec.model_facts.items() if v is not None})
        if rec.onnx_bytes is not None:
            out.setdefault("onnx_bytes", rec.onnx_bytes)
    return out


def model_changes(baseline: Iterable[Record], current: Iterable[Record]) -> list[str]:
    """Phrases for what differs in one model between the runs: counts, graph size, native file."""
    b, c = _facts(baseline), _facts(current)
    out = [f"{b[k]:,} → {c[k]:,} {k}" for k in _COUNTS if k in b and k in c and b[k] != c[k]]
    # Files before computation_sha256 had graph_sha256 (or onnx_sha256), digests of the names a converter
    # draws at random too: not compared. The same computation under other names is the same model.
    for label, size, digest in (("ONNX", "onnx_bytes", "computation_sha256"), ("file", "file_bytes", "file_sha256")):
        same = bool(b.get(digest)) and b.get(digest) == c.get(digest)
        if size in b and size in c and b[size] != c[size] and not same:
            out.append(_sizes(label, b[size], c[size]))
        elif b.get(digest) and c.get(digest) and b[digest] != c[digest]:
            out.append(f"{label} contents changed, same size (sha256 {b[digest][:8]} → {c[digest][:8]})")
    return out


def _label(phrases: list[str]) -> str:
    """"model changed" when the trees or the native file did; a graph alone changed in the conversion."""
    return "model changed" if any(not p.startswith("ONNX") for p in phrases) else "ONNX graph changed"


def _build(info: Any) -> str:
    """onnxruntime's build as its commit ("f217402897"): the whole build-info string runs to 300 characters."""
    found = _BUILD_COMMIT.search(str(info))
    return found.group(1) if found else "absent" if info is None else "other"


def _library_changes(baseline: Run, current: Run, names: Iterable[str]) -> list[str]:
    """``onnxruntime 1.22.0 → 1.23.0`` for each named entry of the software fingerprint that differs."""
    b, c = baseline.software, current.software
    out = []
    for name in names:
        if b.get(name) == c.get(name) or (name == "onnxgate_commit" and name not in b):
            continue  # (a baseline older than onnxgate_commit: the project's commit line says it)
        if name == "onnxruntime_build":
            if b.get("onnxruntime") == c.get("onnxruntime"):  # another release is another build: said already
                out.append(f"onnxruntime build {_build(b.get(name))} → {_build(c.get(name))}")
            continue
        if not isinstance(b.get(name, ""), str) or not isinstance(c.get(name, ""), str):
            out.append(f"{name} changed")  # the onnxruntime build, the providers: lists and mappings
        else:
            out.append(f"{name.replace('_', ' ')} {b.get(name, 'absent')} → {c.get(name, 'absent')}")
    return out


def _when(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def swapped_warning(baseline: Run, current: Run) -> str | None:
    """A warning when the baseline was recorded after the run under test (--baseline and --current swapped?)."""
    b, c = _when(baseline.datetime), _when(current.datetime)
    if b is None or c is None or b <= c:
        return None
    return (f"WARNING: the baseline ({baseline.datetime}) was recorded after the current run ({current.datetime}): "
            "are --baseline and --current swapped? A regression here may be an improvement the other way round")


def _commit_change(baseline: Run, current: Run) -> str | None:
    """The project's commit (pytest-benchmark's commit_info), unless it is onnxgate's own, said already."""
    def label(run: Run) -> str:
        return short_commit(run.commit) + (" (dirty)" if run.dirty else "")

    def is_onnxgate(run: Run) -> bool:
        own = str(run.software.get("onnxgate_commit", "")).removesuffix("+dirty")
        return bool(own) and run.commit.startswith(own)

    if label(baseline) == label(current) or (is_onnxgate(baseline) and is_onnxgate(current)):
        return None
    return f"commit {label(baseline)} → {label(current)}"


def _machine_change(baseline: Run, current: Run) -> str | None:
    differences = fingerprint_differences(baseline.machine, current.machine)
    if not differences:
        return None
    return "machine " + ", ".join(f"{k} {b} → {c}" for k, (b, c) in differences.items())


def _by_model(run: Run) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {}
    for rec in run.records:
        out.setdefault(rec.model, []).append(rec)
    return out


def explain(baseline: Run, current: Run, models: Iterable[str]) -> dict[str, Any]:
    """``{"run": [lines], "models": {model: [lines]}}``: the whole comparison, then each model in ``models``."""
    base, cur = _by_model(baseline), _by_model(current)
    changed = {m: model_changes(base[m], cur[m]) for m in sorted(set(base) & set(cur))}
    run = [w for w in (swapped_warning(baseline, current),) if w]
    run += [f"{_label(p)}: {m}: {', '.join(p)}" for m, p in changed.items() if p]
    rest = sorted((set(baseline.software) | set(current.software)) - set(LIBRARIES))
    libraries = _library_changes(baseline, current, (*LIBRARIES, *rest))  # the key ones first, then the others
    if libraries:
        run.append("libraries: " + ", ".join(libraries))
    run += [line for line in (_commit_change(baseline, current), _machine_change(baseline, current)) if line]
    if len(run) == (1 if run and run[0].startswith("WARNING") else 0):
        run.append("nothing recorded changed: the same models, library versions, onnxgate, commit and machine")
    per_model: dict[str, list[str]] = {}
    for model in models:
        lines = [f"{_label(changed[model])}: {', '.join(changed[model])}"] if changed.get(model) else []
        framework = next((r.framework for r in cur.get(model, base.get(model, []))), "")
        libs = _library_changes(baseline, current, (*RUNTIME_LIBRARIES, FRAMEWORK_LIBRARY.get(framework, framework)))
        if libs:
            lines.append("libraries: " + ", ".join(libs))
        machine = _machine_change(baseline, current)
        if machine:
            lines.append(machine)
        per_model[model] = lines or ["no recorded change: the same model file and graph, library versions, onnxgate "
                                     "and machine; look at the runner's load or at code outside onnxgate"]
    return {"run": run, "models": per_model}


def cause_of(explanations: dict[str, Any], model: str) -> str:
    """The one phrase a regressed benchmark's line gives as its cause."""
    lines = explanations.get("models", {}).get(model) or explanations.get("run") or ["unknown"]
    return "; ".join(lines)
