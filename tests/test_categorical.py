"""Categorical models as a user feeds them: labels -> codes from the ONNX metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conversion import InferenceEngine, convert
from conversion.converter.converted import ConvertedModel
from conversion.errors import ConversionRefusedError

from .cases import ALL_CASES

pd = pytest.importorskip("pandas")


def _case(case_id: str):
    return next(c for c in ALL_CASES if c.id == case_id).fit()


@pytest.mark.parametrize("case_id", ["xgboost-classifier-categorical", "lightgbm-classifier-categorical-pandas",
                                     "sklearn-histgradientboosting-categorical-from-dtype"])
def test_codes_from_the_stored_labels_reproduce_the_dataframe_prediction(case_id: str) -> None:
    model, X = _case(case_id)
    saved = ConvertedModel.from_bytes(convert(model).to_bytes())
    labels = json.loads(saved.metadata["categories"])["0"]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["f0"] = pd.Categorical.from_codes(np.nan_to_num(X[:, 0], nan=-1).astype(int), labels)
    for col in [c for c in frame.columns if c == "f3" and "xgboost" in case_id]:
        frame[col] = pd.Categorical.from_codes(X[:, 3].astype(int), [f"f3_{i}" for i in range(6)])
    # What the README tells a user to do: each label's position in the stored list, as a float.
    code = {label: float(i) for i, label in enumerate(labels)}
    fed = X.copy()
    fed[:, 0] = [code.get(v, np.nan) for v in frame["f0"].astype(object)]
    np.testing.assert_allclose(InferenceEngine(saved).predict_proba(fed), model.predict_proba(frame),
                               rtol=1e-5, atol=1e-6)


def test_categorical_splits_need_the_opset5_operator() -> None:
    model, _ = _case("lightgbm-classifier-categorical")
    with pytest.raises(ConversionRefusedError, match=r"BRANCH_MEMBER.*target_opset=5"):
        convert(model, target_opset=3)


def test_histgradientboosting_takes_inf_in_numeric_columns_and_refuses_it_in_categorical_ones() -> None:
    """scikit-learn passes +-inf through its numeric columns but its OrdinalEncoder rejects it
    on the categorical ones (0 and 3 here); the engine draws the same line, per column."""
    from conversion.errors import InputError

    model, X = _case("sklearn-histgradientboosting-categorical")
    engine = InferenceEngine(convert(model))
    rows = X[:4].copy()
    rows[0, 1], rows[1, 2], rows[2, 4] = np.inf, -np.inf, np.inf
    np.testing.assert_array_equal(engine.predict_proba(rows), model.predict_proba(rows))
    rows[3, 3] = -np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.predict_proba(rows)
    with pytest.raises(InputError, match=r"\+-inf in column\(s\) \[3\].*categorical"):
        engine.predict_proba(rows)
