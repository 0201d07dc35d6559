"""The developer experiments in benchmarks/proof/ run from a checkout as documented, outside the package."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# module -> the command its --help names (prove_counts and prove_blind are modes of prove_gate)
EXPERIMENTS = {"prove_gate": "prove_gate", "prove_counts": "prove_gate", "prove_blind": "prove_gate",
               "drift": "drift", "provider_latency": "provider_latency", "screenshot": "screenshot"}
DOCUMENTED_IN = ("README.md", "benchmarks/README.md", "noxfile.py", *(p.relative_to(ROOT).as_posix()
                                                                      for p in sorted(ROOT.glob("docs/*.md"))))


@pytest.mark.parametrize(("module", "command"), EXPERIMENTS.items(), ids=list(EXPERIMENTS))
def test_each_experiment_runs_as_documented_from_the_checkout(module: str, command: str) -> None:
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.proof.{module}", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python -m benchmarks.proof.{command}")


def _documented_modules() -> list[tuple[str, str]]:
    found = []
    for name in DOCUMENTED_IN:
        text = (ROOT / name).read_text(encoding="utf-8")
        found += [(name, m) for m in re.findall(r'-m[\s",]+((?:benchmarks|conversion)\.[\w.]+\w)', text)]
    return found


def test_every_documented_python_m_command_names_a_module_that_exists() -> None:
    found = _documented_modules()
    assert any(m == "benchmarks.proof.prove_gate" for _, m in found)  # the reader finds the commands
    missing = [f"{where}: python -m {m}" for where, m in found if importlib.util.find_spec(m) is None]
    assert missing == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_prove_counts_hooks_import_in_the_counting_worker() -> None:
    # prove_counts names its hooks as "benchmarks.proof.prove_counts:..."; the valgrind worker
    # runs in another process and must import them from the checkout.
    from benchmarks.proof.prove_counts import calibrate_work

    per_element, fixed = calibrate_work()
    assert 0 < per_element < 100 and fixed > 0
