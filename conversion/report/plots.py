"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

PNG rather than SVG: a heatmap or a many-line plot as SVG is larger, and PNG decodes the
same in every browser. Each function takes results rows (Record, see run_results) only, and draws
one subject per figure at a size that stays legible when a phone scales it to its width: the
page lays figures out in a grid that wraps, so one model never shares a bitmap with another.
Speedups come from verdict.per_batch, the report's one definition of them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import math
import struct
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from conversion.errors import MissingDependencyError
from conversion.results.benchmark_runs import Record

try:
    import matplotlib
except ImportError as exc:
    raise MissingDependencyError("matplotlib", "report", "draw the report's plots") from exc

matplotlib.use("Agg")  # no display on CI, and the report must not depend on one
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .verdict import crossover, per_batch

__all__ = ["cold_costs_plot", "history_plot", "latency_plot", "png_size", "speed_chart", "speedup_heatmap"]

DPI = 100
STYLE = {"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 10, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "figure.titlesize": 12}
# Inches at DPI: 520 px wide, what one grid cell of the page shows at 1280 px, scaled by no more
# than 0.7 on a 390 px phone, so that 11 pt text stays about 10 px tall there.
WIDTH = 5.2


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's header."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms >= 0.01 else f"{ms:.1e}"


def latency_plot(model: str, rows: list[Record]) -> bytes:
    """One model's p50 latency vs batch size, log-log, one line per runtime; native and the best
    ONNX path are labeled with their values, and the crossover is marked."""
    with plt.rc_context(STYLE):
        return _png(latency_figure(model, rows))


def latency_figure(model: str, rows: list[Record]) -> plt.Figure:
    """latency_plot's figure, before it becomes a PNG (a test reads where its labels landed)."""
    lines: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        lines[r.label].append((r.batch_size, r.p50))
    batches = per_batch(rows)
    best = {b["batch"]: b["onnx_p50"] for b in batches}
    fig, ax = plt.subplots(figsize=(WIDTH, 4.0), layout="constrained")
    labels: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for label in sorted(lines, key=lambda s: (s != "native", s)):
        pts = sorted(lines[label])
        native = label == "native"
        ax.plot([p[0] for p in pts], [p[1] * 1e3 for p in pts], marker="o", lw=2.2 if native else 1.5,
                color="black" if native else None, label=label)
        for b, p50 in pts:
            if native or best.get(b) == p50:  # value labels for the two lines the verdict compares
                labels[b].append((p50, "black" if native else ax.lines[-1].get_color()))
    # Per batch, the higher of the two values is labeled above its point and the lower below its
    # own: two close values never share a spot, whichever path is faster.
    for b, pair in labels.items():
        for rank, (p50, colour) in enumerate(sorted(pair, reverse=True)):
            ax.annotate(_ms(p50), (b, p50 * 1e3), textcoords="offset points", xytext=(0, 7 if rank == 0 else -7),
                        ha="center", va="bottom" if rank == 0 else "top", fontsize=9, color=colour)
    cross = crossover([(b["batch"], b["speedup"]) for b in batches
                       if b["speedup"] > 0 and math.isfinite(b["speedup"])])
    if cross:
        ax.axvline(cross, color="crimson", ls="--", lw=1)
        ax.annotate(f" crossover ≈ {cross:.0f}", (cross, 0.03), xycoords=("data", "axes fraction"),
                    ha="left", va="bottom", fontsize=10, color="crimson")
    ax.set_xscale("log")
    ax.set_yscale("log")
    measured = sorted({r.batch_size for r in rows})
    ax.set_xticks(measured, [str(b) for b in measured])  # the batch sizes measured, not powers of ten
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.12, y=0.18)  # room for the value labels at both ends
    ax.set_title(model)
    ax.set_xlabel("batch size (rows)")
    ax.set_ylabel("p50 latency (ms)")
    ax.grid(True, which="both", alpha=0.25)
    fig.legend(loc="outside lower center", ncol=2, frameon=False)  # below the axes: never over a point
    return fig


# The verdict table's chart: about 340 px wide in its cell at 1280 px and 350 px on a 390 px phone,
# so its 9 pt value labels (12.5 px at DPI) stay about 12 px at both.
CHART_WIDTH = 3.6
CHART_LABEL_PT = 9
PATH_COLOURS = {"wrapper": "#9aa5b1", "call": "#5b6672", "onnx": "#2b7bba"}


