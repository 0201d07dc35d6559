"""Prove `onnxgate gate --against`'s side-by-side rule: false alarms (A/A) and detections.

    .venv/bin/python -m benchmarks.proof.prove_against --trials 20 [--busy 2] [--out FILE]

A trial is the side-by-side phase of `gate --against` (app/against.side_by_side): the base's and
the head's timing workers, pinned to one core, take turns row by row, a few rounds a turn, ten
turns each, on a user's two-model repository (XGBoost .ubj and LightGBM .txt, 100 trees each,
1 thread, 1 and 256 rows). Their times go into the two sides' results files, which the
side-by-side rules judge (SideBySideRegression, CPU and wall). The base is the code as it is. The
head runs under an interpreter wrapper (as `--base-python` would run a base) that injects:

- ``unchanged``: nothing (an A/A trial: any failure is a false alarm);
- ``slow25``: every onnxruntime session's run does 25% more CPU work (benchmarks/proof/inject/);
- ``wait200``: every onnxruntime session's run waits 200 us, the reference model's included, so the
  in-run ratios cancel it and only the head's own wall time can show it.

The other rules (ratios, counts) judge the benchmark suite's runs and were proven by prove_gate.
``--busy N`` keeps N processes spinning on the cores meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.proof.prove_counts import _spinners, user_repo
from conversion.app.against import Side, _run_block, _stamp, side_by_side
from conversion.results.benchmark_runs import load_run
from conversion.results.gate.figures import SIDE_BY_SIDE_MIN_EFFECT
from conversion.results.gate.judge import gate_runs
from conversion.results.gate.side_by_side import SideBySideRegression, side_by_side_rules
from conversion.results.latency_info import RowKey

INJECT = Path(__file__).resolve().parent / "inject"
HEADS = ("unchanged", "slow25", "wait200")


def _repo(folder: Path) -> Path:
    user_repo(folder)
    pyproject = folder / "pyproject.toml"
    text = pyproject.read_text().replace("[tool.onnxgate]\n", "[tool.onnxgate]\nbatch_sizes = [1, 256]\n", 1)
    pyproject.write_text(text)
    return folder


def _python(folder: Path, head: str) -> str:
    """An interpreter wrapper that runs this Python with ``head``'s injection."""
    if head == "unchanged":
        return sys.executable
    wrapper = folder / f"python-{head}"
    wrapper.write_text(f'#!/bin/sh\nONNXGATE_INJECT={head} PYTHONPATH="{INJECT}${{PYTHONPATH:+:$PYTHONPATH}}" '
                       f'exec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def trial(repo: Path, suite_file: Path, work: Path, python: str, head: str) -> dict[str, Any]:
    sides = {"base": Side("base", repo, sys.executable, "base", own_code=False),
             "head": Side("head", repo, python, "head", own_code=False)}
    times = side_by_side(sides, Path("."), {name: ["--profile=quick"] for name in sides}, work, alternations=10)
    pair = {"id": uuid.uuid4().hex}
    files = {}
    for name, side in sides.items():
        files[name] = work / f"{name}.json"
        shutil.copyfile(suite_file, files[name])
        _stamp(files[name], side, pair, times[name], dirty=False)
    rules = [r for r in side_by_side_rules() if isinstance(r, SideBySideRegression)]
    outcome = gate_runs(load_run(files["base"]), load_run(files["head"]), rules=rules)
    return {"head": head, "failed": bool(outcome.performance_failures),
            "rows": {f"{c.key} {c.measure}": c.effect for c in outcome.changes if c.effect is not None},
            "flagged": sorted(f"{c.key} {c.measure}" for c in outcome.regressed)}


def _threshold(row: str) -> float | None:
    """The side-by-side minimum effect in force for a trial row ("KEY side-by-side[ wall]")."""
    text, _, measure = row.partition(" ")
    key = RowKey.parse(text)
    size = key.batch_size
    bucket = "tiny" if size <= 16 else "medium" if size <= 1024 else "large"
    cls = f"{'native' if key.kind == 'native' else 'onnx-cpu-1thread'}/{bucket}"
    return SIDE_BY_SIDE_MIN_EFFECT["wall" if measure.endswith("wall") else "cpu"].get(cls)


def summarize(trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per head and row: trials, the range of effects, and detections under the figures in force now
    (a row flagged when it was measured whose effect is below today's minimum does not count: raising
    a minimum only removes flags, so older trials can be judged again)."""
    out: dict[str, Any] = {}
    for head in HEADS:
        mine = [t for t in trials if t["head"] == head]
        if not mine:
            continue
        rows = sorted({r for t in mine for r in t["rows"]})

        def flagged(t: dict[str, Any], r: str) -> bool:
            limit = _threshold(r)
            return r in t["flagged"] and limit is not None and t["rows"].get(r, 0.0) >= limit

        out[head] = {"trials": len(mine), "failed": sum(any(flagged(t, r) for r in rows) for t in mine),
                     "minimum_effect": {r: _threshold(r) for r in rows},
                     "effect_range": {r: [round(min(t["rows"].get(r, 9e9) for t in mine), 3),
                                          round(max(t["rows"].get(r, -9e9) for t in mine), 3)] for r in rows},
                     "detected": {r: sum(flagged(t, r) for t in mine) for r in rows}}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="trials per head")
    parser.add_argument("--heads", default=",".join(HEADS))
    parser.add_argument("--busy", type=int, default=0, help="processes spinning on the cores meanwhile")
    parser.add_argument("--out", type=Path, default=None, help="write the trials and summary as JSON here")
    parser.add_argument("--rejudge", type=Path, default=None,
                        help="measure nothing: summarize this earlier --out file under today's minimum effects")
    args = parser.parse_args(argv)
    if args.rejudge is not None:
        earlier = json.loads(args.rejudge.read_text())
        earlier["summary"] = summarize(earlier["trials"])
        args.rejudge.write_text(json.dumps(earlier, indent=1) + "\n")
        print(json.dumps({h: {k: v[k] for k in ("trials", "failed")} for h, v in earlier["summary"].items()}))
        return 0
    heads = [h for h in args.heads.split(",") if h]
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="prove-against-") as tmp:
        root = Path(tmp)
        repo = _repo(root / "repo")
        (root / "suite").mkdir()
        suite_file = _run_block(Side("base", repo, sys.executable, "base", own_code=False), Path("."), ["--quick"],
                                root / "suite", root / "suite.log", verbose=False)
        spinners = _spinners(args.busy)
        try:
            for n in range(args.trials):
                for head in heads:  # the heads take turns, so each sees the same stretch of the machine
                    work = root / f"trial-{len(trials):03d}"
                    work.mkdir()
                    t = trial(repo, suite_file, work, _python(root, head), head)
                    trials.append(t)
                    worst = max(t["rows"].items(), key=lambda kv: kv[1])
                    verdict = "FAILED " + "; ".join(t["flagged"]) if t["failed"] else "pass"
                    print(f"{head} {n + 1}/{args.trials}: {verdict} (largest rise {worst[1]:+.1%}: {worst[0]})",
                          file=sys.stderr, flush=True)
                    if args.out:  # kept as it goes: a long proof stopped early still has its trials
                        args.out.write_text(json.dumps({"busy": args.busy, "summary": summarize(trials),
                                                        "trials": trials}, indent=1) + "\n")
        finally:
            for p in spinners:
                p.kill()
    result = {"busy": args.busy, "load_after": os.getloadavg(), "summary": summarize(trials), "trials": trials}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
