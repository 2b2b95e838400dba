"""Safe identifiers from any text: one rule for the PRD analyzer and the code generator.

Whatever the input, every name is ASCII, passes ``str.isidentifier()`` and is not a keyword, soft keyword or
dunder, and applying a function to its own result changes nothing. :func:`safe_field_name` and
:func:`safe_class_name` also keep a name clear of Python's builtins, pydantic's ``BaseModel`` attributes and the
generated runtime's names. The rules are in docs/codegen.md ("Names").
"""

from __future__ import annotations

import keyword
import re
import unicodedata

__all__ = [
    "RESERVED_CLASS_NAMES",
    "RESERVED_FIELD_NAMES",
    "fold_apostrophes",
    "is_reserved_class_name",
    "is_reserved_field_name",
    "is_safe_identifier",
    "pascal_case",
    "safe_class_name",
    "safe_field_name",
    "snake_case",
    "split_words",
    "upper_snake_case",
    "without_node_type_suffix",
]

_CHUNK_RE = re.compile(r"[A-Za-z0-9]+")
# a letter-number-letter acronym (e2e, B2B, k8s, i18n); an acronym with a plural s (URLs, IDs); an acronym or a
# word, with the digits after it; a number, with the letters after it (2fa, 2FA)
_WORD_RE = re.compile(
    r"[A-Za-z][0-9]+[A-Za-z](?![a-z0-9])|[A-Z]{2,}s(?![a-z])|[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*"
    r"|[0-9]+(?:[a-z]+|[A-Z]+(?![a-z]))?"
)
_ANY_APOSTROPHE_RE = re.compile("[\u2019\u2018\u02bc\uff07]")
_POSSESSIVE_RE = re.compile(r"(?<=[^\W_])['\u2019\u2018\u02bc\uff07][sS](?![^\W_])")
_INNER_APOSTROPHE_RE = re.compile(r"(?<=[^\W_])['\u2019\u2018\u02bc\uff07](?=[^\W_])")
_DIGITS = "0123456789"
_NODE_TYPE_WORDS = frozenset({"effect", "compute", "reducer", "orchestrator"})
_SUFFIX_WORDS = _NODE_TYPE_WORDS | {"service", "microservice", "node"}


def _names(text: str) -> list[str]:
    return text.split()


_BUILTIN_NAMES = _names(
    "abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile "
    "complex copyright credits delattr dict dir divmod enumerate eval exec exit filter float format "
    "frozenset getattr globals hasattr hash help hex input int isinstance issubclass iter len license "
    "list locals map max memoryview min next object oct open ord pow print property quit range repr "
    "reversed round set setattr slice sorted staticmethod str sum super tuple type vars zip"
)
# pydantic 2's public BaseModel attributes (the v1 names it keeps too); any name starting with model_ is refused
_BASEMODEL_NAMES = _names(
    "construct copy dict from_orm json parse_file parse_obj parse_raw schema schema_json "
    "update_forward_refs validate fields"
)
# what a generated models module or test imports by these names, and the names a method's parameters use
_MODULE_NAMES = _names("date datetime time timedelta decimal uuid self cls pytest yaml")

RESERVED_FIELD_NAMES: frozenset[str] = frozenset(_BUILTIN_NAMES + _BASEMODEL_NAMES + _MODULE_NAMES) - {"id"}
"""snake_case names a field of a generated model must not have (``id`` is the models' own key field)."""

