"""The render context: what the templates of one node see, computed from its :class:`NodeSpec`.

Names come from the spec (checked identifiers); sample values and literals are built with
:func:`~agents.lib.codegen.engine.pyrepr`, never by pasting text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from graphlib import TopologicalSorter
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from agents.lib.codegen import rules
from agents.lib.codegen.engine import pyrepr
from agents.lib.codegen.rule_code import evaluate, items_parameter, literal
from agents.lib.codegen.rule_samples import (
    FIXED_NOW,
    boundary_cases,
    candidates,
    default_value,
    rule_holds,
    solve_samples,
    to_json,
)
from agents.lib.codegen.spec import EntitySpec, FieldSpec, NodeSpec, OperationSpec
from agents.lib.naming import upper_snake_case

__all__ = ["ADAPTERS", "entity_context", "member_name", "node_context"]

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
_NUMERIC = {"int", "float", "decimal"}


def _field_ctx(f: FieldSpec, value: Any = None, other_value: Any = None) -> dict[str, Any]:
    """Return what templates see of a field; ``value`` and ``other_value`` replace its default samples."""
    annotation = _PY_TYPES[f.type]
    constraints: list[str] = []
    non_negative = rules.non_negative(f)
    if f.type == "str" and f.required:
        constraints.append("min_length=1")
    if non_negative:
        constraints.append("ge=0")
    # validation_alias + serialization_alias, not alias=: type checkers then keep the Python name in __init__
    aliases = [f"validation_alias={pyrepr(f.alias)}", f"serialization_alias={pyrepr(f.alias)}"] if f.alias else []
    if f.required:
        arguments = [*constraints, *aliases]
        default = f" = Field({', '.join(arguments)})" if arguments else ""
        full = annotation
    else:
        full = f"{annotation} | None"
        arguments = ["default=None", *constraints, *aliases]
        default = f" = Field({', '.join(arguments)})" if len(arguments) > 1 else " = None"
    update_default = f" = Field({', '.join(['default=None', *aliases])})" if aliases else " = None"
    if f.type == "str":
        sample, other, json_value = repr(f"{f.name}-a"), repr(f"{f.name}-b"), f"{f.name}-a"
    else:
        sample, other, json_value = _SAMPLES[f.type]
    other_json = {"str": f"{f.name}-b", "int": 2, "float": 2.5, "bool": False}.get(f.type)
    if value is not None:
        sample, json_value = literal(value), to_json(value)
    if other_value is not None:
        other = literal(other_value)
        other_json = to_json(other_value) if f.type in ("str", "int", "float", "bool") else None
    return {
        "name": f.name,
        "wire": f.wire_name,
        "type": f.type,
        "annotation": full,
        "optional_annotation": f"{annotation} | None",
        "default": default,
        "update_default": update_default,
        "sample": sample,
        "other_sample": other,
        "json": json_value,
        "other_json": pyrepr(other_json),
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


def _ops_by_entity(operations: Iterable[OperationSpec], entity: EntitySpec) -> SimpleNamespace:
    """Operation names by kind; a namespace, because Jinja would read ``ops.update`` as ``dict.update``."""
    ops: dict[str, str | None] = dict.fromkeys(
        ("create", "read", "update", "delete", "list", "search", "validate", "aggregate"), None
    )
    for op in operations:
        if op.entity == entity.name and op.kind in ops:
            ops[op.kind] = op.name
    ops["summarize"] = ops["aggregate"]
    return SimpleNamespace(**ops)


def _rule_tests(entity: EntitySpec, solved: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the boundary cases of each rule the entity's model checks: subject, values, verdicts."""
    types = {f.name: f.type for f in entity.fields}
    fields = {f.name: f for f in entity.fields}
    checks = [s.rule for s in entity.rules]
    tests = []
    for spec in entity.rules:
        cases = boundary_cases(spec, solved, types, checks, rules.base_ok(fields))
        if not any(accepted for _, accepted in cases) or all(accepted for _, accepted in cases):
            continue  # a test must see the rule accept and refuse
        subject = fields[spec.rule.fields[0]]
        tests.append(
            {
                "id": spec.id,
                "name": f"test_rule_{spec.hook_name[5:8]}_{entity.snake}_{subject.name}",
                "kind": spec.kind,
                "wire": pyrepr(subject.wire_name),
                "field": subject.name,
                "cases": pyrepr([(to_json(v), accepted) for v, accepted in cases]),
            }
        )
    return tests


