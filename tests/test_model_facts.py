"""The model facts the gate compares across runs count what the native model holds."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import convert
from conversion.converter.model_facts import model_facts

xgb = pytest.importorskip("xgboost")


@pytest.mark.parametrize("trees", [7, 21])
def test_trees_nodes_and_leaves_match_the_native_booster(trees: int, tmp_path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    model = xgb.XGBRegressor(n_estimators=trees, max_depth=3, n_jobs=1).fit(X, X[:, 0] + X[:, 1] ** 2)
    path = tmp_path / "m.ubj"
    model.save_model(path)
    frame = model.get_booster().trees_to_dataframe()
    facts = model_facts(convert(model), source=path)
    assert facts["trees"] == trees == frame["Tree"].nunique()
    assert facts["nodes"] == len(frame) and facts["leaves"] == int((frame["Feature"] == "Leaf").sum())
    assert facts["features"] == 5 and facts["file_bytes"] == path.stat().st_size
    assert facts["onnx_bytes"] == len(convert(model).to_bytes())


def test_a_catboost_model_fitted_again_on_the_same_rows_is_the_same_graph() -> None:
    # CatBoost stamps each fit with a fresh model_guid and train_finish_time: the .cbm bytes (and the
    # ONNX file, which stores the native model's fingerprint) changed on every run, and the gate's
    # "what changed" said "ONNX contents changed" of an unchanged zoo model.
    cb = pytest.importorskip("catboost")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)

    def fit(seed: int) -> object:
        return cb.CatBoostRegressor(iterations=12, depth=3, random_seed=seed, thread_count=1, verbose=False,
                                    allow_writing_files=False).fit(X, X[:, 0] - X[:, 1])

    first, again, other = convert(fit(0)), convert(fit(0)), convert(fit(1))
    assert first.metadata["model_sha256"] == again.metadata["model_sha256"]
    assert first.to_bytes() == again.to_bytes()
    assert model_facts(first)["computation_sha256"] == model_facts(again)["computation_sha256"]
    # another seed grows other trees: another fingerprint and another graph
    assert other.metadata["model_sha256"] != first.metadata["model_sha256"]
    assert model_facts(other)["computation_sha256"] != model_facts(first)["computation_sha256"]


def test_two_conversions_of_one_sklearn_pipeline_are_one_computation() -> None:
    # skl2onnx names each graph at random: a digest of its bytes made the gate say "ONNX graph
    # changed" between two unchanged runs (issue 27).
    from dataclasses import replace

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from conversion.results.gate.explain import model_changes
    from tests.report_samples import latency_rows

    X = np.random.default_rng(0).normal(size=(200, 4))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X[:, 0] > 0)
    first, again = convert(pipeline), convert(pipeline)
    assert first.onnx.graph.name != again.onnx.graph.name  # the converter's own randomness, still there
    assert model_facts(first)["computation_sha256"] == model_facts(again)["computation_sha256"]
    row = latency_rows("credit", "sklearn")[0]
    assert model_changes([replace(row, model_facts=model_facts(first))],
                         [replace(row, model_facts=model_facts(again))]) == []
    # another fit is another computation, and the gate says so
    other = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(X, X[:, 0] > 0)
    changed = model_changes([replace(row, model_facts=model_facts(first))],
                            [replace(row, model_facts=model_facts(convert(other)))])
    assert changed and changed[0].startswith("ONNX")
