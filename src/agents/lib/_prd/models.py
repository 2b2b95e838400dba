"""The frozen, typed result of PRD analysis (private: import the names from ``agents.lib.prd_analyzer``)."""

from __future__ import annotations

import keyword
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DecomposedTask",
    "Entity",
    "EntityField",
    "ExternalSystem",
    "ExternalSystemKind",
    "FieldType",
    "Lifecycle",
    "NodeType",
    "NodeTypeHint",
    "Operation",
    "OperationKind",
    "PRDAnalysis",
    "Priority",
    "QualityBaseline",
    "Requirement",
    "StateTransition",
    "UserStory",
    "WorkflowStep",
]


class NodeType(StrEnum):
    """The four ONEX node types."""

    EFFECT = "EFFECT"
    COMPUTE = "COMPUTE"
    REDUCER = "REDUCER"
    ORCHESTRATOR = "ORCHESTRATOR"


class Priority(StrEnum):
    """A requirement's priority: P0/MUST -> high, P1/SHOULD -> medium, P2+/MAY -> low."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FieldType(StrEnum):
    """The type of an entity field, as far as the PRD says (``str`` when it does not)."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    DATE = "date"
    DECIMAL = "decimal"
    UUID = "uuid"
    LIST = "list"
    DICT = "dict"


class ExternalSystemKind(StrEnum):
    """What kind of external system a service talks to."""

    DATABASE = "database"
    CACHE = "cache"
    MESSAGE_BROKER = "message_broker"
    HTTP_API = "http_api"
    OBJECT_STORAGE = "object_storage"
    EMAIL = "email"
    SMS = "sms"
    SEARCH = "search"
    RPC = "rpc"
    DATA_WAREHOUSE = "data_warehouse"


