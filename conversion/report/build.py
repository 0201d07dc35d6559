"""Builds the HTML report from results files alone: `onnxgate report results/*.json`.

Files are grouped by machine fingerprint; within a machine every model of every file is shown,
each from the newest file that measured it, and every file with latency for a model is a point
of that model's history trend. The page is one self-contained file (plots embedded as base64 PNG), written
atomically, with report.json and the PNGs beside it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import math
import os
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from conversion._version import __version__
from conversion.atomic import write_bytes_atomic, write_text_atomic
from conversion.errors import InputError
from conversion.optional import import_optional

from ..results.baseline_choice import AGAINST
from ..results.benchmark_runs import Record
from ..results.gate.explain import model_changes
from ..results.run_results import RunResult, load_run_results
from . import plots
from .gate_view import GateVerdict, gate_block, model_gates
from .manifest import manifest_rows
from .serving_options import NO_PEERS, serving_options
from .verdict import model_verdict, not_measured, per_batch

__all__ = ["MachineView", "build_report", "check_writable", "report_from_files"]

log = logging.getLogger(__name__)

STATUS_ORDER = ("exact", "unchecked", "xfail", "wrong", "refused", "unavailable", "error")
STATUS_LABELS = {"unchecked": "not checked"}  # the matrix's words for a status, where they differ

Row = TypeVar("Row")


@dataclass
class MachineView:
    """Everything the page shows for one machine fingerprint."""

    machine_id: str
    manifest: list[tuple[str, str]]
    sources: list[str]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    matrix: dict[str, Any] = field(default_factory=dict)
    latency_tables: dict[str, list[Record]] = field(default_factory=dict)
    serving_options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # model -> serving_options()
    peers_measured: bool = False
    images: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # section -> figures
    history: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)


def check_writable(folder: Path) -> Path:
    """Creates ``folder`` if needed and proves a file can be written there, before any work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".onnxgate-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"cannot write the report to {folder}: {exc.strerror or exc}; pass --output with a folder you can write to"
        ) from exc
    return folder


