"""What to do about a pattern: the recommendations of an analysis, and the threshold generation uses.

Recommendations are plain sentences derived from the figures (never a fixed lookup). The threshold the
generator holds a pattern to follows from its feedback's sweep (:func:`decide_threshold`):

- fewer than ``min_samples`` scored detections with a confidence: the pattern's default;
- some threshold meets the target precision and recorded detections lie below it: that threshold (the data
  show that lower confidences bring precision under the target);
- every recorded detection meets the target: the default, or the sweep's threshold when that is lower (the data
  say nothing about confidences below the lowest one recorded, so feedback only ever lowers it to there);
- no threshold meets the target: just above the highest confidence recorded (at most 1.0), so only detections
  more confident than every one judged so far are applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.lib._patterns.metrics import BUCKETS_PER_UNIT, Tally, ThresholdSweep

__all__ = ["ThresholdDecision", "decide_threshold", "recommendations"]

_RECALL_FLOOR = 0.8
_PARTIAL_SHARE = 0.25


def _items(items: Sequence[tuple[str, float]], n: int = 3) -> str:
    return ", ".join(f"{name!r} ({count:g})" for name, count in items[:n])


def recommendations(
    pattern: str,
    tally: Tally,
    sweep: ThresholdSweep | None,
    false_positives: Sequence[tuple[str, float]],
    false_negatives: Sequence[tuple[str, float]],
    *,
    target: float,
    min_samples: int,
) -> list[str]:
    """Return what to do about ``pattern``, most important first."""
    out: list[str] = []
    if tally.rows < min_samples:
        out.append(
            f"Collect more feedback: {tally.rows} scored detections, {min_samples} needed before the figures "
            "and the threshold can be trusted."
        )
    if tally.rows == 0 and tally.fn > 0:
        out.append(
            f"Never detected, but {tally.missed_rows} detections of other patterns were really {pattern}: add "
            "evidence for it to the pattern library or lower its threshold."
        )
        return out
    if tally.rows and tally.precision < target:
        if sweep is not None and sweep.threshold is not None:
            at = next(p for t, p, _, _ in sweep.curve if t == sweep.threshold)
            out.append(
                f"Raise the confidence threshold to {sweep.threshold:.2f}: detections at or above it reach "
                f"{at:.1%} precision (target {target:.0%}, now {tally.precision:.1%})."
            )
        else:
            out.append(
                f"No confidence threshold reaches {target:.0%} precision (now {tally.precision:.1%}): review "
                "the pattern's evidence."
            )
        if false_positives:
            out.append(
                f"Most frequent false positives: {_items(false_positives)}; add them as evidence against the "
                "pattern, or split it."
            )
    if tally.rows and tally.fn > 0 and tally.recall < _RECALL_FLOOR:
        text = (
            f"Recall is {tally.recall:.1%}: {tally.missed_rows} detections of other patterns were really "
            f"{pattern}; lower its threshold or add evidence for it."
        )
        if false_negatives:
            text += f" Most frequent false negatives: {_items(false_negatives)}."
        out.append(text)
    partial = tally.weighted("partial") + tally.weighted("adjusted")
    if tally.weight > 0 and partial / tally.weight > _PARTIAL_SHARE:
        out.append(
            f"{partial / tally.weight:.0%} of the feedback says the detection was only partly right: consider a "
            "more specific sub-pattern."
        )
    if not out:
        out.append(f"Meets the {target:.0%} precision target; keep recording feedback.")
    return out


@dataclass(frozen=True)
class ThresholdDecision:
    """The threshold generation holds one pattern to, and why (see the module docstring)."""

    pattern: str
    default: float
    effective: float
    tuned: float | None
    """The sweep's threshold (what ``tune_pattern_threshold`` returns), when there was enough data."""
    samples: int
    reason: str

    @property
    def from_feedback(self) -> bool:
        """Whether feedback changed the threshold from the default."""
        return self.effective != self.default

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "pattern": self.pattern,
            "default": self.default,
            "effective": self.effective,
            "tuned": self.tuned,
            "samples": self.samples,
            "reason": self.reason,
        }


def decide_threshold(
    pattern: str, default: float, sweep: ThresholdSweep | None, min_samples: int
) -> ThresholdDecision:
    """Return the threshold generation uses for ``pattern`` (see the module docstring)."""
    rows = sweep.rows if sweep is not None else 0
    if sweep is None or rows < min_samples:
        return ThresholdDecision(
            pattern, default, default, None, rows, f"default ({rows} of {min_samples} samples)"
        )
    if sweep.threshold is None:
        highest = sweep.highest if sweep.highest is not None else default
        effective = min(1.0, round(highest + 1 / BUCKETS_PER_UNIT, 2))
        reason = f"no threshold reaches {sweep.target:.0%} precision: above every recorded confidence"
        return ThresholdDecision(pattern, default, effective, None, rows, reason)
    if sweep.excludes_recorded:
        reason = f"tuned: detections below it fall short of {sweep.target:.0%} precision"
        return ThresholdDecision(pattern, default, sweep.threshold, sweep.threshold, rows, reason)
    effective = min(default, sweep.threshold)
    reason = f"every recorded detection meets {sweep.target:.0%} precision"
    return ThresholdDecision(pattern, default, effective, sweep.threshold, rows, reason)
