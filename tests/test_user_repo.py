"""The CI recipe end to end, from a user's repository outside this checkout (issue 10's "Done when").

Two native model files listed in the user's pyproject.toml; from that directory: their own
pytest with ``conversion.testing.assert_parity``, ``onnxgate bench --save-as base.json``, a gate
of an unchanged bench (exit 0), and a gate after one model was retrained with four times the
trees (exit 1, naming that model). Tiny models, batch sizes 1 and 256, one thread: a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xgboost")
pytest.importorskip("lightgbm")
pytest.importorskip("pytest_benchmark")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """\
[project]
name = "fraud-service"
version = "0.1.0"

[tool.onnxgate]
batch_sizes = [1, 256]
threads = [1]

[tool.onnxgate.models.fraud]
path = "models/fraud.ubj"

[tool.onnxgate.models.churn]
path = "models/churn.txt"
data = "data/rows.csv"
"""

USER_TESTS = """\
import lightgbm as lgb
import numpy as np
import xgboost as xgb

from conversion import convert
from conversion.testing import assert_parity

ROWS = np.loadtxt("data/rows.csv", delimiter=",", skiprows=1)
FRAUD = xgb.XGBClassifier()
FRAUD.load_model("models/fraud.ubj")
CHURN = lgb.Booster(model_file="models/churn.txt")
# A graph of another model: what a stale .onnx file next to a retrained model would be.
OTHER = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(ROWS, ROWS[:, 0] > 0)


def test_fraud_graph_is_exact():
    assert_parity(FRAUD, convert(FRAUD), ROWS)


def test_churn_graph_is_exact():
    assert_parity(CHURN, convert(CHURN), ROWS)


def test_fraud_against_another_graph_fails_with_the_triage():
    assert_parity(FRAUD, convert(OTHER), ROWS)
"""


def _train(repo: Path, *, fraud_trees: int) -> None:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    xgb.XGBClassifier(n_estimators=fraud_trees, max_depth=4, n_jobs=1).fit(X, y).save_model(repo / "models/fraud.ubj")
    if not (repo / "models/churn.txt").exists():
        model = lgb.LGBMClassifier(n_estimators=50, num_leaves=15, verbose=-1, n_jobs=1).fit(X, y)
        model.booster_.save_model(repo / "models/churn.txt")
        header = ",".join(f"Column_{i}" for i in range(X.shape[1]))
        np.savetxt(repo / "data/rows.csv", X[:400], delimiter=",", header=header, comments="")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("user-repo")
    assert ROOT not in root.parents  # outside the checkout: nothing of it on the path by accident
    (root / "models").mkdir()
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "test_onnx_parity.py").write_text(USER_TESTS)
    _train(root, fraud_trees=50)
    return root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)  # as if onnxgate were installed
    return env


def _onnxgate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conversion.app.main", *args], cwd=repo, env=_env(),
                          capture_output=True, text=True, check=False, timeout=900)


def _bench(repo: Path, *extra: str) -> Path:
    proc = _onnxgate(repo, "bench", "--output", "results", *extra)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def test_users_pytest_passes_for_an_exact_graph_and_shows_the_triage_for_a_wrong_one(repo: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_onnx_parity.py"],
                          cwd=repo, env=_env(), capture_output=True, text=True, check=False, timeout=600)
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout[-4000:]
    assert "FAILED test_onnx_parity.py::test_fraud_against_another_graph_fails_with_the_triage" in proc.stdout
    assert "Mismatched rows:" in proc.stdout and "First mismatched rows:" in proc.stdout


def test_bench_baseline_then_gate_passes_unchanged_and_names_the_retrained_model(repo: Path) -> None:
    base = _bench(repo, "--save-as", "base.json")
    results = json.loads((repo / "base.json").read_text())
    models = {b["extra_info"]["model"] for b in results["benchmarks"]}
    assert models == {"fraud", "churn"}  # named by their config keys, no zoo model measured
    rounds = {b["extra_info"]["batch_size"]: b["stats"]["rounds"] for b in results["benchmarks"]}
    assert rounds == {1: 60, 256: 60}  # the quick profile's rounds at the config's batch sizes
    assert (repo / base).is_file()

    unchanged = _bench(repo)
    gate = _onnxgate(repo, "gate", "--baseline", "base.json", "--current", str(unchanged), "-v")  # -v: the listing
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert re.search(r"fraud: \d+ rows", gate.stdout) and re.search(r"churn: \d+ rows", gate.stdout)

    # pytest-benchmark's own tool reads onnxgate's results files (given alike, relative: it refuses a mix).
    compare = subprocess.run([sys.executable, "-c", "from pytest_benchmark.cli import main; main()", "compare",
                              "base.json", str(unchanged.relative_to(repo))],
                             cwd=repo, env=_env(), capture_output=True, text=True, check=False, timeout=300)
    assert compare.returncode == 0 and "fraud-b256-onnx-cpu-t1" in compare.stdout, compare.stderr[-2000:]

    _train(repo, fraud_trees=200)  # the same model name, retrained bigger
    retrained = _bench(repo)
    gate = _onnxgate(repo, "gate", "--baseline", "base.json", "--current", str(retrained))
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert gate.stdout.startswith("gate: FAIL: ")
    regressions = [line for line in gate.stderr.splitlines() if line.startswith("REGRESSED ")]
    assert any(line.split()[1].startswith("fraud|") for line in regressions), gate.stderr
