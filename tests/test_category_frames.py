"""The DataFrame a model was trained on is its input (issue 16 item 2): pandas category labels,
in any category order, with unseen labels and NaN, read as each native model reads them."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversion import InferenceEngine, Predictor, check_parity, convert
from conversion.converter.frameworks import adapter_for
from conversion.converter.inputs import CategoryLabels
from conversion.csv_rows import read_csv_rows
from conversion.errors import ConversionRefusedError, InputError
from conversion.testing import assert_parity, parity_inputs

pd = pytest.importorskip("pandas")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
ensemble = pytest.importorskip("sklearn.ensemble")

INTS = [65, 66, 67, 70, 2**40, -3]
TEXT = ["red", "green", "", " ", "65", "a,b \"q\""]
# XGBoost refuses non-ASCII training labels (it keeps a cut of their bytes); the others take them.
_TEXT_LABELS = {"xgboost": TEXT, "lightgbm": [*TEXT, "ünï ✓"], "hgb": [*TEXT, "ünï ✓"]}
# What each framework accepts as integer categories (HistGradientBoosting: [0, 2**24) only).
_INT_LABELS = {"xgboost": INTS, "lightgbm": INTS, "hgb": [65, 66, 67, 70, 0, 9]}


def _frame(labels: list, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(labels), n)
    exact = rng.normal(size=(n, 2)).astype(np.float32).astype(np.float64)  # survive a CSV round trip
    frame = pd.DataFrame({"a": exact[:, 0], "c": pd.Categorical.from_codes(codes, categories=labels),
                          "b": exact[:, 1]})
    effect = rng.normal(size=len(labels)) * 3
    return frame, frame["a"].to_numpy() + effect[codes]


def _fit(framework: str, labels: list):
    frame, y = _frame(labels)
    model = {
        "xgboost": lambda: xgb.XGBRegressor(n_estimators=8, max_depth=4, enable_categorical=True, tree_method="hist",
                                           max_cat_to_onehot=1, n_jobs=1),
        "lightgbm": lambda: lgb.LGBMRegressor(n_estimators=8, min_data_per_group=5, cat_smooth=1, verbose=-1,
                                             n_jobs=1),
        "hgb": lambda: ensemble.HistGradientBoostingRegressor(max_iter=8, categorical_features="from_dtype"),
    }[framework]().fit(frame, y)
    return model, frame, convert(model)


_MODELS = {}


def _model(framework: str, kind: str):
    key = (framework, kind)
    if key not in _MODELS:
        _MODELS[key] = _fit(framework, (_INT_LABELS if kind == "int" else _TEXT_LABELS)[framework])
    return _MODELS[key]


CASES = [(f, k) for f in ("xgboost", "lightgbm", "hgb") for k in ("int", "text")]
IDS = [f"{f}-{k}" for f, k in CASES]


@pytest.mark.parametrize(("framework", "kind"), CASES, ids=IDS)
def test_the_training_dataframe_matches_native_on_every_row(framework: str, kind: str) -> None:
    model, frame, converted = _model(framework, kind)
    report = assert_parity(model, converted, frame)  # the native side reads the frame itself
    assert report.n_rows == len(frame) and report.mismatched_rows == 0
    got = InferenceEngine(converted).predict(frame)
    np.testing.assert_allclose(got, model.predict(frame), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("framework", "kind"), CASES, ids=IDS)
def test_reordered_and_subset_categories_are_read_by_label(framework: str, kind: str) -> None:
    model, frame, converted = _model(framework, kind)
    labels = list(frame["c"].cat.categories)
    reordered = frame.assign(c=frame["c"].cat.reorder_categories(labels[::-1]))
    subset = frame[frame["c"].isin(labels[1:4])].assign(c=lambda f: f["c"].cat.remove_unused_categories())
    for other in (reordered, subset):
        assert_parity(model, converted, other)
        np.testing.assert_allclose(InferenceEngine(converted).predict(other), model.predict(other),
                                   rtol=1e-6, atol=1e-6)


def _unseen(framework: str, kind: str) -> list:
    if kind == "text":
        return ["blue", "Red", " red", "nan", "zz", "é", "ünï ✓x"]
    return [64, 68, 1] if framework != "hgb" else [64, 68, 1, 8]


@pytest.mark.parametrize(("framework", "kind"), CASES, ids=IDS)
def test_unseen_labels_and_nan_go_where_native_sends_them(framework: str, kind: str) -> None:
    model, frame, converted = _model(framework, kind)
    labels = list(frame["c"].cat.categories)
    cells = [*labels, *_unseen(framework, kind), None, np.nan]
    # XGBoost refuses a label sorting after every trained one; the others take them all
    cells = [c for c in cells if not (framework == "xgboost" and c not in labels and c is not None and c == c
                                       and _after_all(c, labels))]
    rows = frame.iloc[np.arange(len(cells)) % len(frame)].reset_index(drop=True)
    mixed = rows.assign(c=pd.Categorical(cells))
    assert_parity(model, converted, mixed)
    np.testing.assert_allclose(InferenceEngine(converted).predict(mixed), model.predict(mixed), rtol=1e-6, atol=1e-6)


def _after_all(label, labels) -> bool:
    def key(v):  # XGBoost's order: the first len(v) bytes of the UTF-8, as signed chars
        return tuple(b - 256 if b >= 0x80 else b for b in v.encode("utf-8")[: len(v)]) if isinstance(v, str) else v

    return all(key(label) > key(x) for x in labels)


def test_xgboost_refuses_a_label_after_every_trained_one_as_native_does() -> None:
    model, frame, converted = _model("xgboost", "text")
    late = frame.head(3).assign(c=pd.Categorical(["red", "~~", "green"]))
    with pytest.raises(Exception, match="not in the training set"):
        model.predict(late)
    with pytest.raises(InputError, match=r"'~~'.*not trained on.*Found a category not in the training set"):
        InferenceEngine(converted).predict(late)
    nul = frame.head(2).assign(c=pd.Categorical(["red", "a\x00b"]))
    with pytest.raises(AssertionError):
        model.predict(nul)
    with pytest.raises(InputError, match="NUL character"):
        InferenceEngine(converted).predict(nul)


def test_xgboost_non_ascii_training_labels_are_refused_with_the_measured_reason() -> None:
    frame, y = _frame(["ünï ✓", "ünïXY", "a"])
    model = xgb.XGBRegressor(n_estimators=3, enable_categorical=True, max_cat_to_onehot=1).fit(frame, y)
    with pytest.raises(ConversionRefusedError, match=r"non-ASCII category labels.*cut to their character count"):
        convert(model)


@settings(max_examples=25)
@given(data=st.data())
@pytest.mark.parametrize(("framework", "kind"), CASES, ids=IDS)
def test_hostile_label_frames_match_native(framework: str, kind: str, data) -> None:
    model, frame, converted = _model(framework, kind)
    labels = list(frame["c"].cat.categories)
    if kind == "text":
        other = st.text(max_size=6)
    else:
        other = st.integers(0, 2**24 - 1) if framework == "hgb" else st.integers(-(2**62), 2**62)
    cells = data.draw(st.lists(st.one_of(st.sampled_from(labels), other, st.none()), min_size=1, max_size=12))
    order = data.draw(st.permutations(sorted({c for c in cells if c is not None} | set(labels), key=repr)))
    rows = frame.iloc[np.arange(len(cells)) % len(frame)].reset_index(drop=True)
    mixed = rows.assign(c=pd.Categorical(cells, categories=order))
    try:
        want = model.predict(mixed)
    except Exception:  # XGBoost refuses some labels (after every trained one, NUL): so must the engine
        assert framework == "xgboost"
        with pytest.raises(InputError):
            InferenceEngine(converted).predict(mixed)
        return
    np.testing.assert_allclose(InferenceEngine(converted).predict(mixed), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("policy", ["onnx", "native", "auto"])
def test_predictor_reads_labels_on_every_policy(policy: str) -> None:
    model, frame, converted = _model("lightgbm", "text")
    shuffled = frame.assign(c=frame["c"].cat.reorder_categories(sorted(frame["c"].cat.categories)))[["c", "b", "a"]]
    got = Predictor(model, converted, policy=policy, calibrate=False).predict(shuffled)
    np.testing.assert_allclose(got, model.predict(frame), rtol=1e-12, atol=1e-12)


def test_a_matrix_holding_labels_where_codes_belong_names_the_mistake() -> None:
    model, frame, converted = _model("xgboost", "int")
    values = frame.assign(c=frame["c"].astype(np.int64))  # the labels as plain numbers
    with pytest.raises(InputError, match=r"'c' holds (-3|65|66|67|70|1099511627776), which is one of the model's "
                                         r"category labels.*numeric matrix holds codes, 0 to 5.*pass the code \d"):
        InferenceEngine(converted).predict(values)
    codes = frame.assign(c=frame["c"].cat.codes.astype(np.float32))  # codes are read as codes
    np.testing.assert_allclose(InferenceEngine(converted).predict(codes), model.predict(frame), rtol=1e-6, atol=1e-6)
    # a value beyond the codes that is no label keeps meaning "no such category", as natively
    stray = codes.to_numpy()[:5].copy()
    stray[:, 1] = 1000.0
    np.testing.assert_allclose(InferenceEngine(converted).predict(stray), model.predict(stray), rtol=1e-6)


@pytest.mark.parametrize(("framework", "kind"), CASES, ids=IDS)
def test_csv_label_columns_read_as_the_frame(framework: str, kind: str, tmp_path: Path) -> None:
    model, frame, converted = _model(framework, kind)
    path = tmp_path / "rows.csv"
    if kind == "text":  # an empty cell is a missing value in a CSV, as pandas reads it back
        frame = frame[frame["c"] != ""]
    frame[["c", "b", "a"]].to_csv(path, index=False)
    rows = read_csv_rows(path, converted.n_features, converted.feature_names,
                         CategoryLabels.from_metadata(converted.metadata))
    np.testing.assert_allclose(InferenceEngine(converted).predict(rows), model.predict(frame), rtol=1e-6, atol=1e-6)


def test_onnxgate_check_reads_a_csv_of_labels(tmp_path: Path) -> None:
    model, frame, _ = _model("xgboost", "text")
    adapter = adapter_for(model)
    path = tmp_path / f"model{adapter.native_suffix}"
    adapter.save_native(model, path)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    done = subprocess.run([sys.executable, "-m", "conversion.app.main", "check", str(path), "--data",
                           str(tmp_path / "rows.csv")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "clean rows: parity passed: 400 rows, 0 mismatched" in done.stdout


def test_parity_inputs_take_the_training_dataframe() -> None:
    model, frame, converted = _model("lightgbm", "int")
    strategy = parity_inputs(converted, frame)

    @settings(max_examples=20)
    @given(strategy)
    def check(batch):
        assert batch.dtype == converted.dtype and batch.shape[1] == 3
        assert not np.isin(batch[:, 1], INTS).any()  # hostile codes, never a label where a code belongs
        check_parity(model, converted, batch)  # the engine takes every batch the strategy draws

    check()


def test_a_named_column_pipeline_predicts_arrays_without_the_feature_names_warning() -> None:
    """Issue 19: a bench of such a pipeline printed scikit-learn's warning on every timed call."""
    pipeline = pytest.importorskip("sklearn.pipeline")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    linear = pytest.importorskip("sklearn.linear_model")
    frame, y = _frame(TEXT)
    X = frame[["a", "b"]]
    model = pipeline.make_pipeline(preprocessing.StandardScaler(), linear.LogisticRegression()).fit(X, y > 0)
    booster = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y > 0)
    for fitted in (model, booster):
        adapter = adapter_for(fitted)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any warning fails
            adapter.native_call(fitted, "predict_proba", X.to_numpy()[:3])()  # the bench's native call
        with pytest.warns(UserWarning, match="valid feature names"):  # the user's own call still warns
            fitted.predict_proba(X.to_numpy()[:3])


