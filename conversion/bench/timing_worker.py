"""One side of `onnxgate gate --against`'s side-by-side phase: a process that times rows on request.

    python -P -m conversion.bench.timing_worker [--profile quick] [--config F] [--model M ...] [--models a,b]

It prepares the rows the benchmark suite would (the same cases, preparation and pairing), prints one
JSON line ``{"rows": [{"key": Record.key, "batch_size": N}, ...]}``, then answers each request line
``{"key": KEY, "rounds": N}`` with ``{"cpu": [...], "wall": [...]}``: the row's own call, N rounds,
seconds per call on the benchmark's clocks. An empty line or end of input ends it. The coordinator
(app/against.py) runs the base's worker and the head's side by side and alternates them row by row,
a few rounds at a time, so both sides of every row are timed within milliseconds of each other.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "row_key"]

log = logging.getLogger(__name__)

FIXED_CALL_PATH = "run"  # onnxruntime's public InferenceSession.run, which every build has


def row_key(model: str, runtime: str, provider: str | None, threads: int | None, batch_size: int, *,
            fast: bool = False) -> str:
    """The row's ``Record.key`` as text, built from its parts as the results file's reader builds it."""
    from conversion.results.latency_info import RowKey

    return str(RowKey.of(model, runtime, provider, threads, batch_size, fast=fast))


def _cases(args: argparse.Namespace) -> list[Any]:
    from conversion.bench.cases import PROFILES, cases_for, parse_specs
    from conversion.bench.config import load_config, only_models, with_models
    from conversion.bench.fingerprint import usable_providers
    from conversion.bench.user_models import user_specs

    user = with_models(load_config(args.config), args.model)  # ./pyproject.toml's models without --config
    names = [m for m in args.models.split(",") if m]
    if user.models and names:
        user = only_models(user, names)
    specs = user_specs(user) if user.models else (parse_specs(names) if names else None)
    providers = usable_providers()
    if user.providers is not None:
        providers = [p for p in user.providers if p in providers]
    batches = tuple(int(b) for b in args.batches.split(",") if b) or user.batch_sizes
    threads = tuple(int(t) for t in args.threads.split(",") if t) or user.threads
    return cases_for(PROFILES[args.profile].with_batches(batches), providers=providers, specs=specs, threads=threads)


def _targets(cases: Sequence[Any]) -> dict[str, Any]:
    """key -> (target call, its clock, batch size), for every case the suite would measure."""
    from conversion.bench.pairing import pair
    from conversion.bench.prepared import held_out_batch, prepare

    out: dict[str, Any] = {}
    for case in cases:
        try:
            prep = prepare(case.spec)
        except ImportError as exc:  # a framework this environment lacks: its rows are not on this side
            log.warning("%s: %s", case.spec.name, exc)
            continue
        # Compiled peers are other programs, not either side's code: the side-by-side phase leaves them out.
        if case.runtime == "peer" or prep.why_not(case.runtime, fast=case.fast, threads=case.threads):
            continue
        # One call path on both sides: "auto" picks the fastest it measures at start, and that choice
        # differed between processes of the same code (c_run or c_iobinding: 36% at one row in an A/A trial).
        pairing = pair(prep, held_out_batch(prep, case.batch_size), runtime=case.runtime, provider=case.provider,
                       threads=case.threads, call_path=FIXED_CALL_PATH, fast=case.fast)
        key = row_key(case.spec.name, case.runtime, case.provider, case.threads, case.batch_size, fast=case.fast)
        out[key] = (pairing.target, pairing.target_clock, case.batch_size)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    import conversion  # noqa: F401  (before onnxruntime: onnxgate turns its telemetry off)
    from conversion.bench.interleave import measure

    parser = argparse.ArgumentParser(prog="timing_worker", description=__doc__)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--models", default="")
    parser.add_argument("--batches", default="")
    parser.add_argument("--threads", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    targets = _targets(_cases(args))
    print(json.dumps({"rows": [{"key": k, "batch_size": t[2]} for k, t in sorted(targets.items())]}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        request = json.loads(line)
        target, clock, _ = targets[request["key"]]
        rounds = measure(target, {}, rounds=int(request["rounds"]), warmup_rounds=2, target_clock=clock)
        print(json.dumps({"cpu": rounds.target_cpu, "wall": rounds.target_wall}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
