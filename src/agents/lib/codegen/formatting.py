"""Formatting generated Python with ruff (import sorting, then ``ruff format``), with a fixed configuration."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from agents.lib.errors import ErrorCode, OnexError

__all__ = ["format_python"]


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
