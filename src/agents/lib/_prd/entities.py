"""Entities and their fields from a PRD's tables, phrases and bullets, merged with its code blocks' (private)."""

from __future__ import annotations

import re

from agents.lib._prd.code_entities import block_context, read_json, read_sql, read_typescript, section_entity
from agents.lib._prd.drafts import (
    TYPE_WORDS,
    EntityDrafts,
    entity_name,
    field_list,
    make_field,
    name_from_context,
)
from agents.lib._prd.models import Entity, EntityField
from agents.lib._prd.parse import DATA_MODEL, IGNORED, OUT_OF_SCOPE, Block, Document, Section
from agents.lib._prd.rule_clause import FieldNote
from agents.lib._prd.text import sentences, word_set

__all__ = ["extract_entities"]

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


def _from_table(block: Block, section: Section, ents: EntityDrafts) -> None:
    if len(block.rows) < 2 or len(block.rows[0]) > 20:
        return
    header = block.rows[0]
    ent_col = _col(header, _ENTITY_COLS)
    list_col = _col(header, _LIST_COLS)
    if ent_col is not None and list_col is not None and ent_col != list_col:
        for row in block.rows[1:]:
            if max(ent_col, list_col) < len(row):
                ents.add(entity_name(row[ent_col]), field_list(row[list_col]), "table")
        return
    name_col = _col(header, _FIELD_COLS)
    type_col = _col(header, _TYPE_COLS)
    if name_col is None or (type_col is None and section.kind != DATA_MODEL):
        return
    desc_col = _col(header, _DESC_COLS)
    req_col = _col(header, _REQ_COLS)
    req_header = header[req_col].strip().lower() if req_col is not None else ""
    grouped: dict[str | None, list[EntityField]] = {}
    context = block_context(block, section)
    default_name = name_from_context(context) if context else None
    if default_name is None:
        default_name = section_entity(section)
    if default_name is None:
        # "The table above describes the `Claim` entity."
        after = section.blocks[section.blocks.index(block) + 1 :][:1]
        if after and after[0].kind == "paragraph" and "above" in after[0].text.lower():
            default_name = name_from_context(after[0].text)
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
        f = make_field(row[name_col], type_text, required=required, description=desc)
        if f is None:
            continue
        ent = entity_name(row[ent_col]) if ent_col is not None and ent_col < len(row) else None
        grouped.setdefault(ent or default_name, []).append(f)
    for name, fields in grouped.items():
        if name is None:
            ents.warnings.append(
                f"a table of fields at line {block.line} names no entity; name it in a heading "
                "or the sentence before it"
            )
            continue
        ents.add(name, fields, "table")


# -- phrases and bullets -----------------------------------------------------------------------
_LEADING_ID_RE = re.compile(r"\s*\[?(?:[A-Z]{1,6}-){1,2}\d{1,5}\]?[:.)]?\s+|\s*[A-Z]{1,4}\d{1,4}[:.)]\s+")


def _from_phrase(sentence: str, ents: EntityDrafts, in_data_model: bool) -> None:
    """Fields from "A loan has a loan_id, a member_id and a due_date" (every part must read as a field)."""
    m = _LEADING_ID_RE.match(sentence)
    if m is not None:
        sentence = sentence[m.end() :]
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
        if not (in_data_model or subject[:1].isupper() or subject_words[0] != flat.split()[0]):
            return
        rest = flat[idx + len(marker) :].strip().rstrip(".").lstrip(":").strip()
        fields = field_list(rest, strict=True)
        if len(fields) < 2 or any(len(f.name.split("_")) > 4 for f in fields):
            return
        bad = any(
            w in _BAD_SUBJECTS for w in (subject.lower(), subject.lower().rstrip("s"), head, head.rstrip("s"))
        )
        if bad and sum("_" in part for part in rest.replace(" and ", ",").split(",")) < 2:
            return  # "the application has a login page"; but "an application has an application_id, ..."
        ents.add(entity_name(subject), fields, "phrase")
        return


def _from_bullets(
    section: Section, ents: EntityDrafts, all_blocks: list[Block], block_pos: dict[int, int]
) -> None:
    entity_heading = section_entity(section)
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
            name = entity_name(text.split(":")[0].split("(")[0].split(" - ")[0])
            fields = [f for f in (_field_item(k.text) for k in kids) if f is not None]
            ents.add(name, fields, "bullets")
            continue
        if b.depth > 0 and b.parent_item is not None and all_blocks[b.parent_item] in items:
            continue
        head, sep, rest = _split_head(text)
        field_head = head.split("(")[0].strip()
        if entity_heading is not None and (
            "(" in head or ("_" in field_head and " " not in field_head) or len(field_head.split()) == 1
        ):
            f = _field_item(text)  # "status (string): submitted, accepted or withdrawn" is a field
            if f is not None:
                ents.add(entity_heading, [f], "bullets")
                continue
        if sep and head and len(head.split()) <= 3 and ("," in rest or " and " in rest):
            ents.add(entity_name(head), field_list(rest), "bullets")
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
        if first in TYPE_WORDS or first.endswith("[]"):
            type_text = first
        desc = rest
    if len(head.split()) > 3:
        return None
    return make_field(head, type_text, description=desc)


def extract_entities(doc: Document) -> tuple[tuple[Entity, ...], list[str], list[FieldNote]]:
    """Entities with their fields, merged by name across every source in the document."""
    ents = EntityDrafts()
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
            read_sql(b.text, ents)
        if b.lang in ("ts", "typescript", "tsx") or "interface " in b.text:
            read_typescript(b.text, ents)
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
            read_json(b, section, ents, known)
    return ents.result(), ents.warnings, ents.notes
