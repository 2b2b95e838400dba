"""Entity drafts (private): field types, field names and lists, entity names, and merging what each source says.

The readers in :mod:`agents.lib._prd.entities` and :mod:`agents.lib._prd.code_entities` add what they find to one
:class:`EntityDrafts`; its :meth:`~EntityDrafts.result` is the analysis's entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.lib._prd.models import Entity, EntityField, FieldType
from agents.lib._prd.text import singular, word_set
from agents.lib.naming import pascal_case, snake_case, split_words

__all__ = [
    "MAX_FIELDS",
    "TYPE_WORDS",
    "EntityDrafts",
    "entity_name",
    "field_list",
    "field_name",
    "field_type_for",
    "guess_type",
    "make_field",
    "name_from_context",
]

_MAX_ENTITIES = 40
MAX_FIELDS = 60

TYPE_WORDS: dict[str, FieldType] = {}
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
        TYPE_WORDS[_n] = _ftype

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
                guess = guess_type(name)
                if first == "number" and guess in (FieldType.INT, FieldType.DECIMAL):
                    return guess
                if first == "numeric":
                    return FieldType.DECIMAL
                return FieldType.FLOAT
            if first in TYPE_WORDS:
                return TYPE_WORDS[first]
            for w in words[1:3]:
                if w in TYPE_WORDS:
                    return TYPE_WORDS[w]
    return guess_type(name)


def guess_type(name: str) -> FieldType:
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


def entity_name(raw: str) -> str | None:
    words = [w for w in split_words(raw) if w.lower() not in _NAME_NOISE]
    if not words or len(words) > 4:
        return None
    words[-1] = singular(words[-1].lower())
    name = pascal_case(" ".join(words))
    if not name or not name.isidentifier() or name[0].isdigit():
        return None
    return name


def name_from_context(text: str) -> str | None:
    """Return an entity name from the text before a table or code block."""
    if not text:
        return None
    text = text.strip().rstrip(":").strip()
    if "`" in text:
        parts = text.split("`")
        for inner in parts[1::2]:
            if inner and len(inner.split()) <= 2 and not inner.startswith(("/", "GET", "POST")):
                name = entity_name(inner)
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
                name = entity_name(candidate)
                if name:
                    return name
    if len(words) <= 3:
        return entity_name(text)
    for i, w in enumerate(words):
        clean = w.strip(",.:;()*`'\"")
        if i > 0 and clean[:1].isupper() and clean.lower() not in _NAME_NOISE and clean.isalpha():
            return entity_name(clean)
    return None


@dataclass
class _Draft:
    name: str
    fields: dict[str, EntityField] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


class EntityDrafts:
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
            if (f.name not in draft.fields and len(draft.fields) < MAX_FIELDS) or (
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


def field_name(raw: str) -> str:
    """Return a field's snake_case name (``Due Date`` -> ``due_date``; ``2fa`` -> ``f_2fa``)."""
    return snake_case(raw, "field", prefix="f")


def make_field(
    raw_name: str, type_text: str = "", *, required: bool = True, description: str = ""
) -> EntityField | None:
    raw_name = raw_name.strip().strip("`*'\"[]")
    if not raw_name or len(raw_name) > 64 or len(raw_name.split()) > 4:
        return None
    if not any(ch.isalpha() for ch in raw_name):
        return None
    name = field_name(raw_name)
    return EntityField(
        name=name,
        type=field_type_for(name, type_text),
        required=required,
        source_type=type_text.strip()[:40],
        description=description.strip()[:200],
    )


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


def field_list(text: str) -> list[EntityField]:
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
        f = make_field(part, type_text)
        if f is not None:
            out.append(f)
    return out
