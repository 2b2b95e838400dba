"""A seed mypy cache for verification: what every generated service imports from outside itself, checked once.

:func:`prepare_mypy_cache` gives one verification its own cache directory, filled with a verified copy of the
seed, so mypy re-checks only the service; anything wrong with the seed falls back to an empty cache. How seeds
are keyed, built, shared and pruned: docs/codegen.md ("The mypy seed cache").
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

__all__ = [
    "SEED_DIR_VARIABLE",
    "SEED_MODULES",
    "MypyCache",
    "SeedRunner",
    "default_seed_root",
    "mypy_output_is_sound",
    "prepare_mypy_cache",
]

SEED_DIR_VARIABLE = "AGENTS_MYPY_SEED_DIR"
"""The environment variable naming the directory of seeds (default: ``mypy-seed`` in the user cache dir)."""

SEED_MODULES: tuple[str, ...] = (
    "__future__",
    "argparse",
    "asyncio",
    "calendar",
    "collections",
    "collections.abc",
    "contextlib",
    "contextvars",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "graphlib",
    "inspect",
    "json",
    "logging",
    "pathlib",
    "re",
    "sys",
    "time",
    "typing",
    "uuid",
    "warnings",
    "typing_extensions",
    "pydantic",
    "yaml",
    "pytest",
)
"""What generated services import from outside themselves (the templates and ``onex_runtime``).

The optional extras (FastAPI, SQLAlchemy...) are not among them: the service's mypy settings never follow them.
"""

SeedRunner = Callable[[Sequence[str], Path], tuple[int, str]]
"""Runs a command in a directory and returns its exit code (``-1`` when it timed out) and output.

It may raise to abandon the build (on cancellation, for instance); the seed is then left as it was.
"""

_FORMAT = 1
_MANIFEST = "manifest.json"
_SEED_SOURCE = "_agents_mypy_seed.py"
_KEY_DISTRIBUTIONS = (
    "mypy",
    "mypy_extensions",
    "typing_extensions",
    "pydantic",
    "pydantic_core",
    "typing-inspection",
    "annotated-types",
    "PyYAML",
    "types-PyYAML",
    "pytest",
    "pluggy",
    "iniconfig",
    "packaging",
)
_OTHER_CONFIGS = ("mypy.ini", ".mypy.ini")
_STALE_BUILD_S = 3600.0
_UNUSED_SEED_S = 30 * 86400.0  # a seed no verification used for this long is deleted when a new one is built
_MAX_BUILDS_PER_PROCESS = 2
_WAIT_STEP_S = 0.05
_FOUND = re.compile(r"^Found \d+ errors? in \d+ files? \(checked \d+ source files?\)$", re.MULTILINE)
_SUCCESS = re.compile(r"^Success: no issues found in \d+ source files?$", re.MULTILINE)


@dataclass(frozen=True)
class MypyCache:
    """The cache directory one mypy run should use, and whether it starts from the seed (``note`` says why not)."""

    path: Path
    seeded: bool
    note: str


def default_seed_root() -> Path:
    """Return where seeds live: ``$AGENTS_MYPY_SEED_DIR``, else ``mypy-seed`` in the user's cache directory."""
    configured = os.environ.get(SEED_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("agents", appauthor=False)) / "mypy-seed"


def mypy_output_is_sound(returncode: int, output: str) -> bool:
    """Whether a mypy run ended as mypy ends: success (exit 0), or errors listed and counted (exit 1).

    A crash, a traceback, an internal error or any other exit code is not sound: a run with a seeded cache that
    ends so is re-run with an empty cache.
    """
    if "Traceback (most recent call last)" in output or "INTERNAL ERROR" in output:
        return False
    if returncode == 0:
        return _SUCCESS.search(output) is not None
    if returncode == 1:
        return _FOUND.search(output) is not None
    return False


# --- in-process state ---------------------------------------------------------------------------------------


@dataclass
class _SeedState:
    lock: threading.Lock
    builds: int = 0
    failed: str = ""


_states: dict[Path, _SeedState] = {}
_states_lock = threading.Lock()


def _state(seed: Path) -> _SeedState:
    with _states_lock:
        state = _states.get(seed)
        if state is None:
            state = _states[seed] = _SeedState(threading.Lock())
        return state


# --- the key ------------------------------------------------------------------------------------------------


