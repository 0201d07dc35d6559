"""The package's shape: layers import only downward, no import cycles, a light core, and short modules.

Layers, bottom to top: core < results < bench < report < app (docs/architecture.md). Inside the
core, bottom to top: the foundation (errors, atomic files, optional imports: top-level modules)
< converter < runtime < parity < serving < the entry points (the facade, the seed's interface,
conversion.testing, user files). The graph is read from the source with ``ast``, function-level
imports included (they are real arrows, only later), and so are imports under ``if TYPE_CHECKING:``:
they never run, but a circle hidden behind one is still two modules that cannot be read apart.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import conversion

PACKAGE = Path(conversion.__file__).resolve().parent
LAYERS = ("core", "results", "bench", "report", "app")
# The app layer: conversion/app/ (the onnxgate command, one module per subcommand, the `run` job), and
# the module name `gate --against` runs on either side, whatever its version.
APP = {"conversion.cli"}
CORE = ("foundation", "converter", "runtime", "parity", "serving", "entry")
# Top-level core modules that gather the sub-packages for a user; every other top-level one is foundation.
ENTRY = {"conversion", "conversion.seed_api", "conversion.testing", "conversion.model_files", "conversion.csv_rows"}
# The package's runnable modules: the onnxgate command (and conversion.cli, the name `gate --against` runs
# it by), the valgrind worker count_model starts, the timing worker each side of `gate --against` runs, and
# the guard run_child starts around the benchmark child.
RUNNABLE = {"conversion.cli", "conversion.app.main", "conversion.bench.counts", "conversion.bench.timing_worker",
            "conversion.bench.child_guard"}
OPTIONAL_HEAVY = ("pytest", "_pytest", "pytest_benchmark", "scipy", "matplotlib", "jinja2", "hypothesis")


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    if module in APP:
        return "app"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "core"


def _core_layer(module: str) -> str:
    """Where a core module sits inside the core: its sub-package, or foundation / entry at the top level."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in CORE[1:-1]:
        return parts[1]
    return "entry" if module in ENTRY else "foundation"


def _imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports (``from . import x`` counts as x)."""
    path, is_package = MODULES[module]
    here = module.split(".") if is_package else module.split(".")[:-1]
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = here[: len(here) - node.level + 1] if node.level else []
            base = ".".join([*package, node.module or ""]).strip(".")
            targets += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    found = set()
    for target in targets:
        while target not in MODULES and "." in target:  # conversion.x.name -> conversion.x
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != module:
            found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_the_graph_is_read() -> None:
    # Guards the reader itself: an empty graph would pass every check below.
    assert "conversion.results.gate.judge" in GRAPH["conversion.app.bench"]
    assert "conversion.report.plots" in GRAPH["conversion.report.build"]  # `from . import plots`
    assert _layer("conversion.converter.frameworks.xgboost") == "core" and _layer("conversion.bench.zoo") == "bench"
    assert _core_layer("conversion.converter.frameworks.xgboost") == "converter"
    assert _core_layer("conversion.parity") == "parity" and _core_layer("conversion.errors") == "foundation"
    assert "conversion.runtime.engine" in GRAPH["conversion.parity.check"]  # a function-level import
    assert "conversion.converter.converted" in GRAPH["conversion.converter.model_facts"]  # under TYPE_CHECKING


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = [f"{m} ({_layer(m)}) -> {t} ({_layer(t)})" for m, targets in sorted(GRAPH.items())
              for t in sorted(targets) if LAYERS.index(_layer(t)) > LAYERS.index(_layer(m))]
    assert upward == [], "imports against the layers:\n" + "\n".join(upward)


def test_the_core_sub_packages_import_only_downward() -> None:
    """converter imports no other sub-package, runtime only converter, parity not serving, and so on."""
    core = {m: targets for m, targets in GRAPH.items() if _layer(m) == "core"}
    assert {_core_layer(m) for m in core} == set(CORE)  # each sub-layer holds modules
    upward = [f"{m} ({_core_layer(m)}) -> {t} ({_core_layer(t)})" for m, targets in sorted(core.items())
              for t in sorted(targets)
              if _layer(t) == "core" and CORE.index(_core_layer(t)) > CORE.index(_core_layer(m))]
    assert upward == [], "imports against the core's layers:\n" + "\n".join(upward)


def test_the_package_imports_no_project_folder() -> None:
    """Installed code must not reach for benchmarks/, reports/ or tests/, which are not installed."""
    outside = []
    for module, (path, _) in sorted(MODULES.items()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            outside += [f"{module} -> {n}" for n in names if n.split(".")[0] in ("benchmarks", "reports", "tests")]
    assert outside == []


def _runs_as_main(path: Path) -> bool:
    tests = {"__name__ == '__main__'", "'__main__' == __name__"}
    return any(isinstance(node, ast.If) and ast.unparse(node.test) in tests
               for node in ast.parse(path.read_text(encoding="utf-8")).body)


def test_the_package_holds_no_developer_experiment() -> None:
    """A module run with ``python -m`` that neither the command nor the package starts is a developer
    experiment: it lives in benchmarks/proof/, which is not installed."""
    from tests.test_proof_commands import EXPERIMENTS

    runnable = {module for module, (path, _) in MODULES.items() if _runs_as_main(path)}
    assert runnable == RUNNABLE, f"runnable modules in the package beyond {sorted(RUNNABLE)}"
    assert {m for m in MODULES if m.rsplit(".", 1)[-1] in EXPERIMENTS} == set()
    assert all((PACKAGE.parent / "benchmarks" / "proof" / f"{name}.py").is_file() for name in EXPERIMENTS)


MAX_MODULE_LINES = 450  # issue 29: a module a newcomer reads in one sitting; past it, split along a seam


def test_no_module_is_longer_than_a_newcomer_reads() -> None:
    lengths = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, (path, _) in MODULES.items()}
    long = sorted(f"{module}: {n} lines" for module, n in lengths.items() if n > MAX_MODULE_LINES)
    assert long == [], f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)


def test_no_import_cycle() -> None:
    # Tarjan's strongly connected components; a component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                cycles.append(sorted([v, *component]))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


HELP = "import sys\nsys.argv = ['onnxgate', '--help']\nfrom conversion.app.main import main\ntry:\n    main()\n" \
       "except SystemExit:\n    pass"


@pytest.mark.parametrize("code", ["import conversion", HELP], ids=["import-conversion", "onnxgate-help"])
def test_the_core_and_the_command_line_import_no_extra(code: str) -> None:
    """Converting, and asking the command for help, need none of the bench/report/test packages."""
    probe = f"{code}\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({OPTIONAL_HEAVY!r})))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
