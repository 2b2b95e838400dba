"""The pieces the rule reader works with (private): its word lists, a clause, a rule draft, the shared lookups.

A :class:`Clause` is one clause of a sentence with its numbers and the fields and entities it names; a
:class:`Draft` is a rule before it is checked; :class:`ReaderBase` chooses entities and fields for the readers in
:mod:`agents.lib._prd.rule_reader`, :mod:`agents.lib._prd.rule_counts` and :mod:`agents.lib._prd.rule_dates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from agents.lib._prd.models import (
    FieldType,
    RuleExpr,
    RuleFormat,
    RuleKind,
    RuleOperator,
    RuleValue,
)
from agents.lib._prd.rule_text import (
    TIME_UNITS,
    FieldIndex,
    Mention,
    Quantity,
    Tok,
    is_reference_word,
    quantities,
    tokenize,
)
from agents.lib._prd.text import singular, word_set

__all__ = ["Clause", "Draft", "FieldNote", "ReaderBase", "Source", "rule_value", "word_value"]

MAX_RULES = 200
ONE_FIELD_KINDS = frozenset({RuleKind.RANGE, RuleKind.LENGTH, RuleKind.ENUM, RuleKind.FORMAT})
NUMERIC = frozenset({FieldType.INT, FieldType.FLOAT, FieldType.DECIMAL})
TIMES = frozenset({FieldType.DATE, FieldType.DATETIME})

# (words, operator): a limit before a number; longest first
CUES: list[tuple[tuple[str, ...], RuleOperator]] = sorted(
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
                "a maximum of|maximum of|maximum|max|capped at|limited to|no greater than|no higher than|"
                "at or below|"
                "no later than|no longer than|not longer than|no bigger than|no larger than|within|until|<=|"
                "\u2264",
            ),
            (
                RuleOperator.GT,
                "greater than|more than|larger than|higher than|longer than|bigger than|above|over|older than|"
                "later than|exceed|exceeds|exceeding|>",
            ),
            (
                RuleOperator.LT,
                "less than|fewer than|lower than|smaller than|shorter than|below|under|younger than|"
                "earlier than|<",
            ),
            (RuleOperator.GE, "no shorter than|not shorter than|no earlier than|not earlier than"),
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
NUMBER_ONLY_CUES = word_set("maximum minimum max min above over under below")
POST_CUES = {("or", "more"): RuleOperator.GE, ("or", "above"): RuleOperator.GE, ("or", "older"): RuleOperator.GE}
POST_CUES |= {("or", "over"): RuleOperator.GE, ("or", "less"): RuleOperator.LE, ("or", "fewer"): RuleOperator.LE}
POST_CUES |= {("or", "under"): RuleOperator.LE, ("or", "younger"): RuleOperator.LE}
SIGN_CUES: list[tuple[tuple[str, ...], RuleOperator, int]] = [
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
FLIP = {
    RuleOperator.GT: RuleOperator.LE,
    RuleOperator.GE: RuleOperator.LT,
    RuleOperator.LT: RuleOperator.GE,
    RuleOperator.LE: RuleOperator.GT,
    RuleOperator.EQ: RuleOperator.NE,
}
NEGATIONS = word_set("not cannot never no")
NOT_COUNTED = word_set("per from to in on at of for by with and or the a an its than")
FORBIDDEN = word_set("rejected refused forbidden prohibited disallowed blocked declined")
ORDERING = frozenset({RuleOperator.GT, RuleOperator.LT, RuleOperator.GE, RuleOperator.LE})
MODALS = word_set("must shall should may can cannot will would need needs")
VERBS = MODALS | word_set(
    "is are be was were has have holds hold lasts last serves serve costs cost requires require receives receive "
    "gets get applies apply gives give takes take pays pay"
)
SUBORDINATE = word_set("when if unless once whenever while")
PROHIBIT = word_set("prevent prevents prevented refuse refused refuses reject rejected rejects block blocked")
QUALIFIERS = word_set(
    "active open upcoming pending current existing unpaid free paid verified trial outstanding running live"
)
PERIOD_WORDS = {w: u for w, u in TIME_UNITS.items() if len(w) > 3}
CHAR_CLASSES: list[tuple[tuple[str, ...], RuleFormat]] = sorted(
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
FORMAT_NOUNS: list[tuple[tuple[str, ...], RuleFormat]] = sorted(
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
PATTERN_CUES: tuple[tuple[str, ...], ...] = (
    ("followed", "by"),
    ("follows",),
    ("follow",),
    ("matches",),
    ("pattern",),
    ("format",),
)
AT_A_TIME = ("at", "a", "time")
SKIPPABLE = word_set("the a an its their his her this that each every any")
COPULA = word_set("is are be equals")
# words that are never one of an enumeration's values: "positive and at most", "greater than or equal"
NOT_VALUES = word_set(
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
class Source:
    text: str
    requirement_id: str | None
    section: str
    strict: bool = False  # prose: only rules on a known entity and field, no conditions
    nfr: bool = False  # a non-functional requirement: only rules the generator can implement
    entity: str | None = None  # a field's notes: the entity and field are known
    fields: tuple[str, ...] = ()
    context: str = ""

    def fixed_fields_only(self) -> bool:
        """Whether the source is a field's notes (its entity and fields are known)."""
        return self.entity is not None and bool(self.fields)


