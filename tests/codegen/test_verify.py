"""verify_generated finds each kind of defect and says which check failed and why."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.lib.codegen import probe
from agents.lib.codegen.mypy_seed import SEED_DIR_VARIABLE, SEED_MODULES
from agents.lib.codegen.runner import service_environment
from agents.lib.codegen.verify import verify_generated
from agents.lib.errors import ErrorCode, OnexError

EFFECT = "node_library_loans_effect"
COMPUTE = "node_library_loans_compute"
REDUCER = "node_library_loans_reducer"
ORCHESTRATOR = "node_library_loans_orchestrator"
SEEDED = "[seeded cache]"
# A type error that involves the seed: pydantic's BaseModel.model_dump() returns dict[str, Any].
TYPE_ERROR = "\n\ndef dump_as_int(model: BaseModel) -> int:\n    return model.model_dump()\n"
TYPE_ERROR_MESSAGE = 'Incompatible return value type (got "dict[str, Any]", expected "int")'


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


def test_the_probe_is_a_program_of_its_own_that_blocks_agents(service_copy: Path) -> None:
    """The program run inside the service is a real file, run by path; there `agents` is unimportable, the
    service is, and the modules beside the program are not (its directory is kept off sys.path)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-P", probe.__file__, *args],
            cwd=service_copy,
            env=service_environment(service_copy),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    blocked = run(probe.IMPORTS, "agents")
    assert blocked.returncode == 1
    assert blocked.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: import of agents halted; None in sys.modules"
    )
    assert run(probe.IMPORTS, f"{EFFECT}.node", "onex_runtime").returncode == 0
    sibling = run(probe.IMPORTS, "static_checks")
    assert sibling.stderr.strip().splitlines()[-1] == "ModuleNotFoundError: No module named 'static_checks'"
    tests = run(probe.TESTS, "-q", "-p", "no:cacheprovider", f"{EFFECT}/tests")
    assert tests.returncode == 0, tests.stdout
    assert " passed" in tests.stdout
    assert (run("bogus").returncode, run("bogus").stderr) == (2, "probe.py: unknown mode 'bogus'\n")


def test_cancel_kills_the_running_check(service_copy: Path, tmp_path: Path) -> None:
    started = tmp_path / "hang.started"
    hang = service_copy / EFFECT / "tests" / "test_hang.py"
    hang.write_text(
        "import pathlib\nimport time\n\n\ndef test_hang() -> None:\n"
        f"    pathlib.Path({str(started)!r}).touch()\n    time.sleep(600)\n"
    )
    cancel = threading.Event()

    def cancel_once_the_test_hangs() -> None:  # not after a fixed delay: on a busy machine imports take longer
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        cancel.set()

    watcher = threading.Thread(target=cancel_once_the_test_hangs)
    watcher.start()
    try:
        with pytest.raises(OnexError) as caught:
            verify_generated(service_copy, packages=[EFFECT], cancel=cancel)
    finally:
        cancel.set()
        watcher.join()
    assert started.exists()
    assert caught.value.code is ErrorCode.CANCELLED  # stopped on request: not a timeout
    assert caught.value.message == "verification cancelled during tests"
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


# --- imports and tests share a subprocess: each keeps its own verdict ---------------------------------------


def test_a_test_module_that_does_not_import_fails_both_checks(service_copy: Path) -> None:
    tests = service_copy / EFFECT / "tests" / "test_node.py"
    tests.write_text(tests.read_text() + "\nraise RuntimeError('broken test module')\n")
    report = verify_generated(service_copy, packages=[EFFECT])
    assert [c.name for c in report.failed_checks] == ["imports", "tests"]
    assert report.check("imports").message == "import failed: RuntimeError: broken test module"
    assert "exit code 2" in report.check("tests").message


def test_a_module_pytest_does_not_collect_is_still_imported(service_copy: Path) -> None:
    (service_copy / EFFECT / "tests" / "helpers.py").write_text("raise RuntimeError('broken helper')\n")
    report = verify_generated(service_copy, packages=[EFFECT])
    assert [c.name for c in report.failed_checks] == ["imports"]
    assert report.check("imports").message == "import failed: RuntimeError: broken helper"
    assert report.check("tests").passed


def test_pytest_still_rewrites_the_asserts_of_test_modules(service_copy: Path) -> None:
    (service_copy / EFFECT / "tests" / "test_more.py").write_text(
        "def test_more() -> None:\n    found = 1\n    assert found == 2\n"
    )
    report = verify_generated(service_copy, packages=[EFFECT])
    assert [c.name for c in report.failed_checks] == ["tests"]
    assert "E       assert 1 == 2" in report.check("tests").problems


