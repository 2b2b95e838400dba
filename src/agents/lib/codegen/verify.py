"""Verification of a generated service: it must parse, load, import, pass its own tests, mypy and ruff.

``verify_generated(path)`` runs these checks and returns a :class:`VerificationReport`; every check is
blocking (the report passes only if all pass) and says why it failed:

``syntax`` every ``.py`` parses; ``yaml`` every YAML file loads; ``placeholders`` no template markers or
TODO/FIXME left in code; ``naming`` packages, classes, functions and modules follow the naming rules;
``contract`` each ``contract.yaml`` validates against :class:`~agents.lib.codegen.contract.NodeContract` and
matches its node; ``self_contained`` no module imports ``agents``; then, in subprocesses: ``imports`` every
module imports, ``tests`` the service's tests pass, ``mypy`` ``mypy --strict`` is clean, ``ruff`` ``ruff check``
is clean. The subprocess checks run only when the static ones passed.

Subprocesses run with ``agents`` made unimportable, without bytecode or tool caches in the service, and are
killed (with their children) on timeout or when ``cancel`` is set.

Two things keep this fast without making it less strict:

* ``imports`` and ``tests`` share one subprocess: a fresh interpreter imports every module that is not a test
  module, then runs pytest (which imports the test modules itself, rewriting their asserts), then imports any
  test module pytest did not. Each check keeps its own verdict and reasons; whatever that process leaves
  undecided (it timed out, crashed, or an import failed before the tests) runs on its own as before.
* mypy starts from a copy of a seed cache of what every service imports from outside itself (the stdlib,
  pydantic, PyYAML, pytest), built once and reused across processes: see :mod:`agents.lib.codegen.mypy_seed`.
  The service's own modules are always checked afresh; a seeded run that ends abnormally is re-run with an
  empty cache. The mypy check's message ends with the cache its verdict comes from (``[seeded cache]`` or
  ``[empty cache: <why>]``).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.lib.codegen.contract import NodeContract, load_yaml
from agents.lib.codegen.mypy_seed import mypy_output_is_sound, prepare_mypy_cache
from agents.lib.errors import ErrorCode, OnexError

__all__ = ["CheckResult", "VerificationReport", "verify_generated"]

RUNTIME = "onex_runtime"
_NODE_DIR = re.compile(r"^node_[a-z0-9_]+_(effect|compute|reducer|orchestrator)$")
_SNAKE = re.compile(r"^_{0,2}[a-z][a-z0-9_]*$")
_PASCAL = re.compile(r"^_?[A-Z][A-Za-z0-9]*$")
_MARKERS = re.compile(r"\{\{\s*[A-Za-z_]|\{%|%\}|\{#")
_TODO = re.compile(r"\b(TODO|FIXME|XXX)\b")
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
# CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two threads running
# ast.parse at once can fail with "SystemError: AST constructor recursion depth mismatch" (gh-106905).
# Verifications run on worker threads; their parses take turns.
_AST_LOCK = threading.Lock()
_BLOCK_AGENTS = "import sys; sys.modules['agents'] = None; "
_MYPY_FLAGS = ("--strict", "--no-color-output")
_IMPORT_CODE = _BLOCK_AGENTS + "import importlib; [importlib.import_module(m) for m in sys.argv[1:]]"
_PYTEST_CODE = _BLOCK_AGENTS + "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
_TEST_MODULE = re.compile(r"(^|\.)(test_[^.]*|[^.]*_test)$")
"""Modules pytest collects (its default ``python_files``): it imports them itself, with assertion rewriting."""

# The imports and tests checks in one process, which saves an interpreter and the service's imports (pydantic
# above all) per verification: first every module that is not a test module is imported in the fresh
# interpreter (the imports check), then pytest runs (the tests check), then the test modules pytest did not
# import are imported. argv: state file, the two module counts, the modules, the test modules, pytest's
# arguments. The state file (JSON, replaced atomically) says which phase the process is in and what each
# phase found, so that a process that ends abnormally is still attributed to the right check.
_IMPORTS_THEN_TESTS = (
    _BLOCK_AGENTS
    + """import importlib, json, os, time, traceback
