"""Predictor: serve each call from the faster of native and ONNX, fall back loudly, count it all.

ShadowPredictor: serve one predictor, run another beside it on a sample, record divergence.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..converter.converted import ConvertedModel
from ..converter.inputs import native_view
from ..errors import InputError, ProviderError
from ..runtime.engine import _ORDER, InferenceEngine, _from_bytes, _ndarray
from ..runtime.methods import NativeMethods
from .calibration import DEFAULT_SIZES, Calibration, calibrate, machine_fingerprint
from .path_counts import MAX_SIZES, WINDOW, PathCounts, latency_summary, sampling_note

__all__ = ["POLICIES", "Predictor", "ShadowPredictor"]

log = logging.getLogger(__name__)

POLICIES = ("auto", "onnx", "native")
LATENCY_EVERY = 16  # Predictor's default: time 1 in 16 calls per batch size (path_counts.py says why)
_now = time.perf_counter_ns


class _PathStats:
    def __init__(self) -> None:
        self.calls = 0
        self.rows = 0
        self.errors = 0
        self.latency_ns: deque[int] = deque(maxlen=WINDOW)

    def record(self, rows: int, ns: int) -> None:
        self.calls += 1
        self.rows += rows
        self.latency_ns.append(ns)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calls": self.calls, "rows": self.rows, "errors": self.errors}
        if self.latency_ns:
            out.update(latency_summary(self.latency_ns))
        return out


class Predictor(NativeMethods):
    """Serves ``predict``/``predict_proba``/``decision_function`` from native or ONNX.

    ``policy="auto"`` routes each call by batch size, from a calibration measured once and
    kept in ``converted.metadata["calibration"]``; ``"onnx"`` and ``"native"`` pin one path.
    Without a calibration for this machine, ``calibrate=True`` (the default: auto routing was
    asked for) measures it now, logging its progress; ``calibrate=False`` measures nothing and
    sends every batch to ONNX until :meth:`recalibrate` is called.
    When ONNX raises (anything but bad input), the call is answered natively, and the fallback
    is logged and counted in :meth:`stats`. :meth:`stats` counts every call and row exactly;
    its latency percentiles come from 1 in ``latency_every`` calls of each batch size (16 by
    default: timing every call costs 5% of a one-row ONNX call; 1 times every call).
    """

    def __init__(
        self,
        native_model: Any,
        converted: ConvertedModel,
        *,
        policy: str = "auto",
        engine: InferenceEngine | None = None,
        providers: Sequence[Any] | None = None,
        threads: int | None = None,
        calibration_data: Any = None,
        calibration_sizes: Sequence[int] = DEFAULT_SIZES,
        calibrate: bool = True,
        latency_every: int = LATENCY_EVERY,
    ) -> None:
        if policy not in POLICIES:
            raise InputError(f"policy={policy!r}; allowed: {', '.join(POLICIES)}")
        if type(latency_every) is not int or latency_every < 1:
            raise InputError(f"latency_every must be an int >= 1 (1 times every call), got {latency_every!r}")
        if not isinstance(converted, ConvertedModel):
            raise InputError(
                f"converted must be a ConvertedModel (from onnxgate.convert), got {type(converted).__name__}"
            )
        if native_model is None and policy == "native":
            raise InputError("policy='native' needs the native model, but native_model is None")
        from ..converter.frameworks import adapter_named

        self.native_model = native_model
        self.converted = converted
        self.policy = policy if native_model is not None else "onnx"
        self._lock = threading.Lock()
        self._counts = {"onnx": PathCounts(self._lock, latency_every), "native": PathCounts(self._lock, latency_every)}
        self._onnx = self._counts["onnx"]
        self._onnx_ns = self._onnx.latency_ns
        self._every = latency_every
        # rows -> (ONNX?, that path's flags for the size), so routing and counting a repeated size is one lookup
        self._routes: dict[int, tuple[bool, Any]] = {}
        self.calibration: Calibration | None = None
        self.engine = engine or InferenceEngine(converted, providers=providers, threads=threads)
        self._adapter = adapter_named(converted.framework)
        self._calibration_data = calibration_data
        self._calibration_sizes = tuple(calibration_sizes)
        self._methods = converted.methods
        self._fast: dict[str, Any] = {}  # method -> the adapter's fastest native call, or None
        self.fallbacks = 0
        self.last_fallback: str | None = None
        if self.policy == "auto":
            self.calibration = self._cached_calibration()
            if self.calibration is None and calibrate:
                self.recalibrate()
            elif self.calibration is None:
                log.info("no calibration for this machine and calibrate=False: every batch goes to ONNX until "
                         "recalibrate() measures where native is faster")
            self._reroute()

    @property
    def engine(self) -> Any:
        """The InferenceEngine serving the ONNX path (anything with its ``run`` will do)."""
        return self._engine

    @engine.setter
    def engine(self, engine: Any) -> None:
        self._engine = engine
        self._reroute()

    # -- routing --

    def _cached_calibration(self) -> Calibration | None:
        text = self.converted.metadata.get("calibration")
        if not text:
            return None
        cal = Calibration.from_json(text)
        if cal is None:
            log.info("stored calibration is unreadable; measuring again")
            return None
        if cal.fingerprint != machine_fingerprint(self.engine):
            log.info("stored calibration was measured on %s; this is %s; measuring again",
                     cal.fingerprint, machine_fingerprint(self.engine))
            return None
        return cal

    def recalibrate(self, *, data: Any = None, sizes: Sequence[int] | None = None) -> Calibration:
        """Measures the crossover again and stores it in ``converted.metadata["calibration"]``."""
        if self.native_model is None:
            raise InputError("there is no native model to calibrate against; this predictor serves ONNX only")
        sizes = tuple(sizes or self._calibration_sizes)
        log.info("measuring where ONNX beats native for this %s model at %d batch sizes (%s rows); this takes "
                 "seconds to a minute, and the result is kept in converted.metadata['calibration']",
                 self.converted.framework, len(sizes), "/".join(map(str, sizes)))
        cal = calibrate(
            self.native_model,
            self.engine,
            data=data if data is not None else self._calibration_data,
            sizes=sizes,
            method="predict" if "predict" in self.converted.methods else next(iter(self.converted.methods)),
        )
        self.converted.metadata["calibration"] = cal.to_json()
        self.calibration = cal
        self._reroute()
        return cal

    def _reroute(self) -> None:
        """Forgets cached routes, and decides whether run() may serve one row to ONNX inline."""
        self._routes = {}
        engine = self._engine
        inline = type(engine).run is InferenceEngine.run and engine._row_shape is not None
        self._row_flags = self._onnx.flags(1) if inline and self._onnx_route(1) else None

    def route(self, rows: int) -> str:
        """The path a batch of ``rows`` rows goes to: ``"onnx"`` or ``"native"``."""
        return "onnx" if self._onnx_route(rows) else "native"

    # -- calls --

    def run(self, method: str, X: Any) -> np.ndarray:
        # One row to ONNX: InferenceEngine.run's one-row path, inlined (keep the two in step), for
        # a Python call costs 2% of a one-row call and the goal is 3% over the engine's own.
        flags = self._row_flags  # None unless one row goes to ONNX and the engine is an InferenceEngine
        if flags is not None and type(X) is _ndarray:
            e = self._engine
            if (
                X.shape == e._row_shape
                and X.dtype is e._dtype
                and X.strides == e._row_strides
                and (dtype := e._out_dtype.get(method)) is not None
                and (
                    (masks := e._row_checks) is None
                    or not ((_from_bytes(X.tobytes(), _ORDER) & masks[0]) + masks[1]) & masks[2]
                )
            ):
                try:
                    t0 = _now() if flags.pop() else None  # counted and maybe timed: PathCounts.start, inlined
                except IndexError:
                    t0 = _now() if self._onnx.refill(flags, 1) else None
                try:
                    out = (e._c_sess.run(e._names[method], {e._input: X}, None)[0] if e._c_direct
                           else e._fast(method, X))
                except Exception as exc:
                    return self._onnx_failed(method, X, None, 1, exc)
                if t0 is not None:
                    self._onnx_ns.append(_now() - t0)
                return out if out.dtype is dtype else out.astype(dtype)
        return self._routed(method, X)

    def _routed(self, method: str, X: Any) -> np.ndarray:
        if method not in self._methods:
            raise InputError(
                f"this {self.converted.framework} model has no {method}(); it has: {', '.join(self.converted.methods)}"
            )
        # Route on the row count before validating: on the ONNX path the engine validates, and
        # a one-row ONNX call is ~10 µs, so the predictor must not do that work twice.
        given, prepared = X, None
        if type(X) is not np.ndarray or X.ndim != 2:
            # prepared once: reading labels twice would not be the identity (CatBoost's hashed codes)
            X = prepared = self.engine.prepare(X)
        n = X.shape[0]
        route = self._routes.get(n)
        if route is None:
            onnx = n == 0 or self._onnx_route(n)  # the engine answers empty batches in the right shape
            route = (onnx, self._counts["onnx" if onnx else "native"].flags(n))
            if route[1] is not None and len(self._routes) < MAX_SIZES:
                self._routes[n] = route
        onnx, flags = route
        if not onnx:
            return self._native(method, given, prepared, n, flags)
        counts = self._onnx
        t0 = _now() if counts.start(flags, n) else None
        try:
            out = self.engine.run(method, X) if prepared is None else self.engine.run_prepared(method, X)
        except InputError:
            counts.void(n, error=False)
            raise  # the caller's data is wrong; the native model would refuse it too
        except Exception as exc:
            return self._onnx_failed(method, given, prepared, n, exc)
        if t0 is not None:
            counts.latency_ns.append(_now() - t0)
        return out

    def _native(self, method: str, given: Any, prepared: np.ndarray | None, n: int,
                flags: list[bool] | None) -> np.ndarray:
        counts = self._counts["native"]
        t0 = _now() if counts.start(flags, n) else None
        try:
            # Same validation and cast as the ONNX path, so both see identical rows and raise the same errors.
            arr = self.engine.prepare(given) if prepared is None else prepared
            view = native_view(given, arr, n_features=self.converted.n_features,
                               feature_names=self.engine.model.feature_names, categories=self.engine.categories)
            if hasattr(view, "iloc"):  # a DataFrame of labels: the native model reads it itself
                out = self._adapter.native_frame(self.native_model, method, view)
            elif (fast := self._fast_native(method)) is not None and view.dtype.kind == "f":
                out = fast(view)  # the same answer as the wrapper's, without its overhead (Adapter.fast_native)
            else:
                out = self._adapter.native_rows(self.native_model, method, view)
        except BaseException:
            counts.void(n, error=False)
            raise
        if t0 is not None:
            counts.latency_ns.append(_now() - t0)
        return out

    def _fast_native(self, method: str) -> Any:
        """The adapter's fastest native call for ``method`` (None where the wrapper's is that call): what
        calibration timed as the native side, so routing and fallback serve the path that was measured."""
        if method not in self._fast:
            self._fast[method] = self._adapter.fast_native(self.native_model, method).call
        return self._fast[method]

    def _onnx_failed(self, method: str, given: Any, prepared: np.ndarray | None, n: int,
                     exc: Exception) -> np.ndarray:
        """Answers natively a call ONNX Runtime failed on (counted as an ONNX error, not a call)."""
        self._onnx.void(n, error=True)
        if self.native_model is None:
            raise ProviderError(
                f"ONNX Runtime failed on {method}() and there is no native model to fall back to: {exc}"
            ) from exc
        with self._lock:
            self.fallbacks += 1
            self.last_fallback = f"{type(exc).__name__}: {exc}"
        log.warning("ONNX %s() failed (%s: %s); answered by the native model (fallback #%d)",
                    method, type(exc).__name__, exc, self.fallbacks)
        return self._native(method, given, prepared, n, self._counts["native"].flags(n))

    def _onnx_route(self, rows: int) -> bool:
        if self.policy != "auto":
            return self.policy == "onnx"
        return self.calibration is None or self.calibration.onnx_faster(rows)

    def stats(self) -> dict[str, Any]:
        """Calls, rows, errors and latency percentiles per path (``latency_sampled`` says from
        which calls), fallbacks, and the crossover."""
        paths = {name: counts.summary() for name, counts in self._counts.items()}
        with self._lock:
            out: dict[str, Any] = {
                "policy": self.policy,
                "paths": paths,
                "latency_sampled": sampling_note(self._every),
                "fallbacks": self.fallbacks,
                "last_fallback": self.last_fallback,
                "providers": self.engine.providers,
            }
        if self.calibration is not None:
            out["crossovers"] = self.calibration.crossovers
        return out


class ShadowPredictor(NativeMethods):
    """Serves ``primary``; runs ``shadow`` on a ``sample_rate`` share of calls and compares.

    Anything with ``run(method, X)`` works on either side (a Predictor, an InferenceEngine).
    The shadow runs after the primary has answered, in the caller's thread, or with
    ``background=True`` in a worker thread (calls it cannot keep up with are skipped, counted).
    Shadow failures are logged and counted, never raised.
    """

    def __init__(
        self,
        primary: Any,
        shadow: Any,
        *,
        sample_rate: float = 1.0,
        atol: float = 1e-6,
        rtol: float = 1e-5,
        seed: int | None = None,
        background: bool = False,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise InputError(f"sample_rate must be between 0 and 1, got {sample_rate}")
        for side, obj in (("primary", primary), ("shadow", shadow)):
            if not callable(getattr(obj, "run", None)):
                raise InputError(
                    f"{side} must have run(method, X) (a Predictor or InferenceEngine), got {type(obj).__name__}"
                )
        self.primary, self.shadow = primary, shadow
        self.sample_rate, self.atol, self.rtol = sample_rate, atol, rtol
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._lat = {"primary": _PathStats(), "shadow": _PathStats()}
        self._n = {"calls": 0, "sampled": 0, "compared_rows": 0, "mismatched_rows": 0, "label_flips": 0,
                   "shadow_errors": 0, "skipped": 0}
        self._max_abs = 0.0
        self._last_error: str | None = None
        self._queue: queue.Queue[tuple[str, Any, np.ndarray] | None] | None = None
        if background:
            self._queue = queue.Queue(maxsize=64)
            self._worker = threading.Thread(target=self._drain, name="onnxgate-shadow", daemon=True)
            self._worker.start()

    def run(self, method: str, X: Any) -> np.ndarray:
        t0 = time.perf_counter_ns()
        out = self.primary.run(method, X)
        with self._lock:
            self._lat["primary"].record(len(out), time.perf_counter_ns() - t0)
            self._n["calls"] += 1
            sampled = self._rng.random() < self.sample_rate
        if sampled:
            if self._queue is None:
                self._shadow_call(method, X, out)
            else:
                try:
                    self._queue.put_nowait((method, X, out))
                except queue.Full:
                    with self._lock:
                        self._n["skipped"] += 1
        return out

    def _drain(self) -> None:
        assert self._queue is not None
        while (item := self._queue.get()) is not None:
            try:
                self._shadow_call(*item)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self) -> None:
        """Waits until every queued shadow call has been compared (background mode)."""
        if self._queue is not None:
            self._queue.join()

    def close(self) -> None:
        if self._queue is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = None

    def _shadow_call(self, method: str, X: Any, expected: np.ndarray) -> None:
        t0 = time.perf_counter_ns()
        try:
            got = _one_array(self.shadow.run(method, X))
        except Exception as exc:  # the caller already has its answer; a shadow fault is data
            with self._lock:
                self._n["shadow_errors"] += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
            log.warning("shadow %s() failed: %s: %s", method, type(exc).__name__, exc)
            return
        ns = time.perf_counter_ns() - t0
        expected = _one_array(expected)
        mismatched, flips, max_abs = self._compare(expected, got)
        with self._lock:
            self._lat["shadow"].record(len(got), ns)
            self._n["sampled"] += 1
            self._n["compared_rows"] += len(expected)
            self._n["mismatched_rows"] += mismatched
            self._n["label_flips"] += flips
            self._max_abs = max(self._max_abs, max_abs)

    def _compare(self, a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
        """(mismatched rows, label flips, max abs error) between primary ``a`` and shadow ``b``."""
        if a.shape != b.shape:
            log.warning("shadow returned shape %s, primary %s; every row counts as mismatched", b.shape, a.shape)
            return len(a), 0, float("inf")
        if a.size == 0:
            return 0, 0, 0.0
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            with np.errstate(invalid="ignore"):
                diff = np.abs(a64 - b64)
                both_nan = np.isnan(a64) & np.isnan(b64)
                bad = ~((diff <= self.atol + self.rtol * np.abs(a64)) | both_nan)
            diff = np.where(both_nan, 0.0, diff)
            rows = bad.reshape(len(a), -1).any(axis=1)
            return int(rows.sum()), 0, float(np.nanmax(np.where(np.isnan(diff), np.inf, diff)))
        rows = (a != b).reshape(len(a), -1).any(axis=1)  # labels: any difference is a flip
        return int(rows.sum()), int(rows.sum()), 0.0

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self._n,
                "sample_rate": self.sample_rate,
                "max_abs_error": self._max_abs,
                "last_shadow_error": self._last_error,
                "latency": {name: s.summary() for name, s in self._lat.items()},
            }


def _one_array(out: Any) -> np.ndarray:
    """A method's answer as one array: a multi-output classifier's per-output probabilities side by side."""
    return np.hstack(out) if isinstance(out, list) else np.asarray(out)
