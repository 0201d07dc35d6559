"""docs/ci.md and the example workflow only show onnxgate commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conversion.app.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = {"docs/ci.md": True, "docs/examples/onnxgate.yml": False,  # file -> only its ```bash blocks
        "docs/examples/onnxgate-baselines.yml": False}


def _commands(path: str, bash_blocks_only: bool) -> list[str]:
    text = (ROOT / path).read_text(encoding="utf-8")
    if bash_blocks_only:
        text = "\n".join(re.findall(r"```bash\n(.*?)```", text, flags=re.S))
    text = re.sub(r"\\\n\s*", " ", text)  # shell line continuations
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:-\s*)?(?:run:\s*)?", "", line)
        if line.startswith("onnxgate "):
            line = re.split(r"\s+#|\s\|\s|\s>>?\s", line)[0]  # comments, pipes, redirections
            line = re.sub(r"\$\{\{[^}]*\}\}", "1", line)  # a workflow expression, e.g. ${{ matrix.shard }}
            out.append(re.sub(r"<[^>]*>", "PLACEHOLDER", line))
    return out


CASES = [(path, cmd) for path, bash in DOCS.items() for cmd in _commands(path, bash)]


def test_the_recipe_has_the_gate_bench_and_report_commands() -> None:
    used = {shlex.split(cmd)[1] for _, cmd in CASES}
    assert {"bench", "gate", "report", "check"} <= used


@pytest.mark.parametrize(("path", "command"), CASES, ids=[f"{p}:{c[:60]}" for p, c in CASES])
def test_documented_command_parses(path: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        args = build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit:
        pytest.fail(f"{path}: `{command}` is refused by the CLI: {capsys.readouterr().err}")
    assert callable(args.func)