@dataclass
class Draft:
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


def rule_value(q: Quantity) -> RuleValue:
    return RuleValue(text=q.text, number=q.number, unit=q.unit)


def word_value(text: str) -> RuleValue:
    try:
        number: Decimal | None = Decimal(text)
    except ArithmeticError:
        number = None
    return RuleValue(text=text, number=number)


class Clause:
    """One clause of a sentence: its tokens, numbers, and where fields and entities are named."""

    def __init__(self, toks: list[Tok], index: FieldIndex, fixed: tuple[str | None, tuple[str, ...]]) -> None:
        self.toks = toks
        self.low = [t.low for t in toks]
        self.index = index
        self.qty = {q.start: q for q in quantities(toks)}
        self.format_spans: list[tuple[int, int, RuleFormat]] = []
        taken: set[int] = set()
        verb = next((k for k, w in enumerate(self.low) if w in VERBS), len(self.low))
        fixed_subject = bool(fixed[1])
        for i in range(len(toks)):
            for words, fmt in FORMAT_NOUNS:
                if tuple(self.low[i : i + len(words)]) != words or any(
                    a <= i < b for a, b, _ in self.format_spans
                ):
                    continue
                # a format is named in the predicate ("must be a valid email"), in parentheses, or is unmistakable
                # (E.164, ISO 4217); "the phone number is ..." and "Both IBANs must be ..." name the subject
                predicate = i > verb or fixed_subject or self._in_parentheses(i)
                valid = "valid" in self.low[max(0, i - 4) : i] or self.low[
                    i + len(words) : i + len(words) + 1
                ] == ["format"]
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
        while j >= 0 and self.low[j] in SKIPPABLE | {"valid", "iso"} | {"4217", "3166"}:
            j -= 1
        return j >= 0 and self.low[j] in ("is", "are", "be", "as", "in")

    def _in_parentheses(self, i: int) -> bool:
        j = i - 1
        while j >= 0 and self.low[j] in SKIPPABLE:
            j -= 1
        return j >= 0 and self.low[j] == "("

    def text(self, start: int = 0, end: int | None = None) -> str:
        """Return tokens ``start`` to ``end`` as text, spaced as written ("a manager's approval, 50%.")."""
        joined = " ".join(t.text for t in self.toks[start:end])
        for before, after in ((" ,", ","), (" .", "."), (" 's", "'s"), (" %", "%"), ("( ", "("), (" )", ")")):
            joined = joined.replace(before, after)
        return joined

    def words_at(self, i: int, words: Sequence[str]) -> bool:
        return tuple(self.low[i : i + len(words)]) == tuple(words)

    def field_at(self, start: int, end: int) -> list[Mention] | None:
        """Return the field mention group that starts in [start, end) after nothing but articles, or None."""
        for group in self.fields:
            if start <= group[0].start < end + 3:
                owner = next((m for m in self.entities if m.start >= start and m.end < group[0].start), None)
                gap = range(start, group[0].start)
                if owner is not None and group[0].start >= 1 and self.low[group[0].start - 1] == "'s":
                    gap = range(start, owner.start)  # "the round's decision date"
                if all(self.low[k] in SKIPPABLE or self.low[k] == "'s" for k in gap):
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
        return next((i for i, w in enumerate(self.low) if w in VERBS), len(self.low))

    def negated(self, floor: int, i: int) -> bool:
        return any(w in NEGATIONS for w in self.low[floor:i]) or any(
            w.endswith("nt") and w in ("cant", "dont", "doesnt", "mustnt", "shouldnt") for w in self.low[floor:i]
        )


