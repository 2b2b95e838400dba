"""The program verification runs inside a generated service, where ``agents`` must not be importable.

Run by path, ``python -P probe.py MODE ARG...`` (never imported there); it needs only the standard library and
pytest. Modes: ``imports MODULE...``, ``tests PYTEST_ARG...``, and ``imports-then-tests`` (both in one
interpreter; see :func:`imports_then_tests`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

__all__ = ["IMPORTS", "IMPORTS_THEN_TESTS", "TESTS", "block_agents", "imports_then_tests", "main"]

IMPORTS = "imports"
"""Mode: import each module named; an exception ends the program with its traceback (exit code 1)."""
TESTS = "tests"
"""Mode: run pytest with the arguments given; its exit code is the program's."""
IMPORTS_THEN_TESTS = "imports-then-tests"
"""Mode: the imports, then pytest, in one interpreter (:func:`imports_then_tests`)."""


def block_agents() -> None:
    """Make ``import agents`` (and its submodules) fail, as it would where the service is deployed."""
    sys.modules["agents"] = None  # type: ignore[assignment]  # None in sys.modules: the import system refuses it


def _import_all(names: Sequence[str]) -> str:
    """Import ``names`` in order; return the traceback of the first that fails, or ``""``."""
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # anything a module does at import time is its failure, SystemExit included
            return traceback.format_exc()
    return ""


class _State:
    """The JSON state file: which phase the program is in and what each phase found, replaced atomically."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[str, Any] = {}

    def save(self, **changes: Any) -> None:
        self.values.update(changes)
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self.values, handle)
        os.replace(temporary, self.path)


def imports_then_tests(args: Sequence[str]) -> int:
    """Import every module that is not a test module, run pytest, then import the test modules it did not.

    ``args``: the state file, the number of plain modules, the number of test modules, those modules, then
    pytest's arguments. The state file says which phase the program reached (``imports``, ``tests``,
    ``test-imports``, ``done``) and what each found (``imports``: a traceback or ``""``; ``tests``: pytest's exit
    code; ``imports_s``: seconds spent importing), so that a process that ends abnormally is still attributed to
    the right check. Returns 3 when an import failed before the tests, else pytest's exit code.
    """
    started = time.perf_counter()
    state = _State(args[0])
    plain_count, test_count = int(args[1]), int(args[2])
    plain = list(args[3 : 3 + plain_count])
    test_modules = list(args[3 + plain_count : 3 + plain_count + test_count])
    pytest_args = list(args[3 + plain_count + test_count :])
    state.save(phase="imports")
    failure = _import_all(plain)
    state.save(imports_s=time.perf_counter() - started)
    if failure:
        state.save(phase="done", imports=failure)
        return 3
    state.save(phase="tests")
    import pytest  # only now: the imports check must see the service's modules load on their own

    code = int(pytest.main(pytest_args))
    state.save(phase="test-imports", tests=code)
    state.save(phase="done", imports=_import_all([m for m in test_modules if m not in sys.modules]))
    return code


def main(argv: Sequence[str]) -> int:
    """Block ``agents``, then run the mode ``argv[0]`` with the rest of ``argv``; return the exit code."""
    block_agents()
    if not argv:
        print(f"usage: probe.py {{{IMPORTS}|{TESTS}|{IMPORTS_THEN_TESTS}}} ARG...", file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    if mode == IMPORTS:
        for name in args:
            importlib.import_module(name)
        return 0
    if mode == TESTS:
        import pytest

        return int(pytest.main(list(args)))
    if mode == IMPORTS_THEN_TESTS:
        return imports_then_tests(args)
    print(f"probe.py: unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
