"""The layers contract in pyproject.toml (import-linter) holds for the package and fails on an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's contracts on the copy of the package in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "checkout"
    shutil.copytree(ROOT / "src" / "agents", tree / "src" / "agents", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    """Every contract is kept by the code as it is."""
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """Configuration importing the workflow (layer 1 reaching up to layer 5) is reported as a broken contract."""
    tree = _copy(tmp_path)
    config = tree / "src" / "agents" / "lib" / "config.py"
    config.write_text(config.read_text() + "\nimport agents.lib.codegen_workflow  # deliberately upward\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "agents.lib.config -> agents.lib.codegen_workflow" in result.stdout


def test_a_module_outside_the_layers_is_reported(tmp_path: Path) -> None:
    """A new module of agents.lib that no layer lists fails the exhaustive contract (every module has a place)."""
    tree = _copy(tmp_path)
    (tree / "src" / "agents" / "lib" / "stray_module.py").write_text('"""Not placed in any layer."""\n')
    result = _lint(tree)
    assert result.returncode != 0
    assert "stray_module" in result.stdout
