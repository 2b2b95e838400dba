"""Rendering one node spec into files in memory: the node package, its contract, the service's shared files.

The pieces live beside it: :mod:`.engine` (templates), :mod:`.context` (what they see), :mod:`.writing` and
:mod:`.formatting` (what happens to the files); their main names are importable from here too. Output is
deterministic: no timestamps or random ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from agents.lib.codegen.context import node_context
from agents.lib.codegen.engine import TEMPLATES_DIR, TemplateEngine
from agents.lib.codegen.formatting import format_python, format_sources
from agents.lib.codegen.service import service_context
from agents.lib.codegen.spec import (
    EntitySpec,
    NodeSpec,
    RuleSpec,
    StepSpec,
    app_package_name,
    models_package_name,
)
from agents.lib.codegen.writing import write_tree

__all__ = [
    "RUNTIME_DIR",
    "RUNTIME_PACKAGE",
    "TEMPLATES_DIR",
    "TemplateEngine",
    "contract_of",
    "format_python",
    "render_node",
    "render_shared",
    "shared_packages",
    "write_tree",
]

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
"""The runtime copied into every service."""
RUNTIME_PACKAGE = "onex_runtime"
"""The runtime's package name inside a generated service."""


def contract_of(spec: NodeSpec) -> dict[str, Any]:
    """Return the contract of the node ``spec`` describes, as written to ``contract.yaml``."""
    contract: dict[str, Any] = {
        "contract_version": 1,
        "name": spec.package_name,
        "class_name": spec.class_name,
        "node_type": spec.node_type,
        "service": spec.service_name,
        "domain": spec.domain,
        "version": spec.version,
        "description": spec.description,
        "operations": [
            {"name": o.name, "kind": o.kind, "entity": o.entity, "description": o.description}
            for o in spec.operations
        ],
        "entities": [_entity_entry(e) for e in spec.entities],
        "ports": [{"kind": p.kind, "system": p.system} for p in spec.ports],
        "mixins": list(spec.mixins),
        "hooks": [{"name": h.name, "description": h.description} for h in spec.hooks]
        + [{"name": f"step_{s.name}", "description": s.description} for s in spec.step_hooks],
        "requirements": list(spec.requirements),
        "rules": [_rule_entry(r) for r in spec.rules],
    }
    if spec.fsm is not None:
        contract["fsm"] = {
            "states": list(spec.fsm.states),
            "initial": spec.fsm.initial,
            "terminal": list(spec.fsm.terminal),
            "transitions": [{"from": t.source, "event": t.event, "to": t.target} for t in spec.fsm.transitions],
        }
    if spec.steps:
        contract["steps"] = [_step_entry(s) for s in spec.steps]
    return contract


def _entity_entry(entity: EntitySpec) -> dict[str, Any]:
    """Return an entity as the contract lists it: name, type and required always, other properties when set."""
    entry: dict[str, Any] = {"name": entity.name}
    if entity.description:
        entry["description"] = entity.description
    entry["fields"] = [
        {"name": f.name, "type": f.type, "required": f.required}
        | {k: v for k, v in f.model_dump(mode="json", exclude_defaults=True).items() if k not in _ALWAYS}
        for f in entity.fields
    ]
    if entity.rules:
        entry["rules"] = [r.model_dump(mode="json", exclude_defaults=True) for r in entity.rules]
    return entry


_ALWAYS = frozenset({"name", "type", "required"})


def _rule_entry(spec: RuleSpec) -> dict[str, Any]:
    """Return a rule as the contract lists it: what it says, whether it is code, else the hook and why."""
    rule = spec.rule
    entry: dict[str, Any] = {"id": rule.id, "kind": spec.kind, "entity": rule.entity, "rule": rule.describe()}
    entry["implemented"] = spec.implemented
    if not spec.implemented:
        entry |= {"hook": spec.hook_name, "reason": spec.reason}
    entry["text"] = rule.text
    return entry


def _step_entry(step: StepSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": step.name,
        "description": step.description,
        "depends_on": list(step.depends_on),
    }
    entry["action"] = step.action
    rest = step.model_dump(
        mode="json", exclude_defaults=True, exclude={"name", "description", "depends_on", "action"}
    )
    return entry | rest


def _yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


# --- rendering a node and the shared files ------------------------------------------------------------------