def _rule_samples(entity: EntitySpec) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return the samples the entity's rules changed, a second valid value of each, and the whole valid record."""
    if not entity.rules:
        return {}, {}, {}
    types = {f.name: f.type for f in entity.fields}
    fields = {f.name: f for f in entity.fields}
    accepts = rules.base_ok(fields)
    solved, _ = solve_samples(types, entity.rules, accepts)
    changed = {n: v for n, v in solved.items() if v != default_value(n, types[n])}
    checks = [s.rule for s in entity.rules]
    others: dict[str, Any] = {}
    ruled = list(
        dict.fromkeys(
            n for r in checks for n in (*r.fields, *(r.expression.field_names() if r.expression else ()))
        )
    )
    for name in ruled:
        defaults = {"str": f"{name}-b", "int": 2, "float": 2.5}
        options = [defaults.get(types[name])]
        options += [c for r in checks if r.fields[0] == name for c in candidates(r, types[name], solved)]
        for option in options:
            if option is None or option == solved[name] or not accepts(name, option):
                continue
            if all(rule_holds(r, {**solved, name: option}, types) for r in checks):
                others[name] = option
                break
    return changed, others, solved


def entity_context(entity: EntitySpec, operations: Iterable[OperationSpec] = ()) -> dict[str, Any]:
    """Return what templates see of ``entity``: its fields, sample payloads, and ``operations`` on it by kind."""
    values, others, solved = _rule_samples(entity)
    fields = [_field_ctx(f, values.get(f.name), others.get(f.name)) for f in entity.fields]
    ruled = {
        n
        for s in entity.rules
        for n in (*s.rule.fields, *(s.rule.expression.field_names() if s.rule.expression else ()))
    }
    updatable = [f for f in fields if f["name"] not in ruled or f["name"] in others]
    update_field = next((f for f in updatable if f["type"] == "str"), None) or next(
        (f for f in updatable if f["type"] in ("int", "float", "bool")), None
    )
    numeric = [f["name"] for f in fields if f["type"] in _NUMERIC]
    snake = entity.snake
    valid_payload: dict[str, Any] = {"id": f"{snake}-1"}
    for f in fields:
        valid_payload[f["wire"]] = f["json"]
    valid = pyrepr(valid_payload)  # a valid payload dumps to itself (by alias: the wire names)
    invalid_payload: dict[str, Any] = {"id": ""}
    invalid_fields = ["id"]
    for f in fields:
        if f["type"] == "str" and f["required"]:
            invalid_payload[f["wire"]] = ""
            invalid_fields.append(f["wire"])
        elif f["non_negative"]:
            invalid_payload[f["wire"]] = -1
            invalid_fields.append(f["wire"])
        elif f["required"]:
            invalid_fields.append(f["wire"])
    summary = {}
    for f in fields:
        if f["type"] in _NUMERIC:
            value = float(f["json"])
            summary[f["name"]] = {"count": 2.0, "total": value * 2, "minimum": value, "maximum": value}
    return {
        "name": entity.name,
        "snake": snake,
        "plural": entity.plural,
        "fields": fields,
        "has_alias": any(f.alias for f in entity.fields),
        "imports": _model_imports(f.type for f in entity.fields),
        "valid_json": valid_payload,
        "id": f"{snake}-1",
        "ops": _ops_by_entity(operations, entity),
        "update_field": update_field,
        "numeric_fields": numeric,
        "valid_payload": valid,
        "valid_dump": valid,
        "invalid_payload": pyrepr(invalid_payload),
        "invalid_fields": pyrepr(sorted(invalid_fields)),
        "summary_expected": pyrepr(summary),
        "rules": rules.rules_context(entity) | {"tests": _rule_tests(entity, solved) if entity.rules else []},
    }


ADAPTERS: dict[str, str] = {
    "record_store": "InMemoryRecordStore",
    "cache": "InMemoryCache",
    "event_publisher": "InMemoryEventPublisher",
    "http_client": "InMemoryHttpClient",
    "blob_store": "InMemoryBlobStore",
    "notifier": "InMemoryNotifier",
    "search_index": "InMemorySearchIndex",
}


@functools.lru_cache(maxsize=4096)
def member_name(name: str) -> str:
    """Return the enum member of a state, event or step: its snake_case name upper-cased, never re-split.

    Names from the spec are already snake_case identifiers (``e2e_tests``), so they are only upper-cased
    (``E2E_TESTS``); anything else goes through the naming rules.
    """
    return name.upper() if _SNAKE_NAME.fullmatch(name) else upper_snake_case(name)