def test_a_hanging_import_times_out_the_imports_check(service_copy: Path) -> None:
    enums = service_copy / EFFECT / "enums.py"
    enums.write_text(enums.read_text() + "\nimport time\n\ntime.sleep(600)\n")
    report = verify_generated(service_copy, packages=[EFFECT], timeout_seconds=3)
    assert report.check("imports").message == "timed out after 3 s"
    assert not report.check("tests").passed  # collected on its own, it hangs too


# --- the seed mypy cache ------------------------------------------------------------------------------------


def test_the_seed_covers_what_generated_services_import(generated_service: Path) -> None:
    own = {p.name for p in generated_service.iterdir() if p.is_dir()}
    imported: set[str] = set()
    for path in generated_service.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)
    extras = {"fastapi", "starlette", "httpx", "uvicorn", "sqlalchemy"}  # never followed by the service's mypy
    external = {name for name in imported if name.split(".")[0] not in own | extras}
    assert {"pydantic", "yaml", "pytest", "typing"} <= external
    assert external <= set(SEED_MODULES), sorted(external - set(SEED_MODULES))


@pytest.fixture(scope="module")
def built_seed(generated_service: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of seeds holding the seed of the generated service, built by a verification."""
    root = tmp_path_factory.mktemp("built-seed")
    service = tmp_path_factory.mktemp("seed-service") / "svc"
    shutil.copytree(generated_service, service)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SEED_DIR_VARIABLE, str(root / "seeds"))
        report = verify_generated(service, packages=[EFFECT])
    assert report.passed, report.summary()
    assert report.check("mypy").message.endswith(SEEDED)
    return root / "seeds"


@pytest.fixture
def seeds(built_seed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built seeds, used by this test's verifications."""
    target = tmp_path / "seeds"
    shutil.copytree(built_seed, target)
    monkeypatch.setenv(SEED_DIR_VARIABLE, str(target))
    return target


def only_seed(seeds: Path) -> Path:
    entries = sorted(seeds.iterdir())
    assert len(entries) == 1, entries  # one seed, no build or trash directory left behind
    assert (entries[0] / "manifest.json").is_file()
    return entries[0]


def test_a_type_error_is_reported_with_the_seed(service_copy: Path, seeds: Path) -> None:
    models = service_copy / EFFECT / "models.py"
    models.write_text(models.read_text() + TYPE_ERROR)
    report = verify_generated(service_copy, packages=[EFFECT])
    mypy = report.check("mypy")
    assert [c.name for c in report.failed_checks] == ["mypy"]
    assert mypy.message.endswith(SEEDED)
    assert any("models.py" in p and TYPE_ERROR_MESSAGE in p for p in mypy.problems), mypy.problems
    only_seed(seeds)


def test_the_seed_is_not_written_to(service_copy: Path, seeds: Path) -> None:
    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(seeds)): p.read_bytes() for p in sorted(seeds.rglob("*")) if p.is_file()}

    before = snapshot()
    report = verify_generated(service_copy, packages=[EFFECT, COMPUTE])
    assert report.passed, report.summary()
    assert report.check("mypy").message.endswith(SEEDED)
    assert snapshot() == before


