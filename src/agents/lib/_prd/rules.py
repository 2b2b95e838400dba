"""The business rules a PRD states, as structured :class:`Rule` objects (private).

Every requirement, acceptance criterion, feature, goal and prose sentence, and every field's notes (a data
model table's description column, a JSON comment, a SQL ``CHECK`` or ``UNIQUE``, a TypeScript union), is read
for limits, enumerations, formats, uniqueness, comparisons, quotas, formulas and conditions. Each rule names
the entity and fields it constrains (resolved against the analysis's entities), keeps the PRD's numbers and
units, and says whether the generator can implement it (``codeable``) or must leave a hook. What each kind
holds is in docs/codegen.md ("Rules").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from agents.lib._prd.formulas import has_arithmetic, parse_formula
from agents.lib._prd.models import (
    Entity,
    EntityField,
    FieldType,
    Requirement,
    Rule,
    RuleExpr,
    RuleFormat,
    RuleKind,
    RuleOperator,
    RuleValue,
    UserStory,
)
from agents.lib._prd.parse import API, DATA_MODEL, GOALS, OTHER, OVERVIEW, PREAMBLE, TECHNICAL, Document
from agents.lib._prd.rule_text import (
    TIME_UNITS,
    FieldIndex,
    Mention,
    Quantity,
    Tok,
    is_reference_word,
    quantities,
    tokenize,
    unit_at,
)
from agents.lib._prd.text import sentences, singular, word_set
from agents.lib.naming import snake_case

__all__ = ["FieldNote", "extract_rules"]

_MAX_RULES = 200
_ONE_FIELD_KINDS = frozenset({RuleKind.RANGE, RuleKind.LENGTH, RuleKind.ENUM, RuleKind.FORMAT})
_NUMERIC = frozenset({FieldType.INT, FieldType.FLOAT, FieldType.DECIMAL})
_TIMES = frozenset({FieldType.DATE, FieldType.DATETIME})

# (words, operator): a limit before a number; longest first
_CUES: list[tuple[tuple[str, ...], RuleOperator]] = sorted(
    [
        (tuple(words.split()), op)
        for op, phrases in (
            (
                RuleOperator.GE,
                "greater than or equal to|more than or equal to|equal to or greater than|at least|no less than|"
                "not less than|no fewer than|not fewer than|a minimum of|minimum of|minimum|min|not below|"
                "no lower than|>=|\u2265",
            ),
            (
                RuleOperator.LE,
                "less than or equal to|equal to or less than|at most|no more than|not more than|up to|"
                "a maximum of|maximum of|maximum|max|capped at|limited to|no greater than|no higher than|at or below|"
                "no later than|within|until|<=|\u2264",
            ),
            (
                RuleOperator.GT,
                "greater than|more than|larger than|higher than|above|over|older than|later than|exceed|exceeds|"
                "exceeding|>",
            ),
            (RuleOperator.LT, "less than|fewer than|lower than|smaller than|below|under|younger than|earlier than|<"),
            (RuleOperator.GT, "after"),
            (RuleOperator.LT, "before"),
            (RuleOperator.EQ, "exactly|equal to|equals|="),
            (RuleOperator.NE, "not equal to|!=|\u2260"),
            (RuleOperator.MULTIPLE_OF, "in steps of|in increments of|a multiple of|in multiples of|multiples of"),
        )
        for words in phrases.split("|")
    ],
    key=lambda item: -len(item[0]),
)
# cue words that are also adjectives ("the maximum speed", "over the weekend"): only a number may follow them
_NUMBER_ONLY_CUES = word_set("maximum minimum max min above over under below")
_POST_CUES = {("or", "more"): RuleOperator.GE, ("or", "above"): RuleOperator.GE, ("or", "older"): RuleOperator.GE}
_POST_CUES |= {("or", "over"): RuleOperator.GE, ("or", "less"): RuleOperator.LE, ("or", "fewer"): RuleOperator.LE}
_POST_CUES |= {("or", "under"): RuleOperator.LE, ("or", "younger"): RuleOperator.LE}
_SIGN_CUES: list[tuple[tuple[str, ...], RuleOperator, int]] = [
    (("non", "negative"), RuleOperator.GE, 0),
    (("nonnegative",), RuleOperator.GE, 0),
    (("not", "negative"), RuleOperator.GE, 0),
    (("zero", "or", "more"), RuleOperator.GE, 0),
    (("zero", "or", "positive"), RuleOperator.GE, 0),
    (("non", "zero"), RuleOperator.NE, 0),
    (("nonzero",), RuleOperator.NE, 0),
    (("positive",), RuleOperator.GT, 0),
    (("negative",), RuleOperator.LT, 0),
]
_FLIP = {
    RuleOperator.GT: RuleOperator.LE,
    RuleOperator.GE: RuleOperator.LT,
    RuleOperator.LT: RuleOperator.GE,
    RuleOperator.LE: RuleOperator.GT,
    RuleOperator.EQ: RuleOperator.NE,
}
_NEGATIONS = word_set("not cannot never no")
_NOT_COUNTED = word_set("per from to in on at of for by with and or the a an its than")
_FORBIDDEN = word_set("rejected refused forbidden prohibited disallowed blocked declined")
_ORDERING = frozenset({RuleOperator.GT, RuleOperator.LT, RuleOperator.GE, RuleOperator.LE})
_MODALS = word_set("must shall should may can cannot will would need needs")
_VERBS = _MODALS | word_set(
    "is are be was were has have holds hold lasts last serves serve costs cost requires require receives receive "
    "gets get applies apply gives give takes take pays pay"
)
_SUBORDINATE = word_set("when if unless once whenever while")
_PROHIBIT = word_set("prevent prevents prevented refuse refused refuses reject rejected rejects block blocked")
_QUALIFIERS = word_set(
    "active open upcoming pending current existing unpaid free paid verified trial outstanding running live"
)
_PERIOD_WORDS = {w: u for w, u in TIME_UNITS.items() if len(w) > 3}
_CHAR_CLASSES: list[tuple[tuple[str, ...], RuleFormat]] = sorted(
    [
        (("uppercase", "letters", "and", "digits"), RuleFormat.UPPER_ALPHANUMERIC),
        (("capital", "letters", "and", "digits"), RuleFormat.UPPER_ALPHANUMERIC),
        (("upper", "case", "letters", "and", "digits"), RuleFormat.UPPER_ALPHANUMERIC),
        (("letters", "and", "digits"), RuleFormat.ALPHANUMERIC),
        (("letters", "or", "digits"), RuleFormat.ALPHANUMERIC),
        (("alphanumeric",), RuleFormat.ALPHANUMERIC),
        (("hexadecimal",), RuleFormat.HEX),
        (("hex",), RuleFormat.HEX),
        (("digits",), RuleFormat.DIGITS),
        (("digit",), RuleFormat.DIGITS),
        (("letters",), RuleFormat.LETTERS),
    ],
    key=lambda item: -len(item[0]),
)
_FORMAT_NOUNS: list[tuple[tuple[str, ...], RuleFormat]] = sorted(
    [
        (("email", "address"), RuleFormat.EMAIL),
        (("e", "mail", "address"), RuleFormat.EMAIL),
        (("email",), RuleFormat.EMAIL),
        (("url",), RuleFormat.URL),
        (("urls",), RuleFormat.URL),
        (("uri",), RuleFormat.URL),
        (("http", "or", "https", "url"), RuleFormat.URL),
        (("https", "url"), RuleFormat.URL),
        (("phone", "number"), RuleFormat.PHONE),
        (("telephone", "number"), RuleFormat.PHONE),
        (("e164",), RuleFormat.PHONE),
        (("iso", "4217"), RuleFormat.CURRENCY_CODE),
        (("currency", "code"), RuleFormat.CURRENCY_CODE),
        (("iso", "3166"), RuleFormat.COUNTRY_CODE),
        (("country", "code"), RuleFormat.COUNTRY_CODE),
        (("iban",), RuleFormat.IBAN),
        (("ibans",), RuleFormat.IBAN),
        (("uuid",), RuleFormat.UUID),
    ],
    key=lambda item: -len(item[0]),
)
_PATTERN_CUES = (("followed", "by"), ("follows",), ("follow",), ("matches",), ("pattern",), ("format",))
_AT_A_TIME = ("at", "a", "time")
_SKIPPABLE = word_set("the a an its their his her this that each every any")
_COPULA = word_set("is are be equals")
# words that are never one of an enumeration's values: "positive and at most", "greater than or equal"
_NOT_VALUES = word_set(
    "at most least positive negative between greater less more fewer than equal above below under over up "
    "within after before valid unique not no only per from to exactly maximum minimum max min"
)


@dataclass
class FieldNote:
    """What the PRD says about fields outside a sentence: ``UNIQUE (a, b)`` of a SQL table, say."""

    entity: str
    fields: tuple[str, ...]
    text: str
    origin: str


@dataclass
class _Source:
    text: str
    requirement_id: str | None
    section: str
    strict: bool = False  # only rules on a known entity (NFRs, prose)
    entity: str | None = None  # a field's notes: the entity and field are known
    fields: tuple[str, ...] = ()
    context: str = ""

    def fixed_fields_only(self) -> bool:
        """Whether the source is a field's notes (its entity and fields are known)."""
        return self.entity is not None and bool(self.fields)


@dataclass
class _Draft:
    kind: RuleKind
    entity: str | None = None
    fields: list[str] = field(default_factory=list)
    operator: RuleOperator | None = None
    values: list[RuleValue] = field(default_factory=list)
    format: RuleFormat | None = None
    expression: RuleExpr | None = None
    target: str = ""
    scope: list[str] = field(default_factory=list)
    window: RuleValue | None = None
    window_field: str = ""
    consequence: str = ""
    reason: str = ""
    resolved: bool = True  # every field the rule names was found


