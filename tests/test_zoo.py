"""The embedded zoo's categorical models, as `onnxgate bench` and `run` prepare them (issue 12)."""

from __future__ import annotations

import numpy as np
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


def test_catboost_categorical_zoo_model_says_why_it_has_nothing_to_measure() -> None:
    prep = prepare(parse_specs(["catboost-categorical-small"])[0])
    assert prep.parity == "refused" and prep.converted is None
    assert "CTR" in prep.why_not("onnx")  # CatBoost's target statistics: what the user should know
    # Native CatBoost takes categories as integers or strings: the float rows are refused, so its
    # native rows are skipped with that reason instead of failing the benchmark run.
    assert "refuses float rows" in prep.why_not("native") and "cat_features" in prep.why_not("native")
