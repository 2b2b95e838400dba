"""The PRD's rules in the generated code: which node implements each, and the validators of the shared models.

:func:`plan_rules` decides each rule's fate (docs/codegen.md, "Rules in the generated code"): a codeable
range, length, enum, format or comparison becomes a validator of its entity in the shared models package
(owned, for the counts, by the COMPUTE node, else the EFFECT); every other rule, and a codeable one the
generator cannot write, is a hook of that node with its reason. :func:`model_validators` renders an entity's
validators; only identifiers of the spec and literals (:func:`~agents.lib.codegen.rule_code.literal`) go in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.lib.codegen.rule_code import TIME_UNITS, ExprEnv, Unsupported, items_parameter, literal, render_expr
from agents.lib.codegen.rule_samples import bounds_of, enum_values, solve_samples
from agents.lib.codegen.rule_spec import MODEL_KINDS, RuleSpec
from agents.lib.codegen.spec import EntitySpec, FieldSpec
from agents.lib.prd_analyzer import Rule

__all__ = [
    "STORE_KINDS",
    "Formula",
    "RulePlan",
    "attach_rules",
    "base_ok",
    "check_model_rule",
    "formula_dispatch",
    "formula_problem",
    "formulas",
    "model_validators",
    "non_negative",
    "plan_rules",
    "rule_owner",
    "rules_context",
    "store_checks",
    "store_problem",
]

_NUMBERS = {"int", "float", "decimal"}
_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
STORE_KINDS = frozenset({"unique", "quota"})
"""The kinds the EFFECT node checks against the stored records when it creates or updates one."""
_NON_NEGATIVE = re.compile(
    r"(^|_)(price|amount|quantity|qty|count|total|fee|fees|cost|age|stock|copies|size|duration|weight|"
    r"capacity|limit|rate|score|points|seats|pages|minutes|hours|days)s?($|_)"
)


def non_negative(f: FieldSpec) -> bool:
    """Whether the models keep the number field ``f`` at zero or more (its name says amount, count...)."""
    return f.type in _NUMBERS and bool(_NON_NEGATIVE.search(f.name))


def base_ok(fields: Mapping[str, FieldSpec]) -> Callable[[str, Any], bool]:
    """Return what the models check of a value besides the rules: required text not empty, amounts not negative."""

    def accepts(name: str, value: Any) -> bool:
        f = fields[name]
        if f.type == "str" and f.required and not (isinstance(value, str) and value):
            return False
        return not (non_negative(f) and isinstance(value, int | float | Decimal) and value < 0)

    return accepts


_COMPARABLE = {"number": _NUMBERS, "date": {"date", "datetime"}, "datetime": {"date", "datetime"}}


def rule_owner(node_types: Iterable[str]) -> str | None:
    """Return the node that owns (implements or hooks) the rules the shared models check: COMPUTE, else EFFECT."""
    present = set(node_types)
    return next((t for t in ("COMPUTE", "EFFECT") if t in present), None)


def check_model_rule(rule: Rule, fields: Mapping[str, FieldSpec]) -> str:
    """Return why the shared models cannot check ``rule`` ("" when they can)."""
    if not rule.fields or rule.fields[0] not in fields:
        return f"the field {rule.fields[0] if rule.fields else '?'} is not in the generated entity"
    ftype = fields[rule.fields[0]].type
    kind = rule.kind.value
    op = rule.operator.value if rule.operator is not None else None
    numbers = [v.number for v in rule.values]
    if kind in ("range", "length") and (op is None or not numbers or None in numbers):
        return "its bound is not a number"
    if kind == "range":
        if ftype == "datetime" and op == "multiple_of":
            return "" if all(v.unit in ("seconds", "minutes", "hours") for v in rule.values) else "unit"
        if ftype not in _NUMBERS:
            return f"a range on a {ftype} field is not one the generator writes"
        if op in ("in", "not_in"):
            return "a range with a list is not one the generator writes"
    if kind == "length" and ftype != "str":
        return f"a length on a {ftype} field"
    if kind == "enum" and (ftype not in {"str", *_NUMBERS} or not enum_values(rule, ftype)):
        return f"an enumeration on a {ftype} field"
    if kind == "enum" and ftype in _NUMBERS and len(enum_values(rule, ftype)) != len(rule.values):
        return "an enumeration of a number field with words"
    if kind == "format" and (ftype != "str" or rule.format is None):
        return f"a format on a {ftype} field"
    if kind == "comparison":
        return _comparison_problem(rule, fields)
    return ""


def _comparison_problem(rule: Rule, fields: Mapping[str, FieldSpec]) -> str:
    if (
        rule.expression is None
        or rule.operator is None
        or rule.operator.value not in ("eq", "ne", "lt", "le", "gt", "ge")
    ):
        return "the comparison has no other side"
    env = ExprEnv(fields={n: f.type for n, f in fields.items()})
    try:
        _, kind = render_expr(rule.expression, env)
    except Unsupported as exc:
        return str(exc)
    if env.inputs or env.sums:
        return "its other side reads values that are not fields of the record"
    if fields[rule.fields[0]].type not in _COMPARABLE.get(kind, set()):
        return f"a {fields[rule.fields[0]].type} field is not compared with a {kind}"
    return ""


@dataclass
class RulePlan:
    """Each rule's fate: ``entity_rules`` the shared models check, ``owned`` by node type (implemented or not)."""

    entity_rules: dict[str, list[RuleSpec]] = field(default_factory=dict)
    owned: dict[str, list[RuleSpec]] = field(default_factory=dict)


