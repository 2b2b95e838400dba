"""The words of a rule sentence (private): tokens, numbers with their units, where fields and entities are named.

:func:`tokenize` splits a sentence into word, number and symbol tokens (linear regexes only); :func:`quantities`
reads the numbers with the unit after (or the currency sign before) them; :class:`FieldIndex` finds the
analysis's entities and fields in a token list (``the gross amount`` -> ``Sale.gross_amount``, ``a reading's
speed`` -> ``Reading.speed_kmh``). :mod:`agents.lib._prd.rules` reads the rules from these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from agents.lib._prd.models import Entity, FieldType
from agents.lib._prd.text import singular, word_set
from agents.lib.naming import fold_apostrophes, snake_case, split_words

__all__ = [
    "LENGTH_UNITS",
    "TIME_UNITS",
    "FieldIndex",
    "Mention",
    "Quantity",
    "Tok",
    "quantities",
    "tokenize",
    "unit_at",
]

_TOKEN_RE = re.compile(
    r"(?P<num>(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]))"
    r"|(?P<word>[A-Za-z0-9][A-Za-z0-9_]*)"
    r"|(?P<arrow>-{1,2}>|={1,2}>|[\u2192\u27f6\u21d2])"
    r"|(?P<sym><=|>=|!=|==|[\u2264\u2265\u2260<>=+*/\u00d7\u00f7%\u20ac$\u00a3\u00b2-])"
    r"|(?P<poss>\x00)"
    r"|(?P<punct>[,;:()\[\]\"'.?!])"
)
_DATE_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?\b")
_POSSESSIVE_RE = re.compile("(?<=[A-Za-z])['\u2019]s\\b")
_NUMBER_DASH_WORD_RE = re.compile(r"(\d)-(?=[A-Za-z])")
_WORD_DASH_WORD_RE = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")
_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "hundred": 100,
}

TIME_UNITS: dict[str, str] = {}
for _unit, _forms in (
    ("seconds", "second seconds sec secs s"),
    ("minutes", "minute minutes min mins"),
    ("hours", "hour hours hr hrs h"),
    ("days", "day days"),
    ("weeks", "week weeks"),
    ("months", "month months"),
    ("years", "year years"),
):
    for _form in _forms.split():
        TIME_UNITS[_form] = _unit
"""Time unit words -> their normalized plural (``min`` -> ``minutes``)."""

LENGTH_UNITS = {"character": "characters", "characters": "characters", "chars": "characters", "char": "characters"}
LENGTH_UNITS |= {"word": "words", "words": "words"}
"""Units of a text's length."""

_CURRENCY_CODES = word_set(
    "eur usd gbp sek nok dkk chf jpy cny aud cad nzd pln czk huf inr brl mxn zar sgd hkd try"
)
_CURRENCY_WORDS = {
    "euro": "EUR",
    "euros": "EUR",
    "dollar": "USD",
    "dollars": "USD",
    "pound": "GBP",
    "pounds": "GBP",
}
_CURRENCY_SIGNS = {"\u20ac": "EUR", "$": "USD", "\u00a3": "GBP"}
_OTHER_UNITS = {
    "kg": "kg",
    "g": "grams",
    "gram": "grams",
    "grams": "grams",
    "km": "km",
    "kwh": "kwh",
    "mb": "mb",
    "gb": "gb",
    "kb": "kb",
    "ms": "ms",
    "kcal": "kcal",
    "night": "nights",
    "nights": "nights",
    "percent": "%",
    "digit": "digits",
    "digits": "digits",
}


@dataclass(frozen=True)
class Tok:
    """One token: ``low`` is the lower-case word or the symbol, ``text`` as written, ``num`` for numbers."""

    kind: str  # word, num, sym, punct
    text: str
    low: str
    num: Decimal | None = None

    @property
    def is_word(self) -> bool:
        """Whether the token is a word (not a number, symbol or punctuation)."""
        return self.kind == "word"


