"""Pattern detection: a confidence in [0, 1] per library pattern, from the evidence in a PRD analysis.

Every piece of evidence a pattern names (:mod:`agents.lib._patterns.library`) that is present contributes its
weight ``w``; the pieces combine as independent signals, ``1 - prod(1 - w)`` (two pieces of 0.4 give 0.64,
three 0.78), and each piece of evidence against the pattern scales the result by ``1 - w``. Confidences are
rounded to 3 decimals and capped at 0.99. A pattern is *applied* (the generator emits its code) when its
confidence reaches its threshold: the tuned one when feedback gave one, else the pattern's default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agents.lib._patterns.library import PATTERNS, Pattern
from agents.lib._patterns.text import StemmedText, stem, stemmed_text
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = ["MAX_CONFIDENCE", "DetectedPattern", "analysis_texts", "detect_in_contract", "detect_patterns"]

MAX_CONFIDENCE = 0.99
"""No evidence makes a detection certain."""


@dataclass(frozen=True)
class DetectedPattern:
    """One pattern's detection: its confidence, the threshold it was held to, and the evidence found."""

    name: str
    confidence: float
    threshold: float
    node_type: str
    evidence: tuple[str, ...]
    code: str
    """What the generator emits when the pattern is applied (:meth:`PatternCode.describe`)."""

    @property
    def applied(self) -> bool:
        """Whether the confidence reaches the threshold (the generator emits the pattern's code)."""
        return self.confidence >= self.threshold

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "pattern": self.name,
            "confidence": self.confidence,
            "threshold": self.threshold,
            "applied": self.applied,
            "node_type": self.node_type,
            "evidence": list(self.evidence),
            "code": self.code,
        }


def analysis_texts(analysis: PRDAnalysis) -> list[str]:
    """Return the PRD text keywords are looked for in: title, description, requirements, stories, details."""
    texts = [analysis.title, analysis.description]
    for req in (*analysis.functional_requirements, *analysis.non_functional_requirements):
        texts.append(req.text)
        texts.extend(req.details)
    for story in analysis.user_stories:
        texts.extend((story.goal, story.benefit, *story.acceptance_criteria))
    texts.extend(analysis.features)
    texts.extend(analysis.technical_details)
    texts.extend(analysis.dependencies)
    return [t for t in texts if t]


def _entity_words(names: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for name in names:
        for word in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name):
            words.add(stem(word.lower()))
    return words


def _combine(weights: Sequence[float], against: Sequence[float]) -> float:
    miss = math.prod(1.0 - w for w in weights)
    value = (1.0 - miss) * math.prod(1.0 - w for w in against)
    return round(min(MAX_CONFIDENCE, max(0.0, value)), 3)


@dataclass(frozen=True)
class _Signals:
    text: StemmedText
    operations: frozenset[str]
    systems: Mapping[str, str]
    entity_words: frozenset[str]
    node_scores: Mapping[str, float]
    prd_steps: int


def _score(pattern: Pattern, signals: _Signals) -> tuple[float, tuple[str, ...]]:
    weights: list[float] = []
    evidence: list[str] = []
    for phrase, (word, weight) in pattern.stemmed(pattern.keywords).items():
        if signals.text.has_phrase(phrase):
            weights.append(weight)
            evidence.append(f"keyword {word!r}")
    for kind, weight in pattern.operations.items():
        if kind in signals.operations:
            weights.append(weight)
            evidence.append(f"operation {kind}")
    for kind, weight in pattern.systems.items():
        if kind in signals.systems:
            weights.append(weight)
            evidence.append(f"system {signals.systems[kind]} ({kind})")
    for word, weight in pattern.entities.items():
        if stem(word) in signals.entity_words:
            weights.append(weight)
            evidence.append(f"entity word {word!r}")
    score = signals.node_scores.get(pattern.node_type, 0.0)
    if pattern.node_type_weight and score > 0:
        weights.append(pattern.node_type_weight * score)
        evidence.append(f"{pattern.node_type} score {score:.2f}")
    if pattern.workflow_steps_weight and signals.prd_steps >= 2:
        weights.append(pattern.workflow_steps_weight)
        evidence.append(f"{signals.prd_steps} workflow steps")
    against: list[float] = []
    for phrase, (word, weight) in pattern.stemmed(pattern.against).items():
        if signals.text.has_phrase(phrase):
            against.append(weight)
            evidence.append(f"against: keyword {word!r}")
    if not weights:
        return 0.0, ()
    return _combine(weights, against), tuple(evidence)


def _detect(
    signals: _Signals, thresholds: Mapping[str, float] | None, patterns: Sequence[Pattern]
) -> list[DetectedPattern]:
    found: list[DetectedPattern] = []
    for pattern in patterns:
        confidence, evidence = _score(pattern, signals)
        if confidence <= 0.0:
            continue
        threshold = (thresholds or {}).get(pattern.name, pattern.default_threshold)
        found.append(
            DetectedPattern(
                name=pattern.name,
                confidence=confidence,
                threshold=threshold,
                node_type=pattern.node_type,
                evidence=evidence,
                code=pattern.code.describe(),
            )
        )
    order = {p.name: i for i, p in enumerate(patterns)}
    return sorted(found, key=lambda d: (-d.confidence, order[d.name]))


def detect_patterns(
    analysis: PRDAnalysis,
    thresholds: Mapping[str, float] | None = None,
    *,
    patterns: Sequence[Pattern] = PATTERNS,
) -> list[DetectedPattern]:
    """Return every pattern with some evidence in ``analysis``, most confident first.

    ``thresholds`` maps pattern names to the threshold to hold them to (missing names: the default).
    """
    signals = _Signals(
        text=stemmed_text(analysis_texts(analysis)),
        operations=frozenset(str(op.kind.value) for op in analysis.operations),
        systems={str(s.kind.value): s.name for s in reversed(analysis.external_systems)},
        entity_words=frozenset(_entity_words(e.name for e in analysis.entities)),
        node_scores={str(h.node_type.value): h.score for h in analysis.node_type_hints},
        prd_steps=sum(1 for s in analysis.workflow_steps if s.origin == "prd"),
    )
    return _detect(signals, thresholds, patterns)


def detect_in_contract(
    contract: Mapping[str, object],
    thresholds: Mapping[str, float] | None = None,
    *,
    patterns: Sequence[Pattern] = PATTERNS,
) -> list[DetectedPattern]:
    """Detect patterns in a node contract: its ``node_type``, ``capabilities``, ``name`` and ``description``.

    Capabilities are read as keywords (``"caching"``, ``"auth"``); the contract's node type counts like an
    analysis score of 1.0 for it.
    """
    texts: list[str] = []
    capabilities = contract.get("capabilities") or []
    if isinstance(capabilities, str):
        capabilities = [capabilities]
    if isinstance(capabilities, Iterable):
        texts.extend(str(c).replace("_", " ") for c in capabilities)
    for key in ("name", "description"):
        value = contract.get(key)
        if isinstance(value, str):
            texts.append(value)
    node_type = str(contract.get("node_type") or "").upper()
    signals = _Signals(
        text=stemmed_text(texts),
        operations=frozenset(),
        systems={},
        entity_words=frozenset(),
        node_scores={node_type: 1.0} if node_type else {},
        prd_steps=0,
    )
    return _detect(signals, thresholds, patterns)
