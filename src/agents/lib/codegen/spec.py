"""Node specifications: everything a generated node is rendered from, validated before rendering.

A :class:`NodeSpec` describes one node of a service: names, entities and their typed fields, operations,
ports to external systems, mixins, hooks left for humans, a state machine (REDUCER) or a step graph
(ORCHESTRATOR). Every name in it is checked to be a safe identifier; free text (descriptions) is only ever
embedded in generated code through escaping filters.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from graphlib import CycleError, TopologicalSorter
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.lib.codegen.rule_spec import RuleSpec
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, WRAP_ORDER
from agents.lib.naming import is_safe_identifier, snake_case, without_node_type_suffix

__all__ = [
    "FIELD_TYPES",
    "NODE_TYPES",
    "PORT_KINDS",
    "EntitySpec",
    "FieldSpec",
    "FieldType",
    "FsmSpec",
    "HookSpec",
    "NodeSpec",
    "NodeType",
    "OperationKind",
    "OperationSpec",
    "PortKind",
    "PortSpec",
    "RuleSpec",
    "StepAction",
    "StepSpec",
    "TransitionSpec",
    "app_package_name",
    "models_package_name",
    "plural",
]

NodeType = Literal["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"]
NODE_TYPES: tuple[NodeType, ...] = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")
FieldType = Literal["str", "int", "float", "bool", "datetime", "date", "decimal", "uuid", "list", "dict"]
FIELD_TYPES: tuple[str, ...] = (
    "str",
    "int",
    "float",
    "bool",
    "datetime",
    "date",
    "decimal",
    "uuid",
    "list",
    "dict",
)
PortKind = Literal[
    "record_store", "cache", "event_publisher", "http_client", "blob_store", "notifier", "search_index"
]
PORT_KINDS: tuple[str, ...] = (
    "record_store",
    "cache",
    "event_publisher",
    "http_client",
    "blob_store",
    "notifier",
    "search_index",
)
OperationKind = Literal[
    "create",
    "read",
    "update",
    "delete",
    "list",
    "search",
    "publish",
    "notify",
    "fetch",
    "store",
    "validate",
    "calculate",
    "transform",
    "aggregate",
    "coordinate",
]

StepAction = Literal["hook", "validate", "create"]
"""What an ORCHESTRATOR step does: a hook left for humans, or a call to the COMPUTE or EFFECT node."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_TAKEN_MODULES = frozenset(sys.stdlib_module_names) | {
    "onex_runtime",
    "pydantic",
    "pydantic_core",
    "yaml",
    "pytest",
    "fastapi",
    "starlette",
    "httpx",
    "uvicorn",
    "sqlalchemy",
    "tests",
    "conftest",
}


def plural(word: str) -> str:
    """Return a naive English plural of a snake_case word (``category`` -> ``categories``)."""
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def app_package_name(service_name: str) -> str:
    """Return the application package of the service ``service_name`` (``LibraryLoans`` -> ``library_loans``).

    A name that would shadow a standard-library or dependency module (a service called ``Email``) gets
    ``_service`` appended: the service's directory comes first on ``sys.path``.
    """
    name = snake_case(without_node_type_suffix(service_name))
    return f"{name}_service" if name in _TAKEN_MODULES or name.startswith("node_") else name


def models_package_name(service_name: str) -> str:
    """Return the shared models package of the service ``service_name`` (``library_loans_models``)."""
    return f"{app_package_name(service_name)}_models"


def _identifier(value: str) -> str:
    if not is_safe_identifier(value):
        raise ValueError(f"{value!r} is not a safe identifier")
    return value


def _unique(names: list[str], what: str) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate {what} names: {duplicates}")


class FieldSpec(BaseModel):
    """A typed field of an entity; ``alias`` is its wire name when that is not its Python name."""

    model_config = _FROZEN
    name: str
    type: FieldType = "str"
    required: bool = True
    description: str = ""
    alias: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The name as the PRD writes it (JSON, HTTP, storage) when the Python name had to differ.",
    )

    _check_name = field_validator("name")(_identifier)

    @property
    def wire_name(self) -> str:
        """The name on the wire: the alias when there is one, else the Python name."""
        return self.alias if self.alias is not None else self.name


