"""Instruction counts for the latency suite's rows (``--onnxgate-counts``), measured once per session.

All models of the session are counted at the first latency test, before any timing: the
valgrind processes run one per core and would otherwise load the machine under the timings.
"""

from __future__ import annotations

from typing import Any

import pytest

from conversion.bench.cases import Case, cases_for
from conversion.bench.fingerprint import usable_providers
from conversion.bench.settings import settings_of
from conversion.bench.zoo import ZooSpec

__all__ = ["ROW_PATHS", "row_counts"]

# What each row's counts hold: a native row its predict call, an ONNX row onnxgate's engine
# and the raw ONNX Runtime session underneath it (so an engine change and an onnxruntime
# change are told apart).
ROW_PATHS = {"native": ("native",), "onnx": ("engine", "onnxruntime")}
NOT_COUNTED = ("multi-threaded sessions are not counted: their work is split between threads "
               "nondeterministically, and only the calling thread is counted")

_COUNTS = pytest.StashKey[dict[str, dict[str, Any]]]()


def _session_counts(config: pytest.Config) -> dict[str, dict[str, Any]]:
    if _COUNTS not in config.stash:
        from conversion.bench.counts import count_models

        settings = settings_of(config)
        cases = cases_for(settings.profile, providers=usable_providers(), specs=settings.specs,
                          frameworks=settings.frameworks)
        from conversion.bench.prepared import prepare

        # A model with neither a native call nor an ONNX model on float rows has no row to count.
        models = sorted({c.spec.name for c in cases if isinstance(c.spec, ZooSpec)
                         and not (prepare(c.spec).why_not("native") and prepare(c.spec).why_not("onnx"))})
        config.stash[_COUNTS] = count_models(models, settings.profile.batches)
    return config.stash[_COUNTS]


def row_counts(config: pytest.Config, case: Case) -> dict[str, Any]:
    """The extra_info fields of one row: ``counts`` ({path: {"instructions", "cycles"}}) and ``counts_meta``."""
    if case.runtime != "native" and (case.threads or 1) != 1:
        return {"counts_note": NOT_COUNTED}
    if case.runtime != "native" and case.provider != "CPUExecutionProvider":
        return {"counts_note": "only the CPU provider runs on the counted thread"}
    if not isinstance(case.spec, ZooSpec):
        return {"counts_note": "instruction counts are taken for the embedded zoo's models only"}
    measured = _session_counts(config)[case.spec.name]
    per_path = measured["per_call"].get(str(case.batch_size), {})
    counts = {p: per_path[p] for p in ROW_PATHS.get(case.runtime, ()) if p in per_path}
    return {"counts": counts, "counts_meta": measured["meta"]}
