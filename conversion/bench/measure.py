"""One latency measurement: a target timed by pytest-benchmark, its partners interleaved round by round.

The zoo suite (suites/test_latency.py) and the ``onnxgate_latency`` fixture for a user's own
benchmark file both call ``measure``, so every model is timed one way and every results file
carries the same ``extra_info`` fields (one ``LatencyInfo``), which the gate and the report read.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
from dataclasses import replace
from typing import Any

import numpy as np

from conversion.bench import interleave
from conversion.bench.interleave import Interleaved
from conversion.bench.pairing import Pairing, pair, with_ratios
from conversion.bench.prepared import Prepared
from conversion.results.latency_info import LatencyInfo

__all__ = ["measure_row", "op_profile", "tail_fields"]

# The tail block: p99 needs hundreds of calls, and the profile's 30-60 rounds hold too few (a tail
# of 1 call in 10 shows in ~6 of 60 rounds, which a test of the rounds beyond the baseline's p99
# catches in only ~70% of trials). Each pytest round is one call (iterations=1), so a round's
# time is a call's and nothing is averaged away; the block simply adds calls, target against the
# reference only, within a time budget per row.
TAIL_BUDGET_S = 0.3
TAIL_ROUNDS = (30, 400)  # fewest, most
TAIL_SMALL_BATCH = 1024  # up to this many rows a row gets at least 133 tail rounds, however loaded the machine
PROFILE_CALLS = 20  # onnxruntime profiler: calls per row, on a session of its own


def tail_fields(pairing: Pairing, per_call_s: float, batch_size: int) -> dict[str, tuple[float, ...]]:
    """Extra interleaved rounds, target vs reference: the per-call samples the tail rule judges
    (LatencyInfo's tail fields, by keyword)."""
    # A floor by batch size, not by time: at load 20 a 1 ms call's wall time reached 10 ms.
    fewest = TAIL_ROUNDS[1] // 3 if batch_size <= TAIL_SMALL_BATCH else TAIL_ROUNDS[0]
    n = int(min(TAIL_ROUNDS[1], max(fewest, TAIL_BUDGET_S / max(per_call_s, 1e-9))))
    rounds = interleave.measure(pairing.target, {"reference": pairing.partners["reference"]}, rounds=n,
                                warmup_rounds=0, target_clock=pairing.target_clock)
    return {"tail_ratio_rounds": tuple(rounds.cpu_ratios("reference")),
            "tail_wall_ratio_rounds": tuple(rounds.wall_ratios("reference"))}


def op_profile(onnx_bytes: bytes, X: np.ndarray, *, provider: str | None, threads: int | None,
               calls: int = PROFILE_CALLS) -> dict[str, float]:
    """Mean microseconds per call by op type, from onnxruntime's profiler on a session of its own
    (profiling slows every call, so never on the timed one)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="onnxgate-profile-") as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        session = ort.InferenceSession(onnx_bytes, sess_options=opts, providers=[provider or "CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: X}
        for _ in range(calls + 1):
            session.run(None, feed)
        events = json.loads(open(session.end_profiling(), encoding="utf-8").read())  # noqa: SIM115
    # The first run pays for lazy initialisation (milliseconds at one row): only later runs count.
    runs = sorted(float(ev["ts"]) + float(ev.get("dur", 0)) for ev in events if ev.get("name") == "model_run")
    warm = runs[0] if runs else float("-inf")
    durations: dict[str, list[float]] = {}
    for ev in events:
        args = ev.get("args") or {}
        if (ev.get("cat") == "Node" and str(ev.get("name", "")).endswith("_kernel_time") and "op_name" in args
                and float(ev.get("ts", 0)) > warm):
            durations.setdefault(args["op_name"], []).append(float(ev.get("dur", 0)))
    # The profiler times wall clock: a median per node run, times node runs per call, shrugs off preemption.
    return {op: float(np.median(d)) * len(d) / calls for op, d in sorted(durations.items())}


def _tail_judged(runtime: str, provider: str | None, threads: int | None, batch_size: int) -> bool:
    """Rows whose tails the gate judges: single-threaded CPU ONNX calls up to TAIL_SMALL_BATCH rows.

    Elsewhere a tail block would only be recorded (native calls of a second, 4096-row or
    multi-threaded ones hold too few calls in its budget, or a thread pool's tails), and it cost
    up to seconds per row in every run."""
    return (runtime == "onnx" and (threads or 1) == 1 and provider in (None, "CPUExecutionProvider")
            and batch_size <= TAIL_SMALL_BATCH)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure_row(benchmark: Any, prep: Prepared, X: np.ndarray, *, runtime: str, provider: str | None,
                threads: int | None, rounds: int, warmup_rounds: int, fast: bool = False) -> None:
    """Times ``runtime`` on ``X`` with pytest-benchmark's ``benchmark`` (``fast``: the native row of the
    adapter's fastest call); the row's LatencyInfo, ratios included, goes into its ``extra_info``."""
    spec, batch_size = prep.zoo.spec, int(X.shape[0])
    pairing = pair(prep, X, runtime=runtime, provider=provider, threads=threads, fast=fast)
    info = LatencyInfo(
        framework=spec.framework, model=spec.name, dataset=spec.dataset, size=spec.size, batch_size=batch_size,
        runtime=runtime, provider=provider, threads=threads, method=prep.method,
        native_call=prep.fast_on(threads).name if fast and runtime == "native" else "",
        parity=prep.parity, parity_detail=prep.parity_detail, conversion_s=prep.conversion_s,
        onnx_bytes=prep.onnx_bytes,
        model_facts=prep.facts,  # trees, nodes, leaves, features, graph and file hashes (model_facts.py)
        session_s=pairing.session_s, first_call_s=pairing.first_call_s, peak_rss_mb=None, ratio_kind="",
        ratio_rounds=(),
    )
    interleaved = Interleaved(pairing.target, pairing.partners, warmup_rounds=warmup_rounds,
                              target_clock=pairing.target_clock)
    benchmark.pedantic(interleaved.target, setup=interleaved.setup, rounds=rounds, warmup_rounds=warmup_rounds)
    if not benchmark.disabled:
        info = with_ratios(info, runtime, interleaved.rounds(benchmark.stats.stats.data))
        if _tail_judged(runtime, provider, threads, batch_size):
            per_call_s = benchmark.stats.stats.median + (info.reference_cpu_s or 0.0)
            info = replace(info, **tail_fields(pairing, per_call_s, batch_size))
        if runtime == "onnx" and prep.converted is not None:
            # the raw session takes the graph's own dtype (float64 for LightGBM, HGB, dense graphs)
            X_graph = np.asarray(X, dtype=prep.converted.dtype)
            info = replace(info, op_us=op_profile(prep.converted.to_bytes(), X_graph, provider=provider,
                                                  threads=threads))
    if runtime == "peer":  # the peer's own exactness and build time, not the ONNX conversion's
        peer = prep.peer(provider or "")
        info = replace(info, parity=peer.parity, compile_s=peer.compile_s,
                       parity_detail=f"{peer.name} {peer.version}: {peer.parity_detail}")
    benchmark.extra_info.update(replace(info, peak_rss_mb=_peak_rss_mb()).as_extra_info())
