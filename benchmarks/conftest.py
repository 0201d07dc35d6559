"""onnxgate's pytest-benchmark plugin: options (one ``--onnxgate-*`` group) and hooks only.

Measurement lives in interleave.py, cases in cases.py, storage in results.py, the decision
rule in gate.py; this module wires them into pytest and pytest-benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.cases import PROFILES, cases_for, parse_specs
from benchmarks.fingerprint import fingerprint, usable_providers
from benchmarks.results import SCHEMA_VERSION, percentile
from benchmarks.settings import GATE_REPORT, SETTINGS, Settings, settings_of
from benchmarks.zoo import FRAMEWORKS
from conversion.errors import ResultsError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("onnxgate", "onnxgate benchmarks and regression gate")
    group.addoption("--onnxgate-profile", choices=sorted(PROFILES), default="quick",
                    help="quick: CI subset (small models, batches 1/256/4096); full: everything")
    group.addoption("--onnxgate-frameworks", default=",".join(FRAMEWORKS),
                    help="comma-separated frameworks to benchmark (default: all)")
    group.addoption("--onnxgate-models", default="",
                    help="comma-separated zoo models, e.g. xgboost-synthetic-small (overrides the profile's)")
    group.addoption("--onnxgate-baseline", type=Path, default=None,
                    help="after the run, gate the --benchmark-json results against this baseline file")
    group.addoption("--onnxgate-force", action="store_true",
                    help="gate even if the baseline comes from a different machine")
    group.addoption("--onnxgate-counts", action="store_true",
                    help="also record instructions per call (valgrind callgrind, calling thread only) for the gate")


def pytest_configure(config: pytest.Config) -> None:
    frameworks = tuple(f for f in config.getoption("onnxgate_frameworks").split(",") if f)
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise pytest.UsageError(f"--onnxgate-frameworks: unknown {unknown}; choose from {', '.join(FRAMEWORKS)}")
    models = [m for m in config.getoption("onnxgate_models").split(",") if m]
    try:
        specs = tuple(parse_specs(models)) if models else None
    except ValueError as exc:
        raise pytest.UsageError(f"--onnxgate-models: {exc}") from None
    baseline = config.getoption("onnxgate_baseline")
    if baseline is not None and not config.getoption("benchmark_json", None):
        raise pytest.UsageError("--onnxgate-baseline needs --benchmark-json PATH: the gate reads the saved results")
    counts = bool(config.getoption("onnxgate_counts"))
    if counts:
        from benchmarks.counts import CountsUnavailableError, valgrind

        try:
            valgrind()
        except CountsUnavailableError as exc:
            raise pytest.UsageError(f"--onnxgate-counts: {exc}") from None
    config.stash[SETTINGS] = Settings(
        profile=PROFILES[config.getoption("onnxgate_profile")],
        frameworks=frameworks,
        specs=specs,
        baseline=baseline,
        force=bool(config.getoption("onnxgate_force")),
        counts=counts,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "latency_case" not in metafunc.fixturenames:
        return
    settings = settings_of(metafunc.config)
    cases = cases_for(settings.profile, providers=usable_providers(), specs=settings.specs,
                      frameworks=settings.frameworks)
    metafunc.parametrize("latency_case", cases, ids=[c.id for c in cases])


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    machine_info["onnxgate"] = fingerprint()


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    output_json["onnxgate_schema"] = SCHEMA_VERSION
    output_json["onnxgate_profile"] = settings_of(config).profile.name
    # pytest-benchmark has no percentiles; tail latency is what serving cares about.
    for bench in output_json.get("benchmarks", []):
        data = bench.get("stats", {}).get("data") or []
        if data:
            bench["stats"].update({f"p{q}": percentile(data, q) for q in (50, 90, 99)})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Runs after pytest-benchmark's own sessionfinish wrapper has written --benchmark-json.
    settings = session.config.stash.get(SETTINGS, None)
    if settings is None or settings.baseline is None:
        return
    from benchmarks.gate import gate_files

    current = session.config.getoption("benchmark_json")
    try:
        outcome = gate_files(settings.baseline, current, force=settings.force)
        code, text = outcome.exit_code, outcome.render()
    except ResultsError as exc:
        code, text = 2, f"gate: {exc}"
    session.config.stash[GATE_REPORT] = (code, text)
    if code and session.exitstatus == 0:
        session.exitstatus = code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(GATE_REPORT, None)
    if report is not None:
        terminalreporter.section("onnxgate gate")
        terminalreporter.write_line(report[1])
