"""Instruction counts for the latency suite's rows (``--onnxgate-counts``), measured once per session.

Every model the suite measures is counted, the zoo's and the user's (``[tool.onnxgate]``,
``--model``) alike: each spec goes to the counting worker as JSON and is prepared there as
here (prepared.py), so the rows and the trust rules are the timed benchmark's. All models are
counted at the first latency test, before any timing: the valgrind processes run one per core
and would otherwise load the machine under the timings. A model that cannot be counted is
named, with the reason, in the session's terminal summary (``uncounted_lines``).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from conversion.bench.cases import Case, cases_for
from conversion.bench.fingerprint import usable_providers
from conversion.bench.settings import settings_of

__all__ = ["ROW_PATHS", "row_counts", "uncounted_lines", "with_counts"]

log = logging.getLogger(__name__)

# What each row's counts hold: a native row its predict call, an ONNX row onnxgate's engine
# and the raw ONNX Runtime session underneath it (so an engine change and an onnxruntime
# change are told apart).
# An ONNX row at the smallest batch also carries the model's cold start (counts.COLD_PATHS).
ROW_PATHS = {"native": ("native",), "onnx": ("engine", "onnxruntime", "session-creation", "first-call")}
NOT_COUNTED = ("multi-threaded sessions are not counted: their work is split between threads "
               "nondeterministically, and only the calling thread is counted")

_COUNTS = pytest.StashKey[dict[str, dict[str, Any]]]()


def _countable(spec: Any) -> bool:
    """Whether the model has a row to count: a native call or an ONNX model on float rows."""
    from conversion.bench.prepared import prepare

    try:
        prep = prepare(spec)
    except Exception:  # the latency test of this model reports why it cannot be prepared
        return False
    return not (prep.why_not("native") and prep.why_not("onnx"))


def _session_counts(config: pytest.Config) -> dict[str, dict[str, Any]]:
    if _COUNTS not in config.stash:
        from conversion.bench.counts import count_models

        settings = settings_of(config)
        cases = cases_for(settings.profile, providers=usable_providers(), specs=settings.specs,
                          frameworks=settings.frameworks)
        from conversion.bench.progress_bars import bar

        specs = {c.spec.name: c.spec for c in cases}
        chosen = [s for _, s in sorted(specs.items()) if _countable(s)]
        # Counting runs every model under valgrind before the first timing: minutes, so a bar of its own.
        progress = bar(len(chosen), "counting instructions", "model")
        try:
            config.stash[_COUNTS] = count_models(chosen, settings.profile.batches,
                                                 done=progress.update if progress is not None else None)
        finally:
            if progress is not None:
                progress.close()
    return config.stash[_COUNTS]


def row_counts(config: pytest.Config, case: Case) -> dict[str, Any]:
    """The LatencyInfo fields of one row's counts: ``counts`` ({path: {measure: per call}}) and
    ``counts_meta``, or ``counts_note`` saying why it has none."""
    if case.runtime != "native" and (case.threads or 1) != 1:
        return {"counts_note": NOT_COUNTED}
    if case.runtime != "native" and case.provider != "CPUExecutionProvider":
        return {"counts_note": "only the CPU provider runs on the counted thread"}
    measured = _session_counts(config).get(case.spec.name)
    if measured is None or "error" in measured:
        return {"counts_note": f"not counted: {measured['error'] if measured else 'the model could not be prepared'}"}
    per_path = measured["per_call"].get(str(case.batch_size), {})
    counts = {p: per_path[p] for p in ROW_PATHS.get(case.runtime, ()) if p in per_path}
    return {"counts": counts, "counts_meta": measured["meta"]}


def with_counts(extra_info: dict[str, Any], config: pytest.Config, case: Case) -> dict[str, Any]:
    """A row's ``extra_info`` with its counts, set through LatencyInfo (a misspelt field fails there)."""
    from dataclasses import replace

    from conversion.results.latency_info import LatencyInfo

    counted = replace(LatencyInfo.from_extra_info(extra_info), **row_counts(config, case))
    return {**extra_info, **counted.as_extra_info()}


def uncounted_lines(config: pytest.Config) -> list[str]:
    """One line per model that --counts could not count, with the reason (for the terminal summary)."""
    measured = config.stash.get(_COUNTS, {})
    return [f"{name}: not counted, so gated on time ratios only: {m['error'].splitlines()[0]}"
            + ("".join(f"\n    {line}" for line in m["error"].splitlines()[1:]))
            for name, m in sorted(measured.items()) if "error" in m]


# --- the onnxgate_latency fixture's rows: counted after every timing, at the results hook ---

_FIXTURE_ROWS = pytest.StashKey[dict[str, tuple[Any, Case]]]()  # benchmark fullname -> (spec or why not, case)
_FIXTURE_SPECS = pytest.StashKey[dict[int, Any]]()  # id(model) -> UserSpec of its saved copy, or a reason


def _saved_spec(config: pytest.Config, model: Any, X: Any, name: str) -> Any:
    """A UserSpec of ``model`` saved in its framework's own format (never pickle) with its rows as
    .npy, so the counting worker loads what the fixture timed; a str says why it cannot be."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from conversion.bench.config import ModelEntry
    from conversion.bench.user_models import UserSpec
    from conversion.converter.frameworks import adapter_for

    specs = config.stash.setdefault(_FIXTURE_SPECS, {})
    if id(model) not in specs:
        try:
            rows = np.asarray(X)
            if rows.dtype == object:
                raise ValueError("its rows are not numeric (np.asarray gives an object array)")
            adapter = adapter_for(model)
            folder = Path(tempfile.mkdtemp(prefix="onnxgate-fixture-counts-"))
            path = folder / f"{name}{adapter.native_suffix}"
            adapter.save_native(model, path)
            np.save(folder / "rows.npy", rows, allow_pickle=False)
            specs[id(model)] = UserSpec(ModelEntry(name, path), folder / "rows.npy")
        except Exception as exc:  # the reason is reported; the timing stands
            specs[id(model)] = f"the model could not be saved for the counting process: {type(exc).__name__}: {exc}"
    return specs[id(model)]


def defer_fixture_row(config: pytest.Config, fullname: str, model: Any, X: Any, case: Case) -> None:
    """Notes one fixture benchmark for counting at the end of the session (``count_fixture_rows``)."""
    config.stash.setdefault(_FIXTURE_ROWS, {})[fullname] = (_saved_spec(config, model, X, case.spec.name), case)


def count_fixture_rows(config: pytest.Config, benchmarks: list[dict[str, Any]]) -> None:
    """Adds ``counts`` (or ``counts_note``) to the fixture's rows of the results, counting every model once."""
    from conversion.bench.counts import count_model

    rows = config.stash.get(_FIXTURE_ROWS, {})
    if not rows:
        return
    measured = config.stash.setdefault(_COUNTS, {})
    wanted: dict[str, tuple[Any, set[int]]] = {}
    for spec, case in rows.values():
        if isinstance(spec, str):
            measured[case.spec.name] = {"error": spec}
        else:
            wanted.setdefault(spec.name, (spec, set()))[1].add(case.batch_size)
    for name, (spec, batches) in wanted.items():
        try:
            measured[name] = count_model(spec, sorted(batches))
        except Exception as exc:  # the reason is reported; the timing stands
            measured[name] = {"error": str(exc)}
    for bench in benchmarks:
        if bench.get("fullname") in rows:
            bench["extra_info"] = with_counts(bench.get("extra_info") or {}, config, rows[bench["fullname"]][1])
