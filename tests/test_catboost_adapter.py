"""The CatBoost adapter's native-file and refusal behaviour, as a user meets it."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import convert
from conversion.converter.frameworks.catboost import CatBoostAdapter
from conversion.errors import ModelFileError, NotFittedError

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



def test_native_predict_keeps_to_the_models_thread_count() -> None:
    # CatBoost's predict takes every core unless told otherwise, so the zoo's model fitted with
    # thread_count=1 spread its native rows over both cores, and the instructions counted on the
    # calling thread moved by 26% from one run to the next. At the model's own thread_count it
    # works one thread at a time (partly on a pool thread: the benchmark's native clock is the
    # process's), and its counts repeat.
    import time

    import catboost as cb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20)).astype(np.float32)
    model = cb.CatBoostClassifier(iterations=200, depth=6, verbose=False, allow_writing_files=False,
                                  thread_count=1).fit(X, (X[:, 0] > 0).astype(int))
    rows = np.repeat(X, 100, axis=0)
    adapter = CatBoostAdapter()
    adapter.native(model, "predict_proba", rows)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(3):
        adapter.native(model, "predict_proba", rows)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    # Busy cores per second of waiting: about 1.8 at CatBoost's default on 2 idle cores; a load
    # can only lower it, so more than one core's worth means more than one thread worked at once.
    assert cpu / wall < 1.15, f"{cpu / wall:.2f} cores busy during a thread_count=1 model's predict"


def test_latency_of_a_one_hot_categorical_model_times_native_on_its_labels() -> None:
    """measure_latency_improvement hands CatBoost the integer labels, not the graph's codes."""
    pd = pytest.importorskip("pandas")
    from conversion import measure_latency_improvement

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"shop": rng.integers(0, 5, 300), "a": rng.normal(size=300)})
    model = cb.CatBoostRegressor(iterations=10, depth=3, one_hot_max_size=8, cat_features=["shop"], thread_count=1,
                                 verbose=False, allow_writing_files=False).fit(frame, frame["a"] + (frame["shop"] == 3))
    result = measure_latency_improvement(model, convert(model), frame.to_numpy(dtype=np.float64), n_runs=5,
                                         batch_sizes=[1, 64], warmup=1)
    assert [r["batch_size"] for r in result["rows"]] == [1, 64]
    assert all(r["native_avg_ms"] > 0 and r["onnx_avg_ms"] > 0 for r in result["rows"])
