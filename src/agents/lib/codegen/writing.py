"""Writing generated files: every path checked to stay inside the output directory, every write atomic.

A node package is built aside and swapped in, so a reader never sees half a package; see docs/codegen.md.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agents.lib.errors import ErrorCode, OnexError

__all__ = ["atomic_write", "write_tree"]


@dataclass(frozen=True)
class _Plan:
    root: Path
    files: dict[Path, str]


def _plan(root: Path, files: Mapping[str, str]) -> _Plan:
    resolved_root = root.resolve()
    planned: dict[Path, str] = {}
    for relative, content in files.items():
        target = (resolved_root / relative).resolve()
        if Path(relative).is_absolute() or not target.is_relative_to(resolved_root) or target == resolved_root:
            raise OnexError(
                f"refusing to write {relative!r}: it is outside the output directory",
                ErrorCode.VALIDATION_ERROR,
                {"path": relative, "output_dir": str(resolved_root)},
            )
        planned[target] = content
    return _Plan(resolved_root, planned)


@functools.cache
def _umask() -> int:
    """Return the process umask without changing it (``os.umask`` would, for a moment, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` atomically: a temporary file beside it, then a rename.

    Unchanged content leaves the file alone; an existing file keeps its mode, a new one gets what ``open()`` gives.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        if path.read_bytes() == data:
            return
        mode = stat.S_IMODE(path.stat().st_mode)  # an existing file keeps its own
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # what open() would give a new file
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates 0600; the file written in its place must have the permissions of an ordinary file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tree(
    root: Path,
    files: Mapping[str, str],
    *,
    replace_dir: str | None = None,
    force: bool = False,
    post_process: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write ``files`` (relative paths) under ``root`` atomically; return the paths written.

    A path that would land outside ``root`` is refused before anything is written. With ``replace_dir`` (a
    directory relative to ``root`` that holds all the files), the directory is built aside, ``post_process`` is
    run on it there, and it is swapped in: an existing one is a CONFLICT unless ``force``, and stale files of the
    old one do not survive.
    """
    plan = _plan(root, files)
    plan.root.mkdir(parents=True, exist_ok=True)
    if replace_dir is None:
        for path, content in plan.files.items():
            atomic_write(path, content)
        return sorted(plan.files)
    final = (plan.root / replace_dir).resolve()
    if not final.is_relative_to(plan.root) or final == plan.root:
        raise OnexError(f"refusing to replace {replace_dir!r}", ErrorCode.VALIDATION_ERROR)
    if final.exists() and not force:
        raise OnexError(
            f"{final} already exists; pass force=True (--force) to overwrite it",
            ErrorCode.CONFLICT,
            {"path": str(final)},
        )
    staging = Path(tempfile.mkdtemp(dir=plan.root, prefix=f".{final.name}.new-"))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700; the node package is an ordinary directory
        for path, content in plan.files.items():
            target = staging / path.relative_to(final)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        if post_process is not None:
            post_process(staging)
        if final.exists():
            retired = Path(tempfile.mkdtemp(dir=plan.root, prefix=f".{final.name}.old-"))
            os.replace(final, retired / final.name)
            os.replace(staging, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(plan.files)
