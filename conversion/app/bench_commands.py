"""The `onnxgate bench` and `onnxgate gate` subcommands.

conversion/cli.py adds them with ``register_bench`` and ``register_gate``; each sets ``func`` to a
handler ``(args) -> exit code``, which imports the bench or results layer only when it runs.
Exit codes: 0 ok, 1 a parity or performance regression (or a failed benchmark run), 2 bad
input (missing, malformed, empty or other-schema results; a refused machine comparison; no
benchmark in both files, so nothing was compared).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, NamedTuple

from conversion.errors import OnnxGateError, ResultsError

__all__ = ["add_model_sources", "add_sizes", "bench_command", "gate_command", "register_bench", "register_gate",
           "user_config"]

log = logging.getLogger(__name__)

_BENCH_EXAMPLES = """examples:
  onnxgate bench --save-as base.json               # the models of ./pyproject.toml's [tool.onnxgate]
  onnxgate bench --model models/fraud.ubj --model models/churn.txt
  onnxgate bench --quick --output results/          # CI subset, a few minutes
  onnxgate bench --full --models xgboost-synthetic-large --output results/
  onnxgate bench --quick --suite benchmarks/ --save-as benchmarks/baselines/amd-epyc-2cpu-x86_64.json
                                                    # refresh this machine type's baseline
  onnxgate bench --quick --counts --output results/ # also instructions per call (needs valgrind)
"""
_GATE_EXAMPLES = """examples:
  onnxgate gate --baseline benchmarks/baselines/ --current results/   # the newest results file in it
  onnxgate gate --baseline B.json --current C.json --force --all   # other machine, every row
  onnxgate gate --baseline benchmarks/baselines/ --current C.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  onnxgate gate --baseline benchmarks/baselines/ --current C.json --accept --why "churn retrained, 3x trees"

exit codes: 0 no regression, 1 parity or performance regression, 2 bad input, refused comparison,
or nothing compared (no benchmark is in both files)
"""


def add_model_sources(p: argparse.ArgumentParser, *, model_help: str) -> None:
    """--config and the repeatable --model: the user's models instead of the embedded zoo."""
    p.add_argument("--config", type=Path,
                   help="a pyproject.toml (or TOML file) whose [tool.onnxgate] lists your models "
                        "(default: ./pyproject.toml when it lists models)")
    p.add_argument("--model", type=Path, action="append", default=[], help=model_help)


def add_sizes(p: Any) -> None:
    """--batches and --threads: the batch sizes and thread counts to measure, instead of the profile's."""
    p.add_argument("--batches", default="", metavar="N,N",
                   help="comma-separated batch sizes instead of the profile's (and the config's batch_sizes)")
    p.add_argument("--threads", default="", metavar="N,N",
                   help="comma-separated ONNX Runtime thread counts instead of 1 and all cores (and the config's)")


def user_config(args: argparse.Namespace) -> Any:
    """The user's models as a BenchConfig, or None for the embedded zoo.

    ``--config FILE``, else ./pyproject.toml when its [tool.onnxgate] lists models; plus every
    ``--model FILE``, named by its stem. Read here, in the caller's directory, so a mistake is a
    one-line error before anything runs.
    """
    from conversion.bench.config import load_config, with_models
    from conversion.errors import ConfigError

    config = load_config(args.config)
    if args.config is not None and not config.models and not args.model:
        raise ConfigError(f"{config.source} lists no models; add [tool.onnxgate.models.NAME] tables with "
                          "path = \"...\", or pass --model FILE")
    config = with_models(config, args.model)
    return config if config.models else None


def register_bench(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench", help="run the latency benchmarks and write their results JSON",
        description="Runs the pytest-benchmark latency suite (native vs ONNX Runtime, interleaved) "
                    "and writes a results file for `onnxgate gate` and `onnxgate report`.",
        epilog=_BENCH_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile = p.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="CI subset: small models, batches 1/256/4096 (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full",
                         help="every size, batch size, provider and thread count")
    p.set_defaults(profile="quick", func=bench_command)
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