def _value(q: Quantity) -> RuleValue:
    return RuleValue(text=q.text, number=q.number, unit=q.unit)


def _word_value(text: str) -> RuleValue:
    try:
        number: Decimal | None = Decimal(text)
    except ArithmeticError:
        number = None
    return RuleValue(text=text, number=number)


class _Clause:
    """One clause of a sentence: its tokens, numbers, and where fields and entities are named."""

    def __init__(self, toks: list[Tok], index: FieldIndex, fixed: tuple[str | None, tuple[str, ...]]) -> None:
        self.toks = toks
        self.low = [t.low for t in toks]
        self.index = index
        self.qty = {q.start: q for q in quantities(toks)}
        self.format_spans: list[tuple[int, int, RuleFormat]] = []
        taken: set[int] = set()
        verb = next((k for k, w in enumerate(self.low) if w in _VERBS), len(self.low))
        fixed_subject = bool(fixed[1])
        for i in range(len(toks)):
            for words, fmt in _FORMAT_NOUNS:
                if tuple(self.low[i : i + len(words)]) != words or any(a <= i < b for a, b, _ in self.format_spans):
                    continue
                # a format is named in the predicate ("must be a valid email"), in parentheses, or is unmistakable
                # (E.164, ISO 4217); "the phone number is ..." and "Both IBANs must be ..." name the subject
                predicate = i > verb or fixed_subject or self._in_parentheses(i)
                valid = "valid" in self.low[max(0, i - 4) : i] or self.low[i + len(words) : i + len(words) + 1] == [
                    "format"
                ]
                cue = predicate and (valid or self._after_copula(i) or self._in_parentheses(i) or fixed_subject)
                if fmt in (RuleFormat.CURRENCY_CODE, RuleFormat.COUNTRY_CODE) and words[0] == "iso":
                    cue = True
                if words == ("e164",):
                    cue = True
                if cue:
                    self.format_spans.append((i, i + len(words), fmt))
                    taken.update(range(i, i + len(words)))
                break
        self.fields = index.field_mentions(toks, taken)
        self.entities = index.entity_mentions(toks)
        self.fixed_entity, self.fixed_fields = fixed

    def _after_copula(self, i: int) -> bool:
        j = i - 1
        while j >= 0 and self.low[j] in _SKIPPABLE | {"valid", "iso"} | {"4217", "3166"}:
            j -= 1
        return j >= 0 and self.low[j] in ("is", "are", "be", "as", "in")

    def _in_parentheses(self, i: int) -> bool:
        j = i - 1
        while j >= 0 and self.low[j] in _SKIPPABLE:
            j -= 1
        return j >= 0 and self.low[j] == "("

    def text(self, start: int = 0, end: int | None = None) -> str:
        return " ".join(t.text for t in self.toks[start:end]).replace(" ,", ",").replace(" .", ".")

    def words_at(self, i: int, words: Sequence[str]) -> bool:
        return tuple(self.low[i : i + len(words)]) == tuple(words)

    def field_at(self, start: int, end: int) -> list[Mention] | None:
        """The field mention group that starts in [start, end) after nothing but articles, or None."""
        for group in self.fields:
            if start <= group[0].start < end + 3:
                owner = next((m for m in self.entities if m.start >= start and m.end < group[0].start), None)
                gap = range(start, group[0].start)
                if owner is not None and group[0].start >= 1 and self.low[group[0].start - 1] == "'s":
                    gap = range(start, owner.start)  # "the round's decision date"
                if all(self.low[k] in _SKIPPABLE or self.low[k] == "'s" for k in gap):
                    return group
                return None
        return None

    def field_before(self, i: int, floor: int) -> list[Mention] | None:
        best = None
        for group in self.fields:
            if floor <= group[0].start and group[0].end <= i:
                best = group
        return best

    def entity_before(self, i: int) -> Mention | None:
        best = None
        for m in self.entities:
            if m.end <= i:
                best = m
        return best

    def verb_index(self) -> int:
        return next((i for i, w in enumerate(self.low) if w in _VERBS), len(self.low))

    def negated(self, floor: int, i: int) -> bool:
        return any(w in _NEGATIONS for w in self.low[floor:i]) or any(
            w.endswith("nt") and w in ("cant", "dont", "doesnt", "mustnt", "shouldnt") for w in self.low[floor:i]
        )


