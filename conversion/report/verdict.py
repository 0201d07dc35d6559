"""The plain-language verdict per model: should I serve this model through ONNX?

ONNX is judged against the faster of the two native paths (the wrapper's call and the adapter's
fastest call, Adapter.fast_native), so a model loaded as a Booster and the same model in its
wrapper get one verdict. Speed is judged on p50 of interleaved measurements; a difference under ``SAME`` is called a
tie, because machine noise on a shared runner is about that large.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

from conversion.results.benchmark_runs import Record
from conversion.results.speedups import best_native, speedup

__all__ = ["SAME", "crossover", "model_verdict", "not_measured", "per_batch"]

SAME = 0.10  # speedups within ±10% are reported as "about the same"
_KIND_NAMES = {"clean": "clean", "nan": "NaN", "categorical": "categorical"}


def crossover(points: list[tuple[int, float]]) -> float | None:
    """The batch size where ONNX and native swap places (speedup crosses 1), log-interpolated."""
    for (b0, s0), (b1, s1) in itertools.pairwise(points):
        l0, l1 = math.log(s0), math.log(s1)
        if l0 == 0:
            return float(b0)
        if l0 * l1 < 0:
            frac = l0 / (l0 - l1)
            return math.exp(math.log(b0) + frac * (math.log(b1) - math.log(b0)))
    return None


# Where no parity cell was recorded (a report from `onnxgate bench` files alone), the benchmark's
# own check of the rows it timed (Record.parity) says it; only where that is missing too is parity unknown.
NOT_CHECKED = ("Parity not checked: no parity result was recorded for this model. Check it with "
               "onnxgate check MODEL_FILE (or onnxgate run --model MODEL_FILE) before serving the ONNX model.")
_ROW_PARITY = {"passed": "exact", "failed": "wrong", "refused": "refused", "error": "refused"}


def not_measured(model: str, profile: str, others_measured: bool) -> str:
    """Why a model has no latency in these results, and the command that measures it."""
    command = f"onnxgate bench --models {model}"  # plain text: the report shows it as is
    if others_measured and profile:
        return f"Not benchmarked: this run's {profile} profile does not time this model; {command} does."
    return f"No latency in these results (the benchmark was skipped or failed); {command} measures it."


def _exactness(cells: list[dict[str, Any]]) -> tuple[str, str]:
    """('exact' | 'partial' | 'wrong' | 'refused' | 'unknown', sentence) for the onnxgate path."""
    # A user's own ONNX file (--onnx) is what they would serve; otherwise onnxgate's conversion.
    own = [c for c in cells if c.get("path") == "given"] or [c for c in cells if c.get("path") == "onnxgate"]
    if not own:
        return "unknown", NOT_CHECKED
    # Rows both sides refuse by design (NaN into a model that takes none) are not a difference.
    unchecked = [c for c in own if c["status"] == "unchecked"]
    own = [c for c in own if c["status"] != "unchecked"]
    bad = [c for c in own if c["status"] != "exact"]
    if own and not bad:
        seen = {c["data_kind"] for c in own}
        kinds = " and ".join(name for kind, name in _KIND_NAMES.items() if kind in seen)
        text = f"Exact on {kinds} rows: every output matches the native model."
        text += "".join(f" {_KIND_NAMES[c['data_kind']]} rows {c['reason']}." for c in unchecked)
        return "exact", text
    if not own:
        return "unknown", NOT_CHECKED
    first = bad[0]
    if first["status"] in ("refused", "unavailable", "error") and first["data_kind"] in ("clean", "categorical"):
        return "refused", f"Conversion was {first['status']}: {first['reason']}"
    if all(c["data_kind"] == "nan" for c in bad):
        c = bad[0]
        what = c["reason"] if c["status"] != "wrong" else (
            f"{c.get('mismatched_rows')} of {c.get('n_rows')} rows differ (max error {c.get('max_abs_error', 0):.3g}, "
            f"cause {c.get('cause') or 'unknown'})")
        return "partial", f"Exact on clean rows, but not on rows with missing values: {what}."
    c = next((c for c in bad if c["status"] == "wrong"), first)
    if c["status"] == "wrong":
        return "wrong", (f"The ONNX model differs on {c['data_kind']} rows: {c.get('mismatched_rows')} of "
                         f"{c.get('n_rows')} rows, max error {c.get('max_abs_error', 0):.3g}, "
                         f"cause {c.get('cause') or 'unknown'}.")
    return "refused", f"Conversion was {c['status']} on {c['data_kind']} rows: {c['reason']}"



def _exactness_of_rows(latency: list[Record]) -> tuple[str, str]:
    """Exactness from the benchmark rows' parity (the rows the benchmark timed), for files without cells."""
    found = {r.parity for r in latency if r.parity in _ROW_PARITY}
    if not found:
        return "unknown", NOT_CHECKED
    worst = next(p for p in ("failed", "error", "refused", "passed") if p in found)
    detail = next((r.parity_detail for r in latency if r.parity == worst and r.parity_detail), "")
    if worst == "passed":
        return "exact", "Exact on the rows the benchmark timed: every output matches the native model."
    return _ROW_PARITY[worst], f"The benchmark's parity check {worst}" + (f": {detail}" if detail else ".")


