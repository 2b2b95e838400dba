"""The static checks of a generated service: syntax, YAML, placeholders, naming, contracts, self-containment.

Each reads files only (nothing is imported or run) and returns a :class:`~agents.lib.codegen.report.CheckResult`
that names its first problem; docs/codegen.md ("Verification") lists the rules.
"""

from __future__ import annotations

import ast
import io
import re
import threading
import tokenize
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.lib.codegen.contract import NodeContract, load_yaml
from agents.lib.codegen.report import CheckResult

__all__ = ["RUNTIME", "python_files", "static_checks"]

RUNTIME = "onex_runtime"
"""The runtime package every generated service holds."""
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


def python_files(root: Path, packages: Sequence[str]) -> list[Path]:
    """Return the ``.py`` files of ``packages`` under ``root`` (tool caches left out), sorted per package."""
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


def _check_naming(
    root: Path, packages: Sequence[str], nodes_of: dict[Path, list[ast.AST]], shared: Sequence[str]
) -> CheckResult:
    problems = []
    for package in packages:
        if package != RUNTIME and package not in shared and not _NODE_DIR.match(package):
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


def static_checks(
    root: Path,
    nodes: Sequence[str],
    packages: Sequence[str],
    files: Sequence[Path],
    shared: Sequence[str] = (),
) -> list[CheckResult]:
    """Run the static checks on the service at ``root``.

    ``nodes`` are its node packages, ``packages`` the ones checked (the nodes, the runtime when present, and the
    ``shared`` packages: the models and the application) and ``files`` their Python files
    (:func:`python_files`). A missing runtime is a failed ``runtime`` check.
    """
    syntax, trees = _check_syntax(root, files)
    yaml_check, loaded = _check_yaml(root, nodes)
    nodes_of = _definitions_and_imports(trees)
    checks = [
        syntax,
        yaml_check,
        _check_placeholders(root, files),
        _check_naming(root, packages, nodes_of, shared),
        _check_contracts(root, nodes, trees, loaded),
        _check_self_contained(root, nodes_of),
    ]
    if not (root / RUNTIME).is_dir():
        checks.append(CheckResult("runtime", False, f"{RUNTIME}/ is missing", (f"{RUNTIME}/ is missing",)))
    return checks
