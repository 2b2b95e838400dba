"""Safe identifiers from any text: one rule for the PRD analyzer and the code generator.

Whatever the input, every name is ASCII, passes ``str.isidentifier()`` and is not a keyword, soft keyword or
dunder, and applying a function to its own result changes nothing. The rules are in docs/codegen.md ("Names").
"""

from __future__ import annotations

import keyword
import re
import unicodedata

__all__ = [
    "fold_apostrophes",
    "is_safe_identifier",
    "pascal_case",
    "snake_case",
    "split_words",
    "upper_snake_case",
    "without_node_type_suffix",
]

_CHUNK_RE = re.compile(r"[A-Za-z0-9]+")
# an acronym or a word, with the digits after it; a number, with the letters after it (2fa, 2FA)
_WORD_RE = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+(?:[a-z]+|[A-Z]+(?![a-z]))?")
_ANY_APOSTROPHE_RE = re.compile("[\u2019\u2018\u02bc\uff07]")
_POSSESSIVE_RE = re.compile(r"(?<=[^\W_])['\u2019\u2018\u02bc\uff07][sS](?![^\W_])")
_INNER_APOSTROPHE_RE = re.compile(r"(?<=[^\W_])['\u2019\u2018\u02bc\uff07](?=[^\W_])")
_DIGITS = "0123456789"
_NODE_TYPE_WORDS = frozenset({"effect", "compute", "reducer", "orchestrator"})
_SUFFIX_WORDS = _NODE_TYPE_WORDS | {"service", "microservice", "node"}


def fold_apostrophes(text: str) -> str:
    """Drop a possessive ``'s`` (``seller's`` -> ``seller``) and join words around other apostrophes.

    ``don't`` becomes ``dont``; straight and typographic apostrophes are treated alike. Any other apostrophe
    (a closing quote, ``sellers'``) is left alone and splits words.
    """
    if "'" not in text and (text.isascii() or not _ANY_APOSTROPHE_RE.search(text)):
        return text
    return _INNER_APOSTROPHE_RE.sub("", _POSSESSIVE_RE.sub("", text))


def split_words(text: str) -> list[str]:
    """Return the words of ``text`` for identifiers, in order: apostrophes folded, ASCII-folded, camelCase split.

    Digits stay with the word before them (``p95``, ``line1``), a number keeps the letters after it (``2fa``),
    and a run of capitals is one word (``HTTPServer`` -> ``HTTP``, ``Server``).
    """
    folded = unicodedata.normalize("NFKD", fold_apostrophes(text)).encode("ascii", "ignore").decode("ascii")
    return [word for chunk in _CHUNK_RE.findall(folded) for word in _WORD_RE.findall(chunk)]


def is_safe_identifier(name: str) -> bool:
    """Return whether ``name`` is an ASCII identifier that is not a (soft) keyword or dunder."""
    return (
        name.isascii()
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
        and not (name.startswith("__") and name.endswith("__"))
    )


def _capitalized(word: str) -> str:
    digits = len(word) - len(word.lstrip(_DIGITS))
    return word[:digits] + word[digits:].capitalize()


def pascal_case(text: str, default: str = "Service", *, prefix: str | None = None) -> str:
    """Return ``text`` as a PascalCase identifier (``"late fee-calc"`` -> ``"LateFeeCalc"``).

    Each word is capitalized, acronyms too (``HTTP server`` -> ``HttpServer``). ``default`` is used for text
    without words; ``prefix`` (default: ``default``) goes before a name that would start with a digit and after
    a keyword (``None`` -> ``NoneService``).
    """
    name = ""
    for word in split_words(text):
        part = _capitalized(word)
        # "A" then "B" would read back as the one word "AB": join them as "Ab" so the result is stable
        if name[-1:].isupper() and part[:1].isupper() and (len(part) == 1 or not part[1].islower()):
            part = part[:1].lower() + part[1:]
        name += part
    affix = default if prefix is None else prefix
    if not name:
        name = default
    if name[:1].isdigit():
        name = f"{affix}{name}"
    if not is_safe_identifier(name):
        name = f"{name}{affix}"
    return name if is_safe_identifier(name) else f"{name}_"


def snake_case(text: str, default: str = "item", *, prefix: str | None = None) -> str:
    """Return ``text`` as a snake_case identifier (``"LateFee Calc"`` -> ``"late_fee_calc"``).

    ``default`` is used for text without words; ``prefix`` (default: ``default``) and ``_`` go before a name
    that would start with a digit (``2fa`` -> ``item_2fa``); a keyword gets a trailing ``_`` (``class_``).
    """
    name = "_".join(w.lower() for w in split_words(text))
    if not name:
        name = default
    if name[:1].isdigit():
        name = f"{default if prefix is None else prefix}_{name}"
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
    matches = list(_WORD_RE.finditer(name))
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