class EntitySpec(BaseModel):
    """An entity the node stores or computes on, with its fields (``id`` is added by the templates)."""

    model_config = _FROZEN
    name: str
    fields: tuple[FieldSpec, ...] = ()
    description: str = ""
    rules: tuple[RuleSpec, ...] = Field(
        default=(),
        description="The PRD's rules the shared model checks (range, length, enum, format, comparison)",
    )

    _check_name = field_validator("name")(_identifier)

    @property
    def snake(self) -> str:
        """The entity's name in snake_case (``LoanRecord`` -> ``loan_record``)."""
        return snake_case(self.name)

    @property
    def plural(self) -> str:
        """The snake_case plural (``loan_record`` -> ``loan_records``): collection and route names."""
        return plural(self.snake)

    @model_validator(mode="after")
    def _fields_unique(self) -> Self:
        names = [f.name for f in self.fields]
        _unique(names, f"{self.name} field")
        wire = [f.wire_name for f in self.fields]
        _unique(wire, f"{self.name} wire")
        if "id" in names or "id" in wire:
            raise ValueError(f"{self.name}: the field 'id' is reserved (every entity has one)")
        for spec in self.rules:
            rule = spec.rule
            if not spec.implemented or not spec.is_model_rule or rule.entity != self.name:
                raise ValueError(f"{self.name}: {rule.id} is not an implemented rule of this entity")
            read = set(rule.fields) | set(rule.expression.field_names() if rule.expression else ())
            if read - set(names):
                raise ValueError(f"{self.name}: {rule.id} reads unknown fields {sorted(read - set(names))}")
        _unique([s.id for s in self.rules], f"{self.name} rule")
        return self


class OperationSpec(BaseModel):
    """One thing the node does; its method name is ``name``."""

    model_config = _FROZEN
    name: str
    kind: OperationKind
    entity: str | None = None
    description: str = ""

    _check_name = field_validator("name")(_identifier)


class PortSpec(BaseModel):
    """A dependency on an external system, reached through a runtime port."""

    model_config = _FROZEN
    kind: PortKind
    system: str = Field(description="The external system, as the PRD names it (PostgreSQL, Kafka...).")

    @property
    def key(self) -> str:
        """The runtime's service key constant (``RECORD_STORE``)."""
        return self.kind.upper()


class HookSpec(BaseModel):
    """Behaviour the PRD asks for but does not specify: generated as a method raising NOT_IMPLEMENTED."""

    model_config = _FROZEN
    name: str
    description: str = ""

    _check_name = field_validator("name")(_identifier)


class TransitionSpec(BaseModel):
    """``source --event--> target``."""

    model_config = _FROZEN
    source: str
    event: str
    target: str

    _check = field_validator("source", "event", "target")(_identifier)


class FsmSpec(BaseModel):
    """A REDUCER's state machine."""

    model_config = _FROZEN
    states: tuple[str, ...]
    initial: str
    terminal: tuple[str, ...] = ()
    transitions: tuple[TransitionSpec, ...]

    @field_validator("states", "terminal")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _identifier(name)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique(list(self.states), "state")
        known = set(self.states)
        named = {self.initial, *self.terminal}
        for t in self.transitions:
            named |= {t.source, t.target}
        unknown = sorted(named - known)
        if unknown:
            raise ValueError(f"undeclared states: {unknown}")
        pairs = [(t.source, t.event) for t in self.transitions]
        if len(pairs) != len(set(pairs)):
            raise ValueError("a (state, event) pair has two transitions")
        if not self.transitions:
            raise ValueError("a state machine needs at least one transition")
        return self

    @property
    def events(self) -> tuple[str, ...]:
        """Every event name, sorted."""
        return tuple(sorted({t.event for t in self.transitions}))


class StepSpec(BaseModel):
    """One step of an ORCHESTRATOR's graph, with what it does and its retry and timeout policy.

    ``attempts`` counts the first try (``None``: the node's default, see docs/codegen.md); a step that fails
    as unavailable or timed out is tried again after ``backoff_seconds``, doubled each time.
    """

    model_config = _FROZEN
    name: str
    description: str = ""
    depends_on: tuple[str, ...] = ()
    action: StepAction = "hook"
    entity: str | None = None
    attempts: int | None = Field(default=None, ge=1, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0.0, le=60.0)
    timeout_seconds: float = Field(default=30.0, gt=0.0, le=86400.0)
    policy_source: str = Field(default="", description="The PRD sentence the retry policy comes from, if any.")

    _check_name = field_validator("name")(_identifier)

    @model_validator(mode="after")
    def _action_needs_entity(self) -> Self:
        if self.action != "hook" and self.entity is None:
            raise ValueError(f"step {self.name}: a {self.action} step needs an entity")
        if self.action == "hook" and self.entity is not None:
            raise ValueError(f"step {self.name}: a hook step has no entity")
        return self


