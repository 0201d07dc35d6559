"""Results files: load, validate, flatten and group benchmark runs.

A results file is pytest-benchmark JSON (``--benchmark-json``) that onnxgate's benchmark
plugin has extended:

- top level: ``"onnxgate_schema": 1`` and ``"onnxgate_profile": "quick" | "full"``;
- ``machine_info["onnxgate"]``: the fingerprint, ``{"machine_id", "machine": {...},
  "software": {...}}``. ``machine`` (CPU model, core count, architecture, OS) identifies
  the hardware and decides whether two runs may be compared; ``software`` (library versions,
  onnxruntime build and providers) is what an upgrade changes, so it is diffed, not matched;
- each latency benchmark's ``extra_info``: ``onnxgate_kind: "latency"`` and the fields of
  ``latency_info.LatencyInfo``, with the per-round interleaved CPU-time ratios the gate judges:
  ``ratio_rounds`` (``ratio_kind`` ``"onnx/native"`` or ``"native/reference"``) and, for ONNX
  rows, ``ref_ratio_rounds`` (onnx/reference; see interleave.py and reference.py);
- each benchmark's ``stats``: pytest-benchmark's own, plus ``p50``, ``p90``, ``p99``.

The report and the gate read these files only, never live state.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from conversion.errors import ResultsError
from conversion.regular_files import read_regular_file
from conversion.results.latency_info import LATENCY_KIND, ROUND_FIELDS, LatencyInfo
from conversion.results.results_schema import MAX_DEPTH, check_bench_document, check_depth
from conversion.runtime.timing import percentile

__all__ = [
    "SCHEMA_VERSION",
    "Record",
    "Run",
    "flatten",
    "group_by_machine",
    "load_benchmark_runs",
    "load_run",
    "percentile",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RUNTIMES = ("native", "onnx", "peer")


@dataclass(frozen=True, kw_only=True)
class Record(LatencyInfo):
    """One latency benchmark row: a model at one batch size on one runtime. Times in seconds.

    The measured fields are LatencyInfo's; these are pytest-benchmark's statistics and where the row came from."""

    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    stddev: float
    rounds: int
    rows_per_s: float  # batch_size / p50
    name: str  # the pytest-benchmark name (test id), what `pytest-benchmark compare` shows
    group: str
    machine_id: str = ""
    commit: str = ""
    datetime: str = ""
    source: str = ""
    # This row's time over the reference model's: the median of its interleaved per-round CPU ratios to it
    # (kept in run.json, which drops the rounds, so a rebuilt report divides the same figures; speedups.py)
    ref_ratio_p50: float | None = None

    def rounds_vs(self, partner: str, clock: str = "cpu") -> tuple[str, tuple[float, ...]]:
        """(ratio kind, per-round ratios) of this row against ``partner`` ("native" or "reference"),
        on the CPU clock (what the ratio rules judge), the wall clock, or the tail block ("tail")."""
        cpu, wall = (self.ratio_rounds, self.ref_ratio_rounds), (self.wall_ratio_rounds, self.wall_ref_ratio_rounds)
        primary, vs_reference = {"cpu": cpu, "wall": wall}.get(clock, ((), ()))
        if clock == "tail":
            return f"{self.runtime}/reference", self.tail_ratio_rounds if partner == "reference" else ()
        if self.runtime in ("native", "peer"):
            return (self.ratio_kind, primary) if partner == "reference" else ("", ())
        if partner == "native":
            return self.ratio_kind, primary
        return f"{self.runtime}/reference", vs_reference

    @property
    def ratio_median(self) -> float:
        return percentile(self.ratio_rounds, 50)

    @property
    def label(self) -> str:
        """How this row's runtime is named in tables and plot legends: "native", "native Booster.predict",
        "onnx CPU 2t", "lleaves 1t"."""
        if self.runtime == "native" or not self.runtime:
            call = f"native {self.native_call}" if self.native_call else "native"
            return call + (f" {self.threads}t" if self.threads else "")
        if self.runtime == "peer":
            return f"{self.provider}" + (f" {self.threads}t" if self.threads else "")
        if self.runtime != "onnx":
            return self.runtime
        provider = (self.provider or "CPUExecutionProvider").removesuffix("ExecutionProvider")
        return f"onnx {provider}" + (f" {self.threads}t" if self.threads else "")

    def summary(self) -> dict[str, Any]:
        """Every field but the per-round ratios, by its own name: the row as run.json keeps it."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ROUND_FIELDS}

    @classmethod
    def from_summary(cls, row: dict[str, Any], *, source: str = "") -> Record:
        """The row :meth:`summary` wrote, its per-round ratios empty; ResultsError naming a missing field."""
        kept = [f for f in fields(cls) if f.name not in ROUND_FIELDS]
        missing = [f.name for f in kept if f.default is MISSING and f.default_factory is MISSING and f.name not in row]
        if missing:
            raise ResultsError(
                f"{source or 'a run file'}: the latency row {row.get('name') or row.get('model', '?')!r} lacks "
                f"{', '.join(missing)}; the file is damaged or was not written by `onnxgate run`"
            )
        return cls(**{f.name: row[f.name] for f in kept if f.name in row}, **dict.fromkeys(ROUND_FIELDS, ()))


