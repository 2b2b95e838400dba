"""Reading a PRD safely: a path or the text itself, checked to be usable text before anything parses it."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from agents.lib.errors import ErrorCode, OnexError

__all__ = ["MAX_PRD_BYTES", "LoadedText", "load_source"]

MAX_PRD_BYTES = 2 * 1024 * 1024
"""The largest PRD accepted, in bytes of UTF-8 text (2 MB)."""

_TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".mdown", ".text", ".rst")


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
