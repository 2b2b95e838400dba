"""Reading PRD input safely, and the small text helpers the analyzer shares (private)."""

from __future__ import annotations

import keyword
import os
import re
import unicodedata
from pathlib import Path

from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "MAX_PRD_BYTES",
    "STOPWORDS",
    "LoadedText",
    "fold_apostrophes",
    "load_source",
    "pascal_identifier",
    "sentences",
    "singular",
    "snake_identifier",
    "split_words",
    "tokens",
    "word_set",
]

MAX_PRD_BYTES = 2 * 1024 * 1024
"""The largest PRD accepted, in bytes of UTF-8 text (2 MB)."""

_TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".mdown", ".text", ".rst")
_TOKEN_RE = re.compile(r"[a-z0-9]+")
_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_CAMEL_RE = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+[a-z]*")
_ANY_APOSTROPHE_RE = re.compile("[\u2019\u2018\u02bc\uff07]")
_POSSESSIVE_RE = re.compile(r"(?<=[^\W_])['\u2019\u2018\u02bc\uff07][sS](?![^\W_])")
_INNER_APOSTROPHE_RE = re.compile(r"(?<=[^\W_])['\u2019\u2018\u02bc\uff07](?=[^\W_])")


def fold_apostrophes(text: str) -> str:
    """Drop a possessive ``'s`` (``seller's`` -> ``seller``) and join words around other apostrophes.

    ``don't`` becomes ``dont``; straight and typographic apostrophes are treated alike. Any other apostrophe
    (a closing quote, ``sellers'``) is left alone and splits words as before.
    """
    if "'" not in text and (text.isascii() or not _ANY_APOSTROPHE_RE.search(text)):
        return text
    return _INNER_APOSTROPHE_RE.sub("", _POSSESSIVE_RE.sub("", text))


def word_set(text: str) -> frozenset[str]:
    """Return the whitespace-separated words of ``text`` as a frozenset."""
    return frozenset(text.split())


STOPWORDS = word_set(
    "a able about above after again against all also an and any api are as at based be because "
    "been before being below between both but by can could data did do does doing down during e "
    "each eg either etc few for from further g get gets had has have having he her here hers "
    "him his how i ie if in into is it its itself just let like made make makes may me might "
    "more most must my need needs new no nor not now of off on once one only or other our ours "
    "out over own per same service services shall she should so some such system than that the "
    "their theirs them then there these they this those three through to too two under until up "
    "upon us use used user users uses using very via want wants was we well were what when "
    "where which while who whom why will with within without would yes you your yours"
)
"""Words that never become keywords."""


class LoadedText:
    """PRD text with where it came from."""

    __slots__ = ("path", "text")

    def __init__(self, text: str, path: Path | None) -> None:
        """Keep ``text`` and the ``path`` it was read from (``None`` for inline text)."""
        self.text = text
        self.path = path


def _looks_like_path(source: str) -> bool:
    if not source or "\n" in source or "\r" in source or len(source) > 4096:
        return False
    if source.strip().lower().endswith(_TEXT_SUFFIXES):
        return True
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # a name too long for the filesystem, for one: it is text, not a path
        return False


def _fail(message: str, code: ErrorCode = ErrorCode.VALIDATION_ERROR, **details: object) -> OnexError:
    return OnexError(message, code=code, details=details)


def _decode(data: bytes, where: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:65536] or data.count(b"\x00") > 0:
        raise _fail(
            f"{where} looks like binary data (it contains NUL bytes), not a text PRD; "
            "save the PRD as Markdown or plain UTF-8 text",
            reason="binary",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            f"{where} is not valid UTF-8 (invalid byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start}); re-save the PRD with UTF-8 encoding",
            reason="encoding",
            offset=exc.start,
        ) from None


