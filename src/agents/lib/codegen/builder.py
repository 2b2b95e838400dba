"""From a :class:`~agents.lib.prd_analyzer.PRDAnalysis` to one validated :class:`NodeSpec` per node type.

The builder maps the analysis to specs and decides nothing the analysis already decided: the REDUCER's state
machine is ``analysis.reducer_lifecycle`` and the ORCHESTRATOR's steps are ``analysis.orchestrator_steps``.
What each node type's spec holds is in docs/codegen.md ("Node specs").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from agents.lib.codegen.capabilities import required_capabilities
from agents.lib.codegen.rules import attach_rules, formulas
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE
from agents.lib.codegen.spec import (
    NODE_TYPES,
    EntitySpec,
    FieldSpec,
    FsmSpec,
    HookSpec,
    NodeSpec,
    NodeType,
    OperationSpec,
    PortSpec,
    RuleSpec,
    StepSpec,
    TransitionSpec,
    plural,
)
from agents.lib.codegen.step_plan import plan_steps
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.naming import is_safe_identifier, pascal_case, snake_case, without_node_type_suffix
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = [
    "DEFAULT_MIXINS",
    "MixinRecommender",
    "SpecPlanner",
    "build_node_spec",
    "build_node_specs",
    "plural",
    "required_mixins",
]

MixinRecommender = Callable[[NodeType, Sequence[str]], Sequence[str]]
"""``(node_type, required capabilities) -> mixin names``; the seam the mixin learner plugs into."""


class SpecPlanner(Protocol):
    """The seam pattern detection plugs into (``agents.lib._patterns.plan.PatternPlanner``).

    ``node_types`` may add node types to the ones the analysis recommends (it is not asked when the caller
    chose the node types); ``refine`` returns each built spec, changed where a detected pattern maps to code.
    """

    def node_types(self, analysis: PRDAnalysis, wanted: Sequence[str]) -> Sequence[str]:
        """Return the node types to build, given the recommended ones."""
        ...

    def refine(self, analysis: PRDAnalysis, spec: NodeSpec) -> NodeSpec:
        """Return ``spec``, or a new validated spec with the detected patterns' code."""
        ...


DEFAULT_MIXINS: dict[str, tuple[str, ...]] = {
    "EFFECT": (
        "MixinRetry",
        "MixinCircuitBreaker",
        "MixinTimeout",
        "MixinMetrics",
        "MixinHealthCheck",
        "MixinLogging",
    ),
    "COMPUTE": ("MixinValidation", "MixinMetrics", "MixinLogging"),
    "REDUCER": ("MixinMetrics", "MixinLogging"),
    "ORCHESTRATOR": ("MixinRetry", "MixinTimeout", "MixinMetrics", "MixinLogging"),
}
"""Mixins each node type gets when no recommender is given."""

_REQUIRED_MIXINS = {"COMPUTE": ("MixinValidation",)}
_MAX_ENTITIES = 12
_MAX_FIELDS = 30
_MAX_HOOKS = 12
_MAX_REQUIREMENTS = 60
_PORTS_BY_SYSTEM = {
    "database": "record_store",
    "data_warehouse": "record_store",
    "cache": "cache",
    "message_broker": "event_publisher",
    "http_api": "http_client",
    "rpc": "http_client",
    "object_storage": "blob_store",
    "email": "notifier",
    "sms": "notifier",
    "search": "search_index",
}
_PORTS_BY_OPERATION = {"publish": "event_publisher", "notify": "notifier", "search": "search_index"}


def _entities(analysis: PRDAnalysis) -> tuple[EntitySpec, ...]:
    specs: list[EntitySpec] = []
    seen: set[str] = set()
    for entity in analysis.entities[:_MAX_ENTITIES]:
        name = pascal_case(entity.name, "Record")
        if name in seen:
            continue
        seen.add(name)
        fields: list[FieldSpec] = []
        field_names: set[str] = set()
        for f in entity.fields:
            fname = snake_case(f.name, "value")
            if fname in ("id", "id_") or fname in field_names or len(fields) >= _MAX_FIELDS:
                continue
            field_names.add(fname)
            alias = f.alias if f.alias and f.alias != fname else None
            fields.append(FieldSpec(name=fname, type=str(f.type.value), required=f.required, alias=alias))
        if not fields:
            fields = [FieldSpec(name="name"), FieldSpec(name="description", required=False)]
        specs.append(EntitySpec(name=name, fields=tuple(fields)))
    if not specs:
        specs.append(
            EntitySpec(
                name=pascal_case(f"{analysis.domain} record", "Record"),
                fields=(FieldSpec(name="name"), FieldSpec(name="description", required=False)),
            )
        )
    return tuple(specs)


