"""verify_generated finds each kind of defect and says which check failed and why."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agents.lib.codegen.verify import verify_generated
from agents.lib.errors import ErrorCode, OnexError

EFFECT = "node_library_loans_effect"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("change", "check", "fragment"),
    [
        (lambda root: (root / EFFECT / "enums.py").write_text("x = (\n"), "syntax", "enums.py"),
        (lambda root: (root / EFFECT / "contract.yaml").write_text("a: [1\n"), "yaml", "contract.yaml"),
        (
            lambda root: edit(root / EFFECT / "node.py", "class Node", "# TODO finish\nclass Node"),
            "placeholders",
            "TODO",
        ),
        (lambda root: edit(root / EFFECT / "node.py", "def _require_id", "def RequireId"), "naming", "RequireId"),
        (
            lambda root: edit(root / EFFECT / "contract.yaml", "name: create_book", "name: make_book"),
            "contract",
            "make_book is in the contract but not defined",
        ),
        (
            lambda root: edit(root / EFFECT / "contract.yaml", "node_type: EFFECT", "node_type: SIDE_EFFECT"),
            "contract",
            "node_type",
        ),
        (
            lambda root: edit(
                root / EFFECT / "node.py", "from typing import", "import agents.lib\nfrom typing import"
            ),
            "self_contained",
            "imports agents.lib",
        ),
    ],
)
def test_static_defects(service_copy: Path, change: object, check: str, fragment: str) -> None:
    change(service_copy)  # type: ignore[operator]
    report = verify_generated(service_copy)
    assert not report.passed
    failed = report.check(check)
    assert not failed.passed
    assert any(fragment in p for p in failed.problems), failed.problems
    assert all(report.check(n).skipped for n in ("imports", "tests", "mypy", "ruff"))
    assert f"{check}:" in report.summary()


def test_failing_generated_test(service_copy: Path) -> None:
    edit(
        service_copy / EFFECT / "tests" / "test_node.py",
        "assert created == sample_book()",
        "assert created != sample_book()",
    )
    report = verify_generated(service_copy, packages=[EFFECT])
    assert [c.name for c in report.failed_checks] == ["tests"]
    assert "exit code 1" in report.check("tests").message


def test_type_error_and_lint_error(service_copy: Path) -> None:
    edit(service_copy / EFFECT / "node.py", "        return record\n", "        return 1  # type: wrong\n")
    edit(
        service_copy / EFFECT / "models.py",
        "from __future__ import annotations\n",
        "from __future__ import annotations\nimport os\n",
    )
    report = verify_generated(service_copy, packages=[EFFECT])
    failed = {c.name for c in report.failed_checks}
    assert {"mypy", "ruff"} <= failed
    assert any("node.py" in p and "Incompatible return value" in p for p in report.check("mypy").problems)
    assert any("F401" in p for p in report.check("ruff").problems)


def test_an_import_error_is_reported(service_copy: Path) -> None:
    edit(
        service_copy / EFFECT / "enums.py",
        "from enum import StrEnum\n",
        "from enum import StrEnum\nraise RuntimeError('x')\n",
    )
    report = verify_generated(service_copy, packages=[EFFECT])
    assert not report.check("imports").passed
    assert "RuntimeError" in "\n".join(report.check("imports").problems)


def test_agents_is_unimportable_in_the_subprocesses(service_copy: Path) -> None:
    tests = service_copy / EFFECT / "tests" / "test_extra.py"
    tests.write_text("import importlib\n\n\ndef test_x() -> None:\n    importlib.import_module('agents')\n")
    report = verify_generated(service_copy, packages=[EFFECT], static_only=False)
    assert not report.check("tests").passed


def test_cancel_kills_the_running_check(service_copy: Path) -> None:
    hang = service_copy / EFFECT / "tests" / "test_hang.py"
    hang.write_text("import time\n\n\ndef test_hang() -> None:\n    time.sleep(600)\n")
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    with pytest.raises(OnexError) as caught:
        verify_generated(service_copy, packages=[EFFECT], cancel=cancel)
    assert caught.value.code is ErrorCode.TIMEOUT
    assert caught.value.details == {"check": "tests"}


def test_timeout_fails_the_check(service_copy: Path) -> None:
    hang = service_copy / EFFECT / "tests" / "test_hang.py"
    hang.write_text("import time\n\n\ndef test_hang() -> None:\n    time.sleep(600)\n")
    report = verify_generated(service_copy, packages=[EFFECT], timeout_seconds=3)
    assert report.check("tests").message == "timed out after 3 s"


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(OnexError) as missing:
        verify_generated(tmp_path / "nope")
    assert missing.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(OnexError, match="holds no node packages"):
        verify_generated(tmp_path)