class _Reader:
    def __init__(self, index: FieldIndex) -> None:
        self.index = index

    # -- entity and field choice ----------------------------------------------------------------------------------
    def choose(self, clause: _Clause, group: list[Mention], context: Sequence[str]) -> Mention:
        """The candidate of a field mention whose entity the sentence, the requirement or the PRD points to."""
        if len(group) == 1:
            return group[0]
        start, end = group[0].start, group[0].end
        for m in clause.entities:  # "a reading's speed", "the invoice amount", "speed of a reading"
            near = m.end in (start, start - 1) or m.start in (end, end + 1, end + 2) or (m.start <= start < m.end)
            if near:
                hit = [c for c in group if c.entity == m.entity]
                if hit:
                    return hit[0]
        named = [m.entity for m in clause.entities]
        for entity in [*named, *context]:
            hit = [c for c in group if c.entity == entity]
            if hit:
                return hit[0]
        exact = [c for c in group if c.exact]
        return (exact or group)[0]

    def scope_field(self, entity: str, words: Sequence[str]) -> str | None:
        """The field of ``entity`` a scope noun names: ``member`` -> ``member_id``, ``funding round`` -> ``round_id``."""
        e = self.index.entities.get(entity)
        if e is None or not words:
            return None
        stems = [singular(w) for w in words if w not in _SKIPPABLE]
        if not stems:
            return None
        joined = "_".join(stems)
        names = [f.name for f in e.fields]
        for candidate in (joined, f"{joined}_id", stems[-1], f"{stems[-1]}_id"):
            if candidate in names:
                return candidate
        for name in names:
            parts = name.split("_")
            if parts[0] == stems[-1] and all(is_reference_word(p) for p in parts[1:]) and len(parts) > 1:
                return name
            if parts[:1] == [stems[0]] and len(parts) == 2 and is_reference_word(parts[1]):
                return name
        return None

    def verb_field(self, entity: str | None, words: Sequence[str], *, numeric: bool = False) -> str | None:
        """A date or time field of ``entity`` named after a verb: ``submitted`` -> ``submitted_at``.

        ``numeric``: a number field instead (``serves`` -> ``servings``).
        """
        e = self.index.entities.get(entity or "")
        if e is None:
            return None
        if numeric:
            for word in reversed(list(words)):
                stem = word[:-1] if word.endswith("s") else word
                if len(stem) < 4 or word in _VERBS:
                    continue
                for f in e.fields:
                    if f.type in _NUMERIC and f.name.split("_")[0].startswith(stem[:4]):
                        return f.name
            return None
        for word in reversed(list(words)):
            if len(word) < 4 or word in _SKIPPABLE:
                continue
            stem = word[:-2] if word.endswith("ed") else word[:-1] if word.endswith("s") else word
            if word == "dated":
                dated = [f.name for f in e.fields if f.type in _TIMES and "date" in f.name.split("_")]
                if dated:
                    return dated[0]
            for f in e.fields:
                if f.type in _TIMES and f.name.split("_")[0].startswith(stem[:5]) and len(stem) >= 4:
                    return f.name
        return None

    # -- one sentence ---------------------------------------------------------------------------------------------
    def read(self, source: _Source, sentence: str) -> list[_Draft]:
        toks = tokenize(sentence)
        if not toks:
            return []
        clauses: list[list[Tok]] = [[]]
        depth = 0
        for tok in toks:
            depth += 1 if tok.low == "(" else -1 if tok.low == ")" else 0
            if tok.low == ";" and depth <= 0:
                clauses.append([])
            else:
                clauses[-1].append(tok)
        drafts: list[_Draft] = []
        subject: tuple[str | None, list[str]] = (source.entity, list(source.fields))
        context = self.context_entities(source)
        for toks_here in clauses:
            if not toks_here:
                continue
            clause = _Clause(toks_here, self.index, (source.entity, source.fields))
            found, subject = self.read_clause(clause, source, context, subject)
            drafts.extend(found)
        return drafts

    def context_entities(self, source: _Source) -> list[str]:
        if not source.context:
            return []
        return list(dict.fromkeys(m.entity for m in self.index.entity_mentions(tokenize(source.context))))

    def read_clause(
        self,
        clause: _Clause,
        source: _Source,
        context: list[str],
        inherited: tuple[str | None, list[str]],
    ) -> tuple[list[_Draft], tuple[str | None, list[str]]]:
        low = clause.low
        condition = self.condition(clause, source, context)
        if condition is not None:
            return [condition], inherited
        formula = self.formula(clause, context)
        if formula is not None:
            return [formula], inherited
        drafts: list[_Draft] = []
        subject: tuple[str | None, list[str]] = inherited
        floor = 0
        i = 0
        while i < len(low):
            step = self.cue_at(clause, i, floor, source, context, subject)
            if step is None:
                i += 1
                continue
            new, end, subject = step
            drafts.extend(new)
            floor = end
            i = max(end, i + 1)
        if not drafts and clause.fields:
            first = self.choose(clause, clause.fields[0], context)
            subject = (first.entity, [first.field])  # "Stores can override the maximum stock; an override must ..."
        return drafts, subject

    # -- the subject a rule constrains ----------------------------------------------------------------------------
    def subject(
        self,
        clause: _Clause,
        i: int,
        floor: int,
        context: list[str],
        inherited: tuple[str | None, list[str]],
        *,
        after: bool = False,
    ) -> tuple[str | None, list[str]]:
        if clause.fixed_fields:
            return clause.fixed_entity, list(clause.fixed_fields)
        group = clause.field_before(i, floor)
        if group is None and after:
            group = clause.field_at(i, i + 4)
        if group is None and floor > 0:
            group = clause.field_before(i, 0)
        if group is not None:
            # "both IBANs": every field with that word
            if i > 0 and "both" in clause.low[max(0, group[0].start - 2) : group[0].start]:
                return group[0].entity, [m.field for m in group if m.entity == group[0].entity] or [group[0].field]
            chosen = self.choose(clause, group, context)
            return chosen.entity, [chosen.field]
        if "both" in clause.low[:i]:
            both = [
                (e.name, [f.name for f in e.fields if singular(clause.low[k]) in f.name.split("_")])
                for k in range(clause.low.index("both") + 1, min(i, clause.low.index("both") + 3))
                for e in self.index.entities.values()
            ]
            for entity, names in both:
                if len(names) >= 2:
                    return entity, names
        mention = clause.entity_before(i)
        if mention is not None:
            return mention.entity, []
        if inherited[1] or inherited[0]:
            return inherited
        return None, []

    def entity_field_by_unit(self, entity: str | None, q: Quantity | None) -> list[str]:
        """The one field of ``entity`` a number of that unit can be about (``EUR`` -> the one money field)."""
        e = self.index.entities.get(entity or "")
        if e is None or q is None:
            return []
        if q.unit in ("EUR", "USD", "GBP", "SEK", "CHF"):
            money = [f.name for f in e.fields if f.type is FieldType.DECIMAL]
            return money[:1] if len(money) == 1 else []
        return []

    # -- cues -----------------------------------------------------------------------------------------------------
    def cue_at(
        self,
        clause: _Clause,
        i: int,
        floor: int,
        source: _Source,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        word = low[i]
        # formats named for the subject: "must be a valid email", "(an email address)", "ISO 4217"
        for start, end, fmt in clause.format_spans:
            if start == i:
                entity, fields = self.subject(clause, i, floor, context, subject)
                if fmt is RuleFormat.UUID:
                    return [], end, (entity, fields)
                return [self.draft(RuleKind.FORMAT, entity, fields, fmt=fmt)], end, (entity, fields)
        if (word in ("unique", "uniquely") and self.predicative(clause, i)) or clause.words_at(
            i, ("must", "not", "be", "reused")
        ):
            return self.unique(clause, i, floor, context, subject)
        if word in ("once", "twice") or clause.words_at(i, ("only", "one")) or clause.words_at(i, ("at", "most", "one")):
            hit = self.once(clause, i, floor, context, subject)
            if hit is not None:
                return hit
        if word in ("overlap", "overlapping") and clause.negated(floor, i) or word == "overlap":
            entity, fields = self.subject(clause, i, floor, context, subject)
            named = [
                self.choose(clause, g, context).field
                for g in clause.fields
                if g[0].start < i and self.choose(clause, g, context).entity == entity
            ]
            draft = self.draft(RuleKind.UNIQUE, entity, named or fields)
            draft.reason = "the PRD forbids overlapping time ranges, which equal values do not capture"
            return [draft], i + 1, (entity, fields)
        for words in _PATTERN_CUES:
            if clause.words_at(i, words) and (words != ("format",) or i > 0 and low[i - 1] not in ("valid",)):
                entity, fields = self.subject(clause, i, floor, context, subject)
                if fields and words in (("followed", "by"), ("follows",), ("follow",), ("pattern",), ("matches",)):
                    draft = self.draft(RuleKind.FORMAT, entity, fields)
                    draft.reason = f"the format '{clause.text(i)[:80]}' is not one the generator knows"
                    return [draft], len(low), (entity, fields)
        if word == "one" and clause.words_at(i, ("one", "of")):
            listed = self.list_at(clause, i + 2, commas_only=True) if i + 2 in clause.qty else None
            if i + 2 not in clause.qty or (listed is not None and len(listed[0]) >= 2):
                return self.enumeration(clause, i + 2, i, floor, context, subject)  # not "one of 7 characters"
        if word == "either":
            return self.enumeration(clause, i + 1, i, floor, context, subject)
        if (word in _COPULA or clause.words_at(i, ("must", "be"))) and not clause.words_at(
            i + (2 if clause.words_at(i, ("must", "be")) else 1), ("one", "of")
        ):
            start = i + (2 if clause.words_at(i, ("must", "be")) else 1)
            listed = self.list_at(clause, start)
            if listed is not None and self.enumerates(clause, start, listed):
                return self.enumeration(clause, start, i, floor, context, subject)
        if word == "only" and (listed := self.list_at(clause, i + 1)) is not None and len(listed[0]) >= 2:
            end = listed[1]
            if end < len(low) and low[end] in ("are", "is") and end + 1 < len(low):
                if low[end + 1] in ("accepted", "allowed", "supported", "valid"):
                    return self.enumeration(clause, i + 1, i, floor, context, subject)
        if word == "(" and (listed := self.list_at(clause, i + 1)) is not None and len(listed[0]) >= 2:
            before = clause.field_before(i, floor)
            if listed[1] < len(low) and low[listed[1]] == ")" and before is not None and before[0].end == i:
                return self.enumeration(clause, i + 1, i, floor, context, subject)
        for words, op, zero in _SIGN_CUES:
            if clause.words_at(i, words):
                entity, fields = self.subject(clause, i, floor, context, subject, after=True)
                later = clause.field_at(i + len(words), i + len(words) + 1)
                if later is not None:  # "a positive quantity and a non-negative unit price"
                    chosen = self.choose(clause, later, context)
                    entity, fields = chosen.entity, [chosen.field]
                if (clause.negated(floor, i) and op is RuleOperator.LT) or (
                    self.forbidden(clause) and op in _FLIP
                ):
                    op = _FLIP[op]
                draft = self.draft(RuleKind.RANGE, entity, fields, op=op, values=[_word_value(str(zero))])
                return [draft], i + len(words), (entity, fields)
        if word in ("past", "future") and i >= 2 and low[i - 2 : i] == ["in", "the"]:
            return self.in_time(clause, i, floor, context, subject)
        if clause.words_at(i, ("on", "the", "hour")) or clause.words_at(i, ("on", "the", "half", "hour")):
            entity, fields = self.subject(clause, i, floor, context, subject)
            if not fields:
                named = self.verb_field(entity, low[:i])
                fields = [named] if named else []
            half = "half" in low[i:]
            minutes = "30" if half else "60"
            draft = self.draft(
                RuleKind.RANGE, entity, fields, op=RuleOperator.MULTIPLE_OF,
                values=[RuleValue(text=f"{minutes} minutes", number=Decimal(minutes), unit="minutes")],
            )
            return [draft], len(low), (entity, fields)
        if word in ("last", "lasts") and i + 1 < len(low):
            hit = self.duration(clause, i, floor, context, subject)
            if hit is not None:
                return hit
        if word in ("between", "from") and (pair := self.pair_at(clause, i + 1, ("and",) if word == "between" else ("to",))):
            return self.limit(clause, i, pair[2], RuleOperator.BETWEEN, [pair[0], pair[1]], floor, source, context, subject)
        if i in clause.qty and (pair := self.pair_at(clause, i, ("to", "-", "through"))) is not None:
            return self.limit(clause, i, pair[2], RuleOperator.BETWEEN, [pair[0], pair[1]], floor, source, context, subject)
        for words, op in _CUES:
            if not clause.words_at(i, words):
                continue
            j = i + len(words)
            if clause.negated(floor, i) and op in _FLIP:
                op = _FLIP[op]
            return self.after_cue(clause, i, j, op, floor, source, context, subject)
        if i in clause.qty:
            q = clause.qty[i]
            if q.number == 1 and clause.words_at(q.end, ("or", "more")):
                return [], q.end + 2, subject  # "one or more receipt lines": how many, not a limit
            hit = self.relative_date(clause, i, q, context)
            if hit is not None:
                return hit
            for words, op in _POST_CUES.items():
                if clause.words_at(q.end, words):
                    return self.limit(clause, i, q.end + 2, op, [q], floor, source, context, subject)
            if q.unit in ("digits",) or self.char_class(clause, q.end)[0] is not None:
                return self.limit(clause, i, q.end, RuleOperator.EQ, [q], floor, source, context, subject)
        return None

    # -- what follows a cue ---------------------------------------------------------------------------------------
    def after_cue(
        self,
        clause: _Clause,
        i: int,
        j: int,
        op: RuleOperator,
        floor: int,
        source: _Source,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        if op is RuleOperator.MULTIPLE_OF:
            q = clause.qty.get(j)
            if q is None:
                return None
            return self.limit(clause, i, q.end, op, [q], floor, source, context, subject)
        if i > 0 and low[i - 1] in ("half", "rounded", "rounding", "round"):
            return None  # "rounding half-up to 2 decimals"
        if j < len(low) and j + 1 < len(low) and j in clause.qty and low[clause.qty[j].end : clause.qty[j].end + 1] in (
            ["decimals"], ["decimal"], ["places"]
        ):
            return None
        if self.relative(clause, floor, i):
            return None  # "orders that are stuck for more than 30 minutes": a filter, not a rule
        while j < len(low) and low[j] in ("the", "a", "an", "its", "their"):
            j += 1
        if j < len(low) and low[j] in ("once", "twice"):
            return self.once(clause, j, floor, context, subject)
        q = clause.qty.get(j)
        if q is not None:
            end = q.end
            # "within 90 days of the treatment date": a date compared with another date
            if q.unit in ("days", "weeks", "months", "years", "hours", "minutes") and end < len(low):
                if low[end] in ("of", "after", "before", "from"):
                    return self.offset(clause, i, q, end, op, floor, context, subject)
            if low[i] in ("within", "until"):
                return None  # "published within one minute": how fast, not a rule on the data
            return self.limit(clause, i, end, op, [q], floor, source, context, subject)
        if low[i] in ("within", "until") or (j == i + 1 and low[i] in _NUMBER_ONLY_CUES):
            return None
        group = clause.field_at(j, j + 1)
        entity, fields = self.subject(clause, i, floor, context, subject)
        if low[i] in ("after", "before"):
            # "the return time must be after the pick-up time": only with a modal, between fields
            if not any(w in _MODALS or w in ("is", "are", "be") for w in low[floor:i]):
                return None
            if group is None:
                # "cannot be submitted after the round's closing date": a date the analysis has no field for
                tail = [w for w in low[j : j + 6] if w.isalpha()]
                dated = next((n for n, w in enumerate(tail) if w in ("date", "time", "deadline", "day")), None)
                named = fields or ([self.verb_field(entity, low[:i])] if self.verb_field(entity, low[:i]) else [])
                if dated is None or not (named or entity):
                    return None
                draft = self.draft(RuleKind.COMPARISON, entity, named[:1], op=op)
                draft.reason = f"it compares with '{' '.join(tail[: dated + 1])}', which is no field of {entity}"
                draft.resolved = False
                return [draft], j + dated + 1, (entity, named)
            own = clause.field_before(i, floor)
            if own is not None and own[0].start > clause.verb_index():
                entity, fields = (None, [])  # "sent by email one day after the due date": email is no subject
            if not fields:
                named = self.verb_field(entity or (self.choose(clause, group, context).entity if group else None), low[:i])
                if named:
                    entity = entity or (self.choose(clause, group, context).entity if group else None)
                    fields = [named]
            if not fields:
                return None
        if group is not None:
            other = self.choose(clause, group, context)
            if entity is None:
                entity = other.entity
            draft = self.draft(RuleKind.COMPARISON, entity, [*fields[:1], other.field])
            draft.operator = op
            if other.entity != entity or not fields:
                draft.reason = "it compares fields of two different records" if fields else "one side names no field"
                draft.fields = fields[:1]
                draft.resolved = False
            else:
                draft.expression = RuleExpr(op="field", name=other.field, entity=other.entity)
            return [draft], group[0].end, (entity, fields)
        if entity is not None or fields:
            words = [w for w in low[j : j + 6] if w.isalpha()]
            if words and op in (RuleOperator.GE, RuleOperator.LE, RuleOperator.GT, RuleOperator.LT):
                draft = self.draft(RuleKind.COMPARISON, entity, fields[:1], op=op)
                draft.reason = f"it compares with '{' '.join(words[:5])}', which is no field of {entity}"
                draft.resolved = False
                return [draft], min(len(low), j + len(words)), (entity, fields)
        return None

    def limit(
        self,
        clause: _Clause,
        i: int,
        end: int,
        op: RuleOperator,
        qs: list[Quantity],
        floor: int,
        source: _Source,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        last = qs[-1]
        unit = last.unit
        values = [RuleValue(text=q.text, number=q.number, unit=q.unit or unit) for q in qs]
        entity, fields = self.subject(clause, i, floor, context, subject)
        group = clause.field_before(i, floor)
        verb = clause.verb_index()
        if (
            group is not None
            and not clause.fixed_fields
            and group[0].start > verb
            and low[verb : verb + 1] in (["is"], ["are"])
            and group[0].start >= 1
            and low[group[0].start - 1] in ("a", "an")
            and not any(g[0].end <= verb for g in clause.fields)
        ):
            draft = self.draft(RuleKind.CONDITION, self.choose(clause, group, context).entity, [group[0].field])
            draft.consequence = clause.text(0, verb)
            draft.reason = "a definition by a limit: what is defined is no field"
            return [draft], end, subject
        # ages: "at least 16 years old", "16 or older"
        if (unit == "years" and end < len(low) and low[end] == "old") or (
            end >= 2 and low[end - 2 : end] == ["or", "older"]
        ) or "aged" in low[max(0, i - 2) : i] or "age" in low[max(0, floor) : i]:
            return self.age(clause, i, end + (1 if end < len(low) and low[end] == "old" else 0), op, values, entity, fields)
        fmt, class_end = self.char_class(clause, end if not unit or unit == "digits" else end)
        if unit == "digits":
            fmt, class_end = RuleFormat.DIGITS, end
        if fmt is not None:
            if not fields:
                fields = self.entity_field_by_unit(entity, None)
            draft = self.draft(RuleKind.FORMAT, entity, fields, fmt=fmt, op=op, values=values)
            return [draft], class_end, (entity, fields)
        if unit in ("characters", "words"):
            draft = self.draft(RuleKind.LENGTH, entity, fields, op=op, values=values)
            return [draft], end, (entity, fields)
        # counting records: "at most 8 bookings per day", "up to 50 questions"
        counted_start = end
        qualifiers: list[str] = []
        while counted_start < len(low) and low[counted_start] in _QUALIFIERS:
            qualifiers.append(low[counted_start])
            counted_start += 1
        counted = [m for m in clause.entities if m.start == counted_start]
        after_noun = end
        while after_noun < len(low) and low[after_noun].isalpha() and low[after_noun] not in _NOT_COUNTED:
            after_noun += 1  # "3 times per calendar year": the periods follow what is counted
        pers, per_end = self.pers(clause, counted[0].end if counted else min(after_noun, end + 3))
        if counted and not clause.fixed_fields:
            return self.quota(clause, i, end, per_end, op, values, entity, counted, qualifiers, pers, context)
        text_field = fields and self.index.field_type(entity or "", fields[0]) is FieldType.STR
        if text_field and not unit and end < len(low) and low[end].isalpha() and low[end] not in _NOT_COUNTED:
            fields = []  # "each team has at most 3 escalation contacts": a count of something per team
        if not fields and not unit:
            # "a recipe serves between 1 and 24 people": a number field named after the verb
            named = self.verb_field(entity, low[:i], numeric=True)
            if named:
                fields = [named]
        if not fields and not unit and end < len(low) and low[end].isalpha() and low[end] not in _NOT_COUNTED:
            return self.quota(clause, i, end, per_end, op, values, entity, counted, qualifiers, pers, context)
        if not fields and pers and any(p[0] == "window" for p in pers):
            draft = self.draft(RuleKind.QUOTA, entity, [], op=op, values=values)
            draft.reason = "a limit on a total over a period, which names no field to count or add up"
            draft.resolved = False
            return [draft], per_end, (entity, fields)
        if not fields:
            fields = self.entity_field_by_unit(entity, last)
        draft = self.draft(RuleKind.RANGE, entity, fields, op=op, values=values)
        if qualifiers or (end < len(low) and low[end] == "for" and not fields):
            draft.reason = f"it applies only {' '.join(low[end : end + 4])}"
        return [draft], max(end, per_end if pers and all(p[0] == "self" for p in pers) else end), (entity, fields)

    def pers(self, clause: _Clause, j: int) -> tuple[list[tuple[str, list[str], RuleValue | None]], int]:
        """The ``per ...`` phrases after token ``j``: a period (``per day``) or what shares a quota (``per member``)."""
        low = clause.low
        out: list[tuple[str, list[str], RuleValue | None]] = []
        while j < len(low) and low[j] in ("per", "each", "a", "every") and j + 1 < len(low):
            k = j + 1
            if low[k] in ("calendar", "working", "business") and k + 1 < len(low):
                k += 1
            if low[k] in _PERIOD_WORDS or low[k] in ("second", "hour", "day", "week", "month", "year"):
                unit = TIME_UNITS[low[k]]
                out.append(("window", [], RuleValue(text=clause.text(j + 1, k + 1), number=Decimal(1), unit=unit)))
                j = k + 1
                continue
            if low[j] in ("a", "each", "every"):
                break
            words: list[str] = []
            while k < len(low) and low[k].isalpha() and low[k] not in ("per", "and", "or", "at", "in") and len(words) < 3:
                words.append(low[k])
                k += 1
            if not words:
                break
            out.append(("scope", words, None))
            j = k
            if j < len(low) and low[j] == "and" and j + 1 < len(low) and low[j + 1].isalpha():
                more: list[str] = []
                k = j + 1
                while k < len(low) and low[k].isalpha() and low[k] not in ("per", "and", "can", "must", "may") and len(more) < 3:
                    more.append(low[k])
                    k += 1
                if more and k < len(low) and low[k] in ("can", "must", "may", "is", "are"):
                    out.append(("scope", more, None))
                    j = k
        return out, j

    def quota(
        self,
        clause: _Clause,
        i: int,
        end: int,
        per_end: int,
        op: RuleOperator,
        values: list[RuleValue],
        subject_entity: str | None,
        counted: list[Mention],
        qualifiers: list[str],
        pers: list[tuple[str, list[str], RuleValue | None]],
        context: list[str],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        if values and values[0].number == 1 and (
            op is RuleOperator.EQ or (op is RuleOperator.GE and values[0].text.lower() == "one")
        ):
            return [], per_end, (subject_entity, [])  # "has exactly one policy", "lists one or more lines"
        verb = min(clause.verb_index(), i)
        if verb == i and verb > 1 and low[verb - 1].endswith(("s", "ed")) and low[verb - 1] not in _SKIPPABLE:
            verb -= 1  # "a van sends at most one reading per second": the word before the limit is the verb
        subject_words = [w for w in low[:verb] if w.isalpha() and w not in _SKIPPABLE]
        subject_qualifiers = [w for w in subject_words if w in _QUALIFIERS]
        scope_nouns = [words for kind, words, _ in pers if kind == "scope"]
        window = next((w for kind, _, w in pers if kind == "window"), None)
        entity = counted[0].entity if counted else None
        count_noun = low[end] if end < len(low) else ""
        draft = self.draft(RuleKind.QUOTA, entity, [], op=op, values=values)
        draft.window = window
        if not counted and scope_nouns and values and values[0].number == 1:
            # "at most one school per school year": one record per subject and scope
            nouns = [subject_words[-1:]] if subject_words else []
            nouns += scope_nouns
            for e in self.index.entities.values():
                names = [self.scope_field(e.name, n) for n in nouns]
                if nouns and all(names) and not window:
                    unique = self.draft(RuleKind.UNIQUE, e.name, [n for n in names if n])
                    return [unique], per_end, (e.name, [])
        # "at most 10 tickets per order" where the order counts its tickets
        for nouns in scope_nouns:
            owner = next((m.entity for m in self.index.entity_mentions(tokenize(" ".join(nouns)))), None)
            if owner is not None and count_noun:
                stem = singular(count_noun)
                for candidate in (f"{stem}_count", f"number_of_{count_noun}", f"{stem}s"):
                    if self.index.has_field(owner, candidate):
                        return [self.draft(RuleKind.RANGE, owner, [candidate], op=op, values=values)], per_end, (owner, [])
        if entity is None and count_noun == "times" and window is None:
            return [], per_end, (subject_entity, [])  # "retried up to 3 times": how often, not a limit on data
        if entity is None:
            draft.entity = subject_entity
            draft.reason = f"it counts {count_noun or 'something'} the analysis has no entity for"
            draft.resolved = False
            return [draft], per_end, (subject_entity, [])
        scope: list[str] = []
        missing: list[str] = []
        subject_noun = [w for w in subject_words if w not in _QUALIFIERS][-2:]
        if verb == i or (subject_noun and subject_noun[-1] in ("and", "with", "or")):
            subject_noun = []  # "a survey with a title and up to 50 questions": no subject before the number
        if subject_noun and not any(m.entity == entity for m in clause.entities if m.end <= verb):
            named = self.scope_field(entity, subject_noun) or self.scope_field(entity, subject_noun[-1:])
            if named:
                scope.append(named)
            else:
                missing.append(" ".join(subject_noun))
        elif not subject_noun or any(m.entity == entity for m in clause.entities if m.end <= verb):
            pass
        if not scope and not missing:
            # "a survey with up to 50 questions": the other record named before the number
            for m in clause.entities:
                if m.end <= i and m.entity != entity:
                    named = self.scope_field(entity, snake_case(m.entity).split("_"))
                    if named:
                        scope.append(named)
                        break
        for nouns in scope_nouns:
            named = self.scope_field(entity, nouns)
            if named:
                scope.append(named)
            else:
                missing.append(" ".join(nouns))
        draft.scope = list(dict.fromkeys(scope))
        if window is not None:
            e = self.index.entities[entity]
            times = [f.name for f in e.fields if f.type in _TIMES]
            preferred = [n for n in times if n.endswith(("created_at", "_at"))] + times
            draft.window_field = preferred[0] if preferred else ""
        qualifier = qualifiers + subject_qualifiers + (["at a time"] if self.has(clause, _AT_A_TIME) else [])
        if qualifier:
            draft.reason = f"it counts only {' '.join(qualifier)} records, which no field of {entity} says"
        elif missing:
            draft.reason = f"{entity} has no field for {', '.join(missing)}"
            draft.resolved = False
        elif window is not None and not draft.window_field:
            draft.reason = f"{entity} has no date or time field to place a record in the period"
        elif op in (RuleOperator.GE, RuleOperator.GT, RuleOperator.EQ):
            draft.reason = "a lower bound on a number of records cannot be checked when one is created"
        elif not scope:
            draft.reason = f"the PRD does not say what the {entity} records are counted per"
        if op is RuleOperator.LE and values and values[0].number == 1 and window is None and scope and not draft.reason:
            unique = self.draft(RuleKind.UNIQUE, entity, scope)
            return [unique], per_end, (entity, [])
        return [draft], per_end, (entity, [])

    @staticmethod
    def relative(clause: _Clause, floor: int, i: int) -> bool:
        """Whether the limit at ``i`` is inside a relative clause after the verb ("orders that are ...")."""
        verb = clause.verb_index()
        between = clause.low[max(floor, verb + 1) : i]
        return verb < i and any(w in ("that", "which", "who", "whose") for w in between) and not any(
            w in _MODALS for w in between
        )

    @staticmethod
    def forbidden(clause: _Clause) -> bool:
        """Whether the clause says what it describes is refused ("... that would make it negative is rejected")."""
        return any(w in _FORBIDDEN for w in clause.low) and not clause.negated(0, len(clause.low))

    @staticmethod
    def has(clause: _Clause, words: Sequence[str]) -> bool:
        return any(clause.words_at(k, words) for k in range(len(clause.low)))

    def char_class(self, clause: _Clause, j: int) -> tuple[RuleFormat | None, int]:
        low = clause.low
        k = j
        if k < len(low) and low[k] in ("character", "characters", "char", "chars"):
            k += 1
        for words, fmt in _CHAR_CLASSES:
            for start in (k, j):
                if tuple(low[start : start + len(words)]) == words:
                    stop = start + len(words)
                    if stop < len(low) and low[stop] in ("characters", "character", "string", "chars", "digits"):
                        stop += 1
                    return fmt, stop
        return None, j

    def pair_at(self, clause: _Clause, j: int, joiners: Sequence[str]) -> tuple[Quantity, Quantity, int] | None:
        first = clause.qty.get(j)
        if first is None:
            return None
        k = first.end
        if k < len(clause.low) and clause.low[k] in joiners:
            second = clause.qty.get(k + 1)
            if second is not None:
                if not first.unit and second.unit:
                    first = Quantity(first.start, first.end, first.number, second.unit, first.text)
                return first, second, second.end
        return None

    def list_at(
        self, clause: _Clause, j: int, *, commas_only: bool = False
    ) -> tuple[list[RuleValue], int] | None:
        """A list of short values at ``j``: ``30, 45, 60 or 120 minutes``, ``dog, cat, rabbit or guinea pig``.

        The last item follows ``or``/``and``; with ``commas_only`` (after "one of", in a field's notes) a list of
        two or more comma-separated items needs none. Items are at most three words; returns the values and the
        index after the list.
        """
        low, toks = clause.low, clause.toks
        while j < len(low) and low[j] in (":", "the", "following"):
            j += 1
        items: list[list[Tok]] = [[]]
        k = j
        closed = False
        while k < len(low):
            tok = toks[k]
            if tok.low in (",", "or", "and"):
                if tok.low in ("or", "and"):
                    if closed and tok.low == "and":
                        break
                    closed = True
                if items[-1]:
                    items.append([])
                k += 1
                continue
            if tok.low in (".", ";", ")", "(", ":", "?", "!") or tok.low in _VERBS:
                break
            if tok.low in ("per", "for", "when", "if", "in", "at", "to", "with", "that", "which", "while", "unless", "until"):
                break
            if tok.kind not in ("word", "num") and tok.low != "-":
                break
            if not items[-1] and tok.low in ("a", "an", "the"):
                k += 1
                continue
            if len(items[-1]) >= 3:
                return None
            items[-1].append(tok)
            k += 1
        items = [item for item in items if item]
        if not items or any(t.low in _NOT_VALUES for item in items for t in item):
            return None
        if len(items) == 1:
            only = items[0]
            if len(only) == 1 and only[0].text.isupper() and len(only[0].text) >= 2:
                return [RuleValue(text=only[0].text)], k
            return None
        if not closed and not commas_only:
            return None
        unit = ""
        last = items[-1]
        if len(last) >= 2 and last[0].kind == "num" and last[-1].kind == "word":
            unit, width = unit_at(last, 1)
            if width:
                items[-1] = last[:1]
        values: list[RuleValue] = []
        for item in items:
            text = " ".join(t.text for t in item).replace(" - ", "-").replace("- ", "-")
            if len(item) == 2 and item[0].low == "-" and item[1].num is not None:
                text = f"-{item[1].text}"
            if item[0].kind == "num" and len(item) == 1:
                values.append(RuleValue(text=text, number=item[0].num, unit=unit))
            elif text.startswith("-") and text[1:].replace(".", "", 1).isdigit():
                values.append(RuleValue(text=text, number=Decimal(text), unit=unit))
            elif any(t.kind == "num" for t in item) and len(item) > 1:
                return None
            else:
                values.append(RuleValue(text=text))
        return values, k

    @staticmethod
    def enumerates(clause: _Clause, start: int, listed: tuple[list[RuleValue], int]) -> bool:
        """Whether a list after "is" / "must be" is an enumeration: "30, 45, 60 or 120 minutes", "EUR"."""
        values, end = listed
        if len(values) == 1:
            return values[0].text.isupper() and len(values[0].text) >= 2 and values[0].number is None
        numeric = [v.number is not None for v in values]
        if any(numeric) and not all(numeric) and not any(v.text.isupper() for v in values):
            return False
        joiners = clause.low[start:end]
        return "or" in joiners or len(values) >= 3

    def enumeration(
        self,
        clause: _Clause,
        start: int,
        i: int,
        floor: int,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        # "one of the plans basic, plus or premium": the field is inside the phrase
        j = start
        while j < len(clause.low) and clause.low[j] in ("the", ":", "following"):
            j += 1
        inner = clause.field_at(j, j + 1) if j > start else None
        entity, fields = self.subject(clause, i, floor, context, subject)
        if inner is not None:
            chosen = self.choose(clause, inner, context)
            entity, fields = chosen.entity, [chosen.field]
            j = inner[0].end
        after_one_of = clause.low[i : i + 2] == ["one", "of"]
        listed = self.list_at(clause, j, commas_only=after_one_of)
        if listed is None or not listed[0]:
            if after_one_of:
                draft = self.draft(RuleKind.ENUM, entity, fields, op=RuleOperator.IN)
                draft.reason = "the PRD names where the values come from, not the values"
                return [draft], len(clause.low), (entity, fields)
            return None
        values, end = listed
        if len(values) == 1 and not values[0].text.isupper():
            return None
        draft = self.draft(RuleKind.ENUM, entity, fields, op=RuleOperator.IN, values=values)
        return [draft], end, (entity, fields)

    def unique(
        self, clause: _Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        entity, fields = self.subject(clause, i, floor, context, subject, after=True)
        end = i + 1
        if end + 1 < len(low) and low[end] in ("per", "within", "for", "in"):
            words = [w for w in low[end + 1 : end + 4] if w.isalpha() and w not in _SKIPPABLE][:2]
            named = self.scope_field(entity, words) if entity and not self.is_entity(words, entity) else None
            if named and named not in fields:
                fields = [*fields, named]
            end += 1 + len(words)
        return [self.draft(RuleKind.UNIQUE, entity, fields)], end, (entity, fields)

    def once(
        self, clause: _Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        if low[i] == "twice" or (low[i] == "once" and low[i + 1 : i + 2] != ["per"] and "most" not in low[i - 2 : i]):
            # "renewed at most twice": a count field named after the verb
            if low[i] == "twice" and "most" in low[max(0, i - 2) : i]:
                entity, _ = self.subject(clause, i, floor, context, subject)
                verb = next((w for w in reversed(low[:i]) if w.endswith("ed")), "")
                e = self.index.entities.get(entity or "")
                if e is not None and verb:
                    for f in e.fields:
                        if f.name.endswith("_count") and f.name.startswith(verb[:5]):
                            value = RuleValue(text="twice", number=Decimal(2))
                            return [self.draft(RuleKind.RANGE, entity, [f.name], op=RuleOperator.LE, values=[value])], i + 1, (entity, [])
            return None
        # "can vote once per idea", "sold only once per event", "at most one school per school year",
        # "only one deployment per service and environment", "used for only one account"
        j = i + 1 if low[i] == "once" else i + (3 if low[i] == "at" else 2)
        qualifiers: list[str] = []
        counted: str | None = None
        count_words: list[str] = []
        if low[i] != "once":
            while j < len(low) and low[j] in _QUALIFIERS:
                qualifiers.append(low[j])
                j += 1
            hit = next((m for m in clause.entities if m.start == j), None)
            if hit is not None:
                counted = hit.entity
                j = hit.end
            else:
                while j < len(low) and low[j].isalpha() and low[j] not in ("per", "at", "can", "is") and len(count_words) < 2:
                    count_words.append(low[j])
                    j += 1
        pers, end = self.pers(clause, j)
        windows = [w for kind, _, w in pers if kind == "window"]
        scopes = [words for kind, words, _ in pers if kind == "scope"]
        verb = clause.verb_index()
        subject_words = [w for w in low[:verb] if w.isalpha() and w not in _SKIPPABLE and w not in ("only", "one")]
        qualifiers += [w for w in low[: i] if w in _QUALIFIERS] + [w for w in low[end:] if w in _QUALIFIERS]
        if self.has(clause, _AT_A_TIME):
            qualifiers.append("at a time")
        one = RuleValue(text="once" if low[i] == "once" else "one", number=Decimal(1))
        if windows:  # "once per calendar year", "at most one reading per second": a quota over a period
            entity, _ = self.subject(clause, i, floor, context, subject)
            owner = counted or entity
            return self.quota(
                clause, i, j, end, RuleOperator.LE, [one], entity,
                [m for m in clause.entities if m.entity == owner][:1] if owner else [], qualifiers, pers, context,
            )
        group = clause.field_before(i, 0)
        candidates = [counted] if counted else list(self.index.entities)
        for name in candidates:
            if name is None:
                continue
            first = None
            if group is not None and not counted:
                first = next((m.field for m in group if m.entity == name), None)
            if first is None and subject_words and (not counted or subject_words[-1:] != snake_case(name).split("_")[-1:]):
                first = self.scope_field(name, subject_words[-2:]) or self.scope_field(name, subject_words[-1:])
            named = [self.scope_field(name, words) for words in scopes if not self.is_entity(words, name)]
            fields = [f for f in [first, *named] if f]
            if (counted and named and all(named)) or (first and named and all(named) and first not in named):
                draft = self.draft(RuleKind.UNIQUE, name, fields)
                if qualifiers:
                    draft.reason = f"it holds only for {' '.join(dict.fromkeys(qualifiers))} records, which no field says"
                return [draft], end, (name, [])
        entity, fields = self.subject(clause, i, floor, context, subject)
        if counted and qualifiers:
            draft = self.draft(RuleKind.QUOTA, counted, [], op=RuleOperator.LE, values=[one])
            draft.reason = f"it counts only {' '.join(dict.fromkeys(qualifiers))} records, which no field of {counted} says"
            return [draft], end, (counted, [])
        draft = self.draft(RuleKind.UNIQUE, entity, fields)
        other = " and ".join(" ".join(w) for w in scopes) or " ".join(count_words) or "the other side"
        draft.reason = f"no entity has fields for both {' '.join(subject_words[-2:]) or 'it'} and {other}"
        draft.resolved = False
        return [draft], end, (entity, fields)

    @staticmethod
    def predicative(clause: _Clause, i: int) -> bool:
        """Whether "unique" at ``i`` says something is unique ("is unique", "unique per", "a unique code")."""
        low = clause.low
        before = low[i - 1] if i > 0 else ""
        after = low[i + 1] if i + 1 < len(low) else ""
        if before in ("is", "are", "be", "remain", "remains", "stay", "always", "globally") or not after:
            return True
        if after in ("per", "across", "within", "among", "for", "in", ".", ",", ";", "and", "or", ")"):
            return True
        return clause.field_at(i + 1, i + 2) is not None  # "a unique reference"

    def relative_date(
        self, clause: _Clause, i: int, q: Quantity, context: list[str]
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        """"a due date 21 days after the checkout date": a date field computed from another."""
        low = clause.low
        if q.unit not in ("days", "weeks", "months", "years", "hours", "minutes") or q.end >= len(low):
            return None
        if low[q.end] not in ("after", "before"):
            return None
        group = clause.field_before(i, 0)
        if group is None or group[0].end != i or group[0].start == 0 or low[group[0].start - 1] not in ("a", "an", "the", "its"):
            return None
        chosen = self.choose(clause, group, context)
        if self.index.field_type(chosen.entity, chosen.field) not in _TIMES:
            return None
        base = clause.field_at(q.end + 1, q.end + 2)
        other = self.choose(clause, base, context) if base is not None else None
        draft = self.draft(RuleKind.FORMULA, chosen.entity, [])
        draft.target = chosen.field
        stop = base[0].end if base is not None else min(len(low), q.end + 4)
        if other is None or other.entity != chosen.entity:
            draft.reason = f"it counts from '{clause.text(q.end + 1, q.end + 5)}', which is no field of {chosen.entity}"
            return [draft], stop, (chosen.entity, [chosen.field])
        sign = "add" if low[q.end] == "after" else "sub"
        draft.expression = RuleExpr(
            op=sign, args=(RuleExpr(op="field", name=other.field, entity=other.entity), RuleExpr(op="const", value=_value(q)))
        )
        draft.fields = [other.field]
        return [draft], stop, (chosen.entity, [chosen.field])

    def is_entity(self, words: Sequence[str], entity: str) -> bool:
        """Whether ``words`` name ``entity`` itself ("unique per driver" of a Driver)."""
        return any(m.entity == entity for m in self.index.entity_mentions(tokenize(" ".join(words))))

    def age(
        self,
        clause: _Clause,
        i: int,
        end: int,
        op: RuleOperator,
        values: list[RuleValue],
        entity: str | None,
        fields: list[str],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        verb = clause.verb_index()
        subject_words = [w for w in low[:verb] if w.isalpha() and w not in _SKIPPABLE]
        births = [
            (e.name, f.name)
            for e in self.index.entities.values()
            for f in e.fields
            if {"birth", "dob", "birthday"} & set(f.name.split("_"))
        ]
        birth = max(births, key=lambda b: self._score(b, subject_words, entity)) if births else None
        value = values[0]
        years = RuleValue(text=value.text if value.unit else f"{value.text} years", number=value.number, unit="years")
        draft = self.draft(RuleKind.COMPARISON, birth[0] if birth else entity, [birth[1]] if birth else [])
        if op is RuleOperator.BETWEEN or len(values) > 1 or birth is None or "on" in low[end : end + 1] or (
            "age" in low and any(w in ("on", "at") for w in low[low.index("age") + 1 : low.index("age") + 2])
        ):
            draft = self.draft(RuleKind.RANGE, birth[0] if birth else entity, [], op=op, values=values)
            draft.reason = "an age on a given day, or an age range, which a date of birth alone does not check"
            draft.resolved = False
            return [draft], end, (entity, fields)
        draft.operator = {RuleOperator.GE: RuleOperator.LE, RuleOperator.GT: RuleOperator.LT}.get(op, RuleOperator.GE)
        draft.expression = RuleExpr(
            op="sub", args=(RuleExpr(op="today"), RuleExpr(op="const", value=years))
        )
        return [draft], end, (draft.entity, draft.fields)

    def _score(self, birth: tuple[str, str], subject_words: list[str], entity: str | None) -> int:
        parts = birth[1].split("_")
        owner_words = [singular(w) for w in subject_words]
        score = (birth[0] == entity) * 2 + any(p in owner_words for p in parts) * 3
        return score + int(any(singular(w) in snake_case(birth[0]).split("_") for w in subject_words))

    def offset(
        self,
        clause: _Clause,
        i: int,
        q: Quantity,
        end: int,
        op: RuleOperator,
        floor: int,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        relation = low[end]
        group = clause.field_at(end + 1, end + 2)
        entity, fields = self.subject(clause, i, floor, context, subject)
        other = self.choose(clause, group, context) if group is not None else None
        if other is not None and entity is None:
            entity = other.entity
        if other is not None and (not fields or fields[0] == other.field):
            named = self.verb_field(other.entity, low[:i])
            entity, fields = (other.entity, [named]) if named else (entity, [])
        sign = "sub" if relation == "before" else "add"
        if low[i] == "within":
            op = RuleOperator.LE
        deadline = low[i] in ("until", "up") or clause.words_at(i, ("no", "later", "than"))
        if not fields and not deadline:
            return None  # "emailed within 5 days of the end of the month": no field of the data is limited
        draft = self.draft(RuleKind.COMPARISON, entity, fields[:1], op=op)
        stop = group[0].end if group is not None else min(len(low), end + 4)
        if other is None or not fields or other.entity != entity:
            draft.reason = "it compares with a date of another record, or with no field" if other else (
                f"it compares with '{clause.text(end + 1, end + 5)}', which is no field"
            )
            draft.resolved = other is not None and bool(fields)
            if other is not None and other.entity == entity:
                draft.fields = [*fields[:1], other.field]
            return ([draft], stop, (entity, fields)) if (entity or fields) else None
        draft.fields = [fields[0], other.field]
        draft.expression = RuleExpr(
            op=sign, args=(RuleExpr(op="field", name=other.field, entity=entity), RuleExpr(op="const", value=_value(q)))
        )
        return [draft], stop, (entity, fields)

    def in_time(
        self, clause: _Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        entity, fields = self.subject(clause, i, floor, context, subject)
        if not fields:
            named = self.verb_field(entity, low[:i])
            fields = [named] if named else []
        negated = clause.negated(0, i)
        past = low[i] == "past"
        # cannot be in the past -> >= now; must be in the past -> < now; cannot be in the future -> <= now
        if past:
            op = RuleOperator.GE if negated else RuleOperator.LT
        else:
            op = RuleOperator.LE if negated else RuleOperator.GT
        is_date = bool(fields) and self.index.field_type(entity or "", fields[0]) is FieldType.DATE
        draft = self.draft(RuleKind.COMPARISON, entity, fields, op=op)
        draft.expression = RuleExpr(op="today" if is_date else "now")
        return [draft], i + 1, (entity, fields)

    def duration(
        self, clause: _Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[_Draft], int, tuple[str | None, list[str]]] | None:
        """"A rental lasts at most 30 days": the end of a record compared with its start plus the duration."""
        low = clause.low
        for words, op in _CUES:
            if clause.words_at(i + 1, words) and op in (RuleOperator.LE, RuleOperator.LT):
                q = clause.qty.get(i + 1 + len(words))
                if q is None or q.unit not in ("days", "hours", "minutes", "weeks", "months"):
                    return None
                entity, _ = self.subject(clause, i, floor, context, subject)
                candidates = [entity] if entity else list(self.index.entities)
                for name in candidates:
                    pair = self._start_end(name)
                    if pair is not None:
                        start, stop = pair
                        draft = self.draft(RuleKind.COMPARISON, name, [stop, start], op=RuleOperator.LE)
                        draft.expression = RuleExpr(
                            op="add",
                            args=(RuleExpr(op="field", name=start, entity=name), RuleExpr(op="const", value=_value(q))),
                        )
                        return [draft], q.end, (name, [])
                return None
        return None

    def _start_end(self, entity: str | None) -> tuple[str, str] | None:
        e = self.index.entities.get(entity or "")
        if e is None:
            return None
        times = [f.name for f in e.fields if f.type in _TIMES]
        starts = [n for n in times if any(w in n for w in ("start", "begin", "pickup", "from", "check_in", "depart"))]
        ends = [n for n in times if any(w in n for w in ("end", "finish", "return", "until", "check_out", "arriv"))]
        return (starts[0], ends[0]) if starts and ends and starts[0] != ends[0] else None

    # -- conditions and formulas ----------------------------------------------------------------------------------
    def condition(self, clause: _Clause, source: _Source, context: list[str]) -> _Draft | None:
        low = clause.low
        if source.fixed_fields_only():
            return None
        sub = next((k for k, w in enumerate(low) if w in _SUBORDINATE), None)
        verb = clause.verb_index()
        has_number = any(t.kind == "num" or t.low == "%" for t in clause.toks)
        consequence = ""
        if sub is not None:
            sub_part = low[sub:]
            main = clause.text(0, sub) if sub > 0 else clause.text(next((k for k in range(sub, len(low)) if low[k] == ","), len(low)))
            numeric = any(t.kind == "num" for t in clause.toks[sub:])
            cue_in_sub = any(clause.words_at(k, words) for k in range(sub, len(low)) for words, _ in _CUES)
            prohibits = any(w in _PROHIBIT for w in low) or (
                clause.negated(0, len(low)) and any(w in ("allowed", "possible") for w in low)
            )
            in_sub_field = any(g[0].start >= sub for g in clause.fields)
            if (cue_in_sub and (numeric or in_sub_field)) or (prohibits and len(sub_part) > 1) or (
                "%" in low[sub:] and has_number
            ):
                consequence = main
        if not consequence and verb < len(low):
            # "Claims above 1,000 EUR need a second approval": a limit inside the subject is a condition
            for k in range(1, min(verb, 5)):
                if any(clause.words_at(k, words) for words, op in _CUES if op in _ORDERING):
                    nouns = [w for w in low[:k] if w.isalpha() and w not in _SKIPPABLE]
                    q = clause.qty.get(k + 1) or clause.qty.get(k + 2) or clause.qty.get(k + 3)
                    field_first = any(g[0].end <= k for g in clause.fields)
                    if nouns and q is not None and not field_first and q.unit not in ("characters", "words"):
                        consequence = clause.text(verb)
                        break
        if not consequence and self.has(clause, ("depends", "on")) or self.has(clause, ("varies", "by")):
            consequence = clause.text()
        if not consequence:
            return None
        mentions = [self.choose(clause, g, context) for g in clause.fields]
        entity = mentions[0].entity if mentions else (clause.entities[0].entity if clause.entities else None)
        draft = self.draft(RuleKind.CONDITION, entity, [m.field for m in mentions if m.entity == entity][:3])
        draft.consequence = consequence[:300]
        draft.reason = "a rule with a condition: what follows from it is for a person to implement"
        return draft

    def formula(self, clause: _Clause, context: list[str]) -> _Draft | None:
        low = clause.low
        if clause.fixed_fields:
            return None
        head_end: int | None = None
        body_start = 0
        for k, w in enumerate(low):
            if w in ("calculate", "calculates", "compute", "computes", "computed", "calculated"):
                stop = next((m for m in range(k + 1, len(low)) if low[m] in ("as", ":")), None)
                if stop is not None and not (w in ("calculated", "computed") and k > 0 and low[k - 1] == "is"):
                    head = (k + 1, stop)
                    body_start = stop + 1
                    head_end = stop
                    break
            if w in ("is", "are", "equals", "=") and k > 0:
                body_start = k + 1
                for words in (("calculated", "as"), ("computed", "as"), ("defined", "as"), ("given", "by")):
                    if clause.words_at(body_start, words):
                        body_start += 2
                head = (0, k)
                head_end = k
                break
        if head_end is None:
            return None
        if ":" in clause.low[head[0] : head[1]]:
            head = (head[0] + clause.low[head[0] : head[1]].index(":") + 1, head[1])
        head_words = clause.low[head[0] : head[1]]
        if any(w in _VERBS or w in (",", "that", "so", "want", "when", "if") for w in head_words) or not head_words:
            return None  # "The service must validate that a rate is between ...": no value is computed
        body = clause.toks[body_start:]
        if body and any(clause.words_at(body_start, words) for words, _ in _CUES):
            return None
        main = []
        for tok in body:
            if tok.low in (",", ";"):
                break
            main.append(tok)
        if not has_arithmetic(main):
            return None
        head_toks = clause.toks[head[0] : head[1]]
        target, target_entity = self.target(head_toks, context)
        if target_entity is None and len(context) == 1:
            target_entity = context[0]  # "The fee is ..." in a story about an overdue loan
        parsed = parse_formula(body, self.index, target_entity)
        draft = self.draft(RuleKind.FORMULA, target_entity, [])
        if parsed.expression is None:
            draft.target = target
            draft.reason = "the arithmetic could not be read as a formula"
            return draft
        expr = parsed.expression
        reads = expr.field_names()
        if target_entity is None:
            from agents.lib._prd.formulas import formula_entity

            target_entity = formula_entity(expr)
            draft.entity = target_entity
        if target in reads:
            target = snake_case(" ".join(t.low for t in head_toks if t.low not in _SKIPPABLE)[:60], "value")
        draft.target = target or "value"
        draft.expression = expr
        draft.fields = [name for entity, name in _expr_fields(expr) if entity == draft.entity]
        if parsed.leftover:
            draft.reason = f"it applies only {' '.join(parsed.leftover)[:80]}"
        elif expr.op == "round" and not expr.args:
            draft.reason = "rounding"
        return draft

    def target(self, head: Sequence[Tok], context: list[str]) -> tuple[str, str | None]:
        """The name of the value a formula computes, and its entity: ``the fee of a payment`` -> fee, Payment."""
        low = [t.low for t in head]
        start = 0
        if "'s" in low:  # a possessive: "the member's co-payment"
            start = len(low) - 1 - low[::-1].index("'s") + 1
        words = [t for t in head[start:] if t.low not in _SKIPPABLE and t.kind != "punct"]
        entity: str | None = None
        mentions = self.index.entity_mentions(list(head))
        cut = len(words)
        for n, tok in enumerate(words):
            if tok.low in ("of", "in", "for", "paid", "owed", "to", "from", "on", "at", "within", "with", "using"):
                cut = n
                break
        named = words[:cut]
        clause_fields = self.index.field_mentions(named)
        for group in clause_fields:
            if group[0].start == 0 and group[0].end == len(named):
                pick = [m for m in group if m.entity in [x.entity for x in mentions]] or group
                return pick[0].field, pick[0].entity
        if mentions:
            entity = mentions[-1].entity
            entity_words = [w.lower() for w in snake_case(entity).split("_")]
            trimmed = [t for t in named if singular(t.low) not in entity_words]
            named = trimmed or named
        elif context:
            entity = None
        name = snake_case(" ".join(t.low for t in named[:4]), "value")
        return name, entity

    # -- a draft --------------------------------------------------------------------------------------------------
    @staticmethod
    def draft(
        kind: RuleKind,
        entity: str | None,
        fields: Sequence[str],
        *,
        fmt: RuleFormat | None = None,
        op: RuleOperator | None = None,
        values: Sequence[RuleValue] = (),
    ) -> _Draft:
        return _Draft(kind, entity, list(dict.fromkeys(fields)), op, list(values), fmt)




def _expr_fields(expr: RuleExpr) -> list[tuple[str | None, str]]:
    """The ``(entity, field)`` leaves of an expression, in order, each once."""
    out: dict[tuple[str | None, str], None] = {}
    if expr.op == "field":
        out[(expr.entity, expr.name)] = None
    for arg in expr.args:
        out.update(dict.fromkeys(_expr_fields(arg)))
    return list(out)


# -- where rules are read ------------------------------------------------------------------------------------------
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
) -> list[_Source]:
    out: list[_Source] = []
    for req in functional:
        out.append(_Source(req.text, req.id, req.source_section, context=req.text))
        out.extend(_Source(d, req.id, req.source_section, context=req.text) for d in req.details)
    for story in stories:
        context = f"{story.goal} {story.text}"
        out.append(_Source(story.goal, story.id, story.source_section, context=context))
        out.extend(_Source(c, story.id, story.source_section, context=context) for c in story.acceptance_criteria)
    out.extend(_Source(f, None, "features") for f in features)
    out.extend(_Source(r.text, r.id, r.source_section, strict=True) for r in nfr)
    for section in doc.sections:
        if section.kind not in _PROSE_KINDS:
            continue
        for block in section.blocks:
            if block.kind == "paragraph" and not block.text.lower().startswith(("as a ", "as an ", "as the ")):
                out.append(_Source(block.text, None, section.path(), strict=True))
    for entity in entities:
        for f in entity.fields:
            for note in (n.strip() for n in f.description.split("; ")):
                if note:
                    out.append(_Source(note, None, "data model", entity=entity.name, fields=(f.name,)))
            if "|" in f.source_type and ("'" in f.source_type or '"' in f.source_type):
                values = [v.strip().strip("'\"") for v in f.source_type.split("|")]
                listed = ", ".join(v for v in values if v and v not in ("null", "undefined"))
                out.append(_Source(listed, None, "data model", entity=entity.name, fields=(f.name,)))
    for note in notes:
        out.append(_Source(note.text, None, "data model", entity=note.entity, fields=note.fields))
    return out


def _note_drafts(reader: _Reader, source: _Source) -> list[_Draft]:
    """A field's notes: ``0-100``, ``5-120 characters``, ``unique``, ``draft, submitted, paid``, ``> 0``."""
    text = " ".join(source.text.split())
    low = text.lower()
    if low.startswith(("e.g", "eg ", "for example", "example", "see ")) or not text:
        return []
    toks = tokenize(text)
    words = [t.low for t in toks]
    # a bare list of values: the field's enumeration
    if toks and all(t.kind in ("word", "num", "punct") or t.low == "-" for t in toks) and (
        "," in words or "or" in words
    ):
        clause = _Clause(toks, reader.index, (source.entity, source.fields))
        listed = reader.list_at(clause, 0, commas_only=True)
        verbs = [w for w in words if w in _VERBS or w in ("see", "when", "set", "a", "an", "the")]
        if listed is not None and len(listed[0]) >= 2 and listed[1] >= len(toks) - 1 and not verbs:
            return [_Draft(RuleKind.ENUM, source.entity, list(source.fields), RuleOperator.IN, listed[0])]
    # a symbolic check: "billed_amount > 0", "quantity > 0", "direction in (-1, 1)"
    for k, tok in enumerate(toks):
        if tok.low in (">", "<", ">=", "<=", "=", "!=") and k + 1 < len(toks) and toks[k + 1].kind == "num":
            op = {">": RuleOperator.GT, "<": RuleOperator.LT, ">=": RuleOperator.GE, "<=": RuleOperator.LE,
                  "=": RuleOperator.EQ, "!=": RuleOperator.NE}[tok.low]
            num = toks[k + 1]
            value = RuleValue(text=num.text, number=num.num)
            return [_Draft(RuleKind.RANGE, source.entity, list(source.fields), op, [value])]
        if tok.low == "in" and k + 1 < len(toks) and toks[k + 1].low == "(":
            clause = _Clause(toks, reader.index, (source.entity, source.fields))
            listed = reader.list_at(clause, k + 2)
            if listed is not None and listed[0]:
                values = listed[0]
                if len(values) == 1 and values[0].text.isupper():
                    pass
                # "(-1, 1)" has no "or": read the items one by one
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
                return [_Draft(RuleKind.ENUM, source.entity, list(source.fields), RuleOperator.IN, vals)]
    if words == ["unique"] or low in ("unique", "unique key"):
        return [_Draft(RuleKind.UNIQUE, source.entity, list(source.fields))]
    return reader.read(source, text)


def _resolve(draft: _Draft, index: FieldIndex) -> _Draft:
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
        if ftype not in _NUMERIC and ftype not in _TIMES:
            draft.reason = f"{draft.entity}.{draft.fields[0]} is {ftype}, not a number or a date"
        elif not draft.values:
            draft.reason = "no limit is given"
        elif not _unit_fits(draft.fields[0], ftype, draft.values):
            draft.reason = f"the PRD's unit ({draft.values[-1].unit}) does not fit {draft.entity}.{draft.fields[0]}"
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
        return ftype in _TIMES or bool(_DURATION_WORDS.intersection(name.split("_")))
    return True


def _key(draft: _Draft) -> tuple[object, ...]:
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


def _numeric_type(values: Iterable[RuleValue]) -> FieldType | None:
    numbers = [v for v in values if v.number is not None]
    if not numbers or any(v.number is None for v in values):
        return None
    if any(v.unit in ("EUR", "USD", "GBP", "SEK", "CHF") for v in numbers):
        return FieldType.DECIMAL
    if all(v.number == v.number.to_integral_value() and "." not in v.text for v in numbers):
        return FieldType.INT
    return FieldType.DECIMAL


def _retype(entities: Sequence[Entity], drafts: Sequence[_Draft]) -> tuple[Entity, ...]:
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
    """The rules the PRD states, in its order, and the entities with the field types those rules show."""
    index = FieldIndex(entities)
    reader = _Reader(index)
    drafts: list[tuple[_Draft, _Source, str]] = []
    seen_sentences: set[str] = set()
    for source in _sources(doc, functional, stories, features, nfr, entities, notes):
        if source.fixed_fields_only():
            found = _note_drafts(reader, source)
            drafts.extend((d, source, source.text) for d in found)
            continue
        for sentence in sentences(" ".join(source.text.split())[:5000]):
            key = sentence.lower()
            if key in seen_sentences or len(sentence) < 8:
                continue
            seen_sentences.add(key)
            for d in reader.read(source, sentence):
                drafts.append((d, source, sentence))
    retyped = _retype(entities, [d for d, _, _ in drafts])
    index = FieldIndex(retyped)
    rules: list[Rule] = []
    keys: set[tuple[object, ...]] = set()
    split: list[tuple[_Draft, _Source, str]] = []
    for draft, source, sentence in drafts:
        if draft.kind in _ONE_FIELD_KINDS and len(draft.fields) > 1:
            for name in draft.fields:
                split.append((replace(draft, fields=[name]), source, sentence))
        else:
            split.append((draft, source, sentence))
    for draft, source, sentence in split:
        draft = _resolve(draft, index)
        if source.strict and (draft.entity is None or (not draft.fields and draft.kind is not RuleKind.FORMULA)):
            continue
        if source.strict and draft.reason and draft.kind is RuleKind.CONDITION:
            continue
        key = _key(draft)
        if key in keys:
            continue
        keys.add(key)
        if len(rules) >= _MAX_RULES:
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