def render_node(spec: NodeSpec, engine: TemplateEngine) -> dict[str, str]:
    """Render one node package; returns ``{relative path: content}`` (nothing is written)."""
    ctx = node_context(spec)
    pkg = spec.package_name
    node_template = f"node_{spec.node_type.lower()}.py.j2"
    files = {
        f"{pkg}/__init__.py": f'"""The {spec.node_type} node of the {spec.service_name} service."""\n\n'
        f"from .node import {spec.class_name}\n\n__all__ = [{spec.class_name!r}]\n",
        f"{pkg}/node.py": engine.render(node_template, spec=spec, ctx=ctx),
        f"{pkg}/models.py": engine.render("models.py.j2", spec=spec, ctx=ctx),
        f"{pkg}/enums.py": engine.render("enums.py.j2", spec=spec, ctx=ctx),
        f"{pkg}/contract.yaml": _yaml(contract_of(spec)),
        f"{pkg}/tests/__init__.py": '"""Tests of the node."""\n',
        f"{pkg}/tests/test_node.py": engine.render("test_node.py.j2", spec=spec, ctx=ctx),
    }
    tested = any(e["rules"]["tests"] or e["store"]["tests"] for e in ctx["entities"])
    tested = tested or any(f["cases"] for f in ctx["formulas"])
    if tested and any(r.implemented for r in spec.rules):
        files[f"{pkg}/tests/test_rules.py"] = engine.render("test_rules.py.j2", spec=spec, ctx=ctx)
    if ctx.get("collaborators"):
        files[f"{pkg}/interfaces.py"] = engine.render("interfaces.py.j2", spec=spec, ctx=ctx)
    return files


def render_shared(service_name: str, nodes: Iterable[Mapping[str, Any]], engine: TemplateEngine) -> dict[str, str]:
    """Render the shared files: the runtime, the shared models, the application, ``pyproject.toml``, README.

    ``nodes`` are the contracts of the nodes present in the service. The Python files of the models and the
    application are formatted as the node packages are.
    """
    files: dict[str, str] = {}
    for source in sorted(RUNTIME_DIR.glob("*.py")):
        files[f"{RUNTIME_PACKAGE}/{source.name}"] = source.read_text(encoding="utf-8")
    files[f"{RUNTIME_PACKAGE}/py.typed"] = ""
    contracts = sorted(nodes, key=lambda c: str(c["name"]))
    ctx = service_context(service_name, contracts)
    models, app = ctx["models"], ctx["app"]
    python: dict[str, str] = {
        f"{models}/__init__.py": engine.render("models_init.py.j2", **ctx),
    }
    for entity in ctx["entities"]:
        python[f"{models}/{entity['snake']}.py"] = engine.render("entity_model.py.j2", entity=entity, **ctx)
    if contracts:
        python |= {
            f"{app}/__init__.py": engine.render("app_init.py.j2", **ctx),
            f"{app}/app.py": engine.render("app.py.j2", **ctx),
            f"{app}/__main__.py": engine.render("app_main.py.j2", **ctx),
            f"{app}/http.py": engine.render("app_http.py.j2", **ctx),
            f"{app}/tests/__init__.py": '"""Tests of the service as a whole."""\n',
            f"{app}/tests/test_service.py": engine.render("test_service.py.j2", **ctx),
        }
    files |= format_sources(python, ctx["first_party"])
    files[f"{models}/py.typed"] = ""
    if contracts:
        files[f"{app}/py.typed"] = ""
    files["conftest.py"] = _CONFTEST
    files["pyproject.toml"] = engine.render("pyproject.toml.j2", **ctx)
    files["README.md"] = engine.render("README.md.j2", contracts=contracts, md=_markdown_text, **ctx)
    return files


_CONFTEST = '''"""Test settings of the service: the rules' clock is fixed, so date rules test the same any day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from onex_runtime import rules

FIXED_NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    """Run every test at ``FIXED_NOW`` (what the generated samples of date rules assume)."""
    with rules.use_clock(FIXED_NOW):
        yield
'''


def shared_packages(service_name: str) -> tuple[str, str]:
    """Return the service's shared models package and its application package."""
    return models_package_name(service_name), app_package_name(service_name)


def _markdown_text(text: object) -> str:
    """Escape text for Markdown so a PRD cannot inject markup or HTML into the README."""
    escaped = str(text).replace("\\", "\\\\")
    for char in "`*_[]<>#|":
        escaped = escaped.replace(char, "\\" + char)
    return " ".join(escaped.split())
