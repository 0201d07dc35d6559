"""One serving path's exact calls and rows per batch size, its errors and sampled latencies.

Cheap enough for a one-row call (~35 µs here, where each extra Python step costs ~1%): a call
is counted by ``next()`` of its batch size's ``itertools.count``, one C call that CPython's GIL
does not interrupt, so threads share the counters without a lock; latencies go to a bounded
deque (``append`` is atomic too). Reading the clock twice costs 5% of a one-row call on the
project's machine, so only every ``every``-th call of a batch size is timed, and the summary
says so. Failures, overflow sizes and reads take the predictor's lock.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any

import numpy as np

__all__ = ["MAX_SIZES", "PathCounts", "sampling_note"]

WINDOW = 10_000  # latencies kept per path for percentiles: recent behaviour, bounded memory
MAX_SIZES = 4096  # batch sizes counted one by one per path; beyond, under the lock


def _value(counter: itertools.count) -> int:
    """How many times ``next()`` was called: ``itertools.count`` shows it only in its repr."""
    return int(repr(counter)[6:-1])


def sampling_note(every: int) -> str:
    return "every call" if every == 1 else f"1 in {every} calls"


class PathCounts:
    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.by_rows: dict[int, itertools.count] = {}
        self.latency_ns: deque[int] = deque(maxlen=WINDOW)
        self.errors = 0
        self._overflow = itertools.count()  # calls of sizes beyond MAX_SIZES: sampling and count
        self._overflow_rows = 0
        self._voided = [0, 0]  # calls and rows counted before their call failed

    def counter(self, rows: int) -> itertools.count | None:
        """The counter for batches of ``rows`` rows, or None past MAX_SIZES sizes (see :meth:`tick`)."""
        counter = self.by_rows.get(rows)
        if counter is None:
            with self._lock:
                if rows not in self.by_rows and len(self.by_rows) >= MAX_SIZES:
                    return None
                counter = self.by_rows.setdefault(rows, itertools.count())
        return counter

    def tick(self, counter: itertools.count | None, rows: int) -> int:
        """Counts one call of ``rows`` rows; returns its index among that size's calls."""
        if counter is not None:
            return next(counter)
        with self._lock:
            self._overflow_rows += rows
        return next(self._overflow)

    def void(self, rows: int, *, error: bool) -> None:
        """Takes back a call counted before it failed; ``error`` counts it as this path's error."""
        with self._lock:
            self._voided[0] += 1
            self._voided[1] += rows
            self.errors += error

    def summary(self) -> dict[str, Any]:
        with self._lock:
            counts = [(rows, _value(c)) for rows, c in list(self.by_rows.items())]
            calls = sum(n for _, n in counts) + _value(self._overflow) - self._voided[0]
            rows = sum(r * n for r, n in counts) + self._overflow_rows - self._voided[1]
            latencies = list(self.latency_ns)
            out: dict[str, Any] = {"calls": calls, "rows": rows, "errors": self.errors}
        if latencies:
            ms = np.asarray(latencies, dtype=np.float64) / 1e6
            out.update({"mean_ms": float(ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
                        "p90_ms": float(np.percentile(ms, 90)), "p99_ms": float(np.percentile(ms, 99)),
                        "timed_calls": len(latencies)})
        return out
