"""The business rules a PRD states, as structured :class:`Rule` objects (private).

Every requirement, acceptance criterion, feature, goal and prose sentence, and every field's notes (a data
model table's description column, a JSON comment, a SQL ``CHECK`` or ``UNIQUE``, a TypeScript union), is read
for limits, enumerations, formats, uniqueness, comparisons, quotas, formulas and conditions. Each rule names
the entity and fields it constrains (resolved against the analysis's entities), keeps the PRD's numbers and
units, and says whether the generator can implement it (``codeable``) or must leave a hook. What each kind
holds is in docs/codegen.md ("Rules").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from agents.lib._prd.models import (
    Entity,
    EntityField,
    FieldType,
    Requirement,
    Rule,
    RuleKind,
    RuleOperator,
    RuleValue,
    UserStory,
)
from agents.lib._prd.parse import API, DATA_MODEL, GOALS, OTHER, OVERVIEW, PREAMBLE, TECHNICAL, Document
from agents.lib._prd.rule_clause import (
    MAX_RULES,
    NUMERIC,
    ONE_FIELD_KINDS,
    TIMES,
    VERBS,
    Clause,
    Draft,
    FieldNote,
    Source,
)
from agents.lib._prd.rule_reader import SentenceReader
from agents.lib._prd.rule_text import (
    TIME_UNITS,
    FieldIndex,
    tokenize,
)
from agents.lib._prd.text import sentences, word_set

__all__ = ["FieldNote", "extract_rules"]


# -- where rules are read -----------------------------------------------------------------------------------------
# sections whose paragraphs are descriptions rather than itemised requirements (those are read as requirements)
_PROSE_KINDS = frozenset({OTHER, OVERVIEW, PREAMBLE, DATA_MODEL, TECHNICAL, API, GOALS})


def _sources(
    doc: Document,
    functional: Sequence[Requirement],
    stories: Sequence[UserStory],
    features: Sequence[str],
    nfr: Sequence[Requirement],
    entities: Sequence[Entity],
    notes: Sequence[FieldNote],
) -> list[Source]:
    out: list[Source] = []
    for req in functional:
        out.append(Source(req.text, req.id, req.source_section, context=req.text))
        out.extend(Source(d, req.id, req.source_section, context=req.text) for d in req.details)
    for story in stories:
        context = f"{story.goal} {story.text}"
        out.append(Source(story.goal, story.id, story.source_section, context=context))
        out.extend(Source(c, story.id, story.source_section, context=context) for c in story.acceptance_criteria)
    out.extend(Source(f, None, "features") for f in features)
    out.extend(Source(r.text, r.id, r.source_section, strict=True, nfr=True) for r in nfr)
    for section in doc.sections:
        if section.kind not in _PROSE_KINDS:
            continue
        for block in section.blocks:
            if block.kind in ("paragraph", "item") and not block.text.lower().startswith(
                ("as a ", "as an ", "as the ")
            ):
                out.append(Source(block.text, None, section.path(), strict=True))
    for entity in entities:
        for f in entity.fields:
            for part in (n.strip() for n in f.description.split("; ")):
                if part:
                    out.append(Source(part, None, "data model", entity=entity.name, fields=(f.name,)))
            if "|" in f.source_type and ("'" in f.source_type or '"' in f.source_type):
                values = [v.strip().strip("'\"") for v in f.source_type.split("|")]
                listed = ", ".join(v for v in values if v and v not in ("null", "undefined"))
                out.append(Source(listed, None, "data model", entity=entity.name, fields=(f.name,)))
    for note in notes:
        out.append(Source(note.text, None, "data model", entity=note.entity, fields=note.fields))
    return out


def _note_drafts(reader: SentenceReader, source: Source) -> list[Draft]:
    """Read a field's notes: ``0-100``, ``5-120 characters``, ``unique``, ``draft, submitted, paid``, ``> 0``."""
    text = " ".join(source.text.split())
    low = text.lower()
    if low.startswith(("e.g", "eg ", "for example", "example", "see ")) or not text:
        return []
    toks = tokenize(text)
    words = [t.low for t in toks]
    # a bare list of values: the field's enumeration
    if (
        toks
        and all(t.kind in ("word", "num", "punct") or t.low == "-" for t in toks)
        and ("," in words or "or" in words)
    ):
        clause = Clause(toks, reader.index, (source.entity, source.fields))
        listed = reader.list_at(clause, 0, commas_only=True)
        verbs = [w for w in words if w in VERBS or w in ("see", "when", "set", "a", "an", "the")]
        if listed is not None and len(listed[0]) >= 2 and listed[1] >= len(toks) - 1 and not verbs:
            return [Draft(RuleKind.ENUM, source.entity, list(source.fields), RuleOperator.IN, listed[0])]
    # a symbolic check: "billed_amount > 0", "quantity > 0", "direction in (-1, 1)"
    for k, tok in enumerate(toks):
        if tok.low in (">", "<", ">=", "<=", "=", "!=") and k + 1 < len(toks) and toks[k + 1].kind == "num":
            op = {
                ">": RuleOperator.GT,
                "<": RuleOperator.LT,
                ">=": RuleOperator.GE,
                "<=": RuleOperator.LE,
                "=": RuleOperator.EQ,
                "!=": RuleOperator.NE,
            }[tok.low]
            num = toks[k + 1]
            value = RuleValue(text=num.text, number=num.num)
            return [Draft(RuleKind.RANGE, source.entity, list(source.fields), op, [value])]
        if tok.low == "in" and k + 1 < len(toks) and toks[k + 1].low == "(":
            # "direction IN (-1, 1)", "status IN ('open', 'closed')": the items one by one
            items = [t for t in toks[k + 2 :] if t.low not in (",", ")", "'")]
            vals: list[RuleValue] = []
            neg = False
            for t in items:
                if t.low == "-":
                    neg = True
                    continue
                if t.num is not None:
                    number = -t.num if neg else t.num
                    vals.append(RuleValue(text=str(number), number=number))
                elif t.is_word:
                    vals.append(RuleValue(text=t.text))
                neg = False
            if vals:
                return [Draft(RuleKind.ENUM, source.entity, list(source.fields), RuleOperator.IN, vals)]
    if words == ["unique"] or low in ("unique", "unique key"):
        return [Draft(RuleKind.UNIQUE, source.entity, list(source.fields))]
    return reader.read(source, text)


