"""Entity drafts (private): field types, field names and lists, entity names, and merging what each source says.

The readers in :mod:`agents.lib._prd.entities` and :mod:`agents.lib._prd.code_entities` add what they find to one
:class:`EntityDrafts`; its :meth:`~EntityDrafts.result` is the analysis's entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.lib._prd.models import Entity, EntityField, FieldType
from agents.lib._prd.rule_clause import FieldNote
from agents.lib._prd.text import singular, word_set
from agents.lib.naming import pascal_case, safe_class_name, safe_field_name, snake_case, split_words

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
    "count quantity qty age year years days hours minutes seconds weeks months nights "
    "position rank page size limit attempts retries capacity servings"
)
# "<word>_time" is a moment for these words; "lead_time" or "response_time" is a duration, left as text
_MOMENTS = word_set(
    "start end pickup return arrival departure check open close opening closing finish begin due delivery "
    "event appointment booking meeting pick drop dropoff"
)
_FLOATS = word_set(
    "score ratio rate percentage percent latitude longitude lat lng lon weight height width average mean"
)
_BOOLS = word_set("active enabled disabled deleted verified approved paid archived visible available overdue")
_DICTS = word_set("metadata attributes properties settings payload config configuration extra context labels_map")
_LISTS = word_set("tags items lines line_items roles labels attachments permissions categories")

_PASCAL_RE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+")
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
    """Return a field's type from the whole words of its name (``due_date``: date; ``update``: str)."""
    n = name.lower()
    parts = n.split("_")
    last = parts[-1]
    if n == "id" or last in ("id", "uuid", "guid"):
        return FieldType.UUID
    if last in ("at", "timestamp", "datetime") or n in ("created", "updated", "timestamp"):
        return FieldType.DATETIME
    if last == "time" and len(parts) > 1 and parts[-2] in _MOMENTS:
        return FieldType.DATETIME
    if last in ("on", "date", "birthday", "dob") or "date" in parts:
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
    """Return an entity's PascalCase name from a phrase (``line items`` -> ``LineItem``), or ``None``.

    A single PascalCase word is kept whole (``ReturnRequest``), noise words and all; names made only of numbers
    are refused.
    """
    stripped = raw.strip().strip("`*'\"")
    if _PASCAL_RE.fullmatch(stripped):
        words = split_words(stripped)
    else:
        words = [w for w in split_words(raw) if w.lower() not in _NAME_NOISE]
    if not words or len(words) > 4 or words[0][:1].isdigit():
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
    # "A click is recorded as", "Subscription as returned by GET ...", "POST /links creates a link"
    lead = _LEAD_NOUN_RE.match(text)
    if lead is not None:
        name = entity_name(lead.group(1))
        if name:
            return name
    rest = _REST_RE.search(text)
    if rest is not None:
        segments = [
            s for s in rest.group(1).split("/") if s and not s.startswith(("{", ":", "<", "v1", "v2", "api"))
        ]
        if segments:
            return entity_name(segments[-1].replace("-", " ").replace("_", " "))
    for i, w in enumerate(words):
        clean = w.strip(",.:;()*`'\"")
        if (
            i > 0
            and clean[:1].isupper()
            and not clean.isupper()
            and clean.lower() not in _NAME_NOISE
            and clean.isalpha()
        ):
            return entity_name(clean)
    return None


_LEAD_NOUN_RE = re.compile(
    r"(?:(?:a|an|the|each|every|one)\s+)?([A-Za-z][a-z]+(?:\s[a-z]+)?)\s+"
    r"(?:is|are|as|looks|record|records|example|payload|object|returned|sent|stored)\b",
    re.IGNORECASE,
)
_REST_RE = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\s+(/[\w/{}:<>.-]{1,200})")


@dataclass
class _Draft:
    name: str
    fields: dict[str, EntityField] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # field name -> the source that gave it


_TYPED_SOURCES = frozenset({"sql", "json", "typescript", "table"})
_WIRE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def wire_alias(raw: str, name: str) -> str | None:
    """Return the PRD's spelling of a field when it is a wire name that differs from ``name`` (``sellerId``)."""
    raw = raw.strip().strip("`*'\"[]")
    return raw if raw != name and _WIRE_NAME_RE.fullmatch(raw) else None


