"""`onnxgate run`: from models to a self-contained report.

With no model file it trains the embedded default zoo (every framework on the bundled and
synthetic datasets), converts each model along both converter paths, checks parity on clean,
NaN and categorical rows, runs the benchmark profile, and writes
``reports/<timestamp>/index.html`` with ``run.json`` and the plots beside it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conversion.app.progress import Progress
from conversion.bench.config import BenchConfig
from conversion.bench.zoo import CATEGORICAL, DATASETS
from conversion.converter.frameworks import framework_names
from conversion.errors import OnnxGateError
from conversion.parity.matrix import Attempt, Subject, attempt_conversion, cold_costs, parity_cells
from conversion.report.build import build_report, check_writable
from conversion.report.manifest import environment_manifest
from conversion.results.benchmark_runs import Record, Run, load_run
from conversion.results.gate.summary import gate_summary
from conversion.results.run_results import RunResult, save_run

__all__ = ["JobOptions", "JobOutcome", "default_output", "run_job", "zoo_subjects"]

log = logging.getLogger(__name__)

ZOO_DATASETS = tuple(DATASETS)  # synthetic, the bundled ones, and categorical codes
LATENCY_SUITE = "test_latency"  # the benchmarks' latency test, whose records the report reads

FRAMEWORKS = framework_names()


@dataclass
class JobOptions:
    profile: str = "quick"  # "quick" | "full"
    output: Path | None = None
    frameworks: tuple[str, ...] = FRAMEWORKS
    datasets: tuple[str, ...] = ZOO_DATASETS
    subjects: list[Subject] | None = None  # a user's model instead of the zoo
    baseline: Path | None = None
    upstream: bool = True
    benchmarks: bool = True  # the benchmark profile (conversion.bench.runner), the one latency measurement
    variants: bool = True  # each converted model's variants table (optimization levels, INT8, float16)
    bench_user: BenchConfig | None = None  # the user's models, command-line flags applied, for the benchmark run
    progress: bool = True
    given: dict[str, Any] = field(default_factory=dict)  # subject name -> ConvertedModel from --onnx
    notes: list[str] = field(default_factory=list)  # for the report, from the command line's choices


@dataclass
class JobOutcome:
    index: Path
    results_file: Path
    result: RunResult
    gate: dict[str, Any] | None = None
    gate_error: str | None = None  # the gate refused to compare (bad or foreign baseline): an input error
    bench_error: str | None = None  # the benchmark profile failed for models that converted: no latency to trust

    @property
    def parity_failed(self) -> bool:
        """A conversion onnxgate produced that computes something else (refusals are not failures)."""
        return any(c["status"] in ("wrong", "error") and c["path"] in ("onnxgate", "given") and not c.get("issue")
                   for c in self.result.parity)

    @property
    def exit_code(self) -> int:
        if self.gate_error:
            return 2
        gate_failed = self.gate is not None and not self.gate.get("passed", True)
        return 1 if self.parity_failed or gate_failed or self.bench_error else 0


def default_output(root: Path = Path("reports")) -> Path:
    return root / dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def zoo_subjects(
    frameworks: Iterable[str], datasets: Iterable[str], sizes: Iterable[str]
) -> Iterable[Callable[[], Subject]]:
    """Lazy builders, so training happens inside the progress loop and one failure stays one cell."""
    from conversion.bench.zoo import build, dense_specs, zoo_specs

    frameworks, datasets = tuple(frameworks), tuple(datasets)
    dense = dense_specs(datasets) if "sklearn" in frameworks else []
    for spec in [*zoo_specs(frameworks=frameworks, datasets=datasets, sizes=tuple(sizes)), *dense]:
        def make(spec=spec) -> Subject:
            zm = build(spec)
            kind = "categorical" if spec.dataset in CATEGORICAL else "clean"
            return Subject(zm.name, spec.framework, spec.dataset, zm.task, zm.model, zm.X, data_kind=kind, y=zm.y)
        make.__name__ = spec.name
        yield make


def _first_per_kind(subjects: list[Subject]) -> list[Subject]:
    """One model per framework and data kind, the first of each (with the default zoo: each
    framework's synthetic and categorical model, the ones `onnxgate bench --quick` measures)."""
    chosen: dict[tuple[str, str], Subject] = {}
    for subject in subjects:
        chosen.setdefault((subject.framework, subject.data_kind), subject)
    return list(chosen.values())


# Which converted zoo models each profile's benchmark measures: quick, a first look, one per
# framework and data kind; full, every one (why and what it costs: docs/loops.md).
LATENCY_MODELS: dict[str, Callable[[list[Subject]], list[Subject]]] = {"quick": _first_per_kind, "full": list}


def _evaluate(subject: Subject, opts: JobOptions) -> tuple[dict[str, Any], list[dict[str, Any]], Attempt | None]:
    """Converts along each path and checks parity; returns the model row, its cells and the usable conversion."""
    given = opts.given.get(subject.name)
    primary = Attempt("given", given, 0.0) if given is not None else attempt_conversion(subject, "onnxgate")
    attempts = [primary]
    if given is not None:
        attempts.append(attempt_conversion(subject, "onnxgate"))
    if opts.upstream:
        attempts.append(attempt_conversion(subject, "upstream"))
    cells = [cell for a in attempts for cell in parity_cells(subject, a)]
    row: dict[str, Any] = {"name": subject.name, "framework": subject.framework, "dataset": subject.dataset,
                           "task": subject.task, "kind": subject.data_kind, "conversion_status": primary.status,
                           "conversion_reason": primary.reason}
    if primary.converted is not None:
        row["conversion_seconds"] = primary.seconds if given is None else None
        try:
            row.update(cold_costs(primary.converted, subject.X))
        except Exception as exc:  # a session that cannot be created is a finding, not a crash
            row["conversion_status"], row["conversion_reason"] = "error", f"{type(exc).__name__}: {exc}"
            return row, cells, None
        if opts.variants and given is None:
            row["variants"] = _variants(subject, opts.profile)
    return row, cells, primary if primary.converted is not None else None


def _variants(subject: Subject, profile: str) -> dict[str, Any] | None:
    """The model's variants table (conversion.parity.variants_table), or None if it cannot be measured."""
    from conversion.parity.variants_table import variants_table

    rounds, creations = (15, 7) if profile == "quick" else (30, 11)
    try:
        return variants_table(subject.model, subject.X, subject.y, rounds=rounds, creations=creations)
    except OnnxGateError as exc:  # e.g. rows a variant refuses: the table is missing, the job goes on
        log.warning("no variants table for %s: %s", subject.name, exc)
        return None


def _benchmark_profile(profile: str, folder: Path, opts: JobOptions,
                       zoo_models: list[str]) -> tuple[Run | None, str, str | None]:
    """Runs the benchmarks' profile through conversion.bench.runner: (its results, parsed once, a
    note for the report, and the failure that makes the run exit non-zero, if any).

    ``zoo_models`` are the models this run converted: the benchmark run measures those (a
    user's come from ``opts.bench_user``, written for the child as a config file). No results when
    the runner is absent or failed: the report then says latency was not measured.
    """
    if opts.subjects is None and not zoo_models:
        return None, "no zoo model converted, so latency was not measured", None
    try:
        from conversion.bench.runner import run_benchmarks
    except ImportError as exc:
        log.warning("the benchmark runner is not available (%s); latency is not measured", exc)
        return None, f"the benchmark runner is not available ({exc}), so latency was not measured", None
    # The report reads the latency suite only; the other benchmark suites (routing, conversion
    # speed, engine overhead) are `onnxgate bench`'s business and would double the run's time.
    extra = ["-k", LATENCY_SUITE]
    if opts.subjects is None:  # the same zoo models as the report's rows, whatever the datasets
        extra += ["--onnxgate-models", ",".join(zoo_models)]
    config = None
    if opts.bench_user is not None:
        from conversion.bench.config import write_config

        config = write_config(opts.bench_user, folder / "models.toml")
    try:
        from conversion.bench.progress_bars import terminal_of

        returned = run_benchmarks(profile, folder, extra_args=extra, config=config,
                                  progress=terminal_of(opts.progress))
    except OnnxGateError as exc:  # the report is still written; the exit code says latency failed
        # A model that did not convert is the report's finding, not a benchmark failure.
        failure = f"the {profile} benchmark profile failed: {exc}" if zoo_models else None
        partial = getattr(exc, "results", None)  # the runner keeps what the other benchmarks wrote
        if partial is not None and Path(partial).is_file():
            note = (f"some benchmarks of the {profile} profile failed ({exc}); "
                    f"latency from the others ({Path(partial).name})")
            return load_run(Path(partial)), note, failure
        return None, f"the {profile} benchmark profile failed, so latency was not measured: {exc}", failure
    path = Path(returned) if isinstance(returned, str | Path) else None
    if path is None or not path.is_file():
        found = sorted(folder.glob("**/*.json"), key=lambda p: p.stat().st_mtime)
        path = found[-1] if found else None
    if path is None:
        log.warning("the benchmark runner wrote no results file into %s", folder)
        note = f"the {profile} benchmark profile wrote no results file, so latency was not measured"
        return None, note, note if zoo_models else None
    return load_run(path), f"latency from the {profile} benchmark profile ({path.name})", None


def run_job(opts: JobOptions) -> JobOutcome:
    output = check_writable(opts.output or default_output())
    started = time.monotonic()
    manifest = environment_manifest()
    if opts.subjects is not None:
        makers: list[Callable[[], Subject]] = [lambda s=s: s for s in opts.subjects]
    else:
        sizes = ("small",) if opts.profile == "quick" else ("small", "large")
        makers = list(zoo_subjects(opts.frameworks, opts.datasets, sizes))
    progress = Progress(len(makers), "convert+parity", enabled=opts.progress)
    models, cells, usable = [], [], []
    notes: list[str] = list(opts.notes)
    for make in makers:
        name = getattr(make, "__name__", "model")
        try:
            subject = make()
        except Exception as exc:  # a model that cannot be trained is reported, not fatal
            log.warning("could not build %s: %s", name, exc)
            notes.append(f"{name} could not be trained: {type(exc).__name__}: {exc}")
            progress.step(f"{name}: not built")
            continue
        row, subject_cells, attempt = _evaluate(subject, opts)
        models.append(row)
        cells += subject_cells
        if attempt is not None:
            usable.append((subject, attempt))
        progress.step(f"{subject.name}: {row['conversion_status']}")
    latency: list[Record] = []
    bench_run: Run | None = None
    bench_error: str | None = None
    converted = [s for s, _ in usable]
    # a user's models are all measured (the benchmark child reads them from their files)
    measured = {s.name for s in (converted if opts.subjects is not None else LATENCY_MODELS[opts.profile](converted))}
    if opts.benchmarks:
        progress.message(f"running the {opts.profile} benchmark profile ...")
        bench, note, bench_error = _benchmark_profile(opts.profile, output / "bench", opts,
                                                      [s.name for s in converted if s.name in measured])
        notes.append(note)
        skipped = [s.name for s in converted if s.name not in measured]
        if skipped:
            notes.append(f"the {opts.profile} profile measures latency for one model per framework and data kind; "
                         f"--full also measures {', '.join(skipped)}")
        if bench is not None:
            latency += bench.records
            bench_run = bench
    else:
        notes.append("latency not measured (--no-bench)")
    covered = {r.model for r in latency}
    unmeasured = [s.name for s in converted if s.name in measured and s.name not in covered]
    if opts.benchmarks and unmeasured:  # the benchmark run skipped or failed them: say so, never guess
        notes.append(f"no latency for {', '.join(unmeasured)}: the benchmark profile measured none")
    gate, gate_error = None, None
    if opts.baseline is not None:
        if bench_run is None:
            gate_error = ("no gate verdict: --baseline needs the benchmark profile's results file, "
                          "which this run did not produce")
        else:
            try:
                gate = gate_summary(opts.baseline, bench_run)
            except OnnxGateError as exc:  # e.g. a baseline from another machine: keep the report, say why
                gate_error = f"no gate verdict: {exc}"
        if gate_error:
            notes.append(gate_error)
    notes.append(f"onnxgate run --{opts.profile} took {time.monotonic() - started:.0f} s")
    result = RunResult(source=str(output / "run.json"), created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                       manifest=manifest, profile=opts.profile, models=models, parity=cells, latency=latency,
                       gate=gate, notes=notes)
    results_file = save_run(result, output / "run.json")
    index = build_report([result], output, gate=gate)
    return JobOutcome(index, results_file, result, gate, gate_error, bench_error)
