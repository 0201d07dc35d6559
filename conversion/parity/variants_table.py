"""The variants table of one model: each graph variant's size, session creation, first call,
latency per batch size and accuracy delta, measured interleaved in this process, with a
recommendation that follows from the figures.

Dense models (linear, logistic, MLP) get float (the default conversion), float32, an offline
optimized graph, dynamic and static INT8 and float16. Tree ensembles have no INT8 or float16
path in onnxruntime, so they get the rows that do apply: each graph optimization level and the
offline optimized graph. Ratios are against the float row of the same model, measured in the
same rounds, so the machine's load cancels out of them; the load is recorded beside them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from conversion.converter.convert import convert
from conversion.converter.converted import ConvertedModel
from conversion.converter.variants import is_dense, make_variant
from conversion.parity.accuracy import AccuracyTolerance, accuracy_delta
from conversion.parity.check import check_parity
from conversion.runtime.engine import InferenceEngine
from conversion.runtime.providers import CPU
from conversion.runtime.sessions import SessionOptions
from conversion.runtime.timing import cpu_clock, interleaved

__all__ = ["BATCHES", "LEVELS", "variants_table"]

log = logging.getLogger(__name__)

BATCHES = (1, 256)
LEVELS = ("disable", "basic", "extended", "all")  # the engine's names for ORT's optimization levels
SAME = 1.05  # a ratio within 5% of the float row's is "the same" on a shared machine
FASTER = 0.90  # a lossy variant is worth its error only if clearly faster
# Every session here is built and run with one thread, on this thread.
ONE_THREAD = {"cpu": cpu_clock(1, native_threads=False)}


@dataclass
class _Variant:
    name: str
    converted: ConvertedModel
    level: str = "all"  # the optimization level its sessions are created with
    exact: bool = True  # expected to give the float row's outputs (judged, not assumed)


def _candidates(model: Any, calibration: np.ndarray) -> list[_Variant]:
    base = convert(model)
    out = [_Variant("float", base)]
    if not is_dense(base):
        out += [_Variant(f"level={lv}", base, lv) for lv in LEVELS if lv != "all"]
        return [*out, _Variant("optimized", base.optimized(), "disable")]
    f32 = base if base.dtype == np.float32 else convert(model, dtype="float32")
    out.append(_Variant("optimized", base.optimized(), "disable"))
    if f32 is not base:
        out.append(_Variant("float32", f32, exact=False))
    for name in ("dynamic-int8", "static-int8", "float16"):
        try:
            out.append(_Variant(name, make_variant(f32, name, calibration=calibration), exact=False))
        except Exception as exc:  # one variant that cannot be built is a finding, not a lost table
            log.warning("the %s variant could not be built: %s", name, exc)
    return out


def _creator(v: _Variant) -> Callable[[], Any]:
    data = v.converted.to_bytes()
    so = SessionOptions(((CPU, ()),), threads=1, graph_optimization=v.level)

    def create() -> Any:
        return ort.InferenceSession(data, sess_options=so.build(), providers=[CPU])

    return create


def _call(engine: InferenceEngine, method: str, rows: np.ndarray) -> Callable[[], Any]:
    return lambda: engine.run(method, rows)


def _first_call(v: _Variant, method: str, row: np.ndarray) -> float:
    session = _creator(v)()
    feed = {session.get_inputs()[0].name: row.astype(v.converted.dtype)}
    start = ONE_THREAD["cpu"]()
    session.run([method], feed)
    return (ONE_THREAD["cpu"]() - start) / 1e9


def _accuracy(v: _Variant, model: Any, X: np.ndarray, y: np.ndarray | None, engine: InferenceEngine,
              reference: dict[str, np.ndarray], float_parity: bool, tolerance: AccuracyTolerance) -> dict[str, Any]:
    if v.exact:
        # the same outputs as the float graph on these rows, whose parity was checked once: the
        # same parity (check_parity costs seconds per call on a large ensemble)
        same = all(np.array_equal(engine.run(m, X), out) for m, out in reference.items())
        said = ("exact parity, same outputs as float" if same and float_parity
                else "DIFFERENT outputs from float" if not same else "parity fails (as the float graph's does)")
        return {"exact": same and float_parity, "accuracy": said}
    delta = accuracy_delta(model, v.converted, X, y, tolerance=tolerance, engine=engine).to_dict()
    return {"exact": False, "delta": delta, "accuracy": "within tolerance" if delta["passed"] else "outside tolerance"}


def _recommend(row: dict[str, Any], base: dict[str, Any], float32: dict[str, Any] | None) -> str:
    if row["variant"] == "float":
        return "baseline"
    size = row["bytes"] / base["bytes"]
    lat = row["latency_ratio"]
    spread = f"latency {min(lat.values()):.2f}-{max(lat.values()):.2f}x"
    if row.get("exact"):
        if row["session_ratio"] <= 0.8 and max(lat.values()) <= SAME:
            return f"use: session in {row['session_ratio']:.2f}x the time, {spread}, exact"
        return f"no gain: session {row['session_ratio']:.2f}x, {spread} (within noise)"
    delta = row.get("delta") or {}
    if delta and not delta.get("passed", False):
        return "reject: " + "; ".join(delta.get("failures", []))
    # INT8 and float16 start from the float32 graph: they must beat it, not only the float64 one
    ref = float32 if float32 is not None and row is not float32 else None
    faster = {b: r for b, r in lat.items() if r <= FASTER and (ref is None or r <= FASTER * ref["latency_ratio"][b])}
    if faster:
        b = min(faster, key=faster.__getitem__)
        return f"consider: {faster[b]:.2f}x latency at batch {b}, {size:.2f}x size, not exact"
    if size <= 0.6 and (ref is None or row["bytes"] <= 0.6 * ref["bytes"]):
        return f"size only: {size:.2f}x the bytes, {spread}, not exact"
    than = " (no better than float32)" if ref is not None else ""
    return f"no gain: {spread}, {size:.2f}x size{than}, not exact"


def variants_table(model: Any, X: np.ndarray, y: np.ndarray | None = None, *, rounds: int = 15,
                   creations: int = 5, tolerance: AccuracyTolerance | None = None) -> dict[str, Any]:
    """The table of one model on its held-out rows ``X`` (true labels ``y``, if known).

    Static INT8 is calibrated on the first half of ``X``; every accuracy figure is taken on the
    second half, so no variant is judged on the rows it was calibrated on.
    """
    tolerance = tolerance or AccuracyTolerance()
    X = np.ascontiguousarray(X)
    half = max(len(X) // 2, 1)
    calibration, X_eval = X[:half], X[half:] if len(X) > 1 else X
    y_eval = None if y is None else np.asarray(y)[half:] if len(X) > 1 else np.asarray(y)
    variants = _candidates(model, calibration)
    method = "predict_proba" if "predict_proba" in variants[0].converted.methods else "predict"
    # CPU time: a one-thread session is built and run on this thread, and the CPU clock ignores
    # the time other processes of a shared machine take it away
    created = interleaved({v.name: _creator(v) for v in variants}, rounds=creations, clocks=ONE_THREAD)
    # one call path for all: the engine's measured choice may differ per session, which is not the graph's doing
    engines = {v.name: InferenceEngine(v.converted, threads=1, graph_optimization=v.level, call_path="run")
               for v in variants}
    reference = {m: engines["float"].run(m, X_eval) for m in variants[0].converted.methods}
    float_parity = check_parity(model, variants[0].converted, X_eval, engine=engines["float"]).passed
    latency: dict[int, dict[str, np.ndarray]] = {}
    for b in BATCHES:
        rows = X[np.arange(b) % len(X)]
        fns = {v.name: _call(engines[v.name], method, rows.astype(v.converted.dtype)) for v in variants}
        timed = interleaved(fns, rounds=rounds, reps=max(1, 64 // b), clocks=ONE_THREAD)
        latency[b] = {n: t["cpu"] for n, t in timed.items()}
    out = []
    for v in variants:
        session_s = float(np.median(created[v.name]["cpu"])) / 1e9
        row: dict[str, Any] = {
            "variant": v.name, "bytes": len(v.converted.to_bytes()), "level": v.level,
            "session_ms": session_s * 1e3, "first_call_ms": _first_call(v, method, X[:1]) * 1e3,
            "latency_us": {str(b): float(np.median(latency[b][v.name])) / 1e3 for b in BATCHES},
            "latency_ratio": {str(b): float(np.median(latency[b][v.name] / latency[b]["float"])) for b in BATCHES},
            "session_ratio": float(np.median(created[v.name]["cpu"] / created["float"]["cpu"])),
        }
        row.update(_accuracy(v, model, X_eval, y_eval, engines[v.name], reference, float_parity, tolerance))
        out.append(row)
    float32 = next((r for r in out if r["variant"] == "float32"), None)
    for row in out:
        row["recommendation"] = _recommend(row, out[0], float32)
    return {"rows": out, "batches": list(BATCHES), "method": method, "load": os.getloadavg()[0],
            "onnxruntime": ort.__version__, "rows_evaluated": len(X_eval),
            "tolerance": {"max_abs": tolerance.max_abs, "flip_rate": tolerance.flip_rate,
                          "score_drop": tolerance.score_drop}}
