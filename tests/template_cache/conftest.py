"""Helpers for the template cache tests: a fake clock, a counting loader and file writers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.lib.template_cache import TemplateCache
from tests._guide import code_blocks

# A fixed point in the past (2023-11-14T22:13:20Z), so written files are never "racily clean" by mtime.
BASE_MTIME_NS = 1_700_000_000 * 1_000_000_000


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingLoader:
    """A thread-safe loader that reads UTF-8 and records every call."""

    def __init__(self) -> None:
        self.calls: list[Path] = []
        self.contents: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> str:
        content = path.read_text(encoding="utf-8")
        with self._lock:
            self.calls.append(path)
            self.contents.append(content)
        return content

    @property
    def count(self) -> int:
        return len(self.calls)


def write(path: Path, text: str, mtime_ns: int | None = BASE_MTIME_NS) -> Path:
    """Write ``text`` to ``path`` and set its mtime (``None``: leave the current time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def replace_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with new content the way editors and deploys do (new inode, one rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quick_start_example_1(templates: Path) -> str:
    """The guide's Quick Start Example 1, as written; only its placeholder paths name real files."""
    blocks = dict(code_blocks("Quick Start Examples", "python"))
    block = blocks["Example 1: Basic Code Generation with Caching"]
    assert 'Path("/path/to/effect_template.py")' in block and 'Path("/path/to/templates")' in block
    # The example's template lives in the directory it warms up (the reader fills in both paths).
    return block.replace("/path/to/effect_template.py", str(templates / "effect_template.py")).replace(
        "/path/to/templates", str(templates)
    )


def run_quick_start_example_1(root: Path) -> subprocess.CompletedProcess[str]:
    """Run Example 1 in a fresh interpreter (cwd ``root``), on four template files under ``root/templates``."""
    templates = root / "templates"
    for node_type in ("effect", "compute", "reducer", "orchestrator"):
        write(
            templates / f"{node_type}_template.py",
            f"class {{{{ node_name }}}}(Node{node_type.title()}):\n    pass\n",
        )
    run = subprocess.run(
        [sys.executable, "-c", quick_start_example_1(templates)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def loader() -> CountingLoader:
    return CountingLoader()


@pytest.fixture
def cache(clock: FakeClock) -> Iterator[TemplateCache]:
    """A cache on a fake clock that trusts stat signatures at once (``racy_window_seconds=0``)."""
    with TemplateCache(clock=clock, racy_window_seconds=0) as c:
        yield c
