"""Rules about dates and times (private): ages, deadlines, "within N days of", "cannot start in the past".

:class:`DateReader` reads them for :class:`~agents.lib._prd.rule_reader.SentenceReader`: an age becomes a
comparison of a date of birth with today, a deadline a comparison of two date fields with an offset.
"""

from __future__ import annotations

from agents.lib._prd.models import (
    FieldType,
    RuleExpr,
    RuleKind,
    RuleOperator,
    RuleValue,
)
from agents.lib._prd.rule_clause import (
    CUES,
    SKIPPABLE,
    TIMES,
    Clause,
    Draft,
    ReaderBase,
    rule_value,
)
from agents.lib._prd.rule_text import (
    Quantity,
)
from agents.lib._prd.text import singular
from agents.lib.naming import snake_case

__all__ = ["DateReader"]


class DateReader(ReaderBase):
    """Reads ages, deadlines and comparisons of dates."""

    def relative_date(
        self, clause: Clause, i: int, q: Quantity, context: list[str]
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
        """Read "a due date 21 days after the checkout date": a date field computed from another."""
        low = clause.low
        if q.unit not in ("days", "weeks", "months", "years", "hours", "minutes") or q.end >= len(low):
            return None
        if low[q.end] not in ("after", "before"):
            return None
        group = clause.field_before(i, 0)
        if group is None or group[0].start == 0 or low[group[0].start - 1] not in ("a", "an", "the", "its"):
            return None
        # "a due date 21 days after ...", "the due date is 30 days after ..."
        if not (
            group[0].end == i or all(w in ("is", "are", "will", "be", "falls") for w in low[group[0].end : i])
        ):
            return None
        chosen = self.choose(clause, group, context)
        if self.index.field_type(chosen.entity, chosen.field) not in TIMES:
            return None
        base = clause.field_at(q.end + 1, q.end + 2)
        other = self.choose(clause, base, context) if base is not None else None
        draft = self.draft(RuleKind.FORMULA, chosen.entity, [])
        draft.target = chosen.field
        stop = base[0].end if base is not None else min(len(low), q.end + 4)
        if other is None or other.entity != chosen.entity:
            draft.reason = (
                f"it counts from '{clause.text(q.end + 1, q.end + 5)}', which is no field of {chosen.entity}"
            )
            return [draft], stop, (chosen.entity, [chosen.field])
        sign = "add" if low[q.end] == "after" else "sub"
        draft.expression = RuleExpr(
            op=sign,
            args=(
                RuleExpr(op="field", name=other.field, entity=other.entity),
                RuleExpr(op="const", value=rule_value(q)),
            ),
        )
        draft.fields = [other.field]
        return [draft], stop, (chosen.entity, [chosen.field])

    def age(
        self,
        clause: Clause,
        i: int,
        end: int,
        op: RuleOperator,
        values: list[RuleValue],
        entity: str | None,
        fields: list[str],
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        verb = clause.verb_index()
        subject_words = [w for w in low[:verb] if w.isalpha() and w not in SKIPPABLE]
        births = [
            (e.name, f.name)
            for e in self.index.entities.values()
            for f in e.fields
            if {"birth", "dob", "birthday"} & set(f.name.split("_"))
        ]
        birth = max(births, key=lambda b: self._score(b, subject_words, entity)) if births else None
        value = values[0]
        years = RuleValue(
            text=value.text if value.unit else f"{value.text} years", number=value.number, unit="years"
        )
        draft = self.draft(RuleKind.COMPARISON, birth[0] if birth else entity, [birth[1]] if birth else [])
        if (
            op is RuleOperator.BETWEEN
            or len(values) > 1
            or birth is None
            or "on" in low[end : end + 1]
            or ("age" in low and any(w in ("on", "at") for w in low[low.index("age") + 1 : low.index("age") + 2]))
        ):
            draft = self.draft(RuleKind.RANGE, birth[0] if birth else entity, [], op=op, values=values)
            draft.reason = "an age on a given day, or an age range, which a date of birth alone does not check"
            return [draft], end, (entity, fields)
        draft.operator = {RuleOperator.GE: RuleOperator.LE, RuleOperator.GT: RuleOperator.LT}.get(
            op, RuleOperator.GE
        )
        draft.expression = RuleExpr(op="sub", args=(RuleExpr(op="today"), RuleExpr(op="const", value=years)))
        return [draft], end, (draft.entity, draft.fields)

    def _score(self, birth: tuple[str, str], subject_words: list[str], entity: str | None) -> int:
        parts = birth[1].split("_")
        owner_words = [singular(w) for w in subject_words]
        score = (birth[0] == entity) * 2 + any(p in owner_words for p in parts) * 3
        return score + int(any(singular(w) in snake_case(birth[0]).split("_") for w in subject_words))

    def offset(
        self,
        clause: Clause,
        i: int,
        q: Quantity,
        end: int,
        op: RuleOperator,
        floor: int,
        context: list[str],
        subject: tuple[str | None, list[str]],
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
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
            draft.reason = (
                "it compares with a date of another record, or with no field"
                if other
                else (f"it compares with '{clause.text(end + 1, end + 5)}', which is no field")
            )
            if other is not None and other.entity == entity:
                draft.fields = [*fields[:1], other.field]
            return ([draft], stop, (entity, fields)) if (entity or fields) else None
        draft.fields = [fields[0], other.field]
        draft.expression = RuleExpr(
            op=sign,
            args=(
                RuleExpr(op="field", name=other.field, entity=entity),
                RuleExpr(op="const", value=rule_value(q)),
            ),
        )
        return [draft], stop, (entity, fields)

    def in_time(
        self, clause: Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]]:
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
        self, clause: Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
        """Read "A rental lasts at most 30 days": the end of a record compared with its start plus the duration."""
        for words, op in CUES:
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
                            args=(
                                RuleExpr(op="field", name=start, entity=name),
                                RuleExpr(op="const", value=rule_value(q)),
                            ),
                        )
                        return [draft], q.end, (name, [])
                return None
        return None

    def _start_end(self, entity: str | None) -> tuple[str, str] | None:
        e = self.index.entities.get(entity or "")
        if e is None:
            return None
        times = [f.name for f in e.fields if f.type in TIMES]
        starts = [
            n for n in times if any(w in n for w in ("start", "begin", "pickup", "from", "check_in", "depart"))
        ]
        ends = [
            n for n in times if any(w in n for w in ("end", "finish", "return", "until", "check_out", "arriv"))
        ]
        return (starts[0], ends[0]) if starts and ends and starts[0] != ends[0] else None