def tokenize(text: str) -> list[Tok]:
    """Split a sentence into tokens; ``E.164`` becomes one word, ``8-digit`` a number and a word."""
    text = _DATE_RE.sub(lambda m: m.group().replace("-", "_"), text)  # 2026-02-10 is a date, not a range
    text = _POSSESSIVE_RE.sub(" \x00 ", text)  # "a reading's speed": the possessive is a token of its own
    text = fold_apostrophes(text).replace("E.164", "E164").replace("e.164", "e164")
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", " - ")
    text = _NUMBER_DASH_WORD_RE.sub(r"\1 ", text)  # "8-digit", "32-character": a number and a word
    text = _WORD_DASH_WORD_RE.sub(" ", text)  # "pick-up", "co-payment": two words (a field matches them joined)
    out: list[Tok] = []
    for m in _TOKEN_RE.finditer(text[:2000]):
        kind = m.lastgroup or "punct"
        raw = m.group()
        if kind == "num":
            try:
                out.append(Tok("num", raw, raw, Decimal(raw.replace(",", ""))))
            except InvalidOperation:  # pragma: no cover - the regex only matches numbers
                continue
        elif kind == "arrow":  # "started -> charging": a state change, never a comparison
            out.append(Tok("punct", raw, "->"))
        elif kind == "poss":
            out.append(Tok("punct", "'s", "'s"))
        elif kind == "word":
            low = raw.lower()
            value = _NUMBER_WORDS.get(low)
            out.append(Tok("word", raw, low, Decimal(value) if value is not None else None))
        else:
            out.append(Tok(kind, raw, raw))
    return out


@dataclass(frozen=True)
class Quantity:
    """A number in a sentence, with its unit: tokens ``start`` to ``end`` (exclusive)."""

    start: int
    end: int
    number: Decimal
    unit: str
    text: str


def unit_at(toks: Sequence[Tok], i: int) -> tuple[str, int]:
    """Return the unit that starts at token ``i`` and the number of tokens it takes (``("", 0)`` when none)."""
    if i >= len(toks):
        return "", 0
    tok = toks[i]
    if tok.low == "%":
        return "%", 1
    if not tok.is_word:
        return "", 0
    low = tok.low
    nxt = toks[i + 1].low if i + 1 < len(toks) else ""
    if low == "per" and nxt == "cent":
        return "%", 2
    if low in ("km", "m") and nxt == "/" and i + 2 < len(toks):
        second = toks[i + 2].low
        if second in ("h", "s"):
            extra = 1 if i + 3 < len(toks) and toks[i + 3].low == "\u00b2" else 0
            return f"{low}/{second}{'2' if extra else ''}", 3 + extra
    if low == "kmh":
        return "km/h", 1
    if low in _CURRENCY_CODES:
        return low.upper(), 1
    if low in _CURRENCY_WORDS:
        return _CURRENCY_WORDS[low], 1
    if low in ("working", "business", "calendar") and nxt in TIME_UNITS:
        return TIME_UNITS[nxt], 2
    if low in TIME_UNITS and (len(low) > 1 or low in ("h", "s")):
        return TIME_UNITS[low], 1
    if low in LENGTH_UNITS:
        return LENGTH_UNITS[low], 1
    if low in _OTHER_UNITS:
        return _OTHER_UNITS[low], 1
    return "", 0


def quantities(toks: Sequence[Tok]) -> list[Quantity]:
    """Every number of the sentence with its unit (``0.30 EUR``, ``12%``, ``\u20ac5``, ``90 days``, ``two``)."""
    out: list[Quantity] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        sign = ""
        start = i
        if tok.low in _CURRENCY_SIGNS and i + 1 < len(toks) and toks[i + 1].kind == "num":
            sign = _CURRENCY_SIGNS[tok.low]
            i += 1
            tok = toks[i]
        if tok.num is None or (tok.is_word and i + 1 < len(toks) and toks[i + 1].low in ("of", "another")):
            i += 1
            continue
        unit, width = unit_at(toks, i + 1)
        if sign:
            unit = sign
        end = i + 1 + width
        text = " ".join(t.text for t in toks[start:end]).replace(" %", "%").replace("\u20ac ", "\u20ac")
        out.append(Quantity(start, end, tok.num, unit, text.replace("$ ", "$").replace("\u00a3 ", "\u00a3")))
        i = end
    return out