started = time.perf_counter()
state_file, plain_count, test_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
plain = sys.argv[4:4 + plain_count]
test_modules = sys.argv[4 + plain_count:4 + plain_count + test_count]
pytest_args = sys.argv[4 + plain_count + test_count:]
state = {}
def save(**changes):
    state.update(changes)
    with open(state_file + '.tmp', 'w', encoding='utf-8') as handle:
        json.dump(state, handle)
    os.replace(state_file + '.tmp', state_file)
def import_all(names):
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:
            return traceback.format_exc()
    return ''
save(phase='imports')
failure = import_all(plain)
save(imports_s=time.perf_counter() - started)
if failure:
    save(phase='done', imports=failure)
    sys.exit(3)
save(phase='tests')
import pytest
code = int(pytest.main(pytest_args))
save(phase='test-imports', tests=code)
save(phase='done', imports=import_all([m for m in test_modules if m not in sys.modules]))
sys.exit(code)
"""
)
_MYPY_OK = "mypy --strict is clean"


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, a one-line message, and the problems found."""

    name: str
    passed: bool
    message: str
    problems: tuple[str, ...] = ()
    duration_ms: float = 0.0
    skipped: bool = False


@dataclass(frozen=True)
class VerificationReport:
    """What :func:`verify_generated` found."""

    path: Path
    packages: tuple[str, ...]
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)
    tests_passed: int = 0

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        """The checks that did not pass (skipped ones included)."""
        return tuple(c for c in self.checks if not c.passed)

    def check(self, name: str) -> CheckResult:
        """Return the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def summary(self) -> str:
        """One line: passed, or which checks failed and why."""
        if self.passed:
            return f"verified: {len(self.checks)} checks passed, {self.tests_passed} tests passed"
        return "; ".join(f"{c.name}: {c.message}" for c in self.failed_checks if not c.skipped)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly form."""
        return {
            "path": str(self.path),
            "passed": self.passed,
            "packages": list(self.packages),
            "tests_passed": self.tests_passed,
            "checks": [
                {
                    "name": c.name,
                    "passed": c.passed,
                    "skipped": c.skipped,
                    "message": c.message,
                    "problems": list(c.problems),
                    "duration_ms": round(c.duration_ms, 1),
                }
                for c in self.checks
            ],
        }


# --- static checks ------------------------------------------------------------------------------------------


def _python_files(root: Path, packages: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if not _SKIP_DIRS & set(path.relative_to(root).parts):
                files.append(path)
    return files


def _check_syntax(root: Path, files: Iterable[Path]) -> tuple[CheckResult, dict[Path, ast.Module]]:
    trees: dict[Path, ast.Module] = {}
    problems = []
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
            with _AST_LOCK:
                trees[path] = ast.parse(source, filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            problems.append(f"{path.relative_to(root)}: {exc}")
    return _result("syntax", problems, f"{len(trees)} Python files parse"), trees


def _check_yaml(root: Path, packages: Sequence[str]) -> tuple[CheckResult, dict[str, Any]]:
    loaded: dict[str, Any] = {}
    problems = []
    for package in packages:
        for path in sorted((root / package).rglob("*.y*ml")):
            try:
                text = path.read_text(encoding="utf-8")
                loaded[str(path.relative_to(root))] = load_yaml(text)
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                problems.append(f"{path.relative_to(root)}: {exc}")
    return _result("yaml", problems, f"{len(loaded)} YAML files load"), loaded


def _check_placeholders(root: Path, files: Iterable[Path]) -> CheckResult:
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError) as exc:
            problems.append(f"{path.relative_to(root)}: cannot tokenize ({exc})")
            continue
        code = []
        for token in tokens:
            if token.type == tokenize.COMMENT and _TODO.search(token.string):
                problems.append(f"{path.relative_to(root)}:{token.start[0]}: {token.string.strip()}")
            if token.type not in (tokenize.STRING, tokenize.COMMENT):
                code.append(token.string)
        if _MARKERS.search("".join(code)):
            problems.append(f"{path.relative_to(root)}: template markers left outside strings")
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and _MARKERS.search(pyproject.read_text(encoding="utf-8")):
        problems.append("pyproject.toml: template marker left")
    return _result("placeholders", sorted(set(problems)), "no placeholders left")


def _definitions_and_imports(trees: dict[Path, ast.Module]) -> dict[Path, list[ast.AST]]:
    """Walk each tree once; keep the nodes the naming and self-containment checks look at."""
    wanted = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom)
    return {path: [node for node in ast.walk(tree) if isinstance(node, wanted)] for path, tree in trees.items()}


