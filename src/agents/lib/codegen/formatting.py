"""Formatting generated Python with ruff (import sorting, then ``ruff format``), with a fixed configuration."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from agents.lib.errors import ErrorCode, OnexError

__all__ = ["format_python", "format_sources"]


def format_python(directory: Path, first_party: Iterable[str]) -> None:
    """Sort imports and format the Python files under ``directory`` with ruff, with a fixed configuration.

    ``--isolated`` keeps any configuration around ``directory`` out of it, so the output depends only on the
    spec (and the pinned ruff version).
    """
    known = "[" + ", ".join(f'"{name}"' for name in sorted(set(first_party))) + "]"
    common = ["--isolated", "--quiet", "--line-length", "120", "--target-version", "py311"]
    run = [sys.executable, "-m", "ruff"]
    check = [*run, "check", *common, "--fix", "--exit-zero", "--select", "I,F401"]
    check += ["--config", f"lint.isort.known-first-party = {known}", str(directory)]
    for command in (check, [*run, "format", *common, str(directory)]):
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise OnexError(
                "formatting the generated code failed",
                ErrorCode.OPERATION_FAILED,
                {"command": command[3], "stderr": result.stderr[-2000:]},
            )


_FORMATTED: dict[str, dict[str, str]] = {}
_FORMATTED_LOCK = threading.Lock()
_FORMATTED_LIMIT = 64


def format_sources(files: Mapping[str, str], first_party: Iterable[str]) -> dict[str, str]:
    """Return ``files`` (relative path -> Python source) formatted as :func:`format_python` formats a directory.

    The same sources and first-party names give the same result, remembered for the process: the shared files
    of a service are rendered again for each node, and are usually unchanged.
    """
    if not files:
        return {}
    known = sorted(set(first_party))
    digest = hashlib.sha256(repr((sorted(files.items()), known)).encode()).hexdigest()
    with _FORMATTED_LOCK:
        done = _FORMATTED.get(digest)
    if done is not None:
        return dict(done)
    with tempfile.TemporaryDirectory(prefix="agents-format-") as scratch:
        root = Path(scratch)
        for relative, content in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        format_python(root, known)
        formatted = {relative: (root / relative).read_text(encoding="utf-8") for relative in files}
    with _FORMATTED_LOCK:
        if len(_FORMATTED) >= _FORMATTED_LIMIT:
            _FORMATTED.pop(next(iter(_FORMATTED)))
        _FORMATTED[digest] = formatted
    return dict(formatted)
