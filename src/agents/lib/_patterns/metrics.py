"""The project's one definition of pattern precision and recall, in SQL and in Python, and the threshold sweep.

Each feedback row is one detection of ``detected_pattern``, with weight ``w`` (the ``weight`` column: 2 for
user-provided feedback, 1 otherwise) and a credit by ``feedback_type``: ``correct`` 1, ``incorrect`` 0,
``partial`` and ``adjusted`` 0.5. Rows of any other type are not scored. For a pattern ``P``:

- ``tp(P) = sum(w * credit)`` and ``fp(P) = sum(w * (1 - credit))`` over the rows detecting ``P``;
- ``fn(P) = sum(w * (1 - credit))`` over the rows whose ``actual_pattern`` is ``P`` and whose
  ``detected_pattern`` is another pattern (the part of a wrong detection that missed ``P``);
- ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``, ``f1 = 2pr / (p + r)`` (each 0.0 when its
  denominator is 0).

The lists ``false_positives`` / ``false_negatives`` of a row are details (capabilities wrongly matched or
missed); they are counted, weighted, per item, but do not enter precision or recall. docs/patterns.md holds the
same text; the monitoring stream uses the same formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.lib.db.stores.pattern_feedback import AUTOMATIC_WEIGHT, CREDIT, FEEDBACK_TYPES, USER_WEIGHT, credit_of

__all__ = [
    "AUTOMATIC_WEIGHT",
    "BUCKETS_PER_UNIT",
    "CREDIT",
    "FEEDBACK_TYPES",
    "USER_WEIGHT",
    "Bucket",
    "Tally",
    "ThresholdSweep",
    "credit_of",
    "f1_score",
    "precision_of",
    "recall_of",
    "sweep",
]

BUCKETS_PER_UNIT = 100
"""Confidences are swept on a grid of 0.01: the candidate thresholds are 0.00, 0.01, ..., 1.00."""

_EPSILON = 1e-9


def precision_of(tp: float, fp: float) -> float:
    """``tp / (tp + fp)``, 0.0 without detections."""
    return tp / (tp + fp) if tp + fp > 0 else 0.0


def recall_of(tp: float, fn: float) -> float:
    """``tp / (tp + fn)``, 0.0 when nothing was detected or missed."""
    return tp / (tp + fn) if tp + fn > 0 else 0.0


def f1_score(precision: float, recall: float) -> float:
    """Return the harmonic mean of precision and recall (0.0 when both are 0)."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


@dataclass(frozen=True)
class Tally:
    """Weighted sums of one pattern's feedback (``rows`` and ``user_rows`` are raw row counts)."""

    rows: int = 0
    user_rows: int = 0
    weight: float = 0.0
    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    missed_rows: int = 0
    by_type: tuple[tuple[str, float], ...] = ()
    """Weighted rows per feedback type, in :data:`FEEDBACK_TYPES` order."""

    @property
    def precision(self) -> float:
        """Weighted precision."""
        return precision_of(self.tp, self.fp)

    @property
    def recall(self) -> float:
        """Weighted recall."""
        return recall_of(self.tp, self.fn)

    @property
    def f1(self) -> float:
        """Weighted F1."""
        return f1_score(self.precision, self.recall)

    def weighted(self, feedback_type: str) -> float:
        """Weighted rows of one feedback type."""
        return dict(self.by_type).get(feedback_type, 0.0)


@dataclass(frozen=True)
class Bucket:
    """Feedback rows whose confidence lies in ``[index / 100, (index + 1) / 100)`` (1.0 is bucket 100)."""

    index: int
    rows: int
    tp: float
    fp: float


@dataclass(frozen=True)
class ThresholdSweep:
    """The precision-recall sweep of one pattern over its recorded confidences.

    ``curve`` holds ``(threshold, precision, recall, rows)`` for every threshold that changes something,
    highest first: precision and recall of the detections at or above the threshold (recall against every
    true positive and miss recorded for the pattern). ``threshold`` is the lowest one whose precision meets
    the target, ``None`` when none does.
    """

    target: float
    rows: int
    threshold: float | None
    lowest: float | None
    highest: float | None
    curve: tuple[tuple[float, float, float, int], ...]

    @property
    def excludes_recorded(self) -> bool:
        """Whether some recorded detections lie below :attr:`threshold` (the data say lower is worse)."""
        return self.threshold is not None and self.lowest is not None and self.lowest < self.threshold


def sweep(buckets: Iterable[Bucket], target: float, missed: float = 0.0) -> ThresholdSweep:
    """Sweep thresholds from the highest recorded confidence down; see :class:`ThresholdSweep`.

    ``missed`` is the pattern's weighted false negatives (rows of other patterns that were really it).
    """
    ordered: Sequence[Bucket] = sorted(buckets, key=lambda b: -b.index)
    total_tp = sum(b.tp for b in ordered)
    cum_tp = cum_all = 0.0
    rows = 0
    best: float | None = None
    curve: list[tuple[float, float, float, int]] = []
    for bucket in ordered:
        cum_tp += bucket.tp
        cum_all += bucket.tp + bucket.fp
        rows += bucket.rows
        threshold = bucket.index / BUCKETS_PER_UNIT
        precision = precision_of(cum_tp, cum_all - cum_tp)
        curve.append((threshold, precision, recall_of(cum_tp, total_tp - cum_tp + missed), rows))
        if cum_all > 0 and cum_tp >= target * cum_all - _EPSILON:
            best = threshold
    return ThresholdSweep(
        target=target,
        rows=rows,
        threshold=best,
        lowest=ordered[-1].index / BUCKETS_PER_UNIT if ordered else None,
        highest=ordered[0].index / BUCKETS_PER_UNIT if ordered else None,
        curve=tuple(curve),
    )
