"""`onnxgate gate --against REF` (and `--pairs DIR ...`): the command around app/against.py."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from conversion.app.against import AgainstOptions, is_pair, run_against
from conversion.errors import InputError, OnnxGateError, ResultsError

__all__ = ["against_command", "pairs_command"]


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise InputError(f"--shard {text}: expected K/N with 1 <= K <= N, e.g. --shard 2/4 for the second of four jobs")
    return int(k), int(n)


def _costs(args: argparse.Namespace) -> Any:
    """``(tree, rel_cwd) -> {model: cost}``: what --shard splits, and how heavy each model is."""
    measured: dict[str, float] = {}
    if args.shard_costs is not None:
        from conversion.results.benchmark_runs import load_run

        for rec in load_run(args.shard_costs).records:
            measured[rec.model] = measured.get(rec.model, 0.0) + rec.p50 * rec.rounds
    known = sum(measured.values()) / len(measured) if measured else 1.0

    def models_of(tree: Path, rel_cwd: Path) -> dict[str, float]:
        from conversion.bench.config import load_config, with_models

        here = tree / rel_cwd
        config = with_models(load_config(args.config, cwd=here), args.model, cwd=here)
        if config.models:
            names = list(config.models)
        elif args.models:
            names = [m for m in args.models.split(",") if m]
        else:
            from conversion.bench.cases import PROFILES
            from conversion.bench.zoo import zoo_specs

            names = [s.name for s in zoo_specs(sizes=PROFILES[args.profile].sizes)]
        # A model never measured costs what an average measured one did.
        return {name: measured.get(name, known) for name in names}

    return models_of


def _print(outcome: Any, header: list[str], args: argparse.Namespace) -> None:
    from conversion.results.gate.outcome import outcome_json
    from conversion.results.gate.table import regression_lines, render_markdown, render_outcome

    fmt = "json" if args.json else args.format
    if args.save:
        from conversion.atomic import write_bytes_atomic

        write_bytes_atomic(args.save, outcome_json(outcome).encode())
    if fmt == "json":
        doc = json.loads(outcome_json(outcome))
        print(json.dumps({"against": header, **doc}, indent=2))
    elif fmt == "markdown":
        print("".join(f"> {line}\n" for line in header) + "\n" + render_markdown(outcome, all_rows=args.all), end="")
    else:
        print("\n".join(header))
        print(render_outcome(outcome, all_rows=args.all))
        for line in regression_lines(outcome):
            print(line, file=sys.stderr)


def _gate_pair(base: Path, head: Path) -> Any:
    from conversion.results.benchmark_runs import load_run, read_json_object
    from conversion.results.gate.judge import gate_runs
    from conversion.results.gate.side_by_side import side_by_side_rules

    if not is_pair(read_json_object(base), read_json_object(head)):
        raise ResultsError(f"{base} and {head} are not the two sides of one `onnxgate gate --against` run; gate "
                           "results files of separate runs with --baseline and --current")
    return gate_runs(load_run(base), load_run(head), rules=side_by_side_rules())


def against_command(args: argparse.Namespace) -> int:
    from conversion.app.output import emit_error

    if args.baseline is not None or args.current is not None or args.accept:
        return emit_error("gate", "--against measures both sides itself: leave out --baseline, --current and --accept",
                          as_json=args.json)
    if args.counts:
        from conversion.bench.counts import CountsUnavailableError, valgrind

        try:
            valgrind()
        except CountsUnavailableError as exc:
            return emit_error("gate", f"--counts: {exc}", as_json=args.json)
    try:
        options = AgainstOptions(
            ref=args.against, output=args.output or Path("results") / "against", profile=args.profile,
            config=args.config, model_files=list(args.model), models=[m for m in args.models.split(",") if m],
            suites=list(args.suite), batches=args.batches, threads=args.threads, counts=args.counts,
            blocks=args.blocks, base_python=args.base_python, shard=_parse_shard(args.shard), verbose=args.verbose > 0)
        if options.blocks < 1:
            raise InputError(f"--blocks {options.blocks}: each side needs at least one block")
        run = run_against(options, models_of=_costs(args) if options.shard else None)
        outcome = _gate_pair(run.base, run.head)
    except OnnxGateError as exc:
        return emit_error("gate", str(exc), as_json=args.json)
    _print(outcome, run.header, args)
    return outcome.exit_code


def pairs_command(args: argparse.Namespace) -> int:
    """`gate --pairs DIR ...`: the base/head pairs that the shards of a CI matrix wrote, as one verdict."""
    from conversion.app.output import emit_error
    from conversion.results.gate.judge import combine_outcomes

    try:
        outcomes, header = [], []
        for folder in args.pairs:
            if not (folder / "base.json").is_file() or not (folder / "head.json").is_file():
                raise InputError(f"--pairs {folder}: it holds no base.json and head.json; pass the --output folders of "
                                 "`onnxgate gate --against` jobs")
            outcomes.append(_gate_pair(folder / "base.json", folder / "head.json"))
            with contextlib.suppress(OSError, ValueError):  # a shard's first lines: what differs between its sides
                header += [h for h in json.loads((folder / "header.json").read_text(encoding="utf-8"))
                           if isinstance(h, str) and h not in header]
        outcome = combine_outcomes(outcomes)
    except OnnxGateError as exc:
        return emit_error("gate", str(exc), as_json=args.json)
    _print(outcome, header, args)
    return outcome.exit_code
