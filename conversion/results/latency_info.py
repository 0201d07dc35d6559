"""A latency row as the benchmark child measures it (``LatencyInfo``), and the key naming a row across runs.

The child fills one ``LatencyInfo`` and stores it in pytest-benchmark's ``extra_info``
(``as_extra_info``); the results file's reader reads it back by its own field names
(``from_extra_info``) into ``benchmark_runs.Record``, which adds pytest-benchmark's statistics.
Each field is named here once, for the writer and the reader.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["LATENCY_KIND", "ROUND_FIELDS", "LatencyInfo", "RowKey"]

LATENCY_KIND = "latency"  # extra_info's ``onnxgate_kind`` on the rows a results file's reader reads


@dataclass(frozen=True)
class RowKey:
    """Identifies the same benchmark across runs (independent of commit and machine). ``str()`` is the
    ``model|kind|bN`` form gate JSON, accept histories and baselines hold."""

    model: str
    runtime: str  # "native" | "onnx" | "peer"
    provider: str | None  # None for native rows
    threads: int | None
    batch_size: int
    fast: bool = False  # native rows of the adapter's fastest call

    @property
    def kind(self) -> str:
        """The runtime part: ``native``, ``native-fast-t2``, ``onnx-CPUExecutionProvider-t1``."""
        if self.runtime == "native":
            return ("native-fast" if self.fast else "native") + (f"-t{self.threads}" if self.threads else "")
        return f"{self.runtime}-{self.provider}-t{self.threads}"

    @classmethod
    def of(cls, model: str, runtime: str, provider: str | None, threads: int | None, batch_size: int, *,
           fast: bool = False) -> RowKey:
        """The key of the row with these parts (a native row has no provider; only a native row is fast)."""
        native = runtime == "native"
        return cls(model, runtime, None if native else provider, threads, batch_size, native and fast)

    def __str__(self) -> str:
        return f"{self.model}|{self.kind}|b{self.batch_size}"

    def __lt__(self, other: RowKey) -> bool:  # sorted as the strings were, so listings keep their order
        return str(self) < str(other)

    @classmethod
    def parse(cls, text: str) -> RowKey:
        """The key ``str()`` wrote; ValueError naming the text if it is not one."""
        model, kind, batch = [*text.rsplit("|", 2), "", ""][:3]
        runtime, _, rest = kind.partition("-")
        if not (model and runtime and batch.startswith("b") and batch[1:].isdigit()):
            raise ValueError(f"{text!r} is not a benchmark key (model|runtime|bN)")
        if runtime == "native":
            parts = rest.split("-") if rest else []
            fast = parts[:1] == ["fast"]
            threads = parts[-1][1:] if parts and parts[-1].startswith("t") else ""
            return cls(model, runtime, None, int(threads) if threads.isdigit() else None, int(batch[1:]), fast)
        provider, _, threads = rest.rpartition("-t")
        return cls(model, runtime, provider or None, int(threads) if threads.isdigit() else None, int(batch[1:]))


def _typed(hint: Any, value: Any) -> Any:
    """``value`` read from JSON as the field's type hint says (lists become tuples, ints floats)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        return _typed(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        return tuple(_typed(args[0], v) for v in value)
    if origin is dict:
        return {str(k): _typed(args[1], v) for k, v in value.items()}
    return hint(value) if hint in (str, int, float, bool) else value


