"""nox sessions for environments the main venv cannot host.

``onnxruntime-openvino`` ships its own ``onnxruntime`` module, so it cannot live beside the
stock wheel: this session builds a separate venv, runs the engine tests there and measures
latency per provider (``nox -s openvino``). ``nox -s latest`` tries the newest releases,
``nox -s lowest`` the floors pyproject.toml declares (docs/versions.md). ``nox -s nightly`` runs the
test suite with the exhaustive hypothesis examples the 8-minute loop leaves out (docs/loops.md).
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = []  # nothing runs by accident; name the session

# Everything onnxgate's runtime and engine tests need, except the stock onnxruntime wheel.
_RUNTIME_DEPS = ["numpy>=1.26", "onnx>=1.16", "filelock>=3.13", "pytest>=8", "hypothesis>=6.100"]
_FRAMEWORKS = ["xgboost>=2.0", "lightgbm>=4.0", "catboost>=1.2", "scikit-learn>=1.4", "skops>=0.10", "skl2onnx>=1.17"]


@nox.session(python="3.11")
def openvino(session: nox.Session) -> None:
    """Engine tests and a CPU vs OpenVINO latency measurement with onnxruntime-openvino."""
    session.install("onnxruntime-openvino", *_RUNTIME_DEPS, *_FRAMEWORKS)
    # --no-deps: the project's dependency on `onnxruntime` would replace the OpenVINO build.
    session.install("--no-deps", "-e", ".")
    session.run("python", "-c", "import onnxruntime as o; print(o.__version__, o.get_available_providers())")
    session.run("pytest", "-x", "-q", "-p", "no:cacheprovider", "tests/test_engine.py", *session.posargs)
    session.run("python", "-m", "benchmarks.proof.provider_latency", "--providers", "CPUExecutionProvider",
                "OpenVINOExecutionProvider", "--frameworks", "xgboost", "lightgbm", "catboost", "sklearn",
                "--json", str(session.create_tmp() + "/provider_latency.json"))


# --- latest: the newest upstream releases against the pinned baseline (benchmarks issue) ---

_PINNED_BASELINE = "benchmarks/baselines/"  # a folder: the gate picks the baseline of this machine type


def _parity_bench_gate(session: nox.Session, label: str) -> str:
    """Parity suite, quick benchmark, gate against the pinned baseline; returns the gate JSON path."""
    from pathlib import Path

    out = Path(session.create_tmp()) / label
    # A parity failure is what `latest` exists to find: record it, keep going to the gate.
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_parity.py", success_codes=[0, 1])
    # With valgrind, also instruction counts: they compare across library versions directly, so an
    # upgrade that does more work per call shows as a per-row counts delta against a --counts baseline.
    import shutil

    counts = ["--counts"] if shutil.which("valgrind") else []
    session.run("onnxgate", "bench", "--quick", *counts, "--suite", "benchmarks", "--output", str(out))
    results = sorted(out.glob("bench-*.json"))[-1]
    verdicts = out / "gate.json"
    session.run("onnxgate", "gate", "--baseline", _PINNED_BASELINE,
                "--current", str(results), "--save", str(verdicts), success_codes=[0, 1, 2])
    return str(verdicts)


@nox.session(python="3.11")
def latest(session: nox.Session) -> None:
    """Newest releases of every framework, converter and onnxruntime: parity suite and gate vs the pins.

    ``nox -s latest`` upgrades everything at once and lists, per failure, the upgraded packages
    on its path. ``nox -s latest -- one-at-a-time`` upgrades one package per step from the pins,
    which attributes each change to exactly one upgrade (slower: one quick benchmark per package).
    """
    if "one-at-a-time" in session.posargs:
        session.install("-c", "constraints.txt", "-e", ".[test]")
        listed = session.run("python", "-m", "benchmarks.proof.drift", "--list", silent=True) or ""
        for dist in listed.split():
            session.install("-c", "constraints.txt", "-e", ".[test]")
            session.install("--upgrade", dist)
            verdicts = _parity_bench_gate(session, dist)
            session.run("python", "-m", "benchmarks.proof.drift", "--only", dist, "--gate-json", verdicts)
        return
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]")
    verdicts = _parity_bench_gate(session, "all")
    session.run("python", "-m", "benchmarks.proof.drift", "--gate-json", verdicts)


# --- lowest: every dependency at the floor pyproject.toml declares (issue 21) ---


def _refused(junit: str) -> list[str]:
    """Node ids of the tests a junit report shows skipped by the engine's onnxruntime refusal."""
    import xml.etree.ElementTree as ET

    ids = []
    for case in ET.parse(junit).iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None and "needs onnxruntime >=" in (skipped.get("message") or ""):
            ids.append(case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", ""))
    return ids


@nox.session(python="3.11")
def lowest(session: nox.Session) -> None:
    """The floors of pyproject.toml (constraints-lowest.txt): parity suite and load-time check.

    Binary wheels only, as a user on Python 3.11 gets them. Under the floor onnxruntime the graphs
    that need a newer one (categorical sets, linear-tree Scans, onnxruntime #24679's roots) are
    refused by the engine: their parity tests skip naming the release, load_check proves the
    refusal is immediate, and the lookup-column form of set splits (target_onnxruntime) is
    proved exact there. Then onnxruntime goes up to the lowest release that loads every graph
    fast, and exactly the tests the floor refused run there (everything else already ran at the
    floors; running it all again doubled the session to about an hour). The public converters'
    strict xfails (``-m upstream``) are about their pinned releases, not onnxgate's floors, so
    they are left out. ``nox -s lowest -- -k lightgbm`` passes pytest arguments through.
    """
    # --benchmark-disable: under xdist the tests never benchmark, and pytest-benchmark 4.0 (the floor)
    # warns so at every start unless told (5.x only when a benchmark fixture is used).
    pytest = ["pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--hypothesis-profile", "ci", "-m", "not upstream",
              "--benchmark-disable"]
    junit = session.create_tmp() + "/floors.xml"
    session.install("--only-binary=:all:", "-c", "constraints-lowest.txt", "-e", ".[test]")
    session.run("python", "-c", "import conversion, onnxruntime; print('onnxruntime', onnxruntime.__version__)")
    session.run(*pytest, f"--junitxml={junit}", "tests/test_parity.py", "tests/test_ort_versions.py",
                "tests/test_declared_floors.py", *session.posargs)
    session.run("python", "benchmarks/load_check.py")
    fast = session.run("python", "-c",
                       "from conversion.converter.ort_versions import SET_SPLITS; print(SET_SPLITS.version)",
                       silent=True) or ""
    session.install("--only-binary=:all:", f"onnxruntime=={fast.strip()}")
    refused = _refused(junit)
    session.log(f"{len(refused)} tests were refused under the floor onnxruntime; running them under {fast.strip()}")
    if refused:
        session.run(*pytest, *refused)
    session.run("python", "benchmarks/load_check.py")


# --- nightly: the examples the README's test loop leaves out (issue 29) ---


@nox.session(python="3.11")
def nightly(session: nox.Session) -> None:
    """The whole test suite with 100 derandomized examples per hypothesis test (what CI ran before
    the loop went under 8 minutes), then the parity matrix with 2000 randomized examples per test.

    ``nox -s nightly -- -k lightgbm`` passes pytest arguments to both runs. Times: docs/loops.md.
    """
    session.install("-c", "constraints.txt", "-e", ".[test]")
    pytest = ["pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "worksteal", "--benchmark-disable"]
    session.run(*pytest, "--hypothesis-profile", "exhaustive", *session.posargs)
    session.run(*pytest, "--hypothesis-profile", "nightly", "tests/test_parity.py", "tests/test_emit_onnx.py",
                "tests/test_ort_versions.py", *session.posargs)
