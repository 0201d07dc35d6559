"""Multi-output tree classifiers answer in scikit-learn's shapes: predict (N, n_outputs) of the
first output's label dtype, predict_proba one (N, k) array per output."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import InferenceEngine, Predictor, convert
from conversion.converter.converted import ConvertedModel

from .cases import ALL_CASES

CASES = ["sklearn-randomforest-classifier-multilabel", "sklearn-decisiontree-classifier-multioutput-multiclass-nan",
         "sklearn-extratrees-classifier-multioutput-strings"]


def _fit(case_id: str):
    return next(c for c in ALL_CASES if c.id == case_id).fit()


@pytest.mark.parametrize("case_id", CASES)
@pytest.mark.parametrize("rows", [0, 1, 7, 300])
def test_engine_and_predictor_return_the_native_shapes(case_id: str, rows: int) -> None:
    model, X = _fit(case_id)
    saved = ConvertedModel.from_bytes(convert(model).to_bytes())  # the split survives a file round trip
    engine = InferenceEngine(saved)
    batch = X[:rows].astype(np.float32)
    native_proba = model.predict_proba(batch) if rows else [p[:0] for p in model.predict_proba(X[:1])]
    native_label = model.predict(batch) if rows else model.predict(X[:1])[:0]
    for answer in (engine, Predictor(model, saved, policy="onnx", calibrate=False),
                   Predictor(model, saved, policy="native", calibrate=False)):
        proba = answer.run("predict_proba", batch)
        assert isinstance(proba, list) and len(proba) == len(native_proba)
        for got, want in zip(proba, native_proba, strict=True):
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        label = answer.run("predict", batch)
        assert label.shape == native_label.shape == (rows, model.n_outputs_)
        assert label.dtype == native_label.dtype
        np.testing.assert_array_equal(label, native_label)



def test_shadow_compares_per_output_probabilities() -> None:
    from conversion.serving.predictor import ShadowPredictor

    model, X = _fit(CASES[1])  # outputs of 3, 3 and 2 classes: the arrays cannot stack
    converted = convert(model)
    primary = Predictor(model, converted, policy="native", calibrate=False)
    shadow = ShadowPredictor(primary, Predictor(model, converted, policy="onnx", calibrate=False), sample_rate=1.0)
    out = shadow.run("predict_proba", X[:20].astype(np.float32))
    shadow.flush()
    assert [p.shape for p in out] == [(20, 3), (20, 3), (20, 2)]
    stats = shadow.report()
    assert stats["shadow_errors"] == 0 and stats["compared_rows"] == 20 and stats["mismatched_rows"] == 0