def _mypy_table(service_root: Path) -> tuple[dict[str, Any] | None, str]:
    """Return the service's ``[tool.mypy]`` table, or None and why the seed does not apply."""
    for name in _OTHER_CONFIGS:
        if (service_root / name).exists():
            return None, f"the service has its own {name}"
    pyproject = service_root / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "the service has no pyproject.toml"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, f"pyproject.toml cannot be read ({exc})"
    tool = data.get("tool")
    table = tool.get("mypy") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return None, "pyproject.toml has no [tool.mypy] table"
    return table, ""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_environment_key: dict[str, Any] | None = None
_environment_lock = threading.Lock()


def _environment() -> dict[str, Any]:
    """Return what the seed depends on besides the command and the configuration (once per process)."""
    global _environment_key
    with _environment_lock:
        if _environment_key is None:
            _environment_key = {
                "python": sys.version,
                "executable": sys.executable,
                "prefix": sys.prefix,
                "platform": sys.platform,
                "versions": {name: _version(name) for name in _KEY_DISTRIBUTIONS},
                "modules": [m for m in SEED_MODULES if _available(m)],
            }
        return _environment_key


def _key(mypy_command: Sequence[str], table: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    environment = _environment()
    described = {
        "format": _FORMAT,
        "command": list(mypy_command),
        "config": table,
        **environment,
    }
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24], described


# --- manifest, copy, discard --------------------------------------------------------------------------------


class _SeedError(Exception):
    """The seed cannot be used as it is."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_manifest(seed: Path, key: str) -> None:
    cache = seed / "cache"
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(cache.rglob("*")):
        if path.is_file():
            stat = path.stat()
            files[path.relative_to(cache).as_posix()] = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": _digest(path.read_bytes()),
            }
    if not files:
        raise _SeedError("mypy wrote no cache")
    manifest = {"format": _FORMAT, "key": key, "files": files}
    (seed / _MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")


def _read_manifest(seed: Path, key: str) -> dict[str, dict[str, Any]]:
    try:
        manifest = json.loads((seed / _MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _SeedError(f"unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT or manifest.get("key") != key:
        raise _SeedError("the manifest is not this seed's")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise _SeedError("the manifest lists no files")
    for name, entry in files.items():
        if (
            Path(name).is_absolute()
            or ".." in Path(name).parts
            or not isinstance(entry, dict)
            or not isinstance(entry.get("size"), int)
            or not isinstance(entry.get("mtime_ns"), int)
            or not isinstance(entry.get("sha256"), str)
        ):
            raise _SeedError(f"bad manifest entry {name!r}")
    return files


def _copy_seed(seed: Path, files: dict[str, dict[str, Any]], target: Path) -> None:
    """Copy the listed files into ``target``, each checked against its size and hash; mtimes are kept."""
    source = seed / "cache"
    for name, entry in files.items():
        try:
            data = (source / name).read_bytes()
        except OSError as exc:
            raise _SeedError(f"{name}: {exc.strerror or exc}") from exc
        if len(data) != entry["size"] or _digest(data) != entry["sha256"]:
            raise _SeedError(f"{name} differs from the manifest")
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        os.utime(destination, ns=(entry["mtime_ns"], entry["mtime_ns"]))


def _discard(seed: Path) -> None:
    """Move a bad seed out of the way (atomically), then delete it."""
    trash = seed.with_name(f".{seed.name}.trash-{uuid.uuid4().hex[:12]}")
    try:
        seed.rename(trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _prune_unused_seeds(root: Path, keep: Path) -> None:
    """Delete the seeds of other keys that no verification used for ``_UNUSED_SEED_S`` (old mypy, pydantic...).

    A verification copying from a seed deleted meanwhile notices (a missing file) and uses an empty cache.
    """
    now = time.time()
    for entry in root.iterdir():
        if entry.name.startswith(".") or entry == keep:
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and now - entry.stat().st_mtime > _UNUSED_SEED_S:
                _discard(entry)


def _clean_stale_builds(root: Path) -> None:
    """Delete build and trash directories left by processes that died meanwhile (older than an hour)."""
    now = time.time()
    for entry in [*root.glob(".*.build-*"), *root.glob(".*.trash-*")]:
        with contextlib.suppress(OSError):
            if now - entry.stat().st_mtime > _STALE_BUILD_S:
                shutil.rmtree(entry, ignore_errors=True)


# --- building -----------------------------------------------------------------------------------------------


def _seed_source(modules: Sequence[str]) -> str:
    header = '"""Imports what generated services import from outside themselves, for mypy\'s cache."""\n\n'
    return header + "".join(f"import {module}\n" for module in modules)


