"""The pytest plugin as installed: its pytest11 entry point, and that loading it changes nothing unused.

The entry point is loaded the way an installed onnxgate's is: a ``*.dist-info`` folder on
sys.path whose ``entry_points.txt`` is written from pyproject.toml's own table, so these
tests check the declaration and pytest's loading of it, in a pytest process of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "conversion" / "bench" / "suites"

PLAIN_TESTS = """
def test_one():
    assert 1 + 1 == 2

def test_two():
    assert "onnxgate" not in "a plain session"
"""

BENCH_TESTS = """
def test_sum(benchmark):
    benchmark.pedantic(sum, args=(range(100),), rounds=3)
"""


def _entry_points() -> dict[str, str]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return doc["project"]["entry-points"]["pytest11"]


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """An environment where onnxgate's pytest11 entry point is installed (and this checkout importable)."""
    site = tmp_path / "site"
    dist = site / "onnxgate-0.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxgate\nVersion: 0.0.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in _entry_points().items())
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{lines}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    return env


def _pytest(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=600)


def test_pyproject_installs_the_plugin_as_a_pytest11_entry_point() -> None:
    assert _entry_points() == {"onnxgate": "conversion.bench.plugin"}


def test_the_installed_plugin_loads_and_leaves_a_plain_session_green(tmp_path: Path,
                                                                    installed: dict[str, str]) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "test_plain.py").write_text(PLAIN_TESTS)
    proc = _pytest(["-q", "test_plain.py", "--trace-config"], user, installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout
    assert "conversion/bench/plugin.py" in proc.stdout  # it really was loaded, through the entry point
    # Without pytest-benchmark the plugin's pytest-benchmark hooks are optional, not an error.
    proc = _pytest(["-q", "test_plain.py", "-p", "no:benchmark"], user, installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_plugin_leaves_a_users_benchmark_json_as_pytest_benchmark_writes_it(
        tmp_path: Path, installed: dict[str, str]) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "test_bench.py").write_text(BENCH_TESTS)
    proc = _pytest(["-q", "test_bench.py", "--benchmark-json=out.json"], user, installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((user / "out.json").read_text())
    assert "onnxgate_schema" not in doc and "onnxgate" not in doc["machine_info"]
    assert "p50" not in doc["benchmarks"][0]["stats"]


def test_the_zoo_suite_runs_beside_the_installed_plugin(tmp_path: Path, installed: dict[str, str]) -> None:
    # Its conftest names the plugin too; loading the module a second time would make pytest refuse.
    proc = _pytest([str(SUITES), "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES), "--collect-only", "-q",
                    "--onnxgate-models=xgboost-synthetic-small"], tmp_path, installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test_latency[xgboost-synthetic-small-b256-native]" in proc.stdout


USER_BENCHMARK = """
import numpy as np
import pytest
import xgboost as xgb

X = np.random.default_rng(0).normal(size=(500, 6))
MODEL = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, X[:, 0] > 0)


@pytest.mark.parametrize("batch_size", [1, 64])
@pytest.mark.parametrize("runtime", ["native", "onnx"])
def test_tiny_latency(onnxgate_latency, batch_size, runtime):
    onnxgate_latency(MODEL, X, batch_size=batch_size, runtime=runtime, name="tiny", rounds=8)
"""


def test_a_users_benchmark_file_measures_with_the_fixture_into_a_file_the_gate_reads(
        tmp_path: Path, installed: dict[str, str]) -> None:
    pytest.importorskip("xgboost")
    user = tmp_path / "user"
    user.mkdir()
    (user / "test_latency_tiny.py").write_text(USER_BENCHMARK)
    proc = _pytest(["-q", "test_latency_tiny.py", "--benchmark-json=out.json"], user, installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((user / "out.json").read_text())
    assert doc["onnxgate_schema"] and "onnxgate" in doc["machine_info"]
    rows = {(b["extra_info"]["runtime"], b["extra_info"]["batch_size"]): b for b in doc["benchmarks"]}
    assert set(rows) == {("native", 1), ("native", 64), ("onnx", 1), ("onnx", 64)}
    onnx = rows[("onnx", 64)]
    assert onnx["extra_info"]["model"] == "tiny" and onnx["extra_info"]["ratio_kind"] == "onnx/native"
    assert len(onnx["extra_info"]["ratio_rounds"]) == onnx["stats"]["rounds"] == 8  # interleaved, per round
    gate = subprocess.run([sys.executable, "-m", "conversion.app.main", "gate", "--baseline", "out.json", "--current",
                           "out.json", "-v"], cwd=user, env=installed, capture_output=True, text=True, check=False)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "tiny: " in gate.stdout  # the listing of compared models, in the full (-v) text


@pytest.mark.slow
@pytest.mark.skipif(not __import__("shutil").which("valgrind"), reason="needs valgrind")
def test_the_fixtures_rows_are_counted_after_the_timings_with_onnxgate_counts(
        tmp_path: Path, installed: dict[str, str]) -> None:
    pytest.importorskip("xgboost")
    user = tmp_path / "user"
    user.mkdir()
    (user / "test_latency_tiny.py").write_text(USER_BENCHMARK)
    proc = _pytest(["-q", "test_latency_tiny.py", "--benchmark-json=out.json", "--onnxgate-counts"], user, installed)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {(b["extra_info"]["runtime"], b["extra_info"]["batch_size"]): b["extra_info"]
            for b in json.loads((user / "out.json").read_text())["benchmarks"]}
    assert rows[("native", 64)]["counts"]["native"]["instructions"] > 0
    assert {"engine", "onnxruntime", "session-creation", "first-call"} <= set(rows[("onnx", 1)]["counts"])
    assert set(rows[("onnx", 64)]["counts"]) == {"engine", "onnxruntime"}
    assert rows[("onnx", 64)]["counts"]["onnxruntime"]["instructions"] > rows[("onnx", 1)]["counts"]["onnxruntime"][
        "instructions"]