def register_gate(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gate", help="compare results with a baseline: parity and performance verdicts",
        description="Fails (exit 1) when parity broke, when a benchmark's interleaved time ratio rose "
                    "significantly (Mann-Whitney) and by more than its class's minimum effect, or (results "
                    "from `bench --counts`) when its instructions or estimated cycles per call rose 3% or more.",
        epilog=_GATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    against = p.add_argument_group(
        "side by side (no baseline file needed)",
        "--against REF benchmarks the merge base of REF and HEAD and the working tree on this runner, in "
        "alternating blocks, and gates the head against the base")
    against.add_argument("--against", metavar="REF",
                         help="gate the working tree against the merge base of REF (a branch, tag or commit) and HEAD")
    against.add_argument("--base-python", metavar="PATH",
                         help="run the base side under this interpreter (an environment with the base's dependencies "
                              "and onnxgate[bench]); default: this one")
    against.add_argument("--blocks", type=int, default=1,
                         help="benchmark-suite runs per side, alternating base, head, head, base, ... (default 1); "
                              "the side-by-side times per call alternate row by row whatever this is")
    against.add_argument("--shard", metavar="K/N",
                         help="measure only the K-th of N shares of the models (a CI matrix job); merge the jobs' "
                              "--output folders with --pairs")
    against.add_argument("--shard-costs", type=Path, metavar="RESULTS",
                         help="with --shard: a results file whose times balance the shares (default: equal costs)")
    against.add_argument("--output", type=Path,
                         help="folder for both sides' results, blocks and logs (default results/against/)")
    against.add_argument("--pairs", type=Path, nargs="+", metavar="DIR",
                         help="gate the --output folders of several --against jobs (shards) as one verdict")
    profile = against.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="the quick benchmark profile (default)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full", help="the full profile")
    p.set_defaults(profile="quick")
    add_model_sources(against, model_help="benchmark this native model file (a path in both trees; repeatable)")
    against.add_argument("--models", default="", help="comma-separated zoo models, or names of your own models")
    add_sizes(against)
    against.add_argument("--suite", type=Path, action="append", default=[],
                         help="also run this folder of your own pytest-benchmark tests on both sides (repeatable)")
    against.add_argument("--counts", action="store_true",
                         help="also count instructions per call on both sides (valgrind)")
    p.add_argument("--baseline", type=Path,
                   help="results JSON to compare against, or a folder of baselines, one per machine type "
                        "(the one recorded on this machine type is used)")
    p.add_argument("--record-missing", action="store_true",
                   help="with a --baseline folder that has no baseline for this machine type: record the current "
                        "results as its baseline and exit 0 instead of 2")
    p.add_argument("--current", type=Path, help="results JSON of the run under test, or its folder (the newest file)")
    p.add_argument("--accept", action="store_true",
                   help="accept an intended change: after showing the verdict, record the current results as this "
                        "machine type's baseline (the --baseline file, or its file in the --baseline folder), keeping "
                        "the replaced baseline's facts in its history; exit 0")
    p.add_argument("--why", default="", help="with --accept: the reason, kept in the baseline's history")
    p.add_argument("--force", action="store_true", help="compare even if the machines differ")
    p.add_argument("--all", action="store_true",
                   help="the full text: every benchmark (unchanged ones too), the table and where the work went")
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="the full text for the benchmarks that changed: the table and where the work went")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="output: text (default), markdown (a table for $GITHUB_STEP_SUMMARY) or json")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--save", type=Path, help="also write the verdicts as JSON to this file")
    p.set_defaults(func=gate_command)
    return p


def bench_command(args: argparse.Namespace) -> int:
    import json

    from conversion.app.exit_codes import emit_error
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
    from conversion.app.exit_codes import emit_error
    from conversion.results.benchmark_runs import load_run
    from conversion.results.gate.judge import gate_files
    from conversion.results.gate.table import regression_lines

    try:
        run = run if run is not None else load_run(results)
        chosen = _choose_baseline(baseline, run, record=False)
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


def gate_command(args: argparse.Namespace) -> int:
    from conversion.app.exit_codes import emit_error
    from conversion.results.benchmark_runs import load_run
    from conversion.results.gate.judge import gate_files
    from conversion.results.gate.outcome import outcome_json
    from conversion.results.gate.table import regression_lines, render_markdown, render_outcome

    fmt = "json" if args.json else args.format
    if args.against is not None:
        from conversion.app.gate_against import against_command

        return against_command(args)
    if args.pairs:
        from conversion.app.gate_against import pairs_command

        return pairs_command(args)
    if args.baseline is None or args.current is None:
        return emit_error("gate", "give --against REF (benchmark the merge base and this tree side by side), or "
                          "--baseline and --current (results files)", as_json=args.json)
    try:
        from conversion.results.results_path import results_file

        run = load_run(results_file(args.current))  # parsed once: baseline choice, gate and --accept read it
        baseline = _choose_baseline(args.baseline, run, record=args.record_missing and not args.accept)
        if isinstance(baseline, _Recorded):
            _print_recorded(baseline, fmt)
            return 0
        if isinstance(baseline, str):
            if args.accept:
                return _accept(args.baseline, None, run, why=args.why, fmt=fmt)
            _print_skipped(baseline, fmt)
            return 0
        if args.accept and not baseline.exists():  # a baseline file this machine type never had
            return _accept(baseline, baseline, run, why=args.why, fmt=fmt)
        outcome = gate_files(baseline, run, force=args.force)
    except ResultsError as exc:
        return emit_error("gate", str(exc), as_json=args.json)
    if args.save:
        from conversion.atomic import write_bytes_atomic

        write_bytes_atomic(args.save, outcome_json(outcome).encode())
    if fmt == "json":
        print(outcome_json(outcome))
    elif fmt == "markdown":
        print(render_markdown(outcome, all_rows=args.all), end="")
    else:
        print(render_outcome(outcome, all_rows=args.all, detail=bool(getattr(args, "verbose", 0)),
                             accepted=args.accept))
    if outcome.nothing_compared and not outcome.parity_failures:
        print(f"onnxgate gate: {outcome.nothing_compared}", file=sys.stderr)
    if args.accept:
        return _accept(args.baseline, baseline, run, why=args.why, outcome=outcome, fmt=fmt)
    for line in regression_lines(outcome):  # the end of the output says which benchmarks, and why
        print(line, file=sys.stderr)
    return outcome.exit_code


