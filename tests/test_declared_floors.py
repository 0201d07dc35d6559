"""The floors `nox -s lowest` installs are the ones pyproject.toml declares, so what it proves
is what a user's resolver may pick."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from conversion.converter.ort_versions import BASE, parse_version

ROOT = Path(__file__).resolve().parent.parent


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name == "peers":  # optional compiled peers (llvmlite capped for lleaves), outside nox -s lowest's matrix
            continue
        specs += [s for s in extra if not s.startswith("onnxgate[")]
    floors = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", spec.replace(" ", ""))
        assert match, f"{spec!r}: every dependency needs a floor (name>=version) for nox -s lowest to test"
        floors[_name(match[1])] = match[2]
    return floors


def _pinned() -> dict[str, str]:
    lines = (ROOT / "constraints-lowest.txt").read_text().splitlines()
    pins = [line.split("#")[0].strip() for line in lines]
    return {_name(name): version for name, version in (p.split("==") for p in pins if p)}


def test_the_lowest_constraints_pin_exactly_the_declared_floors() -> None:
    declared, pinned = _declared(), _pinned()
    assert sorted(declared) == sorted(pinned)
    wrong = {n: (declared[n], pinned[n]) for n in declared if parse_version(declared[n]) != parse_version(pinned[n])}
    assert not wrong, f"pyproject floor vs constraints-lowest.txt: {wrong}"


def test_a_plain_graph_needs_the_declared_onnxruntime_floor() -> None:
    """What convert() writes as min_onnxruntime for a graph no rule applies to is the floor in
    pyproject.toml, read from the file, so a stale install of the package metadata shows too."""
    assert BASE.key == parse_version(_declared()["onnxruntime"])