def _systems(analysis: PRDAnalysis) -> dict[str, str]:
    """Port kind -> the external system's name as the PRD gives it."""
    ports: dict[str, str] = {}
    for system in analysis.external_systems:
        kind = _PORTS_BY_SYSTEM.get(str(system.kind.value))
        if kind is not None and kind not in ports:
            ports[kind] = system.name
    for op in analysis.operations:
        kind = _PORTS_BY_OPERATION.get(str(op.kind.value))
        if kind is not None and kind not in ports:
            ports[kind] = "unspecified"
    ports.setdefault("record_store", "unspecified database")
    return ports


def required_mixins(node_type: str) -> tuple[str, ...]:
    """Return the mixins a node of ``node_type`` always gets (its template uses them): COMPUTE validates."""
    return _REQUIRED_MIXINS.get(node_type, ())


def _mixins(analysis: PRDAnalysis, node_type: NodeType, recommender: MixinRecommender | None) -> tuple[str, ...]:
    if recommender is None:
        chosen: list[str] = list(DEFAULT_MIXINS[node_type])
    else:
        wanted = required_capabilities(analysis, node_type)
        chosen = [m for m in recommender(node_type, wanted) if m in MIXIN_CATALOGUE]
    chosen += [m for m in _REQUIRED_MIXINS.get(node_type, ()) if m not in chosen]
    return tuple(m for m in dict.fromkeys(chosen) if node_type in MIXIN_CATALOGUE[m].INFO.node_types)


def _requirements(analysis: PRDAnalysis, node_type: NodeType) -> tuple[str, ...]:
    ids = {op.requirement_id for op in analysis.operations if str(op.node_type.value) == node_type}
    texts = [r.text for r in analysis.functional_requirements if r.id in ids]
    return tuple(texts[:_MAX_REQUIREMENTS])


def _effect_operations(entities: Iterable[EntitySpec], searchable: bool) -> tuple[OperationSpec, ...]:
    ops: list[OperationSpec] = []
    for entity in entities:
        e, many = entity.snake, plural(entity.snake)
        kinds = [("create", f"create_{e}"), ("read", f"get_{e}"), ("update", f"update_{e}")]
        kinds += [("delete", f"delete_{e}"), ("list", f"list_{many}")]
        if searchable:
            kinds.append(("search", f"search_{many}"))
        for kind, name in kinds:
            ops.append(
                OperationSpec(name=name, kind=kind, entity=entity.name, description=f"{kind} {entity.name}")
            )
    return tuple(ops)


def _hooks(analysis: PRDAnalysis, taken: set[str]) -> tuple[HookSpec, ...]:
    hooks: list[HookSpec] = []
    for op in analysis.operations:
        if str(op.kind.value) not in ("calculate", "transform") or len(hooks) >= _MAX_HOOKS:
            continue
        words = " ".join(re.findall(r"[A-Za-z0-9]+", op.target or op.entity or "")[:4])
        name = snake_case(f"{op.kind.value} {words}".strip(), "calculate")
        if not is_safe_identifier(name) or name in taken:
            continue
        taken.add(name)
        hooks.append(HookSpec(name=name, description=op.evidence[:300] or f"{op.kind.value} {words}"))
    return tuple(hooks)


def _fsm(analysis: PRDAnalysis) -> FsmSpec:
    machine = analysis.reducer_lifecycle
    return FsmSpec(
        states=machine.states,
        initial=machine.initial,
        terminal=machine.terminal,
        transitions=tuple(
            TransitionSpec(source=t.source, event=t.event, target=t.target) for t in machine.transitions
        ),
    )


def _steps(analysis: PRDAnalysis) -> tuple[StepSpec, ...]:
    steps = analysis.orchestrator_steps
    return tuple(
        StepSpec(
            name=step.name,
            description=step.text[:300] or step.name.replace("_", " "),
            depends_on=(steps[i - 1].name,) if i else (),
        )
        for i, step in enumerate(steps)
    )


def _rule_hooks(rules: Sequence[RuleSpec]) -> tuple[HookSpec, ...]:
    """Return a hook (a method raising NOT_IMPLEMENTED) for each rule the node owns but does not implement."""
    return tuple(HookSpec(name=r.hook_name, description=r.hook_description) for r in rules if not r.implemented)


