"""onnxgate's pytest-benchmark plugin: options (one ``--onnxgate-*`` group) and hooks only.

Measurement lives in interleave.py, cases in cases.py, storage in results.py, the decision
rule in results/gate/; this module wires them into pytest and pytest-benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conversion.bench.cases import PROFILES, cases_for, parse_specs
from conversion.bench.config import BenchConfig, load_config, only_models, with_models
from conversion.bench.fingerprint import fingerprint, usable_providers
from conversion.bench.fixtures import onnxgate_latency  # noqa: F401  (a plugin module's fixtures are registered)
from conversion.bench.settings import ACTIVE, GATE_REPORT, SETTINGS, Settings, settings_of
from conversion.bench.user_models import user_specs
from conversion.bench.zoo import FRAMEWORKS
from conversion.errors import ConfigError, ResultsError
from conversion.results.benchmark_runs import SCHEMA_VERSION
from conversion.runtime.timing import latency_percentiles


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("onnxgate", "onnxgate benchmarks and regression gate")
    # default None, not "quick": giving the option is what says the session uses onnxgate
    group.addoption("--onnxgate-profile", choices=sorted(PROFILES), default=None,
                    help="quick (default): CI subset (small models, batches 1/256/4096); full: everything")
    group.addoption("--onnxgate-frameworks", default=",".join(FRAMEWORKS),
                    help="comma-separated frameworks to benchmark (default: all)")
    group.addoption("--onnxgate-models", default="",
                    help="comma-separated zoo models, e.g. xgboost-synthetic-small (overrides the profile's)")
    group.addoption("--onnxgate-baseline", type=Path, default=None,
                    help="after the run, gate the --benchmark-json results against this baseline file")
    group.addoption("--onnxgate-force", action="store_true",
                    help="gate even if the baseline comes from a different machine")
    group.addoption("--onnxgate-config", type=Path, default=None,
                    help="benchmark the models of this [tool.onnxgate] config (a pyproject.toml or TOML file) "
                         "instead of the zoo; its batch_sizes, providers and threads override the profile's")
    group.addoption("--onnxgate-model", type=Path, action="append", default=[],
                    help="benchmark this native model file too, named by its file stem (repeatable)")
    group.addoption("--onnxgate-batches", default="",
                    help="comma-separated batch sizes, instead of the profile's (and a config's batch_sizes)")
    group.addoption("--onnxgate-threads", default="",
                    help="comma-separated ONNX Runtime thread counts, instead of 1 and all cores (and a config's)")
    group.addoption("--onnxgate-rounds-share", type=float, default=1.0,
                    help="run this share (0-1] of the profile's rounds: one block of a side of `gate --against`")
    group.addoption("--onnxgate-counts", action="store_true",
                    help="also record instructions per call (valgrind callgrind, calling thread only) for the gate")


def pytest_configure(config: pytest.Config) -> None:
    frameworks = tuple(f for f in config.getoption("onnxgate_frameworks").split(",") if f)
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise pytest.UsageError(f"--onnxgate-frameworks: unknown {unknown}; choose from {', '.join(FRAMEWORKS)}")
    models = [m for m in config.getoption("onnxgate_models").split(",") if m]
    user = _user_config(config)
    try:
        # With the user's models, --onnxgate-models picks among them (a CI shard's share); else zoo models.
        specs = tuple(parse_specs(models)) if models and not user.models else None
        user = only_models(user, models) if models and user.models else user
    except (ValueError, ConfigError) as exc:
        raise pytest.UsageError(f"--onnxgate-models: {exc}") from None
    baseline = config.getoption("onnxgate_baseline")
    if baseline is not None and not config.getoption("benchmark_json", None):
        raise pytest.UsageError("--onnxgate-baseline needs --benchmark-json PATH: the gate reads the saved results")
    counts = bool(config.getoption("onnxgate_counts"))
    if counts:
        from conversion.bench.counts import CountsUnavailableError, valgrind

        try:
            valgrind()
        except CountsUnavailableError as exc:
            raise pytest.UsageError(f"--onnxgate-counts: {exc}") from None
    used = (baseline is not None or counts or bool(user.models) or bool(config.getoption("onnxgate_force"))
            or config.getoption("onnxgate_profile") is not None)
    config.stash[ACTIVE] = used or config.stash.get(ACTIVE, False)
    share = float(config.getoption("onnxgate_rounds_share"))
    if not 0.0 < share <= 1.0:
        raise pytest.UsageError(f"--onnxgate-rounds-share: {share} is not in (0, 1]")
    batches, threads = _sizes(config, "onnxgate_batches"), _sizes(config, "onnxgate_threads")
    profile = (PROFILES[config.getoption("onnxgate_profile") or "quick"].with_batches(batches or user.batch_sizes)
               .share(share))
    config.stash[SETTINGS] = Settings(
        profile=profile,
        frameworks=frameworks,
        specs=user_specs(user) if user.models else specs,
        baseline=baseline,
        force=bool(config.getoption("onnxgate_force")),
        providers=user.providers,
        threads=threads or user.threads,
        counts=counts,
    )


def _sizes(config: pytest.Config, option: str) -> tuple[int, ...] | None:
    """A comma-separated list of positive integers (--onnxgate-batches, --onnxgate-threads), or None."""
    text = config.getoption(option)
    if not text:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise pytest.UsageError(f"--{option.replace('_', '-')}: {text!r} is not a comma-separated list of positive "
                                "integers, e.g. 1,256")
    return values


def _user_config(config: pytest.Config) -> BenchConfig:
    """--onnxgate-config and --onnxgate-model; an empty config (the zoo) when neither is given."""
    path, models = config.getoption("onnxgate_config"), config.getoption("onnxgate_model") or []
    if path is None and not models:
        return BenchConfig()
    try:
        return with_models(load_config(path) if path is not None else BenchConfig(), models)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _providers(settings: Settings) -> list[str]:
    usable = usable_providers()
    if settings.providers is None:
        return usable
    chosen = [p for p in settings.providers if p in usable]
    if not chosen:
        # One config serves CPU and GPU runners; a runner with none of its providers measures nothing.
        raise pytest.UsageError(f"none of the configured providers {', '.join(settings.providers)} is available "
                                f"in this onnxruntime build (it has {', '.join(usable)})")
    return chosen


def _active(config: pytest.Config) -> bool:
    """Whether this session uses onnxgate: its suite collected, or one of its options given.

    The entry point loads this plugin into every pytest session where onnxgate is installed; a
    session that does not use it must run, and write its benchmark JSON, exactly as without it.
    """
    return config.stash.get(ACTIVE, False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "latency_case" not in metafunc.fixturenames:
        return
    metafunc.config.stash[ACTIVE] = True
    settings = settings_of(metafunc.config)
    cases = cases_for(settings.profile, providers=_providers(settings), specs=settings.specs,
                      frameworks=settings.frameworks, threads=settings.threads)
    metafunc.parametrize("latency_case", cases, ids=[c.id for c in cases])


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hooks: a session without it loads this plugin too
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    if _active(config):
        machine_info["onnxgate"] = fingerprint()


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    if not _active(config):
        return
    output_json["onnxgate_schema"] = SCHEMA_VERSION
    output_json["onnxgate_profile"] = settings_of(config).profile.name
    if settings_of(config).counts:  # the onnxgate_latency fixture's rows, counted now that timing is over
        from conversion.bench.counts_session import count_fixture_rows

        count_fixture_rows(config, output_json.get("benchmarks", []))
    # pytest-benchmark has no percentiles; tail latency is what serving cares about.
    for bench in output_json.get("benchmarks", []):
        data = bench.get("stats", {}).get("data") or []
        if data:
            bench["stats"].update(latency_percentiles(data))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Runs after pytest-benchmark's own sessionfinish wrapper has written --benchmark-json.
    settings = session.config.stash.get(SETTINGS, None)
    if settings is None or settings.baseline is None:
        return
    from conversion.results.gate.judge import gate_files
    from conversion.results.gate.table import regression_lines, render_outcome

    current = session.config.getoption("benchmark_json")
    try:
        outcome = gate_files(settings.baseline, current, force=settings.force)
        code, text = outcome.exit_code, "\n".join([render_outcome(outcome), *regression_lines(outcome)])
    except ResultsError as exc:
        code, text = 2, f"gate: {exc}"
    session.config.stash[GATE_REPORT] = (code, text)
    if code and session.exitstatus == 0:
        session.exitstatus = code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from conversion.bench.counts_session import uncounted_lines

    uncounted = uncounted_lines(config)
    if uncounted:
        terminalreporter.section("onnxgate counts")
        for line in uncounted:
            terminalreporter.write_line(line)
    report = config.stash.get(GATE_REPORT, None)
    if report is not None:
        terminalreporter.section("onnxgate gate")
        terminalreporter.write_line(report[1])


_BAR = pytest.StashKey[Any]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if _active(session.config):
        from conversion.bench.progress_bars import bar

        session.config.stash[_BAR] = bar(len(session.items), "benchmarks", "test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    progress = item.config.stash.get(_BAR, None)
    if progress is not None:  # the test about to run, so a long one (counting, cold start) is named
        progress.set_postfix_str(item.name.partition("[")[2].rstrip("]") or item.name, refresh=True)
    yield
    if progress is not None:
        progress.update(1)
        if nextitem is None:
            progress.close()