@dataclass
class Run:
    """One results file: who measured (fingerprint), what (commit) and when."""

    path: Path
    fingerprint: dict[str, Any]
    commit: str
    dirty: bool
    datetime: str
    profile: str
    records: list[Record]
    other: list[dict[str, Any]] = field(default_factory=list)  # benchmarks that are not latency rows
    # A baseline's earlier versions, newest first (``onnxgate gate --accept``): when and why it moved.
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def machine_id(self) -> str:
        return str(self.fingerprint.get("machine_id", ""))

    @property
    def machine(self) -> dict[str, Any]:
        return dict(self.fingerprint.get("machine", {}))

    @property
    def software(self) -> dict[str, Any]:
        return dict(self.fingerprint.get("software", {}))


def read_json_object(path: Path, *, made_by: str = "`onnxgate bench --output DIR`") -> dict[str, Any]:
    """A results file's JSON object, or ResultsError saying what is wrong and what makes one.

    The file is untrusted input: a regular file under the size cap (regular_files.py), UTF-8
    without a byte order mark, nested no deeper than MAX_DEPTH.
    """
    if not os.path.lexists(path):
        raise ResultsError(f"results file {path} does not exist; pass a file written by {made_by}")
    raw = read_regular_file(path, what="results file", kind="results", error=ResultsError)
    if not raw.strip():
        raise ResultsError(f"results file {path} is empty; re-run {made_by} to produce it")
    if raw.startswith(codecs.BOM_UTF8):
        raise ResultsError(f"results file {path} starts with a UTF-8 byte order mark (BOM), which JSON does not "
                           "allow; save it as UTF-8 without a BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"results file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                           f"{exc.start}); it is damaged or not a results file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"results file {path} is not valid JSON (line {exc.lineno}: {exc.msg}); it may be truncated"
        ) from None
    except RecursionError:
        raise ResultsError(f"results file {path} nests deeper than {MAX_DEPTH} levels; it is not a results file "
                           "onnxgate wrote (damaged or crafted)") from None
    check_depth(data, f"results file {path}")
    if not isinstance(data, dict):
        raise ResultsError(
            f"results file {path} holds a JSON {type(data).__name__}, expected a pytest-benchmark object"
        )
    return data


def _ref_ratio_p50(info: LatencyInfo) -> float | None:
    """A row's median ratio to the reference: its primary rounds for native and peer rows, ONNX's second."""
    rounds = info.ratio_rounds if info.ratio_kind.endswith("/reference") else info.ref_ratio_rounds
    return percentile(rounds, 50) if rounds else None


