"""Small text helpers the PRD analyzer shares: words, tokens, sentences, singulars, arrows."""

from __future__ import annotations

import re

from agents.lib.naming import fold_apostrophes

__all__ = ["ARROW_RE", "STOPWORDS", "sentences", "singular", "tokens", "word_set"]

_TOKEN_RE = re.compile(r"[a-z0-9]+")
ARROW_RE = re.compile(r"-{1,2}>|={1,2}>|[\u2013\u2014]>|[\u2192\u27f6\u21d2\u2794\u279c\u27f9\u21e8]")
"""An arrow between two words: ``->``, ``-->``, ``=>``, ``\u2192`` and the like."""


def word_set(text: str) -> frozenset[str]:
    """Return the whitespace-separated words of ``text`` as a frozenset."""
    return frozenset(text.split())


STOPWORDS = word_set(
    "a able about above after again against all also an and any api are as at based be because "
    "been before being below between both but by can could data did do does doing down during e "
    "each eg either etc few for from further g get gets had has have having he her here hers "
    "him his how i ie if in into is it its itself just let like made make makes may me might "
    "more most must my need needs new no nor not now of off on once one only or other our ours "
    "out over own per same service services shall she should so some such system than that the "
    "their theirs them then there these they this those three through to too two under until up "
    "upon us use used user users uses using very via want wants was we well were what when "
    "where which while who whom why will with within without would yes you your yours"
)
"""Words that never become keywords."""


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words of ``text`` (``multi-step``: ``multi``, ``step``; ``it's``: ``it``)."""
    return _TOKEN_RE.findall(fold_apostrophes(text).lower())


def singular(word: str) -> str:
    """Return a naive English singular of a lower-case ``word`` (``categories`` -> ``category``)."""
    if len(word) <= 3:
        return word
    irregular = {
        "people": "person",
        "children": "child",
        "men": "man",
        "women": "woman",
        "data": "data",
        "criteria": "criterion",
        "indices": "index",
        "statuses": "status",
        "analyses": "analysis",
        "addresses": "address",
        "series": "series",
    }
    if word in irregular:
        return irregular[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def _list_number(prev: str) -> bool:
    """Whether the text before a period ends in a number that a period does not end a sentence after."""
    last = prev.split()[-1] if prev.split() else ""
    return last.isdigit() and (
        len(prev.split()) == 1 or (len(last) <= 2 and prev.split()[-2:-1] in (["version"], ["v"]))
    )


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences at ``. ``, ``! `` and ``? `` (linear, no regex)."""
    out: list[str] = []
    start = 0
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in ".!?" and (i + 1 == n or text[i + 1] in " \n\t"):
            prev = text[start:i].rstrip()
            # do not split "e.g." / "i.e." / a list number ("2. Overview") / "version 1. 2"
            if ch == "." and (prev.endswith(("e.g", "i.e", "etc", "vs")) or _list_number(prev)):
                i += 1
                continue
            piece = text[start : i + 1].strip()
            if piece:
                out.append(piece)
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out