def plan_rules(rules: Sequence[Rule], entities: Iterable[EntitySpec], node_types: Iterable[str]) -> RulePlan:
    """Return where each of the PRD's ``rules`` goes, for a service of ``node_types`` with ``entities``."""
    by_name = {e.name: e for e in entities}
    present = set(node_types)
    owner = rule_owner(present)
    plan = RulePlan()
    if owner is None:
        return plan
    for rule in rules:
        stored = rule.kind.value in STORE_KINDS and "EFFECT" in present
        spec = _fate(rule, by_name, "EFFECT" if stored else owner)
        plan.owned.setdefault("EFFECT" if stored else owner, []).append(spec)
        if spec.implemented and spec.is_model_rule and rule.entity is not None:
            plan.entity_rules.setdefault(rule.entity, []).append(spec)
    return plan


def _fate(rule: Rule, entities: Mapping[str, EntitySpec], owner: str) -> RuleSpec:
    if not rule.codeable:
        return RuleSpec(rule=rule, implemented=False, reason=rule.reason or "the PRD does not say enough")
    if rule.kind.value == "formula":
        problem = formula_problem(rule, entities) if owner == "COMPUTE" else "the service has no COMPUTE node"
        return RuleSpec(rule=rule, implemented=not problem, reason=problem)
    if rule.kind.value in STORE_KINDS:
        problem = store_problem(rule, entities) if owner == "EFFECT" else "the service has no EFFECT node"
        return RuleSpec(rule=rule, implemented=not problem, reason=problem)
    if rule.kind.value not in MODEL_KINDS:
        return RuleSpec(
            rule=rule, implemented=False, reason=f"the generator does not write {rule.kind.value} rules yet"
        )
    entity = entities.get(rule.entity or "")
    if entity is None:
        return RuleSpec(rule=rule, implemented=False, reason=f"{rule.entity} is not an entity of the service")
    problem = check_model_rule(rule, {f.name: f for f in entity.fields})
    return RuleSpec(rule=rule, implemented=not problem, reason=problem)


# --- rendering ----------------------------------------------------------------------------------------------


def _tuple(items: Iterable[str]) -> str:
    parts = list(items)
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


def _field_check(rule: Rule, ftype: str) -> str:
    kind = rule.kind.value
    op = rule.operator.value if rule.operator is not None else None
    bounds = _tuple(literal(b) for b in bounds_of(rule, ftype)) if rule.values and kind != "enum" else "()"
    if kind == "range":
        return f"rules.check_range(value, {op!r}, {bounds}, {rule.id!r})"
    if kind == "length":
        unit = "words" if any(v.unit == "words" for v in rule.values) else "characters"
        return f"rules.check_length(value, {op!r}, {bounds}, {unit!r}, {rule.id!r})"
    if kind == "enum":
        allowed = _tuple(literal(v) for v in enum_values(rule, ftype))
        return f"rules.check_enum(value, {allowed}, {rule.id!r})"
    assert kind == "format"
    assert rule.format is not None
    return f"rules.check_format(value, {rule.format.value!r}, {op!r}, {bounds}, {rule.id!r})"


def _method_name(rule: Rule) -> str:
    digits = "".join(c for c in rule.id if c.isdigit()) or "0"
    return f"_check_rule_{int(digits):03d}"


