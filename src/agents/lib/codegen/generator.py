"""Writing nodes into a service directory: the node package, the shared runtime, ``pyproject.toml``, README.

``CodeGenerator.generate_node(spec, output_dir)`` renders the node in memory first (a rendering error writes
nothing), writes the shared files, builds the node package aside, formats it, and swaps it in atomically. An
existing node package is a CONFLICT unless ``force``. Several nodes may be generated into one directory at the
same time (from threads): the shared files are written under a per-directory lock, and the README lists every
node present.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.lib.codegen.contract import NodeContract, load_yaml
from agents.lib.codegen.engine import TemplateEngine
from agents.lib.codegen.formatting import format_python
from agents.lib.codegen.render import RUNTIME_PACKAGE, contract_of, render_node, render_shared, shared_packages
from agents.lib.codegen.spec import NodeSpec
from agents.lib.codegen.writing import write_tree
from agents.lib.template_cache import TemplateCache

__all__ = ["CodeGenerator", "GeneratedNode"]


@dataclass(frozen=True)
class GeneratedNode:
    """What generating one node wrote."""

    spec: NodeSpec
    output_dir: Path
    package_dir: Path
    files: tuple[Path, ...]


_dir_locks: dict[Path, threading.Lock] = {}
_dir_locks_guard = threading.Lock()


def _lock_for(directory: Path) -> threading.Lock:
    with _dir_locks_guard:
        return _dir_locks.setdefault(directory, threading.Lock())


def _contracts(output_dir: Path) -> list[dict[str, Any]]:
    contracts: list[dict[str, Any]] = []
    for contract in sorted(output_dir.glob("node_*/contract.yaml")):
        try:
            data = load_yaml(contract.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        try:
            NodeContract.model_validate(data)
        except ValidationError:
            continue  # not a contract this generator can build on (a hand-edited file, say): left out
        contracts.append(data)
    return contracts


class CodeGenerator:
    """Generates nodes from specs; thread-safe, one instance can serve many jobs."""

    def __init__(self, engine: TemplateEngine | None = None, cache: TemplateCache | None = None) -> None:
        self.engine = engine if engine is not None else TemplateEngine(cache)
        self._owns_engine = engine is None

    def generate_node(
        self, spec: NodeSpec, output_dir: str | os.PathLike[str], *, force: bool = False
    ) -> GeneratedNode:
        """Write the node ``spec`` describes into ``output_dir``; return what was written."""
        root = Path(output_dir).resolve()
        node_files = render_node(spec, self.engine)
        root.mkdir(parents=True, exist_ok=True)
        models, app = shared_packages(spec.service_name)
        with _lock_for(root):
            # before the node: the runtime, pyproject.toml and the shared models it imports (its entities too)
            others = [c for c in _contracts(root) if c["name"] != spec.package_name]
            shared = render_shared(spec.service_name, [*others, contract_of(spec)], self.engine)
            write_tree(root, {k: v for k, v in shared.items() if k != "README.md" and not k.startswith(f"{app}/")})
        first_party = [RUNTIME_PACKAGE, models, spec.package_name]
        written = write_tree(
            root,
            node_files,
            replace_dir=spec.package_name,
            force=force,
            post_process=lambda staging: format_python(staging, first_party),
        )
        with _lock_for(root):
            # after it: what depends on every node present (the application, the README, the models' index)
            shared = render_shared(spec.service_name, _contracts(root), self.engine)
            write_tree(root, {k: v for k, v in shared.items() if not k.startswith(RUNTIME_PACKAGE)})
        return GeneratedNode(spec, root, root / spec.package_name, tuple(written))

    def close(self) -> None:
        """Release the template engine if this generator created it."""
        if self._owns_engine:
            self.engine.close()
