"""Prove the counts verdict (``python -m benchmarks.proof.prove_gate --counts``): detection and false alarms.

Every run is one valgrind process counting the XGBoost small model (native, engine and raw
ONNX Runtime at each batch size), exactly as ``onnxgate bench --counts`` counts it. Cases:

- ``unchanged``: the code as it is; ``busy``: the same while other processes spin on every core;
- ``ort+5%`` / ``ort+25%``: every ``InferenceSession.run`` does that much more work, the way an
  onnxruntime upgrade would look: its sessions' ``run`` is wrapped to add deterministic native
  work on the calling thread (builtin ``sum`` over a range, calibrated under callgrind), sized
  to the fraction of the raw call's instructions measured at that batch size;
- ``bigger``: the same XGBoost model trained with more trees (prove_gate's time case).

``--user-repo FOLDER`` proves it on a user's repository instead: both model files listed in its
``[tool.onnxgate]`` (an XGBoost ``.ubj`` and a LightGBM ``.txt`` with a ``data`` CSV, 100 trees
each, written there), counted through the user-model path ``onnxgate bench --counts`` takes
(a UserSpec rebuilt in the worker), and ``bigger`` = the XGBoost file retrained with 10% more trees.

Each worker process counts every case (one setup, counting toggled per phase), so a run is
one process. False-alarm trials: every ordered pair of different runs, per benchmark (batch x
path; "busy" pairs involve a run made beside spinning processes). Detection trials: every
(slowed case of run i, unchanged of run j != i) pair; detected when the gate's own count rule
(``CountRegression``) flags it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["analyse", "calibrate_work", "case_calls", "main", "render", "run_cases", "work_calls"]

log = logging.getLogger("onnxgate.prove_counts")

MODEL = "xgboost-synthetic-small"
ONNX_PATHS = ("engine", "onnxruntime")


# --- hooks run inside the valgrind worker -------------------------------------------------

def _work(k: int) -> int:
    # Native work in the interpreter's C code (builtin sum over one repeated small int): a
    # fixed cost of a few hundred instructions, then the same cost per element with no
    # allocation, so 5% of a 74,000-instruction one-row call can be injected (a numpy
    # reduction alone costs 8,500 instructions; sum(range(k)) allocates above 256).
    return sum(itertools.repeat(1, k))


def work_calls(batches: Sequence[int], paths: Sequence[str]) -> list[tuple[int, str, Any]]:
    """The injected work alone, ``batch`` = number of elements: calibrates instructions per element."""
    return [(k, "work", lambda k=k: _work(k)) for k in batches]


CASES = ("ort+5%", "ort+25%", "bigger")
FRACTIONS = {"ort+5%": 0.05, "ort+25%": 0.25}


def _slowed_run(session: Any, sizes: dict[int, int]) -> Callable[..., Any]:
    """``session.run`` that also does ``_work(sizes[rows])`` (native work on the calling thread)."""
    original = session.run

    def run(output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        out = original(output_names, input_feed, run_options)
        _work(sizes.get(next(iter(input_feed.values())).shape[0], 0))
        return out

    return run


def case_calls(batches: Sequence[int], paths: Sequence[str], *, raw_instructions: dict[str, float],
               per_element: float, fixed: float, trees: dict[str, int]) -> list[tuple[int, str, Any]]:
    """Every case in one worker: unchanged paths, ``PATH@ort+5%``, ``PATH@ort+25%``, ``PATH@bigger``.

    The slowed sessions are separate session objects whose ``run`` is wrapped (the unchanged
    ones stay untouched, so their counts are the suite's): each call also does ``fraction`` x
    the raw call's instructions measured at that batch size, as deterministic native work on
    the calling thread, which is how an onnxruntime release doing more work per call looks.
    """
    from benchmarks.proof.prove_gate import BASE_TREES, _models

    prep, _, converted = _models(sorted({BASE_TREES, *trees.values()}))
    return _cases(prep, converted[BASE_TREES], {b: (prep, converted[trees[str(b)]]) for b in batches}, batches, paths,
                  raw_instructions=raw_instructions, per_element=per_element, fixed=fixed)


def user_case_calls(batches: Sequence[int], paths: Sequence[str], *, subject: dict[str, Any],
                    bigger: dict[str, Any] | None, raw_instructions: dict[str, float], per_element: float,
                    fixed: float) -> list[tuple[int, str, Any]]:
    """case_calls for a user's model file (``subject``), ``bigger`` being its retrained file (or None)."""
    from conversion.bench.prepared import prepare
    from conversion.bench.user_models import spec_of_subject

    prep = prepare(spec_of_subject(subject))
    retrained = prepare(spec_of_subject(bigger)) if bigger is not None else None
    grown = {b: (retrained, retrained.converted) for b in batches} if retrained is not None else {}
    return _cases(prep, prep.converted, grown, batches, paths,
                  raw_instructions=raw_instructions, per_element=per_element, fixed=fixed)


def _cases(prep: Any, converted: Any, bigger: dict[int, tuple[Any, Any]], batches: Sequence[int],
           paths: Sequence[str], *, raw_instructions: dict[str, float], per_element: float,
           fixed: float) -> list[tuple[int, str, Any]]:
    from conversion.bench.counts_worker import model_calls
    from conversion.runtime.sessions import clear_session_cache

    onnx_paths = [p for p in paths if p != "native"]
    out = model_calls(prep, converted, batches, paths)
    for case, fraction in FRACTIONS.items():
        sizes = {int(rows): max(0, round((fraction * ir - fixed) / per_element))
                 for rows, ir in raw_instructions.items()}
        clear_session_cache()  # a new engine session, so wrapping it leaves the unchanged engine's alone

        def slow_down(session: Any, sizes: dict[int, int] = sizes) -> None:
            session.run = _slowed_run(session, sizes)

        calls = model_calls(prep, converted, batches, onnx_paths, on_session=slow_down)
        out += [(b, f"{p}@{case}", fn) for b, p, fn in calls]
    for b in (b for b in batches if b in bigger):
        clear_session_cache()
        bigger_prep, bigger_converted = bigger[b]
        # the retrained model's native call too, when it is a model of its own (a user's retrained file)
        bigger_paths = paths if bigger_prep is not prep else onnx_paths
        out += [(b, f"{p}@bigger", fn) for _, p, fn in model_calls(bigger_prep, bigger_converted, [b], bigger_paths)]
    return out


USER_PYPROJECT = """\
[project]
name = "prove-counts-user-repo"
version = "0.1.0"

[tool.onnxgate]
threads = [1]

[tool.onnxgate.models.fraud]
path = "models/fraud.ubj"

[tool.onnxgate.models.churn]
path = "models/churn.txt"
data = "data/rows.csv"
"""


def user_repo(folder: Path, *, trees: int = 100) -> dict[str, Any]:
    """Writes a user's repository (two model files in [tool.onnxgate]) and the XGBoost model
    retrained with 10% more trees; returns {"config", "specs": {name: UserSpec}, "retrained": UserSpec}."""
    import lightgbm as lgb
    import numpy as np
    import xgboost as xgb
    from sklearn.datasets import make_classification

    from conversion.bench.config import ModelEntry, load_config
    from conversion.bench.user_models import UserSpec, user_specs

    for sub in ("models", "data", "retrained"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(USER_PYPROJECT)
    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    for path, n in ((folder / "models/fraud.ubj", trees), (folder / "retrained/fraud.ubj", round(trees * 1.1))):
        xgb.XGBClassifier(n_estimators=n, max_depth=6, n_jobs=1, random_state=0).fit(X, y).save_model(path)
    churn = lgb.LGBMClassifier(n_estimators=trees, verbose=-1, n_jobs=1).fit(X, y)
    churn.booster_.save_model(folder / "models/churn.txt")
    np.savetxt(folder / "data/rows.csv", X[:400], delimiter=",", comments="",
               header=",".join(f"Column_{i}" for i in range(X.shape[1])))
    config = load_config(folder / "pyproject.toml")
    return {"config": config, "specs": {s.name: s for s in user_specs(config)},
            "retrained": UserSpec(ModelEntry("fraud", (folder / "retrained/fraud.ubj").resolve()))}


# --- the parent ---------------------------------------------------------------------------

def _spinners(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _count(batches: Sequence[int], hooks: dict[str, Any] | None = None,
           paths: Sequence[str] = ("native", *ONNX_PATHS), model: Any = MODEL) -> dict[str, Any]:
    from conversion.bench.counts import count_model

    return count_model(model, batches, paths=paths, hooks=hooks)["per_call"]


def calibrate_work() -> tuple[float, float]:
    """(instructions per element, fixed instructions per call) of the injected reduction."""
    cal = _count([100, 10_000], {"maker": {"call": "benchmarks.proof.prove_counts:work_calls"}}, paths=["work"])
    per_element = (cal["10000"]["work"]["instructions"] - cal["100"]["work"]["instructions"]) / 9_900
    return per_element, cal["100"]["work"]["instructions"] - 100 * per_element


def run_cases(batches: Sequence[int], *, runs: int, busy_runs: int, trees: dict[int, int], jobs: int,
              work: tuple[float, float] | None = None, raw_instructions: dict[str, float] | None = None,
              user: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``{"unchanged": [per_call, ...], "busy": [...]}``; each run counts every case (case_calls, or
    with ``user`` (user_repo's) user_case_calls on each of its two model files, one valgrind process
    per file, its benchmarks named ``FILE/PATH``; only the XGBoost file has a retrained twin)."""
    from conversion.bench.counts_worker import COLD_PATHS
    from conversion.bench.user_models import subject_of

    per_element, fixed = work or calibrate_work()
    log.info("injected work: %.3f instructions per element + %.0f per call", per_element, fixed)
    models: dict[str, tuple[Any, Any]] = (
        {"": (MODEL, None)} if user is None
        else {name: (spec, user["retrained"] if name == "fraud" else None) for name, spec in user["specs"].items()})
    plans: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name, (model, bigger) in models.items():
        raw = raw_instructions if user is None else None
        if raw is None:  # the injected work is a fraction of this model's own raw call
            first = _count(batches, paths=["onnxruntime"], model=model)
            raw = {b: first[b]["onnxruntime"]["instructions"] for b in first}
        common = {"raw_instructions": raw, "per_element": per_element, "fixed": fixed}
        if user is None:
            plans[name] = (model, {"maker": {"call": "benchmarks.proof.prove_counts:case_calls",
                                             "kwargs": {**common, "trees": {str(b): trees[b] for b in batches}}}})
        else:
            plans[name] = (model, {"maker": {"call": "benchmarks.proof.prove_counts:user_case_calls", "kwargs": {
                **common, "subject": subject_of(model), "bigger": subject_of(bigger) if bigger else None}}})
    paths = ("native", *ONNX_PATHS, *(COLD_PATHS if user else ()))  # a user's model: its cold start too

    def one_run(_: int) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name, (model, hooks) in plans.items():
            for b, by_path in _count(batches, hooks, model=model, paths=paths).items():
                merged.setdefault(b, {}).update({(f"{name}/{p}" if name else p): v for p, v in by_path.items()})
        return merged

    out: dict[str, list[dict[str, Any]]] = {}
    spin = _spinners(os.cpu_count() or 1)
    try:
        log.info("%d runs beside %d spinning processes, %d at a time", busy_runs, len(spin), jobs)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            out["busy"] = list(pool.map(one_run, range(busy_runs)))
    finally:
        for p in spin:
            p.kill()
            p.wait()
    log.info("%d runs, %d at a time", runs, jobs)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        out["unchanged"] = list(pool.map(one_run, range(runs)))
    return out


def _record(count: dict[str, float], batch: str, path: str) -> Any:
    from benchmarks.proof.prove_gate import Config
    from benchmarks.proof.prove_gate import _record as time_record

    raw = {"target_wall": [1.0], "target_cpu": [1.0], "partner_wall": {"native": [1.0], "reference": [1.0]},
           "partner_cpu": {"native": [1.0], "reference": [1.0]}}  # times play no part in the count rule
    native = path.rsplit("/", 1)[-1] == "native"  # "PATH", or "FILE/PATH" for a user's repository
    rec = time_record(Config("native" if native else "onnx", int(batch), None if native else 1),
                      raw)
    return dataclasses.replace(rec, counts={path: count})


def analyse(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """False alarms and detections of the gate's count rule per batch and path; trials pair different runs."""
    from conversion.results.gate.rules import CountRegression

    rule = CountRegression()
    every = [("busy", r) for r in runs.get("busy", [])] + [("unchanged", r) for r in runs["unchanged"]]
    benches = sorted({(b, p) for _, r in every for b, ps in r.items() for p in ps if "@" not in p},
                     key=lambda x: (int(x[0]), x[1]))
    rows: dict[str, dict[str, Any]] = {}
    for b, p in benches:
        base = [_record(r[b][p], b, p) for _, r in every]
        pairs = list(itertools.permutations(range(len(every)), 2))
        busy_pairs = [(i, j) for i, j in pairs if "busy" in (every[i][0], every[j][0])]
        ratio = [base[j].counts[p]["instructions"] / base[i].counts[p]["instructions"] - 1 for i, j in pairs]
        row: dict[str, Any] = {
            "false_alarms": sum(bool(rule.fails(base[j], base[i])) for i, j in pairs), "unchanged_trials": len(pairs),
            "busy_false_alarms": sum(bool(rule.fails(base[j], base[i])) for i, j in busy_pairs),
            "busy_trials": len(busy_pairs), "spread": max((abs(x) for x in ratio), default=0.0),
            "instructions": base[0].counts[p]["instructions"], "cycles": base[0].counts[p]["cycles"]}
        for case in CASES:
            slow = [_record(r[b][f"{p}@{case}"], b, p) if f"{p}@{case}" in r.get(b, {}) else None for _, r in every]
            trials = [(i, j) for i, j in pairs if slow[i] is not None]
            if trials:
                row[case] = {"detected": sum(bool(rule.fails(slow[i], base[j])) for i, j in trials),
                             "trials": len(trials),
                             "effect": min(slow[i].counts[p]["instructions"] / base[i].counts[p]["instructions"] - 1
                                           for i in range(len(every)) if slow[i] is not None)}
        rows[f"b{b}-{p}"] = row
    total = {case: [sum(r[case]["detected"] for r in rows.values() if case in r),
                    sum(r[case]["trials"] for r in rows.values() if case in r)] for case in CASES}
    return {"per_benchmark": rows, "detections": total, "runs": {k: len(v) for k, v in runs.items()},
            "false_alarms": [sum(r["false_alarms"] for r in rows.values()),
                             sum(r["unchanged_trials"] for r in rows.values())],
            "busy_false_alarms": [sum(r["busy_false_alarms"] for r in rows.values()),
                                  sum(r["busy_trials"] for r in rows.values())],
            "max_spread": max(r["spread"] for r in rows.values())}


def main(args: Any) -> int:
    """prove_gate's ``--counts`` mode (its arguments: batches, runs, busy_runs, jobs, json, raw, from_raw, trees,
    user_repo)."""
    if args.from_raw:
        runs = json.loads(args.from_raw.read_text())["runs"]
    else:
        batches = [int(b) for b in args.batches.split(",")]
        trees = {int(b): int(t) for b, t in (x.split(":") for x in args.trees.split(","))}
        raw = dict(x.split(":") for x in args.ort_instructions.split(",")) if args.ort_instructions else None
        work = tuple(float(x) for x in args.work.split(",")) if args.work else None
        user = user_repo(args.user_repo) if args.user_repo else None
        runs = run_cases(batches, runs=args.runs, busy_runs=args.busy_runs, trees=trees, jobs=args.jobs,
                         work=work, raw_instructions={b: float(v) for b, v in raw.items()} if raw else None, user=user)
        if args.raw:
            args.raw.write_text(json.dumps({"runs": runs}))
    summary = analyse(runs)
    print(render(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def render(summary: dict[str, Any]) -> str:
    lines = [f"{'benchmark':<16} {'instructions':>12} {'spread':>7} {'false alarms':>12} {'busy':>9}  "
             + "  ".join(f"{c + ': effect, detected':>27}" for c in CASES)]
    for name, r in summary["per_benchmark"].items():
        cells = [f"{r[c]['effect']:+.1%} {r[c]['detected']:>4}/{r[c]['trials']:<4}" if c in r else "-" for c in CASES]
        lines.append(f"{name:<16} {r['instructions']:>12,.0f} {r['spread']:>7.3%} "
                     f"{r['false_alarms']:>5}/{r['unchanged_trials']:<6} "
                     f"{r['busy_false_alarms']:>3}/{r['busy_trials']:<5}  " + "  ".join(f"{c:>27}" for c in cells))
    fa, n = summary["false_alarms"]
    lines.append(f"false alarms: {fa}/{n} (busy machine pairs {summary['busy_false_alarms'][0]}/"
                 f"{summary['busy_false_alarms'][1]}); largest run-to-run spread: {summary['max_spread']:.3%}")
    lines += [f"detected {case}: {d}/{t}" for case, (d, t) in summary["detections"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    from benchmarks.proof.prove_gate import build_parser

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sys.exit(main(build_parser().parse_args()))