def speed_chart(rows: list[Record]) -> bytes:
    """One model's paths per batch size as bars of speed over the native wrapper's (CPU time, the
    verdict's measure): the wrapper's call, the adapter's fastest native call, the best ONNX path."""
    batches = per_batch(rows)
    bars: list[tuple[int, str, float]] = []  # (batch, path, speed over the wrapper)
    for b in batches:
        if b["wrapper_speedup"] is None:  # no wrapper row: speeds over the fastest native call
            bars += [(b["batch"], "call", 1.0), (b["batch"], "onnx", b["speedup"])]
            continue
        bars += [(b["batch"], "wrapper", 1.0)]
        bars += [(b["batch"], "call", b["call_speedup"])] if b["call_speedup"] else []
        bars += [(b["batch"], "onnx", b["wrapper_speedup"])]
    names = {"wrapper": "native wrapper", "call": "fastest native call", "onnx": "ONNX"}
    if not any(p == "wrapper" for _, p, _ in bars):
        names["call"] = "fastest native"
    with plt.rc_context({**STYLE, "font.size": 10, "xtick.labelsize": 10, "ytick.labelsize": 10}):
        fig, ax = plt.subplots(figsize=(CHART_WIDTH, 0.62 + 0.13 * len(bars) + 0.06 * len(batches)),
                               layout="constrained")
        y, ticks, labelled = 0.0, [], set()
        for batch in [b["batch"] for b in batches]:
            group = [(p, v) for bb, p, v in bars if bb == batch]
            ticks.append((y + (len(group) - 1) / 2, f"{batch} row" + ("s" if batch != 1 else "")))
            for path, value in group:
                shown = value if math.isfinite(value) else 0.0
                ax.barh(y, shown, height=0.8, color=PATH_COLOURS[path],
                        label=None if path in labelled else names[path])
                labelled.add(path)
                if path != "wrapper":  # the wrapper is the 1× every other bar is read against
                    ax.annotate(f"{value:.2g}×" if value < 10 else f"{value:.0f}×", (shown, y), xytext=(3, 0),
                                textcoords="offset points", va="center", fontsize=CHART_LABEL_PT,
                                fontweight="bold" if path == "onnx" else "normal")
                y += 1
            y += 0.5
        top = max((v for _, _, v in bars if math.isfinite(v)), default=1.0)
        ax.set_xlim(0, top * 1.3)  # room for the value labels
        ax.axvline(1.0, color="black", lw=0.8, ls=":")
        ax.set_yticks([t for t, _ in ticks], [label for _, label in ticks])
        ax.invert_yaxis()
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("speed over the native wrapper (×)" if "wrapper" in labelled else "speed over native (×)")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.legend(loc="outside upper center", ncol=3, frameon=False, fontsize=CHART_LABEL_PT, handlelength=1,
                   columnspacing=0.8)
        return _png(fig)


# The heatmap's text, 12 pt (16.7 px at DPI), is at least 11 px on a 390 px phone (a 368 px column)
# while the figure is at most HEATMAP_MAX_WIDTH inches wide: 368 / 557 × 16.7 = 11.
HEATMAP_PT = 12
HEATMAP_MAX_WIDTH = 5.5


def _wrapped(name: str, width: int = 18) -> str:
    """A long model name on several lines, each broken after a '-': the row labels' column stays narrow."""
    lines = [""]
    for part in name.replace("-", "-\0").split("\0"):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


def speedup_heatmap(rows: list[Record]) -> bytes:
    """fastest native p50 / best ONNX p50 per model × batch: above 1 ONNX wins. The value is written in
    each cell (no colour bar, no title: the caption says it), so the figure stays narrow for a phone."""
    by_model: dict[str, list[Record]] = defaultdict(list)
    for r in rows:
        by_model[r.model].append(r)
    models = sorted(by_model)
    batches = sorted({r.batch_size for r in rows})
    grid = np.full((len(models), len(batches)), np.nan)
    for i, m in enumerate(models):
        for b in per_batch(by_model[m]):
            if math.isfinite(b["speedup"]):
                grid[i, batches.index(b["batch"])] = b["speedup"]
    # Colour on a log scale centred on 1x, so 2x faster and 2x slower look equally strong.
    logs = np.log10(grid)
    finite = np.abs(logs[np.isfinite(logs)])
    limit = max(float(finite.max()) if finite.size else 0.3, 0.05)
    labels = [_wrapped(m) for m in models]
    longest = max((len(line) for label in labels for line in label.splitlines()), default=8)
    width = min(0.1 * longest + 0.75 * len(batches) + 0.5, HEATMAP_MAX_WIDTH)
    tall = 0.25 + 0.2 * max((label.count("\n") + 1 for label in labels), default=1)  # inches per row
    with plt.rc_context({**STYLE, "font.size": HEATMAP_PT, "xtick.labelsize": HEATMAP_PT,
                         "ytick.labelsize": HEATMAP_PT}):
        fig, ax = plt.subplots(figsize=(width, tall * len(models) + 0.9), layout="constrained")
        ax.imshow(logs, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
        for i in range(len(models)):
            for j in range(len(batches)):
                measured = bool(np.isfinite(grid[i, j]))
                ax.text(j, i, f"{grid[i, j]:.3g}×" if measured else "–", ha="center", va="center",
                        color="black" if measured else "grey")
        ax.set_xticks(range(len(batches)), [str(b) for b in batches])
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_yticks(range(len(models)), labels)
        ax.tick_params(length=0)
        ax.set_xlabel("batch size (rows)")
        return _png(fig)


COLD_PANELS = (("conversion_seconds", "conversion (s)", 1.0, "{:.3g} s"),
               ("onnx_bytes", "ONNX size (KiB)", 1 / 1024, "{:,.0f} KiB"),
               ("session_seconds", "session creation (ms)", 1e3, "{:.3g} ms"),
               ("first_call_seconds", "first call (ms)", 1e3, "{:.3g} ms"))


def cold_costs_plot(models: list[dict[str, Any]]) -> bytes:
    """What the first request pays, per model: conversion, ONNX size, session, first call; each
    bar carries its value (a blank where nothing was measured)."""
    shown = [m for m in models if any(m.get(k) is not None for k, *_ in COLD_PANELS)]
    names = [m["name"] for m in shown]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 2, figsize=(WIDTH + 0.8, 2 * (0.38 * len(names) + 1.1)), sharey=True,
                                 layout="constrained")
        for ax, (key, title, scale, fmt) in zip(axes.flat, COLD_PANELS, strict=True):
            values = [float(m[key]) * scale if m.get(key) is not None else math.nan for m in shown]
            bars = ax.barh(range(len(names)), np.nan_to_num(values), color="steelblue")
            ax.bar_label(bars, labels=["" if math.isnan(v) else fmt.format(v) for v in values], padding=3, fontsize=9)
            top = max((v for v in values if not math.isnan(v)), default=1.0)
            ax.set_xlim(0, top * 1.45 or 1.0)  # room for the labels
            ax.set_title(title)
            ax.grid(True, axis="x", alpha=0.25)
            ax.set_yticks(range(len(names)), names)
        axes[0, 0].invert_yaxis()
        return _png(fig)


