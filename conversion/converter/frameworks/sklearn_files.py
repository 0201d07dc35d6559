"""scikit-learn model files: .skops loading with the types onnxgate trusts, and the model's fingerprint.

Pickle is read only when the caller trusts the file (--trust-pickle), and written only to hash.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelFileError
from .base import import_optional

__all__ = ["SKOPS_TRUSTED", "load_model_file", "model_fingerprint"]

log = logging.getLogger(__name__)

# Types that skops does not trust by default but that the models onnxgate converts hold (found
# by dumping every supported estimator and asking skops.io.get_untrusted_types). Exact names,
# never module patterns: "numpy." would trust callables such as numpy.testing's runstring, which
# executes a string from the file. skops' own defaults (scikit-learn estimators, builtins,
# numpy arrays and ufuncs) stay as skops decides them.
SKOPS_TRUSTED = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "numpy.dtype",
)


def load_model_file(path: Path, *, allow_pickle: bool) -> Any:
    """A .skops file, loading only types skops or onnxgate trusts; a pickle only with ``allow_pickle``."""
    if path.suffix in (".pkl", ".pickle", ".joblib"):
        if not allow_pickle:
            raise ModelFileError(
                f"{path} is a pickle file, and unpickling runs arbitrary code; pass allow_pickle=True "
                "(--trust-pickle on the command line) only for files you trust, or save it as .skops"
            )
        import joblib

        return joblib.load(path)
    if path.suffix != ".skops":
        raise ModelFileError(
            f"{path} is not a scikit-learn model file; expected .skops (or .pkl with allow_pickle=True)"
        )
    sio = import_optional("skops.io", "sklearn", "load scikit-learn models without pickle")
    try:
        data = path.read_bytes()
        untrusted = sio.get_untrusted_types(data=data)
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path} does not exist") from exc
    except Exception as exc:  # skops raises zipfile/json errors for a damaged file
        raise ModelFileError(f"{path} is not a readable .skops file: {exc}") from exc
    foreign = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if foreign and not allow_pickle:
        raise ModelFileError(
            f"{path} holds types that neither skops nor onnxgate trusts, and loading would create or call "
            f"them: {', '.join(foreign)}. Inspect the file (skops.io.get_untrusted_types); if you trust it, "
            "pass allow_pickle=True (--trust-pickle on the command line), or load it yourself with "
            "skops.io.load(path, trusted=[...]) and pass the model"
        )
    if foreign:
        log.warning("%s: loading untrusted types %s, as allow_pickle=True asked", path, ", ".join(foreign))
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise ModelFileError(f"{path} could not be loaded by skops: {exc}") from exc


def model_fingerprint(model: Any) -> str:
    """sha256 of what predictions depend on, the same for a fitted model and its .skops round trip."""
    # skops archives carry timestamps, so their bytes differ on every dump; a pickle of
    # the same fitted model is stable. Pickle is only written here, never read.
    buffer = io.BytesIO()
    pickler = _PaddingFreePickler(buffer, protocol=5)
    # No memo: whether two attributes share one object differs between a fitted model and
    # the same model loaded from .skops, and the memo would write that into the bytes.
    pickler.fast = True
    try:
        pickler.dump(model)
    except ValueError:  # a cyclic object graph needs the memo
        buffer = io.BytesIO()
        _PaddingFreePickler(buffer, protocol=5).dump(model)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


class _PaddingFreePickler(pickle.Pickler):
    """The bytes a fingerprint hashes: what predictions depend on, the same after a .skops round trip.

    Structured arrays go field by field (a tree's node array has padding bytes holding whatever
    memory held), other arrays in C order (memory layout is no part of the model), and random
    generators by type only (skops does not restore their state, and predict never draws from them).
    """

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.dtype.names:
            return tuple, ((obj.dtype.descr, obj.shape, *(np.ascontiguousarray(obj[n]) for n in obj.dtype.names)),)
        if isinstance(obj, np.ndarray) and obj.dtype != object:
            # A transposed view (LinearRegression's multi-target coef_) comes back C-ordered from .skops.
            return np.ndarray, (obj.shape, obj.dtype.str, np.ascontiguousarray(obj).tobytes())
        if isinstance(obj, np.random.RandomState | np.random.Generator):
            return str, (type(obj).__name__,)
        return NotImplemented
