"""The capabilities a PRD asks of each node: what the mixin recommender is given.

Every node type has a baseline (an EFFECT retries, breaks circuits and times out its outside calls; every node
logs and counts). On top of it come the capabilities the PRD names in its requirements, features, user stories
and technical details, matched against the mixin catalogue's capabilities and their synonyms
(``MixinInfo.capabilities`` in :mod:`agents.lib.codegen.runtime.mixins`) as whole words, in any case, with
``_``/``-``/space alike and the usual inflections ("cache", "cached", "caching"; "retry", "retries",
"retried"; "rate limit", "rate-limited"). A capability only counts for a node type one of its mixins suits:
"every change is audited" asks an audit of the EFFECT, not of the pure COMPUTE.

The result is a tuple of canonical capability names (a mixin's first capability), baseline first, then in
catalogue order: the same PRD always asks the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, MixinInfo
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = ["BASELINE_CAPABILITIES", "capabilities_in", "required_capabilities"]

BASELINE_CAPABILITIES: dict[str, tuple[str, ...]] = {
    "EFFECT": ("retry", "circuit_breaker", "timeout", "metrics", "health_check", "logging"),
    "COMPUTE": ("validation", "metrics", "logging"),
    "REDUCER": ("metrics", "logging"),
    "ORCHESTRATOR": ("retry", "timeout", "metrics", "logging"),
}
"""What every node of a type asks, whatever its PRD says."""

_STRIP = ("ation", "ing", "ion", "ies", "es", "ed", "s", "e", "y")
_ENDINGS = "e|es|ed|ing|ion|ions|s|y|ies|ied|ying|ation|ations|ate|ated|ates|ating|ize|izes|ized|izing|ization"


def _word_pattern(phrase: str) -> str:
    """Return a regex for ``phrase``: words apart by spaces, ``_`` or ``-``, the last in any usual inflection."""
    words = [w for w in re.split(r"[\s_\-]+", phrase.lower()) if w]
    last = words[-1]
    stem = next((last[: -len(x)] for x in _STRIP if last.endswith(x) and len(last) - len(x) >= 4), last)
    last_re = re.escape(stem) + f"(?:{_ENDINGS})?"
    return r"[\s_\-]+".join([*(re.escape(w) for w in words[:-1]), last_re])


@cache
def _matchers() -> tuple[tuple[str, frozenset[str], re.Pattern[str]], ...]:
    """Per mixin: its canonical capability, the node types it suits, and one pattern of all its phrases."""
    out: list[tuple[str, frozenset[str], re.Pattern[str]]] = []
    for cls in MIXIN_CATALOGUE.values():
        info: MixinInfo = cls.INFO
        phrases = sorted(set(info.capabilities), key=lambda p: (-len(p), p))
        pattern = re.compile(r"\b(?:" + "|".join(_word_pattern(p) for p in phrases) + r")\b", re.IGNORECASE)
        out.append((info.capabilities[0], frozenset(info.node_types), pattern))
    return tuple(out)


def capabilities_in(texts: Iterable[str], node_type: str | None = None) -> tuple[str, ...]:
    """Return the canonical capabilities ``texts`` name (for mixins suited to ``node_type``, when given)."""
    body = "\n".join(texts)
    found: list[str] = []
    for capability, node_types, pattern in _matchers():
        if node_type is not None and node_type not in node_types:
            continue
        if capability not in found and pattern.search(body):
            found.append(capability)
    return tuple(found)


def _texts(analysis: PRDAnalysis) -> list[str]:
    texts = [r.text for r in analysis.functional_requirements]
    texts += [r.text for r in analysis.non_functional_requirements]
    texts += list(analysis.features) + list(analysis.technical_details)
    for story in analysis.user_stories:
        texts.append(story.goal)
        texts.extend(story.acceptance_criteria)
    return texts


def required_capabilities(analysis: PRDAnalysis, node_type: str) -> tuple[str, ...]:
    """Return what the ``node_type`` node of ``analysis`` asks: its baseline, then what the PRD names."""
    baseline = BASELINE_CAPABILITIES[node_type]
    named = capabilities_in(_texts(analysis), node_type)
    return tuple(dict.fromkeys([*baseline, *named]))