MARKER_COLOURS = {"accept": "#2e9d4f", "retrain": "#7b3fa0"}


def _utc(stamp: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(stamp)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def history_plot(model: str, points: list[tuple[str, int, float, float]],
                 markers: Sequence[tuple[str, str, str]] = ()) -> bytes:
    """One model over its runs: absolute p50 per path (native dashed, best ONNX solid) above,
    the speedup below, one colour per batch size; the newest point of each line is labeled.

    ``points``: (created, batch, native p50, best ONNX p50). Absolute times first, because a
    model that became 3× slower on both paths keeps its speedup. ``markers``: (when, "accept" |
    "retrain", label), drawn as a labeled vertical line just before the first run at or after ``when``.
    """
    runs = sorted({p[0] for p in points})
    x = range(len(runs))
    times = [_utc(r) for r in runs]
    lines = [(bisect.bisect_left(times, _utc(when)) - 0.5, kind, label) for when, kind, label in markers]
    with plt.rc_context(STYLE):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(WIDTH, 5.6), sharex=True, layout="constrained")
        for batch in sorted({p[1] for p in points}):
            by_run = {p[0]: p for p in points if p[1] == batch}
            native = [by_run[r][2] * 1e3 if r in by_run else np.nan for r in runs]
            onnx = [by_run[r][3] * 1e3 if r in by_run else np.nan for r in runs]
            speed = [n / o if o and o > 0 else np.nan for n, o in zip(native, onnx, strict=True)]
            (line,) = top.plot(x, onnx, marker="o")
            colour = line.get_color()
            top.plot(x, native, marker="s", ls="--", color=colour)
            bottom.plot(x, speed, marker="o", color=colour, label=f"batch {batch}")
            for ax, values, unit in ((top, onnx, "ms"), (top, native, "ms"), (bottom, speed, "×")):
                last = max((i for i, v in enumerate(values) if np.isfinite(v)), default=None)
                if last is not None:
                    text = f"{values[last]:.2f}×" if unit == "×" else _ms(values[last] / 1e3)
                    ax.annotate(text, (last, values[last]), textcoords="offset points", xytext=(6, 0),
                                va="center", fontsize=9, color=colour)
        top.set_yscale("log")
        top.set_ylabel("p50 latency (ms)")
        top.set_title(f"{model}: p50, native dashed, best ONNX solid", fontsize=11)
        bottom.axhline(1.0, color="grey", lw=1, ls=":")
        bottom.set_yscale("log")
        bottom.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}×"))
        bottom.yaxis.set_minor_formatter(NullFormatter())
        fig.legend(*bottom.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
        bottom.set_ylabel("speedup (native / ONNX)")
        bottom.set_title(f"{model}: ONNX speedup over native")
        bottom.set_xticks(list(x), [r[:16].replace("T", " ") for r in runs], rotation=25, ha="right")
        for at, kind, label in lines:
            for ax in (top, bottom):
                ax.axvline(at, color=MARKER_COLOURS[kind], lw=1.5, ls="--")
            short = label if len(label) <= 26 else label[:25] + "…"  # the full text is in the caption
            top.annotate(short, (at, 0.97), xycoords=("data", "axes fraction"), xytext=(3, 0),
                         textcoords="offset points", rotation=90, ha="left", va="top", fontsize=9,
                         color=MARKER_COLOURS[kind], bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1})
        right = max([len(runs) - 0.4, *(at + 0.35 for at, _, _ in lines)])
        bottom.set_xlim(-0.3, right)  # room right of the newest labels and of a marker after the last run
        for ax in (top, bottom):
            ax.grid(True, alpha=0.25)
        return _png(fig)
