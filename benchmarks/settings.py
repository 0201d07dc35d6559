"""The benchmark plugin's settings and verdict, kept in ``config.stash`` (not on ``config``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.cases import Profile
from benchmarks.zoo import ZooSpec

__all__ = ["GATE_REPORT", "SETTINGS", "Settings", "settings_of"]


@dataclass(frozen=True)
class Settings:
    profile: Profile
    frameworks: tuple[str, ...]
    specs: tuple[ZooSpec, ...] | None
    baseline: Path | None
    force: bool


SETTINGS = pytest.StashKey[Settings]()
# (exit code, text) of the gate run at session end, for the terminal summary.
GATE_REPORT = pytest.StashKey[tuple[int, str]]()


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS]
