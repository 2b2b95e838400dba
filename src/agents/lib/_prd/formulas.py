"""Arithmetic in a PRD's words, as a :class:`RuleExpr` tree (private).

``parse_formula`` reads "12% of the gross amount, at least 0.30 EUR", "the gross amount minus the fee",
"0.45 GBP per day plus 0.28 GBP per kWh consumed" or "the sum of quantity times unit price of its line items"
into a tree of ``field``/``input``/``const`` leaves and operator nodes. Words it cannot place are returned as the
leftover, which makes the rule a hook: nothing is ever guessed into a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from agents.lib._prd.models import RuleExpr, RuleValue
from agents.lib._prd.rule_text import FieldIndex, Quantity, Tok, quantities
from agents.lib._prd.text import singular, word_set
from agents.lib.naming import snake_case

__all__ = ["ARITHMETIC_WORDS", "Formula", "has_arithmetic", "parse_formula"]

ARITHMETIC_WORDS = word_set("plus minus times multiplied divided less sum half twice")
"""Words that make a predicate arithmetic."""

_ADD = {"plus": "add", "+": "add", "minus": "sub", "-": "sub", "less": "sub"}
_MUL = {"times": "mul", "*": "mul", "\u00d7": "mul", "x": "mul", "/": "div", "\u00f7": "div"}
_STOP = word_set(
    "plus minus times multiplied divided less and or at rounded never capped with for in per of but "
    "which that if when where while whichever"
) | frozenset({",", ";", ":", ".", "(", ")", "+", "-", "*", "/", "\u00d7", "\u00f7"})
_ARTICLES = word_set("the a an its their his her this that each every any")
_OPERAND_SKIP = word_set("timestamp value")
_MONEY_OR_RATE = word_set("%") | frozenset(
    u for u in ("EUR", "USD", "GBP", "SEK", "CHF", "NOK", "DKK", "PLN", "JPY", "AUD", "CAD")
)
_MAX_INPUT_WORDS = 4
_RESULT_UNITS = word_set("kwh grams kg kcal eur gbp usd sek days hours minutes seconds percent cents pence km")


@dataclass
class Formula:
    """What :func:`parse_formula` read: the expression (``None`` when none), the leftover words, the unit."""

    expression: RuleExpr | None
    leftover: list[str] = field(default_factory=list)
    unit: str = ""


def has_arithmetic(toks: Sequence[Tok]) -> bool:
    """Whether the words read as arithmetic: an operator word, ``N% of``, ``the sum of``, ``N EUR per X``."""
    for i, tok in enumerate(toks):
        if tok.low == "times" and (
            i + 1 >= len(toks) or toks[i + 1].low in ("with", "a", "per", "each", ",", ".")
        ):
            continue  # "retried up to 3 times with backoff": how often, not a product
        if tok.low in ARITHMETIC_WORDS or tok.low in ("\u00d7", "*"):
            return True
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        after = toks[i + 2].low if i + 2 < len(toks) else ""
        if tok.kind == "num" and ((nxt == "%" and after == "of") or (nxt == "percent" and after == "of")):
            return True
        if tok.kind == "num" and nxt in _MONEY_OR_RATE_LOWER and after == "per":
            return True
    return False


_MONEY_OR_RATE_LOWER = frozenset(u.lower() for u in _MONEY_OR_RATE)


class _Parser:
    def __init__(self, toks: Sequence[Tok], index: FieldIndex, entity: str | None) -> None:
        self.toks = list(toks)
        self.index = index
        self.entity = entity
        self.pos = 0
        self.quantities = {q.start: q for q in quantities(self.toks)}
        self.leftover: list[str] = []
        self.unit = ""

    # -- helpers --------------------------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.toks[i].low if i < len(self.toks) else ""

    def accept(self, *words: str) -> bool:
        if all(self.peek(n) == w for n, w in enumerate(words)):
            self.pos += len(words)
            return True
        return False

    def quantity_here(self) -> Quantity | None:
        return self.quantities.get(self.pos)

    @staticmethod
    def const(q: Quantity) -> RuleExpr:
        return RuleExpr(op="const", value=RuleValue(text=q.text, number=q.number, unit=q.unit))

    # -- grammar --------------------------------------------------------------------------------------------------
    def expression(self) -> RuleExpr | None:
        left = self.term()
        if left is None:
            return None
        while True:
            op = _ADD.get(self.peek())
            if op is None:
                return left
            self.pos += 1
            right = self.term()
            if right is None:
                return None
            left = RuleExpr(op=op, args=(left, right))

    def term(self) -> RuleExpr | None:
        left = self.factor()
        if left is None:
            return None
        while True:
            if self.accept("multiplied", "by"):
                op = "mul"
            elif self.accept("divided", "by"):
                op = "div"
            elif self.peek() in _MUL:
                op = _MUL[self.peek()]
                self.pos += 1
            else:
                return left
            right = self.factor()
            if right is None:
                return None
            left = RuleExpr(op=op, args=(left, right))

    def factor(self) -> RuleExpr | None:
        while self.peek() in _ARTICLES:
            self.pos += 1
        if self.accept("sum", "of"):
            return self.sum()
        if self.accept("half", "of") or self.accept("half"):
            inner = self.factor()
            half = RuleExpr(op="const", value=RuleValue(text="half", number=Decimal("0.5")))
            return None if inner is None else RuleExpr(op="mul", args=(half, inner))
        q = self.quantity_here()
        if q is not None:
            return self.quantity_factor(q)
        operand = self.operand()
        if operand is None:
            return None
        # "a booking fee of 1.50 EUR per ticket": the words before "of" name the amount after it
        if self.peek() == "of" and self.quantities.get(self.pos + 1) is not None and operand.op == "input":
            self.pos += 1
            quantity = self.quantities[self.pos]
            return self.quantity_factor(quantity)
        return operand

    def quantity_factor(self, q: Quantity) -> RuleExpr | None:
        self.pos = q.end
        value = self.const(q)
        if q.unit == "%" and self.accept("of"):
            base = self.factor()
            return None if base is None else RuleExpr(op="percent_of", args=(value, base))
        if self.peek() == "per" and q.unit and q.unit not in ("days", "hours", "minutes", "seconds"):
            self.pos += 1
            per = self.operand()
            return None if per is None else RuleExpr(op="mul", args=(value, per))
        return value

    def sum(self) -> RuleExpr | None:
        start = self.pos
        # find "of its <entity plural>" / "of the <entity plural>" closing the sum
        end = len(self.toks)
        over: str | None = None
        for i in range(start, len(self.toks) - 1):
            if self.toks[i].low == "of" and self.toks[i + 1].low in ("its", "the", "all", "their"):
                mentions = self.index.entity_mentions(self.toks[i + 2 : i + 6])
                if mentions and mentions[0].start == 0:
                    over = mentions[0].entity
                    end = i
                    tail = i + 2 + mentions[0].end
                    break
        if over is None:
            return self.sum_of_records(start)
        inner = _Parser(self.toks[start:end], self.index, over)
        body = inner.expression()
        if body is None or inner.pos < len(inner.toks):
            return None
        self.pos = tail
        return RuleExpr(op="sum", entity=over, args=(body,))

    def sum_of_records(self, start: int) -> RuleExpr | None:
        """Read "the sum of the nightly rates (of its nights)": the one amount of each record summed."""
        i = start
        while i < len(self.toks) and self.toks[i].low in _ARTICLES:
            i += 1
        mentions = self.index.entity_mentions(self.toks[i : i + 4])
        if not mentions:
            return None
        # "nightly rates": the entity's name may come after a word about it
        first = mentions[0]
        if first.start > 1:
            return None
        entity = self.index.entities.get(first.entity)
        amounts = [f.name for f in entity.fields if f.type.value == "decimal"] if entity else []
        if len(amounts) != 1:
            return None
        self.pos = i + first.end
        if self.peek() == "of" and self.peek(1) in ("its", "their", "the") and self.pos + 2 < len(self.toks):
            self.pos += 3  # "of its nights": which records are summed, as the caller passes them
        field = RuleExpr(op="field", name=amounts[0], entity=first.entity)
        return RuleExpr(op="sum", entity=first.entity, args=(field,))

    def operand(self) -> RuleExpr | None:
        words: list[Tok] = []
        start = self.pos
        # "the number of servings" -> servings / a count field
        counting = self.accept("number", "of")
        while self.pos < len(self.toks):
            tok = self.toks[self.pos]
            if tok.low == "'s" and words:  # a possessive: "the consultant's hourly rate"
                words = []
                self.pos += 1
                continue
            if tok.low in _STOP or tok.kind in ("num", "punct") or tok.low in _ADD or tok.low in _MUL:
                # "X in kWh" / "X in grams": a unit, part of the field's name
                if tok.low == "in" and words and self.pos + 1 < len(self.toks):
                    unit_word = self.toks[self.pos + 1].low
                    if unit_word in ("grams", "kwh", "days", "hours", "minutes", "kg", "km", "eur", "gbp"):
                        words.append(self.toks[self.pos + 1])
                        self.pos += 2
                        continue
                # "the fuel level at the start of the hour", "the days in the month": part of what it is called
                if tok.low in ("at", "in") and words and self.peek(1) in ("the", "a", "an"):
                    self.pos += 2
                    words.append(tok)
                    continue
                # "X of the month" / "the safety stock of the warehouse": a possessor, dropped
                if tok.low == "of" and words and self.peek(1) in _ARTICLES:
                    save = self.pos
                    self.pos += 2
                    while self.pos < len(self.toks) and self.toks[self.pos].is_word and self.peek() not in _STOP:
                        self.pos += 1
                    if self.pos - save > 4:
                        self.pos = save
                        break
                    continue
                break
            if tok.low not in _ARTICLES and tok.low not in _OPERAND_SKIP:
                words.append(tok)
            self.pos += 1
        if not words:
            self.pos = start
            return None
        return self.resolve(words, counting)

    def resolve(self, words: list[Tok], counting: bool) -> RuleExpr:
        mentions = self.index.field_mentions(words)
        whole = [m for group in mentions for m in group if m.start == 0 and m.end == len(words)]
        if not whole:
            # "the bill amount", "the invoice amount": an entity's name, then one of its fields
            for owner in self.index.entity_mentions(words):
                if owner.start == 0:
                    whole = [
                        m
                        for group in mentions
                        for m in group
                        if m.start == owner.end and m.end == len(words) and m.entity == owner.entity
                    ]
                    break
        if counting and not whole:
            stem = singular(words[-1].low)
            for candidate in (f"{stem}_count", f"{words[-1].low}", f"number_of_{words[-1].low}"):
                owners = self.index.owners(candidate)
                if owners:
                    entity = self.entity if self.entity in owners else owners[0]
                    return self.field_or_input(entity, candidate)
        if whole:
            mine = [m for m in whole if m.entity == self.entity]
            chosen = mine[0] if mine else whole[0]
            return self.field_or_input(chosen.entity, chosen.field)
        names = [w.low for w in words][:_MAX_INPUT_WORDS]
        if counting:
            names = ["number", "of", *names][:_MAX_INPUT_WORDS]
        return RuleExpr(op="input", name=snake_case("_".join(names), "value", prefix="f"))

    def field_or_input(self, entity: str, name: str) -> RuleExpr:
        if self.entity is None:
            self.entity = entity
        if entity == self.entity:
            return RuleExpr(op="field", name=name, entity=entity)
        return RuleExpr(op="input", name=name)

    # -- what may follow the expression ---------------------------------------------------------------------------
    def modifiers(self, expr: RuleExpr) -> RuleExpr:
        while self.pos < len(self.toks):
            if self.peek() in (",", ";", "and", "but"):
                self.pos += 1
                continue
            bound = self.bound()
            if bound is not None:
                op, value = bound
                expr = RuleExpr(op=op, args=(expr, value))
                continue
            digits = self.rounding()
            if digits is not None:
                expr = RuleExpr(op="round", digits=digits, args=(expr,))
                continue
            if self.peek() == "in" and self.peek(1) in _RESULT_UNITS:  # "in kWh": the unit of the result
                self.unit = self.toks[self.pos + 1].text
                self.pos += 2
                continue
            if self.peek() == "per" and self.entity is not None:  # "per loan": the rule's own entity
                mentions = self.index.entity_mentions(self.toks[self.pos + 1 : self.pos + 4])
                if mentions and mentions[0].entity == self.entity and mentions[0].start == 0:
                    self.pos += 1 + mentions[0].end
                    continue
            self.leftover = [t.text for t in self.toks[self.pos :] if t.kind != "punct"]
            break
        return expr

    def bound(self) -> tuple[str, RuleExpr] | None:
        save = self.pos
        op: str | None = None
        for words, name in (
            (("at", "least"), "max"),
            (("no", "less", "than"), "max"),
            (("a", "minimum", "of"), "max"),
            (("minimum",), "max"),
            (("never", "below"), "max"),
            (("never", "less", "than"), "max"),
            (("not", "below"), "max"),
            (("at", "most"), "min"),
            (("capped", "at"), "min"),
            (("up", "to"), "min"),
            (("no", "more", "than"), "min"),
            (("a", "maximum", "of"), "min"),
            (("maximum",), "min"),
            (("never", "above"), "min"),
            (("never", "more", "than"), "min"),
        ):
            if self.accept(*words):
                op = name
                break
        if op is None:
            return None
        q = self.quantity_here()
        if q is None:
            self.pos = save
            return None
        self.pos = q.end
        return op, self.const(q)

    def rounding(self) -> int | None:
        save = self.pos
        if not (self.accept("rounded") or self.accept("rounding")):
            return None
        self.accept("half", "up")
        self.accept("-")
        if self.peek() == "up" or self.peek() == "down":
            self.pos = save
            return None  # rounding up to whole cases: not a plain rounding
        if not self.accept("to"):
            self.pos = save
            return None
        self.accept("the")
        if self.accept("nearest", "whole", "number") or self.accept("whole", "number") or self.accept("nearest"):
            self.accept("integer")
            return 0
        q = self.quantity_here()
        if q is not None and self.peek(1) in ("decimal", "decimals", "places", "digits"):
            self.pos = q.end + 1
            self.accept("places")
            return int(q.number)
        if self.peek() in ("cent", "cents", "penny", "pence"):
            self.pos += 1
            return 2
        if self.accept("whole") and self.peek() in ("pence", "cents", "euros", "units"):
            self.pos += 1
            return 0
        self.pos = save
        return None


def parse_formula(toks: Sequence[Tok], index: FieldIndex, entity: str | None) -> Formula:
    """Read the arithmetic in ``toks`` (the words after "is" / "as"); fields resolve against ``entity`` first."""
    parser = _Parser(toks, index, entity)
    expr = parser.expression()
    if expr is None:
        return Formula(None, [t.text for t in toks if t.kind != "punct"])
    expr = parser.modifiers(expr)
    return Formula(expr, parser.leftover, parser.unit)


def formula_entity(expr: RuleExpr) -> str | None:
    """Return the entity the expression's ``field`` leaves belong to (the first), or ``None``."""
    if expr.op == "field":
        return expr.entity
    for arg in expr.args:
        found = formula_entity(arg)
        if found is not None:
            return found
    return None