def model_validators(entity: EntitySpec, rules: Iterable[RuleSpec]) -> list[str]:
    """Return the source of the validators of ``entity`` (methods, indented for its class body)."""
    fields = {f.name: f for f in entity.fields}
    out: list[str] = []
    for spec in rules:
        rule = spec.rule
        if not spec.implemented or not spec.is_model_rule:
            continue
        subject = fields[rule.fields[0]]
        name = _method_name(rule)
        doc = f'        """Check {rule.id} ({rule.kind.value} on {subject.name})."""\n'
        if rule.kind.value != "comparison":
            out.append(
                f"    @field_validator({subject.name!r})\n    @classmethod\n"
                f"    def {name}(cls, value: Any) -> Any:\n{doc}"
                f"        return {_field_check(rule, subject.type)}\n"
            )
            continue
        assert rule.expression is not None
        assert rule.operator is not None
        code, _ = render_expr(rule.expression, ExprEnv(fields={n: f.type for n, f in fields.items()}))
        read = [subject.name, *(n for n in rule.expression.field_names() if n != subject.name)]
        optional = [n for n in read if not fields[n].required]
        guard = " and ".join(f"self.{n} is not None" for n in optional)
        message = f"{subject.name} must be {rule.operator.value} {rule.expression.describe()}"
        check = (
            f"rules.check_comparison(rules.compare(self.{subject.name}, {rule.operator.value!r}, {code}), "
            f"{rule.id!r}, {_safe_message(message)!r})"
        )
        body = f"        if {guard}:\n            {check}\n" if guard else f"        {check}\n"
        out.append(
            f'    @model_validator(mode="after")\n    def {name}(self) -> Self:\n{doc}{body}        return self\n'
        )
    return out


def _safe_message(text: str) -> str:
    """Return the comparison in words, from identifiers and numbers only; anything else is dropped."""
    return "".join(c for c in text if c.isalnum() or c in " _.,%()+-*/<>=")[:200]


def rules_context(entity: EntitySpec) -> dict[str, Any]:
    """Return what the entity's model template needs for its rules: the validators and whether any."""
    validators = model_validators(entity, entity.rules)
    return {"validators": validators, "has_rules": bool(validators)}


_NO_SAMPLE = "no sample record satisfies it together with the entity's other rules"


def attach_rules(
    entities: Sequence[EntitySpec], rules: Sequence[Rule], node_types: Iterable[str]
) -> tuple[tuple[EntitySpec, ...], dict[str, list[RuleSpec]]]:
    """Return ``entities`` carrying the rules their models check, and the rules each node type owns.

    A model rule no sample record can satisfy with the entity's other rules (so no test could build a valid
    record) is left as a hook with that reason.
    """
    plan = plan_rules(rules, entities, node_types)
    demoted: dict[str, str] = {}
    out: list[EntitySpec] = []
    for entity in entities:
        specs = list(plan.entity_rules.get(entity.name, ()))
        fields = {f.name: f for f in entity.fields}
        while specs:
            _, failed = solve_samples({f.name: f.type for f in entity.fields}, specs, base_ok(fields))
            if not failed:
                break
            demoted |= dict.fromkeys(failed, _NO_SAMPLE)
            specs = [s for s in specs if s.id not in failed]
        out.append(entity.model_copy(update={"rules": tuple(specs)}))
    owned = {
        node: [
            s.model_copy(update={"implemented": False, "reason": demoted[s.id]}) if s.id in demoted else s
            for s in specs
        ]
        for node, specs in plan.owned.items()
    }
    return tuple(out), owned


# --- formulas: implemented functions of the COMPUTE node ----------------------------------------------------

_RESULT_TYPES = {"number": "Decimal", "date": "date", "datetime": "datetime"}


def _formula_env(rule: Rule, entities: Mapping[str, EntitySpec]) -> ExprEnv:
    entity = entities[rule.entity or ""]
    return ExprEnv(
        fields={f.name: f.type for f in entity.fields},
        owner="record",
        entities={e.name: {f.name: f.type for f in e.fields} for e in entities.values()},
    )


def formula_problem(rule: Rule, entities: Mapping[str, EntitySpec]) -> str:
    """Return why the COMPUTE node cannot implement the formula ``rule`` ("" when it can)."""
    if rule.expression is None or not rule.target:
        return "the formula has no expression or target"
    if (rule.entity or "") not in entities:
        return f"{rule.entity} is not an entity of the service"
    try:
        _, kind = render_expr(rule.expression, _formula_env(rule, entities))
    except Unsupported as exc:
        return str(exc)
    return "" if kind in _RESULT_TYPES else f"a formula giving a {kind} is not one the generator writes"