# -- CatBoost one-hot categorical features (issue 16 item 3) --

def _catboost():
    cb = pytest.importorskip("catboost")
    if "catboost" not in _MODELS:
        rng = np.random.default_rng(3)
        text = [*TEXT, "ünï ✓", "a" * 70]
        n = 600
        frame = pd.DataFrame({"a": rng.normal(size=n), "t": rng.choice(text, n),
                              "k": rng.choice(INTS, n), "b": rng.normal(size=n)})
        effect = dict(zip(text, rng.normal(size=len(text)) * 2, strict=True))
        y = frame["a"] + frame["t"].map(effect) + (frame["k"] == 66) * 2.0
        model = cb.CatBoostRegressor(iterations=30, depth=4, thread_count=1, verbose=False, allow_writing_files=False,
                                     cat_features=["t", "k"], one_hot_max_size=16).fit(frame, y)
        _MODELS["catboost"] = (model, frame, convert(model))
    return _MODELS["catboost"]


def test_catboost_hash_is_catboosts_own_on_hostile_labels(tmp_path: Path) -> None:
    """The python export writes CatBoost's own value -> hash table for the training pool."""
    cb = pytest.importorskip("catboost")
    from conversion.converter.cityhash import catboost_hash

    rng = np.random.default_rng(0)
    labels = ["", "a", "ab", "abcd", "x" * 8, "y" * 9, "z" * 16, "q" * 17, "w" * 32, "e" * 33, "r" * 64, "t" * 65,
              "u" * 129, "ünï ✓", "65", "-3", " ", "\t", "€" * 40]
    frame = pd.DataFrame({"a": rng.normal(size=len(labels) * 3), "c": labels * 3})
    pool = cb.Pool(frame, rng.integers(0, 2, len(frame)), cat_features=["c"])
    model = cb.CatBoostClassifier(iterations=2, depth=2, verbose=False, allow_writing_files=False).fit(pool)
    model.save_model(str(tmp_path / "m.py"), format="python", pool=pool)
    source = (tmp_path / "m.py").read_text(encoding="utf-8")
    table = source[source.index("cat_features_hashes = {"):]
    table = table[: table.index("}\n") + 1]
    hashes = set(ast.literal_eval(table.split("=", 1)[1]).values())  # a dict literal CatBoost wrote
    assert {catboost_hash(v) for v in labels} == hashes


