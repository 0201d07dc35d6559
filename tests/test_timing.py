"""The one CPU-clock rule (runtime/timing.cpu_clock): a call is charged for all of its work, wherever it runs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conversion.bench.pairing import pair
from conversion.bench.prepared import held_out_batch, prepare
from conversion.bench.zoo import ZooSpec
from conversion.runtime.timing import cpu_clock

WORK_NS = 30_000_000  # CPU time the helper thread spends, whatever the machine's load


def _spin(ns: int) -> None:
    end = time.thread_time_ns() + ns
    while time.thread_time_ns() < end:
        pass


def _hands_work_to_a_thread() -> None:
    """A call like CatBoost's predict: part of it runs on a thread of its own while the caller waits."""
    helper = threading.Thread(target=_spin, args=(WORK_NS,))
    helper.start()
    helper.join()


def _charged(clock, fn) -> int:
    start = clock()
    fn()
    return clock() - start


def test_a_native_call_is_charged_for_the_work_of_its_own_threads() -> None:
    assert _charged(cpu_clock(1, native_threads=True), _hands_work_to_a_thread) >= WORK_NS
    # the calling thread's clock misses it: why native calls may not be timed on it
    assert _charged(cpu_clock(1, native_threads=False), _hands_work_to_a_thread) < WORK_NS


@pytest.mark.parametrize("threads", [2, 0, None], ids=["2-threads", "zero-lets-the-library-choose", "none"])
def test_a_multi_threaded_call_is_charged_for_its_pool_threads(threads: int | None) -> None:
    assert _charged(cpu_clock(threads, native_threads=False), _hands_work_to_a_thread) >= WORK_NS


def test_a_single_threaded_call_is_not_charged_for_other_threads_of_the_process() -> None:
    # a server's other requests, a telemetry thread: busy while this call runs, not part of it
    busy = threading.Thread(target=_spin, args=(WORK_NS,))
    busy.start()
    try:
        charged = _charged(cpu_clock(1, native_threads=False), lambda: busy.join())
    finally:
        busy.join()
    assert charged < WORK_NS


def test_the_benchmark_pairing_takes_its_clocks_from_the_rule() -> None:
    prep = prepare(ZooSpec("xgboost", "synthetic", "small"))
    X = np.ascontiguousarray(held_out_batch(prep, 16))
    native = pair(prep, X, runtime="native")
    assert native.target_clock is cpu_clock(1, native_threads=True)
    assert native.partners["reference"].clock is cpu_clock(1, native_threads=False)
    for threads in (1, 2):
        onnx = pair(prep, X, runtime="onnx", threads=threads)
        assert onnx.target_clock is cpu_clock(threads, native_threads=False)
        assert onnx.partners["native"].clock is cpu_clock(threads, native_threads=True)
        assert onnx.partners["reference"].clock is onnx.target_clock
