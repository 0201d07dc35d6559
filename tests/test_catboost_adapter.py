"""The CatBoost adapter's native-file and refusal behaviour, as a user meets it."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import convert
from conversion.errors import ModelFileError, NotFittedError
from conversion.frameworks.catboost import CatBoostAdapter

from .cases.base import dataset

cb = pytest.importorskip("catboost")

_FAST = {"iterations": 5, "depth": 3, "thread_count": 1, "allow_writing_files": False, "verbose": False}


@pytest.mark.parametrize(
    ("make", "task", "wrapper"),
    [
        (lambda: cb.CatBoostClassifier(**_FAST), "multiclass", "CatBoostClassifier"),
        (lambda: cb.CatBoostRegressor(loss_function="Poisson", **_FAST), "regression", "CatBoostRegressor"),
    ],
    ids=["classifier", "poisson-regressor"],
)
def test_cbm_round_trip_gives_back_a_model_that_predicts_the_same(make, task, wrapper, tmp_path) -> None:
    X, y = dataset(task, positive=True)
    model = make().fit(X, y)
    adapter = CatBoostAdapter()
    path = tmp_path / f"model{adapter.native_suffix}"
    adapter.save_native(model, path)
    loaded = adapter.load_native(path)
    assert type(loaded).__name__ == wrapper  # a .cbm does not say which wrapper wrote it
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert not list(tmp_path.glob(".onnxgate-tmp-*")), "the atomic write left a temporary file behind"


def test_load_native_refuses_files_of_another_format(tmp_path) -> None:
    path = tmp_path / "model.cbm"
    path.write_text('{"learner": {}}')
    with pytest.raises(ModelFileError, match="not a CatBoost binary model"):
        CatBoostAdapter().load_native(path)


def test_load_native_refuses_a_truncated_cbm(tmp_path) -> None:
    X, y = dataset("binary")
    data = CatBoostAdapter().native_bytes(cb.CatBoostClassifier(**_FAST).fit(X, y))
    path = tmp_path / "model.cbm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable CatBoost model"):
        CatBoostAdapter().load_native(path)


def test_unfitted_model_is_refused() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        convert(cb.CatBoostRegressor())