def _record(bench: dict[str, Any], *, path: Path, run_fields: dict[str, str]) -> Record:
    stats = bench.get("stats", {})
    data = stats.get("data") or []
    try:
        info = LatencyInfo.from_extra_info(bench.get("extra_info", {}))
        p50 = stats.get("p50", percentile(data, 50) if data else stats.get("median"))
        return Record(
            **info.fields_of(),
            p50=float(p50),
            p90=float(stats.get("p90", percentile(data, 90) if data else stats["max"])),
            p99=float(stats.get("p99", percentile(data, 99) if data else stats["max"])),
            mean=float(stats["mean"]),
            min=float(stats["min"]),
            stddev=float(stats.get("stddev", 0.0)),
            rounds=int(stats.get("rounds", len(data))),
            rows_per_s=info.batch_size / float(p50) if p50 else float("nan"),
            ref_ratio_p50=_ref_ratio_p50(info),
            name=str(bench.get("name", "")),
            group=str(bench.get("group") or ""),
            source=str(path),
            **run_fields,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(
            f"results file {path}: benchmark {bench.get('name', '?')!r} lacks a valid {exc} field; "
            "the file was not written by onnxgate's benchmark suite or is damaged"
        ) from exc


def load_run(path: str | os.PathLike[str]) -> Run:
    """Reads and validates one results file, or raises ResultsError saying what is wrong."""
    p = Path(path)
    data = read_json_object(p)
    schema = data.get("onnxgate_schema")
    if schema is None:
        raise ResultsError(
            f"results file {p} has no 'onnxgate_schema' field: it is not an onnxgate results file "
            "(plain pytest-benchmark output?); produce one with `onnxgate bench --output DIR`"
        )
    if schema != SCHEMA_VERSION:
        raise ResultsError(
            f"results file {p} has onnxgate_schema {schema!r}, but this onnxgate reads schema {SCHEMA_VERSION}; "
            "re-run the benchmarks with this version to refresh it"
        )
    benches = data.get("benchmarks")
    if not isinstance(benches, list) or not benches:
        raise ResultsError(
            f"results file {p} holds no benchmarks; the benchmark run was empty or every test was skipped"
        )
    machine_info = data.get("machine_info")
    fingerprint = machine_info.get("onnxgate") if isinstance(machine_info, dict) else None
    if not isinstance(fingerprint, dict) or "machine_id" not in fingerprint:
        raise ResultsError(f"results file {p} has no machine fingerprint (machine_info.onnxgate); it is damaged")
    check_bench_document(data, f"results file {p}", Record)
    commit_info = data.get("commit_info") or {}
    run_fields = {
        "machine_id": str(fingerprint["machine_id"]),
        "commit": str(commit_info.get("id") or ""),
        "datetime": str(data.get("datetime") or ""),
    }
    records: list[Record] = []
    other: list[dict[str, Any]] = []
    for bench in benches:
        if not isinstance(bench, dict):
            raise ResultsError(f"results file {p}: a benchmark entry is a {type(bench).__name__}, expected an object")
        if bench.get("extra_info", {}).get("onnxgate_kind") == LATENCY_KIND:
            records.append(_record(bench, path=p, run_fields=run_fields))
        else:
            other.append(bench)
    log.debug("loaded %s: %d latency records, %d other benchmarks", p, len(records), len(other))
    return Run(
        path=p,
        fingerprint=fingerprint,
        commit=run_fields["commit"],
        dirty=bool(commit_info.get("dirty", False)),
        datetime=run_fields["datetime"],
        profile=str(data.get("onnxgate_profile", "")),
        records=records,
        other=other,
        history=[h for h in data.get("onnxgate_baseline_history") or [] if isinstance(h, dict)],
    )


def load_benchmark_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Run]:
    """Several `onnxgate bench` results files (machines, CI jobs or dates) as Runs, oldest first."""
    runs = [load_run(p) for p in paths]
    if not runs:
        raise ResultsError("no results files were given; pass one or more JSON files written by `onnxgate bench`")
    return sorted(runs, key=lambda r: r.datetime)


def flatten(runs: Iterable[Run]) -> list[Record]:
    """Every latency record of every run, each carrying its machine_id, commit and datetime."""
    return [rec for run in runs for rec in run.records]


def group_by_machine(runs: Iterable[Run]) -> dict[str, list[Run]]:
    """Runs merged per machine fingerprint (hardware identity), each list oldest first."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.machine_id].append(run)
    return {k: sorted(v, key=lambda r: r.datetime) for k, v in groups.items()}
