"""`onnxgate bench`: run the latency benchmarks in a fresh pytest process and write their results file.

Exit codes: 0 ok, 1 a failed benchmark run or (with --baseline) a regression, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from conversion.app.model_sources import add_model_sources, add_sizes, user_config
from conversion.app.output import FORMATTER, emit_error
from conversion.errors import OnnxGateError, ResultsError

__all__ = ["command", "register"]

_BENCH_EXAMPLES = """examples:
  onnxgate bench --save-as base.json               # the models of ./pyproject.toml's [tool.onnxgate]
  onnxgate bench --model models/fraud.ubj --model models/churn.txt
  onnxgate bench --quick --output results/          # CI subset, a few minutes
  onnxgate bench --full --models xgboost-synthetic-large --output results/
  onnxgate bench --quick --suite benchmarks/ --save-as benchmarks/baselines/amd-epyc-2cpu-x86_64.json
                                                    # refresh this machine type's baseline
  onnxgate bench --quick --counts --output results/ # also instructions per call (needs valgrind)
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench", help="run the latency benchmarks and write their results JSON",
        description="Runs the pytest-benchmark latency suite (native vs ONNX Runtime, interleaved) "
                    "and writes a results file for `onnxgate gate` and `onnxgate report`.",
        epilog=_BENCH_EXAMPLES, formatter_class=FORMATTER,
    )
    profile = p.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="CI subset: small models, batches 1/256/4096 (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="every size, batch size, provider and thread count")
    p.set_defaults(profile="quick", func=command)
    p.add_argument("--output", type=Path, default=Path("results"),
                   help="folder for the results JSON (default: results/)")
    add_model_sources(p, model_help="also benchmark this native model file, named by its file stem (repeatable)")
    p.add_argument("--models", default="",
                   help="comma-separated zoo models (e.g. xgboost-synthetic-small), or the names of your own models")
    add_sizes(p)
    p.add_argument("--rounds-share", type=float, default=1.0, metavar="FRACTION",
                   help="run this share (0-1] of the profile's rounds: one block of a side of `gate --against`")
    p.add_argument("--frameworks", default="", help="comma-separated frameworks (default: all)")
    p.add_argument("--suite", type=Path, action="append", default=[],
                   help="also run this folder or file of your own pytest-benchmark tests, with the plugin "
                        "(repeatable)")
    p.add_argument("--save-as", type=Path, help="also copy the results to this file (e.g. to refresh a baseline)")
    p.add_argument("--baseline", type=Path,
                   help="then gate the results against this baseline file or folder (as `onnxgate gate`): one line "
                        "per regressed benchmark, with its cause, at the end; exit 1 on a regression")
    p.add_argument("--json", action="store_true", help="print {\"results\": PATH} instead of the path")
    p.add_argument("--counts", action="store_true",
                   help="also record instructions and estimated cycles per call (valgrind callgrind, single-threaded "
                        "rows); the gate then compares them directly. Adds about 2-4 minutes to the quick profile")
    return p


def command(args: argparse.Namespace) -> int:
    import json

    from conversion.bench.cases import parse_specs
    from conversion.bench.runner import BenchmarkRunError, run_benchmarks

    extra = ["--onnxgate-frameworks", args.frameworks] if args.frameworks else []
    extra += [f"--onnxgate-{name}={value}" for name, value in (("batches", args.batches), ("threads", args.threads))
              if value]
    if args.rounds_share != 1.0:
        extra.append(f"--onnxgate-rounds-share={args.rounds_share}")
    if args.counts:
        from conversion.bench.counts import CountsUnavailableError, valgrind

        try:
            valgrind()
        except CountsUnavailableError as exc:
            return emit_error("bench", f"--counts: {exc}", as_json=args.json)
        extra.append("--onnxgate-counts")
    code = 0
    try:
        user = user_config(args)
        names = [m for m in args.models.split(",") if m]
        if user is not None and args.frameworks:
            return emit_error("bench", "--frameworks chooses zoo models; with your own models (--config, --model or "
                              "./pyproject.toml's [tool.onnxgate]) choose among them with --models NAME,...",
                              as_json=args.json)
        if user is not None and names:  # your own models, by their names (a CI shard's share of them)
            from conversion.bench.config import only_models

            try:
                only_models(user, names)
            except OnnxGateError as exc:
                return emit_error("bench", f"--models: {exc}", as_json=args.json)
            extra.append("--onnxgate-models=" + ",".join(names))
        specs = parse_specs(names) if user is None and names else None
        sources = {"config": user.source, "models": args.model} if user is not None else {}
        from conversion.bench.progress_bars import terminal_of

        path = run_benchmarks(args.profile, args.output, specs=specs, suites=args.suite, extra_args=extra,
                              progress=terminal_of(not args.json), **sources)
    except BenchmarkRunError as exc:  # the other benchmarks' results are still worth keeping
        print(f"onnxgate bench: {exc}", file=sys.stderr)
        path, code = exc.results, 1
    except OnnxGateError as exc:  # before ValueError: a ConfigError is one, and says itself where it is
        return emit_error("bench", str(exc), as_json=args.json)
    except ValueError as exc:  # parse_specs: an unknown --models name
        return emit_error("bench", f"--models: {exc}" if args.models else str(exc), as_json=args.json)
    if args.save_as:
        from conversion.results.baseline_choice import save_compact

        path = save_compact(path, args.save_as)
    run = _results_run(Path(path)) if path else None
    if run is not None and not args.json:
        _print_model_lines(run)
    gate_code = _gate_after_bench(args.baseline, Path(path), run) if args.baseline is not None and path else 0
    print(json.dumps({"results": str(path)}) if args.json else path)
    return code or gate_code


def _results_run(results: Path) -> Any:
    """The bench's results file, parsed once for its model lines and the gate; None if unreadable
    (the file's own problem is reported by whoever reads it next)."""
    from conversion.results.benchmark_runs import load_run

    try:
        return load_run(results)
    except ResultsError:
        return None


def _print_model_lines(run: Any) -> None:
    """One line per model on stderr (stdout ends with the results path, for scripts)."""
    from conversion.results.bench_summary import model_lines

    for line in model_lines(run):
        print(line, file=sys.stderr)


def _gate_after_bench(baseline: Path, results: Path, run: Any) -> int:
    """`bench --baseline`: the gate's verdict and its regressed benchmarks on stderr (stdout keeps the path).
    ``run``: the results already parsed, or None when they could not be (the gate says why)."""
    from conversion.app.gate import choose_baseline
    from conversion.results.benchmark_runs import load_run
    from conversion.results.gate.judge import gate_files
    from conversion.results.gate.table import regression_lines

    try:
        run = run if run is not None else load_run(results)
        chosen = choose_baseline(baseline, run, record=False)
        if isinstance(chosen, str):
            print(chosen, file=sys.stderr)
            return 0
        assert isinstance(chosen, Path)
        outcome = gate_files(chosen, run)
    except ResultsError as exc:
        return emit_error("bench", f"--baseline: {exc}", as_json=False)
    verdict = {0: "pass", 1: "FAIL", 2: "no verdict"}[outcome.exit_code]
    print(f"gate against {chosen}: {verdict}; " + " | ".join(outcome.explanations["run"]), file=sys.stderr)
    for line in regression_lines(outcome):
        print(line, file=sys.stderr)
    return outcome.exit_code
