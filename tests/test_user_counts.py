"""--counts on a user's models: the worker rebuilds the same spec (file, rows, trust rules) and counts it;
the gate judges syscalls and page faults per call beside instructions."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from conversion.bench.callgrind_requests import available
from conversion.bench.config import ModelEntry
from conversion.bench.counts import count_models
from conversion.bench.counts_worker import COLD_PATHS
from conversion.bench.prepared import held_out_batch, prepare
from conversion.bench.user_models import UserSpec, spec_of_subject, subject_of
from conversion.bench.zoo import ZooSpec
from conversion.results.gate.figures import KERNEL_LIMITS
from conversion.results.gate.rules import CountRegression
from tests.test_gate import _record, _rounds

needs_valgrind = pytest.mark.skipif(not (shutil.which("valgrind") and available()),
                                    reason="needs valgrind on x86-64 Linux")


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pickle

    xgb = pytest.importorskip("xgboost")
    folder = tmp_path_factory.mktemp("user-models")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    model = xgb.XGBRegressor(n_estimators=5, max_depth=3, n_jobs=1).fit(X, X[:, 0] - X[:, 1])
    model.save_model(folder / "price.ubj")
    (folder / "price.pkl").write_bytes(pickle.dumps(model))
    np.savetxt(folder / "rows.csv", X[:50], delimiter=",", header="a,b,c,d", comments="")
    return folder


def test_a_user_spec_travels_to_the_worker_with_its_rows_and_trust_rules(user_files: Path) -> None:
    spec = UserSpec(ModelEntry("price", user_files / "price.pkl", user_files / "rows.csv", trust_pickle=False))
    back = spec_of_subject(subject_of(spec))
    assert back == spec and back.entry.trust_pickle is False
    assert spec_of_subject(subject_of(ZooSpec("xgboost", "synthetic"))) == ZooSpec("xgboost", "synthetic")
    ubj = UserSpec(ModelEntry("price", user_files / "price.ubj", user_files / "rows.csv"))
    # the counted rows are the timed benchmark's: the config's data, drawn the same way
    assert np.array_equal(held_out_batch(prepare(spec_of_subject(subject_of(ubj))), 16),
                          held_out_batch(prepare(ubj), 16))


@pytest.mark.slow
@needs_valgrind
def test_user_model_files_are_counted_and_an_untrusted_pickle_is_named_with_the_reason(user_files: Path) -> None:
    ubj = UserSpec(ModelEntry("price", user_files / "price.ubj", user_files / "rows.csv"))
    pkl = UserSpec(ModelEntry("price-pickled", user_files / "price.pkl"))
    result = count_models([ubj, pkl], [1], paths=["native", "onnxruntime", *COLD_PATHS])
    counted = result["price"]["per_call"]["1"]
    assert counted["native"]["instructions"] > 1000 and counted["onnxruntime"]["instructions"] > 1000
    assert {"syscalls", "faults"} <= set(counted["onnxruntime"])
    # cold start: making the session (graph load, optimisation) costs far more than a warm call
    assert counted["session-creation"]["instructions"] > 10 * counted["onnxruntime"]["instructions"]
    assert counted["first-call"]["instructions"] >= counted["onnxruntime"]["instructions"]
    assert "trust_pickle = true" in result["price-pickled"]["error"]


def _row(counts: dict[str, dict[str, float]]) -> object:
    return dataclasses.replace(_record(_rounds(np.random.default_rng(0), level=2.0), batch=1), counts=counts)


@pytest.mark.parametrize("measure", sorted(KERNEL_LIMITS))
def test_a_rise_of_kernel_work_per_call_fails_and_its_measured_spread_does_not(measure: str) -> None:
    floor, threshold = KERNEL_LIMITS[measure]
    base = {"onnxruntime": {"instructions": 74_000.0, measure: 0.0}}
    rule = CountRegression()
    wobble = _row({"onnxruntime": {"instructions": 74_000.0, measure: floor * threshold * 0.9}})
    assert rule.fails(wobble, _row(base)) is None
    risen = _row({"onnxruntime": {"instructions": 74_000.0, measure: floor * threshold * 1.1}})
    reason = rule.fails(risen, _row(base))
    assert reason is not None and f"{measure} per call (onnxruntime)" in reason
    # the same work per call with fewer syscalls or faults is no regression
    assert rule.fails(_row(base), risen) is None
    # one more per call fails on top of any baseline, not only from zero
    busy = {"onnxruntime": {"instructions": 74_000.0, measure: 11.0}}
    more = _row({"onnxruntime": {"instructions": 74_000.0, measure: 11.0 + floor * threshold * 1.1}})
    assert rule.fails(more, _row(busy)) is not None


def test_one_syscall_more_per_call_is_not_a_regression_two_are() -> None:
    # CI, unchanged CatBoost graph at 4096 rows: 4.00 -> 5.00 syscalls per call (then still counting
    # clock reads). Two more real syscalls per call, as a per-call thread start would add, must fail.
    def syscalls(n: float) -> object:
        return _row({"engine": {"instructions": 3.1e7, "syscalls": n}})
    assert CountRegression().fails(syscalls(5.0), syscalls(4.0)) is None
    assert "syscalls per call (engine)" in (CountRegression().fails(syscalls(4.0), syscalls(2.0)) or "")


@pytest.mark.parametrize("measure", sorted(KERNEL_LIMITS))
def test_a_native_calls_kernel_work_is_recorded_not_judged(measure: str) -> None:
    # glibc's dynamic mmap threshold moves a framework's large temporaries between the heap and
    # fresh pages: an unchanged HGB native 4096-row call read -2 and +16 faults per call.
    floor, threshold = KERNEL_LIMITS[measure]
    base = _row({"native": {"instructions": 9_000_000.0, measure: -2.0}})
    now = _row({"native": {"instructions": 9_000_000.0, measure: -2.0 + floor * threshold * 1.2}})
    assert CountRegression().fails(now, base) is None
    more_work = _row({"native": {"instructions": 9_500_000.0, measure: -2.0}})
    assert CountRegression().fails(more_work, base) is not None  # instructions still are


def test_a_session_creation_doing_twice_the_instructions_fails_naming_the_phase() -> None:
    base = {"session-creation": {"instructions": 2_000_000.0, "syscalls": 40.0, "faults": 300.0},
            "onnxruntime": {"instructions": 74_000.0}}
    rule = CountRegression()
    doubled = _row({**base, "session-creation": {"instructions": 4_000_000.0, "syscalls": 40.0, "faults": 300.0}})
    reason = rule.fails(doubled, _row(base))
    assert reason is not None and "instructions per call (session-creation) +100.0%" in reason
    # a cold phase is counted once, so its own wobble (and its kernel work) does not fail
    wobbled = _row({**base, "session-creation": {"instructions": 2_200_000.0, "syscalls": 45.0, "faults": 340.0}})
    assert rule.fails(wobbled, _row(base)) is None


def test_the_gate_knows_the_cold_start_paths_the_counting_worker_writes() -> None:
    from conversion.bench.counts_session import ROW_PATHS
    from conversion.bench.counts_worker import COLD_PATHS as WRITTEN
    from conversion.results.gate.figures import COLD_PATHS as JUDGED

    assert WRITTEN == JUDGED and set(WRITTEN) <= set(ROW_PATHS["onnx"])  # results may not import bench: two copies
