"""What changed, stated first (issue 18 items 1, 3, 4): real short benchmark runs of a user's model
before and after it was retrained with 3x the trees, gated in every format, swapped, and accepted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.user_benchmarks import bench, make_repo, onnxgate, train

pytest.importorskip("xgboost")
pytest.importorskip("pytest_benchmark")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    repo = make_repo(tmp_path_factory.mktemp("user-repo"), trees=100)
    base = bench(repo, "--save-as", "base.json")
    train(repo, trees=300)  # the same model name, retrained with 3x the trees
    proc = onnxgate(repo, "bench", "--output", "results", "--baseline", "base.json")
    return {"repo": repo, "base": repo / "base.json", "base_full": base,
            "retrained": repo / proc.stdout.strip().splitlines()[-1], "bench": proc}


def _gate(repo: Path, *args: object) -> tuple[int, str, str]:
    proc = onnxgate(repo, "gate", *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_a_retrained_model_is_the_first_thing_the_gate_says(runs: dict) -> None:
    code, out, err = _gate(runs["repo"], "--baseline", runs["base"], "--current", runs["retrained"])
    assert code == 1, out + err
    first = out.splitlines()[:3]
    assert first[0].startswith("gate: FAIL: ") and " regressed" in first[0]
    assert first[1] == "what changed:"
    assert first[2].startswith("  model changed: churn: 100 → 300 trees, "), first
    assert "ONNX " in first[2] and " kB" in first[2] and "file " in first[2]
    # The end of the output names each regressed benchmark with that cause.
    regressed = [line for line in err.splitlines() if line.startswith("REGRESSED churn|")]
    assert regressed and all("cause: model changed: 100 → 300 trees" in line for line in regressed), err
    # A reviewer's 20 seconds (issue 27: a retrain printed 72 lines); the table is -v's.
    assert len((out + err).strip().splitlines()) <= 20, out + err


def test_markdown_and_json_lead_with_the_explanation(runs: dict) -> None:
    _, md, _ = _gate(runs["repo"], "--baseline", runs["base"], "--current", runs["retrained"], "--format", "markdown")
    lines = [line for line in md.splitlines() if line]
    assert lines[1] == "**What changed**" and lines[2].startswith("- model changed: churn: 100 → 300 trees")
    _, out, _ = _gate(runs["repo"], "--baseline", runs["base"], "--current", runs["retrained"], "--json")
    data = json.loads(out)
    assert data["explanations"]["run"][0].startswith("model changed: churn: 100 → 300 trees")
    assert data["explanations"]["models"]["churn"][0].startswith("model changed: 100 → 300 trees")
    assert data["baseline_history"] == []


def test_bench_with_a_baseline_ends_with_the_regressed_benchmarks(runs: dict) -> None:
    proc = runs["bench"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    tail = proc.stderr.strip().splitlines()
    assert tail[-1].startswith("REGRESSED churn|") and "cause: model changed: 100 → 300 trees" in tail[-1]


def test_swapped_files_are_warned_about_first(runs: dict) -> None:
    _, out, _ = _gate(runs["repo"], "--baseline", runs["retrained"], "--current", runs["base"])
    assert out.splitlines()[2].startswith("  WARNING: the baseline (") and "swapped" in out.splitlines()[2]
    # Unchanged (the run against itself): nothing recorded changed, no warning.
    _, out, _ = _gate(runs["repo"], "--baseline", runs["base"], "--current", runs["base_full"])
    assert out.splitlines()[2] == "  nothing recorded changed: the same models, library versions, onnxgate, commit " \
                                  "and machine"


def test_a_library_upgrade_is_named_per_regressed_model(runs: dict, tmp_path: Path) -> None:
    # The baseline as a numpy upgrade would have recorded it (onnxruntime's would also stop the
    # reference ratios being judged): the regressed model's line names the model and the library.
    doc = json.loads(Path(runs["base"]).read_text())
    software = doc["machine_info"]["onnxgate"]["software"]
    now = software["numpy"]
    software["numpy"] = "1.26.4"
    older = tmp_path / "older.json"
    older.write_text(json.dumps(doc))
    code, out, _ = _gate(runs["repo"], "--baseline", older, "--current", runs["retrained"], "--json")
    why = json.loads(out)["explanations"]
    assert code == 1 and f"libraries: numpy 1.26.4 → {now}" in why["run"]
    assert why["models"]["churn"][0].startswith("model changed: 100 → 300 trees")
    assert why["models"]["churn"][1] == f"libraries: numpy 1.26.4 → {now}"


def test_accept_records_the_run_keeps_the_history_and_the_next_gate_passes(runs: dict, tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    shutil.copy(runs["base"], folder / "this-machine.json")
    code, out, err = _gate(runs["repo"], "--baseline", folder, "--current", runs["retrained"], "--accept",
                           "--why", "churn retrained with 3x the trees")
    assert code == 0, err
    # What is being accepted, and that it was: no "FAIL" verdict on stdout for a change the user accepts.
    assert out.startswith("gate: accepted: ") and "\nwhat changed:\n  model changed: churn: 100 → 300 trees" in out
    assert "FAIL" not in out
    assert "regressed benchmark" in out and "churn|" in out
    assert f"accepted {runs['retrained']} as the baseline" in out and "it replaced the baseline recorded" in out
    assert [p.name for p in folder.iterdir()] == ["this-machine.json"]
    code, out, err = _gate(runs["repo"], "--baseline", folder, "--current", runs["retrained"], "--json")
    assert code == 0, out + err
    history = json.loads(out)["baseline_history"]
    assert len(history) == 1 and history[0]["why"] == "churn retrained with 3x the trees"
    assert history[0]["models"]["churn"]["trees"] == 100
    _, out, _ = _gate(runs["repo"], "--baseline", folder, "--current", runs["retrained"])
    assert "baseline accepted " in out and ": churn retrained with 3x the trees; 1 earlier baseline(s) kept" in out


def test_run_ends_with_one_line_per_regressed_benchmark(runs: dict, tmp_path: Path) -> None:
    proc = onnxgate(runs["repo"], "run", "--no-upstream", "--baseline", runs["base"], "--output", tmp_path / "r")
    assert proc.returncode == 1, proc.stderr[-3000:]
    tail = proc.stdout.strip().splitlines()
    regressed = [line for line in tail if line.startswith("REGRESSED ")]
    assert regressed and tail[-len(regressed):] == regressed
    assert all("cause: model changed: 100 → 300 trees" in line for line in regressed)
    assert "warning" not in proc.stderr.lower(), proc.stderr[-3000:]
