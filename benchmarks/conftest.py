"""The project's own benchmark suites, written as a user's would be: they load onnxgate's plugin.

`onnxgate bench --suite benchmarks` runs them beside the installed zoo suite under that suite's
pytest.ini, so the markers they use are declared here rather than in pyproject.toml.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["conversion.bench.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
