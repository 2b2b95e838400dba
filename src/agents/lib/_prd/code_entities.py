"""Entities from the code blocks of a PRD (private): SQL ``CREATE TABLE``, JSON examples, TypeScript interfaces."""

from __future__ import annotations

import json
import re
from typing import Any

from agents.lib._prd.drafts import (
    MAX_FIELDS,
    TYPE_WORDS,
    EntityDrafts,
    entity_name,
    field_name,
    field_type_for,
    guess_type,
    make_field,
    name_from_context,
    wire_alias,
)
from agents.lib._prd.models import EntityField, FieldType
from agents.lib._prd.parse import API, DATA_MODEL, OTHER, TECHNICAL, Block, Section, clean_heading
from agents.lib._prd.text import singular
from agents.lib.naming import pascal_case, split_words

__all__ = ["block_context", "read_json", "read_sql", "read_typescript", "section_entity"]

_TS_MEMBER_RE = re.compile(r"(?:readonly[ \t]+)?([A-Za-z_$][\w$]{0,63})(\?)?[ \t]*:[ \t]*([^;,\n]{1,200})")
_JSON_KEY_RE = re.compile(r'"([A-Za-z_][A-Za-z0-9_]{0,63})"[ \t]*:[ \t]*(\S)')
_JSON_COMMENT_RE = re.compile(r'"([A-Za-z_][A-Za-z0-9_]{0,63})"[ \t]*:[^\n]{0,300}?//[ \t]*([^\n]{1,200})')
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


# -- SQL ---------------------------------------------------------------------------------------
def read_sql(code: str, ents: EntityDrafts) -> None:
    lower = code.lower()
    pos = 0
    while True:
        idx = lower.find("create table", pos)
        if idx == -1:
            return
        open_idx = code.find("(", idx)
        if open_idx == -1:
            return
        head = code[idx + len("create table") : open_idx].split()
        head = [h for h in head if h.lower() not in ("if", "not", "exists", "temporary")]
        table = head[-1].strip('`"[]') if head else ""
        table = table.split(".")[-1]
        depth = 0
        end = open_idx
        for end in range(open_idx, min(len(code), open_idx + 100_000)):
            ch = code[end]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
        raw_lines = code[open_idx + 1 : end].split("\n")
        body = "\n".join(ln.split("--")[0] for ln in raw_lines)
        # "status VARCHAR(16) NOT NULL, -- held, confirmed, released": the comment is about its line's column
        comments: dict[str, str] = {}
        for ln in raw_lines:
            before, dash, comment = ln.partition("--")
            if dash and before.strip() and comment.strip():
                comments[before.split()[0].strip('`"[]').lower()] = comment.strip()
        pos = end + 1
        parts: list[str] = []
        buf: list[str] = []
        depth = 0
        for ch in body:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
        parts.append("".join(buf))
        fields: list[EntityField] = []
        constraints: list[tuple[str, str]] = []  # (what, text): table-level UNIQUE / CHECK / PRIMARY KEY
        for part in parts:
            line = " ".join(ln.split("--")[0] for ln in part.split("\n")).strip()
            words = line.split()
            if len(words) < 2:
                continue
            head_word = words[0].upper()
            if head_word == "CONSTRAINT" and len(words) > 2:
                head_word = words[2].upper()
                line = " ".join(words[2:])
            if head_word in ("UNIQUE", "CHECK", "PRIMARY"):
                constraints.append((head_word, line))
                continue
            if words[0].upper() in (
                "PRIMARY",
                "FOREIGN",
                "CONSTRAINT",
                "UNIQUE",
                "CHECK",
                "INDEX",
                "KEY",
                "EXCLUDE",
                "PERIOD",
            ):
                continue
            col_def = line.lower()
            required = "not null" in col_def or "primary key" in col_def
            type_text = words[1]
            if words[1].lower() in ("timestamp", "double", "character", "time") and len(words) > 2:
                type_text = (
                    " ".join(words[1:3]) if words[2].lower() in ("with", "precision", "varying") else words[1]
                )
            notes = [
                _sql_check(line),
                "unique" if " unique" in f" {col_def}" and "unique (" not in col_def else "",
            ]
            notes.append(comments.get(words[0].strip('`"[]').lower(), ""))
            description = "; ".join(n for n in notes if n)
            f = make_field(words[0].strip('`"[]'), type_text, required=required, description=description)
            if f is not None:
                fields.append(f)
        name = entity_name(table)
        ents.add(name, fields, "sql")
        known = {f.name for f in fields}
        for what, text in constraints:
            inner = text[text.find("(") + 1 : text.rfind(")")] if "(" in text else ""
            if what == "CHECK":
                column = inner.split()[0].strip('`"[]()') if inner.split() else ""
                if field_name(column) in known:
                    ents.describe(name, field_name(column), inner.strip())
                continue
            columns = tuple(field_name(c.strip().strip('`"[]')) for c in inner.split(",") if c.strip())
            if columns and all(c in known for c in columns) and (what == "UNIQUE" or len(columns) > 1):
                ents.note(name, columns, "unique", "sql")


