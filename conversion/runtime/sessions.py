"""ONNX Runtime sessions: the options that make one differ from another, and the process-wide cache.

A session is built once per (model hash, options) and shared by every engine on it, so an engine
made twice for the same model costs a cache hit, not a second graph load.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import onnxruntime as ort

from ..converter.converted import ConvertedModel
from ..converter.ort_versions import check_onnxruntime
from ..errors import ModelFileError
from .providers import CPU

__all__ = ["OPT_LEVELS", "SessionOptions", "SharedSession", "cached_session", "clear_session_cache",
           "loadable_bytes", "session_cache_info"]

log = logging.getLogger(__name__)

OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_CACHE_SIZE = 32


@dataclass(frozen=True)
class SessionOptions:
    """What, besides the model, makes one session differ from another (the cache key)."""

    providers: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    threads: int | None = None
    graph_optimization: str = "all"
    optimized_model_path: str | None = None

    def build(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        if self.threads:
            so.intra_op_num_threads = self.threads
            so.inter_op_num_threads = 1  # one tree node per graph: inter-op threads only cost wake-ups
        so.graph_optimization_level = OPT_LEVELS[self.graph_optimization]
        if self.optimized_model_path:
            so.optimized_model_filepath = self.optimized_model_path
        # ORT warns about every unused initializer; onnxgate reports its own problems instead.
        so.log_severity_level = 3
        return so


@dataclass
class SharedSession:
    """A cached session and what every engine on it shares."""

    session: ort.InferenceSession
    fallback_reason: str | None
    call_path: str | None = None  # chosen on first warm-up, shared by every engine on this session


_cache: OrderedDict[tuple[str, SessionOptions], SharedSession] = OrderedDict()
_cache_lock = threading.Lock()


def clear_session_cache() -> None:
    with _cache_lock:
        _cache.clear()


def session_cache_info() -> dict[str, int]:
    with _cache_lock:
        return {"sessions": len(_cache), "max": _CACHE_SIZE}


def _new_session(data: bytes, opts: SessionOptions) -> SharedSession:
    names = [n for n, _ in opts.providers]
    provider_opts = [dict(o) for _, o in opts.providers]
    try:
        return SharedSession(ort.InferenceSession(data, sess_options=opts.build(), providers=names,
                                             provider_options=provider_opts), None)
    except Exception as exc:  # ORT raises bare RuntimeError/Fail for provider faults
        if names == [CPU]:
            raise ModelFileError(f"ONNX Runtime cannot load this model on the CPU provider: {exc}") from exc
        reason = f"{', '.join(n for n in names if n != CPU)} rejected the model: {str(exc).strip().splitlines()[0]}"
        log.warning("%s; falling back to CPUExecutionProvider", reason)
        return SharedSession(ort.InferenceSession(data, sess_options=opts.build(), providers=[CPU]), reason)


def loadable_bytes(model: ConvertedModel) -> bytes:
    """The model's bytes, once the installed onnxruntime is known to load it fast: an older
    release is refused here, before a session exists (it could take minutes to build)."""
    check_onnxruntime(model.onnxruntime_needed, what=f"this {model.metadata.get('model_type', model.framework)} graph")
    return model.to_bytes()


def cached_session(data: bytes, opts: SessionOptions) -> SharedSession:
    key = (hashlib.sha256(data).hexdigest(), opts)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    made = _new_session(data, opts)  # outside the lock: building a session can take seconds
    with _cache_lock:
        made = _cache.setdefault(key, made)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return made
