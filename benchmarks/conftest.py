"""The project's own benchmark suites, written as a user's would be: they load onnxgate's plugin.

`onnxgate bench --suite benchmarks` runs them beside the installed zoo suite under that suite's
pytest.ini, so the markers they use are declared here rather than in pyproject.toml.
"""

from __future__ import annotations

import sys

import pytest

# Installed onnxgate loads the plugin through its pytest11 entry point, before any conftest;
# naming it here too would register the module twice, which pytest refuses. Without the entry
# point (a source checkout, PYTEST_DISABLE_PLUGIN_AUTOLOAD, -p no:onnxgate) this loads it.
pytest_plugins = [] if "conversion.bench.plugin" in sys.modules else ["conversion.bench.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    from conversion.bench.settings import activate

    activate(config)  # `pytest benchmarks/` writes onnxgate results, as `onnxgate bench --suite` does
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
