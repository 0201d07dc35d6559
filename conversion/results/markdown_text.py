"""Text from results files made safe for markdown, e.g. a GitHub step summary.

Model names, ``--why`` reasons and paths come from results files, which are untrusted: raw,
``<img>``, ``<h1>`` or ``<details>`` in them would render in the step summary and could fake a
verdict. Text is written on one line with HTML's special characters as entities and the
markdown that could make structure escaped: brackets (links, images), a table cell's pipe, a
heading's leading ``#``. Emphasis and code spans are left alone: they cannot make an element,
and escaping them would garble paths and commands in the raw output. A code span keeps its
text literal, so only a backtick, which would end it, is replaced.
"""

from __future__ import annotations

import html
import re

__all__ = ["md_code", "md_text"]

_MARKDOWN = re.compile(r"([\\\[\]|])")


def md_text(text: object) -> str:
    """``text`` on one line, shown as written: no HTML, link, image, heading or table cell break."""
    flat = " ".join(str(text).splitlines())
    escaped = _MARKDOWN.sub(r"\\\1", html.escape(flat, quote=False))
    return "\\" + escaped if escaped.lstrip().startswith("#") else escaped


def md_code(text: object) -> str:
    """``text`` as an inline code span (literal in markdown: HTML in it is shown, not rendered)."""
    return "`" + " ".join(str(text).splitlines()).replace("`", "'") + "`"
