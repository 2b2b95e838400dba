"""Sample records that satisfy an entity's rules, and the boundary cases of each rule, with the PRD's numbers.

Every check here is the runtime's own (``agents.lib.codegen.runtime.rules``, the module the generated models
call), so a sample this module calls valid is valid for the generated code. Clock rules (``today``, ``now``)
are evaluated at :data:`FIXED_NOW`, the time the generated tests fix the clock to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from agents.lib.codegen.rule_code import evaluate
from agents.lib.codegen.rule_spec import RuleSpec
from agents.lib.codegen.runtime import rules as rt
from agents.lib.prd_analyzer import Rule

__all__ = [
    "FIXED_NOW",
    "FORMAT_SAMPLES",
    "Case",
    "boundary_cases",
    "bounds_of",
    "candidates",
    "default_value",
    "enum_values",
    "rule_holds",
    "solve_samples",
    "to_json",
]

FIXED_NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
"""The time the generated tests fix the clock to (``rules.use_clock``)."""

FORMAT_SAMPLES: dict[str, tuple[str, str]] = {
    "email": ("user@example.com", "not-an-email"),
    "url": ("https://example.com/a", "not a url"),
    "currency_code": ("EUR", "euro"),
    "country_code": ("DE", "Germany"),
    "phone": ("+4930123456", "030-123"),
    "uuid": ("00000000-0000-0000-0000-000000000001", "not-a-uuid"),
    "iban": ("DE89370400440532013000", "DE00370400440532013000"),
}
"""A valid and an invalid value of each standard format."""
_CLASS_CHARS = {"digits": "1", "letters": "a", "alphanumeric": "a1", "upper_alphanumeric": "A1", "hex": "f0"}

Values = dict[str, Any]
Case = tuple[Any, bool]
"""A value of a rule's subject field (native) and whether the rule accepts it."""


def default_value(name: str, ftype: str) -> Any:
    """Return the value a field has in a sample record when no rule says otherwise."""
    defaults: dict[str, Any] = {
        "int": 1,
        "float": 1.5,
        "bool": True,
        "datetime": datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
        "date": date(2025, 1, 15),
        "decimal": Decimal("12.50"),
        "uuid": UUID("00000000-0000-0000-0000-000000000001"),
        "list": ["a", "b"],
        "dict": {"key": "value"},
    }
    return defaults.get(ftype, f"{name}-a")


def to_json(value: Any) -> Any:
    """Return a native value as the generated models dump it in JSON mode."""
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def bounds_of(rule: Rule, ftype: str) -> tuple[Decimal, ...]:
    """Return the numbers a range, length or format rule compares with (minutes for a datetime's multiple)."""
    numbers = tuple(v.number for v in rule.values if v.number is not None)
    if ftype == "datetime" and rule.operator is not None and rule.operator.value == "multiple_of":
        per = {"seconds": Decimal(1) / 60, "minutes": Decimal(1), "hours": Decimal(60)}
        return tuple(n * per.get(v.unit, Decimal(1)) for n, v in zip(numbers, rule.values, strict=False))
    return numbers


def enum_values(rule: Rule, ftype: str) -> tuple[Any, ...]:
    """Return the values an enum rule allows: numbers for a number field, texts otherwise."""
    if ftype in ("int", "float", "decimal"):
        return tuple(v.number for v in rule.values if v.number is not None)
    return tuple(v.text for v in rule.values)


def rule_holds(rule: Rule, values: Mapping[str, Any], types: Mapping[str, str]) -> bool:
    """Return whether the generated check of ``rule`` accepts a record with ``values``."""
    subject = rule.fields[0]
    value, ftype = values.get(subject), types.get(subject, "str")
    op = rule.operator.value if rule.operator is not None else None
    kind = rule.kind.value
    try:
        if kind == "range" and op is not None:
            rt.check_range(value, op, bounds_of(rule, ftype), rule.id)
        elif kind == "length" and op is not None:
            unit = "words" if any(v.unit == "words" for v in rule.values) else "characters"
            rt.check_length(value, op, bounds_of(rule, ftype), unit, rule.id)
        elif kind == "enum":
            rt.check_enum(value, enum_values(rule, ftype), rule.id)
        elif kind == "format" and rule.format is not None:
            rt.check_format(value, rule.format.value, op, bounds_of(rule, ftype), rule.id)
        elif kind == "comparison" and op is not None and rule.expression is not None:
            right = evaluate(rule.expression, values.get, clock=FIXED_NOW)
            if value is not None and right is not None:
                return rt.compare(value, op, right)
    except ValueError:
        return False
    return True


def _step(ftype: str, near: Iterable[Decimal] = ()) -> Decimal:
    if ftype == "int":
        return Decimal(1)
    places = max([2, *(-int(n.as_tuple().exponent) for n in near if isinstance(n.as_tuple().exponent, int))])
    return Decimal(1).scaleb(-places)


def _cast(number: Decimal, ftype: str) -> Any:
    """Return ``number`` as a value of a number field, or None when it is not one (a fraction for an int)."""
    if ftype == "int":
        return int(number) if number == number.to_integral_value() else None
    if ftype == "float":
        return float(number)
    if ftype == "decimal":
        return number
    return None


def _around(number: Decimal, ftype: str) -> list[Any]:
    step = _step(ftype, [number])
    return [_cast(n, ftype) for n in (number - step, number, number + step)]


