"""Rendering node specs into files: the template engine, the render context, and safe file writing.

Templates are files in this package, rendered by Jinja2 with ``StrictUndefined``. The loader reads them through
a :class:`~agents.lib.template_cache.TemplateCache` (so generation reports real hit rates) and keeps compiled
templates while the cache serves the same content. Text from a PRD reaches generated Python only through the
``pyrepr`` filter (a Python literal) and YAML only through ``yaml.safe_dump``; names are identifiers checked by
the spec. Output is deterministic: no timestamps or random ids.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import jinja2
import yaml

from agents.lib.codegen.spec import EntitySpec, FieldSpec, NodeSpec
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.naming import snake_case, upper_snake_case
from agents.lib.template_cache import TemplateCache

__all__ = [
    "RUNTIME_DIR",
    "RUNTIME_PACKAGE",
    "TEMPLATES_DIR",
    "TemplateEngine",
    "contract_of",
    "format_python",
    "render_node",
    "render_shared",
    "write_tree",
]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
"""Where the node templates live."""
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
"""The runtime copied into every service."""
RUNTIME_PACKAGE = "onex_runtime"
"""The runtime's package name inside a generated service."""

_TEMPLATE_TYPES = {"effect": "EFFECT", "compute": "COMPUTE", "reducer": "REDUCER", "orchestrator": "ORCHESTRATOR"}


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def pyrepr(value: object) -> str:
    """Return ``value`` as a Python literal (strings, numbers, booleans, None, lists, tuples, dicts of those)."""
    # Exact built-in types first (what render contexts hold); subclasses take the general path below.
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return repr(value)
    if kind is list:
        return "[" + ", ".join([pyrepr(v) for v in cast("list[object]", value)]) + "]"
    if kind is dict:
        items = cast("dict[object, object]", value).items()
        return "{" + ", ".join([f"{pyrepr(k)}: {pyrepr(v)}" for k, v in items]) + "}"
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(pyrepr(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{pyrepr(k)}: {pyrepr(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot embed {type(value).__name__} in generated code")


def _template_type(name: str) -> str:
    stem = name.split(".", 1)[0]
    for key, value in _TEMPLATE_TYPES.items():
        if stem.endswith(key):
            return value
    return "COMMON"


def _never_up_to_date() -> bool:
    return False


_LOCATE_MEMO_LIMIT = 1024


class _CachedLoader(jinja2.BaseLoader):
    """Loads templates through a TemplateCache; reuses the compiled template while the content is the same."""

    def __init__(self, directory: Path, cache: TemplateCache) -> None:
        self.directory = directory
        self.cache = cache
        self._compiled: dict[str, tuple[str, jinja2.Template]] = {}
        self._located: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def _locate(self, name: str) -> tuple[str, str]:
        """Return the template file's path and its cache type; checked and computed once per name."""
        found = self._located.get(name)
        if found is None:
            if "/" in name or "\\" in name or name.startswith("."):
                raise jinja2.TemplateNotFound(name)
            found = (str(self.directory / name), _template_type(name))
            if len(self._located) < _LOCATE_MEMO_LIMIT:
                self._located[name] = found
        return found

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        """Return the template's source through the cache."""
        path, template_type = self._locate(template)
        try:
            source, _ = self.cache.get(template, template_type, path, _read)
        except FileNotFoundError:
            raise jinja2.TemplateNotFound(template) from None
        return source, path, _never_up_to_date

    def load(
        self,
        environment: jinja2.Environment,
        name: str,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        """Return the compiled template, compiling only when the cached content changed."""
        source, filename, _ = self.get_source(environment, name)
        with self._lock:
            memo = self._compiled.get(name)
        if memo is not None and (memo[0] is source or memo[0] == source):
            return memo[1]
        code = environment.compile(source, name, filename)
        template = environment.template_class.from_code(environment, code, globals or {}, None)
        with self._lock:
            self._compiled[name] = (source, template)
        return template


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class TemplateEngine:
    """Renders the package's templates; thread-safe, shareable between generation jobs."""

    def __init__(self, cache: TemplateCache | None = None, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.cache = cache if cache is not None else TemplateCache(enable_persistence=False)
        self._owns_cache = cache is None
        self.environment = jinja2.Environment(
            loader=_CachedLoader(templates_dir, self.cache),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 - we generate Python and YAML; values go through pyrepr/safe_dump
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            cache_size=0,
        )
        self.environment.filters["pyrepr"] = pyrepr
        self.templates_dir = templates_dir

    def warmup(self) -> int:
        """Load every template into the cache under the names rendering asks for; return how many were loaded.

        Done once before a parallel batch, it turns the workers' first renders into cache hits instead of
        loads (or waits on another worker's load).
        """
        files = [
            (path.name, _template_type(path.name), path)
            for path in sorted(self.templates_dir.iterdir())
            if path.is_file() and not path.name.startswith(".")
        ]
        return self.cache.warmup(self.templates_dir, (), files=files, loader_func=_read)

    def render(self, template: str, **context: Any) -> str:
        """Render one template with ``context``."""
        return self.environment.get_template(template).render(**context)

    def close(self) -> None:
        """Close the cache if this engine created it."""
        if self._owns_cache:
            self.cache.close()


# --- the render context ------------------------------------------------------------------------------------

_PY_TYPES = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "datetime",
    "date": "date",
    "decimal": "Decimal",
    "uuid": "UUID",
    "list": "list[Any]",
    "dict": "dict[str, Any]",
}
_SAMPLES: dict[str, tuple[str, str, Any]] = {
    # type: (python literal, another python literal, JSON value of the first)
    "int": ("1", "2", 1),
    "float": ("1.5", "2.5", 1.5),
    "bool": ("True", "False", True),
    "datetime": (
        "datetime(2025, 1, 15, 9, 30, tzinfo=UTC)",
        "datetime(2025, 1, 16, 9, 30, tzinfo=UTC)",
        "2025-01-15T09:30:00Z",
    ),
    "date": ("date(2025, 1, 15)", "date(2025, 1, 16)", "2025-01-15"),
    "decimal": ('Decimal("12.50")', 'Decimal("13.75")', "12.50"),
    "uuid": (
        'UUID("00000000-0000-0000-0000-000000000001")',
        'UUID("00000000-0000-0000-0000-000000000002")',
        "00000000-0000-0000-0000-000000000001",
    ),
    "list": ('["a", "b"]', '["c"]', ["a", "b"]),
    "dict": ('{"key": "value"}', '{"key": "other"}', {"key": "value"}),
}
_NON_NEGATIVE = re.compile(
    r"(^|_)(price|amount|quantity|qty|count|total|fee|fees|cost|age|stock|copies|size|duration|weight|"
    r"capacity|limit|rate|score|points|seats|pages|minutes|hours|days)s?($|_)"
)
_NUMERIC = {"int", "float", "decimal"}


def _non_negative(f: FieldSpec) -> bool:
    return f.type in _NUMERIC and bool(_NON_NEGATIVE.search(f.name))


def _field_ctx(f: FieldSpec) -> dict[str, Any]:
    annotation = _PY_TYPES[f.type]
    constraints: list[str] = []
    non_negative = _non_negative(f)
    if f.type == "str" and f.required:
        constraints.append("min_length=1")
    if non_negative:
        constraints.append("ge=0")
    if f.required:
        default = f" = Field({', '.join(constraints)})" if constraints else ""
        full = annotation
    else:
        full = f"{annotation} | None"
        default = f" = Field(default=None, {', '.join(constraints)})" if constraints else " = None"
    if f.type == "str":
        sample, other, json_value = repr(f"{f.name}-a"), repr(f"{f.name}-b"), f"{f.name}-a"
    else:
        sample, other, json_value = _SAMPLES[f.type]
    return {
        "name": f.name,
        "type": f.type,
        "annotation": full,
        "optional_annotation": f"{annotation} | None",
        "default": default,
        "sample": sample,
        "other_sample": other,
        "json": json_value,
        "required": f.required,
        "non_negative": non_negative,
    }


def _imports_for(types: Iterable[str], *, any_always: bool = True) -> list[str]:
    types = set(types)
    lines: list[str] = []
    dt = [n for n, t in (("UTC", "datetime"), ("date", "date"), ("datetime", "datetime")) if t in types]
    if dt:
        lines.append(f"from datetime import {', '.join(sorted(set(dt), key=str.lower))}")
    if "decimal" in types:
        lines.append("from decimal import Decimal")
    if any_always or types & {"list", "dict"}:
        lines.append("from typing import Any")
    if "uuid" in types:
        lines.append("from uuid import UUID")
    return lines


def _model_imports(types: Iterable[str]) -> list[str]:
    """Return the imports a models module needs (no ``UTC``: models only annotate)."""
    types = set(types)
    names = sorted({"date"} & types | ({"datetime"} if "datetime" in types else set()))
    lines = [f"from datetime import {', '.join(names)}"] if names else []
    if "decimal" in types:
        lines.append("from decimal import Decimal")
    lines.append("from typing import Any")
    if "uuid" in types:
        lines.append("from uuid import UUID")
    return lines


def _ops_by_entity(spec: NodeSpec, entity: EntitySpec) -> SimpleNamespace:
    """Operation names by kind; a namespace, because Jinja would read ``ops.update`` as ``dict.update``."""
    ops: dict[str, str | None] = dict.fromkeys(
        ("create", "read", "update", "delete", "list", "search", "validate", "aggregate"), None
    )
    for op in spec.operations:
        if op.entity == entity.name and op.kind in ops:
            ops[op.kind] = op.name
    ops["summarize"] = ops["aggregate"]
    return SimpleNamespace(**ops)


def _entity_ctx(spec: NodeSpec, entity: EntitySpec) -> dict[str, Any]:
    fields = [_field_ctx(f) for f in entity.fields]
    update_field = next((f for f in fields if f["type"] == "str"), None) or next(
        (f for f in fields if f["type"] in ("int", "float", "bool")), None
    )
    numeric = [f["name"] for f in fields if f["type"] in _NUMERIC]
    snake = entity.snake
    valid_payload: dict[str, Any] = {"id": f"{snake}-1"}
    for f in fields:
        valid_payload[f["name"]] = f["json"]
    valid = pyrepr(valid_payload)  # a valid payload dumps to itself
    invalid_payload: dict[str, Any] = {"id": ""}
    invalid_fields = ["id"]
    for f in fields:
        if f["type"] == "str" and f["required"]:
            invalid_payload[f["name"]] = ""
            invalid_fields.append(f["name"])
        elif f["non_negative"]:
            invalid_payload[f["name"]] = -1
            invalid_fields.append(f["name"])
        elif f["required"]:
            invalid_fields.append(f["name"])
    summary = {}
    for f in fields:
        if f["type"] in _NUMERIC:
            value = float(f["json"])
            summary[f["name"]] = {"count": 2.0, "total": value * 2, "minimum": value, "maximum": value}
    return {
        "name": entity.name,
        "snake": snake,
        "fields": fields,
        "ops": _ops_by_entity(spec, entity),
        "update_field": update_field,
        "numeric_fields": numeric,
        "valid_payload": valid,
        "valid_dump": valid,
        "invalid_payload": pyrepr(invalid_payload),
        "invalid_fields": pyrepr(sorted(invalid_fields)),
        "summary_expected": pyrepr(summary),
    }


_ADAPTERS = {
    "record_store": "InMemoryRecordStore",
    "cache": "InMemoryCache",
    "event_publisher": "InMemoryEventPublisher",
    "http_client": "InMemoryHttpClient",
    "blob_store": "InMemoryBlobStore",
    "notifier": "InMemoryNotifier",
    "search_index": "InMemorySearchIndex",
}


_member = functools.lru_cache(maxsize=4096)(upper_snake_case)
"""Enum member names of states, events and steps (a pure function of the name, so memoized)."""


def _reducer_ctx(spec: NodeSpec) -> dict[str, Any]:
    fsm = spec.fsm
    assert fsm is not None  # checked by NodeSpec
    member = {s: _member(s) for s in fsm.states}
    event_member = {e: _member(e) for e in fsm.events}
    table = {(t.source, t.event): t.target for t in fsm.transitions}
    # a legal path: from the initial state, prefer unvisited targets, stop at a terminal state
    path: list[tuple[str, str]] = []
    state, visited = fsm.initial, {fsm.initial}
    states_on_path = [state]
    for _ in range(len(fsm.states) + 1):
        options = sorted((e, t) for (s, e), t in table.items() if s == state)
        if not options or state in fsm.terminal:
            break
        event, target = next(((e, t) for e, t in options if t not in visited), options[0])
        path.append((event, target))
        state = target
        visited.add(target)
        states_on_path.append(state)
    amounts = [float(i + 1) for i in range(len(path))]
    counts: dict[str, int] = {}
    totals: dict[str, float] = {}
    for (event, _), amount in zip(path, amounts, strict=True):
        counts[event] = counts.get(event, 0) + 1
        totals[event] = totals.get(event, 0.0) + amount
    illegal: tuple[int, str, str] | None = None
    for index, on_path in enumerate(states_on_path):
        missing = [e for e in fsm.events if (on_path, e) not in table]
        if missing:
            illegal = (index, on_path, missing[0])
            break
    return {
        "state_enum": f"Enum{spec.service_name}State",
        "event_enum": f"Enum{spec.service_name}Event",
        "state_model": f"{spec.service_name}State",
        "event_model": f"{spec.service_name}Event",
        "initial_member": member[fsm.initial],
        "terminal_members": [member[t] for t in fsm.terminal],
        "transitions": [
            {"source": member[t.source], "event": event_member[t.event], "target": member[t.target]}
            for t in fsm.transitions
        ],
        "extra_enums": [
            {
                "name": f"Enum{spec.service_name}State",
                "doc": "The states of the state machine.",
                "members": [(member[s], s) for s in fsm.states],
            },
            {
                "name": f"Enum{spec.service_name}Event",
                "doc": "The events the state machine accepts.",
                "members": [(event_member[e], e) for e in fsm.events],
            },
        ],
        "path": [(event_member[e], a) for (e, _), a in zip(path, amounts, strict=True)],
        "path_end": member[state],
        "path_counts": pyrepr(counts),
        "path_totals": pyrepr(totals),
        "illegal_prefix": [(event_member[e], 0.0) for e, _ in path[: illegal[0]]] if illegal else [],
        "illegal_state": member[illegal[1]] if illegal else None,
        "illegal_event": event_member[illegal[2]] if illegal else None,
        "initial_allowed": pyrepr(sorted(e for (s, e) in table if s == fsm.initial)),
    }


def _orchestrator_ctx(spec: NodeSpec) -> dict[str, Any]:
    graph = {s.name: list(s.depends_on) for s in spec.steps}
    order = list(TopologicalSorter(graph).static_order())
    member = {s.name: _member(s.name) for s in spec.steps}
    fail_index = len(order) // 2
    steps = []
    for s in spec.steps:
        index = order.index(s.name)
        steps.append(
            {
                "member": member[s.name],
                "value": s.name,
                "depends_members": [member[d] for d in s.depends_on],
                "depends_values": list(s.depends_on),
                "inputs_before": pyrepr(sorted(order[:index])),
            }
        )
    return {
        "step_enum": f"Enum{spec.service_name}Step",
        "steps": steps,
        "order": pyrepr(order),
        "fail_step": order[fail_index],
        "before_fail": pyrepr(order[:fail_index]),
        "fail_progress": pyrepr(100.0 * fail_index / len(order)),
        "extra_enums": [
            {
                "name": f"Enum{spec.service_name}Step",
                "doc": "The steps of the workflow.",
                "members": [(member[s.name], s.name) for s in spec.steps],
            }
        ],
    }


def _context(spec: NodeSpec) -> dict[str, Any]:
    t = spec.node_type
    operation_enum = f"Enum{spec.service_name}{spec.type_title}Operation"
    entities = [_entity_ctx(spec, e) for e in spec.entities]
    field_types: set[str] = {f.type for e in spec.entities for f in e.fields}
    ctx: dict[str, Any] = {
        "is_effect": t == "EFFECT",
        "is_reducer": t == "REDUCER",
        "operation_enum": operation_enum,
        "request_model": f"{spec.service_name}{spec.type_title}Request",
        "response_model": f"{spec.service_name}{spec.type_title}Response",
        "entities": entities,
        "operations": [
            {"name": n, "member": n.upper()}
            for n in [o.name for o in spec.operations] + [h.name for h in spec.hooks]
        ],
        "extra_enums": [],
        "enum_imports": [operation_enum],
        "model_imports": _model_imports(field_types),
        "type_tests": f"tests_{t.lower()}.j2",
    }
    if t == "REDUCER":
        ctx.update(_reducer_ctx(spec))
        ctx["enum_imports"] = sorted([operation_enum, ctx["event_enum"], ctx["state_enum"]])
    if t == "ORCHESTRATOR":
        ctx.update(_orchestrator_ctx(spec))
    ports = {p.kind for p in spec.ports}
    ctx.update(
        {
            "port_keys": sorted(p.key for p in spec.ports),
            "adapter_classes": _ADAPTERS,
            "has_events": "event_publisher" in ports,
            "has_cache": "cache" in ports,
            "has_search": "search_index" in ports,
            "has_notifier": "notifier" in ports,
            "has_http": "http_client" in ports,
            "has_blob": "blob_store" in ports,
        }
    )
    models: list[str] = []
    for e in entities:
        models.append(e["name"])
        if t == "EFFECT" and e["ops"].update is not None:
            models.append(f"{e['name']}Update")
    if t == "REDUCER":
        models += [ctx["event_model"], ctx["state_model"]]
    else:
        models += [ctx["request_model"], ctx["response_model"]]
    if t == "COMPUTE":
        models = [e["name"] for e in entities] + [ctx["request_model"], ctx["response_model"]]
    ctx["model_names"] = sorted(models)
    ctx["first_create"] = next(
        ({"create": e["ops"].create, "snake": e["snake"]} for e in entities if e["ops"].create), None
    )
    ctx["test_imports"] = _test_imports(spec, ctx, field_types)
    return ctx


def _test_imports(spec: NodeSpec, ctx: dict[str, Any], field_types: Iterable[str]) -> list[str]:
    pkg = spec.package_name
    lines: list[str] = []
    t = spec.node_type
    if t == "EFFECT":
        lines += _imports_for(field_types, any_always=False)
        lines = [line for line in lines if line != "from typing import Any"]
        lines.append("from onex_runtime.container import Container")
        names = sorted({p.key for p in spec.ports} | {_ADAPTERS[p.kind] for p in spec.ports})
        lines.append(f"from onex_runtime.ports import {', '.join(names)}")
        models = [e["name"] for e in ctx["entities"]]
        models += [f"{e['name']}Update" for e in ctx["entities"] if e["ops"].update and e["update_field"]]
        models.append(ctx["request_model"])
        lines.append(f"from {pkg}.enums import {ctx['operation_enum']}")
        lines.append(f"from {pkg}.models import {', '.join(sorted(models))}")
    elif t == "COMPUTE":
        lines.append(f"from {pkg}.enums import {ctx['operation_enum']}")
        lines.append(f"from {pkg}.models import {ctx['request_model']}")
    elif t == "REDUCER":
        lines.append(f"from {pkg}.enums import {ctx['event_enum']}, {ctx['state_enum']}")
        lines.append(f"from {pkg}.models import {ctx['event_model']}")
    else:
        lines.append("from collections.abc import Mapping")
    return lines


# --- contract -----------------------------------------------------------------------------------------------


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
        "entities": [
            {
                "name": e.name,
                "fields": [{"name": f.name, "type": f.type, "required": f.required} for f in e.fields],
            }
            for e in spec.entities
        ],
        "ports": [{"kind": p.kind, "system": p.system} for p in spec.ports],
        "mixins": list(spec.mixins),
        "hooks": [{"name": h.name, "description": h.description} for h in spec.hooks],
        "requirements": list(spec.requirements),
    }
    if spec.fsm is not None:
        contract["fsm"] = {
            "states": list(spec.fsm.states),
            "initial": spec.fsm.initial,
            "terminal": list(spec.fsm.terminal),
            "transitions": [{"from": t.source, "event": t.event, "to": t.target} for t in spec.fsm.transitions],
        }
    if spec.steps:
        contract["steps"] = [
            {"name": s.name, "description": s.description, "depends_on": list(s.depends_on)} for s in spec.steps
        ]
    return contract


def _yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


# --- rendering a node and the shared files ------------------------------------------------------------------


def render_node(spec: NodeSpec, engine: TemplateEngine) -> dict[str, str]:
    """Render one node package; returns ``{relative path: content}`` (nothing is written)."""
    ctx = _context(spec)
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
    return files


def render_shared(service_name: str, nodes: Iterable[Mapping[str, Any]], engine: TemplateEngine) -> dict[str, str]:
    """Render the service's shared files: the runtime, ``pyproject.toml`` and ``README.md``.

    ``nodes`` are the contracts of the nodes present in the service.
    """
    files: dict[str, str] = {}
    for source in sorted(RUNTIME_DIR.glob("*.py")):
        files[f"{RUNTIME_PACKAGE}/{source.name}"] = source.read_text(encoding="utf-8")
    files[f"{RUNTIME_PACKAGE}/py.typed"] = ""
    contracts = sorted(nodes, key=lambda c: str(c["name"]))
    files["pyproject.toml"] = engine.render(
        "pyproject.toml.j2", project=snake_case(service_name).replace("_", "-")
    )
    files["README.md"] = engine.render("README.md.j2", service=service_name, nodes=contracts, md=_markdown_text)
    return files


def _markdown_text(text: object) -> str:
    """Escape text for Markdown so a PRD cannot inject markup or HTML into the README."""
    escaped = str(text).replace("\\", "\\\\")
    for char in "`*_[]<>#|":
        escaped = escaped.replace(char, "\\" + char)
    return " ".join(escaped.split())


# --- writing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    root: Path
    files: dict[Path, str]


def _plan(root: Path, files: Mapping[str, str]) -> _Plan:
    resolved_root = root.resolve()
    planned: dict[Path, str] = {}
    for relative, content in files.items():
        target = (resolved_root / relative).resolve()
        if Path(relative).is_absolute() or not target.is_relative_to(resolved_root) or target == resolved_root:
            raise OnexError(
                f"refusing to write {relative!r}: it is outside the output directory",
                ErrorCode.VALIDATION_ERROR,
                {"path": relative, "output_dir": str(resolved_root)},
            )
        planned[target] = content
    return _Plan(resolved_root, planned)


@functools.cache
def _umask() -> int:
    """Return the process umask without changing it (``os.umask`` would, for a moment, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _atomic_write(path: Path, content: str) -> None:
    data = content.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return
        mode = stat.S_IMODE(path.stat().st_mode)  # an existing file keeps its own
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # what open() would give a new file
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates 0600; the file written in its place must have the permissions of an ordinary file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_python(directory: Path, first_party: Iterable[str]) -> None:
    """Sort imports and format the Python files under ``directory`` with ruff, with a fixed configuration.

    ``--isolated`` keeps any configuration around ``directory`` out of it, so the output depends only on the
    spec (and the pinned ruff version).
    """
    known = "[" + ", ".join(f'"{name}"' for name in sorted(set(first_party))) + "]"
    common = ["--isolated", "--quiet", "--line-length", "120", "--target-version", "py311"]
    run = [sys.executable, "-m", "ruff"]
    check = [*run, "check", *common, "--fix", "--exit-zero", "--select", "I,F401"]
    check += ["--config", f"lint.isort.known-first-party = {known}", str(directory)]
    for command in (check, [*run, "format", *common, str(directory)]):
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise OnexError(
                "formatting the generated code failed",
                ErrorCode.OPERATION_FAILED,
                {"command": command[3], "stderr": result.stderr[-2000:]},
            )


def write_tree(
    root: Path,
    files: Mapping[str, str],
    *,
    replace_dir: str | None = None,
    force: bool = False,
    post_process: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write ``files`` (relative paths) under ``root`` atomically; return the paths written.

    A path that would land outside ``root`` is refused before anything is written. With ``replace_dir`` (a
    directory relative to ``root`` that holds all the files), the directory is built aside, ``post_process`` is
    run on it there, and it is swapped in: an existing one is a CONFLICT unless ``force``, and stale files of the
    old one do not survive.
    """
    plan = _plan(root, files)
    plan.root.mkdir(parents=True, exist_ok=True)
    if replace_dir is None:
        for path, content in plan.files.items():
            _atomic_write(path, content)
        return sorted(plan.files)
    final = (plan.root / replace_dir).resolve()
    if not final.is_relative_to(plan.root) or final == plan.root:
        raise OnexError(f"refusing to replace {replace_dir!r}", ErrorCode.VALIDATION_ERROR)
    if final.exists() and not force:
        raise OnexError(
            f"{final} already exists; pass force=True (--force) to overwrite it",
            ErrorCode.CONFLICT,
            {"path": str(final)},
        )
    staging = Path(tempfile.mkdtemp(dir=plan.root, prefix=f".{final.name}.new-"))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700; the node package is an ordinary directory
        for path, content in plan.files.items():
            target = staging / path.relative_to(final)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        if post_process is not None:
            post_process(staging)
        if final.exists():
            retired = Path(tempfile.mkdtemp(dir=plan.root, prefix=f".{final.name}.old-"))
            os.replace(final, retired / final.name)
            os.replace(staging, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(plan.files)
