"""The model facts the gate compares across runs count what the native model holds."""

from __future__ import annotations

import numpy as np
import pytest

from conversion import convert
from conversion.model_facts import model_facts

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
