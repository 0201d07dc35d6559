"""run_benchmarks: the latency suite in a fresh pytest process, results written as JSON.

A separate process, so the timings never share an interpreter (threads, allocations, imported
frameworks) with whatever called us, e.g. `onnxgate run` training the zoo.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.cases import PROFILES
from benchmarks.zoo import ZooSpec
from conversion.errors import OnnxGateError, ResultsError

__all__ = ["BENCHMARKS_DIR", "BenchmarkRunError", "register", "run_benchmarks"]

log = logging.getLogger(__name__)

BENCHMARKS_DIR = Path(__file__).resolve().parent


class BenchmarkRunError(OnnxGateError):
    """Some benchmark tests failed; ``results`` is the file the others wrote."""

    def __init__(self, message: str, *, results: Path) -> None:
        super().__init__(message)
        self.results = results


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
    extra_args: Sequence[str] = (),
) -> Path:
    """Runs the benchmark suite with ``profile`` ("quick" or "full") and returns the results file.

    ``specs`` limits the run to those zoo models; ``extra_args`` go to pytest as they are
    (e.g. ``["--onnxgate-frameworks", "xgboost"]``). pytest's output goes to stderr.
    """
    if profile not in PROFILES:
        raise OnnxGateError(f"unknown benchmark profile {profile!r}; choose one of {', '.join(sorted(PROFILES))}")
    out = _output_path(profile, Path(output_dir))
    cmd = [
        sys.executable, "-m", "pytest", str(BENCHMARKS_DIR),
        "-p", "no:cacheprovider", "-q", "--color=no",
        f"--onnxgate-profile={profile}",
        f"--benchmark-json={out}",
    ]
    if specs:
        cmd.append("--onnxgate-models=" + ",".join(s.name for s in specs))
    cmd += list(extra_args)
    log.info("running the %s benchmark profile: %s", profile, " ".join(cmd))
    # A pytest-xdist worker's variables (PYTEST_XDIST_WORKER...) would switch pytest-benchmark
    # off in the child run, which then writes no results.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(cmd, cwd=BENCHMARKS_DIR.parent, env=env, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if proc.returncode == 5 or not out.exists():
        what = "no benchmark was collected" if proc.returncode == 5 else f"pytest exited with code {proc.returncode}"
        raise ResultsError(f"the {profile} benchmark run wrote no results to {out} ({what}); see its output above")
    if proc.returncode != 0:
        raise BenchmarkRunError(
            f"some benchmark tests of the {profile} run failed (pytest exit code {proc.returncode}); their output "
            f"above says which and why. The results of the others are in {out}",
            results=out,
        )
    log.info("results written to %s", out)
    return out


def register(subparsers: object) -> object:
    """Adds `onnxgate bench` (conversion/cli.py calls this)."""
    from benchmarks.cli_commands import register_bench

    return register_bench(subparsers)