class EntityDrafts:
    """What the readers found about each entity, merged by name; :meth:`result` gives the entities."""

    def __init__(self) -> None:
        self.drafts: dict[str, _Draft] = {}
        self.warnings: list[str] = []
        self.notes: list[FieldNote] = []

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
                old = draft.fields.get(f.name)
                if old is not None and not f.description and old.description:
                    f = f.model_copy(update={"description": old.description})
                draft.fields[f.name] = f
                draft.origins.setdefault(f.name, source)
            elif f.name in draft.fields and f.description and not draft.fields[f.name].description:
                draft.fields[f.name] = draft.fields[f.name].model_copy(update={"description": f.description})

    def note(self, entity: str | None, fields: tuple[str, ...], text: str, origin: str) -> None:
        """Record what the PRD says about several fields at once (``UNIQUE (a, b)``)."""
        if entity and fields and text:
            self.notes.append(FieldNote(entity, fields, text[:300], origin))

    def describe(self, entity: str | None, field_name: str, text: str) -> None:
        """Add ``text`` (a SQL ``CHECK``, a JSON comment) to the description of a field already found."""
        draft = self.drafts.get(entity or "")
        found = draft.fields.get(field_name) if draft is not None else None
        if draft is None or found is None or not text.strip():
            return
        joined = "; ".join(p for p in (found.description, text.strip()) if p)[:200]
        draft.fields[field_name] = found.model_copy(update={"description": joined})

    def result(self) -> tuple[Entity, ...]:
        """Return the entities: fields typed from what the PRD states, reserved names changed (aliases kept)."""
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
        entities: list[Entity] = []
        renamed: dict[str, tuple[str, dict[str, str]]] = {}
        for d in self.drafts.values():
            kept = dict(d.fields)
            if _TYPED_SOURCES.intersection(d.sources):
                # a sentence's loose words ("a debtor account IBAN") do not add to a typed definition
                kept = {n: f for n, f in kept.items() if d.origins.get(n) != "phrase"}
            if not kept:
                continue
            name = safe_class_name(d.name)
            fields: list[EntityField] = []
            names: dict[str, str] = {}
            taken = set(kept)
            for f in kept.values():
                new = safe_field_name(f.name, d.name)
                if new != f.name:
                    while new in taken:
                        new = f"{new}_value"
                    taken.add(new)
                    f = f.model_copy(update={"name": new, "alias": f.alias or f.name})
                names[f.name if new == f.name else f.alias or f.name] = new
                fields.append(f)
            renamed[d.name] = (name, names)
            entities.append(
                Entity(
                    name=name,
                    fields=tuple(fields),
                    sources=tuple(d.sources),
                    alias=d.name if name != d.name else None,
                )
            )
        notes: list[FieldNote] = []
        for note in self.notes:
            target = renamed.get(note.entity)
            if target is not None:
                mapped = tuple(target[1].get(f, f) for f in note.fields)
                notes.append(FieldNote(target[0], mapped, note.text, note.origin))
        self.notes = notes
        return tuple(entities)


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
        alias=wire_alias(raw_name, name),
    )


_LOOSE_TRAILING_TYPES = frozenset({"flag", "boolean", "timestamp", "count", "uuid", "datetime"})
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


def field_list(text: str, *, strict: bool = False) -> list[EntityField]:
    """Fields from ``isbn, title (string), due_date: date and copies``.

    ``strict``: every part must read as a field (at most three words, no number, no preposition), else nothing
    is returned: "38 gyms and sells memberships at the front desk" lists no fields.
    """
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
        if strict and not _field_like(part):
            return []
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
            lowered = [w.lower() for w in words]
            if lowered[:3] in (["date", "of", "birth"], ["place", "of", "birth"]) and len(words) == 3:
                pass  # "a date of birth" is one field
            elif any(w in ("of", "for", "with", "to", "from", "that", "which", "each", "every") for w in lowered):
                continue  # a phrase, not a field name ("keeps each member's balance")
            # "a joined_on date", "an available flag", "a borrowed_at timestamp", "a servings count"; but
            # "a phone number" is the field phone_number and "a start time" start_time
            if (
                len(words) == 2
                and lowered[1] in _TRAILING_TYPES
                and ("_" in words[0] or lowered[1] in _LOOSE_TRAILING_TYPES)
            ):
                part, type_text = words[0], _TRAILING_TYPES[lowered[1]]
        f = make_field(part, type_text)
        if f is not None:
            out.append(f)
        elif strict:
            return []
    return out


_PROSE_WORDS = word_set("at in on by into over under via per than is are was were will can")


def _field_like(part: str) -> bool:
    head = part.split("(")[0].split(":")[0].strip()
    words = head.split()
    if not words or len(words) > 3 or head[:1].isdigit():
        return False
    lowered = [w.lower() for w in words]
    if lowered == ["date", "of", "birth"] or lowered == ["place", "of", "birth"]:
        return True
    return not any(w in _PROSE_WORDS for w in lowered)