# -- where entities and fields are named --------------------------------------------------------------------------
_UNIT_WORDS = word_set(
    "kmh kph mph kg g grams gram km kwh mb gb ms pct percent eur usd gbp sek days day seconds second "
    "minutes minute "
    "hours hour months month weeks week years year nights night cents cent"
)
# words a field's name may end with that a sentence leaves out: "the destination must be a valid URL"
_FORMAT_WORDS = word_set("url uri email address")
_TIME_SUFFIX = {"at": ("at", "time", "timestamp", "date", "on"), "on": ("on", "date", "day")}
_REF_SUFFIX = word_set("id ids code name key number no ref")
_ABBREVIATIONS = {
    "avg": "average",
    "min": "minimum",
    "max": "maximum",
    "qty": "quantity",
    "num": "number",
    "pct": "percent",
    "amt": "amount",
    "desc": "description",
    "dob": "birth",
    "percentage": "percent",
    "e": "e",
}
# a field called "at" or "to" is never found by those words in a sentence
_NOT_FIELD_WORDS = word_set("a an the at on in of to by for from is are be as or and")
_PREPOSITIONS = word_set("by of at on to from in for")


def _stem(word: str) -> str:
    word = _ABBREVIATIONS.get(word, word)
    return singular(word)


@dataclass(frozen=True)
class Mention:
    """Tokens ``start`` to ``end`` name ``field`` of ``entity`` (``field`` empty: the entity itself)."""

    start: int
    end: int
    entity: str
    field: str
    exact: bool = True


@dataclass
class _FieldKey:
    entity: str
    field: str
    words: tuple[str, ...]  # stems to find in order
    optional_tail: tuple[str, ...]  # words that may follow (at -> time, timestamp...)
    exact: bool