def _check_text(text: str, where: str) -> str:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_PRD_BYTES:
        raise _fail(
            f"{where} is too large: {size} bytes of text, the limit is {MAX_PRD_BYTES} bytes "
            f"({MAX_PRD_BYTES // (1024 * 1024)} MB); split it or keep only the parts that describe "
            "the service",
            reason="too_large",
            size=size,
            limit=MAX_PRD_BYTES,
        )
    if "\x00" in text:
        raise _fail(
            f"{where} looks like binary data (it contains NUL characters), not a text PRD",
            reason="binary",
        )
    text = text.removeprefix("\ufeff")
    if not text.replace("\ufeff", "").replace("\u200b", "").strip():
        raise _fail(
            f"{where} is empty (no text, or only whitespace); write at least a title and the "
            "requirements of the service",
            reason="empty",
        )
    sample = text[:65536]
    control = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\r\t\f")
    if control > max(8, len(sample) // 20):
        raise _fail(
            f"{where} looks like binary data ({control} control characters in the first "
            f"{len(sample)} characters), not a text PRD",
            reason="binary",
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_source(source: str | os.PathLike[str]) -> LoadedText:
    """Read ``source`` (a path, or the PRD text itself) and check it is usable text.

    Raises :class:`OnexError` with ``NOT_FOUND`` for a missing file and ``VALIDATION_ERROR`` for
    empty, binary, non-UTF-8 or oversized input.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(os.fspath(source)).expanduser()
        where = f"PRD file {str(path)!r}"
        try:
            exists, is_file = path.exists(), path.is_file()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise _fail(f"{where} cannot be used as a path: {reason}", path=str(path)) from None
        if not exists:
            raise _fail(f"{where} does not exist; check the path", ErrorCode.NOT_FOUND, path=str(path))
        if not is_file:
            raise _fail(f"{where} is not a regular file", path=str(path))
        try:
            size = path.stat().st_size
            if size > MAX_PRD_BYTES * 4 + 16:
                raise _fail(
                    f"{where} is too large: {size} bytes, the limit is {MAX_PRD_BYTES} bytes "
                    f"({MAX_PRD_BYTES // (1024 * 1024)} MB) of text",
                    reason="too_large",
                    size=size,
                    limit=MAX_PRD_BYTES,
                )
            with path.open("rb") as handle:
                data = handle.read(MAX_PRD_BYTES * 4 + 16)
        except OSError as exc:
            raise _fail(f"{where} cannot be read: {exc.strerror or exc}", ErrorCode.OPERATION_FAILED) from None
        if len(data) > MAX_PRD_BYTES + 3:
            raise _fail(
                f"{where} is too large: {len(data)} bytes, the limit is {MAX_PRD_BYTES} bytes "
                f"({MAX_PRD_BYTES // (1024 * 1024)} MB)",
                reason="too_large",
                size=len(data),
                limit=MAX_PRD_BYTES,
            )
        return LoadedText(_check_text(_decode(data, where), where), path)
    if isinstance(source, bytes | bytearray):
        return LoadedText(_check_text(_decode(bytes(source), "the PRD"), "the PRD"), None)
    if not isinstance(source, str):
        raise _fail(
            f"the PRD must be a path or a string of text, not {type(source).__name__}",
            reason="type",
        )
    return LoadedText(_check_text(source, "the PRD text"), None)


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words of ``text`` (``multi-step``: ``multi``, ``step``; ``it's``: ``it``)."""
    return _TOKEN_RE.findall(fold_apostrophes(text).lower())


def split_words(text: str) -> list[str]:
    """Words of ``text`` for identifiers: apostrophes folded, ASCII-folded, camelCase split, in order."""
    folded = unicodedata.normalize("NFKD", fold_apostrophes(text)).encode("ascii", "ignore").decode("ascii")
    words: list[str] = []
    for chunk in _WORD_RE.findall(folded):
        words.extend(_CAMEL_RE.findall(chunk))
    return words


def pascal_identifier(text: str, *, fallback: str = "Service", prefix: str = "Service") -> str:
    """Return a safe PascalCase identifier from ``text``: ASCII, not a keyword, never empty."""
    words = split_words(text)
    name = "".join(w if w.isupper() and len(w) <= 4 else w[:1].upper() + w[1:].lower() for w in words)
    if not name:
        name = fallback
    if name[0].isdigit():
        name = prefix + name
    if keyword.iskeyword(name) or keyword.iskeyword(name.lower()) or not name.isidentifier():
        name = name + prefix if name.isidentifier() else fallback
    return name


def snake_identifier(text: str, *, fallback: str = "field", prefix: str = "f") -> str:
    """Return a safe snake_case identifier from ``text``: ASCII, not a keyword, never empty."""
    words = [w.lower() for w in split_words(text)]
    name = "_".join(words)
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"{prefix}_{name}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name = f"{name}_"
    return name


def singular(word: str) -> str:
    """Return a naive English singular of a lower-case ``word`` (``categories`` -> ``category``)."""
    if len(word) <= 3:
        return word
    irregular = {
        "people": "person",
        "children": "child",
        "men": "man",
        "women": "woman",
        "data": "data",
        "criteria": "criterion",
        "indices": "index",
        "statuses": "status",
        "analyses": "analysis",
        "addresses": "address",
        "series": "series",
    }
    if word in irregular:
        return irregular[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences at ``. ``, ``! `` and ``? `` (linear, no regex)."""
    out: list[str] = []
    start = 0
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in ".!?" and (i + 1 == n or text[i + 1] in " \n\t"):
            prev = text[start:i].rstrip()
            # do not split "e.g." / "i.e." / version numbers
            if ch == "." and (prev.endswith(("e.g", "i.e", "etc", "vs")) or prev[-1:].isdigit()):
                i += 1
                continue
            piece = text[start : i + 1].strip()
            if piece:
                out.append(piece)
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out
