"""The rules in one sentence (private): :class:`SentenceReader` finds limits, enumerations, formats and formulas.

It splits a sentence into clauses, finds each cue ("at most", "between", "one of", "must be unique", "is 12%
of"), the field it constrains and the values after it, and leaves :class:`~agents.lib._prd.rule_clause.Draft`
rules for :mod:`agents.lib._prd.rules` to check. Counting rules come from
:class:`~agents.lib._prd.rule_counts.CountReader`, date rules from :class:`~agents.lib._prd.rule_dates.DateReader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from agents.lib._prd.formulas import has_arithmetic, parse_formula
from agents.lib._prd.models import (
    FieldType,
    RuleExpr,
    RuleFormat,
    RuleKind,
    RuleOperator,
    RuleValue,
)
from agents.lib._prd.rule_clause import (
    CHAR_CLASSES,
    COPULA,
    CUES,
    FLIP,
    FORBIDDEN,
    FORMAT_NOUNS,
    MODALS,
    NOT_COUNTED,
    NOT_VALUES,
    NUMBER_ONLY_CUES,
    ORDERING,
    PATTERN_CUES,
    POST_CUES,
    PROHIBIT,
    QUALIFIERS,
    SIGN_CUES,
    SKIPPABLE,
    SUBORDINATE,
    VERBS,
    Clause,
    Draft,
    Source,
    word_value,
)
from agents.lib._prd.rule_counts import CountReader
from agents.lib._prd.rule_dates import DateReader
from agents.lib._prd.rule_text import (
    Quantity,
    Tok,
    tokenize,
    unit_at,
)
from agents.lib._prd.text import singular
from agents.lib.naming import snake_case

__all__ = ["SentenceReader", "expr_fields"]


class SentenceReader(CountReader, DateReader):
    """Reads the rules of one sentence of a PRD, or of a field's notes."""

    def read(self, source: Source, sentence: str) -> list[Draft]:
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
        drafts: list[Draft] = []
        subject: tuple[str | None, list[str]] = (source.entity, list(source.fields))
        context = self.context_entities(source)
        for toks_here in clauses:
            if not toks_here:
                continue
            clause = Clause(toks_here, self.index, (source.entity, source.fields))
            found, subject = self.read_clause(clause, source, context, subject)
            drafts.extend(found)
        return drafts

    def read_clause(
        self,
        clause: Clause,
        source: Source,
        context: list[str],
        inherited: tuple[str | None, list[str]],
    ) -> tuple[list[Draft], tuple[str | None, list[str]]]:
        low = clause.low
        condition = self.condition(clause, source, context)
        if condition is not None:
            return [condition], inherited
        formula = self.formula(clause, context)
        if formula is not None:
            return [formula], inherited
        drafts: list[Draft] = []
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
            subject = (
                first.entity,
                [first.field],
            )  # "Stores can override the maximum stock; an override must ..."
        return drafts, subject

    def cue_at(
        self,
        clause: Clause,
        i: int,
        floor: int,
        source: Source,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        word = low[i]
        # formats named for the subject: "must be a valid email", "(an email address)", "ISO 4217"
        for start, end, fmt in clause.format_spans:
            if start == i:
                entity, fields = self.subject(clause, i, floor, context, subject)
                if fmt is RuleFormat.UUID:
                    return [], end, (entity, fields)
                return [self.draft(RuleKind.FORMAT, entity, fields, fmt=fmt)], end, (entity, fields)
        if word == "valid" and (i + 1 >= len(low) or low[i + 1] in (".", ",", ";", "and", "or")):
            # "the email has to be valid": the field's own name says which format
            entity, fields = self.subject(clause, i, floor, context, subject)
            named_format = next(
                (f for words, f in FORMAT_NOUNS if fields and set(words) <= set(fields[0].split("_"))), None
            )
            if named_format is not None and named_format is not RuleFormat.UUID:
                return [self.draft(RuleKind.FORMAT, entity, fields, fmt=named_format)], i + 1, (entity, fields)
        if (word in ("unique", "uniquely") and self.predicative(clause, i)) or clause.words_at(
            i, ("must", "not", "be", "reused")
        ):
            return self.unique(clause, i, floor, context, subject)
        if (
            word in ("once", "twice")
            or clause.words_at(i, ("only", "one"))
            or clause.words_at(i, ("at", "most", "one"))
        ):
            hit = self.once(clause, i, floor, context, subject)
            if hit is not None:
                return hit
        if (word in ("overlap", "overlapping") and clause.negated(floor, i)) or word == "overlap":
            entity, fields = self.subject(clause, i, floor, context, subject)
            named = [
                self.choose(clause, g, context).field
                for g in clause.fields
                if g[0].start < i and self.choose(clause, g, context).entity == entity
            ]
            draft = self.draft(RuleKind.UNIQUE, entity, named or fields)
            draft.reason = "the PRD forbids overlapping time ranges, which equal values do not capture"
            return [draft], i + 1, (entity, fields)
        for words in PATTERN_CUES:
            if clause.words_at(i, words) and (words != ("format",) or (i > 0 and low[i - 1] not in ("valid",))):
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
        if (word in COPULA or clause.words_at(i, ("must", "be"))) and not clause.words_at(
            i + (2 if clause.words_at(i, ("must", "be")) else 1), ("one", "of")
        ):
            start = i + (2 if clause.words_at(i, ("must", "be")) else 1)
            listed = self.list_at(clause, start)
            if listed is not None and self.enumerates(clause, start, listed):
                return self.enumeration(clause, start, i, floor, context, subject)
        if word == "only" and (listed := self.list_at(clause, i + 1)) is not None and len(listed[0]) >= 2:
            end = listed[1]
            if (
                end + 1 < len(low)
                and low[end] in ("are", "is")
                and low[end + 1]
                in (
                    "accepted",
                    "allowed",
                    "supported",
                    "valid",
                )
            ):
                return self.enumeration(clause, i + 1, i, floor, context, subject)
        if word == "(" and (listed := self.list_at(clause, i + 1)) is not None and len(listed[0]) >= 2:
            before = clause.field_before(i, floor)
            if listed[1] < len(low) and low[listed[1]] == ")" and before is not None and before[0].end == i:
                return self.enumeration(clause, i + 1, i, floor, context, subject)
        for words, op, zero in SIGN_CUES:
            if clause.words_at(i, words):
                entity, fields = self.subject(clause, i, floor, context, subject, after=True)
                later = clause.field_at(i + len(words), i + len(words) + 1)
                if later is not None:  # "a positive quantity and a non-negative unit price"
                    chosen = self.choose(clause, later, context)
                    entity, fields = chosen.entity, [chosen.field]
                if (clause.negated(floor, i) and op is RuleOperator.LT) or (self.forbidden(clause) and op in FLIP):
                    op = FLIP[op]
                draft = self.draft(RuleKind.RANGE, entity, fields, op=op, values=[word_value(str(zero))])
                return [draft], i + len(words), (entity, fields)
        if word in ("past", "future") and i >= 2 and low[i - 2 : i] == ["in", "the"]:
            return self.in_time(clause, i, floor, context, subject)
        if clause.words_at(i, ("on", "the", "hour")) or clause.words_at(i, ("on", "the", "half", "hour")):
            entity, fields = self.subject(clause, i, floor, context, subject)
            if not fields:
                by_verb = self.verb_field(entity, low[:i])
                fields = [by_verb] if by_verb else []
            half = "half" in low[i:]
            minutes = "30" if half else "60"
            draft = self.draft(
                RuleKind.RANGE,
                entity,
                fields,
                op=RuleOperator.MULTIPLE_OF,
                values=[RuleValue(text=f"{minutes} minutes", number=Decimal(minutes), unit="minutes")],
            )
            return [draft], len(low), (entity, fields)
        if word in ("last", "lasts") and i + 1 < len(low):
            hit = self.duration(clause, i, floor, context, subject)
            if hit is not None:
                return hit
        if word in ("between", "from") and (
            pair := self.pair_at(clause, i + 1, ("and",) if word == "between" else ("to",))
        ):
            return self.limit(
                clause, i, pair[2], RuleOperator.BETWEEN, [pair[0], pair[1]], floor, source, context, subject
            )
        if i in clause.qty and (pair := self.pair_at(clause, i, ("to", "-", "through"))) is not None:
            return self.limit(
                clause, i, pair[2], RuleOperator.BETWEEN, [pair[0], pair[1]], floor, source, context, subject
            )
        for words, op in CUES:
            if not clause.words_at(i, words):
                continue
            j = i + len(words)
            if clause.negated(floor, i) and op in FLIP:
                op = FLIP[op]
            return self.after_cue(clause, i, j, op, floor, source, context, subject)
        if i in clause.qty:
            q = clause.qty[i]
            if q.number == 1 and clause.words_at(q.end, ("or", "more")):
                return [], q.end + 2, subject  # "one or more receipt lines": how many, not a limit
            hit = self.relative_date(clause, i, q, context)
            if hit is not None:
                return hit
            for words, op in POST_CUES.items():
                if clause.words_at(q.end, words):
                    return self.limit(clause, i, q.end + 2, op, [q], floor, source, context, subject)
            if q.unit in ("digits",) or self.char_class(clause, q.end)[0] is not None:
                return self.limit(clause, i, q.end, RuleOperator.EQ, [q], floor, source, context, subject)
        return None

    def after_cue(
        self,
        clause: Clause,
        i: int,
        j: int,
        op: RuleOperator,
        floor: int,
        source: Source,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        if op is RuleOperator.MULTIPLE_OF:
            q = clause.qty.get(j)
            if q is None:
                return None
            return self.limit(clause, i, q.end, op, [q], floor, source, context, subject)
        if i > 0 and low[i - 1] in ("half", "rounded", "rounding", "round"):
            return None  # "rounding half-up to 2 decimals"
        if (
            j < len(low)
            and j + 1 < len(low)
            and j in clause.qty
            and low[clause.qty[j].end : clause.qty[j].end + 1] in (["decimals"], ["decimal"], ["places"])
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
            if q.unit in ("days", "weeks", "months", "years", "hours", "minutes") and (
                end < len(low) and low[end] in ("of", "after", "before", "from")
            ):
                return self.offset(clause, i, q, end, op, floor, context, subject)
            if low[i] in ("within", "until"):
                return None  # "published within one minute": how fast, not a rule on the data
            return self.limit(clause, i, end, op, [q], floor, source, context, subject)
        if low[i] in ("within", "until") or (j == i + 1 and low[i] in NUMBER_ONLY_CUES):
            return None
        group = clause.field_at(j, j + 1)
        entity, fields = self.subject(clause, i, floor, context, subject)
        if low[i] in ("after", "before"):
            # "the return time must be after the pick-up time": only with a modal, between fields
            if not any(w in MODALS or w in ("is", "are", "be") for w in low[floor:i]):
                return None
            if group is None:
                # "cannot be submitted after the round's closing date": a date the analysis has no field for
                tail = [w for w in low[j : j + 6] if w.isalpha()]
                dated = next((n for n, w in enumerate(tail) if w in ("date", "time", "deadline", "day")), None)
                by_verb = self.verb_field(entity, low[:i])
                compared = fields or ([by_verb] if by_verb else [])
                if dated is None or not (compared or entity):
                    return None
                draft = self.draft(RuleKind.COMPARISON, entity, compared[:1], op=op)
                draft.reason = f"it compares with '{' '.join(tail[: dated + 1])}', which is no field of {entity}"
                return [draft], j + dated + 1, (entity, compared)
            own = clause.field_before(i, floor)
            if own is not None and own[0].start > clause.verb_index():
                entity, fields = (None, [])  # "sent by email one day after the due date": email is no subject
            if not fields:
                by_verb = self.verb_field(
                    entity or (self.choose(clause, group, context).entity if group else None), low[:i]
                )
                if by_verb:
                    entity = entity or (self.choose(clause, group, context).entity if group else None)
                    fields = [by_verb]
            if not fields:
                return None
        if group is not None:
            other = self.choose(clause, group, context)
            if fields and fields[0] == other.field and entity == other.entity:
                entity, fields = other.entity, []  # "the refund amount must not exceed the invoice amount"
            if entity is None:
                entity = other.entity
            draft = self.draft(RuleKind.COMPARISON, entity, [*fields[:1], other.field])
            draft.operator = op
            if other.entity != entity or not fields:
                draft.reason = (
                    "it compares fields of two different records" if fields else "one side names no field"
                )
                draft.fields = fields[:1]
            else:
                draft.expression = RuleExpr(op="field", name=other.field, entity=other.entity)
            return [draft], group[0].end, (entity, fields)
        if entity is not None or fields:
            words = [w for w in low[j : j + 6] if w.isalpha()]
            if words and op in (RuleOperator.GE, RuleOperator.LE, RuleOperator.GT, RuleOperator.LT):
                draft = self.draft(RuleKind.COMPARISON, entity, fields[:1], op=op)
                draft.reason = f"it compares with '{' '.join(words[:5])}', which is no field of {entity}"
                return [draft], min(len(low), j + len(words)), (entity, fields)
        return None

    def limit(
        self,
        clause: Clause,
        i: int,
        end: int,
        op: RuleOperator,
        qs: list[Quantity],
        floor: int,
        source: Source,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]]:
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
        if (
            (unit == "years" and end < len(low) and low[end] == "old")
            or (end >= 2 and low[end - 2 : end] == ["or", "older"])
            or "aged" in low[max(0, i - 2) : i]
            or "age" in low[max(0, floor) : i]
        ):
            return self.age(
                clause, i, end + (1 if end < len(low) and low[end] == "old" else 0), op, values, entity, fields
            )
        fmt, class_end = self.char_class(clause, end)
        if unit == "digits":
            fmt, class_end = RuleFormat.DIGITS, end
        if fmt is not None and any(w in ("plus", "form", "followed", "then", "prefix", "suffix") for w in low[:i]):
            draft = self.draft(RuleKind.FORMAT, entity, fields)
            draft.reason = f"the format '{clause.text(max(0, i - 4), class_end)}' is more than one character class"
            return [draft], class_end, (entity, fields)
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
        while counted_start < len(low) and low[counted_start] in QUALIFIERS:
            qualifiers.append(low[counted_start])
            counted_start += 1
        counted = [m for m in clause.entities if m.start == counted_start]
        after_noun = end
        while after_noun < len(low) and low[after_noun].isalpha() and low[after_noun] not in NOT_COUNTED:
            after_noun += 1  # "3 times per calendar year": the periods follow what is counted
        pers, per_end = self.pers(clause, counted[0].end if counted else min(after_noun, end + 3))
        if counted and not clause.fixed_fields:
            return self.quota(clause, i, end, per_end, op, values, entity, counted, qualifiers, pers, context)
        text_field = fields and self.index.field_type(entity or "", fields[0]) is FieldType.STR
        if text_field and not unit and end < len(low) and low[end].isalpha() and low[end] not in NOT_COUNTED:
            fields = []  # "each team has at most 3 escalation contacts": a count of something per team
        if not fields and not unit:
            # "a recipe serves between 1 and 24 people": a number field named after the verb
            named = self.verb_field(entity, low[:i], numeric=True)
            if named:
                fields = [named]
        if not fields and not unit and end < len(low) and low[end].isalpha() and low[end] not in NOT_COUNTED:
            return self.quota(clause, i, end, per_end, op, values, entity, counted, qualifiers, pers, context)
        if not fields and pers and any(p[0] == "window" for p in pers):
            draft = self.draft(RuleKind.QUOTA, entity, [], op=op, values=values)
            draft.reason = "a limit on a total over a period, which names no field to count or add up"
            return [draft], per_end, (entity, fields)
        if not fields:
            fields = self.entity_field_by_unit(entity, last)
        draft = self.draft(RuleKind.RANGE, entity, fields, op=op, values=values)
        if qualifiers or (end < len(low) and low[end] == "for" and not fields):
            draft.reason = f"it applies only {' '.join(low[end : end + 4])}"
        return [draft], max(end, per_end if pers and all(p[0] == "self" for p in pers) else end), (entity, fields)

    @staticmethod
    def relative(clause: Clause, floor: int, i: int) -> bool:
        """Whether the limit at ``i`` is inside a relative clause after the verb ("orders that are ...")."""
        verb = clause.verb_index()
        between = clause.low[max(floor, verb + 1) : i]
        return (
            verb < i
            and any(w in ("that", "which", "who", "whose") for w in between)
            and not any(w in MODALS for w in between)
        )

    @staticmethod
    def forbidden(clause: Clause) -> bool:
        """Whether the clause says what it describes is refused ("... that would make it negative is rejected")."""
        return any(w in FORBIDDEN for w in clause.low) and not clause.negated(0, len(clause.low))

    def char_class(self, clause: Clause, j: int) -> tuple[RuleFormat | None, int]:
        low = clause.low
        k = j
        if k < len(low) and low[k] in ("character", "characters", "char", "chars"):
            k += 1
        for words, fmt in CHAR_CLASSES:
            for start in (k, j):
                if tuple(low[start : start + len(words)]) == words:
                    stop = start + len(words)
                    if stop < len(low) and low[stop] in ("characters", "character", "string", "chars", "digits"):
                        stop += 1
                    return fmt, stop
        return None, j

    def pair_at(self, clause: Clause, j: int, joiners: Sequence[str]) -> tuple[Quantity, Quantity, int] | None:
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

    def list_at(self, clause: Clause, j: int, *, commas_only: bool = False) -> tuple[list[RuleValue], int] | None:
        """Return a list of short values at ``j``: ``30, 45, 60 or 120 minutes``, ``dog, cat or guinea pig``.

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
            if tok.low in (".", ";", ")", "(", ":", "?", "!") or tok.low in VERBS:
                break
            if tok.low in (
                "per",
                "for",
                "when",
                "if",
                "in",
                "at",
                "to",
                "with",
                "that",
                "which",
                "while",
                "unless",
                "until",
            ):
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
        if not items or any(t.low in NOT_VALUES for item in items for t in item):
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
    def enumerates(clause: Clause, start: int, listed: tuple[list[RuleValue], int]) -> bool:
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
        clause: Clause,
        start: int,
        i: int,
        floor: int,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
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

    def condition(self, clause: Clause, source: Source, context: list[str]) -> Draft | None:
        low = clause.low
        if source.fixed_fields_only():
            return None
        sub = next((k for k, w in enumerate(low) if w in SUBORDINATE), None)
        verb = clause.verb_index()
        has_number = any(t.kind == "num" or t.low == "%" for t in clause.toks)
        consequence = ""
        if sub is not None:
            sub_part = low[sub:]
            main = (
                clause.text(0, sub)
                if sub > 0
                else clause.text(next((k for k in range(sub, len(low)) if low[k] == ","), len(low)))
            )
            numeric = any(t.kind == "num" for t in clause.toks[sub:])
            cue_in_sub = any(clause.words_at(k, words) for k in range(sub, len(low)) for words, _ in CUES)
            prohibits = any(w in PROHIBIT for w in low) or (
                clause.negated(0, len(low)) and any(w in ("allowed", "possible") for w in low)
            )
            in_sub_field = any(g[0].start >= sub for g in clause.fields)
            if (
                (cue_in_sub and (numeric or in_sub_field))
                or (prohibits and len(sub_part) > 1)
                or ("%" in low[sub:] and has_number)
            ):
                consequence = main
        if not consequence and verb < len(low):
            # "Claims above 1,000 EUR need a second approval": a limit inside the subject is a condition
            for k in range(1, min(verb, 5)):
                if any(clause.words_at(k, words) for words, op in CUES if op in ORDERING):
                    nouns = [w for w in low[:k] if w.isalpha() and w not in SKIPPABLE]
                    q = clause.qty.get(k + 1) or clause.qty.get(k + 2) or clause.qty.get(k + 3)
                    field_first = any(g[0].end <= k for g in clause.fields)
                    if nouns and q is not None and not field_first and q.unit not in ("characters", "words"):
                        consequence = clause.text(verb)
                        break
        if (not consequence and self.has(clause, ("depends", "on"))) or self.has(clause, ("varies", "by")):
            consequence = clause.text()
        if not consequence:
            return None
        mentions = [self.choose(clause, g, context) for g in clause.fields]
        entity = mentions[0].entity if mentions else (clause.entities[0].entity if clause.entities else None)
        draft = self.draft(RuleKind.CONDITION, entity, [m.field for m in mentions if m.entity == entity][:3])
        draft.consequence = consequence[:300]
        draft.reason = "a rule with a condition: what follows from it is for a person to implement"
        return draft

    def formula(self, clause: Clause, context: list[str]) -> Draft | None:
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
        if any(w in VERBS or w in (",", "that", "so", "want", "when", "if") for w in head_words) or not head_words:
            return None  # "The service must validate that a rate is between ...": no value is computed
        body = clause.toks[body_start:]
        if body and any(clause.words_at(body_start, words) for words, _ in CUES):
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
            target = snake_case(" ".join(t.low for t in head_toks if t.low not in SKIPPABLE)[:60], "value")
        draft.target = target or "value"
        draft.expression = expr
        draft.fields = [name for entity, name in expr_fields(expr) if entity == draft.entity]
        if parsed.leftover:
            draft.reason = f"it applies only {' '.join(parsed.leftover)[:80]}"
        elif expr.op == "round" and not expr.args:
            draft.reason = "rounding"
        return draft

    def target(self, head: Sequence[Tok], context: list[str]) -> tuple[str, str | None]:
        """Return the name of the value a formula computes and its entity (``the fee of a payment``: fee)."""
        low = [t.low for t in head]
        start = 0
        if "'s" in low:  # a possessive: "the member's co-payment"
            start = len(low) - 1 - low[::-1].index("'s") + 1
        words = [t for t in head[start:] if t.low not in SKIPPABLE and t.kind != "punct"]
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
            # "a line amount": the last word of an entity's name (InvoiceLine), then one of its fields
            if group[0].start == 1 and group[0].end == len(named):
                word = singular(named[0].low)
                owners = [m for m in group if snake_case(m.entity).split("_")[-1] == word]
                if owners:
                    return owners[0].field, owners[0].entity
        if mentions:
            entity = mentions[-1].entity
            entity_words = [w.lower() for w in snake_case(entity).split("_")]
            trimmed = [t for t in named if singular(t.low) not in entity_words]
            named = trimmed or named
        elif context:
            entity = None
        name = snake_case(" ".join(t.low for t in named[:4]), "value")
        return name, entity


def expr_fields(expr: RuleExpr) -> list[tuple[str | None, str]]:
    """Return the ``(entity, field)`` leaves of an expression, in order, each once."""
    out: dict[tuple[str | None, str], None] = {}
    if expr.op == "field":
        out[(expr.entity, expr.name)] = None
    for arg in expr.args:
        out.update(dict.fromkeys(expr_fields(arg)))
    return list(out)
