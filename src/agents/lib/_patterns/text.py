"""Words for pattern evidence: a conservative suffix stemmer, and the stemmed words and phrases of a text.

The stemmer folds inflections (``caches``, ``cached``, ``caching`` -> ``cach``) and the common derivations
(``validation``, ``validated``, ``validator`` -> ``validat``) with a short ordered rule list; it never strips
a suffix that would leave fewer than three letters (five for ``-er``/``-or``, so ``author`` stays ``author``
and never meets ``auth``). Pattern keywords go through the same function, so both sides agree.

A word right after a negation (``no``, ``not``, ``without``, ``never``...) or inside the two words after it is
not evidence: "no caching is needed" says nothing for caching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NEGATIONS", "StemmedText", "stem", "stem_phrase", "stemmed_text"]

_WORD_RE = re.compile(r"[a-z0-9]+")
NEGATIONS = frozenset({"no", "not", "without", "never", "nor", "none", "cannot", "don", "doesn", "isn"})
"""Words after which the next words are not evidence."""
_NEGATION_REACH = 3

# (suffix, replacement, shortest stem left), tried in order; the first that applies wins.
_DERIVATIONS: tuple[tuple[str, str, int], ...] = (
    ("izations", "iz", 3),
    ("isations", "iz", 3),
    ("ization", "iz", 3),
    ("isation", "iz", 3),
    ("ational", "at", 3),
    ("ations", "at", 3),
    ("ation", "at", 3),
    ("ements", "", 4),
    ("ement", "", 4),
    ("ments", "", 4),
    ("ment", "", 4),
    ("izing", "iz", 3),
    ("ising", "iz", 3),
    ("ized", "iz", 3),
    ("ised", "iz", 3),
    ("ize", "iz", 3),
    ("ise", "iz", 3),
    ("ings", "", 3),
    ("ing", "", 3),
    ("ably", "", 3),
    ("able", "", 3),
    ("ers", "", 5),
    ("ors", "", 5),
    ("er", "", 5),
    ("or", "", 5),
    ("ed", "", 3),
    ("ly", "", 4),
    ("e", "", 3),
)
_UNDOUBLE = re.compile(r"([b-df-hj-km-rtv-y])\1$")  # a doubled consonant other than l, s, z


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """Return the stem of a lower-case word (``caching`` -> ``cach``, ``authorization`` -> ``authoriz``)."""
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix, replacement, shortest in _DERIVATIONS:
        if w.endswith(suffix) and len(w) - len(suffix) >= shortest:
            w = w[: len(w) - len(suffix)] + replacement
            if suffix in ("ing", "ings", "ed", "er", "ers") and _UNDOUBLE.search(w):
                w = w[:-1]
            break
    return w


def stem_phrase(phrase: str) -> tuple[str, ...]:
    """Return the stems of the words of ``phrase`` (``"Log in"`` -> ``("log", "in")``)."""
    return tuple(stem(w) for w in _WORD_RE.findall(phrase.lower()))


@dataclass(frozen=True)
class StemmedText:
    """The stems of a text that count as evidence, and its stemmed word pairs and triples (for phrases)."""

    stems: frozenset[str]
    phrases: frozenset[tuple[str, ...]]

    def has_phrase(self, phrase: tuple[str, ...]) -> bool:
        """Return whether the stemmed ``phrase`` (one, two or three words) occurs, not negated."""
        if len(phrase) == 1:
            return phrase[0] in self.stems
        return phrase in self.phrases


def _affirmed_runs(text: str, stems_only: set[str]) -> Iterable[list[str]]:
    """Yield runs of words of ``text`` (per sentence-ish chunk) with negated words left out.

    Negation words go to ``stems_only``: they are words of the text, but no phrase runs across them.
    """
    for chunk in re.split(r"[.;:!?()\[\]\n|]+", text.lower()):
        run: list[str] = []
        reach = 0
        for word in _WORD_RE.findall(chunk):
            if word in NEGATIONS:  # the negation itself is a word ("cannot" states a rule)
                reach = _NEGATION_REACH
                stems_only.add(word)
                if run:
                    yield run
                run = []
                continue
            if reach:
                reach -= 1
                continue
            run.append(stem(word))
        if run:
            yield run


def stemmed_text(texts: Iterable[str]) -> StemmedText:
    """Return the evidence words and phrases of ``texts`` (each text read separately)."""
    stems: set[str] = set()
    phrases: set[tuple[str, ...]] = set()
    for text in texts:
        for run in _affirmed_runs(text, stems):
            stems.update(run)
            for i in range(len(run) - 1):
                phrases.add((run[i], run[i + 1]))
                if i + 2 < len(run):
                    phrases.add((run[i], run[i + 1], run[i + 2]))
    return StemmedText(frozenset(stems), frozenset(phrases))