class OperationKind(StrEnum):
    """What an operation does; :attr:`node_type` says which node type carries it out."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"
    SEARCH = "search"
    CALCULATE = "calculate"
    VALIDATE = "validate"
    TRANSFORM = "transform"
    AGGREGATE = "aggregate"
    SUMMARIZE = "summarize"
    COORDINATE = "coordinate"
    SCHEDULE = "schedule"
    NOTIFY = "notify"
    PUBLISH = "publish"
    INGEST = "ingest"
    EXPORT = "export"

    @property
    def node_type(self) -> NodeType:
        """The node type that carries out this kind of operation."""
        return _OPERATION_NODE_TYPE[self]


_OPERATION_NODE_TYPE: dict[OperationKind, NodeType] = {
    OperationKind.CREATE: NodeType.EFFECT,
    OperationKind.READ: NodeType.EFFECT,
    OperationKind.UPDATE: NodeType.EFFECT,
    OperationKind.DELETE: NodeType.EFFECT,
    OperationKind.LIST: NodeType.EFFECT,
    OperationKind.SEARCH: NodeType.EFFECT,
    OperationKind.NOTIFY: NodeType.EFFECT,
    OperationKind.PUBLISH: NodeType.EFFECT,
    OperationKind.INGEST: NodeType.EFFECT,
    OperationKind.EXPORT: NodeType.EFFECT,
    OperationKind.CALCULATE: NodeType.COMPUTE,
    OperationKind.VALIDATE: NodeType.COMPUTE,
    OperationKind.TRANSFORM: NodeType.COMPUTE,
    OperationKind.AGGREGATE: NodeType.REDUCER,
    OperationKind.SUMMARIZE: NodeType.REDUCER,
    OperationKind.COORDINATE: NodeType.ORCHESTRATOR,
    OperationKind.SCHEDULE: NodeType.ORCHESTRATOR,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_identifier(value: str, what: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value) or not value.isascii():
        raise ValueError(f"{what} {value!r} is not a valid ASCII Python identifier")
    return value


class Requirement(_Frozen):
    """One requirement: its id (from the PRD, or ``REQ-nnn``), text, priority and section."""

    id: str
    text: str
    priority: Priority = Priority.MEDIUM
    priority_label: str = Field(default="", description="the marker the PRD used: P0, MUST, High")
    source_section: str = ""
    details: tuple[str, ...] = ()


class UserStory(_Frozen):
    """A user story: "As a <role>, I want <goal> so that <benefit>", with acceptance criteria."""

    id: str
    role: str
    goal: str
    benefit: str = ""
    acceptance_criteria: tuple[str, ...] = ()
    text: str = ""
    source_section: str = ""


class EntityField(_Frozen):
    """A field of an entity: ``name`` is a snake_case identifier, ``type`` one of :class:`FieldType`."""

    name: str
    type: FieldType = FieldType.STR
    required: bool = True
    source_type: str = Field(default="", description="the type as the PRD wrote it, if it did")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        return _check_identifier(value, "field name")


class Entity(_Frozen):
    """A named thing the service keeps or processes, with the fields the PRD names."""

    name: str
    fields: tuple[EntityField, ...] = ()
    sources: tuple[str, ...] = Field(
        default=(), description="where it was read: table, sql, json, typescript, phrase, bullets"
    )

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        return _check_identifier(value, "entity name")

    def field(self, name: str) -> EntityField | None:
        """Return the field called ``name``, or ``None``."""
        return next((f for f in self.fields if f.name == name), None)


class ExternalSystem(_Frozen):
    """An external system the PRD mentions (PostgreSQL, Kafka, an HTTP API, ...)."""

    name: str
    kind: ExternalSystemKind
    evidence: tuple[str, ...] = ()


class Operation(_Frozen):
    """An operation the service performs, with the entity it applies to when one was found."""

    kind: OperationKind
    entity: str | None = None
    target: str = Field(default="", description="the words after the verb, when there are any")
    node_type: NodeType
    requirement_id: str | None = None
    evidence: str = ""


class NodeTypeHint(_Frozen):
    """How strongly the PRD calls for one node type: ``score`` in [0, 1] and the terms found."""

    node_type: NodeType
    score: float = Field(ge=0.0, le=1.0)
    evidence: tuple[str, ...] = ()
    recommended: bool = False


class DecomposedTask(_Frozen):
    """A unit of implementation work derived from the analysis."""

    id: str
    title: str
    node_type: NodeType
    description: str = ""
    requirement_ids: tuple[str, ...] = ()


class WorkflowStep(_Frozen):
    """One step of a workflow, in order.

    ``name`` is a snake_case identifier derived from the step's words (``Reserve stock in the inventory
    service.`` -> ``reserve_stock``); ``text`` is the step as the PRD wrote it. ``origin`` says where the step
    comes from: ``prd`` (the PRD lists it), or, for an ORCHESTRATOR step the PRD does not list, ``operations``
    (a coordination operation's target), ``tasks`` (a decomposed task's title) or ``default``.
    """

    name: str
    text: str = ""
    source_section: str = ""
    origin: Literal["prd", "operations", "tasks", "default"] = "prd"

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        return _check_identifier(value, "step name")


class StateTransition(_Frozen):
    """``source -> target`` as the PRD names it; ``event`` is the trigger it names, when it names one."""

    source: str
    target: str
    event: str = Field(default="", description="a snake_case trigger from a transition table, else empty")
    evidence: str = ""

    @field_validator("source", "target")
    @classmethod
    def _state_is_identifier(cls, value: str) -> str:
        return _check_identifier(value, "state name")

    @field_validator("event")
    @classmethod
    def _event_is_identifier(cls, value: str) -> str:
        return value and _check_identifier(value, "event name")


class Lifecycle(_Frozen):
    """The states something moves through, and the transitions between them.

    ``origin`` says where it comes from: ``prd`` (the PRD names it), ``known`` (a known lifecycle whose states
    the requirements name) or ``default`` (open, active, closed).
    """

    entity: str | None = Field(default=None, description="the entity whose status this is, when the PRD says")
    states: tuple[str, ...] = Field(min_length=2)
    initial: str
    terminal: tuple[str, ...] = ()
    transitions: tuple[StateTransition, ...] = Field(min_length=1)
    source_section: str = ""
    origin: Literal["prd", "known", "default"] = "prd"

    @field_validator("states", "terminal")
    @classmethod
    def _states_are_identifiers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _check_identifier(name, "state name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Lifecycle:
        known = set(self.states)
        if len(known) != len(self.states):
            raise ValueError("lifecycle states must be unique")
        named = {self.initial, *self.terminal}
        for t in self.transitions:
            named |= {t.source, t.target}
        unknown = sorted(named - known)
        if unknown:
            raise ValueError(f"lifecycle names undeclared states {unknown}")
        return self


class QualityBaseline(_Frozen):
    """How complete and precise the PRD is, each score in [0, 1], with what is missing."""

    completeness: float = Field(ge=0.0, le=1.0)
    clarity: float = Field(ge=0.0, le=1.0)
    testability: float = Field(ge=0.0, le=1.0)
    structure: float = Field(ge=0.0, le=1.0)
    overall: float = Field(ge=0.0, le=1.0)
    missing: tuple[str, ...] = ()


class PRDAnalysis(_Frozen):
    """The result of :func:`agents.lib.prd_analyzer.analyze_prd`: everything the spec builder needs.

    ``workflow_steps`` and ``lifecycle`` are what the PRD itself names (empty / ``None`` when it names none);
    ``orchestrator_steps`` and ``reducer_lifecycle`` are what the ORCHESTRATOR and the REDUCER get, decided here
    once (the PRD's when it names them, else derived from the rest of the analysis).
    """

    title: str
    service_name: str
    domain: str
    description: str = ""
    source_path: str | None = None
    functional_requirements: tuple[Requirement, ...] = ()
    features: tuple[str, ...] = ()
    user_stories: tuple[UserStory, ...] = ()
    success_criteria: tuple[str, ...] = ()
    non_functional_requirements: tuple[Requirement, ...] = ()
    technical_details: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    decomposed_tasks: tuple[DecomposedTask, ...] = ()
    node_type_hints: tuple[NodeTypeHint, ...] = Field(
        default=(), description="one hint per node type, in NodeType order"
    )
    recommended_node_types: tuple[NodeType, ...] = Field(min_length=1)
    node_types_overridden: bool = False
    external_systems: tuple[ExternalSystem, ...] = ()
    entities: tuple[Entity, ...] = ()
    operations: tuple[Operation, ...] = ()
    workflow_steps: tuple[WorkflowStep, ...] = Field(
        default=(), description="the workflow's steps in order, when the PRD lists them"
    )
    lifecycle: Lifecycle | None = Field(default=None, description="the states and transitions the PRD names")
    orchestrator_steps: tuple[WorkflowStep, ...] = Field(
        min_length=2, description="the steps the ORCHESTRATOR runs, in order: the workflow's, else derived"
    )
    reducer_lifecycle: Lifecycle = Field(
        description="the state machine the REDUCER folds events through, an event on every transition"
    )
    quality_baseline: QualityBaseline
    confidence_score: float = Field(ge=0.0, le=1.0)
    warnings: tuple[str, ...] = ()

    @field_validator("service_name")
    @classmethod
    def _service_is_identifier(cls, value: str) -> str:
        return _check_identifier(value, "service name")

    @field_validator("domain")
    @classmethod
    def _domain_is_identifier(cls, value: str) -> str:
        return _check_identifier(value, "domain")

    @model_validator(mode="before")
    @classmethod
    def _decide_when_missing(cls, data: Any) -> Any:
        """Decide ``orchestrator_steps`` and ``reducer_lifecycle`` for an analysis saved before they existed."""
        if not isinstance(data, dict) or {"orchestrator_steps", "reducer_lifecycle"} <= data.keys():
            return data
        from agents.lib._prd.decisions import decide_missing  # here: it imports this module

        return decide_missing(data)

    @property
    def node_type_scores(self) -> dict[NodeType, float]:
        """The score of every node type, as a new dict."""
        return {hint.node_type: hint.score for hint in self.node_type_hints}

    def hint(self, node_type: NodeType | str) -> NodeTypeHint:
        """Return the hint for ``node_type`` (a :class:`NodeType` or its name)."""
        wanted = NodeType(node_type)
        for hint in self.node_type_hints:
            if hint.node_type is wanted:
                return hint
        return NodeTypeHint(node_type=wanted, score=0.0)

    def entity(self, name: str) -> Entity | None:
        """Return the entity called ``name``, or ``None``."""
        return next((e for e in self.entities if e.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (enums as their values, tuples as lists)."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Return the analysis as a JSON string with sorted keys."""
        import json

        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