def test_catboost_onehot_training_frame_matches_native_on_every_row() -> None:
    model, frame, converted = _catboost()
    assert converted.metadata["category_unseen"] == "hash"
    assert_parity(model, converted, frame)
    np.testing.assert_allclose(InferenceEngine(converted).predict(frame), model.predict(frame), rtol=1e-5, atol=1e-5)
    as_categories = frame.assign(t=pd.Categorical(frame["t"], categories=sorted(set(frame["t"]))[::-1]),
                                 k=pd.Categorical(frame["k"]))
    assert_parity(model, converted, as_categories)
    for policy in ("onnx", "native"):
        got = Predictor(model, converted, policy=policy, calibrate=False).predict(as_categories)
        np.testing.assert_allclose(got, model.predict(as_categories), rtol=1e-5, atol=1e-5)


def test_catboost_matrix_holds_integer_labels_as_catboost_reads_them() -> None:
    model, frame, converted = _catboost()
    numeric = frame.assign(t=0)  # text labels cannot sit in a matrix; 0 is an unseen integer label there
    X = numeric.to_numpy(dtype=np.float64)
    np.testing.assert_allclose(InferenceEngine(converted).predict(X), model.predict(numeric), rtol=1e-5, atol=1e-5)
    assert_parity(model, converted, X)
    with pytest.raises(InputError, match=r"'k' is a categorical feature and holds 65.5.*integer label"):
        InferenceEngine(converted).predict(np.array([[0.0, 0.0, 65.5, 0.0]]))