def _accept(given: Path, baseline: Path | None, run: Any, *, why: str, outcome: Any = None,
            fmt: str = "text") -> int:
    """``gate --accept``: the current run becomes the baseline; says what it accepted and replaced
    (on stdout in text, where the verdict would be; on stderr beside JSON or markdown)."""
    from conversion.results.baseline_choice import accept_baseline, baseline_name, machine_label
    from conversion.results.gate.explain import short_commit

    current = run.path
    target = baseline if baseline is not None else given / baseline_name(run)
    previous = accept_baseline(target, run, why=why)
    stream = sys.stdout if fmt == "text" else sys.stderr
    regressed = sorted({c.key for c in outcome.regressed}) if outcome is not None else []
    if regressed:
        print(f"accepted {len(regressed)} regressed benchmark{'s' * (len(regressed) != 1)}: "
              + ", ".join(regressed[:5]) + (f" and {len(regressed) - 5} more" if len(regressed) > 5 else ""),
              file=stream)
    what = f"onnxgate gate: accepted {current} as the baseline for {machine_label(run.machine)}: {target}"
    if previous is None:
        print(f"{what} (new; there was none for this machine type). Commit it.", file=stream)
    else:
        versions = ", ".join(f"{k} {previous.software[k]}" for k in ("onnxruntime", "onnxgate_commit")
                             if k in previous.software)
        print(f"{what}; it replaced the baseline recorded {previous.datetime} (commit {short_commit(previous.commit)}"
              f"{', ' + versions if versions else ''}), kept in its history ({len(previous.history) + 1} earlier "
              "baseline(s))"
              f"{'' if why else '; say why next time with --why'}. Commit it with this change.", file=stream)
    return 0


class _Recorded(NamedTuple):
    """This run became its machine type's baseline: nothing was gated."""

    path: Path
    machine: str


def _print_recorded(recorded: _Recorded, fmt: str) -> None:
    """Says so on stdout too for json and markdown, so a CI step summary is never silently empty."""
    if fmt == "json":
        import json

        print(json.dumps({"exit_code": 0, "recorded_baseline": str(recorded.path), "machine": recorded.machine,
                          "gated": False}, indent=2))
    elif fmt == "markdown":
        from conversion.results.markdown_text import md_code, md_text

        print(f"### onnxgate gate: baseline recorded\n\nNo baseline for this machine type "
              f"({md_text(recorded.machine)}): this run was recorded as {md_code(recorded.path)} and nothing "
              "was gated. Commit that file (it is in this job's artifact) so later runs on this machine type are "
              "gated.")


def _print_skipped(reason: str, fmt: str) -> None:
    """The one line of a skipped gate, in the format asked for (stdout: it is the verdict)."""
    if fmt == "json":
        import json

        print(json.dumps({"exit_code": 0, "gated": False, "gate_skipped": reason}, indent=2))
    elif fmt == "markdown":
        from conversion.results.markdown_text import md_text

        print(f"### onnxgate gate: ⚠️ skipped\n\n{md_text(reason)}\n")  # it names the results file's machine
    else:
        print(reason)


def _choose_baseline(baseline: Path, run: Any, *, record: bool) -> Path | _Recorded | str:
    """The baseline file to gate ``run`` against, where it was recorded as the machine type's first,
    or (a str) the one line saying why the gate was skipped."""
    from conversion.results.baseline_choice import choose_baseline, machine_label, record_baseline

    if not baseline.is_dir() and baseline.suffix == ".json":
        return baseline  # a baseline file: gate_files says what is wrong with it, if anything
    choice = choose_baseline(baseline, run)
    if choice.path is not None:
        print(f"onnxgate gate: baseline for this machine type: {choice.path}", file=sys.stderr)
        return choice.path
    assert choice.skipped is not None
    if not record:
        return choice.skipped
    baseline.mkdir(parents=True, exist_ok=True)  # a project's first CI run: its baselines folder may not exist yet
    saved = record_baseline(baseline, run)
    machine = machine_label(run.machine)
    print(f"onnxgate gate: no baseline for this machine type, {machine}, in {baseline}: recorded this run as "
          f"{saved}; nothing was gated. Commit that file so later runs on this machine type are gated.",
          file=sys.stderr)
    return _Recorded(saved, machine)