def _sql_check(column_definition: str) -> str:
    """Return the condition of a column's ``CHECK (...)``: ``quantity > 0``."""
    lower = column_definition.lower()
    at = lower.find("check")
    if at == -1:
        return ""
    open_at = column_definition.find("(", at)
    if open_at == -1:
        return ""
    depth = 0
    for end in range(open_at, len(column_definition)):
        if column_definition[end] == "(":
            depth += 1
        elif column_definition[end] == ")":
            depth -= 1
            if depth == 0:
                return column_definition[open_at + 1 : end].strip()[:200]
    return ""


# -- JSON --------------------------------------------------------------------------------------
def _strip_json_comments(text: str) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    in_str = False
    while i < n:
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_str = False
            i += 1
            continue
        if ch == '"':
            in_str = True
            out.append(ch)
            i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            nl = text.find("\n", i)
            i = n if nl == -1 else nl
            continue
        if ch == "#" and (not out or out[-1] in " \n\t,{["):
            nl = text.find("\n", i)
            i = n if nl == -1 else nl
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "*":
            close = text.find("*/", i + 2)
            i = n if close == -1 else close + 2
            continue
        out.append(ch)
        i += 1
    cleaned = "".join(out)
    # trailing commas and "..." placeholders
    cleaned = re.sub(r",(?=[ \t\n]*[}\]])", "", cleaned)
    return cleaned.replace("...", "")


def _json_value_type(key: str, value: Any) -> tuple[FieldType, str]:
    if isinstance(value, bool):
        return FieldType.BOOL, "boolean"
    if isinstance(value, int):
        guess = guess_type(key)
        return (guess if guess in (FieldType.DECIMAL, FieldType.FLOAT) else FieldType.INT), "number"
    if isinstance(value, float):
        return (FieldType.DECIMAL if guess_type(key) is FieldType.DECIMAL else FieldType.FLOAT), "number"
    if isinstance(value, list):
        return FieldType.LIST, "array"
    if isinstance(value, dict):
        return FieldType.DICT, "object"
    if isinstance(value, str):
        if _UUID_RE.fullmatch(value):
            return FieldType.UUID, "string"
        if _DATETIME_RE.match(value):
            return FieldType.DATETIME, "string"
        if _DATE_RE.fullmatch(value):
            return FieldType.DATE, "string"
        if guess_type(key) is FieldType.DECIMAL and value.replace(".", "", 1).isdigit():
            return FieldType.DECIMAL, "string"
        return FieldType.STR, "string"
    return guess_type(key), ""


def _json_fields(obj: dict[str, Any]) -> list[EntityField]:
    out: list[EntityField] = []
    for key, value in list(obj.items())[:MAX_FIELDS]:
        if not isinstance(key, str):
            continue
        name = field_name(key)
        ftype, source = _json_value_type(name, value)
        if not any(ch.isalpha() for ch in key):
            continue
        out.append(
            EntityField(
                name=name, type=ftype, required=value is not None, source_type=source, alias=wire_alias(key, name)
            )
        )
    return out


def read_json(block: Block, section: Section, ents: EntityDrafts, known: set[str]) -> None:
    text = block.text.strip()
    if len(text) > 200_000:
        return
    try:
        data: Any = json.loads(_strip_json_comments(text))
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    name = _json_name(block, section, known)
    comments = {field_name(m.group(1)): m.group(2).strip() for m in _JSON_COMMENT_RE.finditer(text[:100_000])}
    if isinstance(data, dict):
        if len(data) == 1:
            ((key, value),) = data.items()
            if isinstance(value, dict):
                name = entity_name(key) or name
                data = value
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                name = entity_name(key) or name
                data = value[0]
        if name is None:
            ents.warnings.append(
                f"a JSON example at line {block.line} names no entity; say which entity it shows "
                "in the sentence before it"
            )
            return
        described = [
            f.model_copy(update={"description": comments[f.name][:200]}) if f.name in comments else f
            for f in _json_fields(data)
        ]
        ents.add(name, described, "json")
        return
    if data is None and name is not None:
        # invalid JSON: read top-level keys with a linear scan
        fields: list[EntityField] = []
        seen: set[str] = set()
        for m in _JSON_KEY_RE.finditer(text[:100_000]):
            key, first = m.group(1), m.group(2)
            fname = field_name(key)
            if fname in seen:
                continue
            seen.add(fname)
            if first == '"':
                ftype = guess_type(fname)
            elif first in "tf":
                ftype = FieldType.BOOL
            elif first == "[":
                ftype = FieldType.LIST
            elif first == "{":
                ftype = FieldType.DICT
            elif first.isdigit() or first == "-":
                ftype = guess_type(fname) if guess_type(fname) is FieldType.DECIMAL else FieldType.INT
            else:
                ftype = guess_type(fname)
            fields.append(
                EntityField(
                    name=fname, type=ftype, alias=wire_alias(key, fname), description=comments.get(fname, "")[:200]
                )
            )
        ents.add(name, fields, "json")
        ents.warnings.append(
            f"the JSON example at line {block.line} is not valid JSON; its keys were read one by one"
        )


