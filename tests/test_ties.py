"""Exact ties of raw scores: labels follow the native decision rule whatever ONNX Runtime's
thread count (GradientBoostingClassifier decides on raw >= 0 and the first maximum)."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import InferenceEngine, convert

from .cases import ALL_CASES

pytest.importorskip("sklearn")

TIED = {c.id: c for c in ALL_CASES if c.id.startswith("sklearn-gradientboosting-classifier-") and "-tie" in c.id}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case_id", sorted(TIED))
def test_tied_rows_get_the_native_label(case_id: str, threads: int, dtype: str) -> None:
    model, X = TIED[case_id].fit()
    raw = model.decision_function(X)
    top = np.sort(raw.reshape(len(X), -1), axis=1)
    tied = (raw == 0) if raw.ndim == 1 else (top[:, -1] == top[:, -2])
    assert tied.any(), "the case must contain exactly tied rows"
    engine = InferenceEngine(convert(model, dtype=dtype), threads=threads)
    # Batches above 50 rows are where ONNX Runtime splits one node's trees across threads.
    np.testing.assert_array_equal(engine.predict(X), model.predict(X))
    for i in np.flatnonzero(tied)[:20]:  # and one row at a time
        assert engine.predict(X[i : i + 1])[0] == model.predict(X[i : i + 1])[0]
