"""What the generated rule code calls: a clock tests can fix, durations, Decimal arithmetic, the checks.

The PRD's rules are rendered as calls to these functions with the rule's own numbers as literals
(``check_range(value, "le", (Decimal("25000"),), "RULE-002")``). A check returns the value it was given
(``None`` passes: a missing optional field is not checked) or raises ``ValueError`` naming the rule, which
pydantic reports as a validation error of that field.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, TypeVar

from .errors import ErrorCode, OnexError

__all__ = [
    "FORMATS",
    "Clock",
    "at_noon",
    "check_comparison",
    "check_enum",
    "check_format",
    "check_length",
    "check_quota",
    "check_range",
    "check_unique",
    "compare",
    "now",
    "num",
    "present",
    "round_half_up",
    "same_period",
    "shift",
    "today",
    "use_clock",
]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""

T = TypeVar("T")
D = TypeVar("D", bound=date)


def _system_clock() -> datetime:
    return datetime.now(UTC)


_clock: list[Clock] = [_system_clock]


def now() -> datetime:
    """Return the current time from the clock in use (the system's, unless :func:`use_clock` set another)."""
    return _clock[-1]()


def today() -> date:
    """Return the current date from the clock in use."""
    return now().date()


@contextmanager
def use_clock(clock: Clock | datetime) -> Iterator[None]:
    """Use ``clock`` (or a fixed time) for :func:`now` and :func:`today` inside the ``with`` block."""
    fixed = clock
    _clock.append((lambda: fixed) if isinstance(fixed, datetime) else fixed)
    try:
        yield
    finally:
        _clock.pop()


_SECONDS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def shift(value: D, amount: Decimal, unit: str) -> D:
    """Return ``value`` moved by ``amount`` ``unit`` (months and years are calendar ones, the day clamped)."""
    if unit in ("months", "years"):
        months = int(amount) * (12 if unit == "years" else 1)
        index = value.year * 12 + value.month - 1 + months
        year, month = divmod(index, 12)
        day = min(value.day, calendar.monthrange(year, month + 1)[1])
        return value.replace(year=year, month=month + 1, day=day)
    return value + timedelta(seconds=float(amount * _SECONDS[unit]))


def num(value: Decimal | int | float) -> Decimal:
    """Return a number as a Decimal (a float through its shortest text: ``0.1`` is ``Decimal("0.1")``)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def present(value: T | None, name: str) -> T:
    """Return ``value``; VALIDATION_ERROR when it is missing (a formula needs every value it reads)."""
    if value is None:
        raise OnexError(f"{name} is required for this calculation", ErrorCode.VALIDATION_ERROR, {"field": name})
    return value


def round_half_up(value: Decimal, digits: int) -> Decimal:
    """Return ``value`` rounded half-up (``0.125`` -> ``0.13``) to ``digits`` decimals."""
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _comparable(left: object, right: object) -> tuple[object, object]:
    """Numbers as Decimals; a datetime compared with a date is compared by its date; a naive datetime is UTC."""
    if isinstance(left, int | float | Decimal) and not isinstance(left, bool):
        left = num(left)
    if isinstance(right, int | float | Decimal) and not isinstance(right, bool):
        right = num(right)
    if isinstance(left, datetime) and left.tzinfo is None:
        left = left.replace(tzinfo=UTC)
    if isinstance(right, datetime) and right.tzinfo is None:
        right = right.replace(tzinfo=UTC)
    if isinstance(left, datetime) and isinstance(right, date) and not isinstance(right, datetime):
        left = left.date()
    if isinstance(right, datetime) and isinstance(left, date) and not isinstance(left, datetime):
        right = right.date()
    return left, right


def compare(left: object, op: str, right: object) -> bool:
    """Return whether ``left <op> right`` holds (``op``: eq ne lt le gt ge)."""
    a, b = _comparable(left, right)
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    checks: dict[str, Callable[[object, object], bool]] = {
        "lt": lambda x, y: x < y,  # type: ignore[operator]
        "le": lambda x, y: x <= y,  # type: ignore[operator]
        "gt": lambda x, y: x > y,  # type: ignore[operator]
        "ge": lambda x, y: x >= y,  # type: ignore[operator]
    }
    return checks[op](a, b)


def _fails(rule: str, what: str) -> ValueError:
    return ValueError(f"{rule}: {what}")


def _in_range(value: object, op: str, bounds: Sequence[Decimal]) -> bool:
    if op == "between":
        return compare(value, "ge", bounds[0]) and compare(value, "le", bounds[1])
    if op == "multiple_of":
        step = bounds[0]
        if isinstance(value, datetime):
            seconds = Decimal(value.hour * 3600 + value.minute * 60 + value.second)
            return value.microsecond == 0 and seconds % (step * 60) == 0
        return isinstance(value, int | float | Decimal) and num(value) % step == 0
    return compare(value, op, bounds[0])


def check_range(value: T, op: str, bounds: Sequence[Decimal], rule: str) -> T:
    """Check ``value <op> bounds[0]`` (``between``: inclusive; ``multiple_of``: minutes for a datetime)."""
    if value is not None and not _in_range(value, op, bounds):
        shown = " and ".join(str(b) for b in bounds)
        raise _fails(rule, f"must be {op.replace('_', ' ')} {shown}")
    return value


def _size(value: str, unit: str) -> int:
    return len(value.split()) if unit == "words" else len(value)


def check_length(value: T, op: str, bounds: Sequence[Decimal], unit: str, rule: str) -> T:
    """Check the length of a text (``unit``: ``characters`` or ``words``) against ``bounds``."""
    if isinstance(value, str) and not _in_range(_size(value, unit), op, bounds):
        shown = " and ".join(str(b) for b in bounds)
        raise _fails(rule, f"its length in {unit} must be {op} {shown}")
    return value


def check_enum(value: T, allowed: Sequence[object], rule: str) -> T:
    """Check that ``value`` is one of ``allowed`` (numbers compared as Decimals)."""
    if value is None:
        return value
    if not any(compare(value, "eq", a) if not isinstance(a, str) else value == a for a in allowed):
        raise _fails(rule, f"must be one of {', '.join(str(a) for a in allowed)}")
    return value


FORMATS: Final[dict[str, re.Pattern[str]]] = {
    "email": re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"),
    "url": re.compile(r"https?://[^\s/$.?#][^\s]*"),
    "currency_code": re.compile(r"[A-Z]{3}"),
    "country_code": re.compile(r"[A-Z]{2}"),
    "phone": re.compile(r"\+[1-9][0-9]{6,14}"),
    "uuid": re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    "iban": re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}"),
    "digits": re.compile(r"[0-9]+"),
    "letters": re.compile(r"[A-Za-z]+"),
    "alphanumeric": re.compile(r"[A-Za-z0-9]+"),
    "upper_alphanumeric": re.compile(r"[A-Z0-9]+"),
    "hex": re.compile(r"[0-9a-fA-F]+"),
}
"""The pattern of each format a rule can name (the whole value must match)."""


def _iban_checksum(value: str) -> bool:
    moved = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def check_format(value: T, fmt: str, op: str | None, bounds: Sequence[Decimal], rule: str) -> T:
    """Check that a text is in the format ``fmt`` and, for a character class, that its length ``<op> bounds``."""
    if not isinstance(value, str):
        return value
    valid = FORMATS[fmt].fullmatch(value) is not None
    if valid and fmt == "iban":
        valid = _iban_checksum(value)
    if valid and op is not None and bounds:
        valid = _in_range(len(value), op, bounds)
    if not valid:
        raise _fails(rule, f"must be {fmt.replace('_', ' ')}" + (f", length {op} {bounds[0]}" if bounds else ""))
    return value


def check_comparison(holds: bool, rule: str, what: str) -> None:
    """Raise ``ValueError`` naming ``rule`` unless the comparison ``holds``."""
    if not holds:
        raise _fails(rule, what)


def at_noon(day: date) -> datetime:
    """Return noon (UTC) of ``day``: a datetime on that date."""
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def _instant(value: object) -> date | None:
    """Return a stored date or datetime (ISO text in a record, or the value itself), UTC when naive."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value if isinstance(value, date) else None


def same_period(anchor: object, other: object, amount: Decimal, unit: str) -> bool:
    """Whether ``other`` falls in the quota window of ``anchor``.

    One calendar unit (``1 day``, ``1 calendar year``, ``1 second``) is the same calendar day, year or
    second; more than one is a rolling window: less than ``amount unit`` apart.
    """
    a, b = _instant(anchor), _instant(other)
    if a is None or b is None:
        return False
    if amount == 1:
        if unit in ("seconds", "minutes", "hours") and isinstance(a, datetime) and isinstance(b, datetime):
            size = _SECONDS[unit]
            return int(a.timestamp()) // size == int(b.timestamp()) // size
        da = a.date() if isinstance(a, datetime) else a
        db = b.date() if isinstance(b, datetime) else b
        keys: dict[str, Callable[[date], tuple[int, ...]]] = {
            "days": lambda d: (d.toordinal(),),
            "weeks": lambda d: tuple(d.isocalendar()[:2]),
            "months": lambda d: (d.year, d.month),
            "years": lambda d: (d.year,),
        }
        if unit in keys:
            return keys[unit](da) == keys[unit](db)
    later, earlier = (a, b) if compare(a, "ge", b) else (b, a)
    return compare(earlier, "gt", shift(later, -amount, unit))


def check_unique(
    rows: Sequence[Mapping[str, object]], record: Mapping[str, object], keys: Sequence[str], rule: str
) -> None:
    """CONFLICT when a stored row has the same values of ``keys`` (wire names) as ``record``."""
    values = [record.get(k) for k in keys]
    if any(v is None for v in values):
        return
    if any(all(row.get(k) == v for k, v in zip(keys, values, strict=True)) for row in rows):
        raise OnexError(
            f"{rule}: a record with the same {', '.join(keys)} exists",
            ErrorCode.CONFLICT,
            {"rule": rule, "fields": list(keys)},
        )


def check_quota(
    rows: Sequence[Mapping[str, object]],
    record: Mapping[str, object],
    scope: Sequence[str],
    limit: Decimal,
    op: str,
    window: tuple[str, Decimal, str] | None,
    rule: str,
) -> None:
    """CONFLICT when storing ``record`` would make more than ``limit`` (``lt``: as many) records share ``scope``.

    ``window`` is ``(field, amount, unit)``: only records in the same window of that field count.
    """
    values = [record.get(k) for k in scope]
    if any(v is None for v in values):
        return
    same = [row for row in rows if all(row.get(k) == v for k, v in zip(scope, values, strict=True))]
    if window is not None:
        name, amount, unit = window
        same = [row for row in same if same_period(record.get(name), row.get(name), amount, unit)]
    if not compare(len(same) + 1, op, limit):
        raise OnexError(
            f"{rule}: at most {limit} records may share {', '.join(scope)}",
            ErrorCode.CONFLICT,
            {"rule": rule, "fields": list(scope), "count": len(same)},
        )
