"""Speedups against the fastest native call, and the compiled peers beside ONNX (issue 30)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conversion.bench.cases import PROFILES, cases_for
from conversion.bench.peers import build_peer, peer_parity
from conversion.report.serving_options import serving_options
from conversion.report.verdict import model_verdict, per_batch
from conversion.results.benchmark_runs import Record

from .runtime_models import data, fitted


def _row(runtime: str, p50: float, ref: float, *, native_call: str = "", provider: str | None = None,
         parity: str = "passed", batch: int = 1) -> Record:
    return Record(
        framework="lightgbm", model="m", size="small", dataset="synthetic", batch_size=batch, runtime=runtime,
        provider=provider, threads=1 if runtime != "native" else None, p50=p50, p90=p50, p99=p50, mean=p50,
        min=p50, stddev=0.0, rounds=30, rows_per_s=batch / p50, parity=parity, parity_detail="",
        conversion_s=0.1, onnx_bytes=1, session_s=None, first_call_s=None, peak_rss_mb=None,
        ratio_kind="onnx/native" if runtime == "onnx" else f"{runtime}/reference", ratio_rounds=(1.0,),
        name=f"{runtime}{native_call}{provider}", group="g", native_call=native_call, ref_ratio_p50=ref)


# LightGBM at one row as issue 30 measured it: wrapper 460 us, Booster.predict 26 us, ONNX 12.6 us
WRAPPER = _row("native", 460e-6, 46.0)
FAST = _row("native", 26e-6, 2.6, native_call="Booster.predict")
ONNX = _row("onnx", 12.6e-6, 1.26, provider="CPUExecutionProvider")


def test_the_speedup_is_against_the_faster_native_call_with_the_wrapper_beside_it() -> None:
    [b] = per_batch([WRAPPER, FAST, ONNX])
    assert b["native_label"] == "native Booster.predict"
    assert b["speedup"] == pytest.approx(26 / 12.6)
    assert b["wrapper_speedup"] == pytest.approx(460 / 12.6)


def test_a_booster_and_its_wrapper_get_the_same_verdict() -> None:
    """A LightGBM .txt file loads as a Booster (no wrapper row, its call is the fast one); the same model
    trained as LGBMClassifier has both rows: the verdict compares ONNX with the same call either way."""
    as_booster = replace(FAST, native_call="")  # the Booster's own predict, timed as its native row
    from_file = model_verdict("m", [], [as_booster, ONNX])
    from_wrapper = model_verdict("m", [], [WRAPPER, FAST, ONNX])
    assert from_file["speed_text"].split(" than ")[0] == from_wrapper["speed_text"].split(" than ")[0]
    assert from_file["batches"][0]["speedup"] == from_wrapper["batches"][0]["speedup"]


def test_speedups_come_from_the_interleaved_ratios_not_from_p50s_of_rows_timed_apart() -> None:
    """A loaded machine slowed the ONNX row's wall time 8x; its ratio to the reference did not move."""
    loaded = replace(ONNX, p50=ONNX.p50 * 8)
    [b] = per_batch([WRAPPER, FAST, loaded])
    assert b["speedup"] == pytest.approx(26 / 12.6)


def test_every_case_list_has_a_fast_native_row_beside_the_wrapper() -> None:
    cases = cases_for(PROFILES["quick"], providers=["CPUExecutionProvider"], frameworks=("lightgbm",), threads=(1,))
    ids = {c.id for c in cases}
    assert "lightgbm-synthetic-small-b1-native" in ids and "lightgbm-synthetic-small-b1-native-fast" in ids


def test_an_inexact_peer_is_shown_as_not_exact_and_never_named_fastest() -> None:
    peer = _row("peer", 5e-6, 0.5, provider="somepeer", parity="inexact")
    [options] = serving_options([WRAPPER, FAST, ONNX, peer])
    assert options["fastest"] == ONNX.label
    listed = {p["label"]: p for p in options["paths"]}
    assert listed["somepeer 1t"]["exact"] is False
    assert listed["native"]["relative"] == pytest.approx(460 / 12.6)


def test_an_exact_peer_that_is_faster_is_named_fastest() -> None:
    peer = _row("peer", 7.7e-6, 0.77, provider="lleaves")
    [options] = serving_options([WRAPPER, FAST, ONNX, peer])
    assert options["fastest"] == "lleaves 1t"
    assert [p["label"] for p in options["paths"]][:2] == ["lleaves 1t", ONNX.label]


def test_peer_parity_allows_summation_rounding_only() -> None:
    want = np.array([[0.25, 0.75], [0.5, 0.5]])
    X = np.zeros((2, 3))
    one_ulp = lambda X: np.array([0.75 + 1e-16, 0.5])  # noqa: E731 - class one's probability, as peers answer
    wrong = lambda X: np.array([0.75, 0.51])  # noqa: E731
    assert peer_parity(one_ulp, want, X, trees=100)[0] == "passed"
    status, detail = peer_parity(wrong, want, X, trees=100)
    assert status == "inexact" and "1 of 2 rows" in detail


def test_a_peer_that_cannot_build_says_why_in_one_line() -> None:
    model, _ = fitted("catboost")
    peer = build_peer("lleaves", "catboost", model, "predict_proba", [data()[0][:8]], trees=8)
    assert peer.call is None and "does not compile catboost" in peer.why_not and "\n" not in peer.why_not


@pytest.mark.parametrize(("peer", "framework"), [("lleaves", "lightgbm"), ("tl2cgen", "xgboost")])
def test_an_installed_peer_builds_and_answers_what_the_wrapper_answers(peer: str, framework: str) -> None:
    pytest.importorskip(peer, reason=f"{peer} is not installed: pip install 'onnxgate[peers]'")
    model, _ = fitted(framework)
    X = data()[0][:64].copy()
    nan = X.copy()
    nan[::3, 0] = np.nan
    built = build_peer(peer, framework, model, "predict_proba", [X, nan], trees=8)
    assert built.call is not None, built.why_not
    assert built.parity == "passed", built.parity_detail
    assert built.compile_s and built.compile_s > 0


def test_the_full_profile_times_the_fast_native_call_on_onnx_threads_at_scale() -> None:
    cases = cases_for(PROFILES["full"], providers=["CPUExecutionProvider"], frameworks=("lightgbm",), threads=(1, 2))
    ids = {c.id for c in cases}
    assert "lightgbm-synthetic-small-b4096-native-fast-t2" in ids
    assert "lightgbm-synthetic-small-b256-native-fast-t2" not in ids  # small batches: one thread only
    quick = cases_for(PROFILES["quick"], providers=["CPUExecutionProvider"], frameworks=("lightgbm",), threads=(1, 2))
    assert not any(c.runtime == "native" and c.threads for c in quick)


def test_threads_at_scale_say_which_path_wins_on_the_same_threads() -> None:
    big = [replace(r, batch_size=4096) for r in (WRAPPER, FAST, ONNX)]
    native2 = replace(FAST, batch_size=4096, threads=2, p50=30e-3, ref_ratio_p50=None)
    onnx2 = replace(ONNX, batch_size=4096, threads=2, p50=20e-3, ref_ratio_p50=None)
    options = {o["threads"]: o for o in serving_options([*big, native2, onnx2])}
    assert options[2]["fastest"] == "onnx CPU 2t"
    assert [p["label"] for p in options[2]["paths"]] == ["onnx CPU 2t", "native Booster.predict 2t"]
    assert options[2]["paths"][1]["relative"] == pytest.approx(1.5)