def build_node_spec(
    analysis: PRDAnalysis,
    node_type: str,
    *,
    domain: str | None = None,
    service_name: str | None = None,
    mixin_recommender: MixinRecommender | None = None,
    service_node_types: Sequence[str] | None = None,
) -> NodeSpec:
    """Return the validated spec of the ``node_type`` node of the service ``analysis`` describes.

    ``service_node_types`` are the service's nodes (default: the recommended ones): the PRD's rules are
    accounted for by its COMPUTE node, else its EFFECT (docs/codegen.md, "Rules in the generated code").
    """
    kind = node_type.upper()
    if kind not in NODE_TYPES:
        raise OnexError(
            f"unknown node type {node_type!r}; use one of {', '.join(NODE_TYPES)}",
            ErrorCode.VALIDATION_ERROR,
            {"node_type": node_type},
        )
    typed: NodeType = kind
    common: dict[str, Any] = {
        "service_name": without_node_type_suffix(pascal_case(service_name))
        if service_name
        else analysis.service_name,
        "domain": snake_case(domain) if domain else analysis.domain,
        "node_type": typed,
        "description": (analysis.description or analysis.title)[:2000],
        "mixins": _mixins(analysis, typed, mixin_recommender),
        "requirements": _requirements(analysis, typed),
    }
    nodes = [str(t).upper() for t in (service_node_types or analysis.recommended_node_types)]
    if kind not in nodes:
        nodes.append(kind)
    try:
        entities, owned_rules = attach_rules(_entities(analysis), analysis.rules, nodes)
        rules = tuple(owned_rules.get(kind, ()))
        common["rules"] = rules
        if kind == "EFFECT":
            systems = _systems(analysis)
            ports = tuple(PortSpec(kind=k, system=v) for k, v in sorted(systems.items()))
            ops = _effect_operations(entities, "search_index" in systems)
            return NodeSpec(entities=entities, operations=ops, ports=ports, hooks=_rule_hooks(rules), **common)
        if kind == "COMPUTE":
            ops_list: list[OperationSpec] = []
            for entity in entities:
                ops_list.append(
                    OperationSpec(name=f"validate_{entity.snake}", kind="validate", entity=entity.name)
                )
                if any(f.type in ("int", "float", "decimal") for f in entity.fields):
                    ops_list.append(
                        OperationSpec(
                            name=f"summarize_{plural(entity.snake)}", kind="aggregate", entity=entity.name
                        )
                    )
            computed = formulas(rules, entities, {o.name for o in ops_list})
            ops_list += [
                OperationSpec(
                    name=f.name, kind="calculate", entity=f.entity.name, description=f.spec.rule.describe()
                )
                for f in computed
            ]
            targets = [set(f.spec.rule.target.split("_")) for f in computed]
            asked = tuple(  # a calculation the PRD asks for that an implemented formula computes is no hook
                h
                for h in _hooks(analysis, {o.name for o in ops_list})
                if not any(t <= set(h.name.split("_")) for t in targets)
            )
            hooks = asked + _rule_hooks(rules)
            return NodeSpec(entities=entities, operations=tuple(ops_list), hooks=hooks, **common)
        if kind == "REDUCER":
            ops = (
                OperationSpec(name="reduce", kind="aggregate", description="apply one event to a state"),
                OperationSpec(name="fold", kind="aggregate", description="apply events in order"),
            )
            return NodeSpec(fsm=_fsm(analysis), operations=ops, **common)
        ops = (OperationSpec(name="run", kind="coordinate", description="run the workflow's steps"),)
        steps, used = plan_steps(analysis, _steps(analysis), entities)
        return NodeSpec(steps=steps, entities=used, operations=ops, **common)
    except ValueError as exc:  # a spec rule the analysis could not satisfy: a bug of ours, said plainly
        raise OnexError(
            f"could not build a valid {kind} spec: {exc}", ErrorCode.INTERNAL_ERROR, {"node_type": kind}
        ) from exc


def build_node_specs(
    analysis: PRDAnalysis,
    node_types: Sequence[str] | None = None,
    *,
    domain: str | None = None,
    service_name: str | None = None,
    mixin_recommender: MixinRecommender | None = None,
    spec_planner: SpecPlanner | None = None,
) -> list[NodeSpec]:
    """Return one spec per node type (default: the analysis's recommended node types), in that order.

    A ``spec_planner`` (pattern detection) may add node types when ``node_types`` is not given, and refines
    every spec.
    """
    wanted = [str(t).upper() for t in (node_types or analysis.recommended_node_types)]
    if spec_planner is not None and not node_types:
        wanted = [str(t).upper() for t in spec_planner.node_types(analysis, wanted)]
    wanted = list(dict.fromkeys(wanted))
    specs = [
        build_node_spec(
            analysis,
            t,
            domain=domain,
            service_name=service_name,
            mixin_recommender=mixin_recommender,
            service_node_types=wanted,
        )
        for t in wanted
    ]
    if spec_planner is not None:
        specs = [spec_planner.refine(analysis, spec) for spec in specs]
    return specs
