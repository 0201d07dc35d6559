"""The capability and parity matrix: convert a model, then check it on each kind of data.

Every failure becomes a cell (refused, wrong, error), never an exception: one broken adapter
must not stop the job, and the reason is what the user came to read.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conversion.converter.convert import convert, finish
from conversion.converter.converted import ConvertedModel
from conversion.converter.frameworks import adapter_named
from conversion.errors import OnnxGateError
from conversion.parity.check import check_parity
from conversion.runtime.engine import InferenceEngine

from .known_issues import match_known_issue

__all__ = ["NAN_NOT_CHECKED", "PATHS", "Attempt", "Subject", "attempt_conversion", "cold_costs", "parity_cells",
           "takes_nan", "with_nan"]

log = logging.getLogger(__name__)

NAN_FRACTION = 0.1
# The one wording for NaN rows of a model that takes none, in `check`, `run` and the report:
# both sides refuse them by design, so there is nothing to compare.
NAN_NOT_CHECKED = "not checked: the native model refuses NaN (so does the ONNX model)"


@dataclass
class Subject:
    """One model under test and the held-out rows it is checked on."""

    name: str
    framework: str
    dataset: str
    task: str
    model: Any
    X: np.ndarray
    data_kind: str = "clean"  # "categorical" for the categorical probes: their clean rows are that kind
    y: np.ndarray | None = None  # the rows' true labels or targets, when known (a variant's score delta)


@dataclass
class Attempt:
    """A conversion's outcome: the model, or the status and reason it failed with."""

    path: str
    converted: ConvertedModel | None
    seconds: float
    status: str = "converted"
    reason: str = ""


def _failure(exc: BaseException) -> tuple[str, str]:
    """Maps an exception to a cell status: refusals are the project's errors, the rest are bugs."""
    if isinstance(exc, OnnxGateError):
        return "refused", str(exc)
    if isinstance(exc, NotImplementedError):
        return "unavailable", str(exc) or "not implemented yet"
    log.debug("unexpected error: %s", "".join(traceback.format_exception(exc)))
    return "error", f"{type(exc).__name__}: {exc}"


def _onnxgate(model: Any, framework: str) -> ConvertedModel:
    return convert(model)


def _upstream(model: Any, framework: str) -> ConvertedModel:
    adapter = adapter_named(framework)
    dtype = np.dtype(np.float32)
    lowered = adapter.upstream(model, dtype=dtype)
    return finish(model, lowered, adapter.name, adapter.version(), adapter.fingerprint(model), dtype=dtype, name=None)


# converter path -> how it converts; the upstream path is the public converter the user would
# otherwise use (onnxmltools, skl2onnx, CatBoost's exporter).
PATHS: dict[str, Callable[[Any, str], ConvertedModel]] = {"onnxgate": _onnxgate, "upstream": _upstream}


def attempt_conversion(subject: Subject, path: str) -> Attempt:
    start = time.perf_counter()
    try:
        converted = PATHS[path](subject.model, subject.framework)
    except Exception as exc:  # every failure becomes a report cell
        status, reason = _failure(exc)
        return Attempt(path, None, time.perf_counter() - start, status, reason)
    return Attempt(path, converted, time.perf_counter() - start)


def with_nan(X: np.ndarray, *, fraction: float = NAN_FRACTION, seed: int = 0) -> np.ndarray:
    """A copy of ``X`` with a fixed random ``fraction`` of its values replaced by NaN."""
    rng = np.random.default_rng(seed)
    out = np.array(X, dtype=np.float64 if X.dtype.kind != "f" else X.dtype, copy=True)
    out[rng.random(out.shape) < fraction] = np.nan
    return out


def _cell(subject: Subject, path: str, kind: str, **fields: Any) -> dict[str, Any]:
    cell = {"model": subject.name, "framework": subject.framework, "dataset": subject.dataset,
            "data_kind": kind, "path": path, "status": "exact", "reason": "", "issue": None, **fields}
    known = match_known_issue(cell)
    if known:
        cell["issue"] = {"url": known.url, "why": known.why}
    return cell


def takes_nan(converted: ConvertedModel) -> bool:
    """Whether the native model accepts missing values (recorded at conversion)."""
    return converted.metadata.get("allow_nan", "true") == "true"


def parity_cells(subject: Subject, attempt: Attempt) -> list[dict[str, Any]]:
    """One cell per data kind the subject has, for one converter path.

    Each graph is judged on rows of its own input dtype, as its user would feed it: a float32
    graph (the public converters' default) gets the rows rounded to float32, native side too,
    rather than float64 rows that onnxgate's engine refuses to round silently.
    """
    kinds = {"categorical": subject.X} if subject.data_kind == "categorical" else {
        "clean": subject.X, "nan": with_nan(subject.X)}
    cells = []
    for kind, X in kinds.items():
        if attempt.converted is None:
            cells.append(_cell(subject, attempt.path, kind, status=attempt.status, reason=attempt.reason))
            continue
        if kind == "nan" and not takes_nan(attempt.converted):
            cells.append(_cell(subject, attempt.path, kind, status="unchecked", reason=NAN_NOT_CHECKED))
            continue
        graph_dtype = attempt.converted.dtype
        if isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.dtype.itemsize > graph_dtype.itemsize:
            X = X.astype(graph_dtype)
        try:
            report = check_parity(subject.model, attempt.converted, X)
        except Exception as exc:  # e.g. the model refuses NaN input
            status, reason = _failure(exc)
            cells.append(_cell(subject, attempt.path, kind, status=status, reason=reason))
            continue
        causes = report.causes
        cells.append(_cell(
            subject, attempt.path, kind,
            status="exact" if report.passed else "wrong",
            reason="; ".join(report.problems),
            n_rows=report.n_rows, mismatched_rows=report.mismatched_rows, label_flips=report.label_flips,
            max_abs_error=report.max_abs_error, max_rel_error=report.max_rel_error,
            cause=max(causes, key=causes.get) if causes else None, causes=causes,
        ))
    return cells


def cold_costs(converted: ConvertedModel, X: np.ndarray) -> dict[str, float]:
    """What a first request pays: ONNX size, session creation and the first call."""
    start = time.perf_counter()
    engine = InferenceEngine(converted)
    session = time.perf_counter() - start
    method = "predict_proba" if "predict_proba" in converted.methods else "predict"
    start = time.perf_counter()
    engine.run(method, X[:1])
    first = time.perf_counter() - start
    return {"onnx_bytes": len(converted.to_bytes()), "session_seconds": session, "first_call_seconds": first}
