"""Fixtures for a user's own benchmark file: their model, native vs ONNX Runtime, interleaved.

```python
import pytest

@pytest.mark.parametrize("batch_size", [1, 256])
@pytest.mark.parametrize("runtime", ["native", "onnx"])
def test_fraud_latency(onnxgate_latency, batch_size, runtime):
    onnxgate_latency(MODEL, ROWS, batch_size=batch_size, runtime=runtime, name="fraud")
```

Each call times one runtime with pytest-benchmark and its partners interleaved round by
round (``measure.py``), exactly as `onnxgate bench` does; the ratios land in ``extra_info``,
so ``--benchmark-json`` writes a file that `onnxgate gate` and `pytest-benchmark compare` read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

__all__ = ["onnxgate_latency"]

# Prepared models of this session, by the model object's id: conversion and parity run once
# per model, not once per batch size and runtime.
_PREPARED = pytest.StashKey[dict[int, Any]]()


class _InMemory:
    """A model passed to the fixture, in the shape a ZooModel's spec has (name, framework)."""

    def __init__(self, name: str, framework: str) -> None:
        self.name, self.framework, self.dataset, self.size = name, framework, "user data", "user"


def _prepare(config: pytest.Config, model: Any, X: np.ndarray, name: str | None) -> Any:
    from conversion.bench.prepared import prepare_model
    from conversion.bench.zoo import ZooModel
    from conversion.converter.convert import convert
    from conversion.converter.frameworks import adapter_for

    cache = config.stash.setdefault(_PREPARED, {})
    if id(model) not in cache:
        framework = adapter_for(model).name
        spec = _InMemory(name or f"{framework}-{type(model).__name__}", framework)
        task = convert(model).task  # the native method timed depends on it (predict_proba for classifiers)
        cache[id(model)] = (model, prepare_model(ZooModel(spec, model, np.asarray(X), task)))  # type: ignore[arg-type]
    return cache[id(model)][1]  # the model is kept too, so its id is not reused while cached


@pytest.fixture
def onnxgate_latency(benchmark: Any, request: pytest.FixtureRequest) -> Callable[..., None]:
    """``f(model, X, *, batch_size, runtime="onnx", provider="CPUExecutionProvider", threads=1, name=None,
    rounds=None)``: one interleaved latency measurement of ``model`` on ``batch_size`` rows of ``X``."""
    from conversion.bench.measure import measure_row
    from conversion.bench.prepared import draw_batch
    from conversion.bench.settings import SETTINGS, activate
    from conversion.runtime.providers import ALIASES

    activate(request.config)  # this session uses onnxgate: its results file gets onnxgate's fields

    def run(model: Any, X: Any, *, batch_size: int, runtime: str = "onnx", provider: str = "CPUExecutionProvider",
            threads: int = 1, name: str | None = None, rounds: int | None = None) -> None:
        if runtime not in ("native", "onnx"):
            raise ValueError(f"runtime must be 'native' or 'onnx', got {runtime!r}")
        prep = _prepare(request.config, model, X, name)
        why_not = prep.why_not(runtime)
        if why_not:
            pytest.skip(why_not)
        profile = request.config.stash[SETTINGS].profile
        benchmark.group = f"{prep.zoo.name}-b{batch_size}"
        onnx = runtime == "onnx"
        chosen = ALIASES.get(provider.lower(), provider) if onnx else None
        measure_row(benchmark, prep, draw_batch(prep.zoo.X, batch_size), runtime=runtime, provider=chosen,
                    threads=threads if onnx else None, rounds=rounds or profile.rounds_for(batch_size),
                    warmup_rounds=profile.warmup_rounds)
        if request.config.stash[SETTINGS].counts:  # counted after every timing (counts_session.py)
            from conversion.bench.cases import Case
            from conversion.bench.counts_session import defer_fixture_row

            case = Case(prep.zoo.spec, batch_size, runtime, chosen, threads if onnx else None)
            defer_fixture_row(request.config, benchmark.fullname, model, X, case)

    return run
