"""A slowdown in every onnxruntime session of a process, for benchmarks/proof/prove_against.py.

Put this folder on PYTHONPATH and set ONNXGATE_INJECT to one of:
- ``slow25``: every session's run does 25% more CPU work (a busy loop as long as a quarter of the call);
- ``wait200``: every session's run waits 200 us after the call (sleeping, no CPU);
Unset, nothing changes. Every session is wrapped (the reference model's included), through the
C++ session object that onnxgate's engine calls directly, so no path escapes it.
"""

from __future__ import annotations

import os
import time

KIND = os.environ.get("ONNXGATE_INJECT", "")


def _slowed(run):  # type: ignore[no-untyped-def]
    def slow25(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        out = run(*args, **kwargs)
        until = time.perf_counter() + 0.25 * (time.perf_counter() - start)
        while time.perf_counter() < until:
            pass
        return out

    def wait200(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = run(*args, **kwargs)
        time.sleep(200e-6)
        return out

    return {"slow25": slow25, "wait200": wait200}[KIND]


class _Session:
    def __init__(self, sess):  # type: ignore[no-untyped-def]
        self._inner = sess
        self.run = _slowed(sess.run)
        if hasattr(sess, "run_with_iobinding"):
            self.run_with_iobinding = _slowed(sess.run_with_iobinding)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)


if KIND:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # onnxruntime is imported here, before onnxgate can say so
    from onnxruntime.capi import onnxruntime_inference_collection as _collection

    _create = _collection.InferenceSession._create_inference_session

    def _create_slowed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _create(self, *args, **kwargs)
        self._sess = _Session(self._sess)

    _collection.InferenceSession._create_inference_session = _create_slowed
