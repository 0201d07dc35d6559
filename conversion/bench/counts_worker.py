"""The counted side of instruction counting: the calls one valgrind process counts, and its phases.

counts.py starts this under callgrind (``python -m conversion.bench.counts --worker SPEC``) and
reads the dumps back; the phase plan (calls per phase, repeats, warm-up) is defined here, where
the phases run, and the parent divides by the same numbers.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["COLD_PATHS", "PATHS", "REFERENCE", "Calls", "calls_for", "model_calls", "repeats_for", "work"]

COLD_PATHS = ("session-creation", "first-call")  # cold start, counted once per model (_cold_calls), judged by the gate
PATHS = ("native", "engine", "onnxruntime", *COLD_PATHS)
REFERENCE = "reference"  # count_model's name for the gate's reference model (no zoo training)
REPEATS = 3
# Warm-up calls per call in a phase, counted but discarded: the first dozen or so calls after
# counting starts differ by ~1.5% between processes (measured: 8 calls at 1 row, 458,535 vs
# 464,937 instructions), later phases by < 0.02%.
WARMUP_PHASES = 3
# Calls per phase by batch size: enough to average the few-% call-to-call wobble of the
# interpreter, few enough that a 4096-row native call (up to ~2 s under callgrind) stays cheap.
_CALLS = ((1, 8), (256, 2))
_LARGE_CALLS = 1
# Above 256 rows one call is tens of millions of instructions, alike from call to call to < 0.05%:
# one warm-up phase and one N/2N pair suffice there, and cut a 4096-row path's calls under callgrind
# from 12 to 4 (the largest part of the counting's cost: 55 of 120 s per model at load 6).
_LARGE_REPEATS = 1


def calls_for(batch_size: int) -> int:
    return next((n for limit, n in _CALLS if batch_size <= limit), _LARGE_CALLS)


def repeats_for(batch_size: int) -> int:
    """N/2N phase pairs counted per path at this batch size (and warm-up phases before them)."""
    return REPEATS if batch_size <= _CALLS[-1][0] else _LARGE_REPEATS


Calls = list[tuple[int, str, Callable[[], Any]]]  # (batch size, path, zero-argument call)


def _session(onnx_bytes: bytes) -> Any:
    """A raw ONNX Runtime session that computes on the calling thread only."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def _reference_calls(batches: Sequence[int], paths: Sequence[str]) -> Calls:
    """The gate's reference model in a raw session: cheap to set up (no training), for tests."""
    import numpy as np

    from conversion.bench.reference import reference_model

    session = _session(reference_model(20))
    rng = np.random.default_rng(0)
    feeds = {b: {"X": rng.random((b, 20), dtype=np.float32)} for b in batches}
    if "onnxruntime" not in paths:
        return []
    return [(b, "onnxruntime", lambda feed=feeds[b]: session.run(None, feed)) for b in batches]


def _subject_calls(subject: dict[str, Any], batches: Sequence[int], paths: Sequence[str]) -> Calls:
    """The calls of a zoo or user model, prepared as the latency suite prepares it (same rows)."""
    from conversion.bench.prepared import prepare
    from conversion.bench.user_models import spec_of_subject

    prep = prepare(spec_of_subject(subject))
    return model_calls(prep, prep.converted, batches, paths)


def _cold_calls(subject: dict[str, Any], batches: Sequence[int]) -> Calls:
    """Session creation from the graph's bytes, then that session's first call on the smallest batch."""
    import numpy as np

    from conversion.bench.prepared import held_out_batch, prepare
    from conversion.bench.user_models import spec_of_subject

    prep = prepare(spec_of_subject(subject))
    if prep.converted is None:
        return []
    graph, made = prep.converted.to_bytes(), {}
    batch = min(batches)
    X = np.ascontiguousarray(held_out_batch(prep, batch), dtype=prep.converted.dtype)

    def first_call() -> Any:
        session = made["session"]
        return session.run([prep.method], {session.get_inputs()[0].name: X})

    return [(batch, "session-creation", lambda: made.update(session=_session(graph))),
            (batch, "first-call", first_call)]