def _text_cases(rule: Rule, base: str) -> list[Any]:
    op = rule.operator.value if rule.operator is not None else ""
    numbers = [int(n) for n in bounds_of(rule, "str")]
    words = any(v.unit == "words" for v in rule.values)
    char = (base.strip() or "x")[0]
    chars = _CLASS_CHARS.get(rule.format.value if rule.format is not None else "", char)
    out: list[Any] = []
    for n in sorted({max(0, k) for m in numbers for k in (m - 1, m, m + 1)}):
        out.append(" ".join(["word"] * n) if words else (chars * (n // len(chars) + 1))[:n])
    if rule.kind.value == "format" and rule.format is not None:
        good, bad = FORMAT_SAMPLES.get(rule.format.value, (chars * 2, "!?"))
        out += [good, bad] if not numbers else ["!" * max(numbers[0], 1)]
    if op == "" and not out:
        out.append(base)
    return out


def candidates(rule: Rule, ftype: str, values: Mapping[str, Any]) -> list[Any]:
    """Return values of ``rule``'s subject around its boundaries (accepted and rejected ones)."""
    kind = rule.kind.value
    if kind in ("length", "format"):
        return _text_cases(rule, str(values.get(rule.fields[0]) or ""))
    if kind == "enum":
        allowed = [_cast(v, ftype) if isinstance(v, Decimal) else v for v in enum_values(rule, ftype)]
        numbers = [v for v in enum_values(rule, ftype) if isinstance(v, Decimal)]
        if numbers:
            return [*allowed, _cast(max(numbers) + 1, ftype)]
        texts = [str(v) for v in allowed if str(v)]
        near = [t[:-1] + c for t in texts[:1] for c in "ZQXzqx9" if t[:-1] + c not in texts]
        return [*allowed, *near[:3], "not-one-of-them"]
    if kind == "comparison":
        right = evaluate(rule.expression, values.get, clock=FIXED_NOW) if rule.expression else None
        return _near(right, ftype)
    bounds = bounds_of(rule, ftype)
    if rule.operator is not None and rule.operator.value == "multiple_of" and bounds:
        return _multiples(bounds[0], ftype, values.get(rule.fields[0]))
    return [v for b in bounds for v in _around(b, ftype)]


def _multiples(step: Decimal, ftype: str, current: Any) -> list[Any]:
    if ftype == "datetime":
        base = current if isinstance(current, datetime) else datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
        start = base.replace(hour=9, minute=0, second=0, microsecond=0)
        return [start, start + timedelta(minutes=float(step)), start + timedelta(minutes=float(step) / 2 + 1)]
    out = [_cast(step * k, ftype) for k in (1, 2, 4, 8)]
    return [*out, _cast(step * 2 + _step(ftype, [step]), ftype)]


def _near(right: Any, ftype: str) -> list[Any]:
    if right is None:
        return []
    if isinstance(right, datetime):
        if ftype == "date":
            right = right.date()
        else:
            return [right - timedelta(seconds=1), right, right + timedelta(seconds=1)]
    if isinstance(right, date):
        days = [right - timedelta(days=1), right, right + timedelta(days=1)]
        return [rt.at_noon(d) for d in days] if ftype == "datetime" else days
    if isinstance(right, Decimal):
        return _around(right, ftype)
    return []


def _all_hold(rules: Iterable[Rule], values: Mapping[str, Any], types: Mapping[str, str]) -> bool:
    return all(rule_holds(r, values, types) for r in rules)


def solve_samples(
    types: Mapping[str, str],
    specs: Iterable[RuleSpec],
    base_ok: Callable[[str, Any], bool],
) -> tuple[Values, list[str]]:
    """Return a record satisfying the model rules of ``specs`` and the ids of the rules it could not satisfy.

    ``base_ok(field, value)`` is what the models check besides the rules (required text not empty...).
    """
    values: Values = {name: default_value(name, ftype) for name, ftype in types.items()}
    rules = [s.rule for s in specs if s.implemented and s.is_model_rule]
    failed: list[str] = []
    singles = [r for r in rules if r.kind.value != "comparison"]
    for name in types:
        own = [r for r in singles if r.fields[0] == name]
        if not own or _all_hold(own, values, types):
            continue
        options = [c for r in own for c in candidates(r, types[name], values) if c is not None]
        chosen = next(
            (c for c in options if base_ok(name, c) and _all_hold(own, {**values, name: c}, types)), None
        )
        if chosen is None:
            failed += [r.id for r in own]
        else:
            values[name] = chosen
    for _ in range(3):  # comparisons may read fields another comparison sets
        for rule in (r for r in rules if r.kind.value == "comparison" and r.id not in failed):
            name = rule.fields[0]
            if rule_holds(rule, values, types):
                continue
            own = [r for r in singles if r.fields[0] == name and r.id not in failed]
            options = [c for c in candidates(rule, types[name], values) if c is not None]
            chosen = next(
                (c for c in options if base_ok(name, c) and _all_hold([rule, *own], {**values, name: c}, types)),
                None,
            )
            if chosen is not None:
                values[name] = chosen
    failed += [r.id for r in rules if r.id not in failed and not rule_holds(r, values, types)]
    return values, failed


def boundary_cases(
    spec: RuleSpec,
    values: Mapping[str, Any],
    types: Mapping[str, str],
    others: Iterable[Rule],
    base_ok: Callable[[str, Any], bool],
) -> list[Case]:
    """Return the subject values on both sides of the rule's boundaries, each valid for every other rule."""
    rule = spec.rule
    name = rule.fields[0]
    others = [r for r in others if r.id != rule.id]
    out: list[Case] = []
    seen: list[Any] = []
    for value in candidates(rule, types[name], values):
        if value is None or value in seen:
            continue
        record = {**values, name: value}
        accepted = rule_holds(rule, record, types)
        if not _all_hold(others, record, types) or not base_ok(name, value):
            continue
        seen.append(value)
        out.append((value, accepted))
    return out
