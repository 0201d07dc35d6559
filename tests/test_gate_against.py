"""`onnxgate gate --against REF`: the merge base and the working tree, side by side, with no baseline file.

The end-to-end test builds a user's git repository with one small XGBoost model and gates it
against its own main branch: unchanged (exit 0), then with the model retrained in the working
tree (exit 1, naming the model and what changed). The rest checks the pieces a user relies on:
which commit is the base, what the verdict says first, the CI matrix's shards, and the files
both sides' results are merged into.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conversion.app.against import block_order, environment_differences, is_pair, merge_base, repo_root, shard_of
from conversion.errors import InputError, ResultsError
from conversion.results.merged_runs import merge_block_files

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """\
[project]
name = "scoring"
version = "0.1.0"
dependencies = ["onnxruntime"]

[tool.onnxgate]
batch_sizes = [1]
threads = [1]

[tool.onnxgate.models.fraud]
path = "models/fraud.ubj"
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _train(repo: Path, trees: int, depth: int = 3) -> None:
    xgb = pytest.importorskip("xgboost")
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    (repo / "models").mkdir(exist_ok=True)
    xgb.XGBClassifier(n_estimators=trees, max_depth=depth, n_jobs=1, random_state=0).fit(X, y).save_model(
        repo / "models" / "fraud.ubj")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "scoring"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text(PYPROJECT)
    _train(root, trees=10)
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first model")
    return root


