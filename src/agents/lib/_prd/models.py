"""The frozen, typed result of PRD analysis (private: import the names from ``agents.lib.prd_analyzer``)."""

from __future__ import annotations

import keyword
from decimal import Decimal
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
    "Rule",
    "RuleExpr",
    "RuleFormat",
    "RuleKind",
    "RuleOperator",
    "RuleValue",
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
    """A field of an entity: ``name`` is a snake_case identifier, ``type`` one of :class:`FieldType`.

    ``alias`` is the field's name on the wire as the PRD spells it (``sellerId``, ``schema``) when that differs
    from ``name``: a camelCase key, or a name that had to be changed because it is reserved (``schema`` of a
    ``Manifest`` is the field ``manifest_schema``, alias ``schema``); ``None`` when the PRD's name is ``name``.
    """

    name: str
    type: FieldType = FieldType.STR
    required: bool = True
    source_type: str = Field(default="", description="the type as the PRD wrote it, if it did")
    description: str = ""
    alias: str | None = Field(default=None, description="the PRD's own spelling, when it differs from name")

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
    alias: str | None = Field(
        default=None, description="the PRD's name when it had to be changed (Container -> ContainerRecord)"
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


class RuleKind(StrEnum):
    """What a :class:`Rule` constrains or computes (the fields each kind uses are in docs/codegen.md, "Rules")."""

    RANGE = "range"
    LENGTH = "length"
    ENUM = "enum"
    FORMAT = "format"
    UNIQUE = "unique"
    COMPARISON = "comparison"
    QUOTA = "quota"
    FORMULA = "formula"
    CONDITION = "condition"


class RuleOperator(StrEnum):
    """How a field is compared with a rule's values (``between`` is inclusive at both ends)."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    BETWEEN = "between"
    IN = "in"
    NOT_IN = "not_in"
    MULTIPLE_OF = "multiple_of"


class RuleFormat(StrEnum):
    """The formats a :attr:`RuleKind.FORMAT` rule names.

    ``digits``, ``letters``, ``alphanumeric``, ``upper_alphanumeric`` (capital letters and digits) and ``hex``
    are character classes whose length the rule's operator and values give (``8 digits``: ``eq [8]``); the
    others are standard formats (``currency_code`` is ISO 4217's three capital letters, ``country_code``
    ISO 3166-1 alpha-2, ``phone`` E.164).
    """

    EMAIL = "email"
    URL = "url"
    CURRENCY_CODE = "currency_code"
    COUNTRY_CODE = "country_code"
    PHONE = "phone"
    UUID = "uuid"
    IBAN = "iban"
    DIGITS = "digits"
    LETTERS = "letters"
    ALPHANUMERIC = "alphanumeric"
    UPPER_ALPHANUMERIC = "upper_alphanumeric"
    HEX = "hex"


class RuleValue(_Frozen):
    """One of a rule's values as the PRD writes it: ``text`` as written, ``number`` exactly, ``unit`` normalized.

    ``number`` is the number written (``12`` for "12%", ``0.30`` for "0.30 EUR"), ``None`` for a word value
    ("gold"). ``unit`` is ``""``, ``%``, an ISO currency code (``EUR``), a time unit in the plural (``minutes``,
    ``days``...), ``characters``, ``words``, ``digits`` or another unit as written in lower case (``kg``).
    """

    text: str
    number: Decimal | None = None
    unit: str = ""


_EXPR_ARITY: dict[str, tuple[int, int]] = {
    "field": (0, 0),
    "input": (0, 0),
    "const": (0, 0),
    "now": (0, 0),
    "today": (0, 0),
    "add": (2, 2),
    "sub": (2, 2),
    "mul": (2, 2),
    "div": (2, 2),
    "percent_of": (2, 2),
    "min": (2, 8),
    "max": (2, 8),
    "round": (1, 1),
    "sum": (1, 1),
}


class RuleExpr(_Frozen):
    """A node of a rule's arithmetic, a tree the generator renders (never code text).

    ``field``: the field ``name`` of ``entity``; ``input``: a value the PRD names that is no field, a parameter
    called ``name`` (``days_overdue``); ``const``: ``value``; ``now`` / ``today``: the current time / date;
    ``add``/``sub``/``mul``/``div``: two ``args``;
    ``percent_of``: ``args[0]`` percent of ``args[1]`` (``args[0] / 100 * args[1]``); ``min``/``max``: two or
    more ``args``; ``round``: ``args[0]`` rounded half-up to ``digits`` decimals; ``sum``: ``args[0]`` summed
    over the records of ``entity`` (the line items of an invoice).
    """

    op: Literal[
        "field",
        "input",
        "const",
        "now",
        "today",
        "add",
        "sub",
        "mul",
        "div",
        "percent_of",
        "min",
        "max",
        "round",
        "sum",
    ]
    name: str = ""
    entity: str | None = None
    value: RuleValue | None = None
    digits: int | None = Field(default=None, ge=0, le=12)
    args: tuple[RuleExpr, ...] = ()

    @model_validator(mode="after")
    def _well_formed(self) -> RuleExpr:
        low, high = _EXPR_ARITY[self.op]
        if not low <= len(self.args) <= high:
            raise ValueError(f"a {self.op!r} node takes {low} to {high} arguments, not {len(self.args)}")
        if self.op in ("field", "input"):
            _check_identifier(self.name, f"{self.op} name")
        if self.op == "const" and (self.value is None or self.value.number is None):
            raise ValueError("a 'const' node needs a numeric value")
        if self.op == "round" and self.digits is None:
            raise ValueError("a 'round' node needs digits")
        if self.op == "sum" and not self.entity:
            raise ValueError("a 'sum' node needs the entity it sums over")
        return self

    def field_names(self) -> tuple[str, ...]:
        """Return the ``field`` names the expression reads, in order, each once."""
        names: dict[str, None] = {}
        if self.op == "field":
            names[self.name] = None
        for arg in self.args:
            names.update(dict.fromkeys(arg.field_names()))
        return tuple(names)

    def describe(self) -> str:
        """Return the expression in words and symbols for people (``max(12% of gross_amount, 0.30 EUR)``)."""
        if self.op in ("field", "input"):
            return self.name
        if self.op == "const":
            return self.value.text if self.value is not None else "?"
        if self.op in ("now", "today"):
            return self.op
        parts = [arg.describe() for arg in self.args]
        symbols = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
        if self.op in symbols:
            return f"({parts[0]} {symbols[self.op]} {parts[1]})"
        if self.op == "percent_of":
            return f"{parts[0]} of {parts[1]}"
        if self.op == "round":
            return f"round({parts[0]}, {self.digits})"
        if self.op == "sum":
            return f"sum of {parts[0]} over {self.entity}"
        return f"{self.op}({', '.join(parts)})"

    def input_names(self) -> tuple[str, ...]:
        """Return the ``input`` names the expression reads, in order, each once."""
        names: dict[str, None] = {}
        if self.op == "input":
            names[self.name] = None
        for arg in self.args:
            names.update(dict.fromkeys(arg.input_names()))
        return tuple(names)


class Rule(_Frozen):
    """A business rule the PRD states: a limit, enumeration, format, uniqueness, comparison, quota or formula.

    Everything is structured: ``entity`` and ``fields`` are names of the analysis's entities and their fields,
    ``operator`` and ``values`` the comparison with the PRD's own numbers and units, ``expression`` the
    arithmetic as a :class:`RuleExpr` tree. ``codeable`` says whether the generator can implement the rule from
    this data alone; when it is false, ``reason`` says why and the rule stays a hook. What each kind uses is
    in docs/codegen.md ("Rules").
    """

    id: str
    kind: RuleKind
    entity: str | None = Field(default=None, description="the entity constrained, when the PRD says which")
    fields: tuple[str, ...] = Field(default=(), description="the fields of entity it constrains or reads")
    operator: RuleOperator | None = None
    values: tuple[RuleValue, ...] = ()
    format: RuleFormat | None = None
    expression: RuleExpr | None = None
    target: str = Field(default="", description="formula: the name of the value computed")
    scope: tuple[str, ...] = Field(default=(), description="quota: the fields whose values share one quota")
    window: RuleValue | None = Field(default=None, description="quota: the period counted (1 day), or None")
    window_field: str = Field(default="", description="quota: the date or time field that places a record")
    consequence: str = Field(default="", description="condition: what the PRD says follows, as written")
    codeable: bool = False
    reason: str = Field(default="", description="why the rule is a hook, when it is not codeable")
    text: str = Field(default="", description="the sentence the rule was read from")
    requirement_id: str | None = None
    source_section: str = ""

    def describe(self) -> str:
        """Return the rule in words and symbols (``Payment.fee = max(12% of gross_amount, 0.30 EUR)``)."""
        where = f"{self.entity}." if self.entity else ""
        subject = where + (",".join(self.fields[:1]) if self.fields else "?")
        values = ", ".join(v.text for v in self.values)
        symbols = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
        op = self.operator.value if self.operator is not None else ""
        if self.kind is RuleKind.FORMULA:
            body = self.expression.describe() if self.expression is not None else "?"
            return f"{where}{self.target or '?'} = {body}"
        if self.kind is RuleKind.CONDITION:
            return f"condition: {self.text}"
        if self.kind is RuleKind.UNIQUE:
            return f"unique {where}({', '.join(self.fields) or '?'})"
        if self.kind is RuleKind.QUOTA:
            per = "".join(f" per {s}" for s in self.scope) + (f" per {self.window.text}" if self.window else "")
            return (
                f"at most {values or '?'} {self.entity or 'records'}{per}"
                if op == "le"
                else (f"{op} {values} {self.entity or 'records'}{per}")
            )
        if self.kind is RuleKind.COMPARISON:
            other = self.expression.describe() if self.expression is not None else "?"
            return f"{subject} {symbols.get(op, op)} {other}"
        if self.kind is RuleKind.ENUM:
            return f"{subject} in {{{values or '?'}}}"
        if self.kind is RuleKind.FORMAT:
            fmt = self.format.value if self.format is not None else "a format"
            size = f", length {symbols.get(op, op)} {values}" if values else ""
            return f"{subject} is {fmt}{size}"
        shown = f"len({subject})" if self.kind is RuleKind.LENGTH else subject
        if op == "between" and len(self.values) == 2:
            return f"{self.values[0].text} <= {shown} <= {self.values[1].text}"
        if op == "multiple_of":
            return f"{shown} is a multiple of {values}"
        return f"{shown} {symbols.get(op, op)} {values}"

    @field_validator("fields", "scope")
    @classmethod
    def _names_are_identifiers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _check_identifier(name, "rule field")
        return value

    @field_validator("target", "window_field")
    @classmethod
    def _optional_identifier(cls, value: str) -> str:
        return value and _check_identifier(value, "rule name")


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
    rules: tuple[Rule, ...] = Field(default=(), description="the business rules the PRD states, in its order")
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

    def rules_for(self, entity: str) -> tuple[Rule, ...]:
        """Return the rules on the entity called ``entity``, in order."""
        return tuple(r for r in self.rules if r.entity == entity)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (enums as their values, tuples as lists)."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Return the analysis as a JSON string with sorted keys."""
        import json

        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
