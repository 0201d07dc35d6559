"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

PNG rather than SVG: a heatmap or a many-line plot as SVG is larger, and PNG decodes the
same in every browser. Each function takes normalised rows (see run_results) only.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from typing import Any

from conversion.errors import MissingDependencyError

try:
    import matplotlib
except ImportError as exc:
    raise MissingDependencyError("matplotlib", "report", "draw the report's plots") from exc

matplotlib.use("Agg")  # no display on CI, and the report must not depend on one
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from .verdict import crossover

__all__ = ["cold_costs_plot", "history_plot", "latency_plot", "speedup_heatmap"]

DPI = 80


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _best_onnx(rows: list[dict[str, Any]]) -> dict[int, float]:
    best: dict[int, float] = {}
    for r in rows:
        if r["runtime"] == "onnx":
            best[r["batch"]] = min(best.get(r["batch"], math.inf), r["p50"])
    return best


def _native(rows: list[dict[str, Any]]) -> dict[int, float]:
    return {r["batch"]: r["p50"] for r in rows if r["runtime"] == "native"}


def _panels(n: int, width: float, height: float) -> tuple[plt.Figure, list[Any]]:
    """A figure of ``n`` panels, three to a row, each ``width`` x ``height`` inches; the grid's
    spare panels are hidden, and the ``n`` used ones returned in order."""
    cols = min(n, 3)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(width * cols, height * nrows), squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def latency_plot(framework: str, rows: list[dict[str, Any]]) -> bytes:
    """p50 latency vs batch size, log-log, one panel per model, one line per runtime."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    models = sorted(by_model)
    fig, axes = _panels(len(models), 4.2, 3.2)
    for ax, model in zip(axes, models, strict=True):
        lines: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
        for r in by_model[model]:
            lines[r.get("label") or r["runtime"]].append((r["batch"], r["p50"], r.get("p90", r["p50"])))
        for label in sorted(lines, key=lambda s: (s != "native", s)):
            pts = sorted(lines[label])
            b = [p[0] for p in pts]
            ax.plot(b, [p[1] * 1e3 for p in pts], marker="o", lw=2 if label == "native" else 1.4,
                    color="black" if label == "native" else None, label=label)
        native, onnx = _native(by_model[model]), _best_onnx(by_model[model])
        common = sorted(set(native) & set(onnx))
        cross = crossover([(b, native[b] / onnx[b]) for b in common if onnx[b] > 0])
        if cross:
            ax.axvline(cross, color="crimson", ls="--", lw=1)
            # at the bottom: the legend takes the top-left corner and the lines end top-right
            ax.annotate(f" crossover ≈ {cross:.0f}", (cross, 0.03), xycoords=("data", "axes fraction"),
                        ha="left", va="bottom", fontsize=8, color="crimson")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("batch size (rows)")
        ax.set_ylabel("p50 latency (ms)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    fig.suptitle(f"{framework}: latency vs batch size", fontsize=11)
    return _png(fig)


def speedup_heatmap(rows: list[dict[str, Any]]) -> bytes:
    """native p50 / best ONNX p50 per model × batch: above 1 ONNX wins."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    models = sorted(by_model)
    batches = sorted({r["batch"] for r in rows})
    grid = np.full((len(models), len(batches)), np.nan)
    for i, m in enumerate(models):
        native, onnx = _native(by_model[m]), _best_onnx(by_model[m])
        for j, b in enumerate(batches):
            if b in native and b in onnx and onnx[b] > 0:
                grid[i, j] = native[b] / onnx[b]
    # Colour on a log scale centred on 1x, so 2x faster and 2x slower look equally strong.
    logs = np.log10(grid)
    finite = np.abs(logs[np.isfinite(logs)])
    limit = max(float(finite.max()) if finite.size else 0.3, 0.05)
    fig, ax = plt.subplots(figsize=(1.1 * len(batches) + 3.5, 0.32 * len(models) + 1.4), layout="constrained")
    im = ax.imshow(logs, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(len(models)):
        for j in range(len(batches)):
            measured = bool(np.isfinite(grid[i, j]))
            ax.text(j, i, f"{grid[i, j]:.2f}×" if measured else "not measured", ha="center", va="center",
                    fontsize=7, color="black" if measured else "grey")
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    ax.set_yticks(range(len(models)), models, fontsize=8)
    ax.set_xlabel("batch size (rows)")
    ax.set_title("speedup of ONNX over native (native p50 / best ONNX p50)", fontsize=10)
    bar = fig.colorbar(im, ax=ax, shrink=0.8)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{10 ** v:.3g}×"))
    return _png(fig)


def cold_costs_plot(models: list[dict[str, Any]]) -> bytes:
    """What the first request pays, per model: conversion, ONNX size, session, first call."""
    panels = [("conversion_seconds", "conversion (s)", 1), ("onnx_bytes", "ONNX size (KiB)", 1 / 1024),
              ("session_seconds", "session creation (ms)", 1e3), ("first_call_seconds", "first call (ms)", 1e3)]
    shown = [m for m in models if any(m.get(k) is not None for k, _, _ in panels)]
    names = [m["name"] for m in shown]
    fig, axes = plt.subplots(1, 4, figsize=(14, 0.28 * len(names) + 1.6), sharey=True, layout="constrained")
    for ax, (key, title, scale) in zip(axes, panels, strict=True):
        values = [float(m[key]) * scale if m.get(key) is not None else 0.0 for m in shown]
        ax.barh(range(len(names)), values, color="steelblue")
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="x", alpha=0.25)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].set_yticks(range(len(names)), names, fontsize=7)
    axes[0].invert_yaxis()
    fig.suptitle("cold costs", fontsize=11)
    return _png(fig)


def history_plot(points: dict[str, list[tuple[str, int, float]]]) -> bytes:
    """ONNX speedup over native per batch size over time, one panel per model.

    ``points`` maps model -> [(created, batch, speedup)]; each model's own runs only, since an
    average across models would move with the mix of models in the files.
    """
    models = sorted(points)
    fig, axes = _panels(len(models), 5.5, 3.4)
    for ax, model in zip(axes, models, strict=True):
        runs = sorted({p[0] for p in points[model]})
        for batch in sorted({p[1] for p in points[model]}):
            by_run = {p[0]: p[2] for p in points[model] if p[1] == batch}
            ax.plot(range(len(runs)), [by_run.get(run, np.nan) for run in runs], marker="o", label=f"batch {batch}")
        ax.axhline(1.0, color="grey", lw=1, ls=":")
        ax.set_xticks(range(len(runs)), [r[:16] for r in runs], rotation=30, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("speedup (native / ONNX p50)")
        ax.set_title(model, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.25)
    fig.suptitle("history: ONNX speedup over native", fontsize=11)
    return _png(fig)
