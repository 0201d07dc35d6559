"""`bench`, `run` and `check` on the user's models: where they come from, how they are named, and the
cases the suite builds from them (no timing here; tests/test_user_repo.py runs the recipe end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conversion.app.main import main as cli_main
from conversion.bench.cases import PROFILES, cases_for
from conversion.bench.config import load_config, with_models
from conversion.bench.prepared import held_out_batch, prepare
from conversion.bench.user_models import user_specs

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    X = np.random.default_rng(0).normal(size=(300, 4))
    y = X[:, 0] + X[:, 1] > 0
    (tmp_path / "models").mkdir()
    xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(X, y).save_model(tmp_path / "models/fraud.ubj")
    lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(X, y).booster_.save_model(
        tmp_path / "models/churn.txt")
    np.savetxt(tmp_path / "rows.csv", X[:50], delimiter=",", header="Column_0,Column_1,Column_2,Column_3",
               comments="")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.onnxgate]\nbatch_sizes = [1, 100]\nthreads = [1]\n'
        '[tool.onnxgate.models.fraud]\npath = "models/fraud.ubj"\n'
        '[tool.onnxgate.models.churn]\npath = "models/churn.txt"\ndata = "rows.csv"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_without_a_file_checks_every_model_of_the_pyproject(repo: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and set(out["models"]) == {"fraud", "churn"}
    assert out["models"]["churn"]["clean"]["n_rows"] == 50  # its config's data, not generated rows


def test_check_with_nothing_to_check_says_what_to_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["check"]) == 2
    assert "--model FILE" in capsys.readouterr().err


def test_model_files_are_named_by_their_stem_and_a_clash_is_refused(repo: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = repo / "other"
    other.mkdir()
    (other / "fraud.ubj").write_bytes((repo / "models/fraud.ubj").read_bytes())
    assert cli_main(["bench", "--model", str(other / "fraud.ubj")]) == 2
    err = capsys.readouterr().err
    assert "'fraud' is already listed" in err and "pyproject.toml" in err
    config = with_models(load_config(cwd=other), [other / "fraud.ubj"])
    assert list(config.models) == ["fraud"]


def test_zoo_options_are_refused_with_the_users_models(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--frameworks", "xgboost"]) == 2
    assert "--frameworks chooses zoo models" in capsys.readouterr().err
    # --models picks among the user's models (a CI shard's share): a zoo name is none of them
    assert cli_main(["bench", "--models", "xgboost-synthetic-small"]) == 2
    err = capsys.readouterr().err
    assert "no model named 'xgboost-synthetic-small'" in err and "the models are fraud, churn" in err


def test_a_config_without_models_is_an_error_naming_the_file(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "onnxgate.toml").write_text("batch_sizes = [1]\n")
    assert cli_main(["bench", "--config", str(tmp_path / "onnxgate.toml")]) == 2
    assert "onnxgate.toml lists no models" in capsys.readouterr().err


def test_the_suite_builds_cases_from_the_config_named_by_its_keys(repo: Path) -> None:
    config = load_config()
    profile = PROFILES["quick"].with_batches(config.batch_sizes)
    cases = cases_for(profile, providers=["CPUExecutionProvider"], specs=user_specs(config), threads=config.threads)
    assert [c.id for c in cases] == [
        "fraud-b1-native", "fraud-b1-native-fast", "fraud-b1-onnx-cpu-t1",
        "fraud-b100-native", "fraud-b100-native-fast", "fraud-b100-onnx-cpu-t1",
        "churn-b1-native", "churn-b1-native-fast", "churn-b1-onnx-cpu-t1",
        "churn-b100-native", "churn-b100-native-fast", "churn-b100-onnx-cpu-t1"]
    assert profile.rounds_for(100) == PROFILES["quick"].rounds_for(1)  # a size the profile lacks: the one below
    churn = prepare(user_specs(config)[1])
    assert churn.parity == "passed" and churn.zoo.framework == "lightgbm" and churn.method == "predict"
    # Rows from its data file (50 rows), drawn with replacement up to the batch size.
    assert held_out_batch(churn, 100).shape == (100, 4)
    assert set(map(tuple, held_out_batch(churn, 100))) <= set(map(tuple, churn.zoo.X.astype(np.float32)))
