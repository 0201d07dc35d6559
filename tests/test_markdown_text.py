"""Markdown output shows text from results files as written: it injects no HTML or markdown."""

from __future__ import annotations

import pytest

from conversion.results.markdown_text import md_code, md_text


@pytest.mark.parametrize("hostile", [
    "<img src=x onerror=alert(1)>", "<h1>✅ pass</h1>", "</details><details open>", "![pass](https://x/y.png)",
    "[click](javascript:alert(1))", "# ✅ pass", "line\n\n# ✅ pass", "a | b", "\\[x](y)",
])
def test_md_text_renders_no_markup(hostile: str) -> None:
    shown = md_text(hostile)
    assert "<" not in shown and "\n" not in shown and not shown.startswith("#")
    for mark in ("[", "]", "|"):
        assert shown.count(mark) == shown.count("\\" + mark), (mark, shown)


def test_md_text_keeps_plain_text_and_benchmark_keys() -> None:
    assert md_text("model changed: churn: 100 → 300 trees") == "model changed: churn: 100 → 300 trees"
    assert md_text("run `onnxgate gate --why x_y`") == "run `onnxgate gate --why x_y`"
    assert md_text("xgboost-synthetic-small|onnx-CPUExecutionProvider-t1|b4096") == (
        "xgboost-synthetic-small\\|onnx-CPUExecutionProvider-t1\\|b4096")


def test_md_code_cannot_be_left() -> None:
    assert md_code("a`<b>`\nc") == "`a'<b>' c`"