@settings(max_examples=25)
@given(data=st.data())
def test_catboost_hostile_and_unseen_labels_match_native(data) -> None:
    model, frame, converted = _catboost()
    n = data.draw(st.integers(1, 10))
    text = data.draw(st.lists(st.one_of(st.sampled_from(list(set(frame["t"]))), st.text(max_size=80)),
                              min_size=n, max_size=n))
    ints = data.draw(st.lists(st.one_of(st.sampled_from(INTS), st.integers(-(2**63), 2**63 - 1)),
                              min_size=n, max_size=n))
    rows = frame.head(n).assign(t=text, k=ints)
    np.testing.assert_allclose(InferenceEngine(converted).predict(rows), model.predict(rows), rtol=1e-5, atol=1e-5)


def test_catboost_refusals_match_native() -> None:
    model, frame, converted = _catboost()
    for cells, why in (([None], "missing value"), ([1.5], "float"), ([2**63], "beyond int64")):
        rows = frame.head(1).assign(k=pd.Series(cells, dtype=object))
        with pytest.raises(Exception):  # noqa: B017 - CatBoostError or TypeError, by value
            model.predict(rows)
        with pytest.raises(InputError, match=why):
            InferenceEngine(converted).predict(rows)


def model_target(frame):
    return frame["t"].map({t: i for i, t in enumerate(sorted(set(frame["t"])))}).astype(float)


def test_catboost_ctr_models_stay_refused() -> None:
    cb = pytest.importorskip("catboost")
    _, frame, _ = _catboost()
    model = cb.CatBoostRegressor(iterations=5, depth=3, verbose=False, allow_writing_files=False,
                                 cat_features=["t", "k"], one_hot_max_size=2).fit(frame, model_target(frame))
    with pytest.raises(ConversionRefusedError, match=r"CTRs, target statistics.*catboost #863.*one_hot_max_size"):
        convert(model)
