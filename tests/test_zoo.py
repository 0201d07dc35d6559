"""The embedded zoo's categorical models, as `onnxgate bench` and `run` prepare them (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conversion.bench.cases import PROFILES, cases_for, parse_specs
from conversion.bench.prepared import prepare
from conversion.bench.zoo import CATEGORICAL


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm", "sklearn"])
def test_categorical_zoo_models_convert_exactly_and_are_benchmarked(framework: str) -> None:
    [spec] = parse_specs([f"{framework}-categorical-small"])
    prep = prepare(spec)
    assert prep.parity == "passed", prep.parity_detail
    assert prep.why_not("native") is None and prep.why_not("onnx") is None
    # The held-out rows hold category codes on the categorical columns, not just numbers.
    codes = prep.zoo.X[:, list(CATEGORICAL["categorical"])]
    assert np.array_equal(codes, np.round(codes)) and len(np.unique(codes[:, 1])) > 20
    # The default benchmark (what the gate guards) measures it, native and ONNX.
    ids = {c.id for c in cases_for(PROFILES["quick"], providers=["CPUExecutionProvider"], threads=[1])}
    assert {f"{spec.name}-b1-native", f"{spec.name}-b1-onnx-cpu-t1"} <= ids


def test_catboost_categorical_zoo_model_is_measured_natively_and_says_why_it_has_no_onnx_rows() -> None:
    prep = prepare(parse_specs(["catboost-categorical-small"])[0])
    assert prep.parity == "refused" and prep.converted is None
    assert "CTR" in prep.why_not("onnx")  # CatBoost's target statistics: what the user should know
    # Native CatBoost takes categories as integers or strings: the bench's call hands it the
    # categorical columns' integer labels, so its native rows are measured.
    assert prep.why_not("native") is None
    rows = prep.zoo.X[:64]
    got = prep.native_call(rows)()
    frame = pd.DataFrame(rows, columns=prep.zoo.model.feature_names_).astype({"f0": int, "f1": int})
    np.testing.assert_array_equal(got, prep.zoo.model.predict_proba(frame))
