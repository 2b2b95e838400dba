"""Pattern feedback (guide Stream 5): record how right each pattern detection was, measure it, tune thresholds.

``PatternFeedbackCollector`` stores :class:`PatternFeedback` (through
:class:`~agents.lib.persistence.CodegenPersistence`, the configured database by default) and answers from SQL
aggregates: per-pattern analyses, thresholds tuned by a precision sweep over the recorded confidences, global
metrics. Precision and recall have one definition
(:mod:`agents.lib._patterns.metrics`, docs/patterns.md): user-provided feedback weighs 2x in every figure.
Detection itself (:func:`detect_patterns`, :func:`detect_pattern`) is the pattern library of
:mod:`agents.lib._patterns`; ``agents generate`` holds each pattern to the threshold its feedback gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

import orjson

from agents.lib._patterns import queries
from agents.lib._patterns.advice import ThresholdDecision, decide_threshold, recommendations
from agents.lib._patterns.detect import DetectedPattern, detect_in_contract, detect_patterns
from agents.lib._patterns.library import PATTERN_NAMES, PATTERNS
from agents.lib._patterns.metrics import (
    AUTOMATIC_WEIGHT,
    FEEDBACK_TYPES,
    USER_WEIGHT,
    Tally,
    ThresholdSweep,
    f1_score,
    precision_of,
    recall_of,
    sweep,
)
from agents.lib.db.schema import utcnow
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence

__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_TARGET_PRECISION",
    "FEEDBACK_TYPES",
    "PATTERN_NAMES",
    "DetectedPattern",
    "PatternAnalysis",
    "PatternFeedback",
    "PatternFeedbackCollector",
    "ThresholdDecision",
    "ThresholdSweep",
    "detect_pattern",
    "detect_patterns",
]

DEFAULT_TARGET_PRECISION = 0.9
"""The precision every pattern should reach (guide: "Target 90% precision")."""
DEFAULT_MIN_SAMPLES = 20
"""Scored detections a pattern needs before its figures and threshold are trusted."""
_MAX_NAME = 200
_TOP_ITEMS = 25


def _invalid(message: str, **details: Any) -> OnexError:
    return OnexError(message, ErrorCode.VALIDATION_ERROR, details)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{what} must be a non-empty string, got {value!r}", field=what)
    if len(value) > _MAX_NAME:
        raise _invalid(f"{what} is longer than {_MAX_NAME} characters", field=what)
    return value.strip()


def _strings(values: object, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise _invalid(f"{what} must be a list of strings, got {values!r}", field=what)
    return tuple(_name(v, f"an item of {what}") for v in values)


def _json_object(value: object, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        decoded = orjson.loads(value) if isinstance(value, str | bytes) else orjson.loads(orjson.dumps(value))
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise _invalid(f"{what} must be a JSON object: {exc}", field=what) from None
    if not isinstance(decoded, dict):
        raise _invalid(f"{what} must be a JSON object, got {type(decoded).__name__}", field=what)
    return decoded


@dataclass(frozen=True)
class PatternFeedback:
    """Feedback on one pattern detection: what was detected (and how confidently), what it really was.

    ``feedback_type`` is ``correct``, ``incorrect``, ``partial`` (partly right, e.g. the wrong subtype) or
    ``adjusted`` (close, but needed adjustment). Bad values raise ``OnexError`` (VALIDATION_ERROR).
    ``contract_json`` (a mapping or a JSON object as text) is the node contract the detection was made on.
    """

    session_id: UUID | str | None
    detected_pattern: str
    detected_confidence: float
    actual_pattern: str | None
    feedback_type: str
    capabilities_matched: Sequence[str] = field(default_factory=tuple)
    false_positives: Sequence[str] = field(default_factory=tuple)
    false_negatives: Sequence[str] = field(default_factory=tuple)
    user_provided: bool = False
    contract_json: Mapping[str, Any] | str | None = None

    def __post_init__(self) -> None:
        """Validate and normalise every field (lists become tuples of strings)."""
        set_ = object.__setattr__
        set_(self, "detected_pattern", _name(self.detected_pattern, "detected_pattern"))
        if self.actual_pattern is not None:
            set_(self, "actual_pattern", _name(self.actual_pattern, "actual_pattern"))
        if self.feedback_type not in FEEDBACK_TYPES:
            raise _invalid(
                f"feedback_type must be one of {', '.join(FEEDBACK_TYPES)}, got {self.feedback_type!r}",
                field="feedback_type",
            )
        confidence = self.detected_confidence
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float)
            or not math.isfinite(confidence)
        ):
            raise _invalid(
                f"detected_confidence must be a number, got {confidence!r}", field="detected_confidence"
            )
        if not 0.0 <= confidence <= 1.0:
            raise _invalid(
                f"detected_confidence must be between 0 and 1, got {confidence!r}", field="detected_confidence"
            )
        set_(self, "detected_confidence", float(confidence))
        if self.session_id is not None and not isinstance(self.session_id, UUID):
            set_(self, "session_id", _name(self.session_id, "session_id"))
        for name in ("capabilities_matched", "false_positives", "false_negatives"):
            set_(self, name, _strings(getattr(self, name), name))
        if not isinstance(self.user_provided, bool):
            raise _invalid(f"user_provided must be a bool, got {self.user_provided!r}", field="user_provided")
        contract = _json_object(self.contract_json, "contract_json")
        if contract is not None:
            set_(self, "contract_json", contract)


@dataclass(frozen=True)
class PatternAnalysis:
    """How one pattern's detections fared, from its feedback (docs/patterns.md has the definitions).

    Every figure is weighted (user-provided feedback counts twice): precision, recall, F1, the per-type counts
    and the false positive/negative item counts. ``sample_count`` is the raw number of scored detections
    (``sufficient_data`` compares it with ``min_samples``); ``user_provided_count`` and ``missed_count`` are raw
    row counts too. ``false_positive_counts`` / ``false_negative_counts`` hold the most frequent items (at most
    25), most frequent first. ``suggested_threshold`` is :meth:`PatternFeedbackCollector.tune_pattern_threshold`
    at ``target_precision`` (``None`` without enough data or when no threshold reaches it).
    """

    pattern_name: str
    sufficient_data: bool
    sample_count: int
    precision: float
    recall: float
    f1_score: float
    correct_count: float
    incorrect_count: float
    partial_count: float
    adjusted_count: float
    false_positive_counts: dict[str, float]
    false_negative_counts: dict[str, float]
    recommendations: list[str]
    suggested_threshold: float | None
    weighted_sample_count: float = 0.0
    user_provided_count: int = 0
    missed_count: int = 0
    weighted_missed: float = 0.0
    target_precision: float = DEFAULT_TARGET_PRECISION
    min_samples: int = DEFAULT_MIN_SAMPLES

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every field."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def detect_pattern(contract: Mapping[str, Any]) -> tuple[str, float]:
    """Return the most likely pattern of a node contract and its confidence (guide "Pattern 2").

    The contract's ``capabilities``, ``name``, ``description`` and ``node_type`` are the evidence. With no
    evidence at all, the answer is the library pattern of the contract's node type with confidence 0.0.
    """
    found = detect_in_contract(contract)
    if found:
        return found[0].name, found[0].confidence
    node_type = str(contract.get("node_type") or "").upper()
    fallback = next((p for p in PATTERNS if p.node_type == node_type), PATTERNS[0])
    return fallback.name, 0.0


class PatternFeedbackCollector:
    """Records pattern feedback and analyses it in SQL; see the module docstring.

    ``persistence`` defaults to a :class:`~agents.lib.persistence.CodegenPersistence` on ``dsn`` (default: the
    configured database), which :meth:`close` (or ``async with``) closes; a given one is left open.
    ``target_precision`` is the default target of the global metrics.
    """

    def __init__(
        self,
        persistence: CodegenPersistence | None = None,
        *,
        dsn: str | None = None,
        target_precision: float = DEFAULT_TARGET_PRECISION,
    ) -> None:
        self._owned = persistence is None
        self._persistence = persistence if persistence is not None else CodegenPersistence(dsn)
        self.target_precision = _target(target_precision)

    @property
    def persistence(self) -> CodegenPersistence:
        """Where the feedback is stored."""
        return self._persistence

    async def __aenter__(self) -> Self:
        """Return ``self``."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close (see :meth:`close`)."""
        await self.close()

    async def close(self) -> None:
        """Close the persistence if this collector created it."""
        if self._owned:
            await self._persistence.close()

    async def record_feedback(
        self,
        feedback: PatternFeedback,
        user_provided: bool = False,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> UUID:
        """Store ``feedback`` (every field, lists included) and return its new id.

        The feedback is user-provided (weight 2) when ``feedback.user_provided`` or ``user_provided`` says so,
        else automatic (weight 1). ``context`` is stored with it (JSON; a contract goes under ``"contract"``).
        """
        [feedback_id] = await self.record_feedback_batch([feedback], user_provided, context=context)
        return feedback_id

    async def record_feedback_batch(
        self,
        feedbacks: Iterable[PatternFeedback],
        user_provided: bool = False,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> list[UUID]:
        """Store many pieces of feedback in one transaction, as :meth:`record_feedback` does; return their ids."""
        extra = _json_object(context, "context") or {}
        rows: list[dict[str, Any]] = []
        ids: list[UUID] = []
        now = utcnow()
        for feedback in feedbacks:
            if not isinstance(feedback, PatternFeedback):
                raise _invalid(f"feedback must be a PatternFeedback, got {type(feedback).__name__}")
            by_user = bool(feedback.user_provided or user_provided)
            stored = dict(extra)
            if feedback.contract_json is not None:
                stored["contract"] = feedback.contract_json
            ids.append(uuid4())
            rows.append(
                {
                    "feedback_id": str(ids[-1]),
                    "session_id": None if feedback.session_id is None else str(feedback.session_id),
                    "detected_pattern": feedback.detected_pattern,
                    "detected_confidence": feedback.detected_confidence,
                    "actual_pattern": feedback.actual_pattern,
                    "feedback_type": feedback.feedback_type,
                    "capabilities_matched": list(feedback.capabilities_matched),
                    "false_positives": list(feedback.false_positives),
                    "false_negatives": list(feedback.false_negatives),
                    "user_provided": by_user,
                    "weight": USER_WEIGHT if by_user else AUTOMATIC_WEIGHT,
                    "context": stored or None,
                    "created_at": now,
                }
            )
        await queries.insert_feedback(self._persistence, rows)
        return ids

    async def analyze_feedback(
        self,
        pattern_name: str,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        *,
        target_precision: float | None = None,
    ) -> PatternAnalysis:
        """Return the :class:`PatternAnalysis` of one pattern (aggregates in one transaction, no rows loaded)."""
        name = _name(pattern_name, "pattern_name")
        [analysis] = await self._analyses([name], _count(min_samples), self._target_or_default(target_precision))
        return analysis

    async def get_all_pattern_analyses(
        self, min_samples: int = DEFAULT_MIN_SAMPLES, *, target_precision: float | None = None
    ) -> list[PatternAnalysis]:
        """Return the analysis of every pattern with feedback, lowest precision first (then by name)."""
        analyses = await self._analyses(None, _count(min_samples), self._target_or_default(target_precision))
        return sorted(analyses, key=lambda a: (a.precision, a.pattern_name))

    async def threshold_sweep(
        self, pattern_name: str, target_precision: float = DEFAULT_TARGET_PRECISION
    ) -> ThresholdSweep:
        """Return the precision-recall sweep of one pattern over its recorded confidences."""
        name = _name(pattern_name, "pattern_name")
        target = _target(target_precision)
        async with queries.reading(self._persistence, "sweep pattern confidences") as read:
            buckets = await read.buckets([name])
            tallies = await read.tallies([name])
        return sweep(buckets.get(name, []), target, tallies.get(name, Tally()).fn)

    async def tune_pattern_threshold(
        self,
        pattern_name: str,
        target_precision: float = DEFAULT_TARGET_PRECISION,
        *,
        min_samples: int = DEFAULT_MIN_SAMPLES,
    ) -> float | None:
        """Return the lowest threshold whose detections at or above it reach ``target_precision``.

        Derived from the recorded confidences (a sweep on a 0.01 grid, weighted precision); ``None`` when fewer
        than ``min_samples`` scored detections have a confidence, or when no threshold reaches the target.
        """
        name = _name(pattern_name, "pattern_name")
        async with queries.reading(self._persistence, "sweep pattern confidences") as read:
            buckets = await read.buckets([name])
        result = sweep(buckets.get(name, []), _target(target_precision))  # one aggregate query
        if result.rows < _count(min_samples):
            return None
        return result.threshold

    async def generation_thresholds(
        self, *, target_precision: float | None = None, min_samples: int = DEFAULT_MIN_SAMPLES
    ) -> dict[str, ThresholdDecision]:
        """Return the threshold ``agents generate`` holds each library pattern to, with the reason."""
        target = self._target_or_default(target_precision)
        min_samples = _count(min_samples)
        names = list(PATTERN_NAMES)
        async with queries.reading(self._persistence, "sweep pattern confidences") as read:
            buckets = await read.buckets(names)
        out: dict[str, ThresholdDecision] = {}
        for pattern in PATTERNS:
            rows = buckets.get(pattern.name)
            result = sweep(rows, target) if rows else None
            out[pattern.name] = decide_threshold(pattern.name, pattern.default_threshold, result, min_samples)
        return out

    async def get_global_precision_metrics(
        self, *, target_precision: float | None = None, min_samples: int = DEFAULT_MIN_SAMPLES
    ) -> dict[str, Any]:
        """Return the overall figures and the patterns needing attention.

        ``overall_precision`` / ``overall_recall`` pool every scored row (same definition, weighted);
        ``patterns_analyzed`` counts patterns with feedback; ``patterns_meeting_target`` those with enough data
        (``min_samples``) and precision >= ``target_precision``; ``needs_improvement`` lists those with enough
        data below it, lowest precision first, with their recommendations; ``insufficient_data`` names the
        rest. ``total_feedback`` is the raw number of scored rows, ``weighted_feedback`` their total weight.
        """
        target = self._target_or_default(target_precision)
        min_samples = _count(min_samples)
        async with queries.reading(self._persistence, "analyse pattern feedback") as read:
            tallies = await read.tallies()
        detected = {name: t for name, t in tallies.items() if t.rows > 0}
        tp = sum(t.tp for t in tallies.values())
        fp = sum(t.fp for t in tallies.values())
        fn = sum(t.fn for t in tallies.values())
        enough = {name: t for name, t in detected.items() if t.rows >= min_samples}
        below = sorted(
            (name for name, t in enough.items() if t.precision < target), key=lambda n: (enough[n].precision, n)
        )
        analyses = {a.pattern_name: a for a in await self._analyses(below, min_samples, target)} if below else {}
        precision = precision_of(tp, fp)
        recall = recall_of(tp, fn)
        return {
            "overall_precision": precision,
            "overall_recall": recall,
            "overall_f1": f1_score(precision, recall),
            "patterns_analyzed": len(detected),
            "patterns_meeting_target": sum(1 for t in enough.values() if t.precision >= target),
            "target_precision": target,
            "min_samples": min_samples,
            "total_feedback": sum(t.rows for t in detected.values()),
            "weighted_feedback": sum(t.weight for t in detected.values()),
            "needs_improvement": [
                {
                    "pattern": name,
                    "precision": analyses[name].precision,
                    "recall": analyses[name].recall,
                    "sample_count": analyses[name].sample_count,
                    "recommendations": analyses[name].recommendations,
                }
                for name in below
            ],
            "insufficient_data": sorted(name for name, t in detected.items() if t.rows < min_samples),
        }

    # -- internals --
    def _target_or_default(self, target: float | None) -> float:
        return self.target_precision if target is None else _target(target)

    async def _analyses(self, names: list[str] | None, min_samples: int, target: float) -> list[PatternAnalysis]:
        p = self._persistence
        async with queries.reading(p, "analyse pattern feedback") as read:  # one snapshot for every figure
            tallies = await read.tallies(names)
            buckets = await read.buckets(names)
            # Reading the JSON lists in table order beats index look-ups once the patterns hold a quarter of it.
            wanted_rows = sum(t.rows for t in tallies.values())
            scan = names is None or wanted_rows * 4 >= await read.table_rows()
            fps = await read.item_counts("false_positives", names, limit=_TOP_ITEMS, scan=scan)
            fns = await read.item_counts("false_negatives", names, limit=_TOP_ITEMS, scan=scan)
        wanted = names if names is not None else sorted(tallies)
        out: list[PatternAnalysis] = []
        for name in wanted:
            tally = tallies.get(name, Tally())
            result = sweep(buckets[name], target, tally.fn) if name in buckets else None
            enough = tally.rows >= min_samples
            threshold = result.threshold if result is not None and result.rows >= min_samples else None
            out.append(
                PatternAnalysis(
                    pattern_name=name,
                    sufficient_data=enough,
                    sample_count=tally.rows,
                    precision=tally.precision,
                    recall=tally.recall,
                    f1_score=tally.f1,
                    correct_count=tally.weighted("correct"),
                    incorrect_count=tally.weighted("incorrect"),
                    partial_count=tally.weighted("partial"),
                    adjusted_count=tally.weighted("adjusted"),
                    false_positive_counts=dict(fps.get(name, [])),
                    false_negative_counts=dict(fns.get(name, [])),
                    recommendations=recommendations(
                        name,
                        tally,
                        result,
                        fps.get(name, []),
                        fns.get(name, []),
                        target=target,
                        min_samples=min_samples,
                    ),
                    suggested_threshold=threshold,
                    weighted_sample_count=tally.weight,
                    user_provided_count=tally.user_rows,
                    missed_count=tally.missed_rows,
                    weighted_missed=tally.fn,
                    target_precision=target,
                    min_samples=min_samples,
                )
            )
        return out


def _target(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value <= 1.0:
        raise _invalid(f"target_precision must be a number in (0, 1], got {value!r}", field="target_precision")
    return float(value)


def _count(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(f"min_samples must be a positive integer, got {value!r}", field="min_samples")
    return value
