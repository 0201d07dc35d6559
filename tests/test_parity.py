"""The parity matrix: every zoo case, both dtypes, hypothesis inputs seeded from the model's
own split points; refusals; and the public converters in the same matrix."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversion import InferenceEngine, RuntimeVersionError, check_parity, convert
from conversion.converter.convert import finish
from conversion.converter.frameworks import adapter_named
from conversion.parity.tree_summary import summarize_trees

from .cases import ALL_CASES, Case
from .strategies import parity_batches, probe_batch

CONVERTIBLE = [c for c in ALL_CASES if c.refused is None]
REFUSED = [c for c in ALL_CASES if c.refused is not None]
UPSTREAM = [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.upstream_xfail)) if c.upstream_xfail else c
    for c in CONVERTIBLE
    if c.upstream
]
DTYPES = ["float32", "float64"]


@cache
def _converted(case: Case, dtype: str):
    model, X = case.fit()
    conv = convert(model, dtype=dtype)
    try:
        # The public `run` path: test_engine checks every call path answers identically, so the
        # matrix need not measure which is fastest (0.1 s a graph, 46 s of this file's 211).
        engine = InferenceEngine(conv, call_path="run")
    except RuntimeVersionError as exc:  # e.g. categorical graphs under the lowest onnxruntime (nox -s lowest)
        pytest.skip(str(exc))
    return model, X, conv, engine


@cache
def _trees(case: Case, dtype: str):
    """The graph's split points and category sets, read once per graph, not once per example."""
    return summarize_trees(_converted(case, dtype)[2].onnx)


def _batch_kwargs(case: Case, conv) -> dict:
    return {"dtype": conv.dtype, "allow_nan": case.nan, "allow_inf": case.inf, "extra": case.edges,
            "max_abs": case.max_abs, "finite_columns": conv.finite_columns}


@cache
def _batches(case: Case, dtype: str):
    _, X_train, conv, _ = _converted(case, dtype)
    trees = _trees(case, dtype)
    return parity_batches(X_train, trees.splits, categories=trees.categories, **_batch_kwargs(case, conv))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONVERTIBLE, ids=str)
@given(data=st.data())
def test_parity_on_generated_inputs(case: Case, dtype: str, data: st.DataObject) -> None:
    model, _, conv, engine = _converted(case, dtype)
    X = data.draw(_batches(case, dtype), label="X")
    report = check_parity(model, conv, X, engine=engine)
    assert report.passed, str(report)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONVERTIBLE, ids=str)
def test_parity_on_training_and_probe_rows(case: Case, dtype: str) -> None:
    model, X_train, conv, engine = _converted(case, dtype)
    # Rows in the graph's dtype: a float32 graph is for float32 rows (a float64 row into it is
    # refused where the native model would compute with more precision; see conversion/converter/inputs.py).
    trees = _trees(case, dtype)
    probe = probe_batch(X_train, trees.splits, categories=trees.categories, **_batch_kwargs(case, conv))
    X = np.vstack([X_train.astype(conv.dtype), probe])
    report = check_parity(model, conv, X, engine=engine)
    assert report.passed, str(report)


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_refused_with_a_clear_error(case: Case) -> None:
    model, _ = case.fit()
    error, message = case.refused
    with pytest.raises(error, match=message):
        convert(model)


@pytest.mark.upstream
@pytest.mark.parametrize("case", UPSTREAM, ids=str)
def test_upstream_converter_parity(case: Case) -> None:
    """The public converter on the same deterministic inputs; known defects are strict xfails."""
    model, X_train, ours, _ = _converted(case, "float32")
    adapter = adapter_named(case.framework)
    lowered = adapter.upstream(model, dtype=np.dtype(np.float32))
    theirs = finish(model, lowered, adapter.name, adapter.version(), "", dtype=np.dtype(np.float32), name=None)
    trees = _trees(case, "float32")
    X = np.vstack([X_train.astype(np.float32), probe_batch(X_train, trees.splits, categories=trees.categories,
                                                         **_batch_kwargs(case, ours))])
    report = check_parity(model, theirs, X)
    assert report.passed, str(report)
