"""`onnxgate bench` shows progress from its first seconds on a terminal, and draws nothing elsewhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xgboost")
pytest.importorskip("pytest_benchmark")
pytest.importorskip("tqdm")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import xgboost as xgb

    d = tmp_path_factory.mktemp("user")
    X = np.random.default_rng(0).normal(size=(200, 3))
    xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(X, X[:, 0]).save_model(d / "m.ubj")
    (d / "onnxgate.toml").write_text('batch_sizes = [1]\nthreads = [1]\n[models.m]\npath = "m.ubj"\n')
    return d / "onnxgate.toml"


def test_the_benchmark_child_draws_a_bar_on_the_terminal_it_is_given(config: Path, tmp_path: Path) -> None:
    from conversion.bench.runner import run_benchmarks

    read, write = os.pipe()
    with os.fdopen(write, "w") as terminal:
        run_benchmarks("quick", tmp_path / "results", config=config, progress=terminal)
    with os.fdopen(read) as fh:
        drawn = fh.read()
    # tqdm's own output: the phase, n/total and the estimate of the time left.
    assert "benchmarks" in drawn and re.search(r" (\d+)/\1 \[", drawn) and "<" in drawn, drawn


def test_no_terminal_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from conversion.bench.progress_bars import terminal_of

    monkeypatch.setattr("sys.stderr", io.StringIO())  # a CI log, or a captured stream
    assert terminal_of(True) is None
