"""Safe identifiers derived from any text: PascalCase class names, snake_case module and field names.

Whatever the input (a PRD title with emoji, digits first, a Python keyword, nothing at all), the result is ASCII,
passes ``str.isidentifier()`` and is not a keyword or soft keyword. Apostrophes never split a word: a possessive
``'s`` is dropped (``seller's payout`` -> ``seller_payout``) and other apostrophes are removed (``don't`` ->
``dont``).
"""

from __future__ import annotations

import keyword
import re
import unicodedata

from agents.lib._prd_text import fold_apostrophes

__all__ = ["is_safe_identifier", "pascal_case", "snake_case", "upper_snake_case", "without_node_type_suffix"]

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_NODE_TYPE_WORDS = frozenset({"effect", "compute", "reducer", "orchestrator"})
_SUFFIX_WORDS = _NODE_TYPE_WORDS | {"service", "microservice", "node"}


def _words(text: str) -> list[str]:
    ascii_text = unicodedata.normalize("NFKD", fold_apostrophes(text)).encode("ascii", "ignore").decode("ascii")
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


def without_node_type_suffix(name: str, node_type: str | None = None) -> str:
    """Return a PascalCase service name without the node-type word it ends with.

    ``OrderFulfilmentOrchestrator`` -> ``OrderFulfilment`` and ``FulfilmentReducerService`` -> ``Fulfilment``,
    so that ``Node<Service><Type>`` never repeats the type. A trailing run of ``Effect``, ``Compute``,
    ``Reducer``, ``Orchestrator`` (and ``Service``, ``Microservice`` or ``Node`` beside them) is dropped only when
    it holds a node-type word (``UserService`` stays) and something else remains (``Orchestrator`` stays). With
    ``node_type``, only that type's word is dropped (``FulfilmentOrchestrator`` keeps its word for an EFFECT).
    """
    matches = list(_WORD.finditer(name))
    if not matches or matches[-1].end() != len(name):
        return name
    types = _NODE_TYPE_WORDS if node_type is None else frozenset({node_type.lower()})
    suffix = _SUFFIX_WORDS if node_type is None else types
    cut: int | None = None
    for match in reversed(matches):
        word = match.group().lower()
        if word not in suffix:
            break
        if word in types:
            cut = match.start()
    if cut is None or cut == 0:
        return name
    stripped = name[:cut].rstrip("_")
    return stripped if stripped and is_safe_identifier(stripped) else name
