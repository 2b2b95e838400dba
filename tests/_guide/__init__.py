"""The user guide, as the tests read it.

A copy of the guide lives beside this file so a fresh clone can run the guide's examples on its own. When the
original (``../shared/SPEC-user-guide.md`` beside the checkout, or the file named by ``AGENTS_GUIDE_PATH``) is
present and differs from the copy, the tests fail and say so: the copy must follow the guide.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest

VENDORED = Path(__file__).resolve().parent / "SPEC-user-guide.md"


def _original() -> Path | None:
    named = os.environ.get("AGENTS_GUIDE_PATH")
    if named:
        return Path(named)
    beside = Path(__file__).resolve().parents[3] / "shared" / "SPEC-user-guide.md"
    return beside if beside.is_file() else None


@cache
def guide_text() -> str:
    """The guide's text; fails when the original guide exists and the vendored copy is stale."""
    text = VENDORED.read_text(encoding="utf-8")
    original = _original()
    if original is not None:
        if not original.is_file():
            pytest.fail(f"AGENTS_GUIDE_PATH names {original}, which is not a file")
        if original.read_text(encoding="utf-8") != text:
            pytest.fail(f"tests/_guide/SPEC-user-guide.md is stale: copy {original} over it")
    return text


def section(heading: str) -> str:
    """The text of the ``## heading`` section, up to the next ``## `` heading."""
    text = guide_text()
    marker = f"## {heading}\n"
    if marker not in text:
        pytest.fail(f"the guide has no section {heading!r}")
    return text.split(marker, 1)[1].split("\n## ", 1)[0]


def code_blocks(heading: str, language: str) -> list[tuple[str, str]]:
    """The ``language`` code blocks of a section, each with the ``###``/``####`` heading above it."""
    blocks: list[tuple[str, str]] = []
    current = ""
    for match in re.finditer(r"^#{3,4} ([^\n]+)$|^```(\w+)\n(.*?)^```", section(heading), re.M | re.S):
        if match.group(1):
            current = match.group(1).strip()
        elif match.group(2) == language:
            blocks.append((current, match.group(3)))
    return blocks
