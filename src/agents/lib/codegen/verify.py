"""Verification of a generated service: ``verify_generated(path)`` and the checks that run tools on it.

The static checks are in :mod:`.static_checks`, the process handling in :mod:`.runner`, the program run inside
the service in :mod:`.probe`; docs/codegen.md ("Verification") describes every check and what keeps them fast.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.lib.codegen import probe
from agents.lib.codegen.mypy_seed import mypy_output_is_sound, prepare_mypy_cache
from agents.lib.codegen.report import CheckResult, VerificationReport
from agents.lib.codegen.runner import Completed, run_command, service_environment
from agents.lib.codegen.static_checks import RUNTIME, python_files, static_checks
from agents.lib.errors import ErrorCode, OnexError

__all__ = ["CheckResult", "VerificationReport", "verify_generated"]

_PROBE = Path(probe.__file__).resolve()
"""The program the imports and tests checks run inside the service (``python -P``: its directory stays out of
``sys.path``, which then holds the service's own directory first, as with ``python -c``)."""
_MYPY_FLAGS = ("--strict", "--no-color-output")
_TEST_MODULE = re.compile(r"(^|\.)(test_[^.]*|[^.]*_test)$")
"""Modules pytest collects (its default ``python_files``): it imports them itself, with assertion rewriting."""
_MYPY_OK = "mypy --strict is clean"


def _cancelled(check: str) -> OnexError:
    """Return the error a verification stopped by its ``cancel`` event raises, naming the check it was in."""
    return OnexError(f"verification cancelled during {check}", ErrorCode.CANCELLED, {"check": check})


def _probe(mode: str) -> list[str]:
    """Return the command line of the probe program in ``mode``."""
    return [sys.executable, "-P", str(_PROBE), mode]


def _modules(root: Path, files: Iterable[Path]) -> list[str]:
    modules = []
    for path in files:
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return sorted(modules)


def _last_lines(text: str, count: int = 15) -> tuple[str, ...]:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return tuple(lines[-count:])


def _evaluate(name: str, done: Completed, timeout: float, elapsed_ms: float, ok_message: str) -> CheckResult:
    """Decide the check ``name`` from the finished (or timed out) subprocess ``done``."""
    if done.timed_out:
        return CheckResult(name, False, f"timed out after {timeout:.0f} s", _last_lines(done.output), elapsed_ms)
    if done.returncode != 0:
        lines = _last_lines(done.output)
        return CheckResult(name, False, f"exit code {done.returncode}: {_first_error(lines)}", lines, elapsed_ms)
    return CheckResult(name, True, ok_message, (), elapsed_ms)


def _first_error(lines: Sequence[str]) -> str:
    line = next(
        (line for line in lines if "error" in line.lower() or "FAILED" in line), lines[-1] if lines else ""
    )
    return line.strip()


def _subprocess_check(
    name: str,
    command: Sequence[str],
    root: Path,
    timeout: float,
    cancel: threading.Event | None,
    ok_message: str,
) -> tuple[CheckResult, Completed]:
    started = time.perf_counter()
    done = run_command(command, root, service_environment(root), timeout, cancel)
    elapsed = (time.perf_counter() - started) * 1000
    if done.cancelled:
        raise _cancelled(name)
    return _evaluate(name, done, timeout, elapsed, ok_message), done


def _tests_result(result: CheckResult, output: str) -> tuple[CheckResult, int]:
    """Return the ``tests`` check with pytest's count of passed tests (a run where no test ran fails)."""
    passed = _pytest_passed(output)
    if result.passed and passed == 0:
        return CheckResult("tests", False, "no test ran", (), result.duration_ms), 0
    if result.passed:
        return CheckResult("tests", True, f"{passed} tests pass", (), result.duration_ms), passed
    return result, passed


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _check_imports_and_tests(
    root: Path, modules: Sequence[str], test_dirs: Sequence[str], timeout: float, cancel: threading.Event | None
) -> tuple[CheckResult, CheckResult, int]:
    """Run the ``imports`` and ``tests`` checks in one subprocess (:func:`.probe.imports_then_tests`).

    Returns both checks and the number of tests that passed. When that subprocess does not end normally (it
    timed out, crashed, or an import failed before the tests), each check it did not decide runs on its own
    in a fresh subprocess, as both did before they were merged.
    """
    plain = [m for m in modules if not _TEST_MODULE.search(m)]
    test_modules = [m for m in modules if _TEST_MODULE.search(m)]
    pytest_args = ["-q", "-p", "no:cacheprovider", "--rootdir", str(root), *test_dirs]
    imports_ok = f"{len(modules)} modules import"
    with tempfile.TemporaryDirectory(prefix="agents-verify-") as scratch:
        state_file = Path(scratch) / "state.json"
        counts = [str(state_file), str(len(plain)), str(len(test_modules))]
        command = [*_probe(probe.IMPORTS_THEN_TESTS), *counts, *plain, *test_modules, *pytest_args]
        started = time.perf_counter()
        done = run_command(command, root, service_environment(root), timeout, cancel)
        elapsed = (time.perf_counter() - started) * 1000
        state = _read_state(state_file)
    phase = state.get("phase")
    if done.cancelled:
        raise _cancelled("tests" if phase == "tests" else "imports")
    imports_s = state.get("imports_s")
    imports_ms = min(elapsed, imports_s * 1000) if isinstance(imports_s, int | float) else elapsed
    tests_ms = elapsed - imports_ms

    tests: CheckResult | None = None
    if phase == "tests":  # it ended while pytest ran: that is the tests' verdict
        tests = _evaluate("tests", done, timeout, tests_ms, "tests pass")
    elif isinstance(state.get("tests"), int):  # pytest finished
        finished = Completed(state["tests"], done.output)
        tests = _evaluate("tests", finished, timeout, tests_ms, "tests pass")
    output = done.output
    if tests is None:
        tests, alone = _subprocess_check(
            "tests", [*_probe(probe.TESTS), *pytest_args], root, timeout, cancel, "tests pass"
        )
        output = alone.output
    tests, tests_passed = _tests_result(tests, output)

    failure = state.get("imports")
    if phase == "done" and isinstance(failure, str):
        if failure:
            lines = _last_lines(failure)
            why = lines[-1].strip() if lines else "?"  # the exception, last line of the traceback
            imports = CheckResult("imports", False, f"import failed: {why}", lines, imports_ms)
        else:
            imports = CheckResult("imports", True, imports_ok, (), imports_ms)
    elif done.timed_out and phase in ("imports", "test-imports"):
        imports = _evaluate("imports", done, timeout, imports_ms, imports_ok)
    else:
        imports, _ = _subprocess_check(
            "imports", [*_probe(probe.IMPORTS), *modules], root, timeout, cancel, imports_ok
        )
    return imports, tests, tests_passed


def _check_mypy(
    root: Path, packages: Sequence[str], timeout: float, cancel: threading.Event | None
) -> CheckResult:
    """Run ``mypy --strict`` on ``packages``, starting from a copy of the seed cache when there is a usable one.

    A seeded run that does not end as mypy ends (see :func:`mypy_output_is_sound`) is re-run with an empty
    cache, whose verdict is the one reported. The message ends with which cache the verdict comes from.
    """
    started = time.perf_counter()
    command = [sys.executable, "-m", "mypy", *_MYPY_FLAGS]

    def run_seed_build(seed_command: Sequence[str], cwd: Path) -> tuple[int, str]:
        done = run_command(seed_command, cwd, service_environment(cwd), timeout, cancel)
        if done.cancelled:
            raise _cancelled("mypy")
        return (-1 if done.timed_out else done.returncode), done.output

    with tempfile.TemporaryDirectory(prefix="agents-mypy-") as scratch:
        cache = prepare_mypy_cache(Path(scratch) / "seeded", root, command, run_seed_build, cancel=cancel)
        if cancel is not None and cancel.is_set():
            raise _cancelled("mypy")
        which = "seeded cache" if cache.seeded else f"empty cache: {cache.note}"
        result, done = _subprocess_check(
            "mypy", [*command, "--cache-dir", str(cache.path), *packages], root, timeout, cancel, _MYPY_OK
        )
        if cache.seeded and not done.timed_out and not mypy_output_is_sound(done.returncode, done.output):
            fresh = Path(scratch) / "fresh"
            fresh.mkdir()
            which = f"empty cache: the seeded run ended abnormally (exit code {done.returncode})"
            result, done = _subprocess_check(
                "mypy", [*command, "--cache-dir", str(fresh), *packages], root, timeout, cancel, _MYPY_OK
            )
    elapsed = (time.perf_counter() - started) * 1000
    return replace(result, message=f"{result.message} [{which}]", duration_ms=elapsed)


def verify_generated(
    path: str | os.PathLike[str],
    *,
    packages: Sequence[str] | None = None,
    timeout_seconds: float = 300.0,
    cancel: threading.Event | None = None,
    static_only: bool = False,
    concurrent: bool = False,
) -> VerificationReport:
    """Verify the generated service at ``path``: the static checks, then (if they pass) imports, tests, mypy, ruff.

    ``packages`` limits the node packages (and the application package) checked; the runtime and the shared
    models are always checked. By default every ``node_*`` package and the application are.
    ``timeout_seconds`` bounds each subprocess; ``cancel`` stops the verification (the running subprocess is
    killed and OnexError CANCELLED raised). ``static_only`` skips the subprocess checks; ``concurrent`` runs
    mypy and ruff beside the imports and tests (for a verification that runs alone, with cores to spare).
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise OnexError(f"{root} is not a directory", ErrorCode.NOT_FOUND, {"path": str(root)})
    models, apps = _shared_packages(root)
    all_nodes = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("node_"))
    if packages is None:
        nodes, checked_apps = all_nodes, apps
    else:
        wanted = sorted(set(packages))
        missing = [p for p in wanted if not (root / p).is_dir() or (p not in all_nodes and p not in apps)]
        if missing:
            raise OnexError(f"no such node packages in {root}: {missing}", ErrorCode.NOT_FOUND)
        nodes = [p for p in wanted if p in all_nodes]
        checked_apps = [p for p in wanted if p in apps]
    if not all_nodes:
        raise OnexError(f"{root} holds no node packages (node_*)", ErrorCode.NOT_FOUND, {"path": str(root)})
    runtime = [RUNTIME] if (root / RUNTIME).is_dir() else []
    all_packages = [*runtime, *models, *nodes, *checked_apps]
    files = python_files(root, all_packages)
    checks = static_checks(root, nodes, all_packages, files, shared=[*models, *checked_apps])
    subprocess_names = ("imports", "tests", "mypy", "ruff")
    tests_passed = 0
    if static_only:
        pass
    elif not all(c.passed for c in checks):
        checks += [
            CheckResult(n, False, "skipped: an earlier check failed", skipped=True) for n in subprocess_names
        ]
    else:
        modules = _modules(root, [f for f in files if f.name != "conftest.py"])
        test_dirs = [f"{n}/tests" for n in [*nodes, *checked_apps] if (root / n / "tests").is_dir()]

        def type_and_style() -> tuple[CheckResult, CheckResult]:
            mypy = _check_mypy(root, all_packages, timeout_seconds, cancel)
            ruff, _ = _subprocess_check(
                "ruff",
                [sys.executable, "-m", "ruff", "check", "--no-cache", "--quiet", *all_packages],
                root,
                timeout_seconds,
                cancel,
                "ruff is clean",
            )
            return mypy, ruff

        if concurrent:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="agents-verify-types") as pool:
                typed = pool.submit(contextvars.copy_context().run, type_and_style)
                try:
                    imports, tests, tests_passed = _check_imports_and_tests(
                        root, modules, test_dirs, timeout_seconds, cancel
                    )
                finally:
                    mypy, ruff = typed.result()
        else:
            imports, tests, tests_passed = _check_imports_and_tests(
                root, modules, test_dirs, timeout_seconds, cancel
            )
            mypy, ruff = type_and_style()
        checks += [imports, tests, mypy, ruff]
    return VerificationReport(root, tuple([*nodes, *checked_apps]), tuple(checks), tests_passed)


def _shared_packages(root: Path) -> tuple[list[str], list[str]]:
    """Return the shared models packages (``*_models``) and the application packages (with ``__main__.py``)."""
    models: list[str] = []
    apps: list[str] = []
    for directory in sorted(root.iterdir()):
        name = directory.name
        if name.startswith(("node_", ".")) or name == RUNTIME or not (directory / "__init__.py").is_file():
            continue
        if name.endswith("_models"):
            models.append(name)
        elif (directory / "__main__.py").is_file():
            apps.append(name)
    return models, apps


_COUNT = re.compile(r"(\d+) (passed|failed|error|errors)\b")


def _pytest_passed(output: str) -> int:
    for line in reversed(output.strip().splitlines()[-3:]):
        for number, word in _COUNT.findall(line):
            if word == "passed":
                return int(number)
    return 0
