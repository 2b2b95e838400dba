"""The model every generated ``contract.yaml`` is validated against."""

from __future__ import annotations

from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agents.lib.codegen.spec import EntitySpec, FieldSpec, NodeType, PortKind, StepSpec

__all__ = [
    "ContractEntity",
    "ContractField",
    "ContractFsm",
    "ContractHook",
    "ContractOperation",
    "ContractPort",
    "ContractRule",
    "ContractStep",
    "ContractTransition",
    "NodeContract",
    "load_yaml",
]

_SAFE_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Load one YAML document safely: PyYAML's safe loader, libyaml's when available (about 10x faster)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


_STRICT = ConfigDict(extra="forbid", frozen=True)


class ContractField(FieldSpec):
    """A field of an entity: the spec's own :class:`FieldSpec`, so every property of a field round-trips."""


class ContractEntity(EntitySpec):
    """An entity and its fields, as the spec has them (the shared models package is rendered from these)."""

    fields: tuple[ContractField, ...] = ()


class ContractOperation(BaseModel):
    """An operation of the node (a method of its class)."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    kind: str
    entity: str | None
    description: str


class ContractHook(BaseModel):
    """Behaviour left for humans: the method raises NOT_IMPLEMENTED."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    description: str


class ContractPort(BaseModel):
    """A dependency on an external system."""

    model_config = _STRICT
    kind: PortKind
    system: str


class ContractTransition(BaseModel):
    """A transition of the state machine."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    source: str = Field(alias="from")
    event: str
    target: str = Field(alias="to")


class ContractFsm(BaseModel):
    """A REDUCER's state machine."""

    model_config = _STRICT
    states: list[str] = Field(min_length=1)
    initial: str
    terminal: list[str]
    transitions: list[ContractTransition] = Field(min_length=1)


class ContractStep(StepSpec):
    """A step of an ORCHESTRATOR: what it does and its retry and timeout policy, as the spec has them."""


class ContractRule(BaseModel):
    """One of the PRD's rules the node accounts for: implemented as code, or a hook with its reason."""

    model_config = _STRICT
    id: str
    kind: str
    entity: str | None
    rule: str
    implemented: bool
    hook: str | None = Field(default=None, pattern=r"^rule_[0-9]{3}_[a-z]+$")
    reason: str = ""
    text: str


class NodeContract(BaseModel):
    """A node's ``contract.yaml``."""

    model_config = _STRICT
    contract_version: Literal[1]
    name: str = Field(pattern=r"^node_[a-z0-9_]+_(effect|compute|reducer|orchestrator)$")
    class_name: str = Field(pattern=r"^Node[A-Z][A-Za-z0-9]*(Effect|Compute|Reducer|Orchestrator)$")
    node_type: NodeType
    service: str
    domain: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str
    operations: list[ContractOperation]
    entities: list[ContractEntity]
    ports: list[ContractPort]
    mixins: list[str]
    hooks: list[ContractHook]
    requirements: list[str]
    fsm: ContractFsm | None = None
    steps: list[ContractStep] | None = None
    rules: list[ContractRule] = []