def _absent(hint: Any) -> Any:
    """A field a results file lacks (written before the field existed, or by a hand-made file)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return None
    return {tuple: (), dict: {}}.get(origin, hint() if hint in (str, float) else None)


@dataclass(frozen=True, kw_only=True)
class LatencyInfo:
    """One latency row's own fields, as the benchmark child measures them. Times in seconds."""

    framework: str
    model: str
    size: str
    dataset: str
    batch_size: int
    runtime: str  # "native" | "onnx" | "peer"
    provider: str | None  # ONNX Runtime provider; a peer's name ("lleaves"); None for native
    threads: int | None  # ONNX Runtime intra-op threads, None for native
    method: str = ""  # the model's method timed ("predict_proba")
    parity: str = "unknown"  # "passed" | "failed" | "refused" | "error"
    parity_detail: str
    conversion_s: float | None
    onnx_bytes: int | None
    session_s: float | None
    first_call_s: float | None
    peak_rss_mb: float | None  # process high-water mark after this benchmark
    ratio_kind: str  # the primary rounds' partners: "onnx/native" or "native/reference"
    ratio_rounds: tuple[float, ...]
    ref_ratio_rounds: tuple[float, ...] = ()  # ONNX rows: onnx/reference per round
    reference_cpu_s: float | None = None  # the reference model's median CPU time in this row
    # --counts: per path ("native" | "engine" | "onnxruntime"), {"instructions", "cycles"} per call
    counts: dict[str, dict[str, float]] = field(default_factory=dict, hash=False)
    counts_meta: dict[str, Any] = field(default_factory=dict, hash=False)  # how they were counted (counts.py)
    counts_note: str = ""  # why --counts left this row uncounted
    # Wall-clock ratios per round (same partners as the CPU ones) and the tail block (measure.py):
    # extra rounds of target vs reference only, enough of them for a p99; CPU then wall.
    wall_ratio_rounds: tuple[float, ...] = ()
    wall_ref_ratio_rounds: tuple[float, ...] = ()
    tail_ratio_rounds: tuple[float, ...] = ()
    tail_wall_ratio_rounds: tuple[float, ...] = ()
    # The row's own call per round, seconds (CPU, wall), timed by `onnxgate gate --against` with the
    # other side's worker alternating row by row (app/against.py): compared directly, head against base.
    cpu_rounds: tuple[float, ...] = ()
    wall_rounds: tuple[float, ...] = ()
    wait_s: float | None = None  # median over rounds of the target's wall minus CPU time: its waiting
    # ONNX rows: mean microseconds per call by op type, from onnxruntime's profiler (measure.py)
    op_us: dict[str, float] = field(default_factory=dict, hash=False)
    # trees, nodes, leaves, features, onnx_bytes/computation_sha256, file_bytes/file_sha256 (converter/model_facts.py)
    model_facts: dict[str, Any] = field(default_factory=dict, hash=False)
    # Native rows: the adapter's fastest call ("Booster.predict", Adapter.fast_native); "" is the wrapper's call
    native_call: str = ""
    compile_s: float | None = None  # peer rows: building the compiled model, beside ONNX's conversion_s

    @property
    def key(self) -> RowKey:
        """Identifies the same benchmark across runs (independent of commit and machine)."""
        return RowKey.of(self.model, self.runtime, self.provider, self.threads, self.batch_size,
                         fast=bool(self.native_call))

    def as_extra_info(self) -> dict[str, Any]:
        """The row as pytest-benchmark's ``extra_info`` keeps it (JSON), marked as a latency row."""
        return {"onnxgate_kind": LATENCY_KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_extra_info(cls, info: dict[str, Any]) -> LatencyInfo:
        """The row ``as_extra_info`` wrote (results_schema has checked its types); a field the file
        lacks takes its default, or its type's empty value. KeyError for a missing batch size."""
        hints = typing.get_type_hints(LatencyInfo)
        values = {}
        for f in fields(LatencyInfo):
            if f.name in info:
                values[f.name] = _typed(hints[f.name], info[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if f.name == "batch_size":
                    raise KeyError(f.name)
                values[f.name] = _absent(hints[f.name])
        return LatencyInfo(**values)

    def fields_of(self) -> dict[str, Any]:
        """This row's LatencyInfo fields by name, for a record built on them (benchmark_runs.Record)."""
        return {f.name: getattr(self, f.name) for f in fields(LatencyInfo)}


# The per-round fields (every tuple): the gate's evidence, kept in the results file only (a summary drops them).
ROUND_FIELDS = tuple(f.name for f in fields(LatencyInfo) if str(f.type).startswith("tuple["))
