"""run_benchmarks: the latency suite in a fresh pytest process, results written as JSON.

A separate process, so the timings never share an interpreter (threads, allocations, imported
frameworks) with whatever called us, e.g. `onnxgate run` training the zoo.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from conversion.atomic import atomic_target
from conversion.bench.cases import PROFILES
from conversion.bench.child_process import run_child
from conversion.bench.progress_bars import PROGRESS_FD
from conversion.bench.zoo import ZooSpec
from conversion.errors import MissingDependencyError, OnnxGateError, ResultsError

__all__ = ["SUITES_DIR", "BenchmarkRunError", "run_benchmarks"]

log = logging.getLogger(__name__)

# The zoo suite ships inside the package, so an installed onnxgate finds it from any directory.
SUITES_DIR = Path(__file__).resolve().parent / "suites"


class BenchmarkRunError(OnnxGateError):
    """Some benchmark tests failed; ``results`` is the file the others wrote."""

    def __init__(self, message: str, *, results: Path) -> None:
        super().__init__(message)
        self.results = results


def _stderr_or_inherit() -> Any:
    """sys.stderr when it is a real file; else None, so the child writes to fd 2 itself (a caller that
    captures stderr in memory, e.g. pytest's capsys, has no file descriptor to hand over)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return sys.stderr


def _output_path(profile: str, output_dir: Path) -> Path:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(
            f"cannot create the output folder {output_dir}: {exc.strerror or exc}; choose another with --output"
        ) from exc
    if not os.access(output_dir, os.W_OK):
        raise ResultsError(f"the output folder {output_dir} is not writable; choose another with --output")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return output_dir / f"bench-{profile}-{stamp}.json"


def run_benchmarks(
    profile: str,
    output_dir: str | os.PathLike[str],
    *,
    specs: Sequence[ZooSpec] | None = None,
    suites: Sequence[str | os.PathLike[str]] = (),
    extra_args: Sequence[str] = (),
    config: str | os.PathLike[str] | None = None,
    models: Sequence[str | os.PathLike[str]] = (),
    progress: IO[str] | None = None,
) -> Path:
    """Runs the benchmark suite with ``profile`` ("quick" or "full") and returns the results file.

    ``specs`` limits the run to those zoo models; ``suites`` are more test files or folders to
    run in the same session, with the plugin (a project's own benchmarks); ``extra_args`` go to
    pytest as they are (e.g. ``["--onnxgate-frameworks", "xgboost"]``). pytest's output goes to stderr.
    ``config`` (a ``[tool.onnxgate]`` file) and ``models`` (native model files) replace the zoo with
    the user's models, measured by the same suite. ``progress``: a terminal the child draws its
    progress bars on (progress_bars.terminal_of), or None for none.
    """
    for module, dist in (("pytest", "pytest"), ("pytest_benchmark", "pytest-benchmark")):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(dist, "bench", "run the benchmark suites")
    if profile not in PROFILES:
        raise OnnxGateError(f"unknown benchmark profile {profile!r}; choose one of {', '.join(sorted(PROFILES))}")
    # Resolved here, against the caller's directory, before pytest runs anywhere else.
    out = _output_path(profile, Path(output_dir)).resolve()
    extra_suites = [Path(s).resolve() for s in suites]
    missing = [str(s) for s in extra_suites if not s.exists()]
    if missing:
        raise OnnxGateError(f"benchmark suite(s) {', '.join(missing)} do not exist; pass existing files or folders")
    # pytest-benchmark opens --benchmark-json when it starts and fills it when it ends; a kill
    # in between would leave an empty bench-*.json. It writes a temp file, renamed when done.
    with atomic_target(out) as tmp:
        # -P keeps the current directory off sys.path (its own `benchmarks` or `reports` package must
        # not shadow anything); -c/--rootdir make the suite's own pytest.ini the only configuration,
        # so the caller's conftest.py and test-only packages (hypothesis) play no part.
        cmd = [
            sys.executable, "-P", "-m", "pytest", str(SUITES_DIR), *map(str, extra_suites),
            "-c", str(SUITES_DIR / "pytest.ini"), "--rootdir", str(SUITES_DIR),
            "-p", "no:cacheprovider", "-q", "--color=no",
            # pytest-benchmark's tables and its "Wrote benchmark data in <temp file>" line: the
            # command ends with one line per model and the results path instead (bench_summary.py).
            "--benchmark-quiet",
            f"--onnxgate-profile={profile}",
            f"--benchmark-json={tmp}",
        ]
        # Absolute paths: the child runs with the suite's rootdir, and the user's paths mean their directory.
        if config is not None:
            cmd.append(f"--onnxgate-config={Path(config).resolve()}")
        cmd += [f"--onnxgate-model={Path(m).resolve()}" for m in models]
        if specs and config is None and not models:
            cmd.append("--onnxgate-models=" + ",".join(s.name for s in specs))
        cmd += list(extra_args)
        log.info("running the %s benchmark profile: %s", profile, " ".join(cmd))
        # A pytest-xdist worker's variables (PYTEST_XDIST_WORKER...) would switch pytest-benchmark
        # off in the child run, which then writes no results.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        # Native models run on one thread, as the zoo's are trained to: the native clock is the
        # calling thread's CPU time, and a user's LightGBM or XGBoost file left at "all cores"
        # spins OpenMP threads whose time it misses and whose contention on a shared runner
        # moved one unchanged model's native p50 from 0.3 to 13 ms between two runs. ONNX
        # Runtime's own thread pool (the t1/tN cases) does not read this variable.
        env["OMP_NUM_THREADS"] = "1"
        stream = _stderr_or_inherit()
        bars = os.dup(progress.fileno()) if progress is not None else None
        if bars is not None:
            env[PROGRESS_FD] = str(bars)
        try:
            code = run_child(cmd, env=env, stdout=stream, stderr=stream, pass_fds=() if bars is None else (bars,))
        finally:
            if bars is not None:
                os.close(bars)
        if code == 5 or not tmp.is_file() or tmp.stat().st_size == 0:
            what = {5: "no benchmark was collected",
                    0: "every selected benchmark was skipped: the SKIPPED lines say why"}.get(
                        code, f"pytest exited with code {code}")
            raise ResultsError(f"the {profile} benchmark run wrote no results to {out} ({what}); see its output above")
    if code != 0:
        raise BenchmarkRunError(
            f"some benchmark tests of the {profile} run failed (pytest exit code {code}); their output "
            f"above says which and why. The results of the others are in {out}",
            results=out,
        )
    log.info("results written to %s", out)
    return out

