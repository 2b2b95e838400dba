"""Entities and their fields, from tables, SQL DDL, JSON, TypeScript, phrases and bullets (private)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agents.lib._prd_models import Entity, EntityField, FieldType
from agents.lib._prd_parse import DATA_MODEL, IGNORED, OUT_OF_SCOPE, Block, Document, Section
from agents.lib._prd_text import pascal_identifier, sentences, singular, snake_identifier, split_words, word_set

__all__ = ["extract_entities", "field_type_for"]

_MAX_ENTITIES = 40
_MAX_FIELDS = 60
_TS_MEMBER_RE = re.compile(r"(?:readonly[ \t]+)?([A-Za-z_$][\w$]{0,63})(\?)?[ \t]*:[ \t]*([^;,\n]{1,200})")
_JSON_KEY_RE = re.compile(r'"([A-Za-z_][A-Za-z0-9_]{0,63})"[ \t]*:[ \t]*(\S)')
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

_TYPE_WORDS: dict[str, FieldType] = {}
for _names, _ftype in (
    ("str string text varchar char character citext enum email url uri nvarchar clob name phone", FieldType.STR),
    (
        "int integer bigint smallint tinyint serial bigserial smallserial long int32 int64 short count",
        FieldType.INT,
    ),
    ("float double real number float32 float64 percent percentage", FieldType.FLOAT),
    ("decimal numeric money currency amount", FieldType.DECIMAL),
    ("bool boolean bit flag", FieldType.BOOL),
    ("timestamp timestamptz datetime instant time", FieldType.DATETIME),
    ("date", FieldType.DATE),
    ("uuid guid", FieldType.UUID),
    ("json jsonb object map dict dictionary hash record hstore struct", FieldType.DICT),
    ("array list set tuple sequence", FieldType.LIST),
):
    for _n in _names.split():
        _TYPE_WORDS[_n] = _ftype

_MONEY = word_set(
    "amount price total subtotal cost balance fee fees tax vat salary discount charge refund revenue payment"
)
_INTS = word_set(
    "count quantity qty age year years days hours minutes seconds number "
    "position rank page size limit attempts retries version"
)
_FLOATS = word_set(
    "score ratio rate percentage percent latitude longitude lat lng lon weight height width average mean"
)
_BOOLS = word_set("active enabled disabled deleted verified approved paid archived visible available overdue")
_DICTS = word_set("metadata attributes properties settings payload config configuration extra context labels_map")
_LISTS = word_set("tags items lines line_items roles labels attachments permissions categories")
_BAD_SUBJECTS = word_set(
    "system service platform application app api it this that there we which solution team page "
    "each who user's users they he she one everyone everything nothing something ui frontend "
    "backend database project product document prd"
)
_SUBJECT_SKIP = frozenset(
    {"each", "every", "a", "an", "the", "any", "all", "this", "that", "these", "those", "our", "its"}
)
_HAS_MARKERS = (
    " has the following fields ",
    " has fields ",
    " with fields ",
    " has ",
    " have ",
    " contains ",
    " consists of ",
    " includes ",
    " is made of ",
    " records ",
    " stores ",
    " is described by ",
    " fields are ",
)
_NAME_NOISE = word_set(
    "the a an each every entity entities table tables model models object objects record "
    "records resource resources schema fields field following example sample payload json "
    "request response body data structure structures shape interface type definition "
    "definitions of for is are has have with and looks like this below as typescript sql ddl "
    "columns column attributes properties create new our format formats shape looks"
)


def field_type_for(name: str, type_text: str = "") -> FieldType:
    """Return the field type from the PRD's type text, else guessed from the field name."""
    t = type_text.strip().lower()
    if t:
        if t.endswith("[]") or t.startswith(("array", "list", "set<", "list<", "array<")):
            return FieldType.LIST
        if t.startswith(("record<", "map<", "dict[", "{")):
            return FieldType.DICT
        if "timestamp" in t or "datetime" in t:
            return FieldType.DATETIME
        words = [w for w in re.split(r"[^a-z0-9]+", t) if w]
        if words:
            first = words[0]
            if first in ("number", "numeric") and name:
                guess = _guess(name)
                if first == "number" and guess in (FieldType.INT, FieldType.DECIMAL):
                    return guess
                if first == "numeric":
                    return FieldType.DECIMAL
                return FieldType.FLOAT
            if first in _TYPE_WORDS:
                return _TYPE_WORDS[first]
            for w in words[1:3]:
                if w in _TYPE_WORDS:
                    return _TYPE_WORDS[w]
    return _guess(name)


