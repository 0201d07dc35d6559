"""[tool.onnxgate] in a user's pyproject.toml: what is read, and how mistakes are reported."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from conversion.bench.config import load_config
from conversion.errors import ConfigError, OnnxGateError

xgb = pytest.importorskip("xgboost")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository: a model, a data CSV, and a pyproject.toml listing them."""
    (tmp_path / "models").mkdir()
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, X[:, 0] > 0).save_model(
        tmp_path / "models" / "fraud.ubj")
    (tmp_path / "data" / "rows.csv").write_text("amount,age,score\n1.5,30,0.2\n,41,-0.5\n2e3,inf,0\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "user"\n\n'
        "[tool.onnxgate]\nbatch_sizes = [1, 256, 4096]\nproviders = [\"cpu\"]\nthreads = [1, 2]\n\n"
        '[tool.onnxgate.models.fraud]\npath = "models/fraud.ubj"\ndata = "data/rows.csv"\n')
    return tmp_path


def _write(repo: Path, onnxgate: str) -> Path:
    (repo / "pyproject.toml").write_text('[project]\nname = "user"\n\n' + onnxgate)
    return repo / "pyproject.toml"


def test_reads_the_current_directorys_pyproject(repo: Path, tmp_path_factory: pytest.TempPathFactory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    config = load_config()
    assert config.source == repo / "pyproject.toml"
    assert config.batch_sizes == (1, 256, 4096) and config.threads == (1, 2)
    assert config.providers == ("CPUExecutionProvider",)
    fraud = config.models["fraud"]
    assert fraud.path == repo / "models" / "fraud.ubj" and not fraud.trust_pickle
    assert fraud.load().predict(np.zeros((1, 3))).shape == (1,)
    rows = fraud.rows()
    assert rows.feature_names == ("amount", "age", "score")
    np.testing.assert_array_equal(rows.X, [[1.5, 30, 0.2], [np.nan, 41, -0.5], [2000, np.inf, 0]])


def test_paths_resolve_against_the_config_file_not_the_working_directory(
        repo: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert load_config().models == {}  # no pyproject here: the zoo, as before
    config = load_config(repo / "pyproject.toml")
    assert config.models["fraud"].data == repo / "data" / "rows.csv"
    # A relative --config resolves against the working directory, its paths against its own folder.
    monkeypatch.chdir(repo.parent)
    assert load_config(Path(repo.name) / "pyproject.toml").models["fraud"].path == repo / "models" / "fraud.ubj"


def test_a_pyproject_without_the_table_means_the_zoo(tmp_path: Path) -> None:
    _write(tmp_path, "")
    assert load_config(cwd=tmp_path).models == {}
    with pytest.raises(ConfigError, match=r"has no \[tool.onnxgate\] table"):
        load_config(tmp_path / "pyproject.toml")


def test_a_standalone_toml_is_the_table_itself(repo: Path) -> None:
    (repo / "onnxgate.toml").write_text('batch_sizes = [16]\n[models.fraud]\npath = "models/fraud.ubj"\n')
    config = load_config(repo / "onnxgate.toml")
    assert config.batch_sizes == (16,) and set(config.models) == {"fraud"}


BAD = {
    "typo-top": ("[tool.onnxgate]\nbatch_size = [1]\n",
                 r"\[tool.onnxgate\] in .*: unknown key 'batch_size' \(did you mean 'batch_sizes'\?\); allowed"),
    "batch-not-list": ("[tool.onnxgate]\nbatch_sizes = 256\n", r"batch_sizes must be a non-empty list of positive"),
    "batch-zero": ("[tool.onnxgate]\nbatch_sizes = [0, 1]\n", r"batch_sizes must be .* got \[0, 1\]"),
    "threads-bool": ("[tool.onnxgate]\nthreads = [true]\n", r"threads must be a non-empty list"),
    "provider": ("[tool.onnxgate]\nproviders = [\"gpu\"]\n", r"providers: unknown provider 'gpu'; use one of"),
    "no-path": ("[tool.onnxgate.models.fraud]\ndata = \"data/rows.csv\"\n",
                r"\[tool.onnxgate.models.fraud\] in .*pyproject.toml: missing key 'path'"),
    "missing-file": ("[tool.onnxgate.models.fraud]\npath = \"models/nope.ubj\"\n",
                     r"models.fraud\] in .*: path = 'models/nope.ubj': .*nope.ubj does not exist "
                     r"\(relative paths resolve against "),
    "missing-data": ("[tool.onnxgate.models.fraud]\npath = \"models/fraud.ubj\"\ndata = \"rows.csv\"\n",
                     r"models.fraud\] .*: data = 'rows.csv'"),
    "model-typo": ("[tool.onnxgate.models.fraud]\npath = \"models/fraud.ubj\"\ntrust_pickles = true\n",
                   r"models.fraud\] .*unknown key 'trust_pickles' \(did you mean 'trust_pickle'\?\)"),
    "trust-string": ("[tool.onnxgate.models.fraud]\npath = \"models/fraud.ubj\"\ntrust_pickle = \"yes\"\n",
                     r"trust_pickle must be true or false"),
    "bad-name": ("[tool.onnxgate.models.\"a|b\"]\npath = \"models/fraud.ubj\"\n", r"a model name may hold"),
    "models-not-table": ("[tool.onnxgate]\nmodels = [\"fraud\"]\n", r"models must be tables"),
    "not-toml": ("[tool.onnxgate\n", r"is not valid TOML"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_mistakes_name_the_key_and_the_file(repo: Path, kind: str) -> None:
    text, message = BAD[kind]
    file = _write(repo, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(cwd=repo)
    assert isinstance(info.value, OnnxGateError) and str(file) in str(info.value)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope.toml does not exist"):
        load_config(tmp_path / "nope.toml")


def test_a_pickle_is_not_read_without_trust_pickle(repo: Path) -> None:
    (repo / "models" / "old.pkl").write_bytes(pickle.dumps({"not": "read"}))
    _write(repo, "[tool.onnxgate.models.old]\npath = \"models/old.pkl\"\n")
    entry = load_config(cwd=repo).models["old"]
    with pytest.raises(ConfigError, match=r"\[tool.onnxgate.models.old\] in .*pickle.*trust_pickle = true"):
        entry.load()


@pytest.mark.parametrize(("csv", "message"), [
    ("", "is empty; its first line must name the features"),
    ("1,2,3\n4,5,6\n", "must name the features"),
    ("a,b\n1,2\n3\n", "line 3 has 1 cells, the header 2"),
    ("a,b\n1,x\n", "line 2, column 'b': 'x' is not a number"),
])
def test_bad_data_csv_names_the_model_line_and_column(repo: Path, csv: str, message: str) -> None:
    (repo / "data" / "rows.csv").write_text(csv)
    entry = load_config(cwd=repo).models["fraud"]
    with pytest.raises(ConfigError, match=rf"models.fraud\] in .*, key 'data': .*rows.csv.*{message}"):
        entry.rows()


def test_bench_names_a_config_typo_as_such(repo: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 27: the message began with "--models:", an option the user never gave.
    from conversion.app.main import main

    _write(repo, "[tool.onnxgate]\nbatch_size = [1]\n")
    monkeypatch.chdir(repo)
    assert main(["bench"]) == 2
    err = capsys.readouterr().err
    assert "--models" not in err and "did you mean 'batch_sizes'?" in err
