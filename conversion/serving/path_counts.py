"""One serving path's exact calls and rows per batch size, its errors and sampled latencies.

Cheap enough for a one-row call (~35 µs here, where each extra step costs about 1% while the
caches are cold from ONNX Runtime). Each batch size has a list of flags, one per call to come,
True for the calls to time; a call pops one (``list.pop``, atomic under CPython's GIL and in its
free-threaded lists, so threads share it without a lock), which both counts it and says
whether to time it; an empty list is refilled under the lock and its length added to the
size's total. ``next()`` of an ``itertools.count`` measured 2% of a one-row call, a thread-local
lookup 2.6%, reading the clock twice 5%: so 1 call in ``every`` is timed, the first included.
Failures, overflow sizes and reads take the lock too.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from ..runtime.timing import latency_percentiles

__all__ = ["MAX_SIZES", "WINDOW", "PathCounts", "latency_summary", "sampling_note"]

WINDOW = 10_000  # latencies kept per path for percentiles: recent behaviour, bounded memory
MAX_SIZES = 4096  # batch sizes counted one by one per path; beyond, under the lock
FLAGS = 256  # calls per refill of a size's flags: ~2 KB per size


def latency_summary(ns: Any) -> dict[str, float]:
    """Mean and percentiles, in milliseconds, of latencies in nanoseconds (not empty)."""
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {"mean_ms": float(ms.mean()), **latency_percentiles(ms, suffix="_ms")}


def sampling_note(every: int) -> str:
    return "every call" if every == 1 else f"1 in {every} calls"


class PathCounts:
    def __init__(self, lock: threading.Lock, every: int) -> None:
        self._lock = lock
        self.every = every
        # popped from the end: the first call of a size is timed, then every every-th
        self._refill = ([False] * (every - 1) + [True]) * max(1, FLAGS // every)
        self._flags: dict[int, list[bool]] = {}  # rows -> flags of the calls to come
        self._refilled: dict[int, int] = {}  # rows -> calls counted by earlier refills
        self.latency_ns: deque[int] = deque(maxlen=WINDOW)
        self.errors = 0
        self._overflow = [0, 0]  # calls and rows of sizes beyond MAX_SIZES
        self._voided = [0, 0]  # calls and rows counted before their call failed

    def flags(self, rows: int) -> list[bool] | None:
        """The flags a call of ``rows`` rows pops (see :meth:`start`), or None past MAX_SIZES sizes."""
        flags = self._flags.get(rows)
        if flags is None:
            with self._lock:
                flags = self._flags.get(rows)
                if flags is None:
                    if len(self._flags) >= MAX_SIZES:
                        return None
                    flags = self._flags[rows] = list(self._refill)
                    self._refilled[rows] = 0
        return flags

    def start(self, flags: list[bool] | None, rows: int) -> bool:
        """Counts one call of ``rows`` rows (``flags`` from :meth:`flags`); True: time it."""
        if flags is not None:
            try:
                return flags.pop()
            except IndexError:
                return self.refill(flags, rows)
        with self._lock:
            self._overflow[0] += 1
            self._overflow[1] += rows
            return (self._overflow[0] - 1) % self.every == 0

    def refill(self, flags: list[bool], rows: int) -> bool:
        """Refills a size's empty flags and pops one (for the call that found them empty)."""
        while True:
            with self._lock:
                if not flags:
                    self._refilled[rows] += len(self._refill)
                    flags.extend(self._refill)
            try:
                return flags.pop()
            except IndexError:  # other threads emptied it again meanwhile
                continue

    def void(self, rows: int, *, error: bool) -> None:
        """Takes back a call counted before it failed; ``error`` counts it as this path's error."""
        with self._lock:
            self._voided[0] += 1
            self._voided[1] += rows
            self.errors += error

    def summary(self) -> dict[str, Any]:
        full = len(self._refill)
        with self._lock:
            counts = [(rows, self._refilled[rows] + full - len(flags)) for rows, flags in self._flags.items()]
            calls = sum(n for _, n in counts) + self._overflow[0] - self._voided[0]
            rows = sum(r * n for r, n in counts) + self._overflow[1] - self._voided[1]
            latencies = list(self.latency_ns)
            out: dict[str, Any] = {"calls": calls, "rows": rows, "errors": self.errors}
        if latencies:
            out.update(latency_summary(latencies), timed_calls=len(latencies))
        return out