def _guess(name: str) -> FieldType:
    n = name.lower()
    parts = n.split("_")
    last = parts[-1]
    if n == "id" or last in ("id", "uuid", "guid"):
        return FieldType.UUID
    if last in ("at", "timestamp", "datetime") or n in ("created", "updated", "timestamp"):
        return FieldType.DATETIME
    if last in ("on", "date", "day", "birthday", "dob", "birth") or n.endswith("date"):
        return FieldType.DATE
    if parts[0] in ("is", "has", "can", "should", "allow") or n in _BOOLS:
        return FieldType.BOOL
    if last in _MONEY or n in _MONEY:
        return FieldType.DECIMAL
    if last in _INTS or n.startswith(("num_", "number_of", "total_count")) or last == "count":
        return FieldType.INT
    if last in _FLOATS or n in _FLOATS:
        return FieldType.FLOAT
    if n in _DICTS:
        return FieldType.DICT
    if n in _LISTS:
        return FieldType.LIST
    return FieldType.STR


def _entity_name(raw: str) -> str | None:
    words = [w for w in split_words(raw) if w.lower() not in _NAME_NOISE]
    if not words or len(words) > 4:
        return None
    words[-1] = singular(words[-1].lower())
    name = pascal_identifier(" ".join(words), fallback="")
    if not name or not name.isidentifier() or name[0].isdigit():
        return None
    return name


def _name_from_context(text: str) -> str | None:
    """Return an entity name from the text before a table or code block."""
    if not text:
        return None
    text = text.strip().rstrip(":").strip()
    if "`" in text:
        parts = text.split("`")
        for inner in parts[1::2]:
            if inner and len(inner.split()) <= 2 and not inner.startswith(("/", "GET", "POST")):
                name = _entity_name(inner)
                if name:
                    return name
    words = text.split()
    lowered = [w.lower().strip(",.:;()*") for w in words]
    for i, w in enumerate(lowered):
        if (
            w
            in (
                "entity",
                "table",
                "model",
                "object",
                "record",
                "resource",
                "schema",
                "payload",
                "interface",
                "fields",
                "columns",
                "attributes",
            )
            and i > 0
        ):
            candidate = words[i - 1].strip(",.:;()*`'\"")
            if candidate.lower() not in _NAME_NOISE:
                name = _entity_name(candidate)
                if name:
                    return name
    if len(words) <= 3:
        return _entity_name(text)
    for i, w in enumerate(words):
        clean = w.strip(",.:;()*`'\"")
        if i > 0 and clean[:1].isupper() and clean.lower() not in _NAME_NOISE and clean.isalpha():
            return _entity_name(clean)
    return None


@dataclass
class _Draft:
    name: str
    fields: dict[str, EntityField] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


class _Entities:
    def __init__(self) -> None:
        self.drafts: dict[str, _Draft] = {}
        self.warnings: list[str] = []

    def add(self, name: str | None, fields: list[EntityField], source: str) -> None:
        if not name or (not fields and name not in self.drafts):
            return
        draft = self.drafts.get(name)
        if draft is None:
            if len(self.drafts) >= _MAX_ENTITIES:
                return
            draft = self.drafts[name] = _Draft(name)
        if source not in draft.sources:
            draft.sources.append(source)
        for f in fields:
            if (f.name not in draft.fields and len(draft.fields) < _MAX_FIELDS) or (
                f.name in draft.fields and draft.fields[f.name].source_type == "" and f.source_type
            ):
                draft.fields[f.name] = f

    def result(self) -> tuple[Entity, ...]:
        # a field whose type was only guessed from its name takes the type another entity
        # states for the same field name ("tenant_id" typed in a JSON example, untyped in bullets)
        stated: dict[str, EntityField] = {}
        for d in self.drafts.values():
            for f in d.fields.values():
                if f.source_type and f.name not in stated:
                    stated[f.name] = f
        for d in self.drafts.values():
            for fname, f in list(d.fields.items()):
                known = stated.get(fname)
                if not f.source_type and known is not None and known.type is not f.type:
                    d.fields[fname] = f.model_copy(update={"type": known.type})
        return tuple(
            Entity(name=d.name, fields=tuple(d.fields.values()), sources=tuple(d.sources))
            for d in self.drafts.values()
            if d.fields
        )