def _resolve(draft: Draft, index: FieldIndex) -> Draft:
    """Decide whether a rule is codeable; say why when it is not."""
    known = draft.entity is not None and draft.entity in index.entities
    missing = [f for f in draft.fields if not index.has_field(draft.entity, f)]
    if draft.reason:
        return draft
    if draft.kind is RuleKind.CONDITION:
        draft.reason = "a rule with a condition: what follows from it is for a person to implement"
    elif not known:
        draft.reason = "the PRD does not say which entity it applies to"
    elif missing:
        draft.reason = f"{draft.entity} has no field {', '.join(missing)}"
    elif draft.kind is RuleKind.FORMULA:
        if draft.expression is None:
            draft.reason = "the arithmetic could not be read as a formula"
    elif draft.kind is RuleKind.QUOTA:
        if not draft.scope:
            draft.reason = f"the PRD does not say what the {draft.entity} records are counted per"
    elif not draft.fields:
        draft.reason = f"the PRD does not say which field of {draft.entity} it constrains"
    elif draft.kind is RuleKind.RANGE:
        ftype = index.field_type(draft.entity or "", draft.fields[0])
        if ftype not in NUMERIC and ftype not in TIMES:
            draft.reason = f"{draft.entity}.{draft.fields[0]} is {ftype}, not a number or a date"
        elif not draft.values:
            draft.reason = "no limit is given"
        elif not _unit_fits(draft.fields[0], ftype, draft.values):
            draft.reason = (
                f"the PRD's unit ({draft.values[-1].unit}) does not fit {draft.entity}.{draft.fields[0]}"
            )
    elif draft.kind is RuleKind.LENGTH:
        ftype = index.field_type(draft.entity or "", draft.fields[0])
        if ftype not in (FieldType.STR, FieldType.LIST):
            draft.reason = f"{draft.entity}.{draft.fields[0]} is {ftype}, not text"
    elif draft.kind is RuleKind.ENUM and not draft.values:
        draft.reason = "the PRD does not list the values"
    elif draft.kind is RuleKind.FORMAT and draft.format is None:
        draft.reason = "the format is not one the generator knows"
    elif draft.kind is RuleKind.COMPARISON and draft.expression is None:
        draft.reason = "the other side of the comparison is not a field, a date or a number"
    return draft


_DURATION_WORDS = word_set(
    "days day hours hour minutes minute seconds second ms weeks months years nights duration time lead window "
    "age period interval delay timeout ttl"
)


def _unit_fits(name: str, ftype: FieldType | None, values: Sequence[RuleValue]) -> bool:
    """Whether a limit's unit can be about the field: a time unit needs a date, time or duration field."""
    unit = values[-1].unit if values else ""
    if unit == "ms" or unit in TIME_UNITS.values():
        return ftype in TIMES or bool(_DURATION_WORDS.intersection(name.split("_")))
    return True


