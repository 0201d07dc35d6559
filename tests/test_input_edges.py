"""What users feed the engine at its edges: named DataFrames, float64 and integer rows, CSV files.

Each test is written as a user would meet the problem: a frame with its columns in another
order, a timestamp-like float64 feature, a CSV with a text column.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conversion import InferenceEngine, InputError, Predictor, check_parity, convert, load
from conversion.model_files import load_rows

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")
sklearn_ensemble = pytest.importorskip("sklearn.ensemble")

COLUMNS = ["age", "income", "ts", "score"]


def _frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)) * [10, 1e4, 1, 1], columns=COLUMNS)
    X["ts"] = 1.6e9 + rng.uniform(0, 3e7, n)  # a timestamp: float32 cannot hold it to the second
    y = ((X["age"] > 0) ^ (X["ts"] > 1.615e9)).astype(int).to_numpy()
    return X, y


MODELS = {
    "lightgbm": lambda: lgb.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1),
    "xgboost": lambda: xgb.XGBClassifier(n_estimators=20, max_depth=3),
    "randomforest": lambda: sklearn_ensemble.RandomForestClassifier(n_estimators=10, random_state=0),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def named(request: pytest.FixtureRequest):
    X, y = _frame()
    model = MODELS[request.param]().fit(X, y)
    return model, convert(model), X


def test_feature_names_are_recorded_and_survive_save(named, tmp_path: Path) -> None:
    _, converted, _ = named
    assert converted.feature_names == COLUMNS
    assert load(converted.save(tmp_path / "m.onnx")).feature_names == COLUMNS


def test_reordered_dataframe_is_matched_by_name(named) -> None:
    model, converted, X = named
    shuffled = X[["score", "ts", "age", "income"]]
    expected = model.predict_proba(X)
    for server in (InferenceEngine(converted), Predictor(model, converted, policy="onnx"),
                   Predictor(model, converted, policy="native")):
        np.testing.assert_allclose(server.predict_proba(shuffled), expected, rtol=1e-6, atol=1e-6)


def test_renamed_or_missing_column_is_refused_naming_it(named) -> None:
    model, converted, X = named
    for server in (InferenceEngine(converted), Predictor(model, converted, policy="native")):
        with pytest.raises(InputError, match=r"missing 'income'; unknown 'Income'"):
            server.predict(X.rename(columns={"income": "Income"}))
        with pytest.raises(InputError, match=r"4 features|missing 'score'"):
            server.predict(X.drop(columns="score"))


def test_numpy_rows_stay_positional(named) -> None:
    model, converted, X = named
    np.testing.assert_allclose(InferenceEngine(converted).predict_proba(X.to_numpy()), model.predict_proba(X),
                               rtol=1e-6, atol=1e-6)


def test_text_column_in_a_dataframe_is_refused() -> None:
    X, y = _frame()
    model = MODELS["lightgbm"]().fit(X, y)
    with pytest.raises(InputError, match=r"non-numeric columns.*'income'"):
        InferenceEngine(convert(model)).predict(X.assign(income=X["income"].astype(str)))


# -- precision at the boundary --

def _timestamp_regressor():
    rng = np.random.default_rng(1)
    X = np.c_[rng.normal(size=5000), 1.6e9 + rng.uniform(0, 1e6, 5000)]
    y = X[:, 0] + (X[:, 1] - 1.6e9) / 1e5
    return lgb.LGBMRegressor(n_estimators=50, verbose=-1).fit(X, y), X


def test_lightgbm_converts_to_float64_by_default_and_answers_float64_rows_exactly() -> None:
    model, X = _timestamp_regressor()
    converted = convert(model)
    assert converted.dtype == np.float64
    report = check_parity(model, converted, X)
    assert report.passed and report.max_abs_error < 1e-9, str(report)


def test_float32_lightgbm_graph_refuses_rows_it_would_round() -> None:
    model, X = _timestamp_regressor()
    converted = convert(model, dtype="float32")
    with pytest.raises(InputError, match=r"rows 0, 1, 2.*cannot represent exactly.*dtype='float64'"):
        InferenceEngine(converted).predict(X)
    # float32 values are exact in float32: served as before
    x32 = X.astype(np.float32)
    report = check_parity(model, converted, x32)
    assert report.passed, str(report)


def test_check_parity_does_not_pass_rows_the_float32_graph_would_round() -> None:
    model, X = _timestamp_regressor()
    report = check_parity(model, convert(model, dtype="float32"), X[:50])
    assert not report.passed
    assert report.causes == {"refused_by_onnx_only": 50}
    assert "dtype='float64'" in report.problems[0]


def test_row_between_float32_neighbours_takes_the_native_branch() -> None:
    """A split at 2**25 + 1.5: the row 2**25 + 2 goes right natively; float32 rounds it to 2**25."""
    X = np.array([[2.0**25 + 1], [2.0**25 + 2]] * 20)
    y = np.array([0.0, 1.0] * 20)
    model = lgb.LGBMRegressor(n_estimators=1, min_child_samples=1, min_data_in_bin=1, verbose=-1).fit(X, y)
    row = np.array([[2.0**25 + 2]])
    assert InferenceEngine(convert(model)).predict(row)[0] == model.predict(row)[0]
    with pytest.raises(InputError, match="cannot represent exactly"):
        InferenceEngine(convert(model, dtype="float32")).predict(row)


def test_integer_rows_route_as_natively_in_a_float64_lightgbm_graph() -> None:
    """LightGBM reads an integer array as float32 (a float64 graph must do the same)."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, 2**26, size=(3000, 2)).astype(np.float64)
    y = (X[:, 0] % 7) + X[:, 1] / 2**24
    model = lgb.LGBMRegressor(n_estimators=30, min_child_samples=2, verbose=-1).fit(X, y)
    ints = rng.integers(2**24, 2**26, size=(500, 2))  # most are not float32 values
    np.testing.assert_allclose(InferenceEngine(convert(model)).predict(ints), model.predict(ints), rtol=1e-12)


