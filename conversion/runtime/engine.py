"""InferenceEngine: ONNX Runtime sessions that return what the native model's methods return.

Sessions are cached process-wide per (model hash, options) (sessions.py), warmed up on load,
and called through whichever of ``run``, I/O binding or ``run_with_ort_values`` measured
cheapest for one row on this machine.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..converter.converted import ConvertedModel, load
from ..converter.inputs import CategoryLabels, as_matrix
from ..converter.offline_graph import check_offline_graph
from ..errors import InputError, ProviderError
from .methods import NativeMethods
from .providers import CPU, ProviderArg, resolve_providers
from .sessions import OPT_LEVELS, SessionOptions, cached_session, loadable_bytes
from .timing import WALL as WALL_CLOCK
from .timing import cpu_clock, interleaved

__all__ = ["CALL_PATHS", "InferenceEngine"]

log = logging.getLogger(__name__)

CALL_PATHS = ("run", "iobinding", "ort_values", "c_run", "c_iobinding")
_add_reduce = np.add.reduce
_from_bytes = int.from_bytes
_ndarray = np.ndarray
_ORDER = sys.byteorder  # the masks are the same in every lane, so only the bytes' order matters
_F32 = np.dtype(np.float32)
_WIDEN_BYTES = 4 << 20


def _exponent_masks(dtype: np.dtype, n: int) -> tuple[int, int, int]:
    """Masks that find NaN and inf in one row read as one integer (``int.from_bytes`` of its
    bytes, native order), exactly: ``((row & exponents) + carry) & tops`` is zero unless some
    value's exponent bits are all ones, which only NaN and ±inf have. Each value is one lane;
    the add carries into a lane's sign bit (masked to 0 first) and never past it."""
    bits, exp_bits = dtype.itemsize * 8, {4: 8, 8: 11}[dtype.itemsize]
    low = bits - 1 - exp_bits  # the exponent's lowest bit
    lanes = sum(1 << (bits * i) for i in range(n))  # 1 in every lane
    return lanes * (((1 << exp_bits) - 1) << low), lanes << low, lanes << (bits - 1)


