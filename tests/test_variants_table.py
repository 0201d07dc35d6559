"""The per-model variants table `onnxgate run` writes and the report renders (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from conversion.bench.cases import parse_specs
from conversion.bench.zoo import DENSE, build, dense_specs
from conversion.parity.variants_table import LEVELS, variants_table


@pytest.fixture(scope="module")
def logistic():
    return build(dense_specs(("breast_cancer",))[1])


def test_dense_zoo_models_are_named_like_the_others_and_carry_their_labels() -> None:
    specs = dense_specs()
    assert {s.size for s in specs} == set(DENSE)
    assert parse_specs([s.name for s in specs]) == specs  # the benchmark child resolves them by name
    with pytest.raises(ValueError, match="for sklearn"):
        parse_specs(["xgboost-synthetic-mlp"])


def test_zoo_subjects_of_run_include_the_dense_models() -> None:
    from conversion.app.run_job import zoo_subjects

    names = [m.__name__ for m in zoo_subjects(["sklearn"], ["breast_cancer"], ["small"])]
    assert names == ["sklearn-breast_cancer-small", "sklearn-breast_cancer-mlp", "sklearn-breast_cancer-logistic"]
    assert not [m for m in zoo_subjects(["xgboost"], ["breast_cancer"], ["small"]) if "logistic" in m.__name__]


def test_dense_table_states_each_variant_and_its_accuracy(logistic) -> None:
    zm = logistic
    assert zm.y is not None and len(zm.y) == len(zm.X)
    table = variants_table(zm.model, zm.X, zm.y, rounds=3, creations=2)
    rows = {r["variant"]: r for r in table["rows"]}
    assert list(rows) == ["float", "optimized", "float32", "dynamic-int8", "static-int8", "float16"]
    assert rows["float"]["recommendation"] == "baseline" and rows["optimized"]["exact"] is True
    for name in ("float32", "dynamic-int8", "static-int8", "float16"):
        row = rows[name]
        assert row["exact"] is False and row["delta"]["score_name"] == "accuracy"
        assert row["delta"]["n_rows"] == table["rows_evaluated"] == len(zm.X) - len(zm.X) // 2
        said = row["recommendation"]
        assert said.startswith("reject") or said.endswith("not exact"), said
    for row in rows.values():
        assert set(row["latency_us"]) == {str(b) for b in table["batches"]} and row["bytes"] > 0
    assert rows["dynamic-int8"]["bytes"] != rows["float32"]["bytes"]


def test_tree_table_has_the_optimization_levels_and_no_lossy_rows() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    table = variants_table(model, X, rounds=3, creations=2)
    names = [r["variant"] for r in table["rows"]]
    assert names == ["float", *(f"level={lv}" for lv in LEVELS if lv != "all"), "optimized"]
    assert all(r["exact"] for r in table["rows"]) and not any("delta" in r for r in table["rows"])


def test_report_renders_the_variants_table_from_the_results_file(logistic, tmp_path) -> None:
    from conversion.report.build import build_report
    from conversion.results.run_results import RunResult, load_run_result, save_run

    zm = logistic
    table = variants_table(zm.model, zm.X, zm.y, rounds=2, creations=2)
    result = RunResult(source="run.json", created="2026-01-01T00:00:00+00:00", manifest={"machine_id": "m"},
                       models=[{"name": zm.name, "framework": "sklearn", "dataset": "breast_cancer",
                                "variants": table}])
    saved = load_run_result(save_run(result, tmp_path / "run.json"))  # the report reads the file, not live state
    html = build_report([saved], tmp_path / "report").read_text()
    assert f'class="variants-table" data-model="{zm.name}"' in html
    for row in table["rows"]:
        assert f"<td>{row['variant']}</td>" in html and row["recommendation"].split(":")[0] in html
    assert "not exact: max" in html
