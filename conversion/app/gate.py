"""`onnxgate gate`: judge a results file against a baseline (or, in gate_against.py, against the merge base).

Exit codes: 0 no regression, 1 a parity or performance regression, 2 bad input (missing,
malformed, empty or other-schema results; a refused machine comparison; no benchmark in both
files, so nothing was compared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

from conversion.app.model_sources import add_model_sources, add_sizes
from conversion.app.output import FORMATTER, emit_error
from conversion.errors import ResultsError

__all__ = ["choose_baseline", "command", "register"]

_GATE_EXAMPLES = """examples:
  onnxgate gate --baseline benchmarks/baselines/ --current results/   # the newest results file in it
  onnxgate gate --baseline B.json --current C.json --force --all   # other machine, every row
  onnxgate gate --baseline benchmarks/baselines/ --current C.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  onnxgate gate --baseline benchmarks/baselines/ --current C.json --accept --why "churn retrained, 3x trees"

exit codes: 0 no regression, 1 parity or performance regression, 2 bad input, refused comparison,
or nothing compared (no benchmark is in both files)
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gate", help="compare results with a baseline: parity and performance verdicts",
        description="Fails (exit 1) when parity broke, when a benchmark's interleaved time ratio rose "
                    "significantly (Mann-Whitney) and by more than its class's minimum effect, or (results "
                    "from `bench --counts`) when its instructions or estimated cycles per call rose 3% or more.",
        epilog=_GATE_EXAMPLES, formatter_class=FORMATTER,
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
    p.set_defaults(func=command)
    return p


def command(args: argparse.Namespace) -> int:
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
        baseline = choose_baseline(args.baseline, run, record=args.record_missing and not args.accept)
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
    regressed = sorted({str(c.key) for c in outcome.regressed}) if outcome is not None else []
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


def choose_baseline(baseline: Path, run: Any, *, record: bool) -> Path | _Recorded | str:
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