class InferenceEngine(NativeMethods):
    """Runs a converted model in ONNX Runtime.

    ``predict``, ``predict_proba`` and ``decision_function`` exist where the native model has
    them and return the same shapes, classes and dtypes. ``providers=None`` takes the best
    available (TensorRT, CUDA, OpenVINO, CPU); batches above ``chunk_rows`` run in chunks so
    memory stays bounded; batches up to ``small_batch`` rows take the measured cheapest path.
    """

    def __init__(
        self,
        converted: ConvertedModel | str | os.PathLike[str],
        *,
        providers: Sequence[ProviderArg] | None = None,
        threads: int | None = None,
        graph_optimization: str = "all",
        optimized_model_path: str | os.PathLike[str] | None = None,
        chunk_rows: int = 65536,
        small_batch: int = 256,
        call_path: str = "auto",
        warmup: bool = True,
    ) -> None:
        if graph_optimization not in OPT_LEVELS:
            raise InputError(f"graph_optimization={graph_optimization!r}; allowed: {', '.join(OPT_LEVELS)}")
        if call_path != "auto" and call_path not in CALL_PATHS:
            raise InputError(f"call_path={call_path!r}; allowed: auto, {', '.join(CALL_PATHS)}")
        if chunk_rows < 1 or small_batch < 0:
            raise InputError(f"chunk_rows must be >= 1 and small_batch >= 0, got {chunk_rows} and {small_batch}")
        if threads is not None and threads < 0:
            raise InputError(f"threads must be >= 0 (0 lets ONNX Runtime decide), got {threads}")
        self.model = converted if isinstance(converted, ConvertedModel) else load(Path(converted))
        if self.model.metadata.get("sequential_sum") == "true" and threads != 1:
            # Labels decided on exact ties of tree sums (GradientBoostingClassifier) need the
            # trees summed in order; on several threads ONNX Runtime merges partial sums.
            log.info("this %s sums its trees in order: running on one intra-op thread",
                        self.model.metadata.get("model_type", "model"))
            threads = 1
        if check_offline_graph(self.model.metadata):  # optimized once, when saved: not again per load
            graph_optimization = "disable"
        resolved = resolve_providers(providers)
        self.options = SessionOptions(
            providers=tuple((n, tuple(sorted(o.items()))) for n, o in resolved),
            threads=threads,
            graph_optimization=graph_optimization,
            optimized_model_path=str(optimized_model_path) if optimized_model_path else None,
        )
        self._entry = cached_session(loadable_bytes(self.model), self.options)
        self._fallback_reason = self._entry.fallback_reason
        self.session = self._entry.session
        self.chunk_rows = chunk_rows
        self.small_batch = small_batch
        self._input = self.session.get_inputs()[0].name
        self._widths = {o.name: (o.shape[1] if len(o.shape) > 1 else None) for o in self.session.get_outputs()}
        self._out_dtype = {m: np.dtype(d) for m, d in self.model.methods.items()}
        self._names = {m: [m] for m in self.model.methods}  # output-name lists, built once
        meta = self.model.metadata
        self._allow_nan = meta.get("allow_nan", "true") == "true"
        self._allow_inf = meta.get("allow_inf", "true") == "true"
        self._finite_max = float(meta.get("finite_max", "inf"))
        self.categories = CategoryLabels.from_metadata(meta)
        # A matrix for a model with numeric category labels is checked for labels passed as
        # codes, and a CatBoost one's labels are hashed (inputs.py), so they take the full path;
        # every other model keeps the fast one.
        self._fast_ok = self.categories is None or not (self.categories.numeric or self.categories.hashed)
        self._finite_columns = list(self.model.finite_columns)
        self._no_value_checks = self._allow_nan and self._allow_inf and not self._finite_columns
        # NaN and inf are fine except inf on a few columns: look at those columns only.
        self._columns_check = self._allow_nan and self._allow_inf and bool(self._finite_columns)
        # A multi-output classifier's predict_proba is natively a list of (N, k) arrays, one per
        # output: the graph returns them side by side and run_prepared cuts them apart.
        widths = self.model.output_classes
        self._lists = {"predict_proba": np.cumsum(widths)[:-1].tolist()} if widths else {}
        self._dtype, self._n_features = self.model.dtype, self.model.n_features
        self._feature_names = self.model.feature_names  # a list: compared with DataFrame.columns.tolist()
        self._native_input = self.model.native_input
        # float32 rows into a float64 graph widen exactly, so they may take the fast checks too
        self._widens = self._dtype == np.float64
        # rows widened per chunk: a few MB of float64, about 5 000 rows of 100 features
        self._widen_rows = max(1, min(chunk_rows, _WIDEN_BYTES // (8 * max(self._n_features, 1))))
        # run()'s one-row path: one row of the graph's dtype, laid out in C order, that needs no
        # value check, or whose NaN/inf (refused, or for as_matrix to decide) its exponent bits
        # show exactly; a finite_max at or above the dtype's largest value then checks nothing
        # more. Other models and rows go through _prepare.
        bits_exact = (not self._columns_check and self._dtype.kind == "f" and self._dtype.itemsize in (4, 8)
                      and self._finite_max >= float(np.finfo(self._dtype).max))
        one_row = self._fast_ok and not self._lists and (self._no_value_checks or bits_exact)
        self._row_shape = (1, self._n_features) if one_row else None
        # strides, not flags.c_contiguous: reading the flags builds an object, 1.5% of a one-row call
        self._row_strides = (self._dtype.itemsize * self._n_features, self._dtype.itemsize)
        self._row_masks = _exponent_masks(self._dtype, self._n_features) if bits_exact else None
        self._row_checks = None if self._no_value_checks else self._row_masks
        self._local = threading.local()
        self._paths: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {
            "run": self._call_run,
            "iobinding": self._call_iobinding,
            "ort_values": self._call_ort_values,
        }
        self._c_sess = getattr(self.session, "_sess", None)
        if self._c_sess is not None and hasattr(self._c_sess, "run_with_iobinding"):
            self._paths.update({"c_run": self._call_c_run, "c_iobinding": self._call_c_iobinding})
        if any(o.type == "tensor(string)" for o in self.session.get_outputs()):
            # onnxruntime 1.32 segfaults copying string outputs out of an IOBinding (string
            # class labels), so those models never take the binding paths.
            for name in ("iobinding", "c_iobinding", "ort_values"):
                self._paths.pop(name, None)
        if call_path != "auto" and call_path not in self._paths:
            raise InputError(f"call_path={call_path!r} is not available with this onnxruntime build; "
                             f"available: {', '.join(self._paths)}")
        if warmup:
            self._warm_up(choose_path=call_path == "auto")
        self.call_path = call_path if call_path != "auto" else (self._entry.call_path or "run")

    @property
    def call_path(self) -> str:
        """How batches up to ``small_batch`` rows call ORT (one of CALL_PATHS)."""
        return self._call_path

    @call_path.setter
    def call_path(self, name: str) -> None:
        if name not in self._paths:
            raise InputError(f"call_path={name!r}; available: {', '.join(self._paths)}")
        self._call_path, self._fast = name, self._paths[name]
        self._c_direct = name == "c_run"  # run() inlines this path's one line on one row

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    @property
    def fallback_reason(self) -> str | None:
        """Why the session runs on CPU although another provider was asked for, or None."""
        return self._fallback_reason

    # -- call paths: each takes a validated array and returns ORT's output for one method --

    def _call_run(self, method: str, arr: np.ndarray) -> np.ndarray:
        return self.session.run([method], {self._input: arr})[0]

    def _binding(self, method: str, rows: int) -> Any:
        # An IOBinding is not thread-safe, so each thread keeps its own. ORT keeps the output
        # it allocated on the first run and requires that shape afterwards, so one binding per
        # (method, rows); only batches up to small_batch rows come here, which bounds them.
        bindings = self._local.__dict__.setdefault("bindings", {})
        binding = bindings.get((method, rows))
        if binding is None:
            binding = bindings[(method, rows)] = self.session.io_binding()
            binding.bind_output(method)
        return binding

    def _call_iobinding(self, method: str, arr: np.ndarray) -> np.ndarray:
        binding = self._binding(method, arr.shape[0])
        binding.bind_cpu_input(self._input, arr)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    # The public wrappers re-check input names, OrtValue ownership and WebGPU graph-capture
    # state on every call: 2-4 µs, a third of a one-row tree call. The engine resolved its
    # names once, so the two paths below call ORT's C++ session directly; they exist only if
    # this ORT build exposes it (``_sess``), and are used only if they measure faster.

    def _call_c_run(self, method: str, arr: np.ndarray) -> np.ndarray:
        return self._c_sess.run(self._names[method], {self._input: arr}, None)[0]

    def _call_c_iobinding(self, method: str, arr: np.ndarray) -> np.ndarray:
        binding = self._binding(method, arr.shape[0])._iobinding
        binding.bind_input(self._input, arr)  # arr outlives the run: it is the caller's frame's
        self._c_sess.run_with_iobinding(binding, None)
        return binding.copy_outputs_to_cpu()[0]

    def _call_ort_values(self, method: str, arr: np.ndarray) -> np.ndarray:
        feed = {self._input: ort.OrtValue.ortvalue_from_numpy(arr)}
        return self.session.run_with_ort_values([method], feed)[0].numpy()

    def _warm_up(self, choose_path: bool) -> None:
        """Runs every method once (lazy allocations, provider compilation) and, with ``choose_path``
        (``call_path="auto"``), measures the call paths once per session: 0.1 s, which a caller
        that named its path does not pay."""
        row = np.zeros((1, self.model.n_features), dtype=self.model.dtype)
        try:
            for method in self.model.methods:
                self._call_run(method, row)
        except Exception as exc:
            if self.providers == [CPU]:
                raise ProviderError(f"the model loads but fails to run on CPUExecutionProvider: {exc}") from exc
            self._fall_back_to_cpu(f"{self.providers[0]} failed on the first run: {str(exc).strip().splitlines()[0]}")
            for method in self.model.methods:
                self._call_run(method, row)
        if choose_path and self._entry.call_path is None:
            self._entry.call_path = self._measure_call_paths(row)

    def _fall_back_to_cpu(self, reason: str) -> None:
        log.warning("%s; falling back to CPUExecutionProvider", reason)
        cpu = SessionOptions(((CPU, ()),), self.options.threads, self.options.graph_optimization,
                             self.options.optimized_model_path)
        self._entry = cached_session(self.model.to_bytes(), cpu)
        self._fallback_reason = reason
        self.options, self.session = cpu, self._entry.session
        self._c_sess = getattr(self.session, "_sess", None)
        self._local = threading.local()  # bindings belong to the session that made them

    def _measure_call_paths(self, row: np.ndarray, rounds: int = 15, calls: int = 40) -> str:
        """The call path with the lowest one-row cost, measured interleaved against a reference.

        Which is cheapest depends on the ORT build and the provider (I/O binding wins on CPU in
        ORT 1.2x, ``run_with_ort_values`` has cost more there), so it is measured, not assumed.
        With one intra-op thread ORT computes on the calling thread, so that thread's CPU time is the
        cost and ignores time descheduled by other processes (``timing.cpu_clock``); otherwise wall
        time. The reference is the direct ``run`` (``c_run``, else ``run``): another path must beat
        it by 3% in the median of per-round ratios, since on a shared machine a plain comparison of
        medians picked I/O binding or the public ``run`` at 1.15-1.3x the direct call.
        """
        method = next(iter(self.model.methods))
        paths = {}
        for name, fn in self._paths.items():
            try:
                fn(method, row)
                paths[name] = fn
            except Exception as exc:  # e.g. string outputs a path cannot bind
                log.debug("call path %s unusable for this model: %s", name, exc)
        reference = "c_run" if "c_run" in paths else "run"
        if len(paths) == 1:
            return reference
        threads = self.options.threads
        clocks = {"cpu": cpu_clock(threads, native_threads=False)} if threads == 1 else WALL_CLOCK
        (clock,) = clocks
        t = interleaved({name: (lambda fn=fn: fn(method, row)) for name, fn in paths.items()},
                        rounds=rounds, reps=calls, clocks=clocks)
        ratios = {name: float(np.median(t[name][clock] / t[reference][clock])) for name in paths}
        best = min(ratios, key=ratios.__getitem__)
        chosen = best if ratios[best] < 0.97 else reference
        log.debug("call path cost per call vs %s: %s -> %s", reference,
                  {k: round(v, 3) for k, v in ratios.items()}, chosen)
        return chosen

    # -- public API --

    def _prepare(self, X: Any) -> np.ndarray:
        # Fast path for the common call (an array already in the model's layout): one
        # reduction proves there is no NaN/inf at all (they propagate into the sum); anything
        # else, including a sum that overflows, takes the full check in as_matrix.
        if (
            type(X) is np.ndarray
            and self._fast_ok
            # float32 rows for a float64 graph are widened a chunk at a time when run (exact):
            # one float64 copy of a large batch cost twice the input's memory
            and (X.dtype == self._dtype or (self._widens and X.dtype == _F32 and X.shape[0] > self.small_batch))
            and X.ndim == 2
            and X.shape[1] == self._n_features
            and X.flags.c_contiguous
            and (
                self._no_value_checks
                or (self._columns_check and not np.isinf(X[:, self._finite_columns]).any())
                # One row: its exponent bits (see _exponent_masks), since right after an ORT call
                # any numpy call costs 3-10 µs (caches refilled): a BLAS dot cost 1.2x, sum 1.1x a
                # direct one-row run.
                or (X.shape[0] == 1 and X.dtype == self._dtype and self._row_masks is not None
                    and self._finite_row(X))
                or (
                    self._finite_max == math.inf
                    # float64 accumulation: a sum of large finite float32 values must not overflow
                    and math.isfinite(_add_reduce(X, axis=None, dtype=np.float64))
                )
            )
        ):
            return X
        # Off the hot path: DataFrames (matched by column name), other dtypes, anything to refuse.
        if self._widens and type(X) is np.ndarray and X.dtype == np.float32 and X.ndim == 2:
            return self._prepare(X.astype(np.float64))
        return as_matrix(
            X,
            n_features=self._n_features,
            dtype=self._dtype,
            allow_nan=self._allow_nan,
            allow_inf=self._allow_inf,
            finite_max=self._finite_max,
            finite_columns=self._finite_columns,
            feature_names=self._feature_names,
            native_input=self._native_input,
            categories=self.categories,
        )

    def prepare(self, X: Any) -> np.ndarray:
        """Validates and casts ``X`` exactly as :meth:`run` does (so callers can validate once)."""
        arr = self._prepare(X)
        return arr if arr.dtype == self._dtype else arr.astype(self._dtype)

    def run(self, method: str, X: Any) -> np.ndarray:
        """Returns what the native model's ``method`` returns for ``X``."""
        dtype = self._out_dtype.get(method)
        if dtype is None:
            raise InputError(
                f"this {self.model.framework} model has no {method}(); it has: {', '.join(self.model.methods)}"
            )
        # One row, inlined: right after an ORT call every Python call costs 1-2% of a one-row call
        # (caches cold), so the checks of _prepare and the direct C++ run are written out here.
        # Predictor.run inlines the same lines (keep the two in step); anything else goes to _prepare.
        if (
            type(X) is _ndarray
            and X.shape == self._row_shape
            and X.dtype is self._dtype
            and X.strides == self._row_strides
            and (
                (masks := self._row_checks) is None
                or not ((_from_bytes(X.tobytes(), _ORDER) & masks[0]) + masks[1]) & masks[2]
            )
        ):
            out = self._c_sess.run(self._names[method], {self._input: X}, None)[0] if self._c_direct \
                else self._fast(method, X)
            return out if out.dtype is dtype else out.astype(dtype)
        arr = self._prepare(X)
        if 0 < arr.shape[0] <= self.small_batch and not self._lists:
            out = self._fast(method, arr)
            return out if out.dtype == dtype else out.astype(dtype)
        return self.run_prepared(method, arr)

    def _finite_row(self, X: np.ndarray) -> bool:
        """No NaN or inf in the one row ``X`` (exact; see _exponent_masks)."""
        exponents, carry, tops = self._row_masks  # type: ignore[misc]
        return not ((_from_bytes(X.tobytes(), _ORDER) & exponents) + carry) & tops

    def run_prepared(self, method: str, arr: np.ndarray) -> np.ndarray:
        """Like :meth:`run` for an array already returned by :meth:`prepare`."""
        out = self._run_prepared(method, arr)
        cuts = self._lists.get(method) if self._lists else None
        if cuts is None:
            return out
        return [np.ascontiguousarray(part) for part in np.split(out, cuts, axis=1)]  # type: ignore[return-value]

    def _run_prepared(self, method: str, arr: np.ndarray) -> np.ndarray:
        dtype = self._out_dtype[method]
        n = arr.shape[0]
        if n == 0:
            width = self._widths[method]
            return np.empty((0,) if width is None else (0, width), dtype=dtype)
        if arr.dtype != self._dtype:  # float32 rows for a float64 graph (see _prepare)
            return self._chunks(method, arr, self._widen_rows)
        if n <= self.small_batch:
            out = self._fast(method, arr)
        elif n <= self.chunk_rows:
            out = self._call_run(method, arr)
        else:
            return self._chunks(method, arr, self.chunk_rows)
        return out if out.dtype == dtype else out.astype(dtype)

    def _chunks(self, method: str, arr: np.ndarray, step: int) -> np.ndarray:
        """``method`` on ``arr`` ``step`` rows at a time, written into one output (concatenating
        the parts would hold the output twice); rows are cast to the graph's dtype per chunk."""
        n, out = arr.shape[0], None
        for i in range(0, n, step):
            part = arr[i : i + step]
            got = self._call_run(method, part if part.dtype == self._dtype else part.astype(self._dtype))
            if out is None:
                out = np.empty((n, *got.shape[1:]), dtype=self._out_dtype[method])
            out[i : i + step] = got
        assert out is not None
        return out