# -- exact models judged exact --

def _scaled_logistic():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6)) * [1, 1e3, 1e6, 1, 1e-3, 50]
    y = (X[:, 0] + X[:, 2] / 1e6 > 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


def test_scaled_logistic_regression_is_judged_exact_on_large_inputs() -> None:
    model, X = _scaled_logistic()
    rows = np.vstack([X, X * 1e3, -X * 1e6])  # scores made of large, cancelling terms
    report = check_parity(model, convert(model), rows)
    assert report.passed, str(report)


def test_rows_the_native_model_refuses_are_refused_by_both_not_mismatched() -> None:
    model, X = _scaled_logistic()
    rows = X[:20].copy()
    rows[[3, 7], 1] = np.nan
    with pytest.raises(ValueError):
        model.predict(rows[3:4])
    with pytest.raises(InputError, match="NaN"):
        InferenceEngine(convert(model)).predict(rows[3:4])
    report = check_parity(model, convert(model), rows)
    assert report.passed and report.refused_by_both == 2 and report.mismatched_rows == 0, str(report)


# -- CSV files --

@pytest.fixture(scope="module")
def csv_model():
    X, y = _frame()
    return MODELS["lightgbm"]().fit(X, y), X


def _load(model, path: Path) -> np.ndarray:
    converted = convert(model)
    return load_rows(path, converted.n_features, converted.feature_names)


def test_csv_header_in_another_order_is_matched_by_name(csv_model, tmp_path: Path) -> None:
    model, X = csv_model
    X[["ts", "score", "age", "income"]].to_csv(tmp_path / "rows.csv", index=False)
    np.testing.assert_array_equal(_load(model, tmp_path / "rows.csv"), X.to_numpy())


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda X, p: X.assign(income=["high"] * 3 + X["income"].tolist()[3:]).to_csv(p, index=False),
         r"line 2, column 'income' holds text \('high'\)"),
        (lambda X, p: X.to_csv(p, index=False, quoting=csv.QUOTE_ALL), "quoted cells"),
        (lambda X, p: X.iloc[:0].to_csv(p, index=False), "header line but no data rows"),
        (lambda X, p: X.rename(columns={"ts": "timestamp"}).to_csv(p, index=False),
         "missing 'ts'; unknown 'timestamp'"),
        (lambda X, p: X.to_csv(p), "first column has no name"),
    ],
    ids=["text-column", "all-quoted", "header-only", "renamed-header", "index-column"],
)
def test_csv_that_would_be_read_wrongly_is_refused(csv_model, tmp_path: Path, write, message: str) -> None:
    model, X = csv_model
    path = tmp_path / "rows.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write(X, path)
    with pytest.raises(InputError, match=message):
        _load(model, path)


def test_onnxgate_check_refuses_a_csv_with_a_text_column_and_reads_a_reordered_one(
    csv_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conversion.app.main import main

    model, X = csv_model
    model.booster_.save_model(str(tmp_path / "model.txt"))
    X.assign(score=X["score"].astype(str).where(X.index > 0, "n/a")).to_csv(tmp_path / "text.csv", index=False)
    X[["score", "ts", "income", "age"]].to_csv(tmp_path / "reordered.csv", index=False)
    assert main(["check", str(tmp_path / "model.txt"), "--data", str(tmp_path / "text.csv")]) == 2
    assert "column 'score' holds text ('n/a')" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "model.txt"), "--data", str(tmp_path / "reordered.csv")]) == 0
    assert "parity passed: 200 rows" in capsys.readouterr().out
