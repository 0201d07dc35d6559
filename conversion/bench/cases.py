"""What the latency suite measures: profiles and the cases they expand into.

A case is one model at one batch size on one runtime. Its id is readable and stable
(``xgboost-synthetic-small-b256-onnx-cpu-t1``) because results files, `pytest-benchmark
compare` and the gate all match benchmarks across runs by it; its group puts every runtime
of one model and batch side by side.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from conversion.bench.zoo import DATASETS, DENSE, FRAMEWORKS, SIZES, ZooSpec, zoo_specs
from conversion.runtime.providers import provider_label

__all__ = ["PROFILES", "Case", "Profile", "cases_for", "parse_specs"]


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[str, ...]
    batches: tuple[int, ...]
    # rounds per batch size: enough interleaved rounds for a Mann-Whitney test to see a
    # 25% shift, few enough for `run --quick` to stay within its 4-minute budget (docs/loops.md).
    rounds: dict[int, int]
    warmup_rounds: int = 3

    def rounds_for(self, batch_size: int) -> int:
        """The profile's rounds; a batch size it does not list (from a user's config) gets the
        rounds of the nearest listed size at or below it, so larger batches never get more."""
        if batch_size in self.rounds:
            return self.rounds[batch_size]
        below = [b for b in self.rounds if b <= batch_size]
        return self.rounds[max(below)] if below else self.rounds[min(self.rounds)]

    def with_batches(self, batches: Sequence[int] | None) -> Profile:
        """This profile at a config's ``batch_sizes`` (None keeps the profile's)."""
        if not batches:
            return self
        return replace(self, batches=tuple(batches), rounds={b: self.rounds_for(b) for b in batches})

    def share(self, fraction: float) -> Profile:
        """This profile with ``fraction`` of its rounds (at least 4 a batch size): one block of a side
        that `onnxgate gate --against` measures in several blocks, whose rounds it pools."""
        if fraction >= 1.0:
            return self
        return replace(self, rounds={b: max(4, math.ceil(r * fraction)) for b, r in self.rounds.items()})


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", sizes=("small",), batches=(1, 256, 4096), rounds={1: 60, 256: 60, 4096: 30}),
    "full": Profile(
        "full",
        sizes=("small", "large"),
        batches=(1, 16, 256, 4096, 65536),
        rounds={1: 100, 16: 100, 256: 60, 4096: 30, 65536: 12},
    ),
}

# From this many rows the full profile also times the fastest native call on ONNX's thread counts
# above one, so each path is compared on the same threads (report: "Other ways to serve this model").
SCALE_BATCH = 4096


@dataclass(frozen=True)
class Case:
    spec: Any  # a ZooSpec, or a user model's UserSpec (bench/user_models.py): name, framework, build()
    batch_size: int
    runtime: str  # "native" | "onnx" | "peer" (provider: the peer's name, bench/peers.py)
    provider: str | None = None
    threads: int | None = None
    fast: bool = False  # a native case timing the adapter's fastest call (Adapter.fast_native), not the wrapper

    @property
    def runtime_label(self) -> str:
        if self.runtime == "native":
            return ("native-fast" if self.fast else "native") + (f"-t{self.threads}" if self.threads else "")
        if self.runtime == "peer":
            return f"peer-{self.provider}-t{self.threads}"
        return f"{self.runtime}-{provider_label(self.provider or '')}-t{self.threads}"

    @property
    def id(self) -> str:
        return f"{self.spec.name}-b{self.batch_size}-{self.runtime_label}"

    @property
    def group(self) -> str:
        return f"{self.spec.name}-b{self.batch_size}"


def parse_specs(names: Iterable[str]) -> list[ZooSpec]:
    """``xgboost-synthetic-small`` -> ZooSpec; raises ValueError naming what is allowed."""
    specs = []
    for name in names:
        parts = name.split("-")
        kind_ok = len(parts) == 3 and (parts[2] in SIZES or (parts[0] == "sklearn" and parts[2] in DENSE))
        if not kind_ok or parts[0] not in FRAMEWORKS or parts[1] not in DATASETS:
            raise ValueError(
                f"model {name!r} is not FRAMEWORK-DATASET-SIZE with framework in {FRAMEWORKS}, "
                f"dataset in {tuple(DATASETS)}, size in {tuple(SIZES)} (or, for sklearn, {tuple(DENSE)})"
            )
        specs.append(ZooSpec(*parts))
    return specs


def cases_for(
    profile: Profile,
    *,
    providers: Sequence[str],
    specs: Sequence[Any] | None = None,
    frameworks: Sequence[str] = FRAMEWORKS,
    threads: Sequence[int] | None = None,
) -> list[Case]:
    """Every case of a profile: native (the wrapper, then the fastest call), then ONNX per provider at 1 thread
    and at all cores (or ``threads``), then each installed compiled peer (bench/peers.py) on one thread."""
    from conversion.bench.peers import installed_peers

    if not threads:
        cores = os.cpu_count() or 1
        threads = (1, cores) if cores > 1 else (1,)
    chosen = list(specs) if specs else zoo_specs(frameworks=frameworks, sizes=profile.sizes)
    out: list[Case] = []
    for spec in chosen:
        for batch in profile.batches:
            out += [Case(spec, batch, "native"), Case(spec, batch, "native", fast=True)]
            out += [Case(spec, batch, "onnx", p, t) for p in providers for t in threads]
            if profile.name == "full" and batch >= SCALE_BATCH:  # threads at scale: native on ONNX's threads too
                out += [Case(spec, batch, "native", None, t, fast=True) for t in threads if t > 1]
            out += [Case(spec, batch, "peer", name, 1) for name in installed_peers(spec.framework)]
    return out