@dataclass(frozen=True)
class Formula:
    """A formula rendered as a method of the COMPUTE node: its name, source, and what it takes."""

    spec: RuleSpec
    name: str
    source: str
    entity: EntitySpec
    inputs: tuple[str, ...]
    sums: tuple[str, ...]
    result: str


def formulas(rules: Iterable[RuleSpec], entities: Sequence[EntitySpec], taken: set[str]) -> list[Formula]:
    """Return the methods of the implemented formulas among ``rules``; names in ``taken`` are avoided."""
    by_name = {e.name: e for e in entities}
    out: list[Formula] = []
    for spec in rules:
        rule = spec.rule
        if not spec.implemented or spec.kind != "formula" or rule.expression is None:
            continue
        entity = by_name[rule.entity or ""]
        name = f"calculate_{rule.target}"
        if name in taken:
            name = f"calculate_{entity.snake}_{rule.target}"
        taken.add(name)
        env = _formula_env(rule, by_name)
        code, kind = render_expr(rule.expression, env)
        params = [f"record: {entity.name}"]
        keywords = [f"{n}: Decimal" for n in env.inputs]
        keywords += [f"{items_parameter(e)}: Sequence[{e}]" for e in env.sums]
        if keywords:
            params.append("*")
        signature = ", ".join(["self", *params, *keywords])
        source = (
            f"    def {name}({signature}) -> {_RESULT_TYPES[kind]}:\n"
            f'        """Compute {rule.id}: the {rule.target} of a {entity.name} (Decimal, rounding half-up)."""\n'
            f"        return {code}\n"
        )
        out.append(Formula(spec, name, source, entity, tuple(env.inputs), tuple(env.sums), _RESULT_TYPES[kind]))
    return out


def formula_dispatch(formula: Formula, validate: Mapping[str, str]) -> str:
    """Return the ``process`` call of a formula: the record, inputs and summed records from the payload."""
    args = [f'self.{validate[formula.entity.name]}(request.payload.get("record", {{}}))']
    args += [f"{n}=Decimal(str(request.payload.get({n!r}, 0)))" for n in formula.inputs]
    for entity in formula.sums:
        param = items_parameter(entity)
        args.append(f"{param}=[self.{validate[entity]}(r) for r in request.payload.get({param!r}, [])]")
    return f"self.{formula.name}({', '.join(args)})"


# --- uniqueness and quotas: checked by the EFFECT node against the stored records ---------------------------


def store_problem(rule: Rule, entities: Mapping[str, EntitySpec]) -> str:
    """Return why the EFFECT node cannot check the unique or quota ``rule`` ("" when it can)."""
    entity = entities.get(rule.entity or "")
    if entity is None:
        return f"{rule.entity} is not an entity of the service"
    names = {f.name: f for f in entity.fields}
    keys = rule.fields if rule.kind.value == "unique" else rule.scope
    if not keys or any(k not in names for k in keys):
        return "its fields are not all fields of the generated entity"
    if rule.kind.value == "quota":
        op = rule.operator.value if rule.operator is not None else ""
        if op not in ("le", "lt") or not rule.values or rule.values[0].number is None:
            return "a quota needs an upper limit"
        if rule.window is not None:
            field_spec = names.get(rule.window_field)
            if field_spec is None or field_spec.type not in ("date", "datetime"):
                return "its window has no date field"
            if rule.window.number is None or rule.window.unit not in TIME_UNITS:
                return "its window is not a period of time"
    return ""


def store_checks(entity: EntitySpec, rules: Iterable[RuleSpec]) -> list[str]:
    """Return the runtime calls that check the entity's unique and quota rules (``rows``, ``data`` in scope)."""
    wire = {f.name: f.wire_name for f in entity.fields}
    calls: list[str] = []
    for spec in rules:
        rule = spec.rule
        if not spec.implemented or spec.kind not in STORE_KINDS or rule.entity != entity.name:
            continue
        if spec.kind == "unique":
            keys = _tuple(repr(wire[n]) for n in rule.fields)
            calls.append(f"rules.check_unique(rows, data, {keys}, {rule.id!r})")
            continue
        scope = _tuple(repr(wire[n]) for n in rule.scope)
        limit = rule.values[0].number
        op = rule.operator.value if rule.operator is not None else "le"
        window = "None"
        if rule.window is not None and rule.window.number is not None:
            window = f"({wire[rule.window_field]!r}, {literal(rule.window.number)}, {rule.window.unit!r})"
        calls.append(f"rules.check_quota(rows, data, {scope}, {literal(limit)}, {op!r}, {window}, {rule.id!r})")
    return calls