_TITLE_KINDS = frozenset({DATA_MODEL, OTHER, TECHNICAL, API})


def section_entity(section: Section) -> str | None:
    """Return the entity a section's title names (``### Invoice``, ``## Reading format``) for what is in it.

    Only data model, API, technical and untitled-kind sections name entities this way: a security section's
    "XSS prevention" or a story's title is no entity.
    """
    if section.own_kind is not None or section.level == 0 or section.kind not in _TITLE_KINDS:
        return None
    return entity_name(section.title)


def block_context(block: Block, section: Section) -> str:
    """Return the text before a table or code block, unless it is the section's own heading.

    A heading names an entity only as :func:`section_entity` allows ("XSS Prevention" does not).
    """
    context = block.context or ""
    return "" if clean_heading(context) == section.title else context


def _json_name(block: Block, section: Section, known: set[str]) -> str | None:
    context = block_context(block, section)
    comment = _leading_comment(block.text)
    for text in (comment, context):
        for word in split_words(text)[:12]:
            candidate = pascal_case(singular(word.lower()))
            if candidate in known:
                return candidate
    name = name_from_context(comment) if comment else None
    if name is None:
        name = name_from_context(context)
    if name is None:
        name = section_entity(section)
    return name


def _leading_comment(code: str) -> str:
    """Return the text of a ``//`` or ``#`` comment on the first line of a code block."""
    first = code.lstrip().split("\n", 1)[0].strip()
    for marker in ("//", "#", "/*"):
        if first.startswith(marker):
            return first[len(marker) :].strip(" */")
    return ""


# -- TypeScript --------------------------------------------------------------------------------
def read_typescript(code: str, ents: EntityDrafts) -> None:
    pos = 0
    while True:
        idx_i = code.find("interface ", pos)
        idx_t = code.find("type ", pos)
        candidates = [i for i in (idx_i, idx_t) if i != -1]
        if not candidates:
            return
        idx = min(candidates)
        brace = code.find("{", idx)
        if brace == -1:
            return
        header = code[idx:brace].split()
        pos = brace + 1
        if len(header) < 2 or (header[0] == "type" and "=" not in code[idx:brace]):
            continue
        name = header[1].split("<")[0].strip("=")
        depth = 0
        end = brace
        for end in range(brace, min(len(code), brace + 50_000)):
            if code[end] == "{":
                depth += 1
            elif code[end] == "}":
                depth -= 1
                if depth == 0:
                    break
        body = code[brace + 1 : end]
        pos = end + 1
        fields: list[EntityField] = []
        depth = 0
        for raw_line in body.split("\n"):
            comment = raw_line.split("//", 1)[1].strip().lower() if "//" in raw_line else ""
            for line in raw_line.split("//")[0].split(";"):
                depth = _ts_member(line, comment, fields, depth)
        ents.add(entity_name(name), fields, "typescript")


def _ts_type(fname: str, ts_type: str) -> FieldType:
    base = ts_type.split("|")[0].strip()
    if ts_type.startswith(("'", '"')):
        return FieldType.STR
    if base == "Date":
        return FieldType.DATETIME
    if base[:1].isupper() and base.split("<")[0] not in ("Array", "Record", "Map", "Set"):
        guess = guess_type(fname)
        return guess if guess is not FieldType.STR else FieldType.DICT
    return field_type_for(fname, base)


def _ts_member(line: str, comment: str, fields: list[EntityField], depth: int) -> int:
    """Read one ``name?: type`` member into ``fields``; return the new brace depth."""
    stripped = line.strip()
    opened = stripped.count("{") - stripped.count("}")
    m = _TS_MEMBER_RE.match(stripped) if depth == 0 and stripped else None
    if m is not None:
        ts_type = m.group(3).strip().rstrip(",")
        fname = field_name(m.group(1))
        ftype = _ts_type(fname, ts_type)
        first_comment = comment.split()[0].strip(",.;:()") if comment else ""
        if first_comment in TYPE_WORDS and ftype is FieldType.STR:
            ftype = TYPE_WORDS[first_comment]
        optional = m.group(2) == "?" or "null" in ts_type or "undefined" in ts_type
        fields.append(
            EntityField(
                name=fname,
                type=ftype,
                required=not optional,
                source_type=ts_type[:40],
                description=comment[:200],
                alias=wire_alias(m.group(1), fname),
            )
        )
    return max(0, depth + opened)