_SNAKE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _reducer_ctx(spec: NodeSpec) -> dict[str, Any]:
    fsm = spec.fsm
    assert fsm is not None  # checked by NodeSpec
    member = {s: member_name(s) for s in fsm.states}
    event_member = {e: member_name(e) for e in fsm.events}
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


_COLLABORATORS = {"validate": ("COMPUTE", "compute", "ComputeNode"), "create": ("EFFECT", "effect", "EffectNode")}


def _default_attempts(spec: NodeSpec) -> int:
    """Return the attempts of a step whose PRD states no retry policy: MixinRetry's three, else one."""
    return 3 if "MixinRetry" in spec.mixins else 1


def _orchestrator_ctx(spec: NodeSpec, entities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    graph = {s.name: list(s.depends_on) for s in spec.steps}
    order = list(TopologicalSorter(graph).static_order())
    member = {s.name: member_name(s.name) for s in spec.steps}
    fail_index = len(order) // 2
    steps: list[dict[str, Any]] = []
    validated: dict[str, str] = {}
    calls: dict[str, list[dict[str, str]]] = {"validate": [], "create": []}
    for name in order:
        s = next(step for step in spec.steps if step.name == name)
        entity = entities[s.entity] if s.entity is not None else None
        operation = f"{s.action}_{entity['snake']}" if entity is not None else None
        if entity is not None and operation is not None:
            calls[s.action].append({"operation": operation, "entity": entity["name"]})
            if s.action == "validate":
                validated.setdefault(entity["name"], s.name)
        steps.append(
            {
                "member": member[s.name],
                "value": s.name,
                "method": f"step_{s.name}",
                "action": s.action,
                "entity": entity,
                "operation": operation,
                "source_step": validated.get(entity["name"])
                if entity is not None and s.action == "create"
                else None,
                "description": s.description,
                "depends_members": [member[d] for d in s.depends_on],
                "depends_values": list(s.depends_on),
                "inputs_before": pyrepr(sorted(order[: order.index(s.name)])),
                "attempts": s.attempts if s.attempts is not None else _default_attempts(spec),
                "backoff": s.backoff_seconds,
                "timeout": s.timeout_seconds,
            }
        )
    retry = max(steps, key=lambda st: st["attempts"])  # the first of the most retried steps
    pauses = [min(retry["backoff"] * 2 ** (i - 1), 30.0) for i in range(1, retry["attempts"])]
    collaborators = []
    for action, (node_type, attribute, protocol) in _COLLABORATORS.items():
        if calls[action]:
            collaborators.append(
                {
                    "node_type": node_type,
                    "attribute": attribute,
                    "protocol": protocol,
                    "calls": list({c["operation"]: c for c in calls[action]}.values()),
                    "expected_calls": pyrepr([c["operation"] for c in calls[action]]),
                }
            )
    used = [entities[name] for name in dict.fromkeys(s.entity for s in spec.steps if s.entity is not None)]
    return {
        "step_enum": f"Enum{spec.service_name}Step",
        "steps": steps,
        "order": pyrepr(order),
        "first_step": order[0],
        "fail_step": order[fail_index],
        "before_fail": pyrepr(order[:fail_index]),
        "from_fail": pyrepr(order[fail_index:]),
        "fail_progress": pyrepr(100.0 * fail_index / len(order)),
        "retry_step": {"value": retry["value"], "attempts": retry["attempts"], "pauses": pyrepr(pauses)},
        "policy_table": pyrepr({st["value"]: (st["attempts"], st["backoff"], st["timeout"]) for st in steps}),
        "mapped_steps": pyrepr(sorted(st["value"] for st in steps if st["action"] != "hook")),
        "collaborators": collaborators,
        "create_step": next((st for st in steps if st["action"] == "create"), None),
        "run_payload": pyrepr({e["snake"]: e["valid_json"] for e in used}),
        "extra_enums": [
            {
                "name": f"Enum{spec.service_name}Step",
                "doc": "The steps of the workflow.",
                "members": [(member[s.name], s.name) for s in spec.steps],
            }
        ],
    }


_VARIED = [Decimal(t) for t in ("0.50", "1", "2.50", "10", "100", "1000", "10000")]
_INPUT = Decimal("3")


def _sample_values(entity: EntitySpec) -> dict[str, Any]:
    """Return the native values of the entity's valid sample record."""
    solved = _rule_samples(entity)[2]
    return {f.name: solved.get(f.name, default_value(f.name, f.type)) for f in entity.fields}


def _formula_cases(formula: rules.Formula, entities: dict[str, EntitySpec]) -> list[tuple[dict[str, Any], Any]]:
    """Return ``(changes to the sample record, expected result)`` cases of a formula.

    The sample itself, and one record where each side of a top ``min``/``max`` wins (the floor or cap case).
    """
    rule = formula.spec.rule
    assert rule.expression is not None
    entity = formula.entity
    fields = {f.name: f for f in entity.fields}
    types = {f.name: f.type for f in entity.fields}
    base = _sample_values(entity)
    items: dict[str, list[Callable[[str], Any]]] = {e: [_sample_values(entities[e]).get] * 2 for e in formula.sums}
    inputs = dict.fromkeys(formula.inputs, _INPUT)

    def result(values: dict[str, Any], expr: Any = rule.expression) -> Any:
        return evaluate(expr, values.get, inputs, items, clock=FIXED_NOW)

    cases: list[tuple[dict[str, Any], Any]] = []
    expected = result(base)
    if expected is not None:
        cases.append(({}, expected))
    top = rule.expression
    numeric = [n for n in rule.fields if types.get(n) in _NUMERIC]
    if top.op in ("min", "max") and numeric:
        name = numeric[0]
        checks = [s.rule for s in entity.rules]
        accepts = rules.base_ok(fields)
        winners: set[int] = set()
        for number in _VARIED:
            value = int(number) if types[name] == "int" else float(number) if types[name] == "float" else number
            if types[name] == "int" and number != number.to_integral_value():
                continue
            record = {**base, name: value}
            if not accepts(name, value) or not all(rule_holds(r, record, types) for r in checks):
                continue
            total = result(record)
            sides = [result(record, arg) for arg in top.args]
            if total is None or sides.count(total) != 1:
                continue  # a tie says nothing about which side decides
            winner = sides.index(total)
            if winner not in winners:
                winners.add(winner)
                cases.append(({fields[name].wire_name: to_json(value)}, total))
    return cases


def _formulas_ctx(spec: NodeSpec, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    taken = {o.name for o in spec.operations if o.kind != "calculate"}
    found = rules.formulas(spec.rules, spec.entities, taken)
    validate = {e["name"]: e["ops"].validate for e in entities if e["ops"].validate}
    by_name = {e.name: e for e in spec.entities}
    out = []
    for formula in found:
        args = ", ".join(
            [f"{n}={literal(_INPUT)}" for n in formula.inputs]
            + [
                f"{items_parameter(e)}=[{e}.model_validate(VALID_{by_name[e].snake.upper()})] * 2"
                for e in formula.sums
            ]
        )
        out.append(
            {
                "name": formula.name,
                "member": member_name(formula.name),
                "source": formula.source,
                "dispatch": rules.formula_dispatch(formula, validate),
                "id": formula.spec.id,
                "entity": formula.entity.name,
                "snake": formula.entity.snake,
                "args": f", {args}" if args else "",
                "cases": [
                    (pyrepr(changes), literal(expected)) for changes, expected in _formula_cases(formula, by_name)
                ],
            }
        )
    return out


def _variant(name: str, ftype: str, base: Any, k: int) -> list[Any]:
    """Values of a field that differ from ``base`` (the k-th), to try for records that must differ."""
    if ftype == "str":
        stem = base[:-1]
        same_size = []
        for alphabet in ("0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
            others = [stem + c for c in alphabet if stem + c != base]
            same_size.append(others[(k - 1) % len(others)])
        return [f"{k}{base}", f"{base}{k}", f"{base}-{k}", *same_size]
    if ftype == "uuid":
        return [UUID(int=100 + k)]
    if ftype in ("int", "decimal"):
        return [base + k]
    if ftype == "float":
        return [base + float(k)]
    if ftype in ("date", "datetime"):
        return [base + timedelta(days=k)]
    return []


def _vary(entity: EntitySpec, names: list[str], k: int) -> dict[str, Any] | None:
    """Return the sample record's ``names`` changed to their k-th variant (valid for every rule), or None."""
    if k == 0 or not names:
        return {}
    types = {f.name: f.type for f in entity.fields}
    accepts = rules.base_ok({f.name: f for f in entity.fields})
    values = _sample_values(entity)
    changes: dict[str, Any] = {}
    for name in names:
        option = next(
            (
                v
                for v in _variant(name, types[name], values[name], k)
                if accepts(name, v)
                and all(rule_holds(r.rule, {**values, **changes, name: v}, types) for r in entity.rules)
            ),
            None,
        )
        if option is None:
            return None
        changes[name] = option
    return changes


def _store_ctx(spec: NodeSpec, entity: EntitySpec) -> dict[str, Any]:
    """Return what the EFFECT templates need for the entity's unique and quota rules."""
    own = [r for r in spec.rules if r.implemented and r.kind in rules.STORE_KINDS and r.rule.entity == entity.name]
    uniques = [r.rule for r in own if r.kind == "unique"]
    spread = list(dict.fromkeys(r.fields[0] for r in uniques))
    small = [
        r.rule
        for r in own
        if r.kind == "quota" and r.rule.values[0].number is not None and r.rule.values[0].number < 4
    ]
    listed = list(dict.fromkeys([*spread, *(r.scope[0] for r in small)]))
    wire = {f.name: f.wire_name for f in entity.fields}

    def as_json(changes: dict[str, Any]) -> str:
        return pyrepr({wire[n]: to_json(v) for n, v in changes.items()})

    variants = [_vary(entity, listed, k) for k in range(3)]
    tests: list[dict[str, Any]] = []
    for r in own:
        rule = r.rule
        if r.kind == "unique":
            other = _vary(entity, listed, 1)
            if other is not None:
                tests.append({"id": r.id, "kind": "unique", "other": as_json(other), "count": 1})
            continue
        limit = rule.values[0].number
        assert limit is not None
        count = int(limit) if rule.operator is not None and rule.operator.value == "le" else int(limit) - 1
        if set(spread) & set(rule.scope) or count > 200:
            continue
        records = [_vary(entity, spread, k) for k in range(count + 1)]
        if all(c is not None for c in records):
            tests.append(
                {"id": r.id, "kind": "quota", "records": [as_json(c or {}) for c in records], "count": count}
            )
    return {
        "checks": rules.store_checks(entity, own),
        "apart": all(v is not None for v in variants),
        "variants": [
            pyrepr({}) if v is None else "{" + ", ".join(f"{n!r}: {literal(x)}" for n, x in v.items()) + "}"
            for v in variants
        ],
        "tests": tests,
    }


def node_context(spec: NodeSpec) -> dict[str, Any]:
    """Return the context the templates of the node ``spec`` describes are rendered with."""
    t = spec.node_type
    operation_enum = f"Enum{spec.service_name}{spec.type_title}Operation"
    entities = [entity_context(e, spec.operations) for e in spec.entities]
    field_types: set[str] = {f.type for e in spec.entities for f in e.fields}
    ctx: dict[str, Any] = {
        "is_effect": t == "EFFECT",
        "is_reducer": t == "REDUCER",
        "operation_enum": operation_enum,
        "request_model": f"{spec.service_name}{spec.type_title}Request",
        "response_model": f"{spec.service_name}{spec.type_title}Response",
        "entities": entities,
        "operations": [
            {"name": n, "member": member_name(n)}
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
        ctx.update(_orchestrator_ctx(spec, {e["name"]: e for e in entities}))
    ctx["formulas"] = _formulas_ctx(spec, entities) if t == "COMPUTE" else []
    for entity_spec, entity in zip(spec.entities, entities, strict=True):
        entity["store"] = (
            _store_ctx(spec, entity_spec)
            if t == "EFFECT"
            else {"checks": [], "variants": [], "tests": [], "apart": True}
        )
    ports = {p.kind for p in spec.ports}
    ctx.update(
        {
            "port_keys": sorted(p.key for p in spec.ports),
            "port_names": sorted({p.key for p in spec.ports} | {ADAPTERS[p.kind] for p in spec.ports}),
            "adapter_classes": ADAPTERS,
            "has_events": "event_publisher" in ports,
            "has_cache": "cache" in ports,
            "has_search": "search_index" in ports,
            "has_notifier": "notifier" in ports,
            "has_http": "http_client" in ports,
            "has_blob": "blob_store" in ports,
            "has_breakers": t == "EFFECT" and "MixinCircuitBreaker" in spec.mixins,
            "other_port": next((k for k in ("notifier", "blob_store", "http_client") if k in ports), None),
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
    exports = [e["name"] for e in entities] + [f"{e['name']}Update" for e in entities if t == "EFFECT"]
    exports += [ctx["request_model"], ctx["response_model"]]
    if t == "REDUCER":
        exports += [ctx["event_model"], ctx["state_model"]]
    ctx["model_exports"] = sorted(exports)
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
        names = sorted({p.key for p in spec.ports} | {ADAPTERS[p.kind] for p in spec.ports})
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
        lines.append("from onex_runtime.workflow import StepContext, StepPolicy")
        lines.append(f"from {pkg}.node import POLICIES")
        if ctx["entities"]:
            lines.append(f"from {pkg}.models import {', '.join(e['name'] for e in ctx['entities'])}")
    return lines
