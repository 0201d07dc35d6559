"""The files a report is built from: onnxgate run results and pytest-benchmark results.

A report never reads live state, only these files, so it can be rebuilt anywhere. Both kinds
are normalised into one ``RunResult`` shape here, so the builder, verdicts and plots never
look at raw file layouts. Its latency rows are the benchmark file's own ``Record``s; run.json
keeps each as ``Record.summary()`` (no per-round ratios: those stay in the benchmark file).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conversion.atomic import write_text_atomic
from conversion.errors import ResultsError
from conversion.results.benchmark_runs import ROUND_FIELDS, Record, Run, load_run, read_json_object
from conversion.results.results_schema import check_run_document, check_run_rows

__all__ = ["SCHEMA", "RunResult", "from_benchmark_run", "load_run_result", "load_run_results", "save_run"]

log = logging.getLogger(__name__)

SCHEMA = "onnxgate.run/2"
SCHEMA_V1 = "onnxgate.run/1"  # latency rows as dicts with `batch` and `label`: old reports' history


@dataclass
class RunResult:
    """One results file, normalised. Times are seconds, sizes bytes."""

    source: str
    created: str
    manifest: dict[str, Any]
    profile: str = ""
    models: list[dict[str, Any]] = field(default_factory=list)
    parity: list[dict[str, Any]] = field(default_factory=list)
    latency: list[Record] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    run: Run | None = None  # a bench file's Run, kept so the gate reads it without parsing again (not saved)

    @property
    def machine(self) -> str:
        return str(self.manifest.get("machine_id") or "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "profile": self.profile,
            "manifest": self.manifest,
            "models": self.models,
            "parity": self.parity,
            "latency": [r.summary() for r in self.latency],
            "gate": self.gate,
            "notes": self.notes,
        }


def save_run(result: RunResult, path: str | os.PathLike[str]) -> Path:
    return write_text_atomic(path, json.dumps(result.to_dict(), indent=1, default=str) + "\n")


def from_benchmark_run(run: Run | Path) -> RunResult:
    """Normalises a results file from `onnxgate bench`, or its Run already loaded (benchmark_runs)."""
    if not isinstance(run, Run):
        run = load_run(run)
    manifest = {**run.fingerprint, "commit": run.commit}
    models: dict[str, dict[str, Any]] = {}
    for rec in run.records:
        m = models.setdefault(rec.model, {"name": rec.model, "framework": rec.framework, "dataset": rec.dataset})
        for key, value in (("conversion_seconds", rec.conversion_s), ("onnx_bytes", rec.onnx_bytes),
                           ("session_seconds", rec.session_s), ("first_call_seconds", rec.first_call_s)):
            if value is not None:
                m.setdefault(key, value)
        m.setdefault("parity", rec.parity)
        m.setdefault("parity_detail", rec.parity_detail)
    return RunResult(source=str(run.path), created=run.datetime, manifest=manifest, profile=run.profile or "bench",
                     models=list(models.values()), latency=list(run.records), run=run)


def _v1_row(row: dict[str, Any]) -> dict[str, Any]:
    """An onnxgate.run/1 latency row as a Record summary: `batch` was `batch_size`, `label` is derived,
    native rows had provider "", and the fields it never kept are unknown."""
    nan = float("nan")
    unknown = {"size": "", "dataset": "", "min": nan, "stddev": nan, "rounds": 0, "parity": "unknown",
               "parity_detail": "", "conversion_s": None, "onnx_bytes": None, "session_s": None, "first_call_s": None,
               "peak_rss_mb": None, "ratio_kind": "", "name": "", "group": ""}
    renamed = {"batch_size": row["batch"]} if "batch" in row else {}
    kept = {k: v for k, v in row.items() if k not in ("batch", "label")}
    return {**unknown, **kept, **renamed, "provider": row.get("provider") or None}


def _latency(doc: dict[str, Any], source: str) -> list[Record]:
    rows = doc.get("latency") or []
    if not isinstance(rows, list):
        check_run_rows(rows, source, Record, ROUND_FIELDS)  # says what it is instead
    rows = [r for r in rows if isinstance(r, dict)]
    if doc.get("schema") == SCHEMA_V1:
        rows = [_v1_row(r) for r in rows]
    records = [Record.from_summary(r, source=source) for r in rows]  # a missing field, named by its row
    check_run_rows(rows, source, Record, ROUND_FIELDS)
    return records


def load_run_result(path: str | os.PathLike[str]) -> RunResult:
    """Reads one results file of either kind, or raises ResultsError naming what is wrong."""
    p = Path(path)
    doc = read_json_object(p, made_by="`onnxgate run` or `onnxgate bench`")
    if doc.get("schema") in (SCHEMA, SCHEMA_V1):
        check_run_document(doc, str(p))
        return RunResult(
            source=str(p), created=str(doc.get("created", "")), manifest=doc.get("manifest") or {},
            profile=str(doc.get("profile", "")), models=list(doc.get("models") or []),
            parity=list(doc.get("parity") or []), latency=_latency(doc, str(p)),
            gate=doc.get("gate"), notes=list(doc.get("notes") or []),
        )
    if "onnxgate_schema" in doc or "benchmarks" in doc:
        return from_benchmark_run(p)
    found = doc.get("schema", "none")
    raise ResultsError(
        f"{p} is not an onnxgate results file (schema {found!r}); expected {SCHEMA!r} from `onnxgate run` "
        "or pytest-benchmark JSON from `onnxgate bench`"
    )


def load_run_results(paths: list[str | os.PathLike[str]]) -> list[RunResult]:
    """Results files of either kind, each normalised to a RunResult (what a report is built from), oldest first."""
    if not paths:
        raise ResultsError("no results files given; pass one or more JSON files, e.g. onnxgate report results/*.json")
    results = [load_run_result(p) for p in paths]
    results.sort(key=lambda r: r.created)
    return results