def _make_field(
    raw_name: str, type_text: str = "", *, required: bool = True, description: str = ""
) -> EntityField | None:
    raw_name = raw_name.strip().strip("`*'\"[]")
    if not raw_name or len(raw_name) > 64 or len(raw_name.split()) > 4:
        return None
    if not any(ch.isalpha() for ch in raw_name):
        return None
    name = snake_identifier(raw_name)
    return EntityField(
        name=name,
        type=field_type_for(name, type_text),
        required=required,
        source_type=type_text.strip()[:40],
        description=description.strip()[:200],
    )


# -- tables ------------------------------------------------------------------------------------
_FIELD_COLS = ("field", "field name", "column", "column name", "attribute", "property", "name", "key", "fields")
_TYPE_COLS = ("type", "data type", "datatype", "format", "kind", "sql type")
_DESC_COLS = ("description", "notes", "meaning", "details", "comment")
_REQ_COLS = ("required", "nullable", "optional", "null")
_ENTITY_COLS = ("entity", "table", "model", "object", "resource")
_LIST_COLS = ("fields", "attributes", "columns", "properties", "key fields")


def _col(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for n in names:
        if n in lowered:
            return lowered.index(n)
    return None


_TRAILING_TYPES = {
    "date": "date",
    "timestamp": "timestamp",
    "datetime": "datetime",
    "flag": "boolean",
    "boolean": "boolean",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "uuid": "uuid",
    "decimal": "decimal",
    "amount": "decimal",
    "count": "integer",
    "list": "list",
}


def _field_list(text: str) -> list[EntityField]:
    """Fields from ``isbn, title (string), due_date: date and copies``."""
    out: list[EntityField] = []
    text = text.replace(" and ", ", ").replace(";", ",")
    depth = 0
    parts: list[str] = []
    buf: list[str] = []
    for ch in text[:4000]:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    for part in parts:
        part = part.strip().rstrip(".")
        for art in ("a ", "an ", "the ", "its ", "their ", "optional ", "an optional "):
            if part.lower().startswith(art):
                part = part[len(art) :]
        if not part:
            continue
        type_text = ""
        if "(" in part and part.endswith(")"):
            part, type_text = part.split("(", 1)
            type_text = type_text[:-1].split(",")[0]
        elif ":" in part:
            part, type_text = part.split(":", 1)
        else:
            words = part.split()
            if len(words) >= 3 and words[0].lower() in ("list", "set", "array") and (words[1].lower() == "of"):
                part, type_text, words = " ".join(words[2:]), "list", []
            if any(
                w.lower() in ("of", "for", "with", "to", "from", "that", "which", "each", "every") for w in words
            ):
                continue  # a phrase, not a field name ("keeps each member's balance")
            # "a joined_on date", "an available flag", "a borrowed_at timestamp"
            if (
                len(words) == 2
                and words[1].lower() in _TRAILING_TYPES
                and ("_" in words[0] or words[1].lower() != "date")
            ):
                part, type_text = words[0], _TRAILING_TYPES[words[1].lower()]
        f = _make_field(part, type_text)
        if f is not None:
            out.append(f)
    return out


def _from_table(block: Block, section: Section, ents: _Entities) -> None:
    if len(block.rows) < 2 or len(block.rows[0]) > 20:
        return
    header = block.rows[0]
    ent_col = _col(header, _ENTITY_COLS)
    list_col = _col(header, _LIST_COLS)
    if ent_col is not None and list_col is not None and ent_col != list_col:
        for row in block.rows[1:]:
            if max(ent_col, list_col) < len(row):
                ents.add(_entity_name(row[ent_col]), _field_list(row[list_col]), "table")
        return
    name_col = _col(header, _FIELD_COLS)
    type_col = _col(header, _TYPE_COLS)
    if name_col is None or (type_col is None and section.kind != DATA_MODEL):
        return
    desc_col = _col(header, _DESC_COLS)
    req_col = _col(header, _REQ_COLS)
    req_header = header[req_col].strip().lower() if req_col is not None else ""
    grouped: dict[str | None, list[EntityField]] = {}
    default_name = _name_from_context(block.context) if block.context else None
    if default_name is None and section.own_kind is None and section.level > 0:
        default_name = _entity_name(section.title)
    if default_name is None:
        # "The table above describes the `Claim` entity."
        after = section.blocks[section.blocks.index(block) + 1 :][:1]
        if after and after[0].kind == "paragraph" and "above" in after[0].text.lower():
            default_name = _name_from_context(after[0].text)
    for row in block.rows[1:]:
        if name_col >= len(row):
            continue
        type_text = row[type_col] if type_col is not None and type_col < len(row) else ""
        desc = row[desc_col] if desc_col is not None and desc_col < len(row) else ""
        required = True
        if req_col is not None and req_col < len(row):
            cell = row[req_col].strip().lower()
            yes = cell in ("yes", "y", "true", "x", "required", "\u2713", "\u2714")
            required = not yes if req_header in ("nullable", "optional", "null") else (yes or cell == "")
        if "optional" in type_text.lower() or "nullable" in type_text.lower():
            required = False
        f = _make_field(row[name_col], type_text, required=required, description=desc)
        if f is None:
            continue
        ent = _entity_name(row[ent_col]) if ent_col is not None and ent_col < len(row) else None
        grouped.setdefault(ent or default_name, []).append(f)
    for name, fields in grouped.items():
        if name is None:
            ents.warnings.append(
                f"a table of fields at line {block.line} names no entity; name it in a heading "
                "or the sentence before it"
            )
            continue
        ents.add(name, fields, "table")


# -- SQL ---------------------------------------------------------------------------------------
def _from_sql(code: str, ents: _Entities) -> None:
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
        body = "\n".join(ln.split("--")[0] for ln in code[open_idx + 1 : end].split("\n"))
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
        for part in parts:
            line = " ".join(ln.split("--")[0] for ln in part.split("\n")).strip()
            words = line.split()
            if len(words) < 2:
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
            f = _make_field(words[0].strip('`"[]'), type_text, required=required)
            if f is not None:
                fields.append(f)
        ents.add(_entity_name(table), fields, "sql")


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
        guess = _guess(key)
        return (guess if guess in (FieldType.DECIMAL, FieldType.FLOAT) else FieldType.INT), "number"
    if isinstance(value, float):
        return (FieldType.DECIMAL if _guess(key) is FieldType.DECIMAL else FieldType.FLOAT), "number"
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
        if _guess(key) is FieldType.DECIMAL and value.replace(".", "", 1).isdigit():
            return FieldType.DECIMAL, "string"
        return FieldType.STR, "string"
    return _guess(key), ""


def _json_fields(obj: dict[str, Any]) -> list[EntityField]:
    out: list[EntityField] = []
    for key, value in list(obj.items())[:_MAX_FIELDS]:
        if not isinstance(key, str):
            continue
        name = snake_identifier(key)
        ftype, source = _json_value_type(name, value)
        if not any(ch.isalpha() for ch in key):
            continue
        out.append(EntityField(name=name, type=ftype, required=value is not None, source_type=source))
    return out


def _from_json(block: Block, section: Section, ents: _Entities, known: set[str]) -> None:
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
    if isinstance(data, dict):
        if len(data) == 1:
            ((key, value),) = data.items()
            if isinstance(value, dict):
                name = _entity_name(key) or name
                data = value
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                name = _entity_name(key) or name
                data = value[0]
        if name is None:
            ents.warnings.append(
                f"a JSON example at line {block.line} names no entity; say which entity it shows "
                "in the sentence before it"
            )
            return
        ents.add(name, _json_fields(data), "json")
        return
    if data is None and name is not None:
        # invalid JSON: read top-level keys with a linear scan
        fields: list[EntityField] = []
        seen: set[str] = set()
        for m in _JSON_KEY_RE.finditer(text[:100_000]):
            key, first = m.group(1), m.group(2)
            fname = snake_identifier(key)
            if fname in seen:
                continue
            seen.add(fname)
            if first == '"':
                ftype = _guess(fname)
            elif first in "tf":
                ftype = FieldType.BOOL
            elif first == "[":
                ftype = FieldType.LIST
            elif first == "{":
                ftype = FieldType.DICT
            elif first.isdigit() or first == "-":
                ftype = _guess(fname) if _guess(fname) is FieldType.DECIMAL else FieldType.INT
            else:
                ftype = _guess(fname)
            fields.append(EntityField(name=fname, type=ftype))
        ents.add(name, fields, "json")
        ents.warnings.append(
            f"the JSON example at line {block.line} is not valid JSON; its keys were read one by one"
        )


def _json_name(block: Block, section: Section, known: set[str]) -> str | None:
    context = block.context or ""
    for word in split_words(context):
        candidate = pascal_identifier(singular(word.lower()), fallback="")
        if candidate in known:
            return candidate
    name = _name_from_context(context)
    if name is None and section.own_kind is None and section.level > 0:
        name = _entity_name(section.title)
    return name


# -- TypeScript --------------------------------------------------------------------------------
def _from_typescript(code: str, ents: _Entities) -> None:
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
        ents.add(_entity_name(name), fields, "typescript")


def _ts_type(fname: str, ts_type: str) -> FieldType:
    base = ts_type.split("|")[0].strip()
    if ts_type.startswith(("'", '"')):
        return FieldType.STR
    if base == "Date":
        return FieldType.DATETIME
    if base[:1].isupper() and base.split("<")[0] not in ("Array", "Record", "Map", "Set"):
        guess = _guess(fname)
        return guess if guess is not FieldType.STR else FieldType.DICT
    return field_type_for(fname, base)


def _ts_member(line: str, comment: str, fields: list[EntityField], depth: int) -> int:
    """Read one ``name?: type`` member into ``fields``; return the new brace depth."""
    stripped = line.strip()
    opened = stripped.count("{") - stripped.count("}")
    m = _TS_MEMBER_RE.match(stripped) if depth == 0 and stripped else None
    if m is not None:
        ts_type = m.group(3).strip().rstrip(",")
        fname = snake_identifier(m.group(1))
        ftype = _ts_type(fname, ts_type)
        first_comment = comment.split()[0].strip(",.;:()") if comment else ""
        if first_comment in _TYPE_WORDS and ftype is FieldType.STR:
            ftype = _TYPE_WORDS[first_comment]
        optional = m.group(2) == "?" or "null" in ts_type or "undefined" in ts_type
        fields.append(EntityField(name=fname, type=ftype, required=not optional, source_type=ts_type[:40]))
    return max(0, depth + opened)


# -- phrases and bullets -----------------------------------------------------------------------
def _from_phrase(sentence: str, ents: _Entities, in_data_model: bool) -> None:
    flat = " " + " ".join(sentence.split()) + " "
    lower = flat.lower()
    for marker in _HAS_MARKERS:
        idx = lower.find(marker)
        if idx == -1:
            continue
        subject_words = [w for w in flat[:idx].split() if w.lower() not in _SUBJECT_SKIP]
        if not 1 <= len(subject_words) <= 2:
            return
        subject = " ".join(subject_words).strip("*`:,")
        head = subject_words[-1].lower().strip("*`:,")
        if any(w in _BAD_SUBJECTS for w in (subject.lower(), subject.lower().rstrip("s"), head, head.rstrip("s"))):
            return
        if not (in_data_model or subject[:1].isupper() or subject_words[0] != flat.split()[0]):
            return
        rest = flat[idx + len(marker) :].strip().rstrip(".").lstrip(":").strip()
        fields = _field_list(rest)
        if len(fields) < 2 or any(len(f.name.split("_")) > 4 for f in fields):
            return
        ents.add(_entity_name(subject), fields, "phrase")
        return


def _from_bullets(section: Section, ents: _Entities, all_blocks: list[Block], block_pos: dict[int, int]) -> None:
    entity_heading = _entity_name(section.title) if section.own_kind is None else None
    pos = block_pos
    items = [b for b in section.blocks if b.kind == "item"]
    children: dict[int, list[Block]] = {}
    for b in items:
        if b.parent_item is not None:
            children.setdefault(b.parent_item, []).append(b)
    for b in items:
        text = b.text.strip()
        kids = children.get(pos[id(b)], [])
        if b.depth == 0 and kids:
            name = _entity_name(text.split(":")[0].split("(")[0].split(" - ")[0])
            fields = [f for f in (_field_item(k.text) for k in kids) if f is not None]
            ents.add(name, fields, "bullets")
            continue
        if b.depth > 0 and b.parent_item is not None and all_blocks[b.parent_item] in items:
            continue
        head, sep, rest = _split_head(text)
        if sep and head and len(head.split()) <= 3 and ("," in rest or " and " in rest):
            ents.add(_entity_name(head), _field_list(rest), "bullets")
        elif entity_heading is not None:
            f = _field_item(text)
            if f is not None:
                ents.add(entity_heading, [f], "bullets")


def _split_head(text: str) -> tuple[str, str, str]:
    for sep in (":", " \u2014 ", " \u2013 ", " - "):
        if sep in text:
            head, rest = text.split(sep, 1)
            return head.strip(), sep, rest.strip()
    if "(" in text and text.endswith(")"):
        head, rest = text.split("(", 1)
        return head.strip(), "(", rest[:-1]
    return text, "", ""


def _field_item(text: str) -> EntityField | None:
    """Read a field bullet: ``isbn (string): the ISBN`` / ``due_date: date`` / ``title - text``."""
    head, sep, rest = _split_head(text)
    type_text = ""
    desc = ""
    if "(" in head and ")" in head:
        head, inner = head.split("(", 1)
        type_text = inner.split(")")[0].split(",")[0]
        desc = rest
    elif sep:
        first = rest.split()[0].strip(",.;()").lower() if rest.split() else ""
        if first in _TYPE_WORDS or first.endswith("[]"):
            type_text = first
        desc = rest
    if len(head.split()) > 3:
        return None
    return _make_field(head, type_text, description=desc)


def extract_entities(doc: Document) -> tuple[tuple[Entity, ...], list[str]]:
    """Entities with their fields, merged by name across every source in the document."""
    ents = _Entities()
    codes: list[tuple[Block, Section]] = []
    block_pos = {id(b): n for n, b in enumerate(doc.blocks)}
    for section in doc.sections:
        if section.kind == OUT_OF_SCOPE:
            continue
        for b in section.blocks:
            if b.kind == "table":
                _from_table(b, section, ents)
            elif b.kind == "code":
                codes.append((b, section))
    for b, _section in codes:
        low = b.text.lower()
        if "create table" in low:
            _from_sql(b.text, ents)
        if b.lang in ("ts", "typescript", "tsx") or "interface " in b.text:
            _from_typescript(b.text, ents)
    for section in doc.sections:
        if section.kind in (OUT_OF_SCOPE, IGNORED):
            continue
        in_dm = section.kind == DATA_MODEL
        if in_dm:
            _from_bullets(section, ents, doc.blocks, block_pos)
        for b in section.blocks:
            if b.kind in ("paragraph", "item"):
                for sentence in sentences(b.text[:5000]):
                    _from_phrase(sentence, ents, in_dm)
    known = set(ents.drafts)
    for b, section in codes:
        stripped = b.text.lstrip()
        if b.lang in ("json", "jsonc", "json5") or (
            b.lang in ("", "js", "javascript", "text") and stripped[:1] in "{["
        ):
            _from_json(b, section, ents, known)
    return ents.result(), ents.warnings