RESERVED_CLASS_NAMES: frozenset[str] = frozenset(
    _names(
        # the generated runtime (onex_runtime): every public name of its modules
        "Container ServiceKey ErrorCode OnexError NodeBase NodeCompute NodeEffect NodeOrchestrator NodeReducer "
        "IOWrapper RunReport StepGraph StepRunner TransitionTable MixinCaching MixinCircuitBreaker MixinEventBus "
        "MixinHealthCheck MixinLogging MixinMetrics MixinRetry MixinTimeout MixinValidation BlobStorePort "
        "CachePort EventPublisherPort HttpClientPort NotifierPort RecordStorePort SearchIndexPort "
        "InMemoryBlobStore InMemoryCache InMemoryEventPublisher InMemoryHttpClient InMemoryNotifier "
        "InMemoryRecordStore InMemorySearchIndex CircuitBreaker PortBreakers RunJournalPort InMemoryRunJournal "
        "RunRecord MixinAudit MixinConnection MixinInfo MixinRateLimiter MixinRepository MixinSecurity "
        "MixinTransaction Operation Principal Repository UnknownMixinError "
        # what generated modules import by name
        "BaseModel ConfigDict Field Any Decimal UUID Enum StrEnum Protocol ClassVar Self Path Iterable Mapping "
        "Sequence Callable Awaitable TypeVar Generic Literal Optional Union "
        # Python's builtin classes, exceptions and constants
        "ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup BlockingIOError "
        "BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError "
        "ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning "
        "EnvironmentError Exception ExceptionGroup FileExistsError FileNotFoundError FloatingPointError "
        "FutureWarning GeneratorExit IOError ImportError ImportWarning IndentationError IndexError "
        "InterruptedError IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError "
        "ModuleNotFoundError NameError NotADirectoryError NotImplemented NotImplementedError OSError "
        "OverflowError PendingDeprecationWarning PermissionError ProcessLookupError RecursionError "
        "ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration "
        "SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError TypeError UnboundLocalError "
        "UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning "
        "ValueError Warning ZeroDivisionError"
    )
)
"""PascalCase names an entity of a generated service must not have: the runtime's, imported and builtin names."""


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


def is_reserved_field_name(name: str) -> bool:
    """Return whether ``name`` must not name a field.

    Reserved: a builtin, a ``BaseModel`` attribute or ``model_*``, an imported module or type name (``date``),
    or anything that is not a safe identifier.
    """
    return name in RESERVED_FIELD_NAMES or name.startswith("model_") or not is_safe_identifier(name)


def is_reserved_class_name(name: str) -> bool:
    """Return whether ``name`` must not name an entity class (``Container``, ``BaseModel``, ``Exception``...)."""
    return name in RESERVED_CLASS_NAMES or not is_safe_identifier(name)


def safe_field_name(name: str, owner: str = "") -> str:
    """Return the snake_case field name ``name``, renamed when it is reserved (:func:`is_reserved_field_name`).

    A reserved name gets its owner's snake_case name in front (``schema`` of ``Manifest`` -> ``manifest_schema``,
    ``model_name`` of ``Car`` -> ``car_model_name``), else ``_value`` after it (``date`` -> ``date_value``). The
    result is a fixed point of :func:`snake_case` and of this function, so applying either again keeps it.
    """
    name = snake_case(name, "value", prefix="f")
    if not is_reserved_field_name(name):
        return name
    owner_name = snake_case(owner, "") if owner else ""
    if owner_name and not owner_name.startswith("model_"):
        candidate = f"{owner_name}_{name}"
        if not is_reserved_field_name(candidate):
            return candidate
    candidate = f"{name}_value"
    return candidate if not is_reserved_field_name(candidate) else f"f_{candidate}"


def safe_class_name(name: str) -> str:
    """Return the PascalCase class name ``name``, with ``Record`` after it when it is reserved.

    ``Container`` -> ``ContainerRecord``, ``Exception`` -> ``ExceptionRecord``; a fixed point of
    :func:`pascal_case` and of this function.
    """
    name = pascal_case(name, "Record")
    return f"{name}Record" if is_reserved_class_name(name) else name


def _capitalized(word: str) -> str:
    digits = len(word) - len(word.lstrip(_DIGITS))
    return word[:digits] + word[digits:].capitalize()


def _joined(words: list[str]) -> str:
    name = ""
    for word in words:
        part = _capitalized(word)
        # "A" then "B" would read back as the one word "AB": join them as "Ab" so the result is stable
        if name[-1:].isupper() and part[:1].isupper() and (len(part) == 1 or not part[1].islower()):
            part = part[:1].lower() + part[1:]
        name += part
    return name


def pascal_case(text: str, default: str = "Service", *, prefix: str | None = None) -> str:
    """Return ``text`` as a PascalCase identifier (``"late fee-calc"`` -> ``"LateFeeCalc"``).

    Each word is capitalized, acronyms too (``HTTP server`` -> ``HttpServer``). ``default`` is used for text
    without words; ``prefix`` (default: ``default``) goes before a name that would start with a digit and after
    a keyword (``None`` -> ``NoneService``).
    """
    name = _joined(split_words(text))
    # words that read back differently once joined ("v2" and "a" give "V2A", the one word "v2a") are joined
    # again as they read back, so the result is a fixed point
    for _ in range(4):
        again = _joined(split_words(name))
        if again == name:
            break
        name = again
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
