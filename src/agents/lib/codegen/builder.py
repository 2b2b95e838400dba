"""From a :class:`~agents.lib.prd_analyzer.PRDAnalysis` to one validated :class:`NodeSpec` per node type.

The rules, per node type:

- EFFECT: every entity of the PRD (or one record entity named after the domain when the PRD names none) with
  create, get, update, delete and list; search when the PRD names a search engine or a search; a port per kind
  of external system (a record store always, named after the database the PRD names).
- COMPUTE: validation of every entity (rules from field types and names: required text non-empty, amounts and
  counts not negative), a numeric summary where an entity has numbers, and a hook (NOT_IMPLEMENTED, listed in the
  contract) for each calculation or transformation the PRD asks for but cannot specify.
- REDUCER: a fold of events into counters and totals, through a state machine: the states and transitions the
  PRD names (``analysis.lifecycle``); else a known sequence of lifecycle states its requirements mention; else
  open -> active -> closed.
- ORCHESTRATOR: a chain of steps: the workflow the PRD lists (``analysis.workflow_steps``, in its order, each
  step depending on the one before); else the PRD's coordination targets, else its decomposed tasks, else a
  default.

Mixins come from ``mixin_recommender`` when given (a callable returning mixin names), else from per-type
defaults; only mixins of the runtime's catalogue can be chosen.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence

from agents.lib.codegen.naming import is_safe_identifier, pascal_case, snake_case, without_node_type_suffix
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
    StepSpec,
    TransitionSpec,
)
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.prd_analyzer import Lifecycle, PRDAnalysis

__all__ = ["DEFAULT_MIXINS", "MixinRecommender", "build_node_spec", "build_node_specs", "plural"]

MixinRecommender = Callable[[NodeType, Sequence[str]], Sequence[str]]
"""``(node_type, required capabilities) -> mixin names``; the seam the mixin learner plugs into."""

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
_CAPABILITIES = {
    "EFFECT": ("retry", "circuit_breaker", "timeout", "metrics", "health_check", "logging"),
    "COMPUTE": ("validation", "metrics", "logging"),
    "REDUCER": ("metrics", "logging"),
    "ORCHESTRATOR": ("retry", "timeout", "metrics", "logging"),
}
_MAX_ENTITIES = 12
_MAX_FIELDS = 30
_MAX_HOOKS = 12
_MAX_STEPS = 8
_MAX_PRD_STEPS = 16
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
_LIFECYCLES: tuple[tuple[str, ...], ...] = (
    ("pending", "approved", "completed"),
    ("pending", "confirmed", "shipped", "delivered"),
    ("draft", "submitted", "approved", "published"),
    ("available", "borrowed", "returned"),
    ("open", "in_progress", "resolved", "closed"),
    ("created", "paid", "fulfilled"),
)
_CANCEL_WORDS = ("cancelled", "canceled", "rejected", "failed", "lost")


def plural(word: str) -> str:
    """Return a naive English plural of a snake_case word (``category`` -> ``categories``)."""
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


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
            fields.append(FieldSpec(name=fname, type=str(f.type.value), required=f.required))
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


def _mixins(node_type: NodeType, recommender: MixinRecommender | None) -> tuple[str, ...]:
    if recommender is None:
        chosen: list[str] = list(DEFAULT_MIXINS[node_type])
    else:
        chosen = [m for m in recommender(node_type, _CAPABILITIES[node_type]) if m in MIXIN_CATALOGUE]
    chosen += [m for m in _REQUIRED_MIXINS.get(node_type, ()) if m not in chosen]
    return tuple(m for m in dict.fromkeys(chosen) if node_type in MIXIN_CATALOGUE[m].APPLIES_TO)


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


def _prd_fsm(lifecycle: Lifecycle) -> FsmSpec | None:
    """Return the state machine of the lifecycle the PRD names; ``None`` if it cannot be a valid one.

    An event is named after the PRD's trigger when the PRD gives one that always leads to the same state, else
    ``to_<target>``; so every state reached by an event refuses that event (the generated tests rely on one
    illegal transition existing).
    """
    events = [
        t.event if t.event and is_safe_identifier(t.event) else f"to_{t.target}" for t in lifecycle.transitions
    ]
    targets: dict[str, set[str]] = {}
    for event, t in zip(events, lifecycle.transitions, strict=True):
        targets.setdefault(event, set()).add(t.target)
    named = all(len(v) == 1 for v in targets.values())
    transitions: list[TransitionSpec] = []
    seen: set[tuple[str, str]] = set()
    for event, t in zip(events, lifecycle.transitions, strict=True):
        if t.source == t.target or (t.source, t.target) in seen:
            continue
        seen.add((t.source, t.target))
        name = event if named else f"to_{t.target}"
        transitions.append(TransitionSpec(source=t.source, event=name, target=t.target))
    try:
        return FsmSpec(
            states=lifecycle.states,
            initial=lifecycle.initial,
            terminal=lifecycle.terminal,
            transitions=tuple(transitions),
        )
    except ValueError:
        return None


def _lifecycle(analysis: PRDAnalysis) -> FsmSpec:
    if analysis.lifecycle is not None:
        fsm = _prd_fsm(analysis.lifecycle)
        if fsm is not None and any(t.source == fsm.initial for t in fsm.transitions):
            return fsm
    text = " ".join(
        [analysis.description, *(r.text for r in analysis.functional_requirements), *analysis.features]
    ).lower()
    words = set(re.findall(r"[a-z_]+", text.replace("in progress", "in_progress")))
    for states in _LIFECYCLES:
        if sum(s in words for s in states) >= len(states) - 1 and len(states) >= 3:
            transitions = [
                TransitionSpec(source=a, event=f"to_{b}", target=b) for a, b in itertools.pairwise(states)
            ]
            all_states = list(states)
            cancel = next((w for w in _CANCEL_WORDS if w in words), None)
            if cancel is not None:
                all_states.append(cancel)
                transitions += [TransitionSpec(source=s, event=f"to_{cancel}", target=cancel) for s in states[:-1]]
            return FsmSpec(
                states=tuple(all_states),
                initial=states[0],
                terminal=tuple(s for s in (states[-1], cancel) if s is not None),
                transitions=tuple(transitions),
            )
    return FsmSpec(
        states=("open", "active", "closed"),
        initial="open",
        terminal=("closed",),
        transitions=(
            TransitionSpec(source="open", event="record", target="active"),
            TransitionSpec(source="active", event="record", target="active"),
            TransitionSpec(source="active", event="adjust", target="active"),
            TransitionSpec(source="active", event="close", target="closed"),
            TransitionSpec(source="open", event="close", target="closed"),
        ),
    )


def _chain(names: Sequence[str], descriptions: dict[str, str]) -> tuple[StepSpec, ...]:
    return tuple(
        StepSpec(
            name=name,
            description=descriptions.get(name) or name.replace("_", " "),
            depends_on=(names[i - 1],) if i else (),
        )
        for i, name in enumerate(names)
    )


def _steps(analysis: PRDAnalysis, node_types: Sequence[str]) -> tuple[StepSpec, ...]:
    listed = [s for s in analysis.workflow_steps if is_safe_identifier(s.name)]
    prd_names = list(dict.fromkeys(s.name for s in listed))[:_MAX_PRD_STEPS]
    if len(prd_names) >= 2:
        return _chain(prd_names, {s.name: s.text[:300] for s in listed})
    names: list[str] = []
    for op in analysis.operations:
        if str(op.node_type.value) == "ORCHESTRATOR" and op.target:
            names.append(snake_case(" ".join(re.findall(r"[A-Za-z0-9]+", op.target)[:3]), "step"))
    if len(set(names)) < 2:
        names = [
            snake_case(" ".join(re.findall(r"[A-Za-z0-9]+", t.title)[:3]), "step")
            for t in analysis.decomposed_tasks
            if str(t.node_type.value) != "ORCHESTRATOR"
        ]
    if len(set(names)) < 2:
        names = ["validate_request"] if "COMPUTE" in node_types else []
        names += ["execute"]
        names += ["record_outcome"] if "EFFECT" in node_types else ["report"]
        names += ["update_statistics"] if "REDUCER" in node_types else []
    unique = [n for n in dict.fromkeys(names) if is_safe_identifier(n)][:_MAX_STEPS]
    return _chain(unique, {})


def build_node_spec(
    analysis: PRDAnalysis,
    node_type: str,
    *,
    domain: str | None = None,
    service_name: str | None = None,
    mixin_recommender: MixinRecommender | None = None,
    node_types: Sequence[str] | None = None,
) -> NodeSpec:
    """Return the validated spec of the ``node_type`` node of the service ``analysis`` describes."""
    kind = node_type.upper()
    if kind not in NODE_TYPES:
        raise OnexError(
            f"unknown node type {node_type!r}; use one of {', '.join(NODE_TYPES)}",
            ErrorCode.VALIDATION_ERROR,
            {"node_type": node_type},
        )
    typed: NodeType = kind
    present = [str(t) for t in (node_types or analysis.recommended_node_types)]
    common = {
        "service_name": without_node_type_suffix(pascal_case(service_name))
        if service_name
        else analysis.service_name,
        "domain": snake_case(domain) if domain else analysis.domain,
        "node_type": typed,
        "description": (analysis.description or analysis.title)[:2000],
        "mixins": _mixins(typed, mixin_recommender),
        "requirements": _requirements(analysis, typed),
    }
    try:
        if kind == "EFFECT":
            entities = _entities(analysis)
            systems = _systems(analysis)
            ports = tuple(PortSpec(kind=k, system=v) for k, v in sorted(systems.items()))
            ops = _effect_operations(entities, "search_index" in systems)
            return NodeSpec(entities=entities, operations=ops, ports=ports, **common)
        if kind == "COMPUTE":
            entities = _entities(analysis)
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
            hooks = _hooks(analysis, {o.name for o in ops_list})
            return NodeSpec(entities=entities, operations=tuple(ops_list), hooks=hooks, **common)
        if kind == "REDUCER":
            ops = (
                OperationSpec(name="reduce", kind="aggregate", description="apply one event to a state"),
                OperationSpec(name="fold", kind="aggregate", description="apply events in order"),
            )
            return NodeSpec(fsm=_lifecycle(analysis), operations=ops, **common)
        ops = (OperationSpec(name="run", kind="coordinate", description="run the workflow's steps"),)
        return NodeSpec(steps=_steps(analysis, present), operations=ops, **common)
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
) -> list[NodeSpec]:
    """Return one spec per node type (default: the analysis's recommended node types), in that order."""
    wanted = [str(t).upper() for t in (node_types or analysis.recommended_node_types)]
    wanted = list(dict.fromkeys(wanted))
    return [
        build_node_spec(
            analysis,
            t,
            domain=domain,
            service_name=service_name,
            mixin_recommender=mixin_recommender,
            node_types=wanted,
        )
        for t in wanted
    ]