def _matrix(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """framework × model rows, (converter path, data kind) columns."""
    kinds = [k for k in ("clean", "nan", "categorical") if any(c["data_kind"] == k for c in cells)]
    paths = [p for p in ("onnxgate", "upstream") if any(c["path"] == p for c in cells)]
    columns = [(p, k) for p in paths for k in kinds]
    rows: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for c in cells:
        shown = dict(c)
        if c.get("issue"):
            shown["issue"] = _issue_link(c["issue"])
        if c.get("issue") and c["status"] != "exact":
            shown["status"] = "xfail"
        rows[(c["framework"], c["model"])][(c["path"], c["data_kind"])] = shown
    counts = defaultdict(int)
    for row in rows.values():
        for c in row.values():
            counts[c["status"]] += 1
    return {
        "columns": [{"path": p, "kind": k} for p, k in columns],
        "rows": [{"framework": f, "model": m, "cells": [rows[(f, m)].get(col) for col in columns]}
                 for f, m in sorted(rows)],
        "counts": [(s, counts[s]) for s in STATUS_ORDER if counts.get(s)],
    }


def _issue_link(issue: dict[str, Any]) -> dict[str, Any]:
    """A known issue's link: ``repo#number`` to an http(s) address; any other scheme (``javascript:``, from
    a crafted results file) is shown as text, never as a link."""
    url = str(issue.get("url") or "")
    parts = url.split("/")
    label = f"{parts[-3]}#{parts[-1]}" if len(parts) >= 5 else url
    href = url if urllib.parse.urlsplit(url).scheme in ("http", "https") else None
    return {**issue, "href": href, "label": label}


def _latency_tables(latency: list[Record], order: list[str]) -> dict[str, list[Record]]:
    """model -> its rows, batch by batch, native first; models in the verdict table's order."""
    tables = _by_model(sorted(latency, key=lambda r: (r.batch_size, r.runtime != "native", r.label)))
    return {m: tables[m] for m in order if m in tables}


def _by_model(latency: Iterable[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    for row in latency:
        out[row.model].append(row)
    return out


def _cells_by_model(cells: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        out[cell["model"]].append(cell)
    return out


def _history(results: list[RunResult]) -> tuple[list[dict[str, Any]], dict[str, list[tuple[str, int, float, float]]]]:
    """One row per model and file with latency, for models measured in more than one file.

    Never averaged across models: files of a merged report measure different models, so a
    mean would move with the mix of models rather than with any model's speed.
    """
    per_file = [(r, {m: per_batch(rows) for m, rows in _by_model(r.latency).items()}) for r in results]
    runs_of: dict[str, int] = defaultdict(int)
    for _, models in per_file:
        for model, batches in models.items():
            runs_of[model] += bool(batches)
    rows: list[dict[str, Any]] = []
    points: dict[str, list[tuple[str, int, float, float]]] = defaultdict(list)
    for r, models in per_file:
        software = r.manifest.get("software") or {}
        for model, batches in models.items():
            if runs_of[model] < 2 or not batches:
                continue
            points[model] += [(r.created, b["batch"], b["native_p50"], b["onnx_p50"]) for b in batches]
            rows.append({"model": model, "created": r.created, "source": r.source,
                         "commit": r.manifest.get("commit") or "", "onnxruntime": software.get("onnxruntime", ""),
                         "batches": batches})
    rows.sort(key=lambda h: (h["model"], h["created"]))
    return rows, dict(points)


def _markers(results: list[RunResult], gate: GateVerdict | None) -> dict[str, list[tuple[str, str, str]]]:
    """model -> (when, kind, label) for its history plot: where the model changed between two files
    (a retrain: its trees, graph computation or file, results/gate/explain.py), and where the gated
    baseline was accepted (its history's entries, each with the time and the reason)."""
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    last: dict[str, list[Record]] = {}
    for r in results:  # oldest first
        for model, rows in _by_model(r.latency).items():
            if model in last and (changed := model_changes(last[model], rows)):
                out[model].append((r.created, "retrain", f"changed: {changed[0]}"))
            last[model] = rows
    history = gate.outcome.baseline.history if gate is not None and gate.outcome is not None else []
    accepts = [(str(e["replaced"]), "accept", "accepted" + (f": {e['why']}" if e.get("why") else ""))
               for e in history if isinstance(e, dict) and e.get("replaced")]
    return {model: out[model] + accepts for model in last}


def _newest_per_model(results: list[RunResult],
                      rows_of: Callable[[RunResult], dict[str, list[Row]]]) -> tuple[list[Row], list[RunResult]]:
    """The latency or parity rows of every model (``rows_of``: a file's, by model), each from the
    newest file that has that model.

    Files of one machine are merged model by model: a file of other models adds them, a newer
    file of the same model replaces its rows. Returns the rows and the files they came from.
    """
    chosen: dict[str, tuple[RunResult, list[Row]]] = {}
    for r in results:  # oldest first, so newer files win
        chosen.update({m: (r, rows) for m, rows in rows_of(r).items()})
    sources = list({id(r): r for r, _ in chosen.values()}.values())
    return [row for _, rows in chosen.values() for row in rows], sources


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def _figure(slug: str, caption: str, png: bytes, machine_id: str, image_dir: Path | None) -> dict[str, Any]:
    # The machine id and the model names in ``slug`` come from untrusted results files: slugs only.
    name = f"{slug}-{_slug(machine_id[:8])}.png"
    if image_dir is not None:
        write_bytes_atomic(image_dir / name, png)
    width, height = plots.png_size(png)
    return {"file": name, "caption": caption, "data": _b64(png), "width": width, "height": height}


def _slug(name: str) -> str:
    """ASCII letters, digits, ``-`` and ``_`` only: safe as part of any file name. A name that had to
    change gets a short hash of itself, so two such names never share a file."""
    slug = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "-" for ch in name)[:80]
    return slug if slug == name else f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def _machine_view(machine_id: str, results: list[RunResult], image_dir: Path | None,
                  gate: GateVerdict | None) -> MachineView:
    with_latency = [r for r in results if r.latency]
    newest = results[-1]
    view = MachineView(machine_id, manifest_rows(newest.manifest), [r.source for r in results])
    latency, lat_sources = _newest_per_model(results, lambda r: _by_model(r.latency))
    cells, par_sources = _newest_per_model(results, lambda r: _cells_by_model(r.parity))
    models: dict[str, dict[str, Any]] = {}
    # Parity files first: a run lists every model, refused ones too, in the zoo's order.
    for src in sorted(results, key=lambda r: not r.parity):
        for m in src.models:
            models.setdefault(m["name"], {}).update({k: v for k, v in m.items() if v is not None})
    view.models = list(models.values())
    for src in {id(s): s for s in (*lat_sources, *par_sources)}.values():
        view.notes += [n for n in src.notes if n not in view.notes]
    # The run's own order (zoo order: framework by framework), then anything only a file named.
    names = list(models)
    names += sorted(({c["model"] for c in cells} | {r.model for r in latency}) - set(names))
    gates = model_gates(gate, names)
    profile = next((r.profile for r in reversed(with_latency)), newest.profile)
    view.verdicts = [{**model_verdict(n, [c for c in cells if c["model"] == n], [r for r in latency if r.model == n],
                                      unmeasured=not_measured(n, profile, bool(latency))),
                      "gate": gates.get(n)} for n in names]
    view.matrix = _matrix(cells) if cells else {}
    view.latency_tables = _latency_tables(latency, names)
    view.serving_options = {m: opts for m, rows in view.latency_tables.items() if (opts := serving_options(rows))}
    view.peers_measured = any(r.runtime == "peer" for r in latency)

    def figure(slug: str, caption: str, png: bytes) -> dict[str, Any]:
        return _figure(slug, caption, png, machine_id, image_dir)

    for v in view.verdicts:  # the verdict table's picture of the speed paragraph, which it folds
        name = v["model"]
        v["chart"] = None if not v["batches"] else figure(
            f"speed-{_slug(name)}", f"{name}: each path's speed over the native wrapper, per batch size",
            plots.speed_chart(view.latency_tables[name]))
    view.images["latency"] = [figure(f"latency-{_slug(m)}", f"{m}: p50 latency vs batch size (log-log)",
                                     plots.latency_plot(m, rows)) for m, rows in view.latency_tables.items()]
    if latency:
        view.images["overview"] = [figure("speedup-heatmap",
                                          "ONNX speedup over the fastest native call, model × batch size",
                                          plots.speedup_heatmap(latency))]
    if any(m.get("onnx_bytes") is not None for m in view.models):
        view.images["cold"] = [figure("cold-costs", "Cold costs: conversion, ONNX size, session creation, "
                                      "first call", plots.cold_costs_plot(view.models))]
    history_rows, points = _history(with_latency)
    if history_rows:
        view.history = history_rows
        markers = _markers(with_latency, gate)
        view.images["history"] = [
            figure(f"history-{_slug(m)}", f"{m}: p50 per path and speedup, run by run"
                   + "".join(f"; marked: {label}" for _, _, label in markers.get(m, [])),
                   plots.history_plot(m, pts, markers.get(m, []))) for m, pts in sorted(points.items())]
    return view


def _environment() -> Any:
    jinja2 = import_optional("jinja2", "report", "render the HTML report")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conversion.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a typo in the template fails the build, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = lambda s: "" if s is None else f"{s * 1e3:.3f}"
    env.filters["num"] = lambda x, fmt=".3g": "" if x is None else format(x, fmt)
    env.filters["rate"] = lambda x: "" if x is None or not math.isfinite(x) else f"{x:,.0f}"
    env.filters["command"] = _command
    env.filters["commands"] = _commands
    return env


def _command(text: str) -> Any:
    """One command as <code>, each option in a span a line never breaks inside: a phone breaks the
    command between words, never as "--" / "accept". It copies as the command."""
    from markupsafe import Markup, escape

    words = [Markup('<span class="option">{}</span>').format(w) if w.startswith("-") else escape(w)
             for w in str(text).split(" ")]
    return Markup("<code>") + Markup(" ").join(words) + Markup("</code>")


def _commands(text: str) -> Any:
    """The gate's terminal text, where `backticks` mark a command, as HTML: each command a
    <code> (never shown with its backticks), the rest escaped."""
    from markupsafe import Markup, escape

    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: not markup, show the text as it is
        return escape(text)
    return Markup("").join(_command(p) if i % 2 else escape(p) for i, p in enumerate(parts))


def render(results: list[RunResult], *, gate: dict[str, Any] | None = None, image_dir: Path | None = None,
           title: str = "onnxgate report") -> str:
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for r in results:
        groups[r.machine].append(r)
    verdict = GateVerdict.from_dict(gate)  # the one read of the gate's JSON; typed from here on
    # The gate judged one benchmark file: its verdicts belong to that file's machine.
    current = str(verdict.outcome.current.path) if verdict and verdict.outcome else ""
    gated = next((m for m, rs in groups.items() if any(r.source == current for r in rs)),
                 min(groups, default=None))
    views = [_machine_view(m, sorted(rs, key=lambda r: r.created), image_dir, verdict if m == gated else None)
             for m, rs in sorted(groups.items())]
    template = _environment().get_template("report.html")
    return template.render(
        title=title, generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
        machines=views, sources=[{"path": r.source, "machine": r.machine, "created": r.created, "profile": r.profile}
                                 for r in results],
        gate=gate_block(verdict), gated=gated, status_labels=STATUS_LABELS, no_peers=NO_PEERS, against=AGAINST,
    )


def build_report(results: list[RunResult], output: Path, *, gate: dict[str, Any] | None = None) -> Path:
    """Writes index.html, report.json and the PNGs into ``output``; returns index.html's path."""
    check_writable(output)
    html = render(results, gate=gate, image_dir=output)
    merged = {"sources": [r.source for r in results], "results": [r.to_dict() for r in results], "gate": gate}
    write_text_atomic(output / "report.json", json.dumps(merged, indent=1, default=str) + "\n")
    return write_text_atomic(output / "index.html", html)


def report_from_files(paths: list[str | os.PathLike[str]] | list[RunResult], output: Path, *,
                      gate: dict[str, Any] | None = None) -> Path:
    """Builds the report from results files (or the RunResults its caller loaded from them);
    without an explicit gate verdict, the newest one recorded in the files is shown."""
    results = [p for p in paths if isinstance(p, RunResult)] or load_run_results(paths)
    if gate is None:
        gate = next((r.gate for r in reversed(results) if r.gate), None)
    return build_report(results, output, gate=gate)
