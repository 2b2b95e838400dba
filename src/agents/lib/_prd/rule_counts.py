"""Rules about how many records there may be (private): quotas, "at most one ... per ...", uniqueness.

``at most 8 bookings per day``, ``a member has at most one active membership``, ``can vote once per idea``,
``must be unique``: :class:`CountReader` reads them for :class:`~agents.lib._prd.rule_reader.SentenceReader`.
"""

from __future__ import annotations

from decimal import Decimal

from agents.lib._prd.models import (
    RuleKind,
    RuleOperator,
    RuleValue,
)
from agents.lib._prd.rule_clause import (
    AT_A_TIME,
    PERIOD_WORDS,
    QUALIFIERS,
    SKIPPABLE,
    TIMES,
    Clause,
    Draft,
    ReaderBase,
)
from agents.lib._prd.rule_text import (
    TIME_UNITS,
    Mention,
    tokenize,
)
from agents.lib._prd.text import singular
from agents.lib.naming import snake_case

__all__ = ["CountReader"]


class CountReader(ReaderBase):
    """Reads quotas and uniqueness."""

    def pers(self, clause: Clause, j: int) -> tuple[list[tuple[str, list[str], RuleValue | None]], int]:
        """Return the ``per ...`` phrases after token ``j``: a period (``per day``) or a scope (``per member``)."""
        low = clause.low
        out: list[tuple[str, list[str], RuleValue | None]] = []
        while j < len(low) and low[j] in ("per", "each", "a", "every") and j + 1 < len(low):
            k = j + 1
            if low[k] in ("calendar", "working", "business") and k + 1 < len(low):
                k += 1
            if low[k] in PERIOD_WORDS or low[k] in ("second", "hour", "day", "week", "month", "year"):
                unit = TIME_UNITS[low[k]]
                out.append(("window", [], RuleValue(text=clause.text(j + 1, k + 1), number=Decimal(1), unit=unit)))
                j = k + 1
                continue
            if low[j] in ("a", "each", "every"):
                break
            words: list[str] = []
            while (
                k < len(low)
                and low[k].isalpha()
                and low[k] not in ("per", "and", "or", "at", "in")
                and len(words) < 3
            ):
                words.append(low[k])
                k += 1
            if not words:
                break
            out.append(("scope", words, None))
            j = k
            if j < len(low) and low[j] == "and" and j + 1 < len(low) and low[j + 1].isalpha():
                more: list[str] = []
                k = j + 1
                while (
                    k < len(low)
                    and low[k].isalpha()
                    and low[k] not in ("per", "and", "can", "must", "may")
                    and len(more) < 3
                ):
                    more.append(low[k])
                    k += 1
                if more and k < len(low) and low[k] in ("can", "must", "may", "is", "are"):
                    out.append(("scope", more, None))
                    j = k
        return out, j

    def quota(
        self,
        clause: Clause,
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
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        if (
            values
            and values[0].number == 1
            and (op is RuleOperator.EQ or (op is RuleOperator.GE and values[0].text.lower() == "one"))
        ):
            return [], per_end, (subject_entity, [])  # "has exactly one policy", "lists one or more lines"
        verb = min(clause.verb_index(), i)
        if verb == i and verb > 1 and low[verb - 1].endswith(("s", "ed")) and low[verb - 1] not in SKIPPABLE:
            verb -= 1  # "a van sends at most one reading per second": the word before the limit is the verb
        subject_words = [w for w in low[:verb] if w.isalpha() and w not in SKIPPABLE]
        subject_qualifiers = [w for w in subject_words if w in QUALIFIERS]
        scope_nouns = [words for kind, words, _ in pers if kind == "scope"]
        window = next((w for kind, _, w in pers if kind == "window"), None)
        entity = counted[0].entity if counted else None
        count_noun = low[end] if end < len(low) else ""
        draft = self.draft(RuleKind.QUOTA, entity, [], op=op, values=values)
        draft.window = window
        if not counted and scope_nouns and values and values[0].number == 1:
            # "at most one school per school year": one record per subject and scope
            noun_groups = [subject_words[-1:]] if subject_words else []
            noun_groups += scope_nouns
            for e in self.index.entities.values():
                names = [self.scope_field(e.name, n) for n in noun_groups]
                if noun_groups and all(names) and not window:
                    unique = self.draft(RuleKind.UNIQUE, e.name, [n for n in names if n])
                    return [unique], per_end, (e.name, [])
        # "at most 10 tickets per order" where the order counts its tickets
        for nouns in scope_nouns:
            owner = next((m.entity for m in self.index.entity_mentions(tokenize(" ".join(nouns)))), None)
            if owner is not None and count_noun:
                stem = singular(count_noun)
                for candidate in (f"{stem}_count", f"number_of_{count_noun}", f"{stem}s"):
                    if self.index.has_field(owner, candidate):
                        return (
                            [self.draft(RuleKind.RANGE, owner, [candidate], op=op, values=values)],
                            per_end,
                            (owner, []),
                        )
        if entity is None and count_noun == "times" and window is None:
            return [], per_end, (subject_entity, [])  # "retried up to 3 times": how often, not a limit on data
        if entity is None:
            draft.entity = subject_entity
            draft.reason = f"it counts {count_noun or 'something'} the analysis has no entity for"
            return [draft], per_end, (subject_entity, [])
        scope: list[str] = []
        missing: list[str] = []
        subject_noun = [w for w in subject_words if w not in QUALIFIERS][-2:]
        if verb == i or (subject_noun and subject_noun[-1] in ("and", "with", "or")):
            subject_noun = []  # "a survey with a title and up to 50 questions": no subject before the number
        if subject_noun and not any(m.entity == entity for m in clause.entities if m.end <= verb):
            named = self.scope_field(entity, subject_noun) or self.scope_field(entity, subject_noun[-1:])
            if named:
                scope.append(named)
            else:
                missing.append(" ".join(subject_noun))
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
            times = [f.name for f in e.fields if f.type in TIMES]
            preferred = [n for n in times if n.endswith(("created_at", "_at"))] + times
            draft.window_field = preferred[0] if preferred else ""
        qualifier = qualifiers + subject_qualifiers + (["at a time"] if self.has(clause, AT_A_TIME) else [])
        if qualifier:
            draft.reason = f"it counts only {' '.join(qualifier)} records, which no field of {entity} says"
        elif missing:
            draft.reason = f"{entity} has no field for {', '.join(missing)}"
        elif window is not None and not draft.window_field:
            draft.reason = f"{entity} has no date or time field to place a record in the period"
        elif op in (RuleOperator.GE, RuleOperator.GT, RuleOperator.EQ):
            draft.reason = "a lower bound on a number of records cannot be checked when one is created"
        elif not scope:
            draft.reason = f"the PRD does not say what the {entity} records are counted per"
        if (
            op is RuleOperator.LE
            and values
            and values[0].number == 1
            and window is None
            and scope
            and not draft.reason
        ):
            unique = self.draft(RuleKind.UNIQUE, entity, scope)
            return [unique], per_end, (entity, [])
        return [draft], per_end, (entity, [])

    def unique(
        self, clause: Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]]:
        low = clause.low
        entity, fields = self.subject(clause, i, floor, context, subject, after=True)
        end = i + 1
        if end + 1 < len(low) and low[end] in ("per", "within", "for", "in"):
            words = [w for w in low[end + 1 : end + 4] if w.isalpha() and w not in SKIPPABLE][:2]
            named = self.scope_field(entity, words) if entity and not self.is_entity(words, entity) else None
            if named and named not in fields:
                fields = [*fields, named]
            end += 1 + len(words)
        return [self.draft(RuleKind.UNIQUE, entity, fields)], end, (entity, fields)

    def once(
        self, clause: Clause, i: int, floor: int, context: list[str], subject: tuple[str | None, list[str]]
    ) -> tuple[list[Draft], int, tuple[str | None, list[str]]] | None:
        low = clause.low
        if low[i] == "twice" or (
            low[i] == "once" and low[i + 1 : i + 2] != ["per"] and "most" not in low[i - 2 : i]
        ):
            # "renewed at most twice": a count field named after the verb
            if low[i] == "twice" and "most" in low[max(0, i - 2) : i]:
                entity, _ = self.subject(clause, i, floor, context, subject)
                verb_word = next((w for w in reversed(low[:i]) if w.endswith("ed")), "")
                e = self.index.entities.get(entity or "")
                if e is not None and verb_word:
                    for f in e.fields:
                        if f.name.endswith("_count") and f.name.startswith(verb_word[:5]):
                            value = RuleValue(text="twice", number=Decimal(2))
                            return (
                                [self.draft(RuleKind.RANGE, entity, [f.name], op=RuleOperator.LE, values=[value])],
                                i + 1,
                                (entity, []),
                            )
            return None
        # "can vote once per idea", "sold only once per event", "at most one school per school year",
        # "only one deployment per service and environment", "used for only one account"
        j = i + 1 if low[i] == "once" else i + (3 if low[i] == "at" else 2)
        qualifiers: list[str] = []
        counted: str | None = None
        count_words: list[str] = []
        if low[i] != "once":
            while j < len(low) and low[j] in QUALIFIERS:
                qualifiers.append(low[j])
                j += 1
            hit = next((m for m in clause.entities if m.start == j), None)
            if hit is not None:
                counted = hit.entity
                j = hit.end
            else:
                while (
                    j < len(low)
                    and low[j].isalpha()
                    and low[j] not in ("per", "at", "can", "is")
                    and len(count_words) < 2
                ):
                    count_words.append(low[j])
                    j += 1
        pers, end = self.pers(clause, j)
        windows = [w for kind, _, w in pers if kind == "window"]
        scopes = [words for kind, words, _ in pers if kind == "scope"]
        verb = clause.verb_index()
        subject_words = [w for w in low[:verb] if w.isalpha() and w not in SKIPPABLE and w not in ("only", "one")]
        qualifiers += [w for w in low[:i] if w in QUALIFIERS] + [w for w in low[end:] if w in QUALIFIERS]
        if self.has(clause, AT_A_TIME):
            qualifiers.append("at a time")
        one = RuleValue(text="once" if low[i] == "once" else "one", number=Decimal(1))
        if windows:  # "once per calendar year", "at most one reading per second": a quota over a period
            entity, _ = self.subject(clause, i, floor, context, subject)
            owner = counted or entity
            return self.quota(
                clause,
                i,
                j,
                end,
                RuleOperator.LE,
                [one],
                entity,
                [m for m in clause.entities if m.entity == owner][:1] if owner else [],
                qualifiers,
                pers,
                context,
            )
        group = clause.field_before(i, 0)
        candidates = [counted] if counted else list(self.index.entities)
        for name in candidates:
            if name is None:
                continue
            first = None
            if group is not None and not counted:
                first = next((m.field for m in group if m.entity == name), None)
            if (
                first is None
                and subject_words
                and (not counted or subject_words[-1:] != snake_case(name).split("_")[-1:])
            ):
                first = self.scope_field(name, subject_words[-2:]) or self.scope_field(name, subject_words[-1:])
            named = [self.scope_field(name, words) for words in scopes if not self.is_entity(words, name)]
            fields = [f for f in [first, *named] if f]
            if (counted and named and all(named)) or (first and named and all(named) and first not in named):
                draft = self.draft(RuleKind.UNIQUE, name, fields)
                if qualifiers:
                    draft.reason = (
                        f"it holds only for {' '.join(dict.fromkeys(qualifiers))} records, which no field says"
                    )
                return [draft], end, (name, [])
        entity, fields = self.subject(clause, i, floor, context, subject)
        if counted and qualifiers:
            draft = self.draft(RuleKind.QUOTA, counted, [], op=RuleOperator.LE, values=[one])
            draft.reason = (
                f"it counts only {' '.join(dict.fromkeys(qualifiers))} records, which no field of {counted} says"
            )
            return [draft], end, (counted, [])
        draft = self.draft(RuleKind.UNIQUE, entity, fields)
        other = " and ".join(" ".join(w) for w in scopes) or " ".join(count_words) or "the other side"
        draft.reason = f"no entity has fields for both {' '.join(subject_words[-2:]) or 'it'} and {other}"
        return [draft], end, (entity, fields)

    @staticmethod
    def predicative(clause: Clause, i: int) -> bool:
        """Whether "unique" at ``i`` says something is unique ("is unique", "unique per", "a unique code")."""
        low = clause.low
        before = low[i - 1] if i > 0 else ""
        after = low[i + 1] if i + 1 < len(low) else ""
        if before in ("is", "are", "be", "remain", "remains", "stay", "always", "globally") or not after:
            return True
        if after in ("per", "across", "within", "among", "for", "in", ".", ",", ";", "and", "or", ")"):
            return True
        return clause.field_at(i + 1, i + 2) is not None  # "a unique reference"
