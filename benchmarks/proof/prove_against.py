"""Prove `onnxgate gate --against`'s side-by-side verdict: false alarms (A/A) and detections.

    .venv/bin/python -m benchmarks.proof.prove_against --trials 20 [--busy 2] [--out FILE]

A trial is what `gate --against` measures: four blocks in the order base, head, head, base, each
an `onnxgate bench` process of a user's two-model repository (XGBoost .ubj and LightGBM .txt,
100 trees each, 1 thread, 1 and 256 rows), merged per side and gated with every rule plus the
side-by-side rules (conversion/app/gate_against.side_by_side_rules). The base is always the
code as it is. The head is:

- ``unchanged``: the same code (an A/A trial: any failure is a false alarm);
- ``slow25``: every onnxruntime session's run does 25% more CPU work (benchmarks/proof/inject/);
- ``wait200``: every onnxruntime session's run waits 200 us, the reference model's included, so
  the in-run ratios cancel it and only the side-by-side wall time can see it.

No --counts here: this proves the time rules alone (a runner without valgrind); the count rule
was proven by prove_gate --counts. ``--busy N`` runs N processes spinning on the cores meanwhile.
The blocks run through the same functions as the command (app/against.py), without git: both sides
are the same tree, the head's blocks get the injection's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.proof.prove_counts import _spinners, user_repo
from conversion.app.against import Side, _run_block, block_order
from conversion.app.gate_against import side_by_side_rules
from conversion.results.benchmark_runs import load_run
from conversion.results.gate import gate_runs
from conversion.results.merged_runs import merge_block_files

INJECT = Path(__file__).resolve().parent / "inject"
HEADS = ("unchanged", "slow25", "wait200")
CONFIG_TAIL = "batch_sizes = [1, 256]\n"


def _repo(folder: Path) -> Path:
    user_repo(folder)
    pyproject = folder / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace("[tool.onnxgate]\n", "[tool.onnxgate]\n" + CONFIG_TAIL, 1))
    return folder


def _block(repo: Path, out: Path, head: str, i: int) -> Path:
    env_backup = dict(os.environ)
    try:
        if head != "unchanged":
            os.environ["ONNXGATE_INJECT"] = head
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(INJECT), os.environ.get("PYTHONPATH")) if p)
        side = Side("head" if head != "unchanged" else "base", repo, sys.executable, "", own_code=False)
        folder = out / f"{i:03d}-{head}"
        folder.mkdir(parents=True)
        return _run_block(side, Path("."), ["--quick", "--rounds-share", "0.5"], folder, out / f"{i:03d}.log",
                          verbose=False)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)


def trial(repo: Path, out: Path, head: str, n: int) -> dict[str, Any]:
    """One base/head/head/base trial; the gate's verdict and every side-by-side row's effect."""
    files: dict[str, list[Path]] = {"base": [], "head": []}
    for j, side in enumerate(block_order(2)):
        files[side].append(_block(repo, out, head if side == "head" else "unchanged", n * 4 + j))
    base = load_run(merge_block_files(files["base"], out / f"{n:03d}-base.json"))
    cur = load_run(merge_block_files(files["head"], out / f"{n:03d}-head.json"))
    outcome = gate_runs(base, cur, rules=side_by_side_rules())
    return {"head": head, "exit_code": outcome.exit_code, "failures": outcome.performance_failures,
            "rows": {f"{c.key} {c.measure}": c.effect for c in outcome.changes
                     if c.measure.startswith("side-by-side") and c.effect is not None},
            "flagged": sorted({f"{c.key} {c.measure}" for c in outcome.regressed})}


def summarize(trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for head in HEADS:
        mine = [t for t in trials if t["head"] == head]
        if not mine:
            continue
        rows = sorted({r for t in mine for r in t["rows"]})
        out[head] = {"trials": len(mine), "failed": sum(t["exit_code"] == 1 for t in mine),
                     "largest_effect": {r: max(t["rows"].get(r, float("-inf")) for t in mine) for r in rows},
                     "smallest_effect": {r: min(t["rows"].get(r, float("inf")) for t in mine) for r in rows}}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="trials per head")
    parser.add_argument("--heads", default=",".join(HEADS))
    parser.add_argument("--busy", type=int, default=0, help="processes spinning on the cores meanwhile")
    parser.add_argument("--out", type=Path, default=None, help="write the trials and summary as JSON here")
    args = parser.parse_args(argv)
    heads = [h for h in args.heads.split(",") if h]
    spinners = _spinners(args.busy)
    trials: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="prove-against-") as tmp:
            repo = _repo(Path(tmp) / "repo")
            for n in range(args.trials):
                for head in heads:  # the heads take turns, so each sees the same stretch of the machine
                    t = trial(repo, Path(tmp) / "blocks", head, len(trials))
                    trials.append(t)
                    print(f"{head} trial {n + 1}/{args.trials}: exit {t['exit_code']} "
                          f"{'; '.join(t['flagged'])}", file=sys.stderr, flush=True)
    finally:
        for p in spinners:
            p.kill()
    load = os.getloadavg()
    result = {"busy": args.busy, "load_after": load, "summary": summarize(trials), "trials": trials}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
