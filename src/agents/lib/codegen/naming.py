"""Safe identifiers derived from any text: PascalCase class names, snake_case module and field names.

Whatever the input (a PRD title with emoji, digits first, a Python keyword, nothing at all), the result is ASCII,
passes ``str.isidentifier()`` and is not a keyword or soft keyword.
"""

from __future__ import annotations

import keyword
import re
import unicodedata

__all__ = ["is_safe_identifier", "pascal_case", "snake_case", "upper_snake_case"]

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _words(text: str) -> list[str]:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _WORD.findall(ascii_text)


def is_safe_identifier(name: str) -> bool:
    """Return whether ``name`` is an ASCII identifier that is not a (soft) keyword or dunder."""
    return (
        name.isascii()
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
        and not (name.startswith("__") and name.endswith("__"))
    )


def pascal_case(text: str, default: str = "Service") -> str:
    """Return ``text`` as a PascalCase identifier (``"late fee-calc"`` -> ``"LateFeeCalc"``)."""
    words = _words(text)
    name = "".join(w[:1].upper() + w[1:] if not w.isupper() else w.capitalize() for w in words)
    if not name:
        name = default
    if name[0].isdigit():
        name = f"{default}{name}"
    return name if is_safe_identifier(name) else f"{name}_"


def snake_case(text: str, default: str = "item") -> str:
    """Return ``text`` as a snake_case identifier (``"LateFee Calc"`` -> ``"late_fee_calc"``)."""
    name = "_".join(w.lower() for w in _words(text))
    if not name:
        name = default
    if name[0].isdigit():
        name = f"{default}_{name}"
    return name if is_safe_identifier(name) else f"{name}_"


def upper_snake_case(text: str, default: str = "ITEM") -> str:
    """Return ``text`` as an UPPER_SNAKE_CASE identifier, for enum members."""
    name = snake_case(text, default.lower()).rstrip("_").upper()
    return name if is_safe_identifier(name) else f"{name}_"