class FieldIndex:
    """The entities and fields of an analysis, found by their words in a sentence's tokens."""

    def __init__(self, entities: Sequence[Entity]) -> None:
        self.entities = {e.name: e for e in entities}
        self.keys: list[_FieldKey] = []
        self.entity_words: list[tuple[tuple[str, ...], str]] = []
        for entity in entities:
            for spelling in dict.fromkeys((entity.name, entity.alias or entity.name)):
                words = tuple(_stem(w.lower()) for w in split_words(spelling))
                if words:
                    self.entity_words.append((words, entity.name))
            for f in entity.fields:
                self._add_field(entity.name, f.name, f.alias)
        self.entity_words.sort(key=lambda item: -len(item[0]))
        order = {name: n for n, name in enumerate(self.entities)}
        self.keys = [k for k in self.keys if not set(k.words) <= _NOT_FIELD_WORDS]
        self.keys.sort(key=lambda k: (-len(k.words), order[k.entity]))
        self.by_first: dict[str, list[int]] = {}
        self.by_prefix: dict[str, list[int]] = {}
        for rank, key in enumerate(self.keys):
            self.by_first.setdefault(key.words[0], []).append(rank)
            if key.optional_tail and len(key.words[0]) >= 4:
                self.by_prefix.setdefault(key.words[0][:4], []).append(rank)

    def _add_field(self, entity: str, name: str, alias: str | None) -> None:
        for spelling in dict.fromkeys((name, snake_case(alias or name, "value"))):
            words = [w for w in spelling.split("_") if w]
            tail: tuple[str, ...] = ()
            if len(words) > 1 and words[-1] in _TIME_SUFFIX:
                tail = _TIME_SUFFIX[words[-1]]
                words = words[:-1]
            stems = tuple(_stem(w) for w in words)
            self.keys.append(_FieldKey(entity, name, stems, tail, True))
            core = tuple(w for w in stems if w not in _UNIT_WORDS)
            if core and core != stems:
                self.keys.append(_FieldKey(entity, name, core, (), False))
            plain = tuple(w for w in core if w not in _FORMAT_WORDS)
            if plain and plain != core:
                self.keys.append(_FieldKey(entity, name, plain, (), False))
            bare = tuple(w for w in core if w not in _PREPOSITIONS)
            if bare and bare != core and len(bare) >= 1:
                self.keys.append(_FieldKey(entity, name, bare, (), False))

    def field_type(self, entity: str, field: str) -> FieldType | None:
        """Return the type of ``entity.field``, or ``None`` when there is no such field."""
        e = self.entities.get(entity)
        f = e.field(field) if e is not None else None
        return f.type if f is not None else None

    def has_field(self, entity: str | None, field: str) -> bool:
        """Whether ``entity`` has a field called ``field``."""
        return entity is not None and self.field_type(entity, field) is not None

    def owners(self, field: str) -> list[str]:
        """Return the entities that have a field called ``field``, in order."""
        return [name for name, e in self.entities.items() if e.field(field) is not None]

    @staticmethod
    def stems(toks: Sequence[Tok]) -> list[str]:
        """Return the token stems a field's words are compared with (``readings`` -> ``reading``)."""
        return [_stem(t.low) if t.is_word else t.low for t in toks]

    def entity_mentions(self, toks: Sequence[Tok], taken: set[int] | None = None) -> list[Mention]:
        """Where entities are named (``line items`` -> ``LineItem``), longest names first, no overlaps."""
        stems = self.stems(toks)
        used = set(taken or ())
        out: list[Mention] = []
        for words, name in self.entity_words:
            n = len(words)
            for i in range(len(stems) - n + 1):
                if any(j in used for j in range(i, i + n)):
                    continue
                if tuple(stems[i : i + n]) == words:
                    out.append(Mention(i, i + n, name, ""))
                    used.update(range(i, i + n))
        return sorted(out, key=lambda m: m.start)

    def field_mentions(self, toks: Sequence[Tok], taken: set[int] | None = None) -> list[list[Mention]]:
        """Where fields are named: one list of candidates (one per entity having the field) per place."""
        stems = self.stems(toks)
        joined = [stems[i] + stems[i + 1] if i + 1 < len(stems) else "" for i in range(len(stems))]
        used = set(taken or ())
        found: list[list[Mention]] = []
        for i, tok in enumerate(toks):  # a field written as its name: first_response_at
            if tok.is_word and "_" in tok.low and i not in used:
                exact = [Mention(i, i + 1, e, tok.low) for e in self.owners(tok.low)]
                if exact:
                    found.append(exact)
                    used.add(i)
        # every key that matches somewhere (looked up by its first word), then the longest keys first
        candidates: list[tuple[int, int, int, _FieldKey]] = []
        for start in range(len(stems)):
            if start in used:
                continue
            ranks = set(self.by_first.get(stems[start], ()))
            ranks.update(self.by_first.get(joined[start], ()))
            event = _EVENT_NOUNS.get(stems[start], stems[start])
            ranks.update(self.by_prefix.get(event[:4], ()) if len(event) >= 4 else ())
            for rank in ranks:
                key = self.keys[rank]
                end = self._match(key, stems, joined, start, used)
                if end is not None:
                    candidates.append((rank, start, end, key))
        candidates.sort(key=lambda c: (c[0], c[1]))
        merged: dict[tuple[int, int], list[Mention]] = {}
        for group in found:
            merged[(group[0].start, group[0].end)] = list(group)
        for _rank, start, end, key in candidates:
            if any(k in used for k in range(start, end)):
                continue
            merged[(start, end)] = [Mention(start, end, key.entity, key.field, key.exact)]
            used.update(range(start, end))
        # the same words in another entity's field of that name: "status" of Claim and of Payout
        for _rank, start, end, key in candidates:
            bucket = merged.get((start, end))
            if bucket is not None and all((x.entity, x.field) != (key.entity, key.field) for x in bucket):
                bucket.append(Mention(start, end, key.entity, key.field, key.exact))
        return [merged[k] for k in sorted(merged)]

    @staticmethod
    def _match(key: _FieldKey, stems: list[str], joined: list[str], start: int, used: set[int]) -> int | None:
        """Return the end of ``key`` found at ``start`` (one word of gap allowed inside), else ``None``."""
        i = start
        for n, word in enumerate(key.words):
            if i >= len(stems) or i in used:
                return None
            if stems[i] == word or (n == 0 and key.optional_tail and _same_event(stems[i], word)):
                i += 1
            elif (joined[i] == word and i + 1 not in used) or (
                n > 0
                and i + 1 < len(stems)
                and stems[i] not in ("and", "or", ",", ";", "per")
                and i + 1 not in used
                and stems[i + 1] == word
            ):
                i += 2
            else:
                return None
        if key.optional_tail and i < len(stems) and stems[i] in key.optional_tail and i not in used:
            i += 1
        return i


_EVENT_NOUNS = {"entry": "enter", "exit": "exit", "arrival": "arriv", "departure": "depart", "receipt": "receiv"}


def _same_event(word: str, field_word: str) -> bool:
    """Whether a sentence's word names the event a time field records: ``expiry`` / ``expires_at``."""
    stem = _EVENT_NOUNS.get(word)
    if stem is not None:
        return field_word.startswith(stem)
    return len(word) >= 5 and len(field_word) >= 5 and word[:5] == field_word[:5]


def is_reference_word(word: str) -> bool:
    """Whether ``word`` ends a reference field's name (``id``, ``code``, ``name``, ``number``...)."""
    return word in _REF_SUFFIX
