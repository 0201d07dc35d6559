"""Compiled peers: other ways to serve a tree model, timed as rows of the same interleaved benchmark.

A team choosing how to serve weighs ONNX Runtime against the compilers too: lleaves (LightGBM
through LLVM) and Treelite with TL2cgen (C code built with the system's compiler, for XGBoost,
LightGBM and scikit-learn forests). Each peer is built once per model, outside the timed loop,
from the model file its adapter writes (``save_native``; so nothing here imports a training
framework), and its answers are checked against the wrapper's on the same rows, NaN included.
A peer that cannot build (extra not installed, no compiler, a version conflict) says why in
one line and the rest of the run goes on. Install them with ``pip install 'onnxgate[peers]'``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from conversion.converter.frameworks import adapter_named
from conversion.optional import import_optional

__all__ = ["PEERS", "Peer", "build_peer", "installed_peers", "peer_parity"]

log = logging.getLogger(__name__)

Call = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Peer:
    """One built peer for one model: its call on float rows (None: why_not), build time and exactness."""

    name: str
    call: Call | None
    compile_s: float | None = None
    version: str = ""
    parity: str = "error"  # "passed" (within the trees' summation rounding) | "inexact" | "error"
    parity_detail: str = ""
    why_not: str = ""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _lleaves(model_file: Path, workdir: Path, framework: str) -> Call:
    lleaves = import_optional("lleaves", "peers", "compile LightGBM models with lleaves")
    compiled = lleaves.Model(model_file=str(model_file))
    compiled.compile(cache=str(workdir / "lleaves.o"))
    return lambda X: compiled.predict(X, n_jobs=1)


def _tl2cgen(model_file: Path, workdir: Path, framework: str, model: Any = None) -> Call:
    treelite = import_optional("treelite", "peers", "compile tree models with Treelite")
    tl2cgen = import_optional("tl2cgen", "peers", "compile tree models with TL2cgen")
    if framework == "xgboost":
        tl_model = treelite.frontend.load_xgboost_model(str(model_file))
    elif framework == "lightgbm":
        tl_model = treelite.frontend.load_lightgbm_model(str(model_file))
    else:
        tl_model = treelite.sklearn.import_model(model)
    libpath = workdir / "tl2cgen.so"
    tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=str(libpath), params={"parallel_comp": 4})
    predictor = tl2cgen.Predictor(str(libpath), nthread=1)
    # The model's threshold type; rows in another dtype are cast first, inside the timed call, as a user's
    # would be (tl2cgen 1.0's DMatrix refuses to cast under numpy 2: "Unable to avoid copy").
    dtype = np.float64 if framework == "lightgbm" else np.float32
    return lambda X: predictor.predict(tl2cgen.DMatrix(np.asarray(X, dtype=dtype), dtype=dtype.__name__))


@dataclass(frozen=True)
class PeerSpec:
    name: str
    dist: str  # the distribution whose version the row records
    module: str  # what must import for the peer to be benchmarked
    frameworks: tuple[str, ...]
    build: Callable[..., Call]


# The peers and the frameworks they compile: the one table the cases and the report read.
PEERS: dict[str, PeerSpec] = {
    "lleaves": PeerSpec("lleaves", "lleaves", "lleaves", ("lightgbm",), _lleaves),
    "tl2cgen": PeerSpec("tl2cgen", "tl2cgen", "tl2cgen", ("xgboost", "lightgbm", "sklearn"), _tl2cgen),
}


def installed_peers(framework: str) -> tuple[str, ...]:
    """The peers that compile ``framework``'s models and whose package is installed (``[peers]``):
    the benchmark adds their rows; without the extra a run has none and the report says how to add them."""
    return tuple(name for name, spec in PEERS.items()
                 if framework in spec.frameworks and importlib.util.find_spec(spec.module) is not None)


def _as_wrapper(out: Any, want: np.ndarray) -> np.ndarray:
    """A peer's answer in the wrapper's shape: its head applied (class one's probability -> two columns)."""
    got = np.asarray(out, dtype=np.float64).reshape(want.shape[0], -1)
    if want.ndim == 1:
        return got[:, 0]
    if want.shape[1] == 2 and got.shape[1] == 1:
        return np.hstack([1.0 - got, got])
    return got


def peer_parity(call: Call, want: np.ndarray, X: np.ndarray, trees: int) -> tuple[str, str]:
    """("passed" | "inexact", detail): the peer's answer on ``X`` against the wrapper's ``want``.

    "passed" allows what onnxgate allows its own tree graphs: the rounding of summing ``trees``
    leaves in another order (4 + trees ulps of the output's magnitude), nothing more."""
    got = _as_wrapper(call(X), want)
    want64 = np.asarray(want, dtype=np.float64)
    if got.shape != want64.shape:
        return "inexact", f"answers shape {got.shape}, the wrapper {want64.shape}"
    eps = float(np.finfo(want.dtype if want.dtype.kind == "f" else np.float64).eps)
    diff = np.abs(got - want64)
    nan_same = np.isnan(got) == np.isnan(want64)
    bound = (4 + trees) * eps * np.maximum(1.0, np.abs(want64))
    ok = nan_same & ((diff <= bound) | (np.isnan(got) & np.isnan(want64)))
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    if ok.all():
        return "passed", f"max difference {worst:.2g} on {X.shape[0]} rows"
    rows = int((~ok).reshape(X.shape[0], -1).any(axis=1).sum())
    return "inexact", f"{rows} of {X.shape[0]} rows differ from the wrapper (max {worst:.3g})"


def build_peer(name: str, framework: str, model: Any, method: str, checks: list[np.ndarray],
               trees: int) -> Peer:
    """Builds peer ``name`` for ``model`` (timed: ``compile_s``) and checks it on each array of ``checks``."""
    spec = PEERS[name]
    if framework not in spec.frameworks:
        return Peer(name, None, why_not=f"{name} does not compile {framework} models")
    adapter = adapter_named(framework)
    workdir = Path(tempfile.mkdtemp(prefix=f"onnxgate-{name}-"))
    try:
        model_file = workdir / f"model{adapter.native_suffix}"
        if framework != "sklearn":
            adapter.save_native(model, model_file)
        start = perf_counter()
        call = spec.build(model_file, workdir, framework, **({"model": model} if framework == "sklearn" else {}))
        call(checks[0][:1])  # the first call loads the library: part of building, not of the timed calls
        compile_s = perf_counter() - start
    except Exception as exc:  # a peer that cannot build must not take the run down
        line = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        log.warning("peer %s cannot build for this %s model: %s", name, framework, line)
        return Peer(name, None, version=_version(spec.dist), why_not=f"{name} cannot build here: {line}")
    details, parity = [], "passed"
    for X in checks:
        want = adapter.native_rows(model, method, X)
        status, detail = peer_parity(call, want, X, trees)
        details.append(detail)
        if status != "passed":
            parity = status
    # The timed call is the peer's own, its output as its users get it (the head is only for the check).
    return Peer(name, call, compile_s, _version(spec.dist), parity, "; ".join(details))