def _check_naming(root: Path, packages: Sequence[str], nodes_of: dict[Path, list[ast.AST]]) -> CheckResult:
    problems = []
    for package in packages:
        if package != RUNTIME and not _NODE_DIR.match(package):
            problems.append(f"{package}: node packages are named node_<domain>_<service>_<type>")
    for path, nodes in nodes_of.items():
        rel = path.relative_to(root)
        if not _SNAKE.match(path.stem):
            problems.append(f"{rel}: module name {path.stem!r} is not snake_case")
        for node in nodes:
            if isinstance(node, ast.ClassDef) and not _PASCAL.match(node.name):
                problems.append(f"{rel}:{node.lineno}: class {node.name!r} is not PascalCase")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _SNAKE.match(node.name):
                problems.append(f"{rel}:{node.lineno}: function {node.name!r} is not snake_case")
    return _result("naming", problems, "naming rules hold")


def _methods(tree: ast.Module, class_name: str) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    return None


def _check_contracts(
    root: Path, packages: Sequence[str], trees: dict[Path, ast.Module], loaded: dict[str, Any]
) -> CheckResult:
    problems = []
    nodes = [p for p in packages if p != RUNTIME]
    for package in nodes:
        data = loaded.get(f"{package}/contract.yaml")
        if data is None:
            problems.append(f"{package}: contract.yaml is missing or empty")
            continue
        try:
            contract = NodeContract.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                where = ".".join(str(p) for p in error["loc"])
                problems.append(f"{package}/contract.yaml: {where}: {error['msg']}")
            continue
        if contract.name != package:
            problems.append(f"{package}/contract.yaml: name {contract.name!r} is not the package name")
        tree = trees.get(root / package / "node.py")
        if tree is None:
            problems.append(f"{package}: node.py is missing")
            continue
        methods = _methods(tree, contract.class_name)
        if methods is None:
            problems.append(f"{package}/node.py: class {contract.class_name} is not defined")
            continue
        for name in [o.name for o in contract.operations] + [h.name for h in contract.hooks]:
            if name not in methods:
                problems.append(f"{package}: {contract.class_name}.{name} is in the contract but not defined")
    return _result("contract", problems, f"{len(nodes)} contracts valid")


def _check_self_contained(root: Path, nodes_of: dict[Path, list[ast.AST]]) -> CheckResult:
    problems = []
    for path, nodes in nodes_of.items():
        for node in nodes:
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            problems += [
                f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}: imports {name}"
                for name in names
                if name == "agents" or name.startswith("agents.")
            ]
    return _result("self_contained", problems, "no module imports agents")


def _result(name: str, problems: Sequence[str], ok_message: str) -> CheckResult:
    if problems:
        return CheckResult(name, False, f"{len(problems)} problem(s), first: {problems[0]}", tuple(problems))
    return CheckResult(name, True, ok_message)


# --- subprocess checks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Completed:
    returncode: int
    output: str
    timed_out: bool = False
    cancelled: bool = False


def _run(
    command: Sequence[str], cwd: Path, env: dict[str, str], timeout: float, cancel: threading.Event | None
) -> _Completed:
    """Run ``command`` in its own process group; kill the whole group on timeout or cancellation."""
    with tempfile.TemporaryFile() as sink:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        timed_out = cancelled = False
        exited = _ExitWatcher(process)
        try:
            while True:
                if exited(_POLL_S):
                    break
                if cancel is not None and cancel.is_set():
                    cancelled = True
                elif time.monotonic() >= deadline:
                    timed_out = True
                else:
                    continue
                _kill_group(process)
                break
        finally:
            exited.close()
        sink.seek(0)
        output = sink.read().decode("utf-8", "replace")
    return _Completed(process.returncode, output, timed_out, cancelled)