class NodeSpec(BaseModel):
    """Everything one generated node is rendered from."""

    model_config = _FROZEN
    service_name: str = Field(description="PascalCase service name, e.g. LibraryLoans.")
    domain: str = Field(description="snake_case domain, e.g. library.")
    node_type: NodeType
    description: str = ""
    version: str = "1.0.0"
    entities: tuple[EntitySpec, ...] = ()
    operations: tuple[OperationSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    mixins: tuple[str, ...] = ()
    hooks: tuple[HookSpec, ...] = ()
    fsm: FsmSpec | None = None
    steps: tuple[StepSpec, ...] = ()
    requirements: tuple[str, ...] = Field(default=(), description="PRD requirements this node serves (text).")
    rules: tuple[RuleSpec, ...] = Field(
        default=(), description="The PRD's rules this node accounts for: implemented as code, or left as hooks."
    )

    _check_names = field_validator("service_name", "domain")(_identifier)

    @property
    def type_title(self) -> str:
        """``Effect``, ``Compute``, ``Reducer`` or ``Orchestrator``."""
        return self.node_type.capitalize()

    @property
    def class_name(self) -> str:
        """``Node<Service><Type>``; a service name ending with the type's word does not repeat it."""
        return f"Node{without_node_type_suffix(self.service_name, self.node_type)}{self.type_title}"

    @property
    def package_name(self) -> str:
        """``node_<domain>_<service>_<type>``; neither the domain nor a trailing type word is repeated.

        The domain is left out when the service name starts with it (``node_library_loans_effect``), and the type
        word when the service name ends with it (``OrderFulfilmentOrchestrator`` -> ``node_order_fulfilment_`` +
        ``orchestrator``).
        """
        service = snake_case(without_node_type_suffix(self.service_name, self.node_type))
        prefix = "" if service == self.domain or service.startswith(f"{self.domain}_") else f"{self.domain}_"
        return f"node_{prefix}{service}_{self.node_type.lower()}"

    @property
    def models_package(self) -> str:
        """The service's shared models package (``<service>_models``), which every node imports entities from."""
        return models_package_name(self.service_name)

    @property
    def app_package(self) -> str:
        """The service's application package: composition root, entry point (``python -m``), HTTP layer."""
        return app_package_name(self.service_name)

    @property
    def hook_names(self) -> tuple[str, ...]:
        """Every method of the node left for humans (it raises NOT_IMPLEMENTED): its hooks and its hook steps."""
        return tuple(h.name for h in self.hooks) + tuple(f"step_{s.name}" for s in self.step_hooks)

    @property
    def rules_implemented(self) -> int:
        """How many of the PRD's rules this node implements as code (the others are among its hooks)."""
        return sum(1 for r in self.rules if r.implemented)

    @property
    def step_hooks(self) -> tuple[StepSpec, ...]:
        """The ORCHESTRATOR's steps left for humans (their methods raise NOT_IMPLEMENTED)."""
        return tuple(s for s in self.steps if s.action == "hook")

    def entity(self, name: str) -> EntitySpec:
        """Return the entity named ``name``."""
        for entity in self.entities:
            if entity.name == name:
                return entity
        raise KeyError(name)

    @field_validator("mixins")
    @classmethod
    def _known_mixins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(MIXIN_CATALOGUE))
        if unknown:
            raise ValueError(f"unknown mixins {unknown}; known: {sorted(MIXIN_CATALOGUE)}")
        return tuple(sorted(set(value), key=WRAP_ORDER.index))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique([e.name for e in self.entities], "entity")
        _unique([o.name for o in self.operations] + [h.name for h in self.hooks], "operation/hook")
        _unique([p.kind for p in self.ports], "port")
        entity_names = {e.name for e in self.entities}
        for op in self.operations:
            if op.entity is not None and op.entity not in entity_names:
                raise ValueError(f"operation {op.name} refers to unknown entity {op.entity!r}")
        for mixin in self.mixins:
            applies = MIXIN_CATALOGUE[mixin].INFO.node_types
            if self.node_type not in applies:
                raise ValueError(f"{mixin} does not apply to {self.node_type} nodes")
        if self.node_type == "REDUCER" and self.fsm is None:
            raise ValueError("a REDUCER needs a state machine (fsm)")
        if self.node_type == "ORCHESTRATOR":
            if not self.steps:
                raise ValueError("an ORCHESTRATOR needs steps")
            _unique([s.name for s in self.steps], "step")
            graph = {s.name: set(s.depends_on) for s in self.steps}
            unknown = sorted({d for deps in graph.values() for d in deps} - set(graph))
            if unknown:
                raise ValueError(f"steps depend on unknown steps {unknown}")
            try:
                tuple(TopologicalSorter(graph).static_order())
            except CycleError as exc:
                raise ValueError(f"the steps form a cycle: {exc.args[1]}") from None
            for step in self.steps:
                if step.entity is not None and step.entity not in entity_names:
                    raise ValueError(f"step {step.name} refers to unknown entity {step.entity!r}")
            clash = sorted({s.name for s in self.steps} & {o.name for o in self.operations})
            if clash:
                raise ValueError(f"steps named like operations: {clash}")
        if self.node_type == "EFFECT" and not self.ports:
            raise ValueError("an EFFECT needs at least one port")
        _unique([r.id for r in self.rules], "rule")
        hooks = {h.name for h in self.hooks}
        missing = sorted(r.hook_name for r in self.rules if not r.implemented and r.hook_name not in hooks)
        if missing:
            raise ValueError(f"rules left as hooks need their hook methods: {missing}")
        if self.node_type in ("EFFECT", "COMPUTE") and not self.entities:
            raise ValueError(f"a {self.node_type} needs at least one entity")
        return self