def model_calls(prep: Any, converted: Any, batches: Sequence[int], paths: Sequence[str],
                on_session: Callable[[Any], None] | None = None) -> Calls:
    """The counted calls of a prepared zoo model (native) and of ``converted`` (engine, raw session).

    ``on_session`` sees both ONNX Runtime sessions once made (prove_counts slows them down).
    """
    import numpy as np

    from conversion import InferenceEngine
    from conversion.bench.prepared import held_out_batch

    out: Calls = []
    session = engine = None
    if converted is not None and set(paths) & {"engine", "onnxruntime"}:
        session = _session(converted.to_bytes())
        engine = InferenceEngine(converted, providers=["CPUExecutionProvider"], threads=1,
                                 call_path="run", warmup=False)
        for made_session in (session, engine.session) if on_session else ():
            on_session(made_session)
    method = prep.method
    for batch in batches:
        X = np.ascontiguousarray(held_out_batch(prep, batch))
        made: dict[str, Callable[[], Any]] = {"native": prep.native_call(X)}
        if session is not None and engine is not None:
            # The raw session takes the graph's own dtype (LightGBM's graph is float64), cast here,
            # outside the counted call, as a caller of the raw session would hold its rows.
            feed = {session.get_inputs()[0].name: np.ascontiguousarray(X, dtype=converted.dtype)}
            made["engine"] = lambda engine=engine, X=X: engine.run(method, X)
            made["onnxruntime"] = lambda feed=feed: session.run([method], feed)
        out += [(batch, p, made[p]) for p in paths if p in made]
    return out


def _resolve(name: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (the worker's spec names its hooks as data)."""
    import importlib

    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _faults() -> int:
    """The calling thread's page faults so far (minor + major)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_minflt + usage.ru_majflt


def work(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs the counted phases; returns the plan, one entry per dump, in order."""
    from conversion.bench import callgrind_requests as cr

    paths = spec.get("paths", PATHS)
    for hook in spec.get("setup", ()):  # e.g. prove_counts injecting work into onnxruntime
        _resolve(hook["call"])(**hook.get("kwargs", {}))
    if spec.get("maker"):
        calls = _resolve(spec["maker"]["call"])(spec["batches"], paths, **spec["maker"].get("kwargs", {}))
    elif spec["model"] == REFERENCE:
        calls = _reference_calls(spec["batches"], paths)
    else:
        calls = _subject_calls(spec["subject"], spec["batches"], paths)
    for _, _, fn in calls:  # lazy allocations, first-call compilation: outside the counts
        fn()
    _faults()  # its first call imports `resource`, which must not land in the first counted phase
    gc.collect()
    gc.disable()  # a collection would land in one phase and not the other
    cr.request(cr.START_INSTRUMENTATION)
    plan: list[dict[str, Any]] = []
    for batch, path, fn in calls:
        n, repeats = calls_for(batch), repeats_for(batch)
        for _ in range(min(WARMUP_PHASES, repeats) * n):  # retranslation now counting is on; the interpreter settles
            fn()
        cr.request(cr.ZERO_STATS)
        for rep in range(repeats):
            for k in (n, 2 * n):
                before = _faults()
                for _ in range(k):
                    fn()
                faults = _faults() - before
                cr.request(cr.DUMP_STATS)
                plan.append({"batch": batch, "path": path, "calls": k, "rep": rep, "faults": faults})
        cr.request(cr.ZERO_STATS)
    cold = spec.get("subject") and set(COLD_PATHS) & set(paths)
    for batch, path, fn in _cold_calls(spec["subject"], spec["batches"]) if cold else ():
        before = _faults()
        fn()
        faults = _faults() - before
        cr.request(cr.DUMP_STATS)
        plan.append({"batch": batch, "path": path, "calls": 1, "rep": 0, "faults": faults, "cold": True})
    return plan