_POLL_S = 0.05
"""How often a running subprocess's cancellation and deadline are checked."""


class _ExitWatcher:
    """Waits up to a given time for a process to end; wakes the moment it does.

    On Linux a pidfd (``os.pidfd_open``) becomes readable when the process exits, so ``select`` returns at
    once; ``Popen.wait(timeout)`` instead sleeps in steps of up to 50 ms, and every step a finished check spends
    waiting to be noticed is a core left idle. Elsewhere it falls back to ``Popen.wait``.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._fd: int | None = None
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            with contextlib.suppress(OSError):
                self._fd = pidfd_open(process.pid)

    def __call__(self, timeout: float) -> bool:
        """Return True once the process has ended (and was reaped), False if ``timeout`` passed first."""
        if self._fd is not None:
            try:
                ready, _, _ = select.select([self._fd], [], [], timeout)
            except (OSError, ValueError):
                ready = []
                self.close()
            if not ready:
                return self._process.poll() is not None
            self._process.wait()
            return True
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        """Release the pidfd."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


_GROUP_EXIT_S = 5.0
"""How long a killed process group is given to be gone (SIGKILL cannot be caught; this is scheduling only)."""


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and its whole group; return once none of them runs any more (bounded)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # The leader is reaped; its children (reparented to init when it died) may still be on their way out.
    deadline = time.monotonic() + _GROUP_EXIT_S
    pause = 0.001
    while _group_runs(process.pid) and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _group_runs(pgid: int) -> bool:
    """Whether a process of the group ``pgid`` still runs (a zombie only waits to be reaped: it does not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: the kernel's answer (which counts zombies) is all there is
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X", "x"):
            return True
    return False


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "MYPY"))}
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONPATH": str(root),
            "PYTHONHASHSEED": "0",
            "NO_COLOR": "1",
        }
    )
    env.pop("PYTHONSTARTUP", None)
    return env


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


def _evaluate(name: str, done: _Completed, timeout: float, elapsed_ms: float, ok_message: str) -> CheckResult:
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
) -> tuple[CheckResult, _Completed]:
    started = time.perf_counter()
    done = _run(command, root, _environment(root), timeout, cancel)
    elapsed = (time.perf_counter() - started) * 1000
    if done.cancelled:
        raise OnexError(f"verification cancelled during {name}", ErrorCode.TIMEOUT, {"check": name})
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
    """Run the ``imports`` and ``tests`` checks in one subprocess (see ``_IMPORTS_THEN_TESTS``).

    Returns both checks and the number of tests that passed. When that subprocess does not end normally (it
    timed out, crashed, or an import failed before the tests), each check it did not decide runs on its own
    in a fresh subprocess, as both did before they were merged.
    """
    python = sys.executable
    plain = [m for m in modules if not _TEST_MODULE.search(m)]
    test_modules = [m for m in modules if _TEST_MODULE.search(m)]
    pytest_args = ["-q", "-p", "no:cacheprovider", "--rootdir", str(root), *test_dirs]
    imports_ok = f"{len(modules)} modules import"
    with tempfile.TemporaryDirectory(prefix="agents-verify-") as scratch:
        state_file = Path(scratch) / "state.json"
        counts = [str(state_file), str(len(plain)), str(len(test_modules))]
        command = [python, "-c", _IMPORTS_THEN_TESTS, *counts, *plain, *test_modules, *pytest_args]
        started = time.perf_counter()
        done = _run(command, root, _environment(root), timeout, cancel)
        elapsed = (time.perf_counter() - started) * 1000
        state = _read_state(state_file)
    phase = state.get("phase")
    if done.cancelled:
        check = "tests" if phase == "tests" else "imports"
        raise OnexError(f"verification cancelled during {check}", ErrorCode.TIMEOUT, {"check": check})
    imports_s = state.get("imports_s")
    imports_ms = min(elapsed, imports_s * 1000) if isinstance(imports_s, int | float) else elapsed
    tests_ms = elapsed - imports_ms

    tests: CheckResult | None = None
    if phase == "tests":  # it ended while pytest ran: that is the tests' verdict
        tests = _evaluate("tests", done, timeout, tests_ms, "tests pass")
    elif isinstance(state.get("tests"), int):  # pytest finished
        finished = _Completed(state["tests"], done.output)
        tests = _evaluate("tests", finished, timeout, tests_ms, "tests pass")
    output = done.output
    if tests is None:
        tests, alone = _subprocess_check(
            "tests", [python, "-c", _PYTEST_CODE, *pytest_args], root, timeout, cancel, "tests pass"
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
            "imports", [python, "-c", _IMPORT_CODE, *modules], root, timeout, cancel, imports_ok
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
        done = _run(seed_command, cwd, _environment(cwd), timeout, cancel)
        if done.cancelled:
            raise OnexError("verification cancelled during mypy", ErrorCode.TIMEOUT, {"check": "mypy"})
        return (-1 if done.timed_out else done.returncode), done.output

    with tempfile.TemporaryDirectory(prefix="agents-mypy-") as scratch:
        cache = prepare_mypy_cache(Path(scratch) / "seeded", root, command, run_seed_build, cancel=cancel)
        if cancel is not None and cancel.is_set():
            raise OnexError("verification cancelled during mypy", ErrorCode.TIMEOUT, {"check": "mypy"})
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
) -> VerificationReport:
    """Verify the generated service at ``path``; see the module docstring for the checks.

    ``packages`` limits the node packages checked (the runtime is always checked); by default every
    ``node_*`` package is. ``timeout_seconds`` bounds each subprocess; ``cancel`` stops the verification (the
    running subprocess is killed and OnexError TIMEOUT raised). ``static_only`` skips the subprocess checks.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise OnexError(f"{root} is not a directory", ErrorCode.NOT_FOUND, {"path": str(root)})
    if packages is None:
        nodes = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("node_"))
    else:
        nodes = sorted(set(packages))
        missing = [p for p in nodes if not (root / p).is_dir()]
        if missing:
            raise OnexError(f"no such node packages in {root}: {missing}", ErrorCode.NOT_FOUND)
    if not nodes:
        raise OnexError(f"{root} holds no node packages (node_*)", ErrorCode.NOT_FOUND, {"path": str(root)})
    all_packages = [RUNTIME, *nodes] if (root / RUNTIME).is_dir() else nodes
    files = _python_files(root, all_packages)

    checks: list[CheckResult] = []
    syntax, trees = _check_syntax(root, files)
    yaml_check, loaded = _check_yaml(root, nodes)
    nodes_of = _definitions_and_imports(trees)
    checks += [
        syntax,
        yaml_check,
        _check_placeholders(root, files),
        _check_naming(root, all_packages, nodes_of),
        _check_contracts(root, nodes, trees, loaded),
        _check_self_contained(root, nodes_of),
    ]
    if not (root / RUNTIME).is_dir():
        checks.append(CheckResult("runtime", False, f"{RUNTIME}/ is missing", (f"{RUNTIME}/ is missing",)))
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
        test_dirs = [f"{n}/tests" for n in nodes if (root / n / "tests").is_dir()]
        imports, tests, tests_passed = _check_imports_and_tests(root, modules, test_dirs, timeout_seconds, cancel)
        mypy = _check_mypy(root, all_packages, timeout_seconds, cancel)
        ruff, _ = _subprocess_check(
            "ruff",
            [sys.executable, "-m", "ruff", "check", "--no-cache", "--quiet", *all_packages],
            root,
            timeout_seconds,
            cancel,
            "ruff is clean",
        )
        checks += [imports, tests, mypy, ruff]
    return VerificationReport(root, tuple(nodes), tuple(checks), tests_passed)


_COUNT = re.compile(r"(\d+) (passed|failed|error|errors)\b")


def _pytest_passed(output: str) -> int:
    for line in reversed(output.strip().splitlines()[-3:]):
        for number, word in _COUNT.findall(line):
            if word == "passed":
                return int(number)
    return 0
