"""`onnxgate run` hands every flag to every step: the benchmark child reads the model as conversion did."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from conversion.app.main import main

pytest.importorskip("lightgbm")
pytest.importorskip("pytest_benchmark")

pytestmark = pytest.mark.slow

CONFIG = """\
[tool.onnxgate]
batch_sizes = [1]
threads = [1]
"""


@pytest.fixture(scope="module")
def pickled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import lightgbm as lgb

    d = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[::7, 1] = np.nan
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(X, X[:, 0] > 0)
    (d / "lgbm.pkl").write_bytes(pickle.dumps(model))  # the wrapper, as most scikit-learn models are kept
    np.savetxt(d / "rows.csv", X[:40], delimiter=",", header="Column_0,Column_1,Column_2,Column_3", comments="")
    (d / "onnxgate.toml").write_text(CONFIG)
    return {"model": d / "lgbm.pkl", "rows": d / "rows.csv", "config": d / "onnxgate.toml"}


def test_a_trusted_pickle_with_rows_gets_latency(
    pickled: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--model", str(pickled["model"]), "--trust-pickle", "--data", str(pickled["rows"]),
                 "--config", str(pickled["config"]), "--no-upstream", "--no-variants", "--output",
                 str(tmp_path / "r"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["bench_error"] is None
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    latency = [r for r in run["latency"] if r["model"] == "lgbm"]
    assert latency, "no latency rows for the pickled model"
    # The child read the model as conversion did: trusted, on the given rows.
    written = (tmp_path / "r" / "bench" / "models.toml").read_text()
    assert "trust_pickle = true" in written and "rows.csv" in written

