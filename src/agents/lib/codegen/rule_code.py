"""A rule's expression tree as Python code, and the same tree evaluated here (to choose samples and expectations).

The renderer emits only identifiers of the analysis (checked identifiers: fields, inputs), calls to the
runtime's ``rules`` helpers, operators, and literals made with :func:`literal` (``Decimal("0.30")``, a
``repr`` of a str). Nothing of the PRD's text becomes code. :func:`evaluate` computes what the rendered code
computes, with the same helpers (``agents.lib.codegen.runtime.rules`` is the module copied into the service).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from agents.lib.codegen.runtime import rules as rt
from agents.lib.naming import is_safe_identifier, snake_case
from agents.lib.prd_analyzer import RuleExpr

__all__ = [
    "TIME_UNITS",
    "Duration",
    "ExprEnv",
    "Kind",
    "Unsupported",
    "evaluate",
    "items_parameter",
    "literal",
    "render_expr",
]

Kind = Literal["number", "date", "datetime", "duration"]
TIME_UNITS = frozenset({"seconds", "minutes", "hours", "days", "weeks", "months", "years"})
_FIELD_KINDS: dict[str, Kind] = {"int": "number", "float": "number", "decimal": "number"}
_FIELD_KINDS |= {"date": "date", "datetime": "datetime"}


class Unsupported(ValueError):
    """The expression cannot be rendered safely; its message is the reason the rule stays a hook."""


@dataclass(frozen=True)
class Duration:
    """A constant with a time unit (``90 days``): only ever added to or subtracted from a date or datetime."""

    amount: Decimal
    unit: str


@dataclass(frozen=True)
class ExprEnv:
    """What a tree's leaves are: the field types by name, how a field reads in code, and the summed entities.

    ``owner`` is the code a field is read from (``self``, ``record``, ``item``); ``inputs`` collects the input
    names met (parameters of a formula's function); ``entities`` gives a ``sum``'s entity its field types.
    """

    fields: Mapping[str, str]
    owner: str = "self"
    entities: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    sums: list[str] = field(default_factory=list)


def literal(value: object) -> str:
    """Return a Python literal of a Decimal, int, float, str, bool, None, date or datetime (UTC)."""
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, Decimal):
        return f"Decimal({str(value)!r})"
    if isinstance(value, datetime):
        parts = [value.year, value.month, value.day, value.hour, value.minute, value.second]
        return f"datetime({', '.join(str(p) for p in parts)}, tzinfo=UTC)"
    if isinstance(value, date):
        return f"date({value.year}, {value.month}, {value.day})"
    if isinstance(value, UUID):
        return f"UUID({str(value)!r})"
    raise TypeError(f"no literal for {type(value).__name__}")


def _const(expr: RuleExpr) -> tuple[Decimal, str]:
    assert expr.value is not None
    assert expr.value.number is not None
    return expr.value.number, expr.value.unit


def _name(name: str) -> str:
    if not is_safe_identifier(name):
        raise Unsupported(f"{name!r} is not a safe identifier")
    return name


def render_expr(expr: RuleExpr, env: ExprEnv) -> tuple[str, Kind]:
    """Return the Python code of ``expr`` and what it computes; :class:`Unsupported` when it cannot."""
    op = expr.op
    if op == "field":
        ftype = env.fields.get(_name(expr.name))
        kind = _FIELD_KINDS.get(ftype or "")
        if kind is None:
            raise Unsupported(f"{expr.name} is not a number, date or datetime field")
        code = f"{env.owner}.{_name(expr.name)}"
        if env.owner != "self":  # a formula needs every value it reads: a missing one is VALIDATION_ERROR
            code = f"rules.present({code}, {expr.name!r})"
        return (f"rules.num({code})", kind) if kind == "number" else (code, kind)
    if op == "input":
        name = _name(expr.name)
        if name in env.fields:
            raise Unsupported(f"the input {name} has the name of a field")
        if name not in env.inputs:
            env.inputs.append(name)
        return name, "number"
    if op == "const":
        number, unit = _const(expr)
        return ("", "duration") if unit in TIME_UNITS else (literal(number), "number")
    if op == "now":
        return "rules.now()", "datetime"
    if op == "today":
        return "rules.today()", "date"
    if op == "sum":
        return _render_sum(expr, env)
    parts = [render_expr(arg, env) for arg in expr.args]
    kinds = [k for _, k in parts]
    codes = [c for c, _ in parts]
    if op in ("add", "sub") and kinds[0] in ("date", "datetime") and kinds[1] == "duration":
        number, unit = _const(expr.args[1])
        amount = number if op == "add" else -number
        return f"rules.shift({codes[0]}, {literal(amount)}, {unit!r})", kinds[0]
    if any(k != "number" for k in kinds):
        raise Unsupported(f"{op} of {' and '.join(kinds)} values is not arithmetic the generator writes")
    symbols = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
    if op in symbols:
        return f"({codes[0]} {symbols[op]} {codes[1]})", "number"
    if op == "percent_of":
        return f"({codes[0]} / Decimal(100) * {codes[1]})", "number"
    if op in ("min", "max"):
        return f"{op}({', '.join(codes)})", "number"
    assert op == "round"
    assert expr.digits is not None
    return f"rules.round_half_up({codes[0]}, {expr.digits})", "number"


def _render_sum(expr: RuleExpr, env: ExprEnv) -> tuple[str, Kind]:
    entity = expr.entity or ""
    fields = env.entities.get(entity)
    if fields is None:
        raise Unsupported(f"the records summed ({entity}) are not an entity of the node")
    inner = ExprEnv(fields=fields, owner="item", entities={}, inputs=env.inputs, sums=env.sums)
    code, kind = render_expr(expr.args[0], inner)
    if kind != "number":
        raise Unsupported("only numbers are summed")
    if entity not in env.sums:
        env.sums.append(entity)
    return f"sum(({code} for item in {items_parameter(entity)}), Decimal(0))", "number"


def items_parameter(entity: str) -> str:
    """Return the parameter a formula receives the summed records of ``entity`` in (``line_item_records``)."""
    return f"{snake_case(entity)}_records"


# --- evaluation ---------------------------------------------------------------------------------------------

Value = Any
Reader = Callable[[str], Value]


def evaluate(
    expr: RuleExpr,
    read: Reader,
    inputs: Mapping[str, Value] | None = None,
    items: Mapping[str, list[Reader]] | None = None,
    clock: datetime | None = None,
) -> Value:
    """Return what the rendered code of ``expr`` computes: fields from ``read``, inputs, summed records.

    ``None`` when a field read is missing (the rendered checks skip then); the clock is fixed by ``clock``.
    """
    with rt.use_clock(clock or datetime.now(UTC)):
        return _eval(expr, read, inputs or {}, items or {})


def _eval(expr: RuleExpr, read: Reader, inputs: Mapping[str, Value], items: Mapping[str, list[Reader]]) -> Value:
    op = expr.op
    if op == "field":
        value = read(expr.name)
        if value is None:
            return None
        return rt.num(value) if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else value
    if op == "input":
        return inputs.get(expr.name)
    if op == "const":
        number, unit = _const(expr)
        return Duration(number, unit) if unit in TIME_UNITS else number
    if op == "now":
        return rt.now()
    if op == "today":
        return rt.today()
    if op == "sum":
        total = Decimal(0)
        for item in items.get(expr.entity or "", []):
            part = _eval(expr.args[0], item, inputs, items)
            if part is None:
                return None
            total += part
        return total
    args = [_eval(arg, read, inputs, items) for arg in expr.args]
    if any(a is None for a in args):
        return None
    if op in ("add", "sub") and isinstance(args[1], Duration):
        amount = args[1].amount if op == "add" else -args[1].amount
        return rt.shift(args[0], amount, args[1].unit)
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "div":
        return args[0] / args[1] if args[1] != 0 else None
    if op == "percent_of":
        return args[0] / Decimal(100) * args[1]
    if op == "min":
        return min(args)
    if op == "max":
        return max(args)
    assert op == "round"
    assert expr.digits is not None
    return rt.round_half_up(args[0], expr.digits)