def _key(draft: Draft) -> tuple[object, ...]:
    values = tuple(v.number if v.number is not None else v.text.lower() for v in draft.values)
    fields = tuple(draft.fields) if draft.kind is RuleKind.COMPARISON else tuple(sorted(draft.fields))
    return (
        draft.kind,
        draft.entity,
        fields,
        draft.operator,
        values,
        draft.format,
        draft.target,
        tuple(sorted(draft.scope)),
        draft.expression,
        draft.consequence if draft.kind is RuleKind.CONDITION else "",
    )


def _numeric_type(values: Sequence[RuleValue]) -> FieldType | None:
    numbers = [(v, v.number) for v in values if v.number is not None]
    if not numbers or len(numbers) != len(values):
        return None
    if any(v.unit in ("EUR", "USD", "GBP", "SEK", "CHF") for v, _ in numbers):
        return FieldType.DECIMAL
    if all(n == n.to_integral_value() and "." not in v.text for v, n in numbers):
        return FieldType.INT
    return FieldType.DECIMAL


def _retype(entities: Sequence[Entity], drafts: Sequence[Draft]) -> tuple[Entity, ...]:
    """Fields typed only from their name take the type their rules show (a duration of 30, 45 or 60 minutes)."""
    changes: dict[tuple[str, str], FieldType] = {}
    for d in drafts:
        if d.entity is None or len(d.fields) != 1 or d.kind not in (RuleKind.RANGE, RuleKind.ENUM):
            continue
        wanted = _numeric_type(d.values)
        if wanted is not None:
            key = (d.entity, d.fields[0])
            if changes.get(key) is not FieldType.DECIMAL:
                changes[key] = wanted
    out: list[Entity] = []
    for e in entities:
        fields: list[EntityField] = []
        for f in e.fields:
            wanted = changes.get((e.name, f.name))
            if wanted is not None and f.type is FieldType.STR and not f.source_type:
                f = f.model_copy(update={"type": wanted})
            fields.append(f)
        out.append(e.model_copy(update={"fields": tuple(fields)}))
    return tuple(out)


def extract_rules(
    doc: Document,
    functional: Sequence[Requirement],
    stories: Sequence[UserStory],
    features: Sequence[str],
    nfr: Sequence[Requirement],
    entities: Sequence[Entity],
    notes: Sequence[FieldNote] = (),
) -> tuple[tuple[Rule, ...], tuple[Entity, ...]]:
    """Return the rules the PRD states, in its order, and the entities with the field types those rules show."""
    index = FieldIndex(entities)
    reader = SentenceReader(index)
    drafts: list[tuple[Draft, Source, str]] = []
    seen_sentences: set[str] = set()
    for source in _sources(doc, functional, stories, features, nfr, entities, notes):
        if source.fixed_fields_only():
            found = _note_drafts(reader, source)
            drafts.extend((d, source, source.text) for d in found)
            continue
        for sentence in sentences(" ".join(source.text.split())[:5000]):
            seen = sentence.lower()
            if seen in seen_sentences or len(sentence) < 8:
                continue
            seen_sentences.add(seen)
            for d in reader.read(source, sentence):
                drafts.append((d, source, sentence))
    retyped = _retype(entities, [d for d, _, _ in drafts])
    index = FieldIndex(retyped)
    rules: list[Rule] = []
    keys: set[tuple[object, ...]] = set()
    split: list[tuple[Draft, Source, str]] = []
    for draft, source, sentence in drafts:
        if draft.kind in ONE_FIELD_KINDS and len(draft.fields) > 1:
            for name in draft.fields:
                split.append((replace(draft, fields=[name]), source, sentence))
        else:
            split.append((draft, source, sentence))
    for draft, source, sentence in split:
        draft = _resolve(draft, index)
        if source.strict and (draft.entity is None or (not draft.fields and draft.kind is not RuleKind.FORMULA)):
            continue
        if source.strict and draft.reason and (draft.kind is RuleKind.CONDITION or source.nfr):
            continue
        key = _key(draft)
        if key in keys:
            continue
        keys.add(key)
        if len(rules) >= MAX_RULES:
            break
        rules.append(
            Rule(
                id=f"RULE-{len(rules) + 1:03d}",
                kind=draft.kind,
                entity=draft.entity,
                fields=tuple(f for f in draft.fields if f.isidentifier()),
                operator=draft.operator,
                values=tuple(draft.values),
                format=draft.format,
                expression=draft.expression,
                target=draft.target,
                scope=tuple(draft.scope),
                window=draft.window,
                window_field=draft.window_field,
                consequence=draft.consequence,
                codeable=not draft.reason,
                reason=draft.reason,
                text=" ".join(sentence.split())[:300],
                requirement_id=source.requirement_id,
                source_section=source.section,
            )
        )
    return tuple(rules), retyped