def _build(
    seed: Path, key: str, pyproject: Path, mypy_command: Sequence[str], modules: Sequence[str], run: SeedRunner
) -> None:
    """Build the seed into a temporary directory beside ``seed`` and rename it into place."""
    root = seed.parent
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _clean_stale_builds(root)
    build = Path(tempfile.mkdtemp(prefix=f".{seed.name}.build-", dir=root))
    try:
        source = build / "src"
        source.mkdir()
        shutil.copyfile(pyproject, source / "pyproject.toml")
        (source / _SEED_SOURCE).write_text(_seed_source(modules), encoding="utf-8")
        command = [
            *mypy_command,
            "--config-file",
            "pyproject.toml",
            "--cache-dir",
            str(build / "cache"),
            _SEED_SOURCE,
        ]
        returncode, output = run(command, source)
        if returncode != 0 or not mypy_output_is_sound(returncode, output):
            tail = " | ".join(line for line in output.strip().splitlines()[-3:])
            raise _SeedError(f"mypy on the seed module exited with {returncode}: {tail}")
        shutil.rmtree(source)
        _write_manifest(build, key)
        try:
            build.rename(seed)
        except OSError:
            if not (seed / _MANIFEST).is_file():
                raise
            # another process published its seed first: use that one
        _prune_unused_seeds(root, seed)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _ensure(
    seed: Path,
    key: str,
    pyproject: Path,
    mypy_command: Sequence[str],
    modules: Sequence[str],
    run: SeedRunner,
    cancel: threading.Event | None,
) -> dict[str, dict[str, Any]] | str:
    """Return the seed's manifest (building the seed if need be), or why there is no seed to use."""
    state = _state(seed)
    while not state.lock.acquire(timeout=_WAIT_STEP_S):
        if cancel is not None and cancel.is_set():
            return "cancelled while the seed was being built"
    try:
        if state.failed:
            return state.failed
        try:
            return _read_manifest(seed, key)
        except FileNotFoundError:
            if seed.exists():  # a seed without its manifest: never published whole
                _discard(seed)
        except _SeedError as exc:
            _discard(seed)
            return f"seed discarded: {exc}"
        if state.builds >= _MAX_BUILDS_PER_PROCESS:
            state.failed = f"seed built {state.builds} times in this process and still missing"
            return state.failed
        state.builds += 1
        try:
            _build(seed, key, pyproject, mypy_command, modules, run)
            return _read_manifest(seed, key)
        except (OSError, _SeedError) as exc:
            state.failed = f"seed not built: {exc}"
            return state.failed
        except BaseException:  # ``run`` gave up (cancellation): not a failed build
            state.builds -= 1
            raise
    finally:
        state.lock.release()


def prepare_mypy_cache(
    cache_dir: str | os.PathLike[str],
    service_root: str | os.PathLike[str],
    mypy_command: Sequence[str],
    run: SeedRunner,
    *,
    cancel: threading.Event | None = None,
    seed_root: str | os.PathLike[str] | None = None,
) -> MypyCache:
    """Create ``cache_dir`` for one mypy run on the service at ``service_root``, seeded when possible.

    ``mypy_command`` is the command without ``--cache-dir`` and the targets (``[python, "-m", "mypy",
    "--strict", ...]``); the seed is built with it, through ``run``, from the service's ``pyproject.toml``.
    ``seed_root`` defaults to :func:`default_seed_root`. Never raises for a seed problem (only what ``run``
    raises): the returned cache is then empty and ``note`` says why.
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    table, why_not = _mypy_table(Path(service_root))
    if table is None:
        return MypyCache(cache, False, why_not)
    key, described = _key(mypy_command, table)
    seed = Path(seed_root) if seed_root is not None else default_seed_root()
    seed = seed / key
    modules = described["modules"]
    outcome = _ensure(seed, key, Path(service_root) / "pyproject.toml", mypy_command, modules, run, cancel)
    if isinstance(outcome, str):
        return MypyCache(cache, False, outcome)
    try:
        _copy_seed(seed, outcome, cache)
    except (OSError, _SeedError) as exc:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True, exist_ok=True)
        _discard(seed)
        return MypyCache(cache, False, f"seed discarded: {exc}")
    with contextlib.suppress(OSError):
        os.utime(seed)  # "last used": seeds unused for a month are pruned when another one is built
    return MypyCache(cache, True, f"seeded from {seed}")