class ReaderBase:
    """What every rule reader needs: the analysis's fields, and the choice of entity and field for a mention."""

    def __init__(self, index: FieldIndex) -> None:
        self.index = index

    def choose(self, clause: Clause, group: list[Mention], context: Sequence[str]) -> Mention:
        """Return the candidate of a field mention whose entity the sentence, requirement or PRD points to."""
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
        """Return the field of ``entity`` a scope noun names: ``member`` -> ``member_id``."""
        e = self.index.entities.get(entity)
        if e is None or not words:
            return None
        stems = [singular(w) for w in words if w not in SKIPPABLE]
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
        """Return a date or time field of ``entity`` named after a verb: ``submitted`` -> ``submitted_at``.

        ``numeric``: a number field instead (``serves`` -> ``servings``).
        """
        e = self.index.entities.get(entity or "")
        if e is None:
            return None
        if numeric:
            for word in reversed(list(words)):
                stem = word[:-1] if word.endswith("s") else word
                if len(stem) < 4 or word in VERBS:
                    continue
                for f in e.fields:
                    if f.type in NUMERIC and f.name.split("_")[0].startswith(stem[:4]):
                        return f.name
            return None
        for word in reversed(list(words)):
            if len(word) < 4 or word in SKIPPABLE:
                continue
            stem = word[:-2] if word.endswith("ed") else word[:-1] if word.endswith("s") else word
            if word == "dated":
                dated = [f.name for f in e.fields if f.type in TIMES and "date" in f.name.split("_")]
                if dated:
                    return dated[0]
            for f in e.fields:
                if f.type in TIMES and f.name.split("_")[0].startswith(stem[:5]) and len(stem) >= 4:
                    return f.name
        return None

    def is_entity(self, words: Sequence[str], entity: str) -> bool:
        """Whether ``words`` name ``entity`` itself ("unique per driver" of a Driver)."""
        return any(m.entity == entity for m in self.index.entity_mentions(tokenize(" ".join(words))))

    def context_entities(self, source: Source) -> list[str]:
        if not source.context:
            return []
        return list(dict.fromkeys(m.entity for m in self.index.entity_mentions(tokenize(source.context))))

    def subject(
        self,
        clause: Clause,
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
        """Return the one field of ``entity`` a number of that unit is about (``EUR``: its one money field)."""
        e = self.index.entities.get(entity or "")
        if e is None or q is None:
            return []
        if q.unit in ("EUR", "USD", "GBP", "SEK", "CHF"):
            money = [f.name for f in e.fields if f.type is FieldType.DECIMAL]
            return money[:1] if len(money) == 1 else []
        return []

    @staticmethod
    def has(clause: Clause, words: Sequence[str]) -> bool:
        return any(clause.words_at(k, words) for k in range(len(clause.low)))

    @staticmethod
    def draft(
        kind: RuleKind,
        entity: str | None,
        fields: Sequence[str],
        *,
        fmt: RuleFormat | None = None,
        op: RuleOperator | None = None,
        values: Sequence[RuleValue] = (),
    ) -> Draft:
        return Draft(kind, entity, list(dict.fromkeys(fields)), op, list(values), fmt)
