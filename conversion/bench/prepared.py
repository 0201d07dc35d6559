"""Per-model preparation shared by every latency case: train, convert, check parity, once.

A model whose conversion raises is kept, with parity "refused" (onnxgate declined it on
purpose) or "error" (anything else), so its native rows still run and the results say why
its ONNX rows are missing; the suite never crashes on one framework's adapter.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from functools import cache
from time import perf_counter
from typing import Any

import numpy as np

from conversion import ConversionRefusedError, ConvertedModel, UnsupportedModelError, check_parity, convert
from conversion.bench.zoo import ZooModel, ZooSpec
from conversion.converter.frameworks import adapter_named
from conversion.converter.frameworks.base import FastNative
from conversion.converter.model_facts import file_facts, model_facts

__all__ = ["Prepared", "draw_batch", "held_out_batch", "prepare", "prepare_model"]

log = logging.getLogger(__name__)

# Refusals are onnxgate saying "not this model" on purpose; anything else is a bug to look at.
_REFUSALS = (ConversionRefusedError, UnsupportedModelError)


@dataclass
class Prepared:
    zoo: ZooModel
    method: str  # the native method the benchmark times: predict_proba for classifiers
    converted: ConvertedModel | None
    parity: str  # "passed" | "failed" | "refused" | "error"
    parity_detail: str
    conversion_s: float | None
    onnx_bytes: int | None
    native_error: str | None = None  # the native model refuses the float rows it is benchmarked on
    facts: dict[str, Any] = field(default_factory=dict)  # model_facts: what the gate compares across runs
    # The adapter's fastest native call, checked against the wrapper on the model's rows (call None: why not)
    fast: FastNative = field(default_factory=lambda: FastNative("", None, "not prepared"))
    fast_threads: dict[int, FastNative] = field(default_factory=dict)  # threads -> fast_on(threads)
    peers: dict[str, Any] = field(default_factory=dict)  # name -> bench.peers.Peer, built when first benchmarked

    def native_call(self, X: np.ndarray) -> Any:
        return adapter_named(self.zoo.framework).native_call(self.zoo.model, self.method, X)

    def fast_on(self, threads: int | None) -> FastNative:
        """The fastest call on one thread (None: the benchmark's fast row), or on ``threads`` (the full profile's
        threads at scale), checked against the wrapper once per thread count."""
        if threads is None:
            return self.fast
        if threads not in self.fast_threads:
            self.fast_threads[threads] = _checked_fast(self, threads)
        return self.fast_threads[threads]

    def fast_call(self, X: np.ndarray, threads: int | None = None) -> Any:
        fast = self.fast_on(threads)
        if fast.call is None:
            raise ValueError(f"{self.zoo.name} has no fast native call: {fast.why_not}")
        return functools.partial(fast.call, X)

    def peer(self, name: str) -> Any:
        """Compiled peer ``name`` for this model (bench/peers.py), built and checked once, NaN rows included
        where the native model takes NaN."""
        if name not in self.peers:
            from conversion.bench.peers import build_peer

            X = draw_batch(self.zoo.X, min(_FAST_CHECK_ROWS, self.zoo.X.shape[0]))
            nan = X.copy()
            nan[::3, 0] = np.nan
            checks = [X]
            try:
                adapter_named(self.zoo.framework).native_rows(self.zoo.model, self.method, nan)
                checks.append(nan)
            except Exception:  # the native model refuses NaN: the peer is not asked what it makes of them
                log.info("%s refuses NaN rows: its peers are checked on finite rows only", self.zoo.name)
            trees = int(self.facts.get("trees") or 1000)
            self.peers[name] = build_peer(name, self.zoo.framework, self.zoo.model, self.method, checks, trees)
        return self.peers[name]

    def why_not(self, runtime: str, *, fast: bool = False, threads: int | None = None) -> str | None:
        """Why ``runtime`` ("native" or "onnx"; ``fast``: the fastest native call) has nothing to measure, or None."""
        if runtime == "peer":
            return self.native_error and f"the native model refuses float rows: {self.native_error}"
        if runtime == "native" and self.native_error:
            return f"the native {self.zoo.framework} model refuses float rows: {self.native_error}"
        if runtime == "native" and fast and self.fast_on(threads).call is None:
            return f"no fast native row for {self.zoo.name}: {self.fast_on(threads).why_not}"
        if runtime != "native" and self.converted is None:
            return f"no ONNX model for {self.zoo.name}: parity {self.parity} ({self.parity_detail})"
        return None


def _method(zoo: ZooModel, converted: ConvertedModel | None) -> str:
    wanted = "predict_proba" if zoo.task == "classification" else "predict"
    if converted is not None and wanted not in converted.methods:
        return "predict"
    return wanted


@cache
def prepare(spec: ZooSpec) -> Prepared:
    # A UserSpec (user_models.py) builds into the same shape: one preparation for every model.
    return prepare_model(spec.build())


def prepare_model(zoo: ZooModel) -> Prepared:
    """Converts and checks parity of one built model (``prepare`` caches it per spec)."""
    spec = zoo.spec
    converted = None
    conversion_s = onnx_bytes = None
    try:
        start = perf_counter()
        converted = convert(zoo.model)
        conversion_s = perf_counter() - start
        onnx_bytes = len(converted.to_bytes())
    except _REFUSALS as exc:
        parity, detail = "refused", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a broken adapter must not take the suite down with it
        log.warning("converting %s raised %s: %s", spec.name, type(exc).__name__, exc)
        parity, detail = "error", f"{type(exc).__name__}: {exc}"
    if converted is not None:
        try:
            report = check_parity(zoo.model, converted, zoo.X)
            parity = "passed" if report.passed else "failed"
            detail = "" if report.passed else str(report)
        except Exception as exc:
            log.warning("parity check of %s raised %s: %s", spec.name, type(exc).__name__, exc)
            parity, detail = "error", f"parity check raised {type(exc).__name__}: {exc}"
    source = getattr(getattr(spec, "entry", None), "path", None)  # a user's model file (UserSpec)
    facts = model_facts(converted, source=source) if converted is not None else file_facts(source) if source else {}
    prepared = Prepared(zoo, _method(zoo, converted), converted, parity, detail, conversion_s, onnx_bytes,
                        facts=facts)
    # On one thread, whatever the model's own setting: a LightGBM or XGBoost Booster read from a file
    # predicts on every core by default, its wrapper on n_jobs=1, and the same model must get one verdict.
    prepared.fast = _checked_fast(prepared, threads=1)
    if converted is None:  # parity ran the native model on these rows; without it, try one row
        try:
            prepared.native_call(draw_batch(zoo.X, 1))()
        except Exception as exc:  # e.g. CatBoost with categorical features takes no float rows
            prepared.native_error = f"{type(exc).__name__}: {exc}"
    return prepared


# Rows the fast call is checked on against the wrapper: enough to cross every tree's splits.
_FAST_CHECK_ROWS = 512


def _checked_fast(prep: Prepared, threads: int | None = None) -> FastNative:
    """The adapter's fastest call if it answers the wrapper's answer bit for bit on the model's rows
    (float32, as benchmarked), else none, saying why: a fast row must time the same prediction."""
    zoo, adapter = prep.zoo, adapter_named(prep.zoo.framework)
    try:
        fast = adapter.fast_native(zoo.model, prep.method, threads=threads)
        if fast.call is None:
            return fast
        X = draw_batch(zoo.X, min(_FAST_CHECK_ROWS, zoo.X.shape[0]))
        want, got = adapter.native_rows(zoo.model, prep.method, X), np.asarray(fast.call(X))
    except Exception as exc:  # the wrapper row still runs; this row says why it does not
        return FastNative("", None, f"the fast call raised {type(exc).__name__}: {exc}")
    if want.shape != got.shape or not np.array_equal(want, got, equal_nan=True):
        diff = np.nanmax(np.abs(want - got)) if want.shape == got.shape else f"shape {got.shape} vs {want.shape}"
        return FastNative(fast.name, None, f"{fast.name} differs from the wrapper's {prep.method} ({diff})")
    return fast


@cache
def _batch(spec: ZooSpec, batch_size: int) -> np.ndarray:
    return draw_batch(spec.build().X, batch_size)


def draw_batch(X: np.ndarray, batch_size: int) -> np.ndarray:
    """``batch_size`` rows of ``X`` drawn with replacement (seeded by the batch size), float32."""
    rows = np.random.default_rng(batch_size).integers(0, X.shape[0], size=batch_size)
    return np.ascontiguousarray(X[rows], dtype=np.float32)


def held_out_batch(prepared: Prepared, batch_size: int) -> np.ndarray:
    """``batch_size`` held-out rows (drawn with replacement, fixed seed), float32."""
    return _batch(prepared.zoo.spec, batch_size)