def garbage_files(seed: Path) -> None:
    for path in (seed / "cache").rglob("*"):
        if path.is_file():
            path.write_bytes(os.urandom(max(64, path.stat().st_size // 8)))


def garbage_files_and_manifest(seed: Path) -> None:
    """Garbage the manifest vouches for: only mypy can tell."""
    garbage_files(seed)
    manifest = json.loads((seed / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (seed / "cache" / name).read_bytes()
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (seed / "manifest.json").write_text(json.dumps(manifest))


def garbage_manifest(seed: Path) -> None:
    (seed / "manifest.json").write_bytes(os.urandom(300))


def missing_files(seed: Path) -> None:
    for path in (seed / "cache").rglob("*.db"):
        path.unlink()


@pytest.mark.parametrize(
    ("corrupt", "broken", "fallback", "discarded"),
    [
        (garbage_files, False, "empty cache: seed discarded: ", True),
        (garbage_files, True, "empty cache: seed discarded: ", True),
        (garbage_files_and_manifest, False, "empty cache: the seeded run ended abnormally", False),
        (garbage_files_and_manifest, True, "empty cache: the seeded run ended abnormally", False),
        (garbage_manifest, False, "empty cache: seed discarded: unreadable manifest", True),
        (missing_files, True, "empty cache: seed discarded: ", True),
    ],
    ids=[
        "garbage-clean",
        "garbage-type-error",
        "vouched-garbage-clean",
        "vouched-garbage-type-error",
        "garbage-manifest-clean",
        "missing-files-type-error",
    ],
)
def test_a_corrupt_seed_falls_back_to_an_empty_cache(
    service_copy: Path,
    seeds: Path,
    corrupt: Callable[[Path], None],
    broken: bool,
    fallback: str,
    discarded: bool,
) -> None:
    """The verdict is the right one (a clean service passes, a type error is found) whatever the seed holds."""
    seed = only_seed(seeds)
    corrupt(seed)
    if broken:
        models = service_copy / EFFECT / "models.py"
        models.write_text(models.read_text() + TYPE_ERROR)
    report = verify_generated(service_copy, packages=[EFFECT])
    mypy = report.check("mypy")
    assert fallback in mypy.message
    assert mypy.message.endswith("]")
    assert seed.exists() is not discarded
    if broken:
        assert [c.name for c in report.failed_checks] == ["mypy"]
        assert any(TYPE_ERROR_MESSAGE in p for p in mypy.problems), mypy.problems
    else:
        assert report.passed, report.summary()


def test_a_discarded_seed_is_built_again(service_copy: Path, seeds: Path) -> None:
    garbage_files(only_seed(seeds))
    first = verify_generated(service_copy, packages=[EFFECT])
    assert "seed discarded" in first.check("mypy").message
    assert list(seeds.iterdir()) == []
    second = verify_generated(service_copy, packages=[EFFECT])
    assert second.passed, second.summary()
    assert second.check("mypy").message.endswith(SEEDED)
    only_seed(seeds)


def test_without_a_mypy_table_there_is_no_seed(service_copy: Path, seeds: Path) -> None:
    pyproject = service_copy / "pyproject.toml"
    text = pyproject.read_text().replace("[tool.mypy]", "[tool.not_mypy]")
    pyproject.write_text(text.replace("[[tool.mypy.overrides]]", "[[tool.not_mypy.overrides]]"))
    report = verify_generated(service_copy, packages=[EFFECT])
    assert report.passed, report.summary()
    assert report.check("mypy").message.endswith("[empty cache: pyproject.toml has no [tool.mypy] table]")


@pytest.fixture
def empty_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of seeds that holds none yet."""
    root = tmp_path / "fresh-seeds"
    monkeypatch.setenv(SEED_DIR_VARIABLE, str(root))
    return root


def test_concurrent_verifications_build_one_seed_and_all_pass(
    generated_service: Path, tmp_path: Path, empty_seeds: Path
) -> None:
    jobs = []
    for index, package in enumerate((EFFECT, COMPUTE, REDUCER, ORCHESTRATOR)):
        copy = tmp_path / f"svc{index}"
        shutil.copytree(generated_service, copy)
        jobs.append((copy, package))
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda item: verify_generated(item[0], packages=[item[1]]), jobs))
    assert [r.summary() for r in reports if not r.passed] == []
    assert all(r.check("mypy").message.endswith(SEEDED) for r in reports)
    only_seed(empty_seeds)


VERIFY_IN_A_PROCESS = """
import sys
from agents.lib.codegen.verify import verify_generated
report = verify_generated(sys.argv[1], packages=[sys.argv[2]])
print(report.check("mypy").message)
sys.exit(0 if report.passed else 1)
"""


def test_processes_building_the_same_seed_at_once_all_pass(
    generated_service: Path, tmp_path: Path, empty_seeds: Path
) -> None:
    for index in range(3):
        shutil.copytree(generated_service, tmp_path / f"svc{index}")
    processes = []
    for index, package in enumerate((EFFECT, REDUCER)):
        copy = tmp_path / f"svc{index}"
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", VERIFY_IN_A_PROCESS, str(copy), package],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        mine = verify_generated(tmp_path / "svc2", packages=[COMPUTE])  # and this process, at the same time
        outputs = [p.communicate(timeout=300)[0] for p in processes]
    finally:
        for process in processes:  # nothing outlives the test, even when it fails
            process.kill()
            process.communicate()
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert all(out.strip().endswith(SEEDED) for out in outputs), outputs
    assert mine.passed, mine.summary()
    only_seed(empty_seeds)


def test_using_a_seed_marks_it_used_and_building_one_prunes_seeds_unused_for_a_month(
    service_copy: Path, seeds: Path
) -> None:
    import os
    import time

    real = only_seed(seeds)
    month_ago = time.time() - 40 * 86400
    os.utime(real, (month_ago, month_ago))
    assert verify_generated(service_copy, packages=[EFFECT]).check("mypy").message.endswith(SEEDED)
    assert real.stat().st_mtime > time.time() - 3600  # marked used

    old, recent = seeds / "0", seeds / "1"
    for fake, when in ((old, month_ago), (recent, time.time() - 86400)):
        fake.mkdir()
        (fake / "manifest.json").write_text("{}")
        os.utime(fake, (when, when))
    shutil.rmtree(real)  # the next verification builds the seed again, and prunes on the way
    assert verify_generated(service_copy, packages=[EFFECT]).check("mypy").message.endswith(SEEDED)
    assert sorted(p.name for p in seeds.iterdir()) == sorted([real.name, "1"])