def _gate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)  # as if onnxgate were installed
    return subprocess.run([sys.executable, "-m", "conversion.app.main", "gate", "--against", "main", *args], cwd=repo,
                          env=env, capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.slow
def test_against_main_passes_unchanged_code_and_names_a_retrained_model(repo: Path) -> None:
    pytest.importorskip("pytest_benchmark")
    base = _git(repo, "rev-parse", "HEAD")
    unchanged = _gate(repo, "--output", "out", "--json")
    assert unchanged.returncode == 0, unchanged.stdout[-3000:] + unchanged.stderr[-3000:]
    verdict = json.loads(unchanged.stdout)
    assert verdict["against"][0].startswith(f"head {base[:12]} against {base[:12]}")
    measures = {c["measure"] for c in verdict["changes"] if c["verdict"] in ("unchanged", "improvement")}
    assert {"side-by-side", "side-by-side wall"} <= measures  # both sides' own times were compared
    assert (repo / "out" / "base.json").is_file() and (repo / "out" / "head.json").is_file()

    _train(repo, trees=400, depth=8)  # retrained in the working tree: 40x the trees, deeper
    # At 256 rows the trees are the call's work (at one row the call's overhead is, and one-row side-by-side
    # times moved up to 77% between two processes of the same code: that rule waits for a doubling).
    retrained = _gate(repo, "--output", "out", "--batches", "256")
    assert retrained.returncode == 1, retrained.stdout[-3000:] + retrained.stderr[-3000:]
    assert "uncommitted changes" in retrained.stdout.splitlines()[0]
    assert "fraud: 10 → 400 trees" in retrained.stdout
    assert "REGRESSED fraud|" in retrained.stderr


def test_the_base_is_the_merge_base_not_the_tip_of_the_branch(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "-b", "change")
    (repo / "note.txt").write_text("head's change\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "a change")
    _git(repo, "checkout", "-q", "main")
    (repo / "later.txt").write_text("main moved on\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "main moves on")
    _git(repo, "checkout", "-q", "change")
    assert merge_base(repo, "main") == first  # not main's newer tip: its later commit is not this change's


def test_a_wrong_ref_or_a_folder_outside_git_is_a_clear_input_error(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no such branch, tag or commit.*fetch-depth: 0"):
        merge_base(repo, "no-such-branch")
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(InputError, match="not in one"):
        repo_root(outside)


def test_gate_with_neither_against_nor_files_says_what_to_give(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "conversion.app.main", "gate"], cwd=repo, env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert "--against REF" in proc.stderr and "--baseline and --current" in proc.stderr


def test_blocks_alternate_so_a_steady_drift_costs_both_sides_alike() -> None:
    assert block_order(1) == ["base", "head"]
    assert block_order(2) == ["base", "head", "head", "base"]


def test_shards_split_every_model_once_deterministically_and_balanced() -> None:
    costs = {"a": 9.0, "b": 7.0, "c": 5.0, "d": 4.0, "e": 3.0, "f": 1.0}
    shards = [shard_of(costs, (k, 3)) for k in (1, 2, 3)]
    assert sorted(m for s in shards for m in s) == sorted(costs)  # each model in exactly one job
    assert shards == [shard_of(dict(reversed(list(costs.items()))), (k, 3)) for k in (1, 2, 3)]
    loads = [sum(costs[m] for m in s) for s in shards]
    assert max(loads) - min(loads) <= max(costs.values()) / 2  # 10, 10, 9 here


def test_a_dependency_file_that_differs_is_named(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    for tree in (base, head):
        tree.mkdir()
        (tree / "pyproject.toml").write_text(PYPROJECT)
    (base / "requirements.txt").write_text("onnxruntime==1.22.0\n")
    (head / "requirements.txt").write_text("onnxruntime==1.23.0\n")
    assert environment_differences(base, head) == ["requirements.txt"]
    (head / "pyproject.toml").write_text(PYPROJECT.replace('["onnxruntime"]', '["onnxruntime>=1.23"]'))
    assert environment_differences(base, head) == ["pyproject.toml [project] dependencies", "requirements.txt"]


def _results(machine: str, rounds: list[float], counts: dict[str, dict[str, float]] | None = None) -> dict:
    info = {"onnxgate_kind": "latency", "model": "m", "runtime": "native", "batch_size": 1, "framework": "xgboost",
            "ratio_kind": "native/reference", "ratio_rounds": rounds, "cpu_rounds": rounds}
    if counts:
        info["counts"] = counts
    return {"onnxgate_schema": 1, "machine_info": {"onnxgate": {"machine_id": machine, "machine": {}}},
            "benchmarks": [{"name": "t[m]", "fullname": "t[m]", "extra_info": info,
                            "stats": {"min": rounds[0], "max": rounds[-1], "mean": 1.0, "median": rounds[0],
                                      "rounds": len(rounds)}}]}


def test_a_sides_blocks_merge_into_one_results_file(tmp_path: Path) -> None:
    from conversion.results.benchmark_runs import load_run

    first, second = tmp_path / "1.json", tmp_path / "2.json"
    first.write_text(json.dumps(_results("box", [1.0, 2.0], counts={"native": {"instructions": 5.0}})))
    second.write_text(json.dumps(_results("box", [3.0])))
    merged = load_run(merge_block_files([first, second], tmp_path / "side.json"))
    (row,) = merged.records
    assert row.ratio_rounds == (1.0, 2.0, 3.0) and row.cpu_rounds == (1.0, 2.0, 3.0)
    assert row.rounds == 3
    assert row.counts == {"native": {"instructions": 5.0}}  # counted in one block, kept for the side
    second.write_text(json.dumps(_results("other-box", [3.0])))
    with pytest.raises(ResultsError, match="different machines"):
        merge_block_files([first, second], tmp_path / "side.json")


def test_only_the_two_sides_of_one_run_count_as_a_pair() -> None:
    base, head = {"onnxgate_pair": {"id": "x", "side": "base"}}, {"onnxgate_pair": {"id": "x", "side": "head"}}
    assert is_pair(base, head)
    assert not is_pair(head, base)
    assert not is_pair(base, {"onnxgate_pair": {"id": "y", "side": "head"}})
    assert not is_pair({}, head)


# --- the side-by-side rule and --pairs, on results files as `gate --against` writes them ------------------

def _side(rng: Any, per_call_s: float, *, batch: int, n: int = 200) -> Any:
    """A one-thread ONNX row whose own times per call were taken side by side (lognormal scatter)."""
    import dataclasses

    from tests.test_gate import _record, _rounds

    times = tuple(float(t) for t in per_call_s * rng.lognormal(0.0, 0.05, size=n))
    return dataclasses.replace(_record(_rounds(rng, level=0.5, n=60, spread=0.03), batch=batch), cpu_rounds=times,
                               wall_rounds=times)


def _pair_folder(folder: Path, base: list[Any], head: list[Any], pair_id: str) -> Path:
    from tests.test_gate import _results

    folder.mkdir()
    for side, records in (("base", base), ("head", head)):
        path = _results(folder / f"{side}.json", records)
        doc = json.loads(path.read_text())
        for bench, rec in zip(doc["benchmarks"], records, strict=True):
            bench["extra_info"].update(cpu_rounds=list(rec.cpu_rounds), wall_rounds=list(rec.wall_rounds))
        doc["onnxgate_pair"] = {"id": pair_id, "side": side}
        path.write_text(json.dumps(doc))
    return folder


def test_side_by_side_fails_a_slower_head_by_the_classes_minimum() -> None:
    import numpy as np

    from conversion.results.gate.side_by_side import SideBySideRegression

    rng = np.random.default_rng(1)
    rule = SideBySideRegression("cpu")
    at_256 = _side(rng, 1e-3, batch=256)
    assert rule.fails(_side(rng, 1.3e-3, batch=256), at_256) is not None  # +30%: beyond 256 rows' 15%
    assert rule.fails(_side(rng, 1.05e-3, batch=256), at_256) is None  # +5%: within what A/A trials moved
    one_row = _side(rng, 20e-6, batch=1)
    assert rule.fails(_side(rng, 30e-6, batch=1), one_row) is None  # +50%: one row's processes moved up to 77%
    assert rule.fails(_side(rng, 45e-6, batch=1), one_row) is not None  # more than doubled
    without = _side(rng, 1e-3, batch=256)
    older = type(without)(**{**without.__dict__, "cpu_rounds": ()})  # a base whose onnxgate predates the worker
    (change,) = rule.changes(without.key, without, older)
    assert change.verdict == "unjudged" and "predate" in change.note


def test_pairs_of_a_ci_matrix_make_one_verdict(tmp_path: Path) -> None:
    import numpy as np

    from conversion.app.main import main

    rng = np.random.default_rng(2)
    quiet = _pair_folder(tmp_path / "shard-1", [_side(rng, 1e-3, batch=256)], [_side(rng, 1e-3, batch=256)], "a")
    slower = _pair_folder(tmp_path / "shard-2", [_side(rng, 1e-3, batch=256)], [_side(rng, 1.4e-3, batch=256)], "b")
    assert main(["gate", "--pairs", str(quiet), "--json"]) == 0
    assert main(["gate", "--pairs", str(quiet), str(slower), "--json"]) == 1  # one shard regressed: one red verdict
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "base.json").write_text((quiet / "base.json").read_text())
    (mixed / "head.json").write_text((slower / "head.json").read_text())
    assert main(["gate", "--pairs", str(mixed)]) == 2  # two halves of different runs are no pair
