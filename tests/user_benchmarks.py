"""A user's repository with one real XGBoost model and short real benchmark runs of it, for the
gate's explanations and the skipped gate: a few seconds of measurement per run, batch sizes 1 and 256."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """\
[tool.onnxgate]
batch_sizes = [1, 256]
threads = [1]

[tool.onnxgate.models.churn]
path = "models/churn.ubj"
"""


def make_repo(root: Path, *, trees: int = 100) -> Path:
    """A folder with pyproject.toml listing models/churn.ubj, trained with ``trees`` trees."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    train(root, trees=trees)
    return root


def train(root: Path, *, trees: int) -> None:
    import xgboost as xgb
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    xgb.XGBClassifier(n_estimators=trees, max_depth=4, n_jobs=1).fit(X, y).save_model(root / "models/churn.ubj")


def env() -> dict[str, str]:
    """This process's environment without pytest's (xdist's variables make pytest-benchmark disable itself)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    out["PYTHONPATH"] = str(ROOT)
    return out


def onnxgate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conversion.app.main", *map(str, args)], cwd=root, env=env(),
                          capture_output=True, text=True, check=False, timeout=900)


def bench(root: Path, *extra: str) -> Path:
    """One real `onnxgate bench` of the repository's models; the results file it wrote."""
    proc = onnxgate(root, "bench", "--output", "results", *extra)
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    return root / proc.stdout.strip().splitlines()[-1]
