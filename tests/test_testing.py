"""conversion.testing as a user's own test suite meets it: assert_parity and the strategies."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from conversion import MissingDependencyError, convert
from conversion.parity.tree_summary import summarize_trees
from conversion.testing import assert_parity, parity_inputs

xgb = pytest.importorskip("xgboost")


def _fit(seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1, random_state=seed).fit(X, y), X


@pytest.fixture(scope="module")
def exact():
    model, X = _fit(0)
    return model, X, convert(model)


@pytest.fixture(scope="module")
def wrong(exact):
    """A genuinely wrong graph: the ONNX of another model of the same shape."""
    model, X, _ = exact
    other, _ = _fit(1)
    return model, X, convert(other)


def test_exact_graph_passes_and_returns_the_report(exact) -> None:
    model, X, converted = exact
    report = assert_parity(model, converted, X)
    assert report.passed and report.n_rows == len(X)


def test_wrong_graph_fails_with_the_full_triage(wrong) -> None:
    model, X, converted = wrong
    with pytest.raises(AssertionError) as info:
        assert_parity(model, converted, X)
    text = str(info.value)
    assert "not equal to native output of the xgboost classification model" in text
    assert f"/ {len(X)} (" in text  # how many rows, out of how many
    for part in ("Mismatched rows:", "Label flips:", "Max absolute difference:", "Max relative difference:",
                 "Cause per mismatched row:", "Tolerance [predict]: exact", "Tolerance [predict_proba]: atol=",
                 "First mismatched rows:", "native=", "onnx=", "cause="):
        assert part in text, part


def test_given_tolerance_is_applied_and_named(wrong) -> None:
    model, X, converted = wrong
    with pytest.raises(AssertionError, match=r"Tolerance \[predict_proba\]: atol=1e-06, rtol=0 \(given"):
        assert_parity(model, converted, X, atol=1e-6)
    # A tolerance wide enough for every probability still leaves labels exact: flips fail.
    with pytest.raises(AssertionError, match="Label flips"):
        assert_parity(model, converted, X, atol=1.0)


def test_atol_and_tolerance_together_are_refused(exact) -> None:
    from conversion import Tolerance

    model, X, converted = exact
    with pytest.raises(TypeError, match="either atol/rtol or tolerance"):
        assert_parity(model, converted, X, atol=1e-3, tolerance=Tolerance(atol=1e-3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_parity_inputs_for_a_users_model(exact, data) -> None:
    model, X, converted = exact
    batch = data.draw(parity_inputs(converted, X))
    assert batch.dtype == converted.dtype and batch.shape[1] == X.shape[1]
    assert_parity(model, converted, batch)


def test_parity_inputs_reach_empty_batches_thresholds_and_specials(exact) -> None:
    _, X, converted = exact
    strategy = parity_inputs(converted, X)
    one_threshold = float(summarize_trees(converted.onnx).splits[0][0])
    # Generation only: the test asks whether the strategy reaches each case, not for the smallest
    # batch that does; shrinking those finds was 10 s of this test's 11 (30 s beside another worker).
    quiet = settings(max_examples=2000, database=None, deadline=None, phases=[Phase.generate])
    assert find(strategy, lambda b: b.shape[0] == 0, settings=quiet).shape == (0, 5)
    assert find(strategy, lambda b: b.shape[0] == 1, settings=quiet).shape == (1, 5)
    assert np.isnan(find(strategy, lambda b: bool(np.isnan(b).any()), settings=quiet)).any()
    assert find(strategy, lambda b: bool(np.isneginf(b).any()), settings=quiet).size
    on_split = find(strategy, lambda b: bool((b[:, 0] == np.float32(one_threshold)).any()), settings=quiet)
    assert (on_split[:, 0] == np.float32(one_threshold)).any()


def test_parity_inputs_refuse_rows_of_another_width(exact) -> None:
    from conversion import InputError

    _, X, converted = exact
    with pytest.raises(InputError, match="5 features"):
        parity_inputs(converted, X[:, :3])


def test_missing_hypothesis_names_the_extra(exact, monkeypatch: pytest.MonkeyPatch) -> None:
    _, X, converted = exact
    for name in [m for m in sys.modules if m == "hypothesis" or m.startswith("hypothesis.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(MissingDependencyError, match=r"hypothesis is not installed.*onnxgate\[test\]"):
        parity_inputs(converted, X)