def per_batch(latency: list[Record]) -> list[dict[str, Any]]:
    """One model's faster native path (the wrapper's call or the adapter's fastest call) against its best
    ONNX path, per batch size: the one speedup (results/speedups.py), p50s beside it. The wrapper's own
    speedup rides along (``wrapper_speedup``): it is what the wrapper's users would see; so does the
    adapter's fastest call's over the wrapper (``call_speedup``), for the per-model chart."""
    by_batch: dict[int, list[Record]] = defaultdict(list)
    for row in latency:
        by_batch[row.batch_size].append(row)
    out = []
    for batch in sorted(by_batch):
        rows = by_batch[batch]
        # native rows on the model's own threads (the threads-at-scale rows are the options table's)
        natives = [r for r in rows if r.runtime == "native" and not r.threads]
        native = best_native(natives)
        wrapper = next((r for r in natives if not r.native_call), None)
        call = best_native([r for r in natives if r.native_call])
        onnx_rows = [r for r in rows if r.runtime == "onnx"]
        # One thread where measured: the native rows run on one, and several threads' p50s on a shared
        # 2-core machine read CatBoost at 256 rows as 3.9x faster where one thread's ratios say 0.64x;
        # what threads buy is the options table's (serving_options.py).
        onnx_rows = [r for r in onnx_rows if (r.threads or 1) == 1] or onnx_rows
        if native is None or not onnx_rows:
            continue
        onnx = max(onnx_rows, key=lambda r: speedup(native, r))
        # The rounds behind each figure: a p50 from 12 rounds and one from 100 are not the same evidence.
        out.append({"batch": batch, "native_p50": native.p50, "onnx_p50": onnx.p50, "onnx_label": onnx.label,
                    "native_label": native.label, "native_rounds": native.rounds, "onnx_rounds": onnx.rounds,
                    "speedup": speedup(native, onnx),
                    "wrapper_speedup": speedup(wrapper, onnx) if wrapper else None,
                    "call_speedup": speedup(wrapper, call) if wrapper and call else None})
    return out


def _rounds(b: dict[str, Any]) -> str:
    n = [r for r in (b.get("native_rounds"), b.get("onnx_rounds")) if r]
    return f"; p50 of {min(n)} rounds" if n else ""


def _ratio(s: float) -> str:
    return f"{s:.1f}× faster" if s >= 1 else f"{1 / s:.1f}× slower"


def model_verdict(model: str, cells: list[dict[str, Any]], latency: list[Record], *,
                  unmeasured: str = "") -> dict[str, Any]:
    """Everything the verdict card shows, as data; ``answer`` is yes / partly / no / unknown.
    ``unmeasured``: what the speed cell says where the model has no latency (``not_measured``)."""
    exact, exact_text = _exactness(cells) if cells else _exactness_of_rows(latency)
    batches = per_batch(latency)
    usable = exact in ("exact", "partial")
    for b in batches:  # agrees with the speed column; an unchecked model's ONNX pick waits on its check
        onnx = usable or exact == "unknown"
        b["recommended"] = (b["onnx_label"] + ("" if usable else " (check parity)")
                            if onnx and b["speedup"] >= 1 else "native")
    cross = crossover([(b["batch"], b["speedup"]) for b in batches if b["speedup"] > 0 and math.isfinite(b["speedup"])])
    faster = [b for b in batches if b["speedup"] > 1 + SAME]
    slower = [b for b in batches if b["speedup"] < 1 - SAME]
    speed = []
    if faster:
        best = max(faster, key=lambda b: b["speedup"])
        speed.append(f"ONNX is faster at batch {', '.join(str(b['batch']) for b in faster)} "
                     f"(up to {_ratio(best['speedup'])} than {best['native_label']}, at batch {best['batch']}"
                     f"{_rounds(best)})")
    if slower:
        worst = min(slower, key=lambda b: b["speedup"])
        speed.append(f"slower at batch {', '.join(str(b['batch']) for b in slower)} "
                     f"(up to {_ratio(worst['speedup'])} than {worst['native_label']}, at batch {worst['batch']}"
                     f"{_rounds(worst)})")
    if batches and not faster and not slower:
        speed.append("ONNX and the fastest native call are within ±10% at every batch size measured")
    if not batches:
        speed_text = unmeasured or not_measured(model, "", False)
    else:
        speed_text = "; ".join(speed) + "."
        speed_text = speed_text[0].upper() + speed_text[1:]
    if exact == "unknown":  # no reason to say "native"; the next step is the check
        answer, headline = "unknown", ("Parity not checked: " + (
            "ONNX is faster at some batch sizes; check parity before serving it." if faster
            else "check it with onnxgate check MODEL_FILE."))
    elif not usable:
        answer, headline = "no", "No: serve the native model."
    elif not batches:
        answer, headline = "unknown", "The conversion is usable; its speed was not measured."
    elif faster and not slower:
        answer = "yes"
        headline = ("Yes: ONNX is exact and faster at every batch size measured."
                    if len(faster) == len(batches)
                    else "Yes: ONNX is exact, and faster or as fast at every batch size measured.")
    elif faster and slower:
        answer = "partly"
        small = faster[0]["batch"] < slower[0]["batch"]
        edge = f" near batch {cross:.0f}" if cross else ""
        headline = (f"Partly: serve through ONNX below the crossover{edge}, native above it." if small
                    else f"Partly: serve natively below the crossover{edge}, through ONNX above it.")
    elif slower:
        answer, headline = "no", "No: ONNX is exact, but slower than native here."
    else:
        answer, headline = "partly", "Either: ONNX is exact and as fast as native."
    if exact == "partial" and answer in ("yes", "partly"):
        headline += " Only if inputs never contain missing values."
    advice = headline.split(": ", 1)[1] if ": " in headline else headline  # the headline without its yes/no word
    return {"model": model, "answer": answer, "headline": headline, "advice": advice, "exact": exact,
            "exact_text": exact_text,
            "speed_text": speed_text, "crossover": cross, "batches": batches}
